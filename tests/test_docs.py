"""The documentation cannot drift from the code: every diagnostic code has its entry."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_every_diagnostic_code_is_documented() -> None:
    source = "\n".join(
        p.read_text("utf-8") for d in ("engine", "dsl") for p in (ROOT / d).rglob("*.py")
    )
    stages = "load|schema|policy|dsl|graph|case|cli|certificate|service|log"
    codes = set(re.findall(rf"\b((?:{stages})/[a-z]+(?:-[a-z]+)*)\b", source))
    codes -= {"policy/generic", "policy/kent", "service/certificates"}  # paths, not codes
    documented = set(
        re.findall(r"^## (\S+)$", (ROOT / "docs" / "diagnostics.md").read_text("utf-8"), re.M)
    )
    assert codes <= documented, f"undocumented: {sorted(codes - documented)}"


def test_function_table_is_the_one_generated_from_builtins() -> None:
    """docs/dsl.md lists exactly the functions of dsl.builtins.BUILTINS, with their usage and
    doc text: regenerate the table with `python -m dsl.builtins --markdown`."""
    from dsl.builtins import build_markdown

    doc = (ROOT / "docs" / "dsl.md").read_text("utf-8")
    section = doc.split("\n## Functions\n", 1)[1].split("\n## ", 1)[0]
    table = section[section.index("| function |") :].rstrip("\n") + "\n"
    assert table == build_markdown()
