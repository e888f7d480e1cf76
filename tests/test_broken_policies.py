"""Broken policies: every diagnostic a policy can produce, each from the smallest policy tree that
triggers it, at the exact file, line and column (DESIGN.md §6).

Each tree lives in ``tests/fixtures/broken_policies/<code with / replaced by ->/`` (variants of
one code add ``--<what>``); ``ok/`` is a clean tree the generated variants start from. A tree is
a policy root with one jurisdiction (``town``) or two (``model`` and ``town``, which extends it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine import load_policy
from engine.api import Policy
from engine.diagnostics import Diagnostic, Span

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "broken_policies"

RULES = "town/r1/rules.yaml"
FACTS = "town/r1/facts.yaml"
JUR = "town/jurisdiction.yaml"


def load(root: Path) -> Policy:
    """``load_policy(root, strict=False)``; any exception fails the test with a short report
    (a traceback through the engine would show the whole policy)."""
    try:
        return load_policy(root, strict=False)
    except Exception as exc:
        pytest.fail(f"load_policy raised {type(exc).__name__}: {exc}"[:500], pytrace=False)


def same_file(span: Span, tree: str, rel: str) -> bool:
    return Path(span.file).resolve() == (FIXTURES / tree / rel).resolve()


def find(policy: Policy, code: str) -> Diagnostic:
    found = [d for d in policy.diagnostics if d.code == code]
    if not found:
        shown = "\n".join(d.one_line() for d in policy.diagnostics)
        pytest.fail(f"no {code} among:\n{shown}", pytrace=False)
    return found[0]


@dataclass(frozen=True)
class Expect:
    """One diagnostic a tree must produce. ``line``/``col`` None: the position is checked by
    a test of its own below."""

    tree: str
    code: str
    file: str | None  # relative to the tree; None: the diagnostic has no span
    line: int | None = None
    col: int | None = None
    severity: str = "error"
    needles: tuple[str, ...] = ()  # in the message or help
    related: tuple[tuple[str, int, int], ...] = ()  # (file, line, col) of each related span


EXPECTED = [
    # ---- schema ----
    Expect(
        "schema-unknown-key",
        "schema/unknown-key",
        RULES,
        4,
        5,
        needles=("unknown key `rule`", "did you mean `rules`?"),
    ),
    Expect("schema-missing-key", "schema/missing-key", JUR, 1, 1, needles=("`time_zone`",)),
    Expect("schema-missing-key--second-rule", "schema/missing-key", RULES, needles=("`value:`",)),
    Expect(
        "schema-invalid-value",
        "schema/invalid-value",
        RULES,
        12,
        15,
        needles=("substitue", "did you mean `substitute`?"),
    ),
    Expect(
        "schema-invalid-value--id",
        "schema/invalid-value",
        RULES,
        5,
        13,
        needles=("`Permit.Expires` is not a valid id",),
    ),
    Expect(
        "schema-invalid-value--date",
        "schema/invalid-value",
        JUR,
        7,
        19,
        needles=("`effective_on` must be a date", "2024-02-30"),
    ),
    Expect("schema-type", "schema/type", JUR, 8, 14, needles=("`encoded` must be true or false",)),
    Expect("schema-type--not-a-mapping", "schema/type", FACTS, 1, 1, needles=("mapping",)),
    Expect("schema-type--unquoted-value", "schema/type", RULES, 10, 16, needles=("`value`",)),
    Expect("schema-invalid", "schema/invalid", JUR, 4, 12, needles=("`revisions`",)),
    # ---- load ----
    Expect(
        "load-yaml-syntax",
        "load/yaml-syntax",
        FACTS,
        4,
        33,
        needles=("mapping values are not allowed", "must be quoted"),
    ),
    Expect("load-yaml-tag", "load/yaml-tag", FACTS, 4, 18, needles=("python/object/apply",)),
    Expect(
        "load-duplicate-key",
        "load/duplicate-key",
        FACTS,
        5,
        5,
        needles=("`type` appears twice",),
        related=((FACTS, 3, 5),),
    ),
    Expect("load-bad-key", "load/bad-key", FACTS, 5, 7, needles=("plain text",)),
    Expect("load-bad-merge", "load/bad-merge", FACTS, 3, 9, needles=("`<<`",)),
    Expect("load-empty", "load/empty", "town/r1/notes.yaml", 1, 1),
    Expect("load-too-deep", "load/too-deep", FACTS, 5, 77, needles=("64 levels",)),
    Expect("load-too-large", "load/too-large", "town/r1/bomb.yaml", 1, 66, needles=("aliases",)),
    # ---- policy ----
    Expect("policy-empty", "policy/empty", None, needles=("jurisdiction.yaml",)),
    Expect(
        "policy-id-mismatch",
        "policy/id-mismatch",
        JUR,
        1,
        5,
        needles=("`towne`", "`town`", "write `id: town`"),
    ),
    Expect(
        "policy-missing-revision",
        "policy/missing-revision",
        JUR,
        12,
        14,
        needles=("`r2`", "encoded: false"),
    ),
    Expect("policy-missing-effective-date", "policy/missing-effective-date", JUR, 5, 5),
    Expect(
        "policy-unknown-parent",
        "policy/unknown-parent",
        JUR,
        3,
        10,
        needles=("`modle`", "model"),
    ),
    Expect(
        "policy-no-parent-revision",
        "policy/no-parent-revision",
        JUR,
        3,
        10,
        needles=("`model`", "2024-01-01"),
    ),
    Expect(
        "policy-duplicate-fact",
        "policy/duplicate-fact",
        "town/r1/more-facts.yaml",
        2,
        3,
        needles=("`permit.issued_on`",),
        related=((FACTS, 2, 3),),
    ),
    Expect(
        "policy-fact-type-changed",
        "policy/fact-type-changed",
        FACTS,
        2,
        3,
        needles=("datetime", "date in `model`"),
        related=(("model/m1/facts.yaml", 2, 3),),
    ),
    Expect(
        "policy-unknown-ruleset",
        "policy/unknown-ruleset",
        RULES,
        9,
        11,
        needles=("`expiraton`", "did you mean `expiration`?"),
    ),
    Expect(
        "policy-duplicate-section",
        "policy/duplicate-section",
        RULES,
        8,
        5,
        needles=("`TC 1.01`",),
        related=((RULES, 2, 5),),
    ),
    Expect(
        "policy-amend-target-exists",
        "policy/amend-target-exists",
        RULES,
        6,
        15,
        needles=("`MC 1.01`", "action: substitute"),
    ),
    Expect(
        "policy-amend-target-missing",
        "policy/amend-target-missing",
        RULES,
        5,
        16,
        needles=("`MC 1.10` is not defined by `model`", "did you mean `MC 1.01`?"),
    ),
    Expect(
        "policy-amend-target-missing--marked",
        "policy/amend-target-missing",
        RULES,
        7,
        18,
        needles=("`MC 1.01` is defined by `model`", "remove `in_parent: false`"),
    ),
    Expect(
        "policy-duplicate-rule",
        "policy/duplicate-rule",
        RULES,
        9,
        13,
        needles=("`permit.expires_on` can never apply",),
        related=((RULES, 6, 13),),
    ),
    Expect(
        "policy-duplicate-fee-item",
        "policy/duplicate-fee-item",
        RULES,
        13,
        19,
        needles=("`base` is listed twice",),
        related=((RULES, 10, 19),),
    ),
    Expect(
        "policy-time-zone",
        "policy/time-zone",
        JUR,
        3,
        12,
        needles=("Mars/Olympus_Mons", "America/Los_Angeles"),
    ),
    Expect(
        "policy-unknown-holiday",
        "policy/unknown-holiday",
        JUR,
        severity="warning",
        needles=("`Festivus`",),
    ),
    Expect(
        "policy-fee-no-effective-date",
        "policy/fee-no-effective-date",
        RULES,
        7,
        9,
        severity="warning",
        needles=("effective_on",),
    ),
    Expect(
        "policy-fee-threshold-gap",
        "policy/fee-threshold-gap",
        RULES,
        19,
        21,
        severity="warning",
        needles=("11 to 20", "`first_units`", "`more_units`"),
        related=((RULES, 10, 15),),
    ),
    Expect(
        "policy-fee-threshold-overlap",
        "policy/fee-threshold-overlap",
        RULES,
        19,
        21,
        severity="warning",
        needles=("21 and up",),
        related=((RULES, 10, 15),),
    ),
    Expect(
        "policy-fee-unreachable-item",
        "policy/fee-unreachable-item",
        RULES,
        17,
        21,
        severity="warning",
        needles=("`duplicate`",),
    ),
    Expect(
        "policy-duplicate-revision",
        "policy/duplicate-revision",
        JUR,
        9,
        9,
        needles=("`r1`",),
        related=((JUR, 5, 9),),
    ),
    Expect(
        "policy-unknown-vesting-fact",
        "policy/unknown-vesting-fact",
        JUR,
        5,
        9,
        needles=("`application.complete_on`",),
    ),
    Expect(
        "policy-holiday-library",
        "policy/holiday-library",
        JUR,
        6,
        14,
        needles=("XX",),
    ),
    Expect(
        "policy-rule-type-conflict",
        "policy/rule-type-conflict",
        RULES,
        12,
        15,
        needles=("datetime", "date in `TC 1.01`"),
        related=((RULES, 6, 15),),
    ),
    Expect(
        "policy-rule-shadows-fact",
        "policy/rule-shadows-fact",
        RULES,
        8,
        13,
        needles=("`permit.issued_on`",),
    ),
    Expect(
        "policy-unknown-outcome",
        "policy/unknown-outcome",
        RULES,
        10,
        11,
        needles=("`flase`", "did you mean `false`?"),
    ),
    Expect(
        "policy-unknown-label",
        "policy/unknown-label",
        FACTS,
        11,
        7,
        needles=("`IRX`", "did you mean `IRC`?"),
    ),
    Expect(
        "policy-unknown-placeholder",
        "policy/unknown-placeholder",
        RULES,
        10,
        34,
        needles=("`{permit.isued_on}`", "did you mean `{permit.issued_on}`?"),
    ),
    Expect(
        "policy-unknown-step",
        "policy/unknown-step",
        RULES,
        16,
        29,
        needles=("`inspect` requires `aproval`",),
    ),
    # ---- dsl ----
    Expect(
        "dsl-syntax",  # in a `|` block scalar, on the expression's second line
        "dsl/syntax",
        RULES,
        9,
        44,
        needles=("unexpected `els`",),
    ),
    Expect("dsl-syntax--folded", "dsl/syntax", RULES, 9, 24, needles=("unexpected `)`",)),
    Expect("dsl-syntax--quoted", "dsl/syntax", RULES, 7, 47, needles=("unexpected `+`",)),
    Expect(
        "dsl-type-mismatch",
        "dsl/type-mismatch",
        RULES,
        7,
        16,
        needles=("cannot apply `+` to a date", "`+ 180 days`"),
    ),
    Expect(
        "dsl-type-mismatch--when-not-bool",
        "dsl/type-mismatch",
        RULES,
        8,
        15,
        needles=("`when:` condition must be true or false",),
    ),
    Expect(
        "dsl-type-mismatch--declared-type",
        "dsl/type-mismatch",
        RULES,
        7,
        16,
        needles=("declared as a bool but its value is a date",),
    ),
    Expect(
        "dsl-unknown-reference",
        "dsl/unknown-reference",
        RULES,
        7,
        16,
        needles=("`permit.isued_on`", "did you mean `permit.issued_on`?"),
    ),
    Expect(
        "dsl-unknown-value",
        "dsl/unknown-value",
        RULES,
        8,
        30,
        needles=('"IBX"', 'did you mean "IBC"?'),
    ),
    Expect(
        "dsl-unknown-value--rule-enum",
        "dsl/unknown-value",
        RULES,
        11,
        61,
        needles=('"shut"', "open, closed"),
    ),
    Expect(
        "dsl-unknown-function",
        "dsl/unknown-function",
        RULES,
        7,
        35,
        needles=("`dayz`", "did you mean `days`?"),
    ),
    Expect("dsl-bad-literal", "dsl/bad-literal", RULES, 7, 54, needles=("`2024-02-30`",)),
    Expect("dsl-out-of-range", "dsl/out-of-range", RULES, 7, 35, needles=("3,652,059 days",)),
    Expect("dsl-too-deep", "dsl/too-deep", RULES, 7, 916, needles=("100 levels",)),
    Expect("dsl-too-long", "dsl/too-long", RULES, 7, 10016, needles=("10,808 characters",)),
    # ---- graph ----
    Expect(
        "graph-cycle",
        "graph/cycle",
        RULES,
        10,
        16,
        needles=("`permit.expires_on`", "`permit.renewal_due`"),
        related=((RULES, 10, 16), (RULES, 7, 16)),
    ),
    Expect(
        "graph-unused-fact",
        "graph/unused-fact",
        FACTS,
        5,
        3,
        severity="warning",
        needles=("`permit.color`",),
    ),
    Expect(
        "graph-unreachable-rule",
        "graph/unreachable-rule",
        RULES,
        11,
        13,
        severity="warning",
        needles=("`permit.expires_on`", "`TC 1.01`"),
        related=((RULES, 5, 13),),
    ),
    Expect(
        "graph-unreachable-rule--internal",
        "graph/unreachable-rule",
        RULES,
        8,
        13,
        severity="warning",
        needles=("`permit.grace_period_end`",),
    ),
]


@pytest.mark.parametrize("want", EXPECTED, ids=[e.tree for e in EXPECTED])
def test_broken_policy(want: Expect) -> None:
    policy = load(FIXTURES / want.tree)
    d = find(policy, want.code)
    assert d.severity == want.severity, d.one_line()
    if want.severity == "warning":
        assert not [x for x in policy.diagnostics if x.severity == "error"], [
            x.one_line() for x in policy.diagnostics
        ]
    if want.file is None:
        assert d.span is None
    else:
        assert d.span is not None, d.one_line()
        assert same_file(d.span, want.tree, want.file), d.one_line()
        if want.line is not None:
            assert (d.span.line, d.span.col) == (want.line, want.col), d.one_line()
            assert (d.span.end_line, d.span.end_col) >= (d.span.line, d.span.col)
    text = f"{d.message}\n{d.help or ''}"
    for needle in want.needles:
        assert needle in text, text
    got = [(Path(s.file).resolve(), s.line, s.col) for s, _ in d.related]
    want_related = [((FIXTURES / want.tree / f).resolve(), ln, c) for f, ln, c in want.related]
    assert got == want_related, d.related


# Every code a policy can produce: the codes written in engine/ and dsl/, less the case/* and
# cli/* ones. Derived from the source, so a new code without a fixture tree fails below.
def _policy_codes() -> set[str]:
    root = Path(__file__).resolve().parent.parent
    source = "\n".join(
        p.read_text("utf-8") for d in ("engine", "dsl") for p in (root / d).glob("*.py")
    )
    codes = set(re.findall(r'"((?:load|schema|policy|dsl|graph)/[a-z]+(?:-[a-z]+)*)"', source))
    return codes - {"policy/generic", "policy/kent"}


POLICY_CODES = _policy_codes()


def test_every_policy_code_has_a_tree() -> None:
    covered = {e.code for e in EXPECTED} | {g[1] for g in GENERATED}
    assert POLICY_CODES - covered == set()
    for code in POLICY_CODES:
        if code not in {g[1] for g in GENERATED}:
            assert (FIXTURES / code.replace("/", "-")).is_dir(), code


def test_clean_tree_has_no_diagnostics() -> None:
    policy = load(FIXTURES / "ok")
    assert policy.diagnostics == []
    assert ("town", "r1") in policy.compiled


def test_a_cycle_names_every_edge() -> None:
    d = find(load(FIXTURES / "graph-cycle"), "graph/cycle")
    assert len(d.related) == 2
    notes = [m for _, m in d.related]
    assert "`permit.renewal_due` uses `permit.expires_on` here" in notes
    assert "`permit.expires_on` uses `permit.renewal_due` here" in notes


def test_errors_of_one_tree_do_not_stop_the_others() -> None:
    """A broken jurisdiction does not hide a healthy one beside it."""
    policy = load(FIXTURES / "policy-unknown-parent")
    assert ("model", "m1") in policy.compiled
    assert ("town", "r1") not in policy.compiled


# --------------------------------------------------------------------------------------------
# Generated trees: files that are better not committed (binary, not UTF-8, 8 MiB, unreadable)
# --------------------------------------------------------------------------------------------


def _binary(r1: Path) -> None:
    (r1 / "facts.yaml").write_bytes(b"facts:\x00\x01\x02\n")


def _latin1(r1: Path) -> None:
    (r1 / "notes.yaml").write_bytes("# Règlement municipal\nfacts: {}\n".encode("latin-1"))


def _huge(r1: Path) -> None:
    (r1 / "notes.yaml").write_bytes(b"facts: {}\n" + b"# padding\n" * 900_000)


def _unreadable(r1: Path) -> None:
    (r1 / "gone.yaml").symlink_to(r1 / "nowhere" / "gone.yaml")  # a dangling link


GENERATED = [
    ("load-binary", "load/binary", _binary, "facts.yaml"),
    ("load-encoding", "load/encoding", _latin1, "notes.yaml"),
    ("load-too-large--bytes", "load/too-large", _huge, "notes.yaml"),
    ("load-unreadable", "load/unreadable", _unreadable, "gone.yaml"),
]


def _generated_tree(tmp_path: Path, make: Callable[[Path], None]) -> Path:
    root = tmp_path / "policy"
    shutil.copytree(FIXTURES / "ok", root)
    make(root / "town" / "r1")
    return root


@pytest.mark.parametrize(
    ("code", "make", "name"), [g[1:] for g in GENERATED], ids=[g[0] for g in GENERATED]
)
def test_generated_broken_file(
    tmp_path: Path, code: str, make: Callable[[Path], None], name: str
) -> None:
    root = _generated_tree(tmp_path, make)
    d = find(load(root), code)
    assert d.severity == "error"
    assert name in d.message or (d.span is not None and d.span.file.endswith(name))
    if d.span is not None:
        assert Path(d.span.file).name == name
        # A bad byte is pointed at (the `è` of "# Règlement"); the other problems are the
        # whole file's.
        assert (d.span.line, d.span.col) == ((1, 4) if code == "load/encoding" else (1, 1))


def test_unreadable_file_has_a_span(tmp_path: Path) -> None:
    root = _generated_tree(tmp_path, _unreadable)
    d = find(load(root), "load/unreadable")
    assert d.span is not None and Path(d.span.file).name == "gone.yaml"


# --------------------------------------------------------------------------------------------
# `ordinance check PATH`
# --------------------------------------------------------------------------------------------


def check(tree: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.tools.cli", "check", str(FIXTURES / tree), *args],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=REPO,
    )


def _caret_under(output: str, source: str, word: str) -> None:
    """The source line is shown, with a caret under ``word``."""
    lines = output.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.endswith(source))
    shown, caret = lines[at], lines[at + 1]
    assert "^" in caret, caret
    assert caret.index("^") == shown.index(word, shown.index("| ")), (shown, caret)


@pytest.mark.parametrize(
    ("tree", "code", "source", "word"),
    [
        (
            "dsl-syntax",
            "dsl/syntax",
            "then permit.issued_on + 180 days els permit.issued_on",
            "els",
        ),
        ("dsl-unknown-value", "dsl/unknown-value", 'when: permit.code == "IBX"', '"IBX"'),
        ("graph-cycle", "graph/cycle", "value: permit.expires_on + 30 days", "permit.expires_on"),
        ("schema-unknown-key", "schema/unknown-key", "rule:", "rule"),
    ],
)
def test_check_reports_errors_with_source_and_caret(
    tree: str, code: str, source: str, word: str
) -> None:
    run = check(tree)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert f"error[{code}]" in run.stderr
    _caret_under(run.stderr, source, word)
    assert "1 error(s)" in run.stdout


@pytest.mark.parametrize(
    ("tree", "code", "source", "word"),
    [
        ("graph-unused-fact", "graph/unused-fact", "permit.color:", "permit.color"),
        (
            "graph-unreachable-rule",
            "graph/unreachable-rule",
            "- id: permit.expires_on",
            "permit.expires_on",
        ),
    ],
)
def test_check_passes_with_warnings_only(tree: str, code: str, source: str, word: str) -> None:
    run = check(tree)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"warning[{code}]" in run.stderr
    _caret_under(run.stderr, source, word)
    assert "0 error(s), 1 warning(s)" in run.stdout


def test_check_json_gives_the_span() -> None:
    run = check("dsl-unknown-reference", "--format", "json")
    assert run.returncode == 1
    (diag,) = json.loads(run.stdout)
    assert diag["code"] == "dsl/unknown-reference"
    assert diag["span"]["line"] == 7 and diag["span"]["col"] == 16
    assert diag["help"] == "did you mean `permit.issued_on`?"


def test_check_short_is_one_line_per_problem() -> None:
    run = check("graph-cycle", "--format", "short")
    assert run.returncode == 1
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"{Path('tests/fixtures/broken_policies/graph-cycle', RULES)}:10:16: ")
    assert "error[graph/cycle]" in line


# --------------------------------------------------------------------------------------------
# What the engine gets wrong today
# --------------------------------------------------------------------------------------------


def test_bad_fact_id_points_at_the_key() -> None:
    d = find(load(FIXTURES / "schema-invalid-value--fact-name"), "schema/invalid-value")
    assert d.span is not None and (d.span.line, d.span.col) == (5, 3)
    assert "`PermitColor`" in d.message


def test_missing_key_points_at_the_item_that_lacks_it() -> None:
    d = find(load(FIXTURES / "schema-missing-key--second-rule"), "schema/missing-key")
    assert d.span is not None and (d.span.line, d.span.col) == (8, 9)


def test_unknown_holiday_points_at_the_name() -> None:
    d = find(load(FIXTURES / "policy-unknown-holiday"), "policy/unknown-holiday")
    assert d.span is not None and (d.span.line, d.span.col) == (9, 9)


def test_empty_policy_file_help_is_about_policy_files() -> None:
    d = find(load(FIXTURES / "load-empty"), "load/empty")
    assert "case file" not in (d.help or "")


@pytest.mark.parametrize(
    "tree",
    [
        "load-yaml-syntax",
        "load-yaml-tag",
        "load-duplicate-key",
        "load-bad-key",
        "load-bad-merge",
        "load-too-deep",
        "schema-type--not-a-mapping",
    ],
)
def test_a_file_that_fails_to_load_causes_no_follow_on_errors(tree: str) -> None:
    codes = {d.code for d in load(FIXTURES / tree).diagnostics}
    assert "dsl/unknown-reference" not in codes, codes


def test_type_mismatch_message_grammar() -> None:
    d = find(load(FIXTURES / "dsl-type-mismatch"), "dsl/type-mismatch")
    assert "a date and an int" in d.message


def test_unquoted_expression_says_quote_it() -> None:
    d = find(load(FIXTURES / "schema-type--unquoted-value"), "schema/type")
    assert "quote" in (d.help or "")


def test_unknown_holiday_country_is_a_diagnostic() -> None:
    policy = load(FIXTURES / "policy-holiday-library")
    errors = [d for d in policy.diagnostics if d.severity == "error"]
    assert errors and errors[0].span is not None and errors[0].span.line == 6


def test_duplicate_revision_id_is_an_error() -> None:
    policy = load(FIXTURES / "policy-duplicate-revision")
    errors = [d for d in policy.diagnostics if d.severity == "error"]
    assert errors and errors[0].span is not None and errors[0].span.line == 9


def test_unknown_vesting_fact_is_an_error() -> None:
    policy = load(FIXTURES / "policy-unknown-vesting-fact")
    errors = [d for d in policy.diagnostics if d.severity == "error"]
    assert errors and errors[0].span is not None and errors[0].span.line == 5


def test_empty_business_days_is_an_error() -> None:
    policy = load(FIXTURES / "schema-invalid--empty-business-days")
    errors = [d for d in policy.diagnostics if d.severity == "error"]
    assert errors and errors[0].span is not None and errors[0].span.line == 5


def _rules_with_value(tmp_path: Path, value: str, type_: str = "int") -> Path:
    root = tmp_path / "policy"
    shutil.copytree(FIXTURES / "ok", root)
    (root / RULES).write_text(
        "sections:\n  - citation: TC 1.01\n    title: Expiration\n    rules:\n"
        "      - id: permit.expires_on\n        type: date\n"
        "        value: permit.issued_on + 180 days\n"
        f"      - id: permit.number\n        type: {type_}\n        value: {value}\n"
    )
    return root


def test_huge_integer_literal_is_a_diagnostic(tmp_path: Path) -> None:
    policy = load(_rules_with_value(tmp_path, "9" * 5000))
    d = find(policy, "dsl/bad-literal")
    assert d.span is not None and d.span.line == 10


def test_very_long_expression_does_not_crash(tmp_path: Path) -> None:
    load(_rules_with_value(tmp_path, " + ".join(["1"] * 5000)))
