"""The compiled-policy cache: what ``load_policy`` compiled from a policy folder, saved in the
user's cache folder and loaded instead of compiling when nothing it was made from has changed.

It is trusted as Python trusts a ``.pyc`` file: an entry is used only when its key matches, and
the key is a SHA-256 over every policy file the compile read (bytes and path, the parent layers
found outside the folder included), the listing of every folder a compile looks into (so an
added or removed file counts), this engine's own source files (path, size and time of change:
another version or an edited checkout is another engine) and the Python version. Anything else
(a missing, corrupt, foreign or unreadable entry) is a miss: the policy is compiled and saved
again, never a traceback. Pickle is read only from a folder this user owns and no one else may
write (made 0700); entries are written whole (a temporary file, then ``os.replace``).

Loading imports none of the compile-time libraries (PyYAML, jsonschema, Lark, networkx): the
closures are rebuilt from their checked trees (``dsl.recipe``), the graph only when a tool asks.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsl.recipe import Recipes, dump
from engine.diagnostics import Diagnostic
from engine.model import JurisdictionDef
from engine.run.program import CompiledPolicy

FORMAT = 1  # the layout of an entry; bumped when it changes
_HERE = Path(__file__).resolve().parent
_ENGINE_SOURCES = (_HERE, _HERE.parent / "dsl")
# Libraries whose results an entry holds as data: a calendar's holidays (engine/run/calendar.py)
_CARRIED_LIBRARIES = ("holidays",)


@dataclass
class Saved:
    """What a cache entry holds: the parts of a ``Policy`` (``engine.api``) that compiling
    made."""

    root: Path
    jurisdictions: dict[str, JurisdictionDef]
    layers: dict[str, JurisdictionDef]
    compiled: dict[tuple[str, str], CompiledPolicy]
    diagnostics: list[Diagnostic]


def enabled() -> bool:
    """False when ``ORDINANCE_NO_CACHE`` is set to anything but ``0`` or the empty string."""
    return os.environ.get("ORDINANCE_NO_CACHE", "") in ("", "0")


def cache_dir() -> Path:
    """``$ORDINANCE_CACHE_DIR``, else ``$XDG_CACHE_HOME/ordinance``, else
    ``~/.cache/ordinance`` (where the XDG base directory specification puts a user's caches)."""
    own = os.environ.get("ORDINANCE_CACHE_DIR")
    if own:
        return Path(own)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path(os.path.expanduser("~/.cache"))
    return base / "ordinance"


def engine_version() -> str:
    """This engine and interpreter: the format, the Python version, the path, size and time of
    change of every source file of ``engine`` and ``dsl`` (a stat each, about a millisecond),
    and the version of each library whose data an entry carries (the holiday tables of a
    calendar): an upgrade or an edited checkout never reads what another engine saved."""
    h = hashlib.sha256(f"{FORMAT} {sys.version} {sys.implementation.cache_tag}".encode())
    for name in _CARRIED_LIBRARIES:
        h.update(_library_version(name))
    for top in _ENGINE_SOURCES:
        for folder, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                if name.endswith((".py", ".lark", ".json")):
                    st = os.stat(os.path.join(folder, name))
                    h.update(f"{folder}/{name} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _library_version(name: str) -> bytes:
    """The text of an installed package's ``version.py``, found without importing the package
    (``holidays`` takes a fifth of a second to import); its absence counts as a version."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
        places = list(spec.submodule_search_locations or ()) if spec else []
        return b"".join(Path(p, "version.py").read_bytes() for p in places) or b"-"
    except (ImportError, OSError, ValueError):
        return b"-"


def load(root: Path, search_path: tuple[Path, ...]) -> Saved | None:
    """The saved compile of ``root`` if it is still what compiling would give, else None."""
    try:
        folder = _private_dir(create=False)
        if folder is None:
            return None
        index = folder / (_location(root, search_path) + ".index")
        with open(index, "rb") as f:
            watched, digest = pickle.load(f)
        if _digest(watched) != digest:
            return None
        entry = folder / (digest + ".policy")
        with open(entry, "rb") as f:
            saved = _unpickle(f.read())
        if not isinstance(saved, Saved):
            return None
        for used in (index, entry):  # in use: not pruned (``_prune``)
            os.utime(used)
    except Exception:  # a corrupt pickle raises what it likes: rebuild
        return None
    return saved


def _unpickle(data: bytes) -> Any:
    """``data`` unpickled with the collector paused: loading makes some 10^5 objects, none of
    them garbage, and each collection it would trigger walks them all again."""
    was = gc.isenabled()
    gc.disable()
    try:
        return pickle.loads(data)
    finally:
        if was:
            gc.enable()


def save(saved: Saved, search_path: tuple[Path, ...], recipes: Recipes, given: Path) -> None:
    """Save ``saved`` (compiled from ``given``) for the next ``load``; a cache that cannot be
    written (a read-only home, a closure without a recipe) is silently not written."""
    try:
        folder = _private_dir(create=True)
        if folder is None:
            return
        watched = watched_paths(saved, search_path, given)
        digest = _digest(watched)
        _write(folder / (digest + ".policy"), lambda f: dump(saved, f, recipes))
        index = folder / (_location(given, search_path) + ".index")
        old = _old_digest(index)
        _write(index, lambda f: pickle.dump((watched, digest), f, pickle.HIGHEST_PROTOCOL))
        if old is not None and old != digest:  # keep one entry per policy folder
            (folder / (old + ".policy")).unlink(missing_ok=True)
        _prune(folder)
    except (OSError, pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return


def watched_paths(saved: Saved, search_path: tuple[Path, ...], given: Path
                  ) -> tuple[tuple[str, str], ...]:  # fmt: skip
    """What the compile of ``given`` read: ("file", path) for each policy file, ("dir", path)
    for each folder whose listing it went by (the policy root, the search path, each revision's
    folder), after ("load", where ``given`` is as ``_location`` names it): one jurisdiction's
    folder reads the same files as the whole policy but compiles that jurisdiction alone, and a
    folder given relative shows other paths than given absolute: neither shares an entry."""
    out = [("dir", saved.root), *(("dir", p) for p in search_path)]
    every = {**saved.layers, **saved.jurisdictions}
    for jid in sorted(every):
        jur = every[jid]
        out.append(("file", jur.directory / "jurisdiction.yaml"))
        for rev in sorted(jur.content):
            out.append(("dir", jur.directory / rev))
            out += [("file", Path(f)) for f in sorted(map(str, jur.content[rev].files))]
    where = ("load", _location(given, search_path))
    return (where, *((kind, os.path.abspath(path)) for kind, path in out))


def _digest(watched: tuple[tuple[str, str], ...]) -> str:
    h = hashlib.sha256(engine_version().encode())
    for kind, path in watched:
        h.update(f"\0{kind} {path}\0".encode())
        if kind == "file":
            h.update(Path(path).read_bytes())
        elif kind == "dir":
            h.update("\0".join(sorted(_listing(Path(path)))).encode())
    return h.hexdigest()


def _listing(folder: Path) -> list[str]:
    """The names in ``folder`` (an absent folder lists nothing: a search-path entry may come)."""
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


def _location(root: Path, search_path: tuple[Path, ...]) -> str:
    """The index's name: which folder was loaded, with which search path, each as spelt and
    where it leads, from which working directory: the paths a compile's files and diagnostics
    show are as it was given them, relative to the working directory where they are under it
    (``engine.source.display_path``), so any of these makes another compile."""
    given = "\0".join(f"{p}\0{p.absolute()}" for p in (root, *search_path))
    where = f"{os.getcwd()}\0{given}"
    return hashlib.sha256(where.encode()).hexdigest()[:32]


UNUSED_DAYS = 30


def _prune(folder: Path) -> None:
    """Remove the entries no load has used for ``UNUSED_DAYS`` (a load touches what it reads):
    the policy folders of finished tests, of temporary copies, of deleted projects; and the
    temporary file of a writer that died, after a day."""
    import time

    now = time.time()
    for entry in os.scandir(folder):
        days = UNUSED_DAYS if entry.name.endswith((".index", ".policy")) else 1
        if (entry.name.startswith(".tmp-") or days == UNUSED_DAYS) and (
            entry.stat().st_mtime < now - days * 86400
        ):
            os.unlink(entry.path)


def _old_digest(index: Path) -> str | None:
    try:
        with open(index, "rb") as f:
            _, digest = pickle.load(f)
        return digest if isinstance(digest, str) and digest.isalnum() else None
    except Exception:  # an unreadable old index is simply replaced
        return None


def _private_dir(create: bool) -> Path | None:
    """The cache folder, made 0700 when ``create``; None when it is absent or someone else may
    write to it (then pickle is not read from it, nor written)."""
    folder = cache_dir()
    if not folder.is_absolute():  # no home to expand `~` to (and no ORDINANCE_CACHE_DIR)
        return None
    if create:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        st = folder.stat()
    except OSError:
        return None
    owned = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    if not stat.S_ISDIR(st.st_mode) or not owned or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    return folder


def _write(path: Path, write: Any) -> None:
    """Write ``path`` whole or not at all: a reader never sees half an entry."""
    import tempfile  # only a miss writes

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def graph_from_data(data: tuple[list[Any], list[Any]]) -> Any:
    """The dependency graph of a program loaded from the cache, from its saved nodes and edges
    (in their order: iteration is as after a compile). Only the tools that draw it ask."""
    import networkx as nx

    nodes, edges = data
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    return graph


CompiledPolicy.graph_from_data = graph_from_data
