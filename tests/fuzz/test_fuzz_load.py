"""Fuzzing of files: whatever bytes a case or policy file holds, loading it ends in a result or
in located diagnostics, quickly, in bounded memory, and never in any other exception.

Inputs are mutations of real files (the bundled example, the golden cases, the bundled policy):
byte flips, truncation, control characters, CR line breaks, tabs, byte order marks, invalid
UTF-8, deep nesting, long lines, huge scalars, alias and merge bombs. The contract, for every
diagnostic: a span naming the file, line and column from 1, inside the file. Abusive inputs run
in a child interpreter limited to 1 GiB of address space and a timeout. Budgets and
randomness come from the profiles of ``tests/fuzz/conftest.py``.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.api import Policy, load_policy
from engine.compile.load import load_text, read_case
from engine.diagnostics import Diagnostic, OrdinanceError, in_file, render
from engine.source import Lines, display_path
from engine.tools.cli import main
from tests.conftest import GOLDEN, ROOT, run_bounded

# Strategies built on whole files have long reprs; Hypothesis warns when it prints one.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

EXAMPLE = ROOT / "examples" / "kent-co-and-permit.yaml"
CASE_SEEDS = [EXAMPLE, *sorted(GOLDEN.rglob("*.yaml"))[::12]]
POLICY_FILES = sorted(p.relative_to(ROOT / "policy") for p in (ROOT / "policy").rglob("*.yaml"))
CHILD_TIMEOUT = 20  # seconds

# --------------------------------------------------------------------------------------------
# Mutations
# --------------------------------------------------------------------------------------------

CONTROL = [chr(c) for c in [*range(0, 9), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0x85, 0x9B]]
TOKENS = ["&a ", "*a", "<<: *a", "<<: [*a, *a]", "!!python/object:os.system ", "!foo ", "? ",
          "- ", ": ", "{", "}", "[", "]", '"', "'", "|", ">", "%YAML 1.1\n", "---\n", "...\n",
          "# ", "\t", "\ufeff", "\u2028", "\x85", "\r", "\r\n", "null", "~", "0x1F", "1e999",
          "2024-02-30", "9999-12-31T23:59:59Z", "\\", "\\e", "@", "`"]  # fmt: skip


def _seed_text(path: Path) -> bytes:
    return path.read_bytes()


def _replace_breaks(data: bytes, new: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", new)


@st.composite
def mutation(draw: st.DrawFn, data: bytes) -> bytes:
    """One change to ``data``, of a kind hostile or careless files show."""
    at = draw(st.integers(0, len(data)))
    kind = draw(st.sampled_from(
        ["flip", "truncate", "insert-control", "insert-token", "breaks", "tabs", "bom",
         "bad-utf8", "delete-span", "duplicate-line", "deep", "long-line", "huge-scalar",
         "alias-bomb", "merge-bomb", "unicode"]))  # fmt: skip
    if kind == "flip" and data:
        i = min(at, len(data) - 1)
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    if kind == "truncate":
        return data[:at]
    if kind == "insert-control":
        return data[:at] + draw(st.sampled_from(CONTROL)).encode() + data[at:]
    if kind == "insert-token":
        return data[:at] + draw(st.sampled_from(TOKENS)).encode() + data[at:]
    if kind == "breaks":
        return _replace_breaks(data, draw(st.sampled_from([b"\r", b"\r\n", "\u2028".encode(),
                                                           "\x85".encode(), b"\n\n"])))  # fmt: skip
    if kind == "tabs":
        return data.replace(b"  ", b"\t", draw(st.integers(1, 50)))
    if kind == "bom":
        return (
            b"\xef\xbb\xbf" + data
            if draw(st.booleans())
            else data[:at] + b"\xef\xbb\xbf" + data[at:]
        )
    if kind == "bad-utf8":
        return (
            data[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe9"]))
            + data[at:]
        )
    if kind == "delete-span":
        return data[:at] + data[at + draw(st.integers(1, 200)) :]
    if kind == "duplicate-line":
        start = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at)
        line = data[start : end + 1 if end >= 0 else len(data)]
        return data[:start] + line + line + data[start:]
    if kind == "deep":
        n = draw(st.integers(50, 3000))
        inner = draw(st.sampled_from([(b"[", b"]"), (b"{a: ", b"}"), (b"- ", b"")]))
        return data[:at] + inner[0] * n + b"x" + inner[1] * draw(st.integers(0, n)) + data[at:]
    if kind == "long-line":
        return data[:at] + b"x, " * draw(st.integers(1000, 40_000)) + data[at:]
    if kind == "huge-scalar":
        quote = draw(st.sampled_from([b"", b'"', b"'"]))
        return data[:at] + quote + b"y" * draw(st.integers(10_000, 300_000)) + quote + data[at:]
    if kind == "alias-bomb":
        return data + b"\n" + alias_bomb(draw(st.integers(3, 12)), draw(st.integers(2, 9)))
    if kind == "merge-bomb":
        return data + b"\n" + merge_bomb(draw(st.integers(3, 14)), draw(st.integers(2, 9)),
                                         draw(st.booleans()))  # fmt: skip
    text = draw(st.text(min_size=1, max_size=20))
    return data[:at] + text.encode("utf-8", "surrogatepass") + data[at:]


def alias_bomb(levels: int, fan: int) -> bytes:
    lines = ["b0: &b0 [lol, lol]"]
    for i in range(1, levels):
        lines.append(f"b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * fan) + "]")
    return ("\n".join(lines) + "\n").encode()


def merge_bomb(levels: int, fan: int, empty: bool) -> bytes:
    lines = ["m0: &m0 {}" if empty else "m0: &m0 {k0: 0, k1: 1}"]
    for i in range(1, levels):
        own = "" if empty else f", k{i + 1}: {i}"
        lines.append(f"m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * fan) + f"]{own}}}")
    return ("\n".join(lines) + "\n").encode()


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Path], most: int = 4) -> bytes:
    data = _seed_text(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, most))):
        data = draw(mutation(data))
    return data


VALUES = [None, 0, -1, 10**9, -(10**9), 10**30, 1.5, 1e308, float("nan"), True, "", "x", "a +",
          [], {}, [1], {"a": 1}, [None], ["2024-01-15"], "2024-01-15", "2024-02-30", "0001-01-01",
          "9999-12-31", "2024-01-15T10:00:00", "2024-01-15T25:00:00Z", "permit.issued_on + 3 years",
          "IBC"]  # fmt: skip


@st.composite
def structural(draw: st.DrawFn, data: bytes) -> bytes:
    """A change to the YAML structure: a value replaced, a key removed, renamed or added."""
    tree = yaml.safe_load(data)
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else []
        )
        for k, v in list(items):
            paths.append((node, k))
            walk(v)

    walk(tree)
    if not paths:
        return data
    parent, key = draw(st.sampled_from(paths))
    op = draw(st.sampled_from(["replace", "delete", "rename", "add"]))
    value = copy.deepcopy(draw(st.sampled_from(VALUES)))
    if op == "replace":
        parent[key] = value
    elif op == "delete":
        del parent[key]
    elif op == "rename" and isinstance(parent, dict):
        parent[f"{key}x"] = parent.pop(key)
    elif isinstance(parent, dict):
        parent["unknown_key"] = value
    else:
        parent.append(value)
    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True).encode()


# --------------------------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _lines_of(data: bytes) -> Lines:
    return Lines(data.decode("utf-8", errors="replace").removeprefix("\ufeff"))


def assert_located(diags: list[Diagnostic], files: dict[str, bytes]) -> None:
    """Every diagnostic (and every note) points inside one of ``files``."""
    assert diags, "an error without diagnostics"
    for d in diags:
        assert d.span is not None, d
        for span in (d.span, *(s for s, _ in d.related)):
            assert span.file in files, (d, sorted(files))
            lines = _lines_of(files[span.file])
            assert span.line >= 1 and span.col >= 1, d
            assert span.line <= len(lines) + 1, (d, len(lines))
            text = lines.line(span.line)
            assert text is None or span.col <= len(text) + 1, (d, len(text))
        render([d])  # the people's rendering, with its source line, never fails


def load_outcome(data: bytes, name: str) -> None:
    try:
        load_text(data, name)
    except OrdinanceError as exc:
        assert_located(exc.diagnostics, {name: data})


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ordinance-fuzz-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(ROOT / "policy")


# --------------------------------------------------------------------------------------------
# (a) raw bytes and text through load_text, and case files through `ordinance eval`
# --------------------------------------------------------------------------------------------


@given(data=mutated(CASE_SEEDS), json_name=st.booleans())
def test_load_text_of_mutated_case(data: bytes, json_name: bool) -> None:
    load_outcome(data, "case.json" if json_name else "case.yaml")


@given(data=st.binary(max_size=400) | st.text(max_size=300).map(lambda t: t.encode("utf-8")))
def test_load_text_of_random_bytes(data: bytes) -> None:
    load_outcome(data, "random.yaml")


@given(text=mutated(CASE_SEEDS).map(lambda b: b.decode("utf-8", errors="replace")))
def test_load_text_of_str(text: str) -> None:
    try:
        load_text(text, "case.yaml")
    except OrdinanceError as exc:
        assert_located(exc.diagnostics, {"case.yaml": text.encode("utf-8", "surrogatepass")})


def _as_json(data: bytes) -> bytes:
    """The seed as JSON (then mutated): JSON files go through the same loader."""
    return json.dumps(yaml.safe_load(data), indent=2, default=str).encode()


JSON_SEEDS = [_as_json(EXAMPLE.read_bytes())]


@given(data=st.sampled_from(JSON_SEEDS).flatmap(mutation))
def test_load_text_of_mutated_json(data: bytes) -> None:
    load_outcome(data, "case.json")


def evaluate_file(policy: Policy, path: Path, data: bytes) -> None:
    """What `ordinance eval` does with one case file, with the contract on its diagnostics."""
    path.write_bytes(data)
    try:
        policy.evaluate(read_case(path))
    except OrdinanceError as exc:
        assert_located(in_file(exc.diagnostics, str(path)), {str(path): data})


@given(
    data=mutated(CASE_SEEDS) | st.sampled_from(CASE_SEEDS).map(_seed_text).flatmap(structural),
    suffix=st.sampled_from([".yaml", ".json"]),
)
def test_eval_of_mutated_case_file(policy: Policy, workdir: Path, data: bytes, suffix: str) -> None:
    evaluate_file(policy, workdir / f"case{suffix}", data)


@settings(max_examples=max(5, settings().max_examples // 6))
@given(data=mutated(CASE_SEEDS, most=2))
def test_ordinance_eval_command(workdir: Path, data: bytes) -> None:
    path = workdir / "cli-case.yaml"
    path.write_bytes(data)
    result = CliRunner().invoke(main, ["eval", str(path)])
    assert result.exit_code in (0, 1), result.output
    assert "internal error" not in result.output and "Traceback" not in result.output


# --------------------------------------------------------------------------------------------
# (b) mutations of the bundled policy: one file changed in a copy of policy/
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def policy_copy(workdir: Path) -> Path:
    root = workdir / "policy"
    shutil.copytree(ROOT / "policy", root)
    return root


def _policy_outcome(root: Path, rel: Path, data: bytes) -> None:
    path = root / rel
    original = path.read_bytes()
    path.write_bytes(data)
    try:
        load_policy(root)
    except OrdinanceError as exc:
        files = {display_path(p): p.read_bytes() for p in root.rglob("*.yaml")}
        assert_located(exc.diagnostics, files)
    finally:
        path.write_bytes(original)


@settings(max_examples=max(5, settings().max_examples // 3))
@given(rel=st.sampled_from(POLICY_FILES), st_data=st.data())
def test_policy_with_a_mutated_file(policy_copy: Path, rel: Path, st_data: st.DataObject) -> None:
    original = (policy_copy / rel).read_bytes()
    structure = st_data.draw(st.booleans())
    data = st_data.draw(structural(original) if structure else mutation(original))
    _policy_outcome(policy_copy, rel, data)


# --------------------------------------------------------------------------------------------
# Abusive inputs, at full size, in a child with 1 GiB of address space and a timeout
# --------------------------------------------------------------------------------------------

CHILD = """
import json, sys
from engine.diagnostics import OrdinanceError
from engine.compile.load import load_document
try:
    load_document(sys.argv[1])
    print(json.dumps([]))
