"""Issue 9, points 1–4: policy text cannot run code on the docs builder or script the site, the
docs build deletes only what it wrote, and case text cannot drive a terminal or a Markdown report.

Policy authors are trusted to write law, not to run code; case files are untrusted. Each test
here builds from a hostile copy of the bundled policy or case, never from a mock.
"""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import markdown
import pytest
import yaml
from click.testing import CliRunner

from engine import Policy, load_policy
from engine.diagnostics import OrdinanceError
from engine.render import RenderContext, render_markdown, render_text
from engine.tools.cli import main
from engine.tools.docsgen import build_docs
from tests.conftest import GOLDEN, ROOT

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
# Every kind of markup a text could smuggle: HTML, a link, an attribute list, a table cell.
LINK = "[x](javascript:window.__pwned=1)"
HOSTILE = f'</title>{SCRIPT} {IMG} {LINK} {{: onclick="window.__pwned=1"}} | #'
TEXT_KEYS = ("title", "description", "text", "interpretation", "note", "observed")
EXAMPLE = ROOT / "examples" / "kent-co-and-permit.yaml"


def _poison(node: Any) -> Any:
    """Every prose field of a policy file with hostile markup appended (multi-line fields get a
    second paragraph, which must stay inside its admonition or quote)."""
    if isinstance(node, list):
        return [_poison(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _poison(v) for k, v in node.items()}
    for key in TEXT_KEYS:
        if isinstance(out.get(key), str):
            tail = f"\n\nSecond paragraph {HOSTILE}" if key != "title" else ""
            out[key] = f"{out[key]} {HOSTILE}{tail}"
    return out


def hostile_policy(root: Path, title: str | None = None) -> Path:
    """``generic`` and ``houston`` (the smallest city) copied under ``root`` with every prose
    field poisoned; ``title`` replaces Houston's title when given."""
    policy = root / "policy"
    for jid in ("generic", "houston"):
        shutil.copytree(ROOT / "policy" / jid, policy / jid)
    for path in policy.rglob("*.yaml"):
        data = _poison(yaml.safe_load(path.read_text("utf-8")))
        if title is not None and path == policy / "houston" / "jurisdiction.yaml":
            data["title"] = title
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    return policy


def hostile_examples(root: Path) -> Path:
    """One Houston golden case with a hostile description and a hostile comment in its facts."""
    folder = root / "examples" / "houston" / "cal-2024"
    folder.mkdir(parents=True)
    text = (GOLDEN / "houston" / "cal-2024" / "01-commercial-three-stories.yaml").read_text()
    text = text.replace("description: >-\n", f"description: >-\n  {HOSTILE}\n", 1)
    text = text.replace("facts:\n", f"facts:\n  # {SCRIPT} {IMG} ```\n", 1)
    (folder / "01-hostile.yaml").write_text(text, "utf-8")
    return root / "examples"


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    out = root / "site-src"
    build_docs(load_policy(hostile_policy(root)), out, hostile_examples(root))
    return out


class _Live(html.parser.HTMLParser):
    """What in a page a browser would run: script and img tags, event handlers, script URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "img", "iframe"):
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"{tag} {name}={value}")


def _live(text: str) -> list[str]:
    parser = _Live()
    parser.feed(text)
    return parser.found


def _html(page: Path) -> str:
    """A generated page rendered as mkdocs does: front matter apart, the site's extensions."""
    from mkdocs.utils.meta import get_data

    body, meta = get_data(page.read_text("utf-8"))
    exts = ["admonition", "tables", "attr_list", "pymdownx.superfences"]
    return str(meta.get("title", "")) + markdown.markdown(body, extensions=exts)


# 1. Code execution through the docs build ---------------------------------------------------


def test_a_title_holding_a_python_tag_is_only_text_to_mkdocs(tmp_path: Path) -> None:
    from mkdocs.config import load_config

    marker = tmp_path / "pwned"
    title = f'!!python/object/apply:os.system ["touch {marker}"]\n"quoted": a #comment'
    out = tmp_path / "site-src"
    build_docs(load_policy(hostile_policy(tmp_path, title)), out)
    tags: list[str] = []

    class Loader(yaml.SafeLoader):  # safe, and records every python tag instead of obeying it
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda _, s, __: tags.append(s))
    nav = yaml.load((out / "mkdocs.yml").read_text("utf-8"), Loader)["nav"]
    assert any(isinstance(e, dict) and title in e for e in nav)
    assert tags == ["name:pymdownx.superfences.fence_code_format"]
    config = load_config(config_file=str(out / "mkdocs.yml"))  # mkdocs's own, unsafe loader
    assert any(isinstance(e, dict) and title in e for e in config["nav"])
    assert not marker.exists()
    fences = config["mdx_configs"]["pymdownx.superfences"]["custom_fences"]
    assert fences[0]["format"].__name__ == "fence_code_format"  # the one python tag we mean


