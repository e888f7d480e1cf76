"""Issue 9: each finding of the security and fuzz review, as a test that failed before its fix.

Case files are untrusted: whatever a case says, the answer is a result or located diagnostics
with exit 1, never an internal error. A case file and the same mapping given to the API are
accepted or refused alike. The docs build, the loader and the expression language have their
own files (``test_security_docs.py``, ``test_security_load.py``, ``test_security_dsl.py``).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from engine import load_policy
from engine.api import Policy
from engine.compile.load import read_case
from engine.compile.schema import schema
from engine.diagnostics import CaseError
from engine.run.facts import case_from_dict
from engine.tools.revisions import CaseImpact, Change, DecisionChange, render_diff

REPO = Path(__file__).resolve().parents[1]
HOUSTON_04 = REPO / "tests/golden/houston/cal-2024/04-apartments-45-units-four-stories.yaml"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def _kent(**top: Any) -> dict[str, Any]:
    return {"jurisdiction": "kent", "as_of": "2025-01-10", "facts": {"permit": {"code": "IBC"}},
            **top}  # fmt: skip


def _houston_04(**facts: Any) -> dict[str, Any]:
    case = yaml.safe_load(HOUSTON_04.read_text("utf-8"))
    case.pop("expect")
    case["as_of"] = str(case["as_of"])
    case["facts"]["building"].update(facts)
    return dict(case)


def _codes(exc: pytest.ExceptionInfo[CaseError]) -> list[str]:
    return [d.code for d in exc.value.diagnostics]


def _eval_cli(tmp_path: Path, text: str, *args: str, name: str = "case.yaml") -> Any:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return subprocess.run(
        [sys.executable, "-m", "engine.tools.cli", *args, str(path)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip


# --- 8. A file and the same mapping get the same answer -------------------------------------

REFUSED_KEYS = [
    pytest.param({"case": [1]}, "schema/type", id="case-list"),
    pytest.param({"case": True}, "schema/type", id="case-bool"),
    pytest.param({"expect": "x"}, "schema/type", id="expect-text"),
    pytest.param({"as_of": None}, "case/bad-value", id="as-of-null"),
    pytest.param({"description": 1}, "schema/type", id="description-number"),
    pytest.param({"revision": ["ord-4463"]}, "schema/type", id="revision-list"),
    pytest.param({"revision": {"a": 1}}, "schema/type", id="revision-dict"),
]


@pytest.mark.parametrize(("top", "code"), REFUSED_KEYS)
def test_a_file_and_a_mapping_are_refused_alike(
    policy: Policy, tmp_path: Path, top: dict[str, Any], code: str
) -> None:
    case = _kent(**top)
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(case, default_flow_style=None), "utf-8")
    with pytest.raises(CaseError) as from_file:
        policy.evaluate(read_case(path))
    for call in (policy.evaluate, policy.values, lambda c: policy.values_many([c, c])):
        with pytest.raises(CaseError) as from_dict:
            call(copy.deepcopy(case))
        assert _codes(from_dict) == _codes(from_file) == [code]
    key = next(iter(top))
    assert from_file.value.diagnostics[0].span is not None
    assert from_file.value.diagnostics[0].span.line == _line_of(path, key)


def _line_of(path: Path, key: str) -> int:
    lines = path.read_text("utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(f"{key}:"))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
    | st.sampled_from(["2025-01-10", "2025-02-30", "1800-01-01"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=2),
    max_leaves=4,
)  # fmt: skip
_KEYS = ["case", "jurisdiction", "as_of", "revision", "description", "facts", "expect", "cas"]


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(st.dictionaries(st.sampled_from(_KEYS), _json, max_size=3),
       st.lists(st.sampled_from(["jurisdiction", "facts"]), max_size=1))  # fmt: skip
def test_the_hand_checks_are_the_case_schema(changed: dict[str, Any], dropped: list[str]) -> None:
    """``case_from_dict`` accepts exactly what ``case.schema.json`` accepts, plus the rule the
    schema cannot say: ``as_of`` is a real date between 1900 and 2199. Each example changes a
    valid case in a few keys, so that most are near the boundary."""
    data = {"jurisdiction": "kent", "facts": {}, **changed}
    for key in dropped:
        data.pop(key, None)
    valid = Draft202012Validator(schema("case")).is_valid(data)
    if isinstance(data.get("case"), float):
        valid = False  # JSON Schema counts 1.0 as an integer; an id is never written so
    day = data.get("as_of")
    if valid and isinstance(day, str):
        valid = day in ("2025-01-10",) or _is_date_in_range(day)
    try:
        case_from_dict(data)
    except CaseError:
        accepted = False
    else:
        accepted = True
    assert accepted == valid


def _is_date_in_range(text: str) -> bool:
    try:
        return dt.date(1900, 1, 1) <= dt.date.fromisoformat(text) <= dt.date(2199, 12, 31)
    except ValueError:
        return False


# --- 7. The API: arguments of the wrong type are CaseErrors ---------------------------------


@pytest.mark.parametrize("revision", [["ord-4463"], {"a": 1}, 4463])
def test_a_revision_argument_of_the_wrong_type(policy: Policy, revision: Any) -> None:
    with pytest.raises(CaseError) as info:
        policy.evaluate(_kent(), revision=revision)
    assert _codes(info) == ["case/bad-argument"]


@pytest.mark.parametrize("as_of", ["2025-01-10", dt.datetime(2025, 1, 10), 20250110, ""])
def test_an_as_of_argument_of_the_wrong_type(policy: Policy, as_of: Any) -> None:
    for call in (lambda: policy.values(_kent(), as_of=as_of),
                 lambda: policy.values_many([_kent()], as_of=as_of)):  # fmt: skip
        with pytest.raises(CaseError) as info:
            call()
        assert _codes(info) == ["case/bad-argument"]


# --- 7. Case values: huge numbers ------------------------------------------------------------


def test_a_decimal_past_the_limit_is_refused_where_it_is_written(tmp_path: Path) -> None:
    """``1e999999999`` overflowed when the result was written (``decimal.Overflow``)."""
    text = ("case: X\njurisdiction: generic\nas_of: 2025-01-10\nfacts:\n  final:\n"
            "    guard_height_in: 1e999999999\n")  # fmt: skip
    run = _eval_cli(tmp_path, text, "eval")
    assert run.returncode == 1, run.stderr
    assert "case.yaml:6:22: error[case/bad-value]" in run.stderr.replace("\n", " ") or (
        "--> case.yaml:6:22" in run.stderr and "case/bad-value" in run.stderr
    ), run.stderr
    assert "internal error" not in run.stderr


@pytest.mark.parametrize("units", [10**26, -(10**15)])
def test_a_count_past_the_limit_in_a_fee_quantity(policy: Policy, units: int) -> None:
    with pytest.raises(CaseError) as info:
        policy.evaluate(_houston_04(units=units))
    assert _codes(info) == ["case/bad-value"]
    assert "15 digits" in (info.value.diagnostics[0].help or "")


def test_the_largest_numbers_a_case_may_give_still_compute(policy: Policy) -> None:
    """Within the limit a fee is computed to the cent, however large, in every path."""
    case = _houston_04(units=10**15 - 1, stories=10**15 - 1)
    fee = policy.evaluate(case).to_dict()["decisions"]["co.fee"]["value"]
    # 501.29 + (units - 30) x 12.53 + (stories - 1) x 125.32, each line rounded to the cent
    want = 50129 + (10**15 - 1 - 30) * 1253 + (10**15 - 2) * 12532
    assert fee == f"{want // 100}.{want % 100:02d}"
    assert policy.values_many([case, case], ["co.fee"])[0] == policy.values(case, ["co.fee"])


# --- 7. `ordinance test`: an expect block of the wrong shape --------------------------------

BAD_EXPECT = [
    pytest.param("permit.expires_on: {needs: 5}", "`needs` must be a list of text", 9,
                 id="needs-number"),
    pytest.param("permit.expires_on: [{a: 1}]", "must be text, a number", 8,
                 id="list-of-mappings"),
    pytest.param("permit.expires_on: {status: done}", "`status` must be one of", 9,
                 id="unknown-status"),
    pytest.param("permit.expires_on: {valeu: 3}", "did you mean `value`", 9, id="typo"),
    pytest.param("permit.expires_on: {}", "is empty", 8, id="empty-mapping"),
]  # fmt: skip


@pytest.mark.parametrize(("entry", "needle", "line"), BAD_EXPECT)
def test_an_expect_block_of_the_wrong_shape(
    tmp_path: Path, entry: str, needle: str, line: int
) -> None:
    key, value = entry.split(": ", 1)
    text = (f"case: X\njurisdiction: kent\nas_of: 2025-01-10\nfacts:\n  permit:\n    code: IBC\n"
            f"expect:\n  {key}:\n    {value[1:-1]}\n") if value.startswith("{") and value != "{}" \
        else (f"case: X\njurisdiction: kent\nas_of: 2025-01-10\nfacts:\n  permit:\n"
              f"    code: IBC\nexpect:\n  {entry}\n")  # fmt: skip
    run = _eval_cli(tmp_path, text, "test")
    assert run.returncode == 1
    assert "internal error" not in run.stdout + run.stderr
    assert "case/bad-expectation" in run.stdout and needle in run.stdout, run.stdout
    assert f"case.yaml:{line}:" in run.stdout, run.stdout


# --- 10. Silently accepted mistakes in a policy ----------------------------------------------


def _mutated_policy(tmp_path: Path, rel: str, old: str, new: str) -> Policy:
    root = tmp_path / "policy"
    shutil.copytree(REPO / "policy", root)
    path = root / rel
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")
    return load_policy(root, strict=False)


def test_an_amendment_of_a_mistyped_section(tmp_path: Path) -> None:
    """``IBC 105.55`` created a new section and left IBC 105.5 unamended, silently."""
    policy = _mutated_policy(tmp_path, "kent/ord-4463/14.01.030.yaml",
                             "section: IBC 105.5\n", "section: IBC 105.55\n")  # fmt: skip
    (found,) = [d for d in policy.diagnostics if d.code == "policy/amend-target-missing"]
    assert found.span is not None and found.span.file.endswith("14.01.030.yaml")
    assert found.span.line == 48
    assert found.help == "did you mean `IBC 105.5`?"


def test_a_fee_item_listed_twice(tmp_path: Path) -> None:
    """The repeated item was charged twice, and `co.fee_lines` named it twice."""
    policy = _mutated_policy(tmp_path, "houston/cal-2024/certificate-of-occupancy.yaml",
                             "- id: duplicate\n", "- id: additional_floors\n")  # fmt: skip
    (found,) = [d for d in policy.diagnostics if d.code == "policy/duplicate-fee-item"]
    text = (REPO / "policy" / "houston/cal-2024/certificate-of-occupancy.yaml").read_text("utf-8")
    line = text[: text.index("- id: duplicate\n")].count("\n") + 1  # the repeated item's line
    assert found.span is not None and found.span.line == line


def test_a_rule_defined_twice_in_one_section(tmp_path: Path) -> None:
    """The second definition, under the same `when:` as the first, could never decide."""
    rel = "kent/ord-4463/14.01.040.yaml"
    text = (REPO / "policy" / rel).read_text("utf-8")
    when = 'when: project.kind in ["alteration", "change_of_occupancy", "relocation"]'
    assert when in text
    policy = _mutated_policy(tmp_path, rel, when, "when: |\n          " + _first_when(text))
    (found,) = [d for d in policy.diagnostics if d.code == "policy/duplicate-rule"]
    # At the mutated definition's id, which comes before the `when:` that changed length.
    second = text[: text.index(when)].rindex("- id: co.required")
    assert found.span is not None and found.span.line == text[:second].count("\n") + 1


def _first_when(text: str) -> str:
    """The first `co.required` definition's `when:` block of KCC 14.01.040.E, re-indented."""
    block = text.split("- id: co.required", 1)[1].split("when: |\n", 1)[1].split("value:", 1)[0]
    return "\n          ".join(line.strip() for line in block.strip().splitlines())


