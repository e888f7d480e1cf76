"""Adversarial checks of ``Policy.values_many`` against ``Policy.values``, case for case.

The contract: for any list of cases and any ``decisions``, ``values_many`` returns what
``[values(c, decisions, as_of=...) for c in cases]`` returns (same values, same Python types;
an ``Unknown`` compared by its ``needs``), or, when that list raises ``CaseError`` for some case,
raises ``CaseError`` too, its messages naming the case's place in the batch (an unknown
decision is the request's error and names none). It never raises another exception where
``values`` would not. The last group of tests holds the divergences an independent review
found, each fixed.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import OrderedDict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pytest

from engine import load_policy
from engine.diagnostics import CaseError
from tests.conftest import comparable

POLICY = load_policy()


def _expected(
    cases: list[Any], decisions: Iterable[str] | None, as_of: Any
) -> tuple[str, Any]:  # fmt: skip
    """What ``values`` gives case by case: ("ok", results), ("error", the first failing case's
    messages, prefixed with its place) or ("raised", the type of another exception)."""
    out = []
    for i, case in enumerate(cases):
        try:
            out.append(POLICY.values(copy.deepcopy(case), decisions, as_of=as_of))
        except CaseError as exc:
            cid = case.get("case") if isinstance(case, dict) else None
            named = cid.__class__ in (str, int) and bool(cid)  # an id that is one
            where = f"case {i + 1} of the batch" + (f" (`{cid}`)" if named else "")
            # An unknown decision or a bad argument is the request's error, not the case's: no
            # place named.
            return "error", [d.message if d.code in ("case/unknown-decision", "case/bad-argument")
                             else f"{where}: {d.message}" for d in exc.diagnostics]  # fmt: skip
        except Exception as exc:
            return "raised", type(exc).__name__
    return "ok", comparable(out)


def _outcome(cases: list[Any], decisions: Iterable[str] | None, as_of: Any) -> tuple[str, Any]:
    """What ``values_many`` gives, in the form of ``_expected``. An exception is caught here so
    that a failure's report does not format the policy held by every frame (seconds)."""
    try:
        return "ok", comparable(POLICY.values_many(copy.deepcopy(cases), decisions, as_of=as_of))
    except CaseError as exc:
        return "error", [d.message for d in exc.diagnostics]
    except Exception as exc:
        return "raised", f"{type(exc).__name__}: {exc}"


def _agree(
    cases: list[Any], decisions: Iterable[str] | None = None, *, as_of: Any = None
) -> None:  # fmt: skip
    """Assert that ``values_many`` keeps the contract on ``cases``."""
    if decisions is not None:
        decisions = tuple(decisions)
    want = _expected(cases, decisions, as_of)
    got = _outcome(cases, decisions, as_of)
    if want[0] == "raised" and got[0] == "raised":
        got = "raised", got[1].split(":")[0]
    assert got == want


def _kent(**facts: Any) -> dict[str, Any]:
    """A Kent case; keyword ``group__fact=value`` sets a fact (``group=None`` drops a group)."""
    case: dict[str, Any] = {
        "case": "K",
        "jurisdiction": "kent",
        "as_of": "2025-06-30",
        "facts": {
            "permit": {"code": "IBC", "issued_on": "2024-04-15", "extensions_granted": 0,
                       "only_final_remaining": False},
            "work": {"commenced_on": "2024-05-01", "last_inspection_on": None},
            "building": {"single_family": True},
            "property": {"code_enforcement": False},
        },
    }  # fmt: skip
    for path, value in facts.items():
        group, _, leaf = path.partition("__")
        if not leaf:
            case["facts"][group] = value
        else:
            case["facts"].setdefault(group, {})[leaf] = value
    return case


