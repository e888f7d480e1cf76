"""``ordinance replay``: a decision log decided again under a policy (issue 13).

Exit codes as for every command: 0 every replayed event decides as it did, 1 a difference (or a
line of the log that is not an event), 2 a usage error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from engine.diagnostics import Diagnostic, render
from engine.tools.cli_common import _load


def register(main: click.Group, echo: Callable[..., None], guarded: Callable[[Any], Any],
             policy_option: Callable[[Any], Any]) -> None:  # fmt: skip
    """Add ``replay`` to the ``ordinance`` command."""

    @main.command("replay")
    @click.argument("log_url", metavar="LOG")
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                  show_default=True)  # fmt: skip
    @policy_option
    @guarded
    def replay_cmd(log_url: str, fmt: str, policy_dir: Path | None) -> None:
        """Decide every event of the decision log LOG again and report each decision that comes
        out otherwise. LOG is the file `ordinance serve` writes (decisions.ndjson), or its
        sqlite:///… or postgresql://… URL. Against the policy that made the log nothing
        differs; against a new revision the differences are what the change does to the cases
        decided. Events whose input masks a fact (`log: mask`) are skipped and counted."""
        from engine.service.log import read_events
        from engine.service.replay import render_text, replay
        from engine.service.state import policy_files_digest

        policy = _load(policy_dir)
        problems: list[Diagnostic] = []
        report = replay(read_events(log_url, problems=problems), policy,
                        digest=policy_files_digest(policy))  # fmt: skip
        report.problems = problems
        if problems:
            echo(render(problems), err=True)
        if fmt == "json":
            echo(json.dumps(report.to_dict(), ensure_ascii=False), data=True)
        else:
            echo(render_text(report))
        errors = any(d.severity == "error" for d in problems)
        sys.exit(1 if report.differences or errors else 0)
