"""Run-time values of the expression language that Python lacks: durations and unknowns.

``Unknown`` is the third truth value: a value that cannot be computed because facts are absent. It
carries the ids of the facts it needs, so a decision can say what would decide it, and sometimes
what is known of it all the same (``known``): the members of a list known so far
(``PartialList``), or the range a count lies in (``Bounds``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Duration:
    """A length of time as the law states it: ``180 days``, ``3 years``, ``1 business day``.

    Units: ``days`` (calendar days), ``weeks``, ``months``, ``years``, ``business_days``.
    """

    amount: int
    unit: str

    def __str__(self) -> str:
        unit = self.unit.replace("_", " ")
        return f"{self.amount} {unit[:-1] if self.amount == 1 else unit}"


class RangeError(OverflowError):
    """A value past what the calendar or decimal arithmetic can hold, said in words a case's
    reader understands (Python's own overflow messages are not: ``days=…; must have
    magnitude <= 999999999``). The run path reports it as ``case/out-of-range``."""


@dataclass(frozen=True, slots=True)
class PartialList:
    """What is known of a list some of whose items are undecided: every item in list order, as
    ``(value, certain)``. ``certain`` is False when the item's ``if`` condition is unknown (it
    may or may not be in the list); ``value`` is an ``Unknown`` when the item's value is.
    ``dropped`` counts the items known not to be in it (their condition is false).

    >>> p = PartialList((("a", True), ("b", False), (Unknown(frozenset({"x"})), True)))
    >>> p.members(), p.undecided(), p.count_bounds()
    (['a'], ['b'], (2, 3))
    """

    items: tuple[tuple[Any, bool], ...]
    dropped: int = 0

    def members(self) -> list[Any]:
        """The items known to be in the list with a known value."""
        return [v for v, certain in self.items if certain and v.__class__ is not Unknown]

    def undecided(self) -> list[Any]:
        """The known values that may or may not be in the list."""
        return [v for v, certain in self.items if not certain and v.__class__ is not Unknown]

    def count_bounds(self) -> tuple[int, int]:
        """The least and the greatest number of items the list may have."""
        return sum(1 for _, certain in self.items if certain), len(self.items)

    def decided_any(self) -> bool:
        """Whether any item is decided: known to be in the list, or known not to be."""
        return self.dropped > 0 or any(certain for _, certain in self.items)


@dataclass(frozen=True, slots=True)
class Bounds:
    """An unknown whole number known to lie in ``lo..hi`` (both included): a count."""

    lo: int
    hi: int


class Unknown:
    """A value that depends on facts the case does not give.

    ``known`` is what is known of it all the same, or None. Only the operations that read it
    (those on lists and on counts) keep it; every other operation that propagates an unknown
    gives a plain one (``plain``, ``merge``), so what was known of an operand never passes for
    what is known of a result.

    >>> a = Unknown(frozenset({"permit.issued_on"}))
    >>> sorted(a.merge(Unknown(frozenset({"work.commenced_on"}))).needs)
    ['permit.issued_on', 'work.commenced_on']
    """

    __slots__ = ("known", "needs")

    def __init__(self, needs: frozenset[str], known: PartialList | Bounds | None = None) -> None:
        self.needs = needs
        self.known = known

    def merge(self, other: Unknown) -> Unknown:
        if other.needs <= self.needs and self.known is None:
            return self
        key = (self.needs, other.needs)
        found = _MERGED.get(key)
        if found is None:
            found = Unknown(self.needs | other.needs)
            if len(_MERGED) < _MERGED_LIMIT:
                _MERGED[key] = found
        return found

    def plain(self) -> Unknown:
        """This unknown without what is known of it."""
        return self if self.known is None else Unknown(self.needs)

    def __repr__(self) -> str:
        if self.known is not None:
            return f"Unknown({sorted(self.needs)}, {self.known})"
        return f"Unknown({sorted(self.needs)})"

    def __bool__(self) -> bool:
        # Truth-testing an unknown is a bug in the compiler, never a user error.
        raise TypeError("an Unknown value has no truth value")


# Merges remembered: a policy's rules read the same facts case after case, so the cases that
# lack them (most lack the appeal facts) merge the same sets of needs again and again; each
# such union is made once and its Unknown shared (an Unknown is never changed). Bounded, so no
# stream of cases grows it without end; past the bound merges are made as before.
_MERGED: dict[tuple[frozenset[str], frozenset[str]], Unknown] = {}
_MERGED_LIMIT = 1 << 16


def merge_unknowns(values: list[object]) -> Unknown | None:
    """The union of the unknowns among ``values`` (plain), or None when every value is known."""
    found = [v for v in values if v.__class__ is Unknown]
    if not found:
        return None
    if len(found) == 1:
        return found[0].plain()
    return Unknown(frozenset().union(*(u.needs for u in found)))