# 2. The docs build deletes only what it wrote --------------------------------------------------


def _unsafe(policy: Policy, out: Path, **kwargs: Any) -> str:
    with pytest.raises(OrdinanceError) as exc:
        build_docs(policy, out, **kwargs)
    assert [d.code for d in exc.value.diagnostics] == ["cli/unsafe-output"]
    return exc.value.diagnostics[0].message


def test_someone_elses_mkdocs_yml_and_git_are_not_wiped(policy: Policy, tmp_path: Path) -> None:
    (tmp_path / "mkdocs.yml").write_text("site_name: mine\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    _unsafe(policy, tmp_path)
    assert (tmp_path / "mkdocs.yml").read_text() == "site_name: mine\n"
    assert (tmp_path / ".git" / "HEAD").is_file()


def test_a_symlinked_out_is_refused_with_a_diagnostic(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "mkdocs.yml").write_text("site_name: mine\n")
    (tmp_path / "out").symlink_to(target)
    result = CliRunner().invoke(main, ["docs", "build", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "cli/unsafe-output" in result.stderr and "internal error" not in result.stderr
    assert (target / "mkdocs.yml").read_text() == "site_name: mine\n"


def test_a_rebuild_removes_only_what_the_last_build_wrote(policy: Policy, tmp_path: Path) -> None:
    out = tmp_path / "out"
    mermaid = tmp_path / "mermaid.min.js"
    mermaid.write_text("// mermaid\n")
    build_docs(policy, out, mermaid_js=mermaid)
    (out / "notes.txt").write_text("keep me")  # someone else's file
    (out / "site").mkdir()  # what `mkdocs build` writes beside our sources
    (out / "site" / "index.html").write_text("<html></html>")
    build_docs(policy, out)
    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / "site" / "index.html").is_file()
    assert not (out / "docs" / "javascripts").exists()  # ours, and no longer written
    assert (out / "docs" / "index.md").is_file()


def test_a_manifest_cannot_point_outside_out(policy: Policy, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_docs(policy, out)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    manifest = out / ".ordinance-site.json"
    data = json.loads(manifest.read_text("utf-8"))
    for bad in ("../victim.txt", str(victim)):
        manifest.write_text(json.dumps({**data, "files": [*data["files"], bad]}), "utf-8")
        assert "outside" in _unsafe(policy, out)
        assert victim.read_text() == "keep me"


def test_a_rebuild_never_writes_through_a_symlink(policy: Policy, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_docs(policy, out)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "index.md").write_text("keep me")
    shutil.rmtree(out / "docs" / "houston")
    (out / "docs" / "houston").symlink_to(elsewhere)
    assert "symbolic link" in _unsafe(policy, out)
    os.remove(out / "docs" / "houston")
    (out / "docs" / "index.md").unlink()
    (out / "docs" / "index.md").symlink_to(elsewhere / "index.md")
    assert "symbolic link" in _unsafe(policy, out)
    assert (elsewhere / "index.md").read_text() == "keep me"


# 3. Stored HTML injection in the site -----------------------------------------------------------


@pytest.mark.parametrize("page", [
    "houston/index.md", "houston/decisions.md", "houston/facts.md",
    "houston/sections/houston-co-fees.md", "houston/sections/ibc-111-1.md",
    "houston/procedures/houston-certificate-of-occupancy.md", "index.md",
])  # fmt: skip
def test_policy_text_is_shown_not_obeyed(hostile_site: Path, page: str) -> None:
    shown = _html(hostile_site / "docs" / page)
    assert _live(shown) == [], page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in shown


def test_page_titles_in_the_built_site_are_text(hostile_site: Path) -> None:
    """mkdocs-material writes a page's title into ``<title>`` unescaped (after ``striptags``,
    which decodes entities): a ``</title>`` in policy text must not end it there."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q"],
                         cwd=hostile_site, capture_output=True, text=True, env=env,
                         timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    pages = sorted((hostile_site / "site" / "houston").rglob("index.html"))
    assert len(pages) > 20
    for page in pages:
        head = page.read_text("utf-8").split("</head>", 1)[0]
        title = head.split("<title>", 1)[1].split("</title>", 1)[0]
        assert "<" not in title and "&lt;/title&gt;" in title, page
        assert head.count("</title>") == 1, page


def test_a_golden_case_is_shown_not_obeyed(hostile_site: Path) -> None:
    shown = _html(hostile_site / "docs" / "houston" / "sections" / "houston-co-fees.md")
    assert "Example HOU-G-01" in shown
    assert _live(shown) == []
    assert shown.count("&lt;script&gt;window.__pwned=1&lt;/script&gt;") >= 3  # description, facts


def test_multi_line_text_stays_inside_its_admonition(hostile_site: Path) -> None:
    shown = _html(hostile_site / "docs" / "houston" / "index.md")
    note = shown.split('<div class="admonition note">', 1)[1].split("</div>", 1)[0]
    assert "Second paragraph" in note


def test_mermaid_labels_are_escaped(hostile_site: Path) -> None:
    page = hostile_site / "docs" / "houston" / "procedures" / "houston-certificate-of-occupancy.md"
    diagram = page.read_text("utf-8").split("```mermaid\n", 1)[1].split("```", 1)[0]
    for line in diagram.splitlines()[1:]:
        if "[" in line:
            label = line.split('["', 1)[1].rsplit('"]', 1)[0]
            assert '"' not in label and "<script" not in label and "<img" not in label, line


def test_a_case_cannot_close_the_code_block_of_its_facts(policy: Policy, tmp_path: Path) -> None:
    """A quoted YAML string may hold a line of backticks; the facts' fence must outlast it."""
    case = GOLDEN / "kent" / "ord-4463" / "83-ipmc-section-citation-spelling.yaml"
    evil = f'ipmc_section: "ipmc  604.3\n```\n\n{SCRIPT}\n\n```\n"'
    folder = tmp_path / "examples" / "kent" / "ord-4463"
    folder.mkdir(parents=True)
    text = case.read_text("utf-8").replace('ipmc_section: "ipmc  604.3"', evil)
    (folder / "83-fence.yaml").write_text(text, "utf-8")
    build_docs(policy, tmp_path / "out", tmp_path / "examples")
    shown = _html(tmp_path / "out" / "docs" / "kent" / "sections" / "kcc-14-01-090.md")
    assert "Example KENT-G-83" in shown
    assert _live(shown) == []


# 4. Terminal and Markdown injection --------------------------------------------------------------


def _json_case(tmp_path: Path, **changes: Any) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    data.update(changes)
    path = tmp_path / "case.json"
    path.write_text(json.dumps(data, default=str), "utf-8")  # JSON escapes let anything in
    return path


def test_eval_text_shows_control_characters_escaped(tmp_path: Path) -> None:
    case = _json_case(tmp_path, case="K-1\x1b[2J\r\x9b\u202eevil")
    result = CliRunner().invoke(main, ["eval", str(case)])
    assert result.exit_code == 0, result.output
    assert not any(c in result.stdout for c in "\x1b\r\x9b\u202e")
    assert "K-1\\x1b[2J\\x0d\\x9b\\u202eevil" in result.stdout


def test_render_text_escapes_values_from_a_dict_case(policy: Policy) -> None:
    case = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    case["facts"]["building"]["type"] = "other"
    case["case"] = "\u2066K\x07"
    text = render_text(policy.evaluate(case), RenderContext("Kent\x1b]0;title\x07", "rev"))
    assert "\x1b" not in text and "\x07" not in text and "\u2066" not in text
    assert "\\u2066K\\x07" in text and "Kent\\x1b]0;title\\x07" in text


def test_diagnostics_show_control_characters_escaped(tmp_path: Path) -> None:
    case = tmp_path / "case.json"
    data = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    data["facts"]["permit"]["code"] = "IBC\x1b[31m"
    data["facts"]["permit\u202e"] = {"x": 1}
    case.write_text(json.dumps(data, default=str, ensure_ascii=False, indent=1), "utf-8")
    result = CliRunner().invoke(main, ["eval", str(case)])
    assert result.exit_code == 1, result.output
    assert "\x1b" not in result.stderr and "\u202e" not in result.stderr
    assert "\\u202e" in result.stderr


def test_render_markdown_escapes_what_it_quotes(policy: Policy) -> None:
    case = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    case["case"] = f"K-1\n# Injected heading {SCRIPT} | x"
    md = render_markdown(policy.evaluate(case), RenderContext("Kent <b>", "rev"))
    assert "\n# Injected" not in md and "<script" not in md and "<b>" not in md
    assert md.startswith("# Case K-1 # Injected heading &lt;script&gt;")
