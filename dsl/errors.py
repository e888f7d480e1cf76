"""Errors of the expression language. Offsets are relative to the expression text; the engine maps
them to absolute file:line:column positions in the YAML file the expression came from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DslError:
    """One problem in one expression.

    ``start``/``end`` are character offsets into the expression text; ``help`` is the advice line.
    """

    code: str
    message: str
    start: int
    end: int
    help: str | None = None


@dataclass
class DslErrors(Exception):
    """Raised by a stage with every problem it found in one expression."""

    errors: list[DslError] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{e.code}: {e.message}" for e in self.errors)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelled ``word``, if any is close."""
    import difflib  # only a misspelling pays for it

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None