def _houston(**facts: Any) -> dict[str, Any]:
    case: dict[str, Any] = {
        "case": "H",
        "jurisdiction": "houston",
        "as_of": "2024-06-30",
        "facts": {
            "request": {"kind": "new"},
            "building": {"use": "multi_family", "stories": 3, "units": 12},
            "space": {"multi_tenant": False},
            "co": {"investigation_warranted": True},
            "inspection": {"attended": False},
        },
    }
    for path, value in facts.items():
        group, _, leaf = path.partition("__")
        case["facts"].setdefault(group, {})[leaf] = value
    return case


EXPIRY = ("permit.expires_on", "permit.expiration_reason", "permit.expired",
          "permit.extension_eligible")  # fmt: skip


# --- Regression tests: inputs that hold ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("building__single_family", [True, 1, 0, "true", None]),  # bool: 1 where true is meant
        ("permit__extensions_granted", [0, 1, True, 1.0, "1", None]),  # int: bool, float, text
        ("permit__code", ["IBC", "ibc", "XYZ", "", None, ["IBC"]]),  # enum: outside, unhashable
        ("permit__issued_on", ["2024-04-15", dt.date(2024, 4, 15), "20240415", " 2024-04-15 ",
                               "2024-W16-1", dt.datetime(2024, 4, 15), "2024-02-30",
                               "1899-12-31", "2200-01-01", 20240415, ["2024-04-15"], None]),
    ],
)  # fmt: skip
def test_mixed_forms_in_one_column(path: str, values: list[Any]) -> None:
    """Each value next to a usual case, and every value in one batch."""
    base = _kent()
    for value in values:
        _agree([base, _kent(**{path: value})], EXPIRY)
    _agree([_kent(**{path: v}) for v in values], EXPIRY)


def test_numbers_in_every_form() -> None:
    """Decimal facts as int, float, text, Decimal, money text: same values, same types."""
    forms = [4, 4.0, "4", "4.0", "4.00", Decimal("4.00"), "$4", " 4 ", 4.5, "4.50", "1,000", 0,
             -0.0, "0.0"]  # fmt: skip
    wanted = ["final_inspection.likely_failures"]
    cases = [_kent(final__guard_opening_in=v, final__guard_height_in=v) for v in forms]
    _agree(cases, wanted)
    _agree(cases[:1] + [_kent()] * 3 + cases[1:], wanted)  # some lacking the facts
    for bad in (True, "nan", float("inf"), "four", [4], None):
        _agree([cases[0], _kent(final__guard_opening_in=bad)], wanted)


def test_money_and_fee_lines() -> None:
    """Houston's itemized fee and its lines, with unknown inputs in some cases."""
    cases = [
        _houston(),
        _houston(building__stories=1),
        _houston(inspection__attended=True),
        _houston(request__kind="duplicate"),
        _houston(request__kind="name_change"),
        _houston(request__kind="building_core"),
    ]
    lacking = copy.deepcopy(cases[0])
    del lacking["facts"]["building"]["stories"]
    cases.append(lacking)
    lacking = copy.deepcopy(cases[0])
    del lacking["facts"]["request"]
    cases.append(lacking)
    for decisions in (["co.fee"], ["co.fee_lines"], ["co.fee", "co.fee_lines"], None):
        _agree(cases, decisions)
    _agree(cases[:1], ["co.fee_lines"])


def test_moments_in_every_form() -> None:
    """``appeal.filed_at`` as naive and zoned text and objects, around the 5:00 p.m. deadline."""
    la = dt.timezone(dt.timedelta(hours=-7))
    forms = [
        "2025-03-17T17:00", "2025-03-17T17:00:01", " 2025-03-17T16:59:59 ",
        dt.datetime(2025, 3, 17, 17, 0), dt.datetime(2025, 3, 17, 17, 0, tzinfo=la),
        dt.datetime(2025, 3, 18, 0, 0, tzinfo=dt.UTC), "2025-03-18T00:00:01+00:00",
        "2025-03-17T20:00-04:00", dt.date(2025, 3, 17), None, "2025-03-17 17:00", "17:00", 5,
    ]  # fmt: skip
    wanted = ["appeal.timely", "appeal.filing_deadline"]
    cases = [_kent(appeal__decision_on="2025-03-03", appeal__filed_at=v) for v in forms]
    for case in cases:
        _agree([cases[0], case], wanted)
    _agree([c for c in cases if c["facts"]["appeal"]["filed_at"] not in ("17:00", 5)], wanted)


