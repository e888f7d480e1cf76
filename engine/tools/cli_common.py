"""What every ``ordinance`` command shares: the project and policy it reads (``--policy``,
``--verbose``), the jurisdiction and revision options, printing that no policy text can use to
drive the terminal, and the guard that turns every error into a located diagnostic.

Split from ``engine.tools.cli`` so that a command can live in its own module and import these
instead of receiving them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sys
import traceback
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from engine.api import Policy, load_policy
from engine.diagnostics import OrdinanceError, render
from engine.printable import printable, printable_json
from engine.project import Project, discover, layers_text, require_folders

F = TypeVar("F", bound=Callable[..., Any])


def verbose_option(fn: F) -> F:
    """``--verbose``: say which policy, project, search path and layers the command used."""
    return click.option(
        "--verbose",
        "-v",
        is_flag=True,
        expose_value=False,
        callback=_remember_verbose,
        is_eager=True,
        help="Say which policy, project, search path and layers are used.",
    )(fn)


def policy_option(fn: F) -> F:
    """``--policy DIR`` and ``--verbose``: which policy a command reads is resolved for every
    command alike (``engine.project.discover``); ``--verbose`` says which it used."""
    return click.option(
        "--policy",
        "policy_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Policy folder (default: ORDINANCE_POLICY, else `policy` of the nearest "
        "ordinance.toml, else the policy shipped with ordinance).",
    )(verbose_option(fn))


def _remember_verbose(ctx: click.Context, _: Any, value: bool) -> None:
    if value:
        ctx.meta["ordinance.verbose"] = True


def _verbose() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get("ordinance.verbose"))


jurisdiction_option = click.option(
    "--jurisdiction", "-j", default=None,
    help="Jurisdiction id (default: the only one, when the policy has one).")  # fmt: skip
revision_option = click.option(
    "--revision", default=None, help="Revision id (default: the latest encoded).")  # fmt: skip
catalogue_format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)


def _echo(text: str, *, err: bool = False, nl: bool = True, data: bool = False) -> None:
    """Print for the command line. Everything printed passes here, so no case or policy text
    drives the terminal: controls and bidirectional overrides are shown as escapes (the JSON
    way when ``data`` is JSON, which stays valid and means the same)."""
    try:
        click.echo(printable_json(text) if data else printable(text), err=err, nl=nl)
    except BrokenPipeError:  # `ordinance test | head`: the reader left; finish, keep the status
        os.dup2(os.open(os.devnull, os.O_WRONLY), (sys.stderr if err else sys.stdout).fileno())


def _guarded(fn: F) -> F:
    """Turn stage errors into located diagnostics and any bug into a one-line message."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OrdinanceError as exc:
            _echo(render(exc.diagnostics), err=True)
            if _wants_json():  # a tool reading stdout gets the refusal too, as JSON
                _echo(json.dumps({"diagnostics": [d.to_json() for d in exc.diagnostics]},
                                 ensure_ascii=False), data=True)  # fmt: skip
            sys.exit(1)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except BrokenPipeError:  # `ordinance … | head`: the reader left; nothing is wrong
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except Exception as exc:  # a bug in ordinance, not in the user's files
            if os.environ.get("ORDINANCE_DEBUG"):
                traceback.print_exc()
            _echo(
                f"internal error: {type(exc).__name__}: {exc}\n"
                "   = help: this is a bug in ordinance; set ORDINANCE_DEBUG=1 for details",
                err=True,
            )
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def _wants_json() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.params.get("fmt") == "json")


def _project(policy_dir: Path | None, start: Path | None = None) -> Project:
    """The project this command works on (found from ``start``, default the current folder);
    with ``--verbose``, said on standard error."""
    project = discover(policy_dir, start=start)
    if _verbose():
        _echo(project.describe(), err=True)
    return project


def _load(policy_dir: Path | None, *, strict: bool = True, start: Path | None = None) -> Policy:
    """The policy this command works on, compiled with the project's search path."""
    project = _project(policy_dir, start)
    require_folders(project)
    policy = load_policy(project.policy, strict=strict, search_path=project.search_path)
    if _verbose():
        _echo(layers_text(policy, shadows=not project.chosen_by.startswith("bundled")),
              err=True)  # fmt: skip
    return policy


def _parse_date(_: Any, __: Any, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"`{value}` is not a date (YYYY-MM-DD)") from None


def _compiled(policy: Policy, jurisdiction: str | None, revision: str | None) -> Any:
    if jurisdiction is None:
        jurisdiction = _only_jurisdiction(policy)
    if revision is None:
        return policy.latest(jurisdiction)
    return policy.compiled_for(jurisdiction, revision)


def _only_jurisdiction(policy: Policy) -> str:
    """The jurisdiction meant when none is named: the one compiled that no other extends."""
    compiled = {jid for jid, _ in policy.compiled}
    parents = {policy.jurisdictions[j].extends for j in compiled}
    leaves = sorted(compiled - parents) or sorted(compiled)
    if len(leaves) == 1:
        return leaves[0]
    raise click.UsageError("name the jurisdiction with --jurisdiction: one of "
                           + ", ".join(sorted(compiled)))  # fmt: skip


class Number(click.FloatRange):
    """A number in a range, and a number: click's FloatRange lets `nan` through (every
    comparison with it is false, so `--fail-under nan` would turn the threshold off)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> Any:  # fmt: skip
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number", param, ctx)
        return number


PERCENT = Number(0, 100)
SECONDS = Number(min=0)  # `inf`: no limit (written as null in the JSON report)
