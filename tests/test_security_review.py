"""The second security review of issue 9's fixes: each finding as a test that failed before
its fix.

An embedding program hands ``Policy.evaluate``, ``values`` and ``values_many`` whatever Python
values it has; whatever they are, the answer is a result or a ``CaseError``, never another
exception.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine import load_policy
from engine.api import Policy
from engine.diagnostics import CaseError, OrdinanceError
from engine.tools.site_output import GENERATOR, MANIFEST, write_site


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


class _HostileStr:
    """An object whose ``__str__`` and ``__repr__`` raise."""

    def __str__(self) -> str:
        raise RuntimeError("hostile __str__")

    __repr__ = __str__


class _HostileEq(str):
    """Text that hashes like ``tco`` and raises when compared."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("hostile __eq__")

    __hash__ = str.__hash__


_HUGE = 10**5000  # past Python's 4,300 digits for writing a whole number


def _generic(facts: dict[Any, Any], **top: Any) -> dict[Any, Any]:
    return {"jurisdiction": "generic", "as_of": "2025-01-10", "facts": facts, **top}


CASES = [
    pytest.param(_generic({"tco": {"valid_days": _HostileStr()}}), id="int-hostile-str"),
    pytest.param(_generic({"final": {"handrail_height_in": _HUGE}}), id="decimal-huge-int"),
    pytest.param(_generic({"final": {"handrail_height_in": _HostileStr()}}), id="decimal-hostile"),
    pytest.param(_generic({"tco": {"issued_on": _HUGE}}), id="date-huge-int"),
    pytest.param(_generic({"tco": {"issued_on": _HostileStr()}}), id="date-hostile-str"),
    pytest.param(_generic({"final": {"gfci_installed": _HUGE}}), id="bool-huge-int"),
    pytest.param(_generic({}, case=_HUGE), id="case-id-huge-int"),
    pytest.param(_generic({}, case=_HostileStr()), id="case-id-hostile-str"),
    pytest.param(_generic({}, as_of=_HostileStr()), id="as-of-hostile-str"),
    pytest.param({**_generic({}), _HostileStr(): 1}, id="top-key-hostile-str"),
    pytest.param({**_generic({}), _HUGE: 1}, id="top-key-huge-int"),
    pytest.param(_generic({_HostileStr(): 1}), id="fact-key-hostile-str"),
    pytest.param(_generic({_HostileEq("tco"): 1}), id="fact-key-hostile-eq"),
]


@pytest.mark.parametrize("case", CASES)
def test_odd_python_values_are_case_errors(policy: Policy, case: dict[Any, Any]) -> None:
    calls: list[Callable[[Any], Any]] = [
        policy.evaluate, policy.values, lambda c: policy.values_many([c, c]),
    ]  # fmt: skip
    for call in calls:
        with pytest.raises(CaseError) as exc:
            call(case)
        assert all(len(d.message) < 300 for d in exc.value.diagnostics)


def test_a_decimal_object_is_read_whole(policy: Policy) -> None:
    """The value a fact reads from a ``Decimal`` is all of it (messages cut text, values not)."""
    given = decimal.Decimal("1." + "3" * 70)
    case = _generic({"final": {"handrail_height_in": given}})
    assert policy.values(case) is not None


def test_a_case_cannot_print_lines_of_its_own(policy: Policy) -> None:
    r"""A line break in a case id or in case text an explanation quotes is shown as ``\n``: the
    clerk's text rendering holds no line the case wrote (such as a forged decision)."""
    from engine.render import RenderContext, render_text
    from engine.run.facts import case_from_dict

    forged = "\nco.issuable = true\n  └─ forged [KCC 1]"
    facts = {"permit": {"code": "IBC"}, "violation": {"ipmc_section": "IPMC 604" + forged}}
    case = case_from_dict(
        {"case": "K-1" + forged, "jurisdiction": "kent", "as_of": "2025-01-10", "facts": facts}
    )
    text = render_text(policy.evaluate(case), RenderContext("Kent", "ORD-4463"))
    lines = text.splitlines()
    assert not any(line.startswith(("co.issuable", "  └─ forged")) for line in lines)
    assert lines[0].startswith("Case K-1\\nco.issuable = true")
    assert sum("IPMC 604\\nco.issuable = true" in line for line in lines) == 1


def test_a_revision_diff_in_text_keeps_a_case_id_on_its_line() -> None:
    """``ordinance diff`` (text) printed a case id as it was: its line breaks became lines."""
    from types import SimpleNamespace

    from engine.tools.revisions import CaseImpact, DecisionChange, render_diff

    revision = SimpleNamespace(jurisdiction="kent", revision="a")
    impact = CaseImpact("K-1\nNothing changes.", "case.yaml", [DecisionChange(
        "permit.expires_on", {"status": "determined", "value": "x"},
        {"status": "undetermined"})])  # fmt: skip
    out = render_diff(revision, revision, [], [impact], 1, "text")
    assert "Nothing changes." not in out.splitlines()
    assert "- K-1\\nNothing changes. (case.yaml)" in out.splitlines()


@pytest.mark.parametrize(
    "listed",
    [
        pytest.param(".git/config", id="hidden-file"),
        pytest.param("docs/a\x00b.md", id="nul-byte"),
        pytest.param("docs/" + "a" * 300 + ".md", id="name-too-long"),
    ],
)
def test_a_crafted_manifest_is_refused_not_obeyed(tmp_path: Path, listed: str) -> None:
    """A manifest naming a hidden file was obeyed (``.git/config`` deleted); one naming a path
    with a NUL byte or a name too long was an internal error. Each is ``cli/unsafe-output``."""
    out = tmp_path / "site"
    (out / ".git").mkdir(parents=True)
    (out / ".git/config").write_text("[core]\n", "utf-8")
    manifest = {"generator": GENERATOR, "files": [listed]}
    (out / MANIFEST).write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(OrdinanceError) as exc:
        write_site(out, {"docs/index.md": b"# x\n"})
    assert [d.code for d in exc.value.diagnostics] == ["cli/unsafe-output"]
    assert (out / ".git/config").read_text("utf-8") == "[core]\n"
