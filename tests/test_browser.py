"""The documentation site in a real browser: Debian's Chromium, driven by Playwright (no browser
download), against the site built from the policy by default and served on localhost.

Every request that leaves localhost is blocked and recorded: the site must work offline (its
Mermaid ships with ordinance, its fonts are the system's), so each test ends with nothing
blocked. CI installs Chromium (.ci/run); elsewhere the test is skipped when it is missing.
Screenshots of the pages checked are saved under tests/artifacts/.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from engine import Policy, load_policy
from engine.tools.docsgen import build_docs
from tests.conftest import CHROMIUM, GOLDEN, ROOT, launch_chromium
from tests.test_security_docs import SCRIPT, hostile_examples, hostile_policy

ARTIFACTS = ROOT / "tests" / "artifacts"
MARKER = Path("/tmp/ordinance-docs-pwned")
HOSTILE_TITLE = f'!!python/object/apply:os.system ["touch {MARKER}"] {SCRIPT} "Houston": #1'

LOCAL = ("127.0.0.1", "localhost")  # the site's own server; anything else is a request out

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail("CI must install Chromium (see .ci/run)", pytrace=False)
    pytest.skip("Chromium is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def base_url(policy: Policy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    out = tmp_path_factory.mktemp("browser-site")
    build_docs(policy, out, GOLDEN)  # the default build: nothing to download, nothing to give
    with _served(out) as url:
        yield url


@pytest.fixture(scope="module")
def hostile_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The site of a policy whose every text is markup, Houston's title a YAML python tag."""
    root = tmp_path_factory.mktemp("hostile-browser")
    MARKER.unlink(missing_ok=True)
    policy = load_policy(hostile_policy(root, HOSTILE_TITLE))
    build_docs(policy, root / "out", hostile_examples(root))
    with _served(root / "out") as url:
        yield url


@contextmanager
def _served(out: Path) -> Iterator[str]:
    """``mkdocs build --strict`` of the sources under ``out``, served on localhost."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q"], cwd=out,
                   check=True, env=env, timeout=300)  # fmt: skip
    handler = functools.partial(_Quiet, directory=str(out / "site"))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a browser closing a connection early is not a test failure


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


BLOCKED: list[str] = []  # every request out of the site, in the order the browser made them


def _only_local(route) -> None:  # type: ignore[no-untyped-def]
    """Let the site's own requests through; abort and record any other (a CDN, Google Fonts)."""
    url = urlparse(route.request.url)
    if url.scheme in ("file", "data", "blob") or url.hostname in LOCAL:
        route.continue_()
        return
    BLOCKED.append(route.request.url)
    route.abort()


@pytest.fixture(autouse=True)
def nothing_leaves_the_site() -> Iterator[None]:
    """After every test: no page asked for anything outside the site."""
    BLOCKED.clear()
    yield
    assert BLOCKED == [], BLOCKED


@pytest.fixture(scope="module")
def page(base_url: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", _only_local)
        page = context.new_page()
        # mkdocs-material draws Mermaid diagrams in a closed shadow root; open it so the test
        # can see the SVG (the page renders the same either way).
        page.add_init_script(
            "const attach = Element.prototype.attachShadow;"
            "Element.prototype.attachShadow = function (o) {"
            " return attach.call(this, {...o, mode: 'open'}); };"
        )
        yield page
        browser.close()


def test_amended_section_shows_its_text_and_citation(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "kent/sections/ibc-105-5/")
    body = page.inner_text("article")
    assert "IBC 105.5 as amended by KCC 14.01.030.D" in body
    assert "shall expire automatically three years after the date of permit issuance" in body
    page.screenshot(path=str(ARTIFACTS / "kent-ibc-105-5.png"), full_page=True)


# Every diagram of the page drawn: mkdocs-material swaps each ``pre.mermaid`` for a
# ``div.mermaid`` holding the SVG (in its shadow root, opened by the page fixture).
ALL_DRAWN = """() => {
  const found = [...document.querySelectorAll('.mermaid')];
  return found.length > 0 && found.every(e => (e.shadowRoot || e).querySelector('svg'));
}"""


def _diagrams(page) -> list[str]:  # type: ignore[no-untyped-def]
    page.wait_for_function(ALL_DRAWN, timeout=30_000)
    # The text of each diagram's nodes (the SVG's own text also holds its CSS).
    return page.eval_on_selector_all(  # type: ignore[no-any-return]
        ".mermaid",
        "els => els.map(e => [...(e.shadowRoot || e).querySelectorAll('svg .node')]"
        ".map(n => n.textContent).join('\\n'))",
    )


def test_procedure_diagram_renders_as_svg(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "kent/procedures/certificate-of-occupancy/")
    (svg,) = _diagrams(page)
    assert "final inspection approvals" in svg.lower()
    page.screenshot(path=str(ARTIFACTS / "kent-co-procedure.png"), full_page=True)


@pytest.mark.parametrize("path", [
    "kent/sections/ibc-105-5/", "kent/sections/kcc-14-01-110-a-2/",
    "houston/sections/houston-co-fees/", "generic/sections/ibc-111-1/",
    "kent/procedures/certificate-of-occupancy/",
])  # fmt: skip
def test_every_diagram_renders_offline(page, base_url: str, path: str) -> None:  # type: ignore[no-untyped-def]
    """Each diagram is drawn from the Mermaid served with the site (no CDN: it is blocked),
    and names the inputs by their descriptions, ids beside them."""
    page.goto(base_url + path)
    drawn = _diagrams(page)
    assert all(text.strip() for text in drawn)  # nodes with labels, not an empty drawing
    if "sections/ibc-105-5" in path:
        assert any("The last day on which the permit is valid" in t for t in drawn)
        assert any("permit.issued_on" in t for t in drawn)
    name = path.strip("/").replace("/", "-")
    page.screenshot(path=str(ARTIFACTS / f"offline-{name}.png"), full_page=True)


def test_the_site_uses_system_fonts(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url)
    page.wait_for_load_state("networkidle")
    links = page.eval_on_selector_all("link[href]", "els => els.map(e => e.href)")
    assert not [href for href in links if urlparse(href).hostname not in LOCAL]


def test_subsection_3_is_numbered_3_and_explanations_nest(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "kent/sections/ibc-105-5/")
    quote = page.inner_text("article blockquote")
    assert "\n3. No permit extension will be granted" in quote
    assert page.locator("article blockquote ol").count() == 0
    nested = page.locator("article li > ul > li")  # a step under a step, as a list in a list
    assert nested.count() > 10
    page.locator("h3#example-kent-g-01").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "kent-ibc-105-5-example.png"))