def test_date_arithmetic_rules() -> None:
    """Rules whose branches add days, months and business days: leap days, holidays, nulls."""
    cases = []
    for issued in ("2024-02-29", "2023-02-28", "2024-12-31", "2199-12-31", None):
        for commenced in (None, "2024-03-01", "2025-08-27"):
            for code in ("IBC", "IRC", "UPC"):
                cases.append(_kent(permit__issued_on=issued, work__commenced_on=commenced,
                                   permit__code=code))  # fmt: skip
    _agree(cases, EXPIRY)
    apps = [_kent(application__filed_on=f, application__extensions=x, application__review=r,
                  application__approved_for_issuance_on=a)
            for f in ("2024-05-01", None) for x in ([], [90], [90, 90, 90], [180])
            for r in ("standard", "sepa") for a in ("2024-06-03", None)]  # fmt: skip
    _agree(apps, ["application.expires_on", "application.expired",
                  "application.extensions_valid"])  # fmt: skip
    appeals = [
        _kent(appeal__decision_on=d, appeal__examiner_decision_on=e)
        for d in ("2025-11-13", "2025-12-11", "2025-06-20")
        for e in (None, "2025-12-31")
    ]
    _agree(appeals, ["appeal.filing_deadline", "appeal.superior_court_deadline"])
    tcos = [_kent(tco__issued_on=i, tco__valid_days=v)
            for i in ("2025-01-31", None) for v in (0, 30, -5, 365)]  # fmt: skip
    _agree(tcos, ["tco.expires_on", "tco.eligible"])
    due = [_kent(co__inspection_requested_on=d) for d in ("2025-11-26", "2025-12-24", None)]
    _agree(due, ["co.inspection_due_by", "co.ready_for_inspection"])


def test_list_facts() -> None:
    contents = [[], ["permit_number"], ["permit_number", "permit_number"], ["owner", "address"]]
    cases = [_kent(certificate__contents=c) for c in contents]
    _agree(cases, ["co.certificate_missing_items"])
    for bad in (["bogus"], ("owner",), "owner", [None]):
        _agree([cases[0], _kent(certificate__contents=bad)], ["co.certificate_missing_items"])
    for bad in ([True], [30.0], (30,), [None], ["30"]):
        _agree([_kent(application__extensions=[30]), _kent(application__extensions=bad)])


def test_null_and_missing() -> None:
    """Null where the fact may be null, where it may not, a group given as null, a group left
    out, and the case's facts all left out."""
    _agree([_kent(), _kent(work__commenced_on=None)], EXPIRY)
    _agree([_kent(), _kent(permit__code=None)], EXPIRY)
    _agree([_kent(), _kent(work=None)], EXPIRY)
    _agree([_kent(), _kent(work={})], EXPIRY)
    dropped = _kent()
    del dropped["facts"]["work"]
    _agree([_kent(), dropped], EXPIRY)
    _agree([{"jurisdiction": j, "as_of": "2025-01-01", "facts": {}}
            for j in ("kent", "houston", "generic")])  # fmt: skip


@pytest.mark.parametrize(
    "facts",
    [
        {"permit": {"code": "IBC", "isued_on": "2024-01-01"}},  # unknown leaf
        {"permt": {"code": "IBC"}},  # unknown group
        {"permit.code": "IBC"},  # dotted key
        {"permit": {"code": {"value": "IBC"}}},  # mapping where a value is meant
        {"permit": "IBC"},  # value where a group is meant
        {"permit": ["code"]},  # list of names where a group is meant
        {"permit": 0},
        {1: {"code": "IBC"}},
        {"work": {"commenced_on": {"on": "2024-01-01"}}},
    ],
)
def test_unknown_and_misplaced_keys(facts: dict[Any, Any]) -> None:
    case = {"case": "X", "jurisdiction": "kent", "as_of": "2025-06-30", "facts": facts}
    _agree([_kent(), case], EXPIRY)
    _agree([case], EXPIRY)


