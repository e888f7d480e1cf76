"""The engine and the language know no jurisdiction: every city lives in policy/."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine import load_policy
from tests.conftest import ROOT


def test_no_jurisdiction_is_named_in_engine_or_dsl() -> None:
    ids = [p.name for p in (ROOT / "policy").iterdir() if (p / "jurisdiction.yaml").is_file()]
    assert {"kent", "houston", "generic"} <= set(ids)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, ids)) + r")\b", re.I)
    found = []
    for path in [*(ROOT / "engine").rglob("*.py"), *(ROOT / "dsl").rglob("*.py")]:
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if line.strip().startswith((">>>", "...")):
                continue  # doctest examples run against the bundled policy
            # typing.Generic is Python's, not the model-code jurisdiction.
            line = re.sub(r"\bGeneric\b(?=\[)|(?<=from typing import )(.*)\bGeneric\b", r"\1",
                          line)  # fmt: skip
            if pattern.search(line):
                found.append(f"{path.name}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


# The import contract (issue 10). Three rooms (and the service's, issue 13, below):
# ``engine.compile`` (policy files to a compiled program; the only home of the compile-time
# libraries), ``engine.run`` (a compiled program and a case to a result) and ``engine.tools``
# (programs on the public API that nothing imports); the shared modules at the top of
# ``engine`` and the language in ``dsl`` serve them all.
COMPILE_TIME = frozenset({"yaml", "jsonschema", "lark", "networkx"})
SHARED = ("engine.model", "engine.source", "engine.diagnostics", "engine.result",
          "engine.render", "engine.answer", "engine.text_page", "engine.html_page",
          "engine.values", "engine.printable", "engine.paths", "engine.addresses")  # fmt: skip
# dsl modules the run time may load: the closures and their values (parsing is compile time).
DSL_RUN = ("dsl", "dsl.compile", "dsl.columns", "dsl.values", "dsl.nodes", "dsl.typesys",
           "dsl.errors", "dsl.typecheck", "dsl.builtins", "dsl.semantics")  # fmt: skip


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function (a lazy import is still a
    dependency), leaving out what only ``if TYPE_CHECKING:`` imports (annotations only)."""
    tree = ast.parse(path.read_text("utf-8"))
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
            and _is_type_checking(node.test) for n in ast.walk(node)}  # fmt: skip
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            # `from engine.run import bulk` imports the module engine.run.bulk
            found |= {f"{node.module}.{a.name}" for a in node.names} & known
    return found


def _graph() -> dict[str, set[str]]:
    files = [*(ROOT / "engine").rglob("*.py"), *(ROOT / "dsl").rglob("*.py")]
    known = {_module_name(p) for p in files}
    return {_module_name(p): _imports(p, known) for p in files}


GRAPH = _graph()


ROOMS = (["engine", "compile"], ["engine", "run"], ["engine", "tools"], ["engine", "service"])


