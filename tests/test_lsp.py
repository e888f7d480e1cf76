"""`ordinance lsp` (issue 15, part 4), driven in-process by pygls's LSP client over pipes: the
diagnostics of `ordinance check` on unsaved text at their exact LSP ranges, cleared once fixed;
hover, go to definition across layers and completion, on the bundled Kent policy and on a
fixture city built on the installed model-code layer; bad input answered, never a crash."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types as t
from pygls.io_ import StdinAsyncReader, StdoutWriter, run_async
from pygls.lsp.client import LanguageClient

from engine.tools.lsp import build_server
from engine.tools.lsp_text import Text, completion_kind
from engine.tools.scaffold import scaffold
from tests.conftest import ROOT
from tests.test_city_repository import AMENDMENT

KENT = ROOT / "policy" / "kent" / "ord-4463"
GENERIC = ROOT / "policy" / "generic" / "icc-2021"
WAIT = 30.0  # seconds: a check takes a fraction of one, the machine may be busy


class Editor:
    """An LSP client talking to a server thread over two pipes: what an editor does."""

    def __init__(self, delay: float = 0.02) -> None:
        self.server = build_server(delay)
        to_server, from_client = os.pipe()
        to_client, from_server = os.pipe()
        self.pipes = [os.fdopen(to_server, "rb"), os.fdopen(from_server, "wb"),
                      os.fdopen(to_client, "rb"), os.fdopen(from_client, "wb")]  # fmt: skip
        self.threads = [threading.Thread(target=self.server.start_io, args=self.pipes[:2],
                                         daemon=True)]  # fmt: skip
        self.client = LanguageClient("test-editor", "1")
        self.client.protocol.set_writer(StdoutWriter(self.pipes[3]))
        self.published: dict[str, list[t.Diagnostic]] = {}
        self.logs: list[str] = []
        self.changed = threading.Condition()
        self.client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)(lambda p: self._on_diagnostics(p))
        self.client.feature(t.WINDOW_LOG_MESSAGE)(lambda p: self.logs.append(p.message))
        reader = StdinAsyncReader(self.pipes[2])
        self.threads.append(threading.Thread(target=lambda: asyncio.run(run_async(
            self.client._stop_event, reader, self.client.protocol)), daemon=True))  # fmt: skip
        for thread in self.threads:
            thread.start()
        self.versions: dict[str, int] = {}
        caps = t.ClientCapabilities()
        self.client.initialize(t.InitializeParams(caps)).result(WAIT)
        self.client.initialized(t.InitializedParams())

    def _on_diagnostics(self, params: t.PublishDiagnosticsParams) -> None:
        with self.changed:
            self.published[params.uri] = list(params.diagnostics)
            self.changed.notify_all()

    def open(self, path: Path, text: str | None = None) -> str:
        uri = path.resolve().as_uri()
        self.versions[uri] = 1
        item = t.TextDocumentItem(uri, "yaml", 1, path.read_text("utf-8") if text is None else text)
        self.client.text_document_did_open(t.DidOpenTextDocumentParams(item))
        return uri

    def change(self, uri: str, text: str) -> None:
        self.versions[uri] += 1
        doc = t.VersionedTextDocumentIdentifier(self.versions[uri], uri)
        change = t.TextDocumentContentChangeWholeDocument(text)
        self.client.text_document_did_change(t.DidChangeTextDocumentParams(doc, [change]))

    def diagnostics(
        self, uri: str, until: Callable[[list[t.Diagnostic]], bool]
    ) -> list[t.Diagnostic]:
        """The diagnostics of ``uri`` once they satisfy ``until`` (waiting for them)."""
        deadline = time.monotonic() + WAIT
        with self.changed:
            while not until(self.published.get(uri, [])):
                assert time.monotonic() < deadline, f"{uri}: {self.published.get(uri)}"
                self.changed.wait(0.05)
            return self.published.get(uri, [])

    def ask(self, method: str, uri: str, line: int, character: int) -> Any:
        where = (t.TextDocumentIdentifier(uri), t.Position(line, character))
        params: dict[str, Any] = {
            "hover": t.HoverParams(*where),
            "definition": t.DefinitionParams(*where),
            "completion": t.CompletionParams(*where),
        }
        send = getattr(self.client, f"text_document_{method}")
        return send(params[method]).result(WAIT)

    def close(self) -> None:
        """Shut the server down as an editor does; each side then reads the end of its pipe
        and stops."""
        self.client.shutdown(None).result(WAIT)
        self.client.exit(None)
        self.pipes[3].close()
        for thread in self.threads:
            thread.join(WAIT)
        for pipe in self.pipes:
            pipe.close()


@pytest.fixture
def editor() -> Iterator[Editor]:
    ed = Editor()
    yield ed
    ed.close()


def position(text: str, needle: str, into: int = 0) -> tuple[int, int]:
    """The LSP line and character of ``needle`` (plus ``into`` characters) in ``text``."""
    return Text(text).position(text.index(needle) + into)


def line_of(path: Path, needle: str) -> int:
    """The 0-based line of the first line of ``path`` that holds ``needle``."""
    lines = path.read_text("utf-8").splitlines()
    return next(i for i, line in enumerate(lines) if needle in line)


# --- The bundled Kent policy ---------------------------------------------------------------

KENT_FILE = KENT / "14.01.030.yaml"
KENT_WHEN = 'when: permit.code == "IBC"'


def test_a_typo_gets_its_exact_range_and_code_and_fixing_it_clears_it(editor: Editor) -> None:
    text = KENT_FILE.read_text("utf-8")
    uri = editor.open(KENT_FILE)
    editor.change(uri, text.replace(KENT_WHEN, 'when: permit.cod == "IBC"', 1))
    [found] = editor.diagnostics(uri, bool)
    line, col = position(text, KENT_WHEN, len("when: "))
    assert (line, col) == (40, 10)  # Span 41:11, 1-based, is LSP 40:10
    assert found.range == t.Range(t.Position(line, col), t.Position(line, col + len("permit.cod")))
    assert found.code == "dsl/unknown-reference"
    assert found.severity == t.DiagnosticSeverity.Error
    assert "unknown reference `permit.cod`" in found.message
    assert "did you mean `permit.code`?" in found.message
    href = found.code_description.href if found.code_description else ""
    page, _, anchor = href.partition("#")
    assert page.startswith("file://") and page.endswith("docs/diagnostics.md")
    assert anchor == "dslunknown-reference"  # the heading `## dsl/unknown-reference`
    assert "## dsl/unknown-reference" in Path(page.removeprefix("file://")).read_text("utf-8")
    editor.change(uri, text)
    assert editor.diagnostics(uri, lambda d: not d) == []


def test_hover_on_a_kent_fact_shows_its_type_description_and_declaration(editor: Editor) -> None:
    text = KENT_FILE.read_text("utf-8")
    uri = editor.open(KENT_FILE)
    hover = editor.ask("hover", uri, *position(text, KENT_WHEN, len("when: per")))
    value = hover.contents.value
    assert value.startswith('**fact** `permit.code`: one of "IBC", "IRC"')
    assert "The code under which the permit was issued." in value
    assert "declared by `generic`" in value and "facts.yaml:4" in value
    line, col = position(text, KENT_WHEN, len("when: "))
    assert hover.range == t.Range(t.Position(line, col), t.Position(line, col + 11))


def test_hover_on_a_kent_rule_shows_the_amended_section_text(editor: Editor) -> None:
    rulesets = KENT / "rulesets.yaml"
    text = rulesets.read_text("utf-8")
    uri = editor.open(rulesets)
    hover = editor.ask("hover", uri, *position(text, "- id: permit.expires_on", 8))
    value = hover.contents.value
    assert value.startswith("**rule** `permit.expires_on`: date")
    assert "**IBC 105.5 as amended by KCC 14.01.030.D** Expiration" in value
    assert "> 1. Every permit issued by the building official" in value


def test_definition_of_a_kent_reference_lands_in_the_generic_layer(editor: Editor) -> None:
    text = KENT_FILE.read_text("utf-8")
    uri = editor.open(KENT_FILE)
    [fact] = editor.ask("definition", uri, *position(text, KENT_WHEN, len("when: p")))
    assert fact.uri == (GENERIC / "facts.yaml").as_uri()
    assert fact.range.start == t.Position(line_of(GENERIC / "facts.yaml", "  permit.code:"), 2)
    [section] = editor.ask("definition", uri, *position(text, "section: IBC 105.5\n", 12))
    assert section.uri == (GENERIC / "ibc.yaml").as_uri()
    assert section.range.start.line == line_of(GENERIC / "ibc.yaml", "citation: IBC 105.5\n"[:-1])
    [ruleset] = editor.ask("definition", uri, *position(text, "use: [kcc-permit-expiration]", 8))
    assert ruleset.uri == (KENT / "rulesets.yaml").as_uri()
    assert ruleset.range.start.line == line_of(KENT / "rulesets.yaml", "  kcc-permit-expiration:")


def test_extends_and_citations_are_followed_and_completed(editor: Editor) -> None:
    jur = ROOT / "policy" / "kent" / "jurisdiction.yaml"
    text = jur.read_text("utf-8")
    uri = editor.open(jur)
    where = position(text, "extends: generic", len("extends: gen"))
    [parent] = editor.ask("definition", uri, *where)
    generic = ROOT / "policy" / "generic" / "jurisdiction.yaml"
    assert parent.uri == generic.as_uri()
    assert parent.range.start == t.Position(line_of(generic, "id: generic"), 4)
    assert editor.ask("hover", uri, *where).contents.value.startswith("**jurisdiction** `generic`")
    kent = KENT_FILE.read_text("utf-8")
    typed = kent.replace("section: IBC 105.5\n", "section: IBC 105.\n", 1)
    file_uri = editor.open(KENT_FILE, typed)
    line, col = position(typed, "section: IBC 105.\n", len("section: IBC 105."))
    items = editor.ask("completion", file_uri, line, col).items
    assert {"IBC 105.3.2", "IBC 105.5"} <= {i.label for i in items}
    assert all(i.label.startswith("IBC 105.") for i in items)
    edit = items[0].text_edit
    assert isinstance(edit, t.TextEdit) and edit.range.start == t.Position(line, col - 8)
    assert editor.ask("hover", file_uri, line, col - 2) is None  # `IBC 105.` is no section


def test_completion_offers_fact_ids_dsl_functions_and_rulesets(editor: Editor) -> None:
    text = KENT_FILE.read_text("utf-8")
    typed = text.replace(KENT_WHEN, "when: permit.iss", 1)
    uri = editor.open(KENT_FILE, typed)
    line, col = position(typed, "when: permit.iss", len("when: permit.iss"))
    items = {i.label: i for i in editor.ask("completion", uri, line, col).items}
    assert "permit.issued_on" in items and "permit.code" not in items
    edit = items["permit.issued_on"].text_edit
    assert isinstance(edit, t.TextEdit)
    assert edit.range == t.Range(t.Position(line, col - len("permit.iss")), t.Position(line, col))
    typed = text.replace(KENT_WHEN, "when: next_b", 1)
    editor.change(uri, typed)
    line, col = position(typed, "when: next_b", len("when: next_b"))
    items = {i.label: i for i in editor.ask("completion", uri, line, col).items}
    assert items["next_business_day"].kind == t.CompletionItemKind.Function
    line, col = position(text, "use: [kcc-permit-expiration]", len("use: [kcc-per"))
    editor.change(uri, text)
    labels = [i.label for i in editor.ask("completion", uri, line, col).items]
    assert "kcc-permit-expiration" in labels and "kcc-application-expiration" not in labels


def test_a_change_to_the_parent_layer_is_diagnosed_in_the_open_child(editor: Editor) -> None:
    """Renaming a fact in `generic` (unsaved) breaks the Kent file that reads it: the Kent
    check runs again too, and its diagnostic lands in the Kent file; undoing it clears it."""
    kent_uri = editor.open(KENT_FILE)
    facts = GENERIC / "facts.yaml"
    text = facts.read_text("utf-8")
    facts_uri = editor.open(facts)
    editor.ask("hover", kent_uri, 0, 0)  # both checked once
    editor.change(facts_uri, text.replace("  permit.code:", "  permit.kind:", 1))
    found = editor.diagnostics(kent_uri, bool)
    assert {d.code for d in found} == {"dsl/unknown-reference"}
    assert any("`permit.code`" in d.message for d in found)
    editor.change(facts_uri, text)
    assert editor.diagnostics(kent_uri, lambda d: not d) == []


# --- A fixture city on the installed model-code layer ---------------------------------------


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`ordinance init springfield`, with an amendment of IBC 105.5 defining a rule."""
    root = tmp_path_factory.mktemp("city") / "springfield"
    scaffold("springfield", root, extends="generic", effective=dt.date(2025, 1, 1))
    (root / "policy" / "springfield" / "initial" / "sections.yaml").write_text(AMENDMENT, "utf-8")
    return root / "policy" / "springfield" / "initial" / "sections.yaml"


