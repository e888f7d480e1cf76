"""Issue 11 §3: the site states the law exactly. Its worked examples are YAML that reads back as
the golden case they come from, and each section's text keeps the source's own numbering in the
built HTML (Markdown would renumber a list that starts at "3." from 1).

The site is built as CI builds it (``build_docs``, then ``mkdocs build --strict``) and read as
a reader gets it: the Markdown sources for the fences, the HTML for what a browser shows.
"""

from __future__ import annotations

import html
import html.parser
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine import Policy
from engine.compile.load import read_case
from engine.tools.docsgen import build_docs, slug
from tests.conftest import GOLDEN

FENCE = re.compile(r"^(`{3,})yaml\n(.*?)\n\1$", re.M | re.S)
EXAMPLE = re.compile(r"^### Example (.+)$", re.M)
# A line's own list number, letter or bullet, as the law writes them: "3.", "a.", "(b)", "-".
MARKER = re.compile(r"^\s*(\(?(?:\d+|[A-Za-z]|[ivxlc]+)[.)]|[-*+•])(?=\s)")


@pytest.fixture(scope="module")
def site(built_site: Path) -> Path:
    """The site, built once per session (tests/conftest.py); the tests here only read it."""
    return built_site


def _golden_facts() -> dict[str, Any]:
    """Each golden case's facts as a YAML reader reads the file, by case id."""
    found = {}
    for path in sorted(GOLDEN.rglob("*.yaml")):
        data = yaml.safe_load(path.read_text("utf-8"))
        found[str(data["case"])] = data["facts"]
    return found


def _engine_facts(text: str, tmp_path: Path) -> Any:
    """Facts as the engine's own loader reads them (dates stay text there)."""
    path = tmp_path / "case.yaml"
    path.write_text(f"case: X\njurisdiction: kent\n{text}\n", "utf-8")
    doc = read_case(path).doc
    assert doc is not None
    return doc.data["facts"]


def test_every_yaml_block_is_yaml_and_each_example_is_its_golden_case(site: Path) -> None:
    golden = _golden_facts()
    blocks = examples = 0
    for page in sorted((site / "docs").rglob("*.md")):
        text = page.read_text("utf-8")
        for fence in FENCE.finditer(text):
            blocks += 1
            data = yaml.safe_load(fence.group(2))  # every block parses
            heading = [m.group(1) for m in EXAMPLE.finditer(text, 0, fence.start())]
            if not heading or not fence.group(2).startswith("facts:"):
                continue
            case_id = heading[-1]
            examples += 1
            assert data == {"facts": golden[case_id]}, f"{page}: {case_id}"
    assert examples > 100 and blocks > examples


def test_the_examples_read_the_same_to_the_engine(site: Path, tmp_path: Path) -> None:
    """The engine's loader reads a shown block as it reads the golden file's facts."""
    by_id = {}
    for path in sorted(GOLDEN.rglob("*.yaml")):
        case = read_case(path)
        assert case.doc is not None
        by_id[str(case.id)] = case.doc.data["facts"]
    page = (site / "docs" / "kent" / "sections" / "kcc-14-01-110-a-2.md").read_text("utf-8")
    seen = 0
    for fence in FENCE.finditer(page):
        case_id = [m.group(1) for m in EXAMPLE.finditer(page, 0, fence.start())][-1]
        assert _engine_facts(fence.group(2), tmp_path) == by_id[case_id], case_id
        seen += 1
    assert seen >= 3


