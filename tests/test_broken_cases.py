"""Broken case files never crash `ordinance eval` (DESIGN.md §6).

Every broken case, run through the CLI, must exit 1 and print to stderr a located diagnostic with
a stable code (`file:line:col`, the source line and a caret), fit on one screen, never print a
Python traceback and never hang. The same cases given to the Python API as dicts raise
``CaseError`` and nothing else.

Files that cannot sensibly be committed (binary, not UTF-8, huge, alias bombs) are generated in
``tmp_path``; the others live in ``tests/fixtures/broken_cases/``.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from engine import load_policy
from engine.api import Policy
from engine.diagnostics import CaseError

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "broken_cases"
SCREEN = 40  # lines of stderr that fit on one screen
TIMEOUT = 20  # seconds; a case file must never hang the CLI


@dataclass(repr=False)
class Shown:
    """One diagnostic as `ordinance eval` prints it for people."""

    severity: str
    code: str
    message: str
    file: str | None
    line: int | None
    col: int | None
    text: str

    def __repr__(self) -> str:
        return f"<{self.code} at {self.file}:{self.line}:{self.col}>"


@dataclass(repr=False)
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def __repr__(self) -> str:  # short: pytest shows it in failure reports
        return f"<exit {self.returncode}, {len(self.stderr.splitlines())} lines of stderr>"

    @property
    def shown(self) -> list[Shown]:
        """The diagnostics in stderr, parsed back from the full rendering."""
        out = []
        for block in re.split(r"\n\s*\n", self.stderr.strip()):
            head = re.match(r"(error|warning)\[([a-z]+/[a-z-]+)\]: (.*)", block)
            if not head:
                continue
            where = re.search(r"^\s*--> (.+):(\d+):(\d+)$", block, re.MULTILINE)
            out.append(
                Shown(
                    head.group(1),
                    head.group(2),
                    head.group(3),
                    where.group(1) if where else None,
                    int(where.group(2)) if where else None,
                    int(where.group(3)) if where else None,
                    block,
                )
            )
        return out

    def only(self, code: str) -> Shown:
        found = [d for d in self.shown if d.code == code]
        assert found, f"no {code} diagnostic in:\n{self.stderr}"
        return found[0]


def run_eval(path: Path, *args: str) -> Run:
    """`ordinance eval PATH` in a fresh interpreter, from the repository root."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "engine.tools.cli", "eval", str(path), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=REPO,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


@cache
def eval_fixture(name: str) -> Run:
    """`ordinance eval` of one committed fixture, run once per test session."""
    return run_eval(FIXTURES / name)