def _room(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[:2] in ROOMS else module


def _closure(start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        m = stack.pop()
        if m in seen:
            continue
        seen.add(m)
        stack.extend(GRAPH.get(m, ()))
        parent = m.rpartition(".")[0]  # importing a.b.c runs a/__init__ and a/b/__init__
        if parent:
            stack.append(parent)
    return seen


def test_the_graph_sees_every_room() -> None:
    """The contract below means something only if the walk finds the modules and imports."""
    assert {"engine.run.program", "engine.compile.compiler", "engine.tools.cli"} <= GRAPH.keys()
    assert "networkx" in GRAPH["engine.compile.graph"]
    assert "engine.run.bulk" in GRAPH["engine.api"]  # `from engine.run import bulk`
    assert "networkx" not in GRAPH["engine.run.program"]  # imported for annotations only


def test_the_run_time_imports_no_compile_time_library() -> None:
    runtime = [m for m in GRAPH if _room(m) == "engine.run" or m in SHARED or m in DSL_RUN]
    bad = {m: sorted(x for x in _closure(m) if x.split(".")[0] in COMPILE_TIME)
           for m in runtime}  # fmt: skip
    assert not {m: b for m, b in bad.items() if b}


def test_each_room_imports_only_the_rooms_it_may() -> None:
    may = {
        "engine.run": ("engine.run", "dsl"),
        "engine.compile": ("engine.compile", "engine.run", "dsl"),
        "shared": ("dsl",),
        # The decision service (issue 13) serves the public API over HTTP and keeps its log and
        # the registry in SQL; it may use every room but the tools.
        "engine.service": (
            "engine.service",
            "engine.api",
            "engine.compile",
            "engine.run",
            "engine.certificates",
            "engine.sqlstore",
            "engine.project",  # the policy a service loads is found as the CLI finds it
            "dsl",
        ),
    }
    found = []
    for module, imports in GRAPH.items():
        room = _room(module)
        kind = room if room in may else "shared" if module in SHARED else None
        if kind is None:
            continue
        for x in imports:
            if x.split(".")[0] not in ("engine", "dsl") or x in SHARED or x == "engine":
                continue
            if not x.startswith(may[kind]):
                found.append(f"{module} imports {x}")
    assert not found, "\n".join(sorted(found))


def test_nothing_imports_the_tools() -> None:
    found = [f"{m} imports {x}" for m, xs in GRAPH.items() for x in xs
             if x.startswith("engine.tools") and _room(m) != "engine.tools"]  # fmt: skip
    assert not found, "\n".join(found)


def test_only_the_tools_import_the_service() -> None:
    found = [f"{m} imports {x}" for m, xs in GRAPH.items() for x in xs
             if x.startswith("engine.service") and _room(m) not in ("engine.service",
                                                                    "engine.tools")]  # fmt: skip
    assert not found, "\n".join(found)


def test_no_import_cycles() -> None:
    """Not even through a lazy import: a cycle means neither module can be understood (or
    moved) without the other."""
    inner = {m: {x for x in xs if x in GRAPH and x != m} for m, xs in GRAPH.items()}
    cycles = []
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for x in sorted(inner[m]):
            if state.get(x) == 1:
                cycles.append(" → ".join([*path[path.index(x) :], x]))
            elif x not in state:
                visit(x, [*path, x])
        state[m] = 2

    for m in sorted(inner):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(cycles)


def test_each_stage_imports_no_later_stage() -> None:
    from engine.compile import STAGES

    modules = [s.module for s in STAGES]
    assert [s.name for s in STAGES] == ["load", "validate", "model", "layer", "check", "graph",
                                        "compile"]  # fmt: skip
    assert set(modules) <= GRAPH.keys()
    found = [f"stage {s.name} ({s.module}) imports the later {later}"
             for i, s in enumerate(STAGES) for later in modules[i + 1:]
             if later in _closure(s.module) and later != s.module]  # fmt: skip
    assert not found, "\n".join(found)


# Run in a fresh interpreter: compile the bundled policy (or load it from a warm compiled-policy
# cache, engine/cache.py: then not even the load may import a compile-time library, nor the
# holiday library), then evaluate cases of every jurisdiction every way the API offers while a
# profiler records each function called. A compile-time library on the run path shows up as a
# call into its files, or as a new import of it or of a compile stage (the run time's own modules
# may load on first use: the column path on the first bulk call, the HTML page's XML builder).
RUN_PATH = r"""
import json, sys
from pathlib import Path
import engine
assert not {m.split(".")[0] for m in sys.modules} & LIBS, "import engine loaded a library"
policy = engine.load_policy(cache=CACHED)
if CACHED:
    loaded = {m.split(".")[0] for m in sys.modules} & (LIBS | {"holidays"})
    assert not loaded, f"a load from the cache imported {loaded}"
from engine.compile.load import read_case
from engine.render import RENDERERS, RenderContext
cases = [read_case(p) for p in sorted(Path("tests/golden").rglob("*.yaml"))[::3]]
dicts = [{"jurisdiction": c.jurisdiction, "as_of": c.as_of, "facts": c.facts}
         for c in cases if c.revision is None and c.as_of]
roots = {m.__file__.rpartition("/")[0] for n, m in list(sys.modules.items())
         if n in LIBS and getattr(m, "__file__", None)}
called = set()
def profile(frame, event, arg):
    if event == "call":
        called.add(frame.f_code.co_filename)
    elif event == "c_call":
        called.add(str(getattr(arg, "__module__", "")))
before = set(sys.modules)
sys.setprofile(profile)
for case in cases:
    result = policy.evaluate(case)
    jur = policy.jurisdictions[result.jurisdiction]
    for render in RENDERERS.values():
        render(result, RenderContext(jur.title, result.revision))
    policy.values(case)
policy.values_many(dicts)
policy.values_many([d for d in dicts if d["jurisdiction"] == "kent"], ["permit.expires_on"])
sys.setprofile(None)
new = sorted(m for m in set(sys.modules) - before
             if m.split(".")[0] in LIBS or m.startswith(COMPILING))
hits = sorted(f for f in called if any(f.startswith(r) for r in roots)
              or f.split(".")[0] in LIBS)
print(json.dumps({"cases": len(cases), "new_imports": new, "calls": hits[:20]}))
"""


@pytest.mark.parametrize("cached", [False, True], ids=["compiled", "cached"])
def test_the_run_path_calls_no_compile_time_library(cached: bool) -> None:
    if cached:
        load_policy()  # fills the session's cache (tests/conftest.py), which the child reads
    stages = ("engine.compile", "dsl.parse")
    code = f"LIBS = {set(COMPILE_TIME)!r}\nCACHED = {cached}\nCOMPILING = {stages!r}\n" + RUN_PATH
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["cases"] > 40
    assert report == {"cases": report["cases"], "new_imports": [], "calls": []}


# `ordinance eval` in a fresh interpreter, the cache warm: what it imports besides the run time.
EVAL_IMPORTS = r"""
import json, sys
from engine.tools.cli import main
try:
    main(["eval", "examples/kent-co-and-permit.yaml"], standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def test_a_cold_eval_loads_no_compile_stage_and_no_other_command() -> None:
    """The cold start (issue 16): a case file is YAML, so PyYAML is read, but nothing else of
    compiling (the policy comes from the cache) and no other command's module."""
    from engine.compile import STAGES
    from engine.tools.cli import ELSEWHERE

    for _ in range(2):  # the first fills the session's cache (tests/conftest.py)
        run = subprocess.run([sys.executable, "-c", EVAL_IMPORTS], capture_output=True,
                             text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = set(json.loads(run.stdout.splitlines()[-1]))  # after the case's text
    tops = {m.split(".")[0] for m in loaded}
    assert "engine.run.program" in loaded and "yaml" in tops
    assert not tops & (COMPILE_TIME - {"yaml"} | {"holidays", "ruamel", "starlette"})
    # dsl.typecheck's ``Types`` is the run time's too (DSL_RUN); the compile room's stages:
    stages = {s.module for s in STAGES if s.module.startswith("engine.compile")}
    assert loaded & stages == {"engine.compile.load"}  # it reads the case file
    assert not loaded & {f"engine.tools.{m}" for m in ELSEWHERE.values()}


def test_the_architecture_page_names_the_stages_in_order_and_only_real_files() -> None:
    from engine.compile import STAGES

    page = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    diagram = page[page.index("```") :]
    at = [diagram.index(f"  {s.name} ") for s in STAGES]
    assert at == sorted(at), "the diagram lists the stages out of STAGES's order"
    named = set(re.findall(r"\b((?:engine|dsl)/[\w/]*\w\.py)\b", page))
    named |= {f"engine/compile/{m}" for m in re.findall(r"^│\s+\w+\s+(\w+\.py)", diagram, re.M)}
    missing = sorted(f for f in named if not (ROOT / f).is_file())
    assert len(named) > 15 and not missing, missing


def test_no_module_over_600_lines_and_no_class_over_200() -> None:
    """A module or class past these sizes has stopped saying one thing (issue 10)."""
    found = []
    for path in [*(ROOT / "engine").rglob("*.py"), *(ROOT / "dsl").rglob("*.py")]:
        text = path.read_text("utf-8")
        if (lines := len(text.splitlines())) > 600:
            found.append(f"{path.relative_to(ROOT)}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno:
                size = node.end_lineno - node.lineno + 1
                if size > 200:
                    found.append(f"{path.relative_to(ROOT)}: class {node.name}, {size} lines")
    assert not found, "\n".join(found)