except OrdinanceError as exc:
    print(json.dumps([d.to_json() for d in exc.diagnostics]))
"""

ABUSIVE: dict[str, Callable[[int], bytes]] = {
    "flow": lambda n: b"[" + b"a," * n + b"a]",
    "block": lambda n: b"- a\n" * n,
    "keys": lambda n: b"{" + b",".join(b"k%d: 1" % i for i in range(n // 4)) + b"}",
    "anchors": lambda n: b"[" + b",".join(b"&a%d x" % i for i in range(n // 4)) + b"]",
    "aliases": lambda n: b"a: &a [x]\nb: [" + b"*a," * n + b"*a]",
    "deep": lambda n: b"[" * n + b"]" * n,
    "blank-lines": lambda n: b"\n" * n * 4 + b"a: [b",
    "cr-lines": lambda n: b"a\r" * n + b"]",
    "scalar": lambda n: b"a: '" + b"x" * n * 4 + b"'\n",
    "long-line-error": lambda n: b"a: [" + b"x, " * n + b"}",
    "alias-bomb": lambda n: alias_bomb(10, 9),
    "merge-bomb": lambda n: merge_bomb(12, 9, False),
    "merge-bomb-empty": lambda n: merge_bomb(14, 9, True),
}


@settings(max_examples=max(8, settings().max_examples // 6), deadline=None)
@given(kind=st.sampled_from(sorted(ABUSIVE)), size=st.integers(1_000, 2_000_000))
def test_abusive_file_in_bounded_time_and_memory(workdir: Path, kind: str, size: int) -> None:
    path = workdir / f"abusive-{kind}.yaml"
    path.write_bytes(ABUSIVE[kind](size))
    proc = run_bounded(CHILD, str(path), timeout=CHILD_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for d in json.loads(proc.stdout):
        assert d["span"]["line"] >= 1 and d["span"]["col"] >= 1, d
