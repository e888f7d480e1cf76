"""The documentation site: generated from the policy alone, deterministic, and rendered by
mkdocs-material in strict mode (no warnings, no broken links)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import Policy
from engine.tools.docsgen import build_docs, slug
from tests.conftest import GOLDEN


@pytest.fixture(scope="module")
def site(built_site: Path) -> Path:
    """The site, built once per session (tests/conftest.py); the tests here only read it."""
    return built_site


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_the_markdown_is_deterministic(policy: Policy, tmp_path: Path) -> None:
    build_docs(policy, tmp_path / "a", GOLDEN)
    build_docs(policy, tmp_path / "b", GOLDEN)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_every_section_has_a_page(policy: Policy, site: Path) -> None:
    cp = policy.compiled[("kent", "ord-4463")]
    for citation in cp.layered.sections:
        assert (site / "docs" / "kent" / "sections" / f"{slug(citation)}.md").is_file(), citation


def test_the_amended_section_reads_as_law_with_its_provenance(site: Path) -> None:
    page = (site / "docs" / "kent" / "sections" / "ibc-105-5.md").read_text("utf-8")
    assert "**IBC 105.5 as amended by KCC 14.01.030.D**" in page
    assert "shall expire automatically three years after the date of permit issuance" in page
    assert "## Model text before amendment" in page  # and what it replaced
    assert "### `permit.expires_on`" in page and "```mermaid" in page
    assert "### Example KENT-G-" in page  # worked examples from the golden cases
    deleted = (site / "docs" / "kent" / "sections" / "ipmc-604.md").read_text("utf-8")
    assert "IPMC 604 is deleted by KCC 14.01.090.H" in deleted


def test_fees_procedures_and_calendar(site: Path) -> None:
    fees = (site / "docs" / "houston" / "sections" / "houston-co-fees.md").read_text("utf-8")
    assert "| Additional floors | $125.32 per floor | `building.stories` beyond 1 |" in fees
    proc = (site / "docs" / "kent" / "procedures" / "certificate-of-occupancy.md").read_text()
    assert "flowchart TD" in proc and "final_approvals --> co_inspection" in proc
    home = (site / "docs" / "kent" / "index.md").read_text("utf-8")
    assert "| 2024-11-29 (Friday) | Native American Heritage Day |" in home


def test_search_finds_the_staff_questions(site: Path) -> None:
    index = json.loads((site / "site" / "search" / "search_index.json").read_text("utf-8"))

    def where(term: str) -> set[str]:
        return {d["location"].split("#")[0] for d in index["docs"]
                if term.lower() in (d["title"] + " " + d["text"]).lower()}  # fmt: skip

    assert "kent/sections/kcc-14-01-110-a-1/" in where("hearing examiner")
    assert "kent/sections/ibc-105-5/" in where("105.5")
    assert "houston/sections/houston-co-inspection/" in where("re-inspection")
    assert "kent/sections/kent-co-process/" in where("reinspection")


def test_every_diagnostic_code_has_its_page(site: Path) -> None:
    import re

    source = (Path(__file__).parent.parent / "docs" / "diagnostics.md").read_text("utf-8")
    for code in re.findall(r"^## (\S+)$", source, re.M):
        page = site / "docs" / "reference" / "diagnostics" / f"{slug(code)}.md"
        assert page.read_text("utf-8").startswith(f"# {code}\n"), code
    index = (site / "docs" / "reference" / "diagnostics" / "index.md").read_text("utf-8")
    assert "| [`graph/cycle`](graph-cycle.md) |" in index


def test_the_administrators_guide_comes_from_the_readme(site: Path) -> None:
    page = (site / "docs" / "reference" / "writing-policy.md").read_text("utf-8")
    assert page.startswith("# Writing and testing policy")
    for heading in ("## Writing a policy file", "## Fee schedules", "## Adding a golden case"):
        assert heading in page


def test_catalogues_name_enum_values_by_their_labels_with_the_ids_a_case_writes() -> None:
    from dsl.typesys import Type
    from engine.tools.docsgen import type_words

    t = Type.enum(("suspended", "three_years"))
    cell = type_words(t, {"suspended": "work suspended <or> abandoned"})
    assert cell == "one of: work suspended &lt;or&gt; abandoned (`suspended`), `three_years`"
    assert type_words(Type.list_of(t), {}).startswith("a list of: `suspended`")
    assert type_words(Type("date"), {}) == "date"