# --- 7. Case values: what a message says about a value is bounded ---------------------------


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    "facts",
    [
        {"application": {"extensions": _deep(100_000)}},
        {"application": {"filed_on": _deep(100_000)}},
        {"permit": {"code": _deep(100_000)}},
    ],
    ids=["list-of-int", "date", "enum"],
)
def test_a_deeply_nested_value_is_a_case_error(policy: Policy, facts: dict[str, Any]) -> None:
    """The message quoted the value with ``repr``, which overflowed the stack."""
    with pytest.raises(CaseError) as info:
        policy.evaluate(_kent() | {"facts": facts})
    assert _codes(info) == ["case/bad-value"]
    assert len(info.value.diagnostics[0].message) < 200


def test_a_deeply_nested_case_id_in_a_batch(policy: Policy) -> None:
    with pytest.raises(CaseError) as info:
        policy.values_many([_kent(case=_deep(100_000))])
    assert _codes(info) == ["schema/type"]
    assert info.value.diagnostics[0].message.startswith("case 1 of the batch: `case` must be")


# --- 4. Everything the command line prints shows control characters, never obeys them -------

ESC, RLO = "\x1b", "\u202e"


def test_test_and_json_output_show_control_characters(tmp_path: Path) -> None:
    """``ordinance test`` printed an expected value with its ESC; ``eval --format json`` printed
    U+202E raw (valid JSON, but it reorders the terminal)."""
    case = _kent(case=f"A{RLO}B") | {"expect": {"permit.expires_on": f"{ESC}[2J"}}
    for args in (("test",), ("eval", "--format", "json"), ("eval",)):
        run = _eval_cli(tmp_path, json.dumps(case), *args, name="case.json")
        out = run.stdout + run.stderr
        assert ESC not in out and RLO not in out, args
        assert "internal error" not in out
    run = _eval_cli(tmp_path, json.dumps(case), "eval", "--format", "json", name="case.json")
    assert json.loads(run.stdout)["case"] == f"A{RLO}B"  # the same JSON, escaped