def test_fee_table_renders(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "houston/sections/houston-co-fees/")
    rows = page.locator("article table tr").all_inner_texts()
    assert any("Additional floors" in r and "$125.32 per floor" in r for r in rows)
    page.screenshot(path=str(ARTIFACTS / "houston-fees.png"), full_page=True)


def test_search_finds_hearing_examiner(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url)
    page.keyboard.press("/")  # mkdocs-material's search shortcut
    # Typed key by key, as a reader does: the theme searches on key events, which a `fill`
    # (one input event) does not always give it.
    page.locator("input.md-search__input").press_sequentially("hearing examiner", delay=20)
    page.wait_for_selector(".md-search-result__item", timeout=20_000)
    links = page.eval_on_selector_all(".md-search-result__item a",
                                      "els => els.map(e => e.getAttribute('href'))")  # fmt: skip
    assert any("kent/sections/kcc-14-01-110" in (href or "") for href in links)
    page.screenshot(path=str(ARTIFACTS / "search-hearing-examiner.png"))


def test_a_section_page_prints_without_navigation(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "kent/sections/kcc-14-01-110-a-2/")
    page.emulate_media(media="print")
    hidden = page.evaluate(
        "() => ['.md-header', '.md-sidebar--primary', '.md-footer'].map("
        "s => getComputedStyle(document.querySelector(s)).display)"
    )
    assert hidden == ["none", "none", "none"]
    assert "fourteenth calendar day" in page.inner_text("article")
    page.pdf(path=str(ARTIFACTS / "kcc-14-01-110-a-2.pdf"))
    page.emulate_media(media="screen")


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.hrefs.append(value)


def test_no_page_has_a_broken_link(base_url: str) -> None:
    """Every page, crawled from the home page over HTTP: every local link answers."""
    import urllib.request

    seen: set[str] = set()
    todo = [base_url]
    broken = []
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                kind = response.headers.get("Content-Type", "")
                body = response.read().decode("utf-8", "replace") if "html" in kind else ""
        except OSError as exc:
            broken.append(f"{url}: {exc}")
            continue
        parser = _Links()
        parser.feed(body)
        for href in parser.hrefs:
            target = urljoin(url, href).split("#")[0]
            if urlparse(target).netloc == urlparse(base_url).netloc and target not in seen:
                todo.append(target)
    assert len(seen) > 150
    assert not broken, "\n".join(broken[:20])


@pytest.mark.parametrize("path", [
    "houston/", "houston/decisions/", "houston/facts/", "houston/sections/houston-co-fees/",
    "houston/sections/ibc-111-1/", "houston/procedures/houston-certificate-of-occupancy/",
])  # fmt: skip
def test_policy_markup_is_shown_and_never_run(page, hostile_url: str, path: str) -> None:  # type: ignore[no-untyped-def]
    """Policy text full of scripts, on every kind of page: nothing runs, all of it shows."""
    page.goto(hostile_url + path)
    page.wait_for_load_state("load")
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert SCRIPT in page.inner_text("article")
    assert HOSTILE_TITLE in page.inner_text("nav.md-nav--primary")  # the nav title, from YAML
    assert not MARKER.exists()
    page.screenshot(path=str(ARTIFACTS / f"hostile-{path.strip('/').replace('/', '-')}.png"))
