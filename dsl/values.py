"""Run-time values of the expression language that Python lacks: durations and unknowns.

``Unknown`` is the third truth value: a value that cannot be computed because facts are absent. It
carries the ids of the facts it needs, so a decision can say what would decide it.
"""

from __future__ import annotations

from dataclasses import dataclass


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


class Unknown:
    """A value that depends on facts the case does not give.

    >>> a = Unknown(frozenset({"permit.issued_on"}))
    >>> sorted(a.merge(Unknown(frozenset({"work.commenced_on"}))).needs)
    ['permit.issued_on', 'work.commenced_on']
    """

    __slots__ = ("needs",)

    def __init__(self, needs: frozenset[str]) -> None:
        self.needs = needs

    def merge(self, other: Unknown) -> Unknown:
        if other.needs <= self.needs:
            return self
        return Unknown(self.needs | other.needs)

    def __repr__(self) -> str:
        return f"Unknown({sorted(self.needs)})"

    def __bool__(self) -> bool:
        # Truth-testing an unknown is a bug in the compiler, never a user error.
        raise TypeError("an Unknown value has no truth value")


def merge_unknowns(values: list[object]) -> Unknown | None:
    """The union of the unknowns among ``values``, or None when every value is known."""
    found = [v for v in values if v.__class__ is Unknown]
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    return Unknown(frozenset().union(*(u.needs for u in found)))