def test_policy_text_in_catalogues_is_shown_escaped(tmp_path: Path) -> None:
    policy = tmp_path / "policy"
    shutil.copytree(REPO / "policy", policy)
    facts = policy / "houston/cal-2024/facts.yaml"
    text = facts.read_text("utf-8")
    plain = "description: The number of stories (floors) of the building."
    assert plain in text
    facts.write_text(text.replace(plain, 'description: "\\e[31mRED\\u202e"'), "utf-8")
    run = subprocess.run([sys.executable, "-m", "engine.tools.cli", "facts", "--policy",
                          str(policy), "--jurisdiction", "houston"], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "\\x1b[31mRED\\u202e" in run.stdout and ESC not in run.stdout


def test_a_revision_diff_in_markdown_quotes_what_it_shows() -> None:
    """``ordinance diff --format markdown`` (and the site's "what changed" pages) pasted case
    ids, citations and values into Markdown as they were."""
    revision = SimpleNamespace(jurisdiction="kent", revision="a")
    change = Change("section", "IBC `105`", "changed", "<img src=x onerror=alert(1)>",
                    "<script>x</script>", "b")  # fmt: skip
    impact = CaseImpact("<script>alert(1)</script>", "# heading", [DecisionChange(
        "permit.expires_on", {"status": "determined", "value": "<b>x</b>"},
        {"status": "undetermined"})])  # fmt: skip
    out = render_diff(revision, revision, [change], [impact], 1, "markdown")
    assert "<script>alert" not in out and "<img" not in out and "<b>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "`<script>x</script>`" in out  # an expression is a code span: shown, not run
    assert "\n# heading" not in out


# --- Found by tests/fuzz/test_fuzz_cases.py: JSON escapes of characters past U+FFFF ----------


def test_a_json_surrogate_pair_is_one_character(policy: Policy, tmp_path: Path) -> None:
    """JSON writes U+1F600 as two escapes; YAML read them apart into two lone surrogates,
    which printing could not encode (an internal error)."""
    text = json.dumps(_kent(case="\U0001f600") | {"facts": {"violation": {"ipmc_section": "𐀀"}}})
    assert "\\ud83d\\ude00" in text
    run = _eval_cli(tmp_path, text, "eval", name="case.json")
    assert run.returncode == 0, run.stderr
    assert "Case \U0001f600" in run.stdout
    path = tmp_path / "case.json"
    assert read_case(path).facts["violation"]["ipmc_section"] == "𐀀"


def test_half_a_surrogate_pair_is_located(tmp_path: Path) -> None:
    run = _eval_cli(tmp_path, '{"case": "x\\ud83d", "jurisdiction": "kent", "facts": {}}',
                    "eval", name="case.json")  # fmt: skip
    assert run.returncode == 1
    assert "--> case.json:1:10" in run.stderr and "load/encoding" in run.stderr


def test_the_caret_stays_under_an_escaped_character(tmp_path: Path) -> None:
    """Escaping U+202E in the echoed source line (six columns for one) moved the text right
    of the caret; the caret now moves with it."""
    text = ("case: X\njurisdiction: kent\nas_of: 2025-01-10\nfacts:\n"
            f'  permit: {{code: "{RLO}x", issued_on: "{RLO}"}}\n')  # fmt: skip
    run = _eval_cli(tmp_path, text, "eval")
    lines = run.stderr.splitlines()
    sources = [i for i, line in enumerate(lines) if line.startswith("5 | ")]
    assert len(sources) == 2, run.stderr  # the code, then the date after it on the line
    for at, shown in zip(sources, ('"\\u202ex"', '"\\u202e"}'), strict=True):
        caret = lines[at + 1].index("^")
        assert lines[at][caret:].startswith(shown), run.stderr


def test_a_bom_then_a_bad_byte_is_located(tmp_path: Path) -> None:
    """Found by the nightly fuzz run: the position of the bad byte was counted from after the
    BOM and then cut from before it, which raised inside the error path."""
    path = tmp_path / "case.yaml"
    path.write_bytes(b"\xef\xbb\xbf#\xff x\ncase: 1\n")
    run = subprocess.run([sys.executable, "-m", "engine.tools.cli", "eval", str(path)],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 1
    assert "error[load/encoding]: the file is not UTF-8 text (byte 4)" in run.stderr
    assert f"--> {path}:1:2" in run.stderr


def test_a_policy_reads_in_one_line(policy: Policy) -> None:
    """A fuzz failure printed the whole policy as the test's argument: 400 MB of log."""
    assert (
        repr(policy) == f"Policy({str(REPO / 'policy')!r}: generic/icc-2021, "
        "houston/cal-2024, kent/ord-4463)"
    )


def test_out_of_range_reads_in_plain_words() -> None:
    """Python's own overflow text (``days=…; must have magnitude <= 999999999``) reached the
    clerk; the message now says what is past its range in words."""
    case = REPO / "tests/fixtures/broken_cases/extension_past_the_calendar.yaml"
    run = subprocess.run([sys.executable, "-m", "engine.tools.cli", "eval", str(case)],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 1
    assert "magnitude" not in run.stderr and "days=" not in run.stderr
    assert "past what the calendar (years 1 to 9999)" in run.stderr