CITY_VALUE = "value: permit.issued_on + 365 days"


def test_a_city_typo_is_placed_in_utf16_units_after_a_yaml_only_line_break(
    editor: Editor, city: Path
) -> None:
    text = city.read_text("utf-8")
    # NEL breaks a line for YAML (and the Span) but not for LSP; 😀 is two UTF-16 units.
    typed = text.replace("sections:", "# note\x85# more\nsections:", 1).replace(
        CITY_VALUE, 'value: if "😀" == "x" then permit.isued_on else permit.issued_on', 1
    )
    uri = editor.open(city, typed)
    [found] = editor.diagnostics(uri, bool)
    assert found.code == "dsl/unknown-reference"
    at = typed.index("permit.isued_on")
    line = typed.count("\n", 0, at)  # the only LSP line breaks in it; str.splitlines has NEL
    char = at - typed.rindex("\n", 0, at) - 1 + 1  # the emoji counts twice
    assert line == typed.splitlines().index(next(x for x in typed.splitlines() if "😀" in x)) - 1
    assert found.range == t.Range(t.Position(line, char), t.Position(line, char + 15))
    editor.change(uri, text)
    assert editor.diagnostics(uri, lambda d: not d) == []


def test_city_hover_definition_and_completion_reach_the_installed_layer(
    editor: Editor, city: Path
) -> None:
    text = city.read_text("utf-8")
    uri = editor.open(city)
    hover = editor.ask("hover", uri, *position(text, "- id: permit.expires_on", 8))
    assert "**IBC 105.5 as amended by CITY 15.04.050** Expiration" in hover.contents.value
    assert "within 365 days after its issuance" in hover.contents.value
    [fact] = editor.ask("definition", uri, *position(text, CITY_VALUE, len("value: p")))
    assert fact.uri == (GENERIC / "facts.yaml").as_uri()
    assert fact.range.start.line == line_of(GENERIC / "facts.yaml", "  permit.issued_on:")
    [section] = editor.ask("definition", uri, *position(text, "section: IBC 105.5", 12))
    assert section.uri == (GENERIC / "ibc.yaml").as_uri()
    typed = text.replace(CITY_VALUE, 'value: if in_force("IBC 105.3.2") then as_of else as_of', 1)
    editor.change(uri, typed)
    where = position(typed, '"IBC 105.3.2"', 3)
    [cited] = editor.ask("definition", uri, *where)
    assert cited.range.start.line == line_of(GENERIC / "ibc.yaml", "citation: IBC 105.3.2")
    assert editor.ask("hover", uri, *where).contents.value.startswith("**IBC 105.3.2**")
    editor.change(uri, text)
    line, col = position(text, CITY_VALUE, len("value: permit.iss"))
    labels = [i.label for i in editor.ask("completion", uri, line, col).items]
    assert labels == ["permit.issued", "permit.issued_on"]


