"""`ordinance fmt` (issue 15, section 3): idempotent on every bundled file, the compiled policy
the same before and after, the printer's brackets right on any expression, comments kept."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml.scalarstring import FoldedScalarString

from dsl.parse import parse_expression
from dsl.printer import reprinted, shape
from engine import load_policy
from engine.compile.load import read_case
from engine.tools.cli import main
from engine.tools.fmt import format_text, policy_files, schema_for, transform
from tests.conftest import GOLDEN, ROOT

FILES = policy_files([ROOT / "policy"])


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fmt_is_idempotent_on_every_bundled_file(path: Path) -> None:
    once = format_text(path.read_text("utf-8"), schema_for(path), str(path))
    assert format_text(once, schema_for(path), str(path)) == once


def _decided(policy: Any) -> list[Any]:
    """Every golden case's decisions (value, status, citations) and every rule's conditions
    and value as trees: what formatting must not change."""
    out = []
    for path in sorted(GOLDEN.rglob("*.yaml")):
        case = read_case(path)
        result = policy.evaluate(case, explain=False)
        out.append({k: (d.value, d.status, d.citations) for k, d in result.decisions.items()})
    for key in sorted(policy.compiled):
        cp = policy.compiled[key]
        for rid, rule in sorted(cp.rules.items()):
            for v in rule.variants:
                value = v.rule.value.text if v.rule.value else None
                out.append((key, rid, v.section.citation,
                            shape(parse_expression(value)) if value else None,
                            [shape(parse_expression(w.text)) for w in v.whens]))  # fmt: skip
        out.append(sorted((c, s.text, s.status) for c, s in cp.layered.sections.items()))
    return out


def _ugly(path: Path) -> None:
    """The file as someone in a hurry would write it: every expression in brackets with its
    spaces doubled (a comment's too), every folded paragraph on one line."""

    def expression(text: str, _width: int) -> str:
        if "#" in text:
            return text
        parts = re.split(r'("(?:[^"\\\n]|\\["\\n])*")', text)  # strings keep their spaces
        spread = "".join(p if p.startswith('"') else p.replace(" ", "  ") for p in parts)
        return f"( {spread} )"

    def folded(value: FoldedScalarString, _width: int) -> FoldedScalarString:
        out = FoldedScalarString(str(value))
        setattr(out, "fold_pos", [])  # noqa: B010
        return out

    path.write_text(transform(path.read_text("utf-8"), schema_for(path), expression, folded))


def test_formatting_leaves_the_compiled_policy_unchanged(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "policy", tmp_path / "policy")
    for path in policy_files([tmp_path / "policy"]):
        _ugly(path)
    ugly = load_policy(tmp_path / "policy")
    result = CliRunner().invoke(main, ["fmt", str(tmp_path / "policy")])
    assert result.exit_code == 0, result.output
    done = int(re.search(r"(\d+) of \d+ files reformatted", result.stdout)[1])  # type: ignore[index]
    assert done >= 15  # every file with an expression or folded prose
    formatted = load_policy(tmp_path / "policy")
    assert _decided(formatted) == _decided(ugly) == _decided(load_policy(ROOT / "policy"))
    again = CliRunner().invoke(main, ["fmt", "--check", str(tmp_path / "policy")])
    assert again.exit_code == 0 and "0 of" in again.stdout, again.stdout


def test_the_bundled_policy_is_formatted() -> None:
    """As CI checks it (`ordinance fmt --check policy`): run `ordinance fmt` after an edit."""
    result = CliRunner().invoke(main, ["fmt", "--check", str(ROOT / "policy")])
    assert result.exit_code == 0, result.stdout


def test_check_lists_what_it_would_change_and_changes_nothing(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    text = (
        "# a comment the formatter keeps\n"
        "sections:\n"
        "  - citation: X 1\n"
        "    title: T\n"
        "    rules:\n"
        "      - id: a.b\n"
        "        type: bool\n"
        "        value: ( permit.issued_on+180 days )>as_of   # a YAML comment, kept\n"
        "        when: (x.y)  and  not(z.w)\n"
        "      - id: a.c\n"
        "        type: bool\n"
        "        value: |\n"
        "          (x.y)  # a comment inside the expression: left as written\n"
        "          or x.z\n"
    )
    rules.write_text(text)
    checked = CliRunner().invoke(main, ["fmt", "--check", str(rules)])
    assert checked.exit_code == 1 and f"would reformat {rules}" in checked.stdout
    assert rules.read_text() == text
    assert CliRunner().invoke(main, ["fmt", str(rules)]).exit_code == 0
    out = rules.read_text()
    assert "# a comment the formatter keeps" in out
    assert "when: x.y and not z.w\n" in out
    assert "value: permit.issued_on + 180 days > as_of   # a YAML comment, kept" in out
    assert "(x.y)  # a comment inside the expression: left as written\n          or x.z" in out


def test_a_file_that_is_not_yaml_is_located(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sections:\n  - citation: [unclosed\n")
    result = CliRunner().invoke(main, ["fmt", str(bad)])
    assert result.exit_code == 1 and "fmt/not-yaml" in result.stderr
    assert "bad.yaml:3:" in result.stderr or "bad.yaml:2:" in result.stderr


def test_a_file_that_is_not_a_policy_file_is_left_alone_and_the_others_formatted(
    tmp_path: Path,
) -> None:
    prose = tmp_path / "notes.txt"
    prose.write_text("just a line of prose, long enough\n")  # YAML: one plain scalar
    ok = tmp_path / "ok.yaml"
    ok.write_text("sections:\n  - citation: X 1\n    title: T\n    when: (a)\n")
    result = CliRunner().invoke(main, ["fmt", str(prose), str(ok)])
    assert result.exit_code == 1 and "is not a policy file" in result.stderr
    assert prose.read_text() == "just a line of prose, long enough\n"  # untouched
    assert "when: a\n" in ok.read_text()  # formatted all the same


# --- the printer on any expression ------------------------------------------------------------

ATOMS = st.sampled_from(["a", "b.c", "3", "2025-01-10", "$1,250.00", "180 days", '"x"', "true",
                         "null", "as_of", "f(a)", "[1, 2 if a]"])  # fmt: skip
BINARY = st.sampled_from(["or", "and", "==", "<", "<=", "+", "-", "*", "/", "in", "not in"])


def _exprs() -> st.SearchStrategy[str]:
    """Expressions written with a bracket around every part: the printer must keep exactly
    the brackets the precedence needs."""
    return st.recursive(
        ATOMS,
        lambda inner: st.one_of(
            st.tuples(inner, BINARY, inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
            inner.map(lambda x: f"not ({x})"),
            inner.map(lambda x: f"-({x})"),
            inner.map(lambda x: f"({x}) is set"),
            st.tuples(inner, inner, inner).map(
                lambda t: f"if ({t[0]}) then ({t[1]}) else ({t[2]})"
            ),
            st.tuples(inner, inner).map(lambda t: f"g(({t[0]}), ({t[1]}))"),
            st.tuples(inner, inner).map(lambda t: f"[({t[0]}) if ({t[1]})]"),
        ),
        max_leaves=12,
    )


@settings(max_examples=300, deadline=None)
@given(_exprs())
def test_the_printer_keeps_the_tree_of_any_expression(text: str) -> None:
    tree = parse_expression(text)
    printed = reprinted(text)
    assert printed is not None, text
    assert shape(parse_expression(printed)) == shape(tree)
    assert reprinted(printed) == printed  # idempotent


def test_aliases_are_walked_once(tmp_path: Path) -> None:
    """A section named twice by an alias is formatted once (and stays one node, aliased); nine
    levels of nine aliases (387 million names of one node) take no time at all."""
    import time

    twice = tmp_path / "twice.yaml"
    twice.write_text("sections:\n  - &s {citation: X 1, title: T, rules: [{id: a.b, type: bool, "
                     "value: ( a )}]}\n  - *s\n")  # fmt: skip
    assert CliRunner().invoke(main, ["fmt", str(twice)]).exit_code == 0
    assert "value: a}" in twice.read_text() and "*s" in twice.read_text()
    lines = ["x: &l0 {id: a.b, type: bool, value: ( a )}"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\nsections: *l8\n")
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["fmt", str(bomb)])
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - started < 60  # a hang guard, not a measurement