@pytest.mark.parametrize(
    "case",
    [None, [], "kent", 3, {"jurisdiction": "kent"}, {"facts": {}},
     {"jurisdiction": None, "facts": {}}, {"jurisdiction": "kentt", "facts": {}},
     {"jurisdiction": "kent", "facts": None}, {"jurisdiction": "kent", "facts": []},
     {"jurisdiction": "kent", "facts": {}, "bogus": 1},
     {"jurisdiction": "kent", "facts": {}, "revision": "ord-1"},
     {"jurisdiction": "kent", "facts": {}, "as_of": "2025-06-30", "revision": "ord-4463"},
     {"jurisdiction": "kent", "facts": {}, "as_of": "2025-06-30", "revision": None},
     {"jurisdiction": "kent", "facts": {}, "as_of": "2025-06-30", "expect": {"x": 1},
      "description": ["any"], "case": ["id"]}],
)  # fmt: skip
def test_cases_of_every_shape(case: Any) -> None:
    _agree([_kent(), case], EXPIRY)
    _agree([case], EXPIRY)


@pytest.mark.parametrize(
    "as_of",
    ["2025-01-05", "20250105", " 2025-01-05 ", dt.date(2025, 1, 5), dt.datetime(2025, 1, 5),
     "2025-02-30", "1899-12-31", "2200-01-01", "", 0, False, True, ["2025-01-05"], None],
)  # fmt: skip
def test_case_as_of_in_every_form(as_of: Any) -> None:
    _agree([_kent(), {**_kent(), "as_of": as_of}], EXPIRY)


def test_as_of_argument() -> None:
    cases = [_kent(), _kent(permit__code="IRC"), _houston()]
    for as_of in (dt.date(2026, 1, 5), dt.date(2024, 3, 15), dt.date(2021, 1, 1)):
        _agree(cases, None, as_of=as_of)
    no_as_of = [{k: v for k, v in c.items() if k != "as_of"} for c in cases]
    _agree(no_as_of, ["permit.expires_on"])  # today, in both
    _agree(no_as_of, ["permit.expires_on"], as_of=dt.date(2025, 3, 1))


def test_jurisdictions_and_vesting_dates_mixed() -> None:
    cases = [
        _kent(),
        _kent(application__complete_on="2024-03-15"),  # the day ord-4463 takes effect
        _kent(application__complete_on=dt.date(2025, 1, 2)),
        {**_kent(application__complete_on="2024-06-01"), "as_of": "2021-01-01"},
        _houston(),
        _houston(application__submitted_on="2024-01-01"),
        _houston(application__submitted_on=None),
        {"case": "G", "jurisdiction": "generic", "as_of": "2023-05-01",
         "facts": {"permit": {"code": "IRC", "issued_on": "2022-01-10"}}},
    ]  # fmt: skip
    _agree(cases, ["permit.expires_on", "co.required"])
    _agree(cases[::-1], ["permit.expires_on"])
    for early in ("2024-03-14", "2019-01-01", "2024-13-01", dt.datetime(2024, 6, 1)):
        _agree([*cases, _kent(application__complete_on=early)], ["permit.expires_on"])
    _agree([*cases[4:], _houston(application__submitted_on="2023-12-31")], ["co.fee"])


