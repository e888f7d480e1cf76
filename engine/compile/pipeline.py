"""The compile pipeline over a policy folder: every jurisdiction read, layered over its parents
and compiled, one revision at a time, in the order ``engine.compile.STAGES`` gives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from dsl.nodes import Node
from dsl.parse import parse_expression
from engine.compile.compiler import compile_policy
from engine.compile.find import LayerFinder
from engine.compile.layer import apply_layers
from engine.compile.read import read_jurisdiction
from engine.diagnostics import Collector, Diagnostic
from engine.model import JurisdictionDef, RevisionInfo
from engine.run.program import CompiledPolicy


@dataclass
class Compiled:
    """What a policy folder compiles to: its jurisdictions, each encoded revision that compiled,
    and every diagnostic (errors and warnings), sorted and each reported once."""

    root: Path
    jurisdictions: dict[str, JurisdictionDef] = field(default_factory=dict)
    # Parents found outside the folder (search path, installed packages): layered under the
    # folder's jurisdictions, not compiled on their own.
    layers: dict[str, JurisdictionDef] = field(default_factory=dict)
    finder: LayerFinder = field(default_factory=LayerFinder)
    compiled: dict[tuple[str, str], CompiledPolicy] = field(default_factory=dict)
    out: Collector = field(default_factory=Collector)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        # A parent layer is compiled under each child: report each of its problems once.
        return sorted(dict.fromkeys(self.out.items), key=Diagnostic.sort_key)


def compile_folder(root: Path, finder: LayerFinder | None = None) -> Compiled:
    """Read and compile every jurisdiction under ``root`` (the policy root, holding one folder
    per jurisdiction, or one jurisdiction's folder, which is compiled alone).

    A parent that ``extends`` names and the folder does not hold is looked for by ``finder``
    (default: the installed policy packages), and read as a layer."""
    only = None
    if (root / "jurisdiction.yaml").is_file():
        only, root = root.name, root.parent
    result = Compiled(root)
    out = result.out
    for folder in sorted(p for p in root.iterdir() if (p / "jurisdiction.yaml").is_file()):
        jur = read_jurisdiction(folder, out)
        if jur is not None:
            result.jurisdictions[jur.id] = jur
    if not result.jurisdictions and not out.errors:
        out.add(
            "policy/empty",
            f"no jurisdiction under `{root}`",
            help="a jurisdiction is a folder with a `jurisdiction.yaml`",
        )
    result.finder = finder or LayerFinder()
    if not out.errors:
        _find_layers(result, out)
    # Stop at the stage boundary: a file that did not load would make every reference to what
    # it declares look like a second error.
    if out.errors:
        return result
    known = {**result.layers, **result.jurisdictions}
    # A parent layer's expressions are compiled again under each child and each revision:
    # parse each text once (parsing is most of a compile; a tree is immutable, and each
    # compile type-checks it under its own scope into its own table).
    parse = cache(parse_expression)
    for jid in [only] if only else sorted(result.jurisdictions):
        if jid in result.jurisdictions:
            _compile_jurisdiction(known, result.compiled, result.jurisdictions[jid], out,
                                  result.finder, parse)  # fmt: skip
    return result


def _find_layers(result: Compiled, out: Collector) -> None:
    """Read each parent the folder's jurisdictions extend but do not hold, and theirs."""
    known = dict(result.jurisdictions)
    todo = list(known.values())
    while todo:
        child = todo.pop()
        pid = child.extends
        if pid is None or pid in known:
            continue
        seen = len(result.finder.problems)
        found = result.finder.find(pid)
        for problem in result.finder.problems[seen:] if found is not None else ():
            out.add("policy/layer-package", problem, child.origin.doc.span(("extends",)),
                    severity="warning", help="uninstall the package you do not mean")  # fmt: skip
        if found is None:
            continue  # `layer_chain` reports it, with where it looked
        parent = read_jurisdiction(found.folder, out, package=found.package,
                                   expected=pid if found.package else None)  # fmt: skip
        if parent is None:
            continue
        known[pid] = result.layers[pid] = parent
        todo.append(parent)


def _compile_jurisdiction(
    jurisdictions: dict[str, JurisdictionDef],
    compiled: dict[tuple[str, str], CompiledPolicy],
    jur: JurisdictionDef,
    out: Collector,
    finder: LayerFinder,
    parse: Callable[[str], Node],
) -> None:
    for rev in jur.revisions:
        if not rev.encoded or rev.id not in jur.content:
            continue
        chain = layer_chain(jurisdictions, jur, rev, out, finder)
        if chain is None:
            continue
        layered = apply_layers(chain, out)
        program = compile_policy(layered, out, parse)
        if program is not None:
            compiled[(jur.id, rev.id)] = program


def layer_chain(
    jurisdictions: dict[str, JurisdictionDef],
    jur: JurisdictionDef,
    rev: RevisionInfo,
    out: Collector,
    finder: LayerFinder,
) -> list[tuple[JurisdictionDef, RevisionInfo]] | None:
    """The layers under ``jur`` at ``rev``, root first: each parent at its revision in force on
    the date ``rev`` takes effect (None, reported in ``out``, when the chain is broken)."""
    chain = [(jur, rev)]
    seen = {jur.id}
    day = rev.effective_on
    while chain[0][0].extends:
        child = chain[0][0]
        pid = child.extends
        assert pid is not None
        if pid in seen or pid not in jurisdictions:
            out.add(
                "policy/unknown-parent",
                f"`{child.id}` extends `{pid}`, which "
                + ("extends it back" if pid in seen else "is not a jurisdiction here"),
                child.origin.doc.span(("extends",)),
                help=(
                    "make the chain of `extends` end at a model code"
                    if pid in seen
                    else f"known jurisdictions: {', '.join(sorted(jurisdictions))}; looked in "
                    f"this folder, {finder.places()}; add the folder that holds `{pid}` "
                    "to `path` in ordinance.toml, or install its package"
                ),
            )
            return None
        parent = jurisdictions[pid]
        seen.add(pid)
        revs = sorted(
            (
                r
                for r in parent.revisions
                if r.encoded and r.effective_on and day and r.effective_on <= day
            ),
            key=lambda r: r.effective_on or dt.date.min,
        )
        if not revs:
            out.add(
                "policy/no-parent-revision",
                f"`{pid}` has no encoded revision in force on "
                f"{day}, when `{jur.id}` {rev.id} takes effect",
                child.origin.doc.span(("extends",)),
            )
            return None
        chain.insert(0, (parent, revs[-1]))
    return chain
