"""The documentation site in a real browser: Debian's Chromium, driven by Playwright (no browser
download), against the site built from the policy and served on localhost.

CI installs Chromium and a local Mermaid (.ci/run); elsewhere the test is skipped when they are
missing. Screenshots of the pages checked are saved under tests/artifacts/.
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
from tests.conftest import GOLDEN, ROOT
from tests.test_security_docs import SCRIPT, hostile_examples, hostile_policy

CHROMIUM = Path("/usr/bin/chromium")
MERMAID = Path(os.environ.get("ORDINANCE_MERMAID_JS", ROOT / "build" / "vendor" / "mermaid.min.js"))
ARTIFACTS = ROOT / "tests" / "artifacts"
MARKER = Path("/tmp/ordinance-docs-pwned")
HOSTILE_TITLE = f'!!python/object/apply:os.system ["touch {MARKER}"] {SCRIPT} "Houston": #1'

if not (CHROMIUM.exists() and MERMAID.exists()):
    if os.environ.get("CI"):
        pytest.fail("CI must install Chromium and a local Mermaid (see .ci/run)", pytrace=False)
    pytest.skip("Chromium or a local Mermaid is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def base_url(policy: Policy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    out = tmp_path_factory.mktemp("browser-site")
    build_docs(policy, out, GOLDEN, MERMAID)
    with _served(out) as url:
        yield url


@pytest.fixture(scope="module")
def hostile_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The site of a policy whose every text is markup, Houston's title a YAML python tag."""
    root = tmp_path_factory.mktemp("hostile-browser")
    MARKER.unlink(missing_ok=True)
    policy = load_policy(hostile_policy(root, HOSTILE_TITLE))
    build_docs(policy, root / "out", hostile_examples(root), MERMAID)
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


@pytest.fixture(scope="module")
def page(base_url: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=flags)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
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


def test_procedure_diagram_renders_as_svg(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "kent/procedures/certificate-of-occupancy/")
    page.wait_for_selector(".mermaid svg", timeout=20_000)
    svg = page.locator(".mermaid svg").first.inner_html()
    assert "final inspection approvals" in svg.lower()
    page.screenshot(path=str(ARTIFACTS / "kent-co-procedure.png"), full_page=True)


def test_fee_table_renders(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "houston/sections/houston-co-fees/")
    rows = page.locator("article table tr").all_inner_texts()
    assert any("Additional floors" in r and "$125.32 per floor" in r for r in rows)
    page.screenshot(path=str(ARTIFACTS / "houston-fees.png"), full_page=True)


def test_search_finds_hearing_examiner(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url)
    page.keyboard.press("/")  # mkdocs-material's search shortcut
    page.fill("input.md-search__input", "hearing examiner")
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