def test_decisions_in_every_form() -> None:
    cases = [_kent(), _kent(permit__code="IRC"), _kent(work__commenced_on=None)]
    want = comparable([POLICY.values(c, EXPIRY) for c in cases])
    for decisions in (list(EXPIRY), iter(EXPIRY), (d for d in EXPIRY), set(EXPIRY),
                      [*EXPIRY, *EXPIRY], dict.fromkeys(EXPIRY)):  # fmt: skip
        got = comparable(POLICY.values_many(cases, decisions))
        assert got == want
    _agree(cases, [*EXPIRY, "permit.issued"])  # an internal rule
    _agree(cases, None)


def test_unknown_decision_in_one_jurisdiction_batch() -> None:
    with pytest.raises(CaseError) as info:
        POLICY.values_many([_kent()], ["permit.expires"])
    assert info.value.diagnostics[0].code == "case/unknown-decision"


def test_small_batches() -> None:
    got = POLICY.values_many([]), POLICY.values_many([], ["permit.expires"])
    assert got == ([], [])
    _agree([_kent()])
    _agree([_houston()])
    _agree([_kent()] * 3, EXPIRY)


def test_every_public_decision_alone_with_facts_missing() -> None:
    """Each decision alone, over cases that give few facts (so most rows take the scalar path,
    and equal inputs reuse one decision)."""
    cases = [
        {"jurisdiction": "kent", "as_of": "2025-06-30", "facts": {}},
        _kent(),
        {"jurisdiction": "kent", "as_of": "2025-06-30", "facts": {"permit": {"code": "IRC"}}},
        {"jurisdiction": "kent", "as_of": "2025-06-30", "facts": {"permit": {"code": "IRC"}}},
        _kent(building__type="accessory", building__accessory_to="townhouse"),
    ]
    for rid in POLICY.latest("kent").public:
        _agree(cases, [rid])


def test_input_cases_are_not_changed() -> None:
    cases = [_kent(), _houston(), _kent(work=None)]
    before = copy.deepcopy(cases)
    with pytest.raises(CaseError):
        POLICY.values_many(cases)
    POLICY.values_many(cases[:2])
    assert cases == before


# --- Divergences found by review, now fixed -----------------------------------------------


@pytest.mark.parametrize(
    "group",
    [[], "", (), OrderedDict(commenced_on="2024-05-01")],
    ids=["empty-list", "empty-str", "empty-tuple", "OrderedDict"],
)
def test_group_that_is_not_a_dict(group: Any) -> None:
    dropped = _kent()
    del dropped["facts"]["work"]
    _agree([dropped, _kent(work=group)], EXPIRY)  # values: "`work` must be a mapping of facts"


def test_bad_case_as_of_under_as_of_argument() -> None:
    _agree([{**_kent(), "as_of": "garbage"}], EXPIRY, as_of=dt.date(2025, 6, 30))


def test_no_decisions_one_jurisdiction() -> None:
    got = _outcome([_kent(), _kent()], [], None)
    assert got == ("ok", [{}, {}])


def test_no_decisions_two_jurisdictions() -> None:
    got = _outcome([_kent(), _houston()], [], None)
    assert got == ("ok", [{}, {}])


def test_falsy_as_of_argument_with_vesting_date() -> None:
    case = _kent(application__complete_on="2024-06-01")
    _agree([case], ["permit.expired"], as_of="")


def test_unknown_decision_is_the_requests_error() -> None:
    _agree([_kent(), _houston()], ["co.fee"])  # Kent decides no co.fee: no case named


def test_first_failing_case_is_named() -> None:
    _agree([_kent(permit__bogus=1), _houston(zz__x=1)], EXPIRY)


def test_case_error_before_a_later_overflow() -> None:
    overflow = _houston(tco__issued_on="2024-06-01", tco__valid_days=10**9)
    _agree([_kent(permit__bogus=1), overflow], ["tco.expires_on"])


class _Day(dt.date):
    """A date subclass (as libraries such as pendulum give)."""


def test_equal_dates_of_different_types() -> None:
    cases = [_kent(co__inspection_requested_on=d) for d in (dt.date(2025, 3, 3), _Day(2025, 3, 3))]
    _agree(cases, ["co.inspection_due_by"])