# --- Bad input --------------------------------------------------------------------------------


def test_bad_input_is_diagnosed_and_the_server_keeps_answering(
    editor: Editor, city: Path, tmp_path: Path
) -> None:
    text = city.read_text("utf-8")
    uri = editor.open(city, "this: is: not: yaml: [")
    assert editor.diagnostics(uri, bool)[0].code == "load/yaml-syntax"
    assert editor.ask("hover", uri, 0, 3) is None
    editor.change(uri, text.replace(CITY_VALUE, "value: permit.issued_on +", 1))
    [syntax] = editor.diagnostics(uri, lambda d: d[:1] != [] and d[0].code == "dsl/syntax")
    assert "permit.issued_on +" in text.replace(CITY_VALUE, "value: permit.issued_on +", 1)
    assert syntax.severity == t.DiagnosticSeverity.Error
    line, col = position(text, CITY_VALUE, len("value: permit.iss"))
    assert "**fact** `permit.issued_on`" in editor.ask("hover", uri, line, col).contents.value
    stray = tmp_path / "notes.yaml"
    stray.write_text("a: 1\n", "utf-8")
    stray_uri = editor.open(stray)
    [note] = editor.diagnostics(stray_uri, bool)
    assert (note.code, note.severity) == ("lsp/outside-policy", t.DiagnosticSeverity.Information)
    assert editor.ask("hover", stray_uri, 0, 0) is None
    assert editor.ask("completion", stray_uri, 0, 0) is None
    editor.client.text_document_did_close(
        t.DidCloseTextDocumentParams(t.TextDocumentIdentifier(stray_uri))
    )
    assert editor.diagnostics(stray_uri, lambda d: not d) == []  # the note goes with the file
    editor.change(uri, text)
    assert editor.diagnostics(uri, lambda d: not d) == []
    assert not editor.logs  # nothing went wrong inside the server


