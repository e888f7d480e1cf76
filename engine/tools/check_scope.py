"""What ``ordinance check`` covers and says: the jurisdiction a single policy file belongs to,
the diagnostics located in that file, and the summary line with its counts of revisions.
"""

from __future__ import annotations

from pathlib import Path

import click

from engine.api import Policy
from engine.diagnostics import Diagnostic


def jurisdiction_of(file: Path) -> Path:
    """The jurisdiction folder a policy file belongs to, the nearest folder holding a
    `jurisdiction.yaml`: checked as `ordinance check policy/<city>` checks it, with the layers
    it extends, so a file is checked in the context that gives it its meaning."""
    for folder in file.resolve().parents:
        if (folder / "jurisdiction.yaml").is_file():
            return folder
    raise click.BadParameter(
        f"`{file}` is not a folder, nor a file of a policy (no `jurisdiction.yaml` in a folder "
        "above it): give a policy folder, a `jurisdiction.yaml` or a revision's file",
        param_hint="POLICY_PATH",
    )


def located_in(diags: list[Diagnostic], file: Path) -> list[Diagnostic]:
    """The diagnostics located in ``file`` (spans name files as the loader reached them)."""
    target = file.resolve()
    return [d for d in diags if d.span and Path(d.span.file).resolve() == target]


def check_summary(policy: Policy, scope: str) -> str:
    """``checked town (1 encoded revision(s))``: the revisions the checked jurisdictions
    encode, and how many did not compile (none of those can decide a case)."""
    checked = sorted({jid for jid, _ in policy.compiled}) or sorted(policy.jurisdictions)
    encoded = sum(r.encoded for j in checked for r in policy.jurisdictions[j].revisions)
    failed = encoded - len(policy.compiled)
    revisions = f"{encoded} encoded revision(s)" + (f", {failed} not compiled" if failed else "")
    return f"checked {', '.join(checked)} ({revisions}{scope})"
