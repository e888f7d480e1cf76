"""Pipeline stage 9b, docs output: the files of one site build → written under ``out``.

A rebuild removes only what the previous build listed in its manifest (``out/.ordinance-site.json``)
and refuses anything else with ``cli/unsafe-output``: a folder we did not write, a manifest naming
paths outside ``out``, a symbolic link on the way to a file. ``out`` itself being a symbolic link is
refused too (give the folder it points to): nothing is written or deleted through a link.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

from engine.diagnostics import Diagnostic, OrdinanceError, Span

MANIFEST = ".ordinance-site.json"
GENERATOR = "ordinance docs build"  # the manifest's marker: this folder is ours to rewrite
HELP = "give an empty or new folder, such as build/site-src"
LINK = "give the folder the link points to, or an empty or new folder"


def write_site(out: Path, files: dict[str, bytes]) -> list[Path]:
    """Replace the previous build under ``out`` with ``files`` (relative POSIX path → bytes).

    Everything is checked before anything is removed, and the manifest is written before the
    files, so an interrupted build is still ours to clean up on the next run.
    """
    _check_out(out)
    old = _read_manifest(out)
    for rel in [*old, *files]:
        _check_path(out, rel)
    for rel in sorted(set(files) - set(old)):
        if os.path.lexists(out / rel):
            _refuse(f"`{out / rel}` is in the way and was not written by an earlier build")
    _remove(out, [*old, MANIFEST])
    manifest = {"generator": GENERATOR, "files": sorted(files)}
    _write(out / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    for rel, data in sorted(files.items()):
        _write(out / rel, data)
    return [out / rel for rel in sorted(files)]


def _refuse(message: str, span: Span | None = None, help: str = HELP) -> NoReturn:
    raise OrdinanceError([Diagnostic("cli/unsafe-output", message, span, help=help)])


def _check_out(out: Path) -> None:
    if out.is_symlink():
        _refuse(f"`{out}` is a symbolic link; the site is never written through one", help=LINK)
    if out.exists() and not out.is_dir():
        _refuse(f"`{out}` is not a folder")


def _read_manifest(out: Path) -> list[str]:
    """The files the previous build wrote; none for a new or empty folder."""
    if not out.exists() or not any(out.iterdir()):
        return []
    path = out / MANIFEST
    if path.is_symlink() or not path.is_file():
        _refuse(f"`{out}` is not empty and holds no earlier site build (no `{MANIFEST}`)")
    files = _listed(path)
    if files is None:
        where = Span(str(path), 1, 1, 1, 2)
        _refuse(f"`{path}` is not the manifest of an earlier site build", where)
    return files


def _listed(path: Path) -> list[str] | None:
    """The files a manifest lists, or None when it is not one of ours."""
    try:
        data: Any = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("generator") != GENERATOR:
        return None
    files = data.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return files


def _check_path(out: Path, rel: str) -> None:
    """``rel`` names a regular file (or nothing yet) under ``out``, reached through no link."""
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or ".." in parts or "\\" in rel:
        _refuse(f"`{rel}` is outside `{out}`")
    # A build writes no hidden file (`.git/config`) and no name the system cannot hold: a
    # manifest naming one was not written by us.
    if "\0" in rel or any(p.startswith(".") or len(p.encode("utf-8", "replace")) > 255
                           for p in parts):  # fmt: skip
        _refuse(f"`{rel}` is not a file the site build writes")
    here = out
    try:
        for part in parts:
            here = here / part
            if here.is_symlink():
                _refuse(f"`{here}` is a symbolic link; the site is never written through one")
        if here.exists() and not here.is_file():
            _refuse(f"`{here}` is not a file the site build wrote")
    except OSError as exc:  # a path too long for the system, or a folder we may not read
        _refuse(f"`{here}` cannot be checked: {exc.strerror}")


def _remove(out: Path, files: list[str]) -> None:
    """Delete ``files``, then each folder they were in that is left empty (never ``out``)."""
    folders: set[Path] = set()
    for rel in files:
        path = out / rel
        path.unlink(missing_ok=True)
        folders.update(p for p in path.parents if out in p.parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _write(path: Path, data: bytes) -> None:
    """Create ``path`` anew: ``O_EXCL`` fails on any file or link already there, so a link
    placed after the checks is still never followed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