@pytest.fixture(scope="module", autouse=True)
def _run_fixtures_in_parallel() -> None:
    """Each run is a fresh interpreter (~0.5 s); start them side by side."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(eval_fixture, sorted(p.name for p in FIXTURES.iterdir())))


def assert_friendly_failure(run: Run, path: Path) -> None:
    """Exit 1, no traceback, on one screen, and every diagnostic names the file."""
    assert run.returncode == 1, f"exit {run.returncode}\n{run.stderr}"
    assert "Traceback" not in run.stderr + run.stdout
    assert "internal error" not in run.stderr
    assert len(run.stderr.splitlines()) < SCREEN, f"{len(run.stderr.splitlines())} lines"
    assert run.shown, f"no diagnostic in stderr:\n{run.stderr}"
    for d in run.shown:
        assert d.file is not None and d.file.endswith(path.name), d.text


# --------------------------------------------------------------------------------------------
# Fixture files: (file, code, line of the problem, substrings the output must contain). A line
# of None: the position is checked by a test of its own below.
# --------------------------------------------------------------------------------------------

CASES: list[tuple[str, str, int | None, tuple[str, ...]]] = [
    ("yaml_syntax.yaml", "load/yaml-syntax", 8, ("a value containing `: ` must be quoted",)),
    ("unclosed_bracket.yaml", "load/yaml-syntax", 7, ("expected ',' or ']'",)),
    ("tab_indent.yaml", "load/yaml-syntax", 6, ("'\\t'",)),
    ("impossible_date.yaml", "case/bad-value", 7, ("permit.issued_on", "2024-02-30")),
    ("string_for_bool.yaml", "case/bad-value", 8, ("building.single_family", "true or false")),
    ("number_for_enum.yaml", "case/bad-value", 6, ("permit.code", "IBC, IRC")),
    ("list_for_date.yaml", "case/bad-value", 7, ("permit.issued_on", "must be a date")),
    (
        "unknown_fact.yaml",
        "case/unknown-fact",
        7,
        ("permit.isued_on", "did you mean `permit.issued_on`?"),
    ),
    ("unknown_jurisdiction.yaml", "case/unknown-jurisdiction", None, ("did you mean `kent`?",)),
    ("missing_jurisdiction.yaml", "schema/missing-key", 1, ("missing key `jurisdiction`",)),
    ("missing_facts.yaml", "schema/missing-key", 1, ("missing key `facts`",)),
    ("top_level_list.yaml", "case/not-a-mapping", 1, ("must be a mapping",)),
    ("empty.yaml", "load/empty", 1, ("empty",)),
    ("whitespace_only.yaml", "load/empty", 1, ("empty",)),
    ("python_object_apply.yaml", "load/yaml-tag", 5, ("python/object/apply:os.system",)),
    ("python_name.yaml", "load/yaml-tag", 6, ("python/name:os.system",)),
    ("custom_tag.yaml", "load/yaml-tag", 4, ("`!foo`",)),
    ("null_not_nullable.yaml", "case/null-not-allowed", 6, ("`permit.code` cannot be null",)),
    (
        "before_first_revision_as_of.yaml",
        "case/no-revision",
        3,
        ("2023-06-01", "Ord. No. 4387", "2024-03-15", "`as_of`"),
    ),
    (
        "before_first_revision_vesting.yaml",
        "case/no-revision",
        8,
        ("2020-01-01", "Ord. No. 4202", "2024-03-15", "application.complete_on"),
    ),
    ("duplicate_key.yaml", "load/duplicate-key", 8, ("`code` appears twice", ":6:5: first here")),
    ("json_syntax.json", "load/yaml-syntax", 7, ("expected ',' or '}'",)),
    ("control_character.yaml", "load/yaml-syntax", 4, ("U+001B", "`\\e`")),
    ("cr_line_breaks.yaml", "case/bad-value", 6, ("permit.code", "IBX")),
    ("datetime_garbage.yaml", "case/bad-value", 8, ("appeal.filed_at", "yesterday afternoon")),
    ("as_of_not_a_date.yaml", "case/bad-value", 3, ("`as_of` must be a date", "not-a-date")),
    ("unknown_top_level_key.yaml", "schema/unknown-key", 4, ("did you mean `facts`?",)),
    ("unknown_revision.yaml", "case/unknown-revision", None, ("ord-9999", "ord-4463")),
    (
        "extension_past_the_calendar.yaml",
        "case/out-of-range",
        6,
        ("`application.expires_on`", "`application.extensions`"),
    ),
]


@pytest.mark.parametrize(
    ("name", "code", "line", "needles"), CASES, ids=[c[0].split(".")[0] for c in CASES]
)
def test_broken_case_file(name: str, code: str, line: int | None, needles: tuple[str, ...]) -> None:
    path = FIXTURES / name
    run = eval_fixture(name)
    assert_friendly_failure(run, path)
    d = run.only(code)
    assert d.severity == "error"
    if line is not None:
        assert d.line == line, d.text
        if path.read_bytes().strip():
            # The source line and a caret under the problem are shown.
            assert f"{line} | " in d.text and "^" in d.text, d.text
    for needle in needles:
        assert needle in run.stderr
    assert run.stdout == ""


def test_python_tag_is_never_executed() -> None:
    run = eval_fixture("python_object_apply.yaml")
    assert run.returncode == 1
    assert "hi" not in run.stdout.split()


# --- positions the engine does not give yet ---------------------------------------------------


def test_unknown_jurisdiction_points_at_its_line() -> None:
    run = eval_fixture("unknown_jurisdiction.yaml")
    d = run.only("case/unknown-jurisdiction")
    assert (d.line, d.col) == (2, 15)


def test_unknown_revision_points_at_its_line() -> None:
    run = eval_fixture("unknown_revision.yaml")
    d = run.only("case/unknown-revision")
    assert (d.line, d.col) == (3, 11)


def test_tab_indentation_says_use_spaces() -> None:
    run = eval_fixture("tab_indent.yaml")
    assert "indent with spaces, not tabs" in run.only("load/yaml-syntax").text


def test_unclosed_bracket_points_at_where_it_opens() -> None:
    run = eval_fixture("unclosed_bracket.yaml")
    assert "unclosed_bracket.yaml:6:11" in run.only("load/yaml-syntax").text


@pytest.mark.parametrize(
    "name", ["before_first_revision_as_of.yaml", "before_first_revision_vesting.yaml"]
)
def test_too_early_names_first_encoded_revision(name: str) -> None:
    run = eval_fixture(name)
    assert "Ord. No. 4463" in run.only("case/no-revision").text


def test_valid_json_with_tab_indentation_loads() -> None:
    """Not broken: JSON allows tabs where YAML block indentation does not."""
    run = eval_fixture("valid_json_with_tabs.json")
    assert run.returncode == 0, run.stderr
    assert "permit.expires_on" in run.stdout


def test_far_future_date_is_not_an_internal_error() -> None:
    run = eval_fixture("far_future_date.yaml")
    assert run.returncode in (0, 1), run.stderr
    assert "internal error" not in run.stderr


# --------------------------------------------------------------------------------------------
# Generated files (binary, not UTF-8, huge, hostile): written to a temporary folder
# --------------------------------------------------------------------------------------------


def _log_lines(count: int) -> str:
    start = dt.datetime(2024, 1, 1)
    return "".join(
        f"{start + dt.timedelta(seconds=i)} INFO: request {i} served in {i % 97} ms\n"
        for i in range(count)
    )


def _alias_bomb() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):  # 9 levels of 9 aliases each: 9**10 values when expanded
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "jurisdiction: kent\nfacts:\n  permit:\n    code: IBC\n" + "\n".join(lines) + "\n"


GENERATED: dict[str, Callable[[], bytes]] = {
    "binary.yaml": lambda: b"jurisdiction: kent\x00\x01\x02\xff\xfe\nfacts: {}\n",
    "latin1.yaml": lambda: "jurisdiction: kent\nfacts:\n  permit:\n    code: IBC\n# café\n".encode(
        "latin-1"
    ),
    "deep-open.yaml": lambda: b"jurisdiction: kent\nfacts: " + b"[" * 5000 + b"\n",
    "deep-balanced.yaml": lambda: b"jurisdiction: kent\nfacts: " + b"[" * 5000 + b"]" * 5000,
    "deep-maps.yaml": lambda: b"jurisdiction: kent\nfacts: " + b"{a: " * 5000 + b"1" + b"}" * 5000,
    "deep-100.yaml": lambda: b"jurisdiction: kent\nfacts:\n  permit: " + b"[" * 100 + b"]" * 100,
    "junk.yaml": lambda: "".join(
        f"junk {i} ]]] ::: {{ `` @ & * ! ? : -- {i * 7919 % 10007}\n" for i in range(50_000)
    ).encode(),
    "server.log.yaml": lambda: _log_lines(3_000).encode(),
    "huge.yaml": lambda: b"jurisdiction: kent\nfacts: {}\n" + b"# padding\n" * 900_000,
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Run]]:
    """Every generated file and its `ordinance eval` run, started side by side."""
    folder = tmp_path_factory.mktemp("broken_cases")
    paths = []
    for name, make in GENERATED.items():
        path = folder / name
        path.write_bytes(make())
        paths.append(path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(run_eval, paths))
    return {p.name: (p, r) for p, r in zip(paths, runs, strict=True)}


def test_binary_file(generated: dict[str, tuple[Path, Run]]) -> None:
    path, run = generated["binary.yaml"]
    assert_friendly_failure(run, path)
    assert run.only("load/binary").line == 1


def test_non_utf8_file(generated: dict[str, tuple[Path, Run]]) -> None:
    path, run = generated["latin1.yaml"]
    assert_friendly_failure(run, path)
    d = run.only("load/encoding")
    assert "UTF-8" in d.message
    assert "save the file as UTF-8" in d.text


def test_non_utf8_file_points_at_the_bad_byte(generated: dict[str, tuple[Path, Run]]) -> None:
    _, run = generated["latin1.yaml"]
    assert run.only("load/encoding").line == 5


def test_alias_bomb_finishes_quickly(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb())
    run = run_eval(path)  # alone, so that the time is its own
    assert run.seconds < 5, f"took {run.seconds:.1f} s"
    assert_friendly_failure(run, path)
    d = run.only("load/too-large")
    assert d.line is not None and 5 <= d.line <= 14  # inside the anchors and aliases
    assert "aliases" in d.text


@pytest.mark.parametrize("name", ["deep-open.yaml", "deep-balanced.yaml", "deep-maps.yaml"])
def test_very_deep_nesting(generated: dict[str, tuple[Path, Run]], name: str) -> None:
    path, run = generated[name]
    assert_friendly_failure(run, path)
    assert "at most 64 levels" in run.only("load/too-deep").text


@pytest.mark.parametrize(
    ("name", "line"), [("deep-100.yaml", 3), ("deep-balanced.yaml", 2), ("deep-maps.yaml", 2)]
)
def test_deep_nesting_points_at_its_line(
    generated: dict[str, tuple[Path, Run]], name: str, line: int
) -> None:
    path, run = generated[name]
    assert_friendly_failure(run, path)
    assert run.only("load/too-deep").line == line


def test_unclosed_deep_nesting_points_at_its_line(generated: dict[str, tuple[Path, Run]]) -> None:
    _, run = generated["deep-open.yaml"]
    assert run.only("load/too-deep").line == 2


def test_two_megabytes_of_junk(generated: dict[str, tuple[Path, Run]]) -> None:
    path, run = generated["junk.yaml"]
    assert path.stat().st_size > 2_000_000
    assert_friendly_failure(run, path)
    assert run.only("load/yaml-syntax").line is not None


def test_log_file_fits_on_one_screen(
    generated: dict[str, tuple[Path, Run]],
) -> None:
    path, run = generated["server.log.yaml"]
    assert_friendly_failure(run, path)


def test_file_over_the_size_limit(generated: dict[str, tuple[Path, Run]]) -> None:
    path, run = generated["huge.yaml"]
    assert_friendly_failure(run, path)
    assert "larger than 8 MiB" in run.only("load/too-large").message


def test_missing_file() -> None:
    path = FIXTURES / "does_not_exist.yaml"
    run = run_eval(path)
    assert_friendly_failure(run, path)
    assert "No such file" in run.only("load/unreadable").message


# --------------------------------------------------------------------------------------------
# The Python API: Policy.evaluate(dict) raises CaseError and nothing else
# --------------------------------------------------------------------------------------------

GOOD = {"permit": {"code": "IBC", "issued_on": "2024-04-15"}}


def kent(facts: Any = GOOD, **top: Any) -> dict[str, Any]:
    return {"jurisdiction": "kent", "as_of": "2025-01-10", "facts": facts, **top}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


API_CASES: list[tuple[str, Any, str, str | None]] = [
    ("list", [1, 2], "case/not-a-mapping", None),
    ("none", None, "case/not-a-mapping", None),
    ("string", "kent", "case/not-a-mapping", None),
    ("no-jurisdiction", {"facts": GOOD}, "schema/missing-key", "jurisdiction"),
    ("unknown-jurisdiction", kent(jurisdiction="knet"), "case/unknown-jurisdiction", "`kent`"),
    ("facts-list", kent([1]), "schema/type", None),
    ("facts-null", kent(None), "schema/type", None),
    ("as-of-garbage", kent(as_of="not-a-date"), "case/bad-value", "as_of"),
    ("as-of-int", kent(as_of=20250110), "case/bad-value", "as_of"),
    ("as-of-datetime", kent(as_of=dt.datetime(2025, 1, 10, 12)), "case/bad-value", "as_of"),
    ("as-of-too-early", kent(as_of="2023-06-01"), "case/no-revision", "2024-03-15"),
    ("as-of-too-early-date", kent(as_of=dt.date(2023, 6, 1)), "case/no-revision", "2024-03-15"),
    (
        "vesting-too-early",
        kent({**GOOD, "application": {"complete_on": "2020-01-01"}}),
        "case/no-revision",
        "2024-03-15",
    ),
    (
        "vesting-garbage",
        kent({**GOOD, "application": {"complete_on": "garbage"}}),
        "case/bad-value",
        None,
    ),
    (
        "unknown-fact",
        kent({"permit": {"isued_on": "2024-01-01"}}),
        "case/unknown-fact",
        "did you mean `permit.issued_on`?",
    ),
    ("impossible-date", kent({"permit": {"issued_on": "2024-02-30"}}), "case/bad-value", None),
    ("string-for-bool", kent({"building": {"single_family": "yes"}}), "case/bad-value", None),
    ("number-for-enum", kent({"permit": {"code": 5}}), "case/bad-value", None),
    ("set-for-enum", kent({"permit": {"code": {"IBC"}}}), "case/bad-value", None),
    ("list-for-date", kent({"permit": {"issued_on": [2024, 4, 15]}}), "case/bad-value", None),
    ("object-for-date", kent({"permit": {"issued_on": object()}}), "case/bad-value", None),
    ("null-enum", kent({"permit": {"code": None}}), "case/null-not-allowed", None),
    ("datetime-garbage", kent({"appeal": {"filed_at": "garbage"}}), "case/bad-value", None),
    ("bool-for-int", kent({"permit": {"extensions_granted": True}}), "case/bad-value", None),
    ("float-for-int", kent({"permit": {"extensions_granted": 1.5}}), "case/bad-value", None),
    ("list-item", kent({"application": {"extensions": ["x"]}}), "case/bad-value", None),
    ("scalar-for-group", kent({"permit": "IBC"}), "case/bad-value", None),
    ("unknown-revision", kent(revision="ord-9999"), "case/unknown-revision", "ord-4463"),
    # An extension of a billion days takes the application's expiry past year 9999.
    (
        "date-past-the-calendar",
        kent({"application": {"approved_for_issuance_on": "2024-05-01", "extensions": [10**9]}}),
        "case/out-of-range",
        "`application.expires_on`",
    ),
]


@pytest.mark.parametrize(
    ("case", "code", "needle"), [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES]
)
def test_api_raises_case_error(policy: Policy, case: Any, code: str, needle: str | None) -> None:
    with pytest.raises(CaseError) as info:
        policy.evaluate(case)
    codes = [d.code for d in info.value.diagnostics]
    assert code in codes, codes
    if needle is not None:
        assert needle in str(info.value) + " ".join(d.help or "" for d in info.value.diagnostics)


def _param(name: str, case: Any, code: str) -> Any:
    return pytest.param(case, code, id=name)


@pytest.mark.parametrize(
    ("case", "code"),
    [
        _param(
            "no-facts",
            {"jurisdiction": "kent", "as_of": "2025-01-10"},
            "schema/missing-key",
        ),
        _param(
            "unknown-top-level-key",
            {"jurisdiction": "kent", "as_of": "2025-01-10", "fact": GOOD},
            "schema/unknown-key",
        ),
        _param(
            "jurisdiction-int",
            kent(jurisdiction=5),
            "schema/type",
        ),
        _param(
            "vesting-datetime",
            kent({**GOOD, "application": {"complete_on": dt.datetime(2024, 5, 1, 10)}}),
            "case/bad-value",
        ),
        _param(
            "non-string-key",
            kent({1: 2}),
            "case/unknown-fact",
        ),
        _param(
            "far-future-date",
            kent({"permit": {"code": "IBC", "issued_on": "9999-12-31"}}),
            "case/bad-value",
        ),
    ],
)
def test_api_raises_only_case_error(policy: Policy, case: Any, code: str) -> None:
    # pytrace=False: a traceback through the engine would repr the whole Policy (slow).
    try:
        policy.evaluate(case)
    except CaseError as exc:
        codes = [d.code for d in exc.diagnostics]
        if code not in codes:
            pytest.fail(f"expected {code}, got {codes}", pytrace=False)
    except Exception as exc:
        pytest.fail(f"{type(exc).__name__}: {exc}", pytrace=False)
    else:
        if code:
            pytest.fail(f"no CaseError, expected {code}", pytrace=False)


def test_a_fact_written_with_its_dotted_id_is_the_nested_fact(tmp_path: Path) -> None:
    """`permit.code: IRC` reads as `permit: {code: IRC}` (it was "unknown fact `permit.code`,
    did you mean `permit.code`?"), in a file and in a mapping, one by one and in bulk."""
    from engine.api import load_policy

    policy = load_policy()
    flat = {"jurisdiction": "kent", "as_of": "2025-01-10",
            "facts": {"permit.code": "IBC", "permit.issued_on": "2024-04-15",
                      "work": {"commenced_on": None}}}  # fmt: skip
    nested = {"jurisdiction": "kent", "as_of": "2025-01-10",
              "facts": {"permit": {"code": "IBC", "issued_on": "2024-04-15"},
                        "work": {"commenced_on": None}}}  # fmt: skip
    assert policy.evaluate(flat).to_dict() == policy.evaluate(nested).to_dict()
    decided = ["permit.expires_on", "permit.expiration_reason", "permit.expired"]
    bulk = policy.values_many([flat] * 40, decided)
    assert bulk == policy.values_many([nested] * 40, decided)
    assert bulk[0]["permit.expires_on"] == dt.date(2025, 4, 15)
    case = tmp_path / "flat.yaml"
    case.write_text("jurisdiction: kent\nas_of: 2025-01-10\nfacts:\n  permit.code: IRC\n", "utf-8")
    from engine.compile.load import read_case

    assert policy.values(read_case(case), ["co.required"]) == {"co.required": False}


def test_a_fact_given_both_ways_is_refused_where_it_repeats(tmp_path: Path) -> None:
    from engine.api import load_policy
    from engine.compile.load import read_case
    from engine.diagnostics import CaseError

    case = tmp_path / "twice.yaml"
    case.write_text("jurisdiction: kent\nas_of: 2025-01-10\nfacts:\n  permit: {code: IBC}\n"
                    "  permit.code: IRC\n", "utf-8")  # fmt: skip
    with pytest.raises(CaseError) as info:
        load_policy().evaluate(read_case(case))
    [d] = info.value.diagnostics
    assert d.code == "case/duplicate-fact" and "`permit.code`" in d.message
    assert d.span is not None and d.span.line == 5
