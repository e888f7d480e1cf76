"""Where a jurisdiction's parent layer comes from when it is not in the policy folder itself:
the folders of a search path, then the installed policy packages.

A city's repository holds its own jurisdiction (`extends:` a model-code layer) and nothing
else; the model codes it builds on are a layer found here. A policy package is any installed
distribution that declares an entry point in the group ``ordinance.policies`` (as OpenFisca's
country packages declare theirs), its name the jurisdiction id::

    [project.entry-points."ordinance.policies"]
    state = "state_codes"                  # a package whose folder holds jurisdiction.yaml
    county = "county_codes.paths:policy"   # a function giving that folder (or the folder above)

ordinance itself declares its bundled jurisdictions that way (pyproject.toml), so they are
found like anyone else's. The package and version become part of the layer's provenance.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a layer is looked for: a scan of every installed package
    import importlib.metadata

GROUP = "ordinance.policies"


@dataclass(frozen=True)
class Found:
    """A parent layer's folder and where it was found (``package`` is `name version`)."""

    folder: Path
    where: str
    package: str | None = None


@dataclass(frozen=True)
class LayerFinder:
    """Finds a parent jurisdiction by id: on ``search_path`` (each a policy folder holding one
    folder per jurisdiction, or one jurisdiction's folder), then, with ``packages``, among the
    installed policy packages."""

    search_path: tuple[Path, ...] = ()
    packages: bool = True
    # What went wrong with an installed package on the way (it is passed over, and said):
    # one that fails to import, or two that declare the same id.
    problems: list[str] = field(default_factory=list, compare=False)

    def find(self, jid: str) -> Found | None:
        for folder in self.search_path:
            for candidate in (folder / jid, folder):
                if (candidate / "jurisdiction.yaml").is_file() and candidate.name == jid:
                    return Found(candidate, f"the search path ({folder})")
        if not self.packages:
            return None
        declaring = [ep for ep in _entry_points() if ep.name == jid]
        if len(declaring) > 1:
            self.problems.append(
                f"`{jid}` is declared by several installed packages ("
                + ", ".join(_package(ep) or ep.value for ep in declaring)
                + f"); the first is used: {_package(declaring[0]) or declaring[0].value}"
            )
        for ep in declaring:
            found = _from_entry_point(ep, self.problems)
            if found is not None:
                return found
        return None

    def installed(self) -> list[str]:
        """The ids of the installed policy packages' jurisdictions."""
        return sorted({ep.name for ep in _entry_points()}) if self.packages else []

    def places(self) -> str:
        """Where ``find`` looked, for a diagnostic's help."""
        looked = [f"the search path {', '.join(str(p) for p in self.search_path)}"
                  ] if self.search_path else []  # fmt: skip
        if self.packages:
            names = sorted({f"{ep.name} ({_package(ep) or ep.value})" for ep in _entry_points()})
            looked.append("installed policy packages: " + (", ".join(names) or "none"))
        return "; ".join(looked + self.problems)


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    import importlib.metadata

    return importlib.metadata.entry_points(group=GROUP)


def _package(ep: importlib.metadata.EntryPoint) -> str | None:
    dist = ep.dist
    return f"{dist.name} {dist.version}" if dist is not None else None


def _from_entry_point(ep: importlib.metadata.EntryPoint, problems: list[str]) -> Found | None:
    """The folder an entry point names. A package that cannot be imported, or names no folder
    with the jurisdiction, is passed over, and ``problems`` says why (the help of the parent
    not found shows it, so the package's author sees what went wrong)."""
    who = _package(ep) or ep.value
    try:
        target = ep.load()
    except Exception as e:  # an installed package that is broken: not ours to crash on
        problems.append(f"the package {who} declares `{ep.name}` but fails to import: "
                        f"{type(e).__name__}: {e}")  # fmt: skip
        return None
    folder = _folder_of(target)
    if folder is not None:
        for candidate in (folder, folder / ep.name):
            if (candidate / "jurisdiction.yaml").is_file():
                return Found(candidate, f"the package {who}", _package(ep))
    problems.append(f"the package {who} declares `{ep.name}` (`{ep.value}`) but names no "
                    f"folder with a jurisdiction.yaml")  # fmt: skip
    return None


def _folder_of(target: object) -> Path | None:
    if isinstance(target, ModuleType):
        file = getattr(target, "__file__", None)
        return Path(file).parent if file else None
    if isinstance(target, str | os.PathLike):
        return Path(target)
    if callable(target):
        call: Callable[[], object] = target
        try:
            got = call()
        except Exception:
            return None
        return Path(got) if isinstance(got, str | os.PathLike) else None
    return None
