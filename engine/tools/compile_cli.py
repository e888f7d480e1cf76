"""``ordinance compile --emit python``: print the code generated for a revision, for review.

What runs is what is printed: ``engine.run.generated`` and ``engine.run.readers`` write the
module text, and the run time compiles that same text. Each constant the code names (``k12``)
is listed first with what it holds, so a reviewer can read a rule's code next to its YAML; a
closure is listed by the reference function it is, which the code calls on the rare paths.
The output is deterministic: the same policy prints the same text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from dsl.values import Duration
from engine.tools.cli_common import _compiled, _load, jurisdiction_option, revision_option

PARTS = ("values", "plan", "reader")


def describe(value: Any) -> str:
    """One line saying what a constant holds, in ASCII (it goes in a comment)."""
    if value is None or isinstance(value, _PLAIN):
        return ascii(value)
    if isinstance(value, frozenset | dict):
        items = sorted(map(repr, value))
        return ascii("{" + ", ".join(items) + "}") if len(items) <= 12 else (
            f"a table of {len(items)} entries")  # fmt: skip
    if isinstance(value, tuple):
        return f"the {len(value)} definitions' reference functions"
    if callable(value):
        func = getattr(value, "func", value)  # a built-in bound to the calendar
        module, name = getattr(func, "__module__", "?"), getattr(func, "__qualname__", "?")
        return ascii(f"{module}.{name}")
    return f"the {type(value).__name__} (calendar, time zone, sections in force)"


_PLAIN = (str, int, float, Decimal, dt.date, dt.time, dt.timedelta, Duration)


def listing(source: str, consts: tuple[Any, ...] | list[Any], title: str) -> str:
    """The module text after a header naming each constant."""
    head = [f"# {ascii(title)[1:-1]}", "# constants:"]
    head += [f"#   k{i} = {describe(v)}" for i, v in enumerate(consts)]
    return "\n".join(head) + "\n" + source


def register(main: click.Group, echo: Callable[..., None], guarded: Callable[[Any], Any],
             policy_option: Callable[[Any], Any]) -> None:  # fmt: skip
    """Add ``ordinance compile`` to the ``ordinance`` command."""

    @main.command("compile")
    @click.option("--emit", type=click.Choice(["python"]), required=True,
                  help="What to print: the generated Python module.")  # fmt: skip
    @jurisdiction_option
    @revision_option
    @click.option("--decisions", default=None, metavar="ID,ID",
                  help="Only the rules these decisions need (default: every one).")  # fmt: skip
    @click.option("--part", type=click.Choice(PARTS), default="values", show_default=True,
                  help="values: the decisions' values; plan: every rule and the definition "
                  "that decided it (explained results); reader: the case reader.")  # fmt: skip
    @policy_option
    @guarded
    def compile_cmd(emit: str, jurisdiction: str | None, revision: str | None,
                    decisions: str | None, part: str, policy_dir: Path | None) -> None:  # fmt: skip
        """Print the Python code generated from the checked policy, for review."""
        from engine.run import generated, readers
        from engine.run.cases import checked

        cp = _compiled(_load(policy_dir), jurisdiction, revision)
        title = f"{cp.jurisdiction} {cp.revision}, {part}"
        if part == "reader":
            source, consts = readers.reader_source(cp)
            echo(listing(source, consts.values, title), nl=False)
            return
        wanted = None if decisions is None else [d.strip() for d in decisions.split(",") if d]
        only = checked(cp, wanted)
        if only is not None:
            title += ": " + ", ".join(sorted(only))
        made = generated.generate(cp, only, part)
        echo(listing(made.source, made.consts, title), nl=False)
