"""The language server's checks (``engine.tools.lsp``): one jurisdiction's folder compiled as
``ordinance check policy/<id>`` compiles it, with the unsaved text of the open files read in
place of what is on disk; its diagnostics by the file they are in, and the index that hover,
definition and completion read.

A check is skipped when nothing it reads has changed since the last one (the same unsaved
texts, the same files on disk), so opening a file of an already checked policy costs nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.api import Policy, load_policy
from engine.compile.load import unsaved_text
from engine.diagnostics import SOURCE_MAX_BYTES, Diagnostic, OrdinanceError
from engine.project import discover, require_folders
from engine.source import read_bounded
from engine.tools.history import edited_in_force
from engine.tools.lsp_index import Index, build_index

# A check whose stage stops before layering leaves half the declarations out: its index is
# not used while an older, complete one is there (hover keeps working on a broken file).
_PARTIAL = ("load/", "schema/", "project/")


def jurisdiction_folder(file: Path) -> Path | None:
    """The jurisdiction folder a policy file belongs to (the nearest holding a
    ``jurisdiction.yaml``); None for a file of no policy."""
    for folder in file.parents:
        if (folder / "jurisdiction.yaml").is_file():
            return folder
    return None


def read_text(file: Path) -> str | None:
    """A file's text as a diagnostic's position counts it, or None when it cannot be read."""
    try:
        return (
            read_bounded(file, SOURCE_MAX_BYTES).decode("utf-8", "replace").removeprefix("\ufeff")
        )
    except (OSError, ValueError):
        return None


@dataclass
class Snapshot:
    """One check of one jurisdiction's folder."""

    folder: Path
    key: Any  # what it read: the unsaved texts that differ from disk, and the files on disk
    diagnostics: dict[Path, list[Diagnostic]]
    policy: Policy | None
    complete: bool
    indexes: dict[str | None, Index | None] = field(default_factory=dict)

    @property
    def jid(self) -> str | None:
        """The id of the jurisdiction this folder holds."""
        if self.policy is None:
            return None
        known = {**self.policy.layers, **self.policy.jurisdictions}
        return next((j for j, d in known.items() if d.directory.resolve() == self.folder), None)

    def layers(self) -> set[str]:
        """The ids of the jurisdictions this one is layered on (a change to one of them
        changes what this one means)."""
        if self.policy is None:
            return set()
        known = {**self.policy.layers, **self.policy.jurisdictions}
        out: set[str] = set()
        jur = known.get(self.jid or "")
        while jur is not None and jur.extends and jur.extends not in out:
            out.add(jur.extends)
            jur = known.get(jur.extends)
        return out

    def index(self, revision: str | None) -> Index | None:
        """The index of this jurisdiction at ``revision`` (default: its latest), built once."""
        if revision not in self.indexes:
            jid = self.jid
            self.indexes[revision] = (
                build_index(self.policy, jid, revision)
                if (self.policy is not None and jid is not None)
                else None
            )
        return self.indexes[revision]


class Checker:
    """The last check of every jurisdiction folder the editor has opened a file of."""

    def __init__(self) -> None:
        self.snapshots: dict[Path, Snapshot] = {}
        # The server checks on a worker thread and answers hovers on another: one check at a
        # time (a hover on a folder never checked checks it, after the running one).
        self.lock = threading.Lock()

    def check(self, folder: Path, texts: Mapping[Path, str]) -> Snapshot:
        """Check ``folder`` with ``texts`` (file → unsaved text) read instead of the files."""
        folder = folder.resolve()
        with self.lock:
            unsaved = _unsaved(folder.parent, texts)
            key = (frozenset(unsaved.items()), _disk_state(folder.parent))
            old = self.snapshots.get(folder)
            if old is not None and old.key == key:
                return old
            policy, diags = _run_check(folder, unsaved)
            snap = Snapshot(folder, key, _by_file(folder, diags), policy,
                            not any(d.code.startswith(_PARTIAL) for d in diags))  # fmt: skip
            if old is not None and not snap.complete and old.complete:
                snap.policy, snap.indexes = old.policy, old.indexes
            self.snapshots[folder] = snap
            return snap

    def snapshot(self, folder: Path, texts: Mapping[Path, str]) -> Snapshot:
        """The last check of ``folder``, made now if there is none yet."""
        found = self.snapshots.get(folder.resolve())  # read without the lock: a hover does
        return found if found is not None else self.check(folder, texts)  # not wait for a check

    def diagnostics_for(self, file: Path) -> list[Diagnostic]:
        """What every check found in ``file``, each problem once (the checks of two
        jurisdictions both report a file of a layer they share, or of one that does not load)."""
        found = [d for s in list(self.snapshots.values()) for d in s.diagnostics.get(file, [])]
        return list(dict.fromkeys(found))


def _unsaved(root: Path, texts: Mapping[Path, str]) -> dict[Path, str]:
    """The open files under the policy root whose text differs from the file's."""
    out = {}
    for path, text in texts.items():
        path = path.resolve()
        if root in path.parents and read_text(path) != text:
            out[path] = text
    return out


def _disk_state(root: Path) -> tuple[tuple[str, int, int], ...]:
    """The policy files under ``root`` with their times and sizes: a change on disk (a `git
    checkout`, another editor) is checked again, an unchanged folder is not."""
    out = []
    for jur in root.glob("*/jurisdiction.yaml"):  # only jurisdictions' folders are looked in
        for path in [jur, *jur.parent.glob("*/*.yaml")]:
            try:
                info = os.stat(path)
            except OSError:
                continue
            out.append((str(path), info.st_mtime_ns, info.st_size))
    return tuple(sorted(out))


def _run_check(folder: Path, unsaved: Mapping[Path, str]) -> tuple[Policy | None, list[Diagnostic]]:
    """``ordinance check`` of ``folder``: its policy and diagnostics, never an exception for
    what a file says (a refused configuration is its diagnostics)."""
    try:
        project = discover(folder, start=folder)
        require_folders(project)
        # Not from the cache, nor into it: its key is the files on disk, and an editor's
        # unsaved text is not on disk.
        with unsaved_text(unsaved):
            policy = load_policy(folder, strict=False, search_path=project.search_path,
                                 cache=False)  # fmt: skip
        return policy, [*policy.diagnostics, *edited_in_force(policy, project.tests)]
    except OrdinanceError as exc:
        return None, exc.diagnostics


def _by_file(folder: Path, diags: list[Diagnostic]) -> dict[Path, list[Diagnostic]]:
    """The diagnostics of checking ``folder`` by the (resolved) file they are in; one with no
    place goes on the folder's ``jurisdiction.yaml``. Every file is kept, a sibling's too: a
    check reads every jurisdiction of the policy folder, and one that does not load stops it,
    so the author must see why (the sibling's own check says the same, and is shown once)."""
    out: dict[Path, list[Diagnostic]] = {}
    for d in diags:
        file = Path(d.span.file).resolve() if d.span else folder / "jurisdiction.yaml"
        out.setdefault(file, []).append(d)
    return out
