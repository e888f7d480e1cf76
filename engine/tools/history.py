"""Revisions without traps: golden cases stay with the revision they are about, a revision in
force is never edited silently, and a diff says when a rule and its section's text disagree.

- **Pinned golden cases.** A case file in ``<tests>/<jurisdiction>/<revision>/`` is about that
  revision: ``ordinance test`` decides it there (unless the case names its own ``revision:``),
  so a new revision, even one whose effective date falls before the case's ``as_of``, never
  takes over the older revision's cases. (Read by date, they would move to the new revision and
  fail against expectations written for the old law.)
- **Locks.** ``ordinance test --lock`` records, beside a revision's golden cases, the SHA-256 of
  each of the revision's files while its cases pass (``<tests>/<jurisdiction>/<revision>/
  policy.lock``). ``ordinance check`` warns ``revision/edited-in-force`` when a revision already
  in force differs from its lock: the law in force changes by a new revision, not by editing
  the old one. (An edit that corrects an encoding error is legitimate: re-record the lock with
  ``ordinance test --lock`` after reviewing the golden cases, and say why in the revision's
  note.) A revision not yet in force may be edited freely; one without a lock is not checked.
- **Rule and text together.** ``ordinance diff`` warns ``diff/rule-without-text`` when a rule
  changed but its section's text did not, and ``diff/text-without-rule`` when a section's text
  changed but none of the rules it defines did: either the encoding or the text is missing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import yaml

from engine.api import Policy
from engine.diagnostics import Diagnostic, Span
from engine.model import JurisdictionDef
from engine.run.program import CompiledPolicy
from engine.tools.revisions import Change, definitions, expression

LOCK = "policy.lock"


def _files(policy: Policy, jur: JurisdictionDef, rev: str) -> dict[str, str]:
    """What decides revision ``rev``, each with its SHA-256: the revision's files (relative to
    the jurisdiction's folder); what ``jurisdiction.yaml`` says of it (its entry, the time
    zone, the calendar, vesting: an edited effective date changes the law in force as surely
    as an edited rule); and each parent layer's files at the revision it is layered at
    (``<parent>@<revision>/<file>``: a parent upgraded by a package changes the law too)."""
    out = {}
    for f in sorted(jur.content[rev].files):
        out[_name(Path(f), jur.directory)] = _sha(Path(f).read_bytes())
    info = next(r for r in jur.revisions if r.id == rev)
    said = repr((info, jur.time_zone, jur.business_days, jur.holidays, jur.vesting))
    out[f"jurisdiction.yaml ({rev}, time zone, calendar, vesting)"] = _sha(said.encode())
    compiled = policy.compiled.get((jur.id, rev))
    for parent, prev in compiled.layered.chain[:-1] if compiled else ():
        for f in sorted(parent.content[prev.id].files):
            name = f"{parent.id}@{prev.id}/{_name(Path(f), parent.directory / prev.id)}"
            out[name] = _sha(Path(f).read_bytes())
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _name(path: Path, home: Path) -> str:
    """``path`` as the jurisdiction's folder names it (a revision file may be a symbolic link
    to elsewhere: its name in the folder is what the lock records)."""
    try:
        return path.absolute().relative_to(home.absolute()).as_posix()
    except ValueError:
        return os.path.relpath(path.absolute(), home.absolute())


def write_lock(tests: Path, policy: Policy, jur: JurisdictionDef, rev: str) -> Path:
    """Record what decides the revision (``_files``) as its golden cases passed against it."""
    path = tests / jur.id / rev / LOCK
    data = {"jurisdiction": jur.id, "revision": rev, "files": _files(policy, jur, rev)}
    head = (
        "# Written by `ordinance test --lock`: the revision's files as its golden cases\n"
        "# passed against them. `ordinance check` warns when a revision in force differs.\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{LOCK}.tmp")
    tmp.write_text(head + yaml.safe_dump(data, sort_keys=False), "utf-8")
    os.replace(tmp, path)
    return path


def today() -> dt.date:
    """The date a revision is "in force" on: today, or the date of ``ORDINANCE_NOW`` (which
    fixes the clock for tests and reproducible runs)."""
    fixed = os.environ.get("ORDINANCE_NOW")
    if fixed:
        try:
            return dt.date.fromisoformat(fixed[:10])
        except ValueError:
            pass
    return dt.date.today()


def edited_in_force(policy: Policy, tests: Path, on: dt.date | None = None) -> list[Diagnostic]:
    """A ``revision/edited-in-force`` warning for each revision in force on ``on`` whose files
    differ from its lock, located at the first file that differs (or the lock, for a file
    removed)."""
    on = on or today()
    out = []
    for jid, jur in sorted(policy.jurisdictions.items()):
        for rev in jur.revisions:
            lock = tests / jid / rev.id / LOCK
            # Only what this run compiled: `check policy/<city>` compiles that city alone, and a
            # revision not compiled has no layers to compare.
            if not (rev.encoded and rev.effective_on and rev.effective_on <= on
                    and lock.is_file() and (jid, rev.id) in policy.compiled):  # fmt: skip
                continue
            recorded = _read_lock(lock)
            if recorded is None:
                out.append(Diagnostic("revision/edited-in-force", f"`{lock}` is not a lock "
                                      "file ordinance wrote", Span(str(lock), 1, 1, 1, 1),
                                      severity="warning",
                                      help="write it again: `ordinance test --lock`"))  # fmt: skip
                continue
            now = _files(policy, jur, rev.id)
            changed = sorted(f for f in recorded.keys() | now.keys()
                             if recorded.get(f) != now.get(f))  # fmt: skip
            if not changed:
                continue
            first = changed[0]
            where = (jur.directory / first) if (jur.directory / first).is_file() else lock
            out.append(Diagnostic(
                "revision/edited-in-force",
                f"{jid} {rev.id} has been in force since {rev.effective_on}, and "
                f"{', '.join(f'`{f}`' for f in changed)} "
                f"{'differs' if len(changed) == 1 else 'differ'} from what its golden cases "
                f"were recorded against ({lock})",
                Span(str(where), 1, 1, 1, 1), severity="warning",
                help="change the law in force with a new revision (`ordinance revision new`); "
                "if this edit corrects the encoding, review the golden cases, say why in the "
                "revision's note, and record it: `ordinance test --lock`"))  # fmt: skip
    return out


def _read_lock(lock: Path) -> dict[str, str] | None:
    try:
        data = yaml.safe_load(lock.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        return None
    return {str(k): v for k, v in files.items()}


def rule_text_warnings(a: CompiledPolicy, b: CompiledPolicy,
                       changes: list[Change]) -> list[Diagnostic]:  # fmt: skip
    """``diff/rule-without-text`` and ``diff/text-without-rule`` for the changes from ``a``
    to ``b``, located at the section in the later revision's file."""
    text_changed = {c.what for c in changes if c.kind == "section"}
    by_section: dict[str, set[str]] = {}  # section citation -> the changed rules it defines
    shown: dict[str, str] = {}  # how the diff cites the section's changed rules
    defs_a, defs_b = definitions(a), definitions(b)
    for rid, cite in sorted(defs_a.keys() | defs_b.keys()):
        va, vb = defs_a.get((rid, cite)), defs_b.get((rid, cite))
        if va is None or vb is None or expression(va) != expression(vb):
            by_section.setdefault(cite, set()).add(rid)
            shown.setdefault(cite, (vb or va).citation)  # type: ignore[union-attr]
    fees = {c.what.split(":")[0] for c in changes if c.kind == "fee"}
    for (rid, cite), v in defs_b.items():
        if rid in fees:
            by_section.setdefault(cite, set()).add(rid)
            shown.setdefault(cite, v.citation)
    out = []
    for cite, rids in sorted(by_section.items()):
        if cite not in text_changed:
            out.append(_warning(b, a, cite, "diff/rule-without-text",
                                f"{_list(rids)} changed ({shown[cite]}), but the text of "
                                f"{cite} did not", "if the encoding is corrected, say so in "
                                "the revision's note; else the amended text is missing from "
                                "the section"))  # fmt: skip
    for cite in sorted(text_changed):
        sec = b.layered.sections.get(cite) or a.layered.sections.get(cite)
        defines = bool(sec and sec.rules)
        if defines and cite not in by_section and _both_in_force(a, b, cite):
            out.append(_warning(b, a, cite, "diff/text-without-rule",
                                f"the text of {cite} changed, but none of the rules it "
                                "defines did", "encode what the new text changes (or say in "
                                "the revision's note why nothing does)"))  # fmt: skip
    return out


def _both_in_force(a: CompiledPolicy, b: CompiledPolicy, cite: str) -> bool:
    sa, sb = a.layered.sections.get(cite), b.layered.sections.get(cite)
    return bool(sa and sb and sa.status == sb.status == "in_force")


def _list(rids: set[str]) -> str:
    names = sorted(rids)
    return ("rule " if len(names) == 1 else "rules ") + ", ".join(f"`{r}`" for r in names)


def _warning(b: CompiledPolicy, a: CompiledPolicy, cite: str, code: str, message: str,
             help: str) -> Diagnostic:  # fmt: skip
    sec = b.layered.sections.get(cite) or a.layered.sections.get(cite)
    span = sec.defined_by.origin.span() if sec is not None and sec.defined_by else None
    return Diagnostic(code, message, span, severity="warning", help=help)