NASTY = [
    "",
    "\x00\x01binary",
    "\ufeff",
    "sections: [",
    "- a\n- b\n",
    "a: *nowhere\n",
    "sections: !!python/object/apply:os.system [echo]\n",
    "sections:\n  - citation: 1\n",
    "sections:\n  - {citation: A, title: B, rules: [{id: r, type: bool, description: d, "
    "value: 'if permit.'}]}\n",
    "x" * 200_000,
    'sections:\u2028\x85\r\n  - citation: "😀"\r',
    "a: \ud800\n",
]


def test_no_buffer_breaks_the_server(editor: Editor, city: Path) -> None:
    """Each buffer is answered with diagnostics or nothing, at every position asked, and the
    server still works on the real file afterwards."""
    text = city.read_text("utf-8")
    uri = editor.open(city)
    for nasty in NASTY:
        editor.change(uri, nasty)
        ends = [(0, 0), (0, 5), (0, 10**6), (3, 2), (10**6, 0)]
        for method in ("hover", "definition", "completion"):
            for line, col in ends:
                editor.ask(method, uri, line, col)  # any answer; an error would raise here
    [last] = editor.diagnostics(uri, lambda d: d[:1] != [] and "U+D800" in d[0].message)
    assert last.code == "load/yaml-syntax"  # the last buffer: half a surrogate pair
    editor.change(uri, text)
    assert editor.diagnostics(uri, lambda d: not d) == []
    line, col = position(text, CITY_VALUE, len("value: permit.iss"))
    assert "**fact** `permit.issued_on`" in editor.ask("hover", uri, line, col).contents.value
    assert not editor.logs


