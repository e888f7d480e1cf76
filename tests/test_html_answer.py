"""The printable answer (``ordinance eval CASE --format html``) in a real browser: Debian's
Chromium driven by Playwright (no browser download). The page must make no request at all, show
the decisions, next steps and timeline, print to a PDF that holds the decisions' text, and show
a hostile case id as text.

Screenshots and the PDF are saved under tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import Policy
from engine.compile.load import read_case
from engine.render import RenderContext, render_html
from tests.conftest import CHROMIUM, GOLDEN, ROOT, launch_chromium

ARTIFACTS = ROOT / "tests" / "artifacts"
CASE_48 = GOLDEN / "kent" / "ord-4463" / "48-co-change-of-occupancy-missing-approvals.yaml"
CASE_18 = GOLDEN / "kent" / "ord-4463" / "18-sf-inaction-first-extension.yaml"
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail("CI must install Chromium (see .ci/run)", pytrace=False)
    pytest.skip("Chromium is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


def _page_html(policy: Policy, path: Path) -> str:
    result = policy.evaluate(read_case(path))
    jur = policy.jurisdictions[result.jurisdiction]
    title = next(r.title for r in jur.revisions if r.id == result.revision)
    return render_html(result, RenderContext(jur.title, title))


def _open(browser: Any, html: str, tmp_path: Path) -> tuple[Any, list[str]]:
    """The page loaded from a local file, every other request blocked and recorded."""
    file = tmp_path / "answer.html"
    file.write_text(html, "utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    requests: list[str] = []

    def block(route: Any) -> None:
        url = route.request.url
        if url == file.as_uri():
            route.continue_()
        else:
            requests.append(url)
            route.abort()

    page.route("**/*", block)
    page.goto(file.as_uri())
    page.wait_for_load_state("load")
    return page, requests


def _pdf_text(data: bytes) -> tuple[int, str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), " ".join(p.extract_text() for p in reader.pages)


def test_the_answer_shows_decisions_steps_and_timeline_and_prints(
    browser: Any, policy: Policy, tmp_path: Path
) -> None:
    page, requests = _open(browser, _page_html(policy, CASE_48), tmp_path)
    assert requests == []
    body = page.inner_text("body")
    for words in (
        "Case KENT-G-48",
        "co.missing_approvals",
        "Planning Services, Building Services",
        "IEBC 110.1 as amended by KCC 14.01.040.E",
        "Monday, May 12, 2025",
        "Next steps: Certificate of Occupancy (Kent)",
        "Obtain final inspection",
    ):
        assert words in body, words  # fmt: skip
    svg = page.locator("figure svg")
    assert svg.count() == 1
    # as_of, the inspection request (a fact) and its due day (a decision), each a mark
    assert page.locator("figure svg rect").count() == 1
    assert page.locator("figure svg circle").count() >= 1
    assert page.locator("figure svg polygon").count() >= 1
    box = svg.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 40
    page.screenshot(path=str(ARTIFACTS / "answer-kent-48.png"), full_page=True)
    page.emulate_media(media="print")  # the print stylesheet, as the PDF gets it
    page.set_viewport_size({"width": 816, "height": 1056})  # Letter at 96 dpi
    page.screenshot(path=str(ARTIFACTS / "answer-kent-48-print.png"), full_page=True)
    pdf = page.pdf(format="Letter", print_background=True)
    (ARTIFACTS / "answer-kent-48.pdf").write_bytes(pdf)
    pages, text = _pdf_text(pdf)
    assert 1 <= pages <= 3
    flat = " ".join(text.split())
    for words in ("co.missing_approvals", "Kent CO Process", "co.inspection_due_by"):
        assert words in flat, words
    assert requests == []
    page.close()


def test_a_permit_with_dates_draws_them_in_order(
    browser: Any, policy: Policy, tmp_path: Path
) -> None:
    page, requests = _open(browser, _page_html(policy, CASE_18), tmp_path)
    labels = page.locator("figure svg text").all_text_contents()
    dated = [t for t in labels if t[:4].isdigit()]
    assert dated == sorted(dated)
    assert any("permit.issued_on" in t for t in dated)
    assert any("permit.expires_on" in t for t in dated)
    xs = [float(page.locator("figure svg text").nth(i).get_attribute("x") or 0)
          for i in range(len(labels)) if labels[i][:4].isdigit()]  # fmt: skip
    assert xs[0] < xs[-1]
    page.screenshot(path=str(ARTIFACTS / "answer-kent-18.png"), full_page=True)
    assert requests == []
    page.close()


def test_a_hostile_case_id_is_text(browser: Any, policy: Policy, tmp_path: Path) -> None:
    source = CASE_48.read_text("utf-8").replace("case: KENT-G-48", f"case: '{HOSTILE}'")
    path = tmp_path / "hostile.yaml"
    path.write_text(source, "utf-8")
    html = _page_html(policy, path)
    assert "<script>" not in html and "<img" not in html
    page, requests = _open(browser, html, tmp_path)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("script, img").count() == 0
    assert HOSTILE in page.inner_text("h1")
    assert HOSTILE in page.title()
    page.screenshot(path=str(ARTIFACTS / "answer-hostile.png"), full_page=True)
    assert requests == []
    page.close()
