"""``ordinance revision new``, ``ordinance diff`` and ``test --lock``'s writer: a revision's
life (engine/tools/revisions.py does the work, engine/tools/history.py keeps it honest)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from engine.api import Policy, load_policy
from engine.compile.load import read_case
from engine.diagnostics import OrdinanceError, render
from engine.project import discover
from engine.tools.cli_common import (
    _compiled,
    _echo,
    _guarded,
    _load,
    _parse_date,
    _project,
    jurisdiction_option,
    policy_option,
)
from engine.tools.expect import CaseOutcome, find_case_files


def register(main: click.Group) -> None:
    """Add ``revision new`` and ``diff`` to the ``ordinance`` command."""

    @main.group("revision")
    def revision_group() -> None:
        """Revisions of a jurisdiction's policy over time."""

    @revision_group.command("new")
    @jurisdiction_option
    @click.option("--id", "rev_id", required=True, help="The new revision's id (`ord-4501`).")
    @click.option("--effective", required=True, callback=_parse_date,
                  help="The date it takes effect (YYYY-MM-DD).")  # fmt: skip
    @click.option("--title", default=None, help="Its title (`Ord. No. 4501`).")
    @policy_option
    @click.option("--golden", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Also copy the previous revision's golden cases from this folder "
                  "(`tests/golden`), each forced to the new revision.")  # fmt: skip
    @_guarded
    def revision_new_cmd(jurisdiction: str | None, rev_id: str, effective: dt.date,
                         title: str | None, policy_dir: Path | None,
                         golden: Path | None) -> None:  # fmt: skip
        """Start a revision as a copy of the latest one; earlier revisions are never changed."""
        from engine.tools.revisions import copy_golden, new_revision

        if jurisdiction is None:
            raise click.UsageError("name the jurisdiction with --jurisdiction")
        project = _project(policy_dir)
        if project.chosen_by.startswith("bundled"):
            # Outside any project, the policy is the one installed with ordinance: not a
            # city's to change (this repository's own pyproject.toml makes it a project).
            raise click.UsageError("no project here: run `ordinance init NAME` for a city's "
                                   "own repository, or give --policy DIR")  # fmt: skip
        policy_dir = project.policy
        previous = (
            load_policy(policy_dir / jurisdiction, search_path=project.search_path)
            .latest(jurisdiction)
            .revision
        )
        folder = new_revision(policy_dir, jurisdiction, rev_id, effective, title,
                              project.search_path)  # fmt: skip
        if golden is not None:
            copied = copy_golden(golden, jurisdiction, previous, rev_id)
            _echo(f"copied {len(copied)} golden cases to {golden / jurisdiction / rev_id}")
        _echo(f"created {folder} from the latest revision and listed `{rev_id}` "
                   f"(effective {effective}) in {policy_dir / jurisdiction / 'jurisdiction.yaml'}; "
                   "edit its files, then run `ordinance check` and `ordinance diff`")  # fmt: skip

    @main.command("diff")
    @jurisdiction_option
    @click.option("--from", "rev_from", required=True, help="The earlier revision.")
    @click.option("--to", "rev_to", required=True, help="The later revision.")
    @click.option("--cases", multiple=True, type=click.Path(exists=True, path_type=Path),
                  help="Case files or folders to evaluate under both (default: the golden cases "
                  "of the earlier revision).")  # fmt: skip
    @click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]),
                  default="text", show_default=True)  # fmt: skip
    @policy_option
    @_guarded
    def diff_cmd(jurisdiction: str | None, rev_from: str, rev_to: str, cases: tuple[Path, ...],
                 fmt: str, policy_dir: Path | None) -> None:  # fmt: skip
        """What changes from one revision to another: the law, then every case it affects.
        Exit 0 when nothing changed, 1 when something did."""
        from engine.tools.history import rule_text_warnings
        from engine.tools.revisions import case_impact, diff_revisions, render_diff

        policy = _load(policy_dir)
        a = _compiled(policy, jurisdiction, rev_from)
        b = _compiled(policy, a.jurisdiction, rev_to)
        changes = diff_revisions(a, b)
        warnings = rule_text_warnings(a, b, changes)
        if warnings:
            _echo(render(warnings), err=True)
        folders = list(cases) or [discover(policy_dir).tests / a.jurisdiction / a.revision]
        loaded = []
        for path in find_case_files([f for f in folders if f.exists()]):
            try:
                loaded.append(read_case(path))
            except OrdinanceError as exc:
                _echo(render(exc.diagnostics), err=True)
        impact = case_impact(policy, [c for c in loaded if c.jurisdiction == a.jurisdiction],
                             a, b, changes)  # fmt: skip
        _echo(render_diff(a, b, changes, impact, len(loaded), fmt, warnings=warnings),
              data=fmt == "json")  # fmt: skip
        sys.exit(1 if changes or impact else 0)


def lock(policy: Policy, tests: Path, outcomes: list[CaseOutcome]) -> None:
    """``test --lock``: write the lock of each revision folder (``<tests>/<jurisdiction>/
    <revision>/``) whose golden cases all passed. A case that could not be read or run counts
    against its folder, whatever it says of itself."""
    from engine.tools.history import write_lock

    folders: dict[tuple[str, str], bool] = {}
    for o in outcomes:
        folder = Path(o.file).parent
        key = (folder.parent.name, folder.name)
        folders[key] = folders.get(key, True) and o.passed
    for (jid, rev), ok in sorted(folders.items()):
        jur = policy.jurisdictions.get(jid)
        if jur is None or rev not in jur.content:
            continue
        if not ok:
            _echo(f"not locked: {jid}/{rev} (a golden case fails)", err=True)
            continue
        _echo(f"locked {jid}/{rev}: {write_lock(tests, policy, jur, rev)}")
