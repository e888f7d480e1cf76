"""Remembered merges of unknowns (issue 16): a merge gives the union of the needs, the same
shared object for the same two sets, plain (never what was known of an operand), and the memo
stops growing at its bound."""

from __future__ import annotations

import pytest

from dsl import values
from dsl.values import Bounds, Unknown


def test_a_merge_is_the_union_and_is_shared_for_the_same_sets() -> None:
    a, b = Unknown(frozenset({"permit.issued_on"})), Unknown(frozenset({"work.commenced_on"}))
    merged = a.merge(b)
    assert merged.needs == {"permit.issued_on", "work.commenced_on"} and merged.known is None
    again = Unknown(frozenset({"permit.issued_on"})).merge(
        Unknown(frozenset({"work.commenced_on"}))
    )
    assert again is merged  # equal sets of needs: the union is made once
    assert b.merge(a).needs == merged.needs
    assert a.merge(Unknown(frozenset({"permit.issued_on"}))) is a  # nothing new: itself


def test_what_was_known_of_an_operand_never_passes_to_a_merge() -> None:
    counted = Unknown(frozenset({"a.items"}), Bounds(1, 3))
    merged = counted.merge(Unknown(frozenset({"a.items"})))
    assert merged.known is None and merged.needs == {"a.items"}
    assert counted.known == Bounds(1, 3)  # the operand is unchanged


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(values, "_MERGED", {})
    monkeypatch.setattr(values, "_MERGED_LIMIT", 10)
    base = Unknown(frozenset({"x"}))
    merged = [base.merge(Unknown(frozenset({f"f{i}"}))) for i in range(50)]
    assert len(values._MERGED) == 10
    assert [m.needs for m in merged] == [frozenset({"x", f"f{i}"}) for i in range(50)]
