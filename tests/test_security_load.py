"""The loader's limits hold against hostile files (issue 9, points 5, 6 and 9).

One test per finding. What could hang or exhaust memory runs in a child interpreter with a
timeout and an address-space limit, so that a regression fails the test instead of the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from engine.compile.load import MAX_BYTES, load_text
from engine.diagnostics import Diagnostic, LoadError, Span, render_full
from engine.source import TooLargeError, read_bounded
from tests.conftest import ROOT, run_bounded

TIMEOUT = 20  # seconds

# Loads one file in the child and prints its diagnostics (or "ok") as JSON.
CHILD = """
import json, sys
from engine.diagnostics import OrdinanceError
from engine.compile.load import load_document
try:
    load_document(sys.argv[1])
    print(json.dumps("ok"))
except OrdinanceError as exc:
    print(json.dumps([d.to_json() for d in exc.diagnostics]))
"""


def load_in_child(path: Path) -> tuple[Any, float]:
    """The diagnostics of loading ``path`` in a fresh interpreter, and the seconds it took."""
    start = time.monotonic()
    proc = run_bounded(CHILD, str(path), timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout), time.monotonic() - start


def only(diags: Any, code: str) -> dict[str, Any]:
    assert isinstance(diags, list), diags
    found = [d for d in diags if d["code"] == code]
    assert found, diags
    return dict(found[0])


def diagnostics_of(text: str | bytes, name: str = "case.yaml") -> list[Diagnostic]:
    with pytest.raises(LoadError) as info:
        load_text(text.encode() if isinstance(text, str) else text, name)
    return info.value.diagnostics


# --- 5. merge keys spend from the same budget as aliases ------------------------------------


def _merge_bomb(levels: int = 10, fan: int = 8, empty: bool = False) -> str:
    """Each mapping merges the one before it `fan` times: fan**levels merges when flattened."""
    lines = ["a0: &a0 {}" if empty else "a0: &a0 {k0: 0, k1: 1}"]
    for i in range(1, levels):
        own = "" if empty else f", k{i + 1}: {i}"
        lines.append(f"a{i}: &a{i} {{<<: [" + ", ".join([f"*a{i - 1}"] * fan) + f"]{own}}}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("empty", [False, True], ids=["pairs", "empty-mappings"])
def test_merge_bomb_stops_at_the_budget(tmp_path: Path, empty: bool) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_merge_bomb(empty=empty))
    assert path.stat().st_size < 1000
    diags, seconds = load_in_child(path)
    d = only(diags, "load/too-large")
    assert "merge keys" in d["help"]
    assert d["span"]["line"] >= 2  # at a merge, not at the top of the file
    assert seconds < 10


def test_file_of_many_nodes_stops_composing_at_the_budget(tmp_path: Path) -> None:
    """libyaml's own composer took 14 s and 1.3 GB for 8 MiB of `[a,a,a,…]`."""
    path = tmp_path / "flow.yaml"
    path.write_text("[" + "a," * (MAX_BYTES // 2 - 2) + "a]")
    diags, seconds = load_in_child(path)
    assert "holds more than 200,000 values" in only(diags, "load/too-large")["message"]
    assert seconds < 10


def test_a_large_file_libyaml_refuses_is_not_parsed_again_slowly(tmp_path: Path) -> None:
    """The pure-Python parser (asked for its better messages) reads 100 KiB a second."""
    path = tmp_path / "broken.yaml"
    comment = b"# " + b"x" * 1000 + b"\n"
    path.write_bytes(b"a: [" + b"a," * 150_000 + b"\n" + comment * 6000 + b"}")
    diags, seconds = load_in_child(path)
    assert only(diags, "load/yaml-syntax")["span"]["line"] == 6002
    assert seconds < 5


def test_large_json_indented_with_tabs_loads() -> None:
    """libyaml refuses some tabs JSON allows; past the pure-Python parser's size, they are
    read as the spaces they are (never inside a string)."""
    items = ",\n".join(f'\t{{"id": {i},\t"name": "a\\"\tb"}}' for i in range(4000))
    text = '{"facts": {\n\t"items": [\n' + items + "\n\t]\n}}\n"
    assert len(text) > 64 * 1024
    doc = load_text(text.encode(), "big.json")
    assert doc.data["facts"]["items"][3999] == {"id": 3999, "name": 'a"\tb'}
    assert doc.span(("facts", "items", 1, "name")).line == 4


# --- 6. the size limit before reading; only regular files are opened -----------------------


def test_size_is_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "sparse.yaml"
    with path.open("wb") as f:
        f.truncate(2 << 30)  # 2 GiB, no disk used; reading it whole exceeds the child's memory
    diags, _ = load_in_child(path)
    assert "larger than 8 MiB" in only(diags, "load/too-large")["message"]


def test_at_most_the_limit_is_read_when_the_size_lies() -> None:
    """/proc files say they are empty; the limit holds on what is read, not on what stat says."""
    proc = Path("/proc/self/maps")
    if not proc.is_file() or proc.stat().st_size:
        pytest.skip("needs Linux /proc")
    with pytest.raises(TooLargeError):
        read_bounded(proc, 16)


def test_dev_zero_is_refused(tmp_path: Path) -> None:
    diags, _ = load_in_child(Path("/dev/zero"))
    assert "`/dev/zero` is a device, not a file" in only(diags, "load/unreadable")["message"]


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """Opening a FIFO blocks until a writer comes; `ordinance eval` must not wait for one (nor
    must the diagnostic's snippet, which reads the file again)."""
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    proc = subprocess.run(
        [sys.executable, "-m", "engine.tools.cli", "eval", str(path)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 1, proc.stderr
    assert "error[load/unreadable]" in proc.stderr
    assert "is a FIFO (named pipe), not a file" in proc.stderr


def test_directory_is_refused_in_plain_words(tmp_path: Path) -> None:
    diags, _ = load_in_child(tmp_path)
    d = only(diags, "load/unreadable")
    assert d["message"].endswith("is a directory, not a file"), d
    assert (d["span"]["line"], d["span"]["col"]) == (1, 1)


def test_snippet_of_a_huge_file_is_not_read_whole(tmp_path: Path) -> None:
    """The source line under a diagnostic is read again from the file: within the limit."""
    path = tmp_path / "sparse.yaml"
    with path.open("wb") as f:
        f.truncate(2 << 30)
    code = (
        "import sys\nfrom engine.diagnostics import Diagnostic, Span, render_full\n"
        "print(render_full(Diagnostic('load/too-large', 'x', Span(sys.argv[1], 1, 1, 1, 2))))"
    )
    proc = run_bounded(code, str(path), timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "error[load/too-large]" in proc.stdout


def test_long_source_line_is_cut_around_the_caret(tmp_path: Path) -> None:
    path = tmp_path / "minified.json"
    line = '{"facts": {' + '"a": 1, ' * 2000 + '"here": @, ' + '"b": 2, ' * 2000 + "}}"
    path.write_text(line + "\n")
    col = line.index("@") + 1
    out = render_full(Diagnostic("load/yaml-syntax", "x", Span(str(path), 1, col, 1, col + 1)))
    shown = [s for s in out.splitlines() if s.startswith("1 | ")]
    assert len(shown) == 1 and len(shown[0]) <= 130, out
    assert shown[0].startswith("1 | …") and shown[0].endswith("…")
    caret = next(s for s in out.splitlines() if s.strip().startswith("| ") and "^" in s)
    assert shown[0][caret.index("^")] == "@", out


# --- 9. located means located ---------------------------------------------------------------


def test_control_character_is_placed_where_it_is() -> None:
    (d,) = diagnostics_of('case: X\njurisdiction: kent\ndescription: "a\x1b[31m"\nfacts: {}\n')
    assert d.code == "load/yaml-syntax"
    assert d.span is not None and (d.span.line, d.span.col) == (3, 16)
    assert d.message == "the control character U+001B is not allowed in YAML"
    assert d.help is not None and "`\\e`" in d.help
    assert "<unicode string>" not in d.message + d.help and "position" not in d.message


def test_cr_only_line_breaks_are_lines(tmp_path: Path) -> None:
    """Old Mac files break lines with CR alone; YAML does too, so must every span and the
    source line shown under it."""
    path = tmp_path / "old-mac.yaml"
    path.write_bytes(b"case: X\rjurisdiction: kent\rfacts:\r  permit:\r    code: IBX\r")
    doc = load_text(path.read_bytes(), str(path))
    span = doc.span(("facts", "permit", "code"))
    assert (span.line, span.col, span.end_col) == (5, 11, 14)
    out = render_full(Diagnostic("case/bad-value", "x", span))
    assert "5 |     code: IBX\n" in out and "|           ^^^" in out, out


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: 1\r\nb: [x\r\n", (3, 1)),  # CR LF counts once
        ("a: 1\x85b: 2\nc: [", (3, 5)),  # NEL, as YAML 1.1 counts it
        ("a: 1\u2028b: [x", (2, 6)),  # LS, no final break: libyaml would say line 3
        ("\ufeffa: [", (1, 5)),  # a byte order mark is not a column
    ],
    ids=["crlf", "nel", "line-separator", "bom"],
)
def test_syntax_error_positions_follow_yaml_line_breaks(text: str, where: tuple[int, int]) -> None:
    (d,) = diagnostics_of(text)
    assert d.span is not None and (d.span.line, d.span.col) == where, d


def test_bom_in_text_input_does_not_shift_columns() -> None:
    """libyaml skips a leading BOM in its indices and PyYAML counts it: strip it first."""
    from engine.compile.load import load_text as load

    doc = load("\ufeffa: 1\nb: 2\n", "case.yaml")
    assert doc.span(("b",), key=True) == Span("case.yaml", 2, 1, 2, 2)


def test_the_loader_refuses_exactly_the_characters_yaml_1_1_does() -> None:
    """engine/compile/load.py reuses PyYAML's compiled pattern (one regex compile fewer at
    import); it must be the YAML 1.1 set of printable characters, code point for code point."""
    import re

    from engine.compile.load import _NON_PRINTABLE

    spec = re.compile(r"[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")
    every = "".join(map(chr, [*range(0xD800), *range(0xE000, 0x110000)]))
    assert _NON_PRINTABLE.sub("", every) == spec.sub("", every)
    assert len(spec.sub("", every)) < len(every)  # the set is not empty: the test can fail
