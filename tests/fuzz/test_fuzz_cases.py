"""Fuzzing case values (issue 9): typed, mostly plausible facts with extremes mixed in, given to
every door of the engine (``evaluate``, ``values``, ``values_many`` and ``ordinance eval`` on a
YAML or JSON file).

The contract asserted is the product's: a result, or a ``CaseError`` with located diagnostics
(exit 1 on the command line); never another exception, never an internal error, never more than
a few seconds; and the bulk path agrees with the scalar one case for case. The example budget
comes from the hypothesis profile (``tests/fuzz/conftest.py``: ``ci`` by default,
``ORDINANCE_FUZZ=nightly`` for a long run).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any
from unittest.mock import patch

import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from dsl.typesys import Type
from engine import load_policy
from engine.diagnostics import CaseError
from engine.tools import cli
from tests.conftest import comparable

POLICY = load_policy()
JURISDICTIONS = ("kent", "houston", "generic")
COMPILED = {j: POLICY.latest(j) for j in JURISDICTIONS}
SECONDS = 5.0  # per example: a case never takes longer, however odd its values

_EXTREME_NUMBERS = ["1e999999999", "-1e999999999", "1e-999999999", "1E+26", "NaN", "-0",
                    "9999999999999999999999.99", "$1,000.50", "0.000000000000001"]  # fmt: skip
_EXTREME_INTS = [10**15 - 1, -(10**15) + 1, 10**15, 10**26, 2**63, 3_652_059, 10**9]


def _values(t: Type, nullable: bool, odd: bool) -> st.SearchStrategy[Any]:
    """Values of a fact of type ``t``: valid ones and, when ``odd``, near misses and extremes
    (half the cases are given none, so that most of them reach the rules)."""
    name = t.name
    if not odd:
        found = _valid(t)
        return (st.none() | found) if nullable else found
    if name == "list":
        assert t.item is not None
        found: st.SearchStrategy[Any] = st.lists(_values(t.item, False, odd), max_size=4)
    elif name == "enum":
        found = st.sampled_from(t.values) | st.text(max_size=4)
    elif name == "date":
        found = st.dates(dt.date(1899, 12, 1), dt.date(2200, 2, 1)).map(str)
    elif name == "datetime":
        zones = st.none() | st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-14))])
        found = st.datetimes(dt.datetime(1899, 12, 1), dt.datetime(2200, 2, 1),
                             timezones=zones).map(dt.datetime.isoformat)  # fmt: skip
    elif name == "bool":
        found = st.booleans()
    elif name == "int":
        found = (
            st.integers(-5, 400) | st.integers(-(10**16), 10**16) | st.sampled_from(_EXTREME_INTS)
        )
    elif name in ("decimal", "money"):
        found = (st.decimals(allow_nan=False, allow_infinity=False).map(str)
                 | st.sampled_from(_EXTREME_NUMBERS) | st.integers(-(10**20), 10**20))  # fmt: skip
    elif name == "time":
        found = st.times().map(dt.time.isoformat)
    else:
        found = st.text(max_size=10)
    # Any fact may also be given a value of the wrong kind.
    found = found | st.sampled_from([True, "", [], {}, 1.5, "2024-02-30"])
    return (st.none() | found) if nullable else found


def _valid(t: Type) -> st.SearchStrategy[Any]:
    """Values a case may give for ``t``, the largest allowed ones included."""
    limit = 10**15 - 1
    return {
        "list": lambda: st.lists(_valid(t.item), max_size=3) if t.item else st.just([]),
        "enum": lambda: st.sampled_from(t.values),
        "date": lambda: st.dates(dt.date(1900, 1, 1), dt.date(2199, 12, 31)).map(str),
        "datetime": lambda: st.datetimes(dt.datetime(1900, 1, 2), dt.datetime(2199, 12, 30)).map(
            dt.datetime.isoformat
        ),
        "bool": st.booleans,
        "int": lambda: st.integers(-5, 400) | st.integers(-limit, limit),
        "decimal": lambda: st.decimals(-limit, limit, places=3).map(str),
        "money": lambda: st.decimals(-limit, limit, places=2).map(str),
        "time": lambda: st.times().map(dt.time.isoformat),
    }.get(t.name, lambda: st.text(max_size=10))()


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    jid = draw(st.sampled_from(JURISDICTIONS))
    odd = draw(st.booleans())
    facts = COMPILED[jid].facts
    chosen = draw(st.lists(st.sampled_from(sorted(facts)), unique=True, max_size=len(facts)))
    nested: dict[str, Any] = {}
    for fid in chosen:
        *groups, leaf = fid.split(".")
        node = nested
        for g in groups:
            node = node.setdefault(g, {})
        node[leaf] = draw(_values(facts[fid].type, facts[fid].nullable, odd))
    day = draw(st.dates(dt.date(1990, 1, 1), dt.date(2100, 1, 1)))
    return {"case": "FUZZ", "jurisdiction": jid, "as_of": str(day), "facts": nested}


def _outcome(call: Any) -> tuple[str, Any]:
    """("ok", value) or ("error", the diagnostics' codes); any other exception fails."""
    start = time.perf_counter()
    try:
        return "ok", call()
    except CaseError as exc:
        assert exc.diagnostics, "a CaseError says what is wrong"
        return "error", sorted({d.code for d in exc.diagnostics})
    finally:
        assert time.perf_counter() - start < SECONDS


@given(cases())
def test_every_api_door_keeps_the_contract(case: dict[str, Any]) -> None:
    kind, found = _outcome(lambda: POLICY.evaluate(case).to_json())
    if kind == "ok":
        assert json.loads(found)["case"] == "FUZZ"
    one = _outcome(lambda: POLICY.values(case))
    assert one[0] == kind
    many = _outcome(lambda: POLICY.values_many([case, case]))
    assert many[0] == kind
    if kind == "ok":
        assert comparable(many[1]) == comparable([one[1], one[1]])
    else:
        assert many[1] == one[1] == found


def _write(path: Path, case: dict[str, Any]) -> None:
    if path.suffix == ".json":
        path.write_text(json.dumps(case), "utf-8")
    else:
        path.write_text(yaml.safe_dump(case, allow_unicode=True), "utf-8")


@given(cases(), st.sampled_from([".yaml", ".json"]), st.sampled_from(["text", "json"]))
def test_the_command_line_keeps_the_contract(
    tmp_path_factory: Any, case: dict[str, Any], suffix: str, fmt: str
) -> None:
    """``ordinance eval`` on the case as a file: exit 0 with output, or exit 1 with located
    diagnostics; never exit 2 (an internal error). The policy is the one loaded above, not
    loaded again per example."""
    path = tmp_path_factory.mktemp("case") / f"case{suffix}"
    _write(path, case)
    start = time.perf_counter()
    with patch.object(cli, "_load", lambda _: POLICY):
        run = CliRunner().invoke(cli.main, ["eval", str(path), "--format", fmt])
    assert time.perf_counter() - start < SECONDS
    assert run.exit_code in (0, 1), run.output
    assert "internal error" not in run.output
    if run.exit_code == 1:
        assert f"{path.name}:" in run.output or str(path) in run.output, run.output