def test_typing_quickly_checks_once_after_the_last_keystroke(city: Path) -> None:
    editor = Editor(delay=0.5)
    checks: list[float] = []
    check = editor.server.checker.check
    editor.server.checker.check = lambda *a: checks.append(time.monotonic()) or check(*a)  # type: ignore[method-assign]
    try:
        text = city.read_text("utf-8")
        uri = editor.open(city)
        editor.diagnostics(uri, lambda d: len(checks) == 1)
        for typed in ("permit.i", "permit.is", "permit.isu", "permit.isue"):
            editor.change(uri, text.replace(CITY_VALUE, f"value: {typed}", 1))
        [found] = editor.diagnostics(uri, bool)
        assert "`permit.isue`" in found.message
        assert len(checks) == 2
    finally:
        editor.close()


# --- Positions, and the command --------------------------------------------------------------


def test_positions_convert_through_offsets() -> None:
    text = "a\r\nb\x85c😀d\re"
    conv = Text(text)
    assert conv.position(text.index("d")) == (1, 5)  # NEL is no LSP break; 😀 two units
    assert conv.offset(1, 5) == text.index("d")
    assert conv.offset(1, 99) == text.index("\r", 4)  # past the line's end: its end
    assert conv.position(text.index("e")) == (2, 0)
    assert conv.offset_of(3, 2) == text.index("😀")  # YAML's line 3 starts after NEL
    assert completion_kind("    - kcc\n", 9) == ("name", 6)
    assert completion_kind("    use:\n      - kcc", 20) == ("ruleset", 17)