class _Code(html.parser.HTMLParser):
    """The text of each ``<pre><code>`` block, under the last ``<h3>`` before it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []
        self._h3: list[str] | None = None
        self._code: list[str] | None = None
        self.heading = ""
        self._pre = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h3":
            self._h3 = []
        elif tag == "pre":
            self._pre = True
        elif tag == "code" and self._pre and self._code is None:
            self._code = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._pre = False
        elif tag == "h3" and self._h3 is not None:
            self.heading, self._h3 = "".join(self._h3).strip().rstrip("¶"), None
        elif tag == "code" and self._code is not None:
            self.blocks.append((self.heading, "".join(self._code)))
            self._code = None

    def handle_data(self, data: str) -> None:
        for part in (self._h3, self._code):
            if part is not None:
                part.append(data)


def test_the_built_pages_show_the_same_facts(site: Path) -> None:
    """What a reader copies from the page (the HTML's code text) is the golden case too."""
    golden = _golden_facts()
    shown = 0
    for page in sorted((site / "site").rglob("sections/*/index.html")):
        parser = _Code()
        parser.feed(page.read_text("utf-8"))
        for heading, code in parser.blocks:
            if heading.startswith("Example ") and code.startswith("facts:"):
                assert yaml.safe_load(code) == {"facts": golden[heading[8:]]}, page
                shown += 1
    assert shown > 100


class _Quotes(html.parser.HTMLParser):
    """The text of each top-level ``<blockquote>``, and the list tags inside any of them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.quotes: list[str] = []
        self.lists: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "blockquote":
            self._depth += 1
            if self._depth == 1:
                self.quotes.append("")
        elif self._depth and tag in ("ol", "ul", "li"):
            self.lists.append(tag)
        elif self._depth and tag == "p" and self.quotes[-1]:
            self.quotes[-1] += "\n"

    def handle_endtag(self, tag: str) -> None:
        if tag == "blockquote":
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.quotes[-1] += data


def _markers(text: str) -> list[str]:
    return [m.group(1) for line in text.splitlines() if (m := MARKER.match(line))]


def test_section_text_keeps_the_numbering_of_the_source(policy: Policy, site: Path) -> None:
    checked = numbered = 0
    for (jid, _), cp in sorted(policy.compiled.items()):
        if cp is not policy.latest(jid):
            continue
        for citation, sec in cp.layered.sections.items():
            sources = [t for t in (sec.text, sec.model_text) if t]
            if not sources:
                continue
            page = site / "site" / jid / "sections" / slug(citation) / "index.html"
            parser = _Quotes()
            parser.feed(page.read_text("utf-8"))
            assert parser.lists == [], f"{page}: the law became a Markdown list"
            quotes = [q for q in parser.quotes if q.strip()][: len(sources)]
            assert [_markers(q) for q in quotes] == [_markers(t) for t in sources], citation
            checked += 1
            numbered += any(_markers(t) for t in sources)
    assert checked > 100 and numbered > 10


def test_kent_subsection_3_reads_3(site: Path) -> None:
    """KCC 14.01.030.D's subsection 3 (no extension during code enforcement) is "3.", not "1."."""
    page = site / "site" / "kent" / "sections" / "ibc-105-5" / "index.html"
    parser = _Quotes()
    parser.feed(page.read_text("utf-8"))
    effective = parser.quotes[0]
    assert "\n3. No permit extension will be granted" in html.unescape(effective)
    assert _markers(effective) == ["1.", "2.", "a.", "b.", "c.", "3."]


class _Depth(html.parser.HTMLParser):
    """How deep lists nest in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = self.deepest = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "ul":
            self.depth += 1
            self.deepest = max(self.deepest, self.depth)

    def handle_endtag(self, tag: str) -> None:
        if tag == "ul":
            self.depth -= 1


def _deepest(markdown_text: str) -> int:
    import markdown

    parser = _Depth()
    parser.feed(markdown.markdown(markdown_text, extensions=["tables"]))
    return parser.deepest


def test_eval_markdown_nests_as_deep_as_the_text_tree(policy: Policy) -> None:
    """``ordinance eval --format markdown`` read by Python-Markdown (mkdocs) shows the tree the
    text rendering draws, level for level (at two spaces it was one flat list)."""
    from engine.render import RenderContext, render_markdown, render_text

    case = read_case(GOLDEN / "kent" / "ord-4463" / "01-not-commenced-expiry-day.yaml")
    result = policy.evaluate(case)
    only = RenderContext(only=("permit.expired",), header=False)
    text_levels = max(
        (len(line) - len(line.lstrip(" │├└─"))) // 3
        for line in render_text(result, only).split("\n")
    )
    assert _deepest(render_markdown(result, only)) == text_levels >= 4


def test_worked_examples_nest_on_the_built_page(site: Path) -> None:
    page = site / "site" / "kent" / "sections" / "ibc-105-5" / "index.html"
    parser = _Depth()
    parser.feed(page.read_text("utf-8"))
    assert parser.deepest >= 4


def test_facts_with_control_characters_read_back_the_same() -> None:
    """A fact holding ESC, a bidi override or a backslash is shown escaped (``md_fence`` shows
    controls as escapes) and the block still reads back as the same value: the emitter
    double-quotes such a string, where the escape means the character."""
    from types import SimpleNamespace

    from engine.printable import md_fence
    from engine.tools.site_examples import facts_yaml

    facts = {"permit": {"note": "a\x1bb\u202ec \\ d\x85e", "code": "IBC"}}
    text = yaml.safe_dump({"case": "X", "facts": facts}, allow_unicode=True)
    doc = SimpleNamespace(text=text, data={"facts": facts})
    (_, shown, _) = md_fence(facts_yaml(SimpleNamespace(doc=doc)), "yaml")
    assert "\x1b" not in shown and "\u202e" not in shown
    assert yaml.safe_load(shown) == {"facts": facts}


def test_input_diagram_labels_are_escaped(tmp_path: Path) -> None:
    """A description full of markup labels a diagram node as text: quotes, tags, ``#`` and
    ``%`` reach Mermaid as its entity codes, and our own ``<br/>``/``<small>`` are the only tags."""
    from engine import load_policy
    from tests.test_security_docs import hostile_policy

    build_docs(load_policy(hostile_policy(tmp_path)), tmp_path / "out")
    labels = 0
    for page in sorted((tmp_path / "out" / "docs" / "houston" / "sections").glob("*.md")):
        text = page.read_text("utf-8")
        for diagram in re.findall(r"```mermaid\n(.*?)```", text, re.S):
            for label in re.findall(r'\["(.*?)"\]', diagram):
                labels += 1
                plain = label.replace("<br/>", "").replace("<small>", "").replace("</small>", "")
                assert not re.search(r'["<>%]', plain), label
    assert labels > 10