def test_the_command_serves_lsp_on_standard_input_and_output() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"capabilities": {}, "processId": None}})  # fmt: skip
    exit_ = json.dumps({"jsonrpc": "2.0", "method": "exit"})
    wire = "".join(f"Content-Length: {len(b)}\r\n\r\n{b}" for b in (body, exit_))
    run = subprocess.run([sys.executable, "-m", "ordinance", "lsp"], input=wire.encode(),
                         capture_output=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    _, _, reply = run.stdout.partition(b"\r\n\r\n")
    result = json.loads(reply)["result"]
    caps = result["capabilities"]
    assert caps["hoverProvider"] and caps["definitionProvider"]
    assert caps["completionProvider"]["triggerCharacters"] == ["."]
    assert caps["textDocumentSync"]["change"] == t.TextDocumentSyncKind.Full.value
    assert result["serverInfo"]["name"] == "ordinance"
    assert b"Traceback" not in run.stderr


def test_the_command_serves_lsp_on_a_tcp_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "ordinance", "lsp", "--tcp",
                               f"127.0.0.1:{port}"], cwd=ROOT, stderr=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        with conn:
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                               "params": {"capabilities": {}, "processId": None}})  # fmt: skip
            conn.sendall(f"Content-Length: {len(body)}\r\n\r\n{body}".encode())
            reply = b""
            while b"serverInfo" not in reply:
                chunk = conn.recv(65536)
                assert chunk, reply
                reply += chunk
        assert b'"hoverProvider": true' in reply
    finally:
        server.kill()
        server.wait(WAIT)
        assert server.stderr is not None
        assert b"Traceback" not in server.stderr.read()
        server.stderr.close()


def test_policy_text_in_a_hover_is_shown_not_obeyed(editor: Editor, city: Path) -> None:
    hostile = "<img src=x onerror=alert(1)> [click](javascript:alert(1)) | `x`"
    text = city.read_text("utf-8") + (
        f"facts:\n  site.note:\n    type: string\n    description: '{hostile}'\n"
    )
    uri = editor.open(city, text)
    editor.diagnostics(uri, bool)  # checked (the new fact is unused: a warning)
    value = editor.ask("hover", uri, *position(text, "site.note", 2)).contents.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in value and "<img" not in value
    assert "\\[click\\](javascript:alert(1))" in value and "\\|" in value


def test_a_file_on_disk_that_stops_the_check_is_shown(editor: Editor, tmp_path: Path) -> None:
    """Only a Kent file is open. A `generic` file (a layer) and a `houston` file (a sibling:
    every jurisdiction of the folder is read) no longer load, which stops Kent's check: both
    get their diagnostic, and both lose it when Kent is checked with them fixed."""
    shutil.copytree(ROOT / "policy", tmp_path / "policy")
    layer = tmp_path / "policy" / "generic" / "icc-2021" / "irc.yaml"
    sibling = tmp_path / "policy" / "houston" / "cal-2024" / "facts.yaml"
    texts = {p: p.read_text("utf-8") for p in (layer, sibling)}
    for path in texts:
        path.write_text("sections: [\n", "utf-8")
    kent = tmp_path / "policy" / "kent" / "ord-4463" / "14.01.030.yaml"
    kent_uri = editor.open(kent)
    for path in texts:
        [found] = editor.diagnostics(path.resolve().as_uri(), bool)
        assert found.code == "load/yaml-syntax" and found.range.start == t.Position(1, 0)
    for path, text in texts.items():
        path.write_text(text, "utf-8")
    editor.change(kent_uri, kent.read_text("utf-8") + "\n")
    for path in texts:
        assert editor.diagnostics(path.resolve().as_uri(), lambda d: not d) == []
