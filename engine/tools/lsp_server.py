"""The language server's state (``engine.tools.lsp`` registers its features): the open files,
the checks, when the next one runs, and what each file's diagnostics were last published as;
and a diagnostic, a span and a place as LSP has them.

The jurisdiction a file belongs to is checked again with the unsaved text of every open file
(``engine.tools.lsp_check``) a short while after the last keystroke, and each of its files gets
its problems (or none, once fixed).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, wraps
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from engine.diagnostics import Diagnostic, docs_url
from engine.paths import bundled_doc
from engine.source import Span
from engine.tools.lsp_check import Checker, Snapshot, jurisdiction_folder, read_text
from engine.tools.lsp_index import Index
from engine.tools.lsp_text import Text

DELAY = 0.3  # seconds of quiet after a keystroke before the policy is checked again
OUTSIDE = "lsp/outside-policy"
KEPT_TEXTS = 8  # files whose line tables are kept (see ``text_of``)
F = TypeVar("F", bound=Callable[..., Any])


@lru_cache(maxsize=256)
def code_href(code: str) -> str:
    """Where an editor's link on a diagnostic's code goes: the site's page for it when
    ORDINANCE_DOCS_URL is set, else its section of docs/diagnostics.md on this machine."""
    anchor = "".join(ch for ch in code if ch.isalnum() or ch in "-_")
    return docs_url(code) or f"{bundled_doc('diagnostics.md').as_uri()}#{anchor}"


class PolicyServer(LanguageServer):
    """The server, with what it remembers between messages: the checks, the pending ones,
    and what each file's diagnostics were last published as."""

    def __init__(self, delay: float = DELAY) -> None:
        try:
            version = importlib.metadata.version("ordinance")
        except importlib.metadata.PackageNotFoundError:
            version = "0"
        super().__init__("ordinance", version, text_document_sync_kind=t.TextDocumentSyncKind.Full)
        self.delay = delay
        self.checker = Checker()
        self.pending: dict[Path, asyncio.TimerHandle] = {}
        self.checks: set[asyncio.Future[None]] = set()
        self.sent: dict[Path, list[t.Diagnostic]] = {}
        self.uris: dict[Path, str] = {}  # open files: the URI the client calls each
        self.kept_texts: dict[Path, Text] = {}
        self.read_now: dict[Path, str | None] | None = None
        # One worker: checks run one at a time, off the thread that answers hovers.
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="ordinance-check")

    # Documents ----------------------------------------------------------------------------

    def texts(self) -> dict[Path, str]:
        """The text of every open file, by its path."""
        out = {}
        for uri, doc in list(self.workspace.text_documents.items()):
            path = to_fs_path(uri)
            if path is not None:
                out[Path(path)] = doc.source
        return out

    def text_of(self, file: Path) -> Text | None:
        """A file's text as the editor has it (open) or as it is on disk. The last few asked
        for are kept with their line tables: publishing a thousand problems of one large file
        (each related to a place in another) must not split it a thousand times."""
        uri = self.uris.get(file)
        source: str | None
        if uri is not None and uri in self.workspace.text_documents:
            source = self.workspace.get_text_document(uri).source
        elif self.read_now is not None:  # publishing: each file is read once
            if file not in self.read_now:
                self.read_now[file] = read_text(file)
            source = self.read_now[file]
        else:
            source = read_text(file)
        if source is None:
            return None
        kept = self.kept_texts.pop(file, None)
        if kept is None or kept.text != source:
            kept = Text(source, self.workspace.position_codec.client_num_units)
        self.kept_texts[file] = kept  # the most recent last
        while len(self.kept_texts) > KEPT_TEXTS:
            del self.kept_texts[next(iter(self.kept_texts))]
        return kept

    def opened(self, uri: str) -> Path | None:
        path = to_fs_path(uri)
        if path is None:
            return None
        file = Path(path).resolve()
        self.uris[file] = uri
        return file

    # Checking -----------------------------------------------------------------------------

    def schedule(self, file: Path, delay: float, closed: bool = False) -> None:
        """Check the jurisdiction ``file`` belongs to after ``delay`` seconds of quiet (each
        new change restarts the wait), and the checked ones a change to it can change."""
        folder = jurisdiction_folder(file)
        if folder is None:
            self.publish_outside(file, closed)
            return
        for target in [folder, *self.dependents(folder)]:
            if (handle := self.pending.pop(target, None)) is not None:
                handle.cancel()
            loop = asyncio.get_running_loop()
            self.pending[target] = loop.call_later(delay, self.start_check, target)

    def dependents(self, folder: Path) -> list[Path]:
        """The checked jurisdictions a change to ``folder`` can change: those of the same
        policy folder (a check reads them all) and those layered on it from elsewhere."""
        folder = folder.resolve()
        snap = self.checker.snapshots.get(folder)
        jid = snap.jid if snap is not None else folder.name
        return [f for f, s in list(self.checker.snapshots.items()) if f != folder
                and (f.parent == folder.parent or jid in s.layers())]  # fmt: skip

    def start_check(self, folder: Path) -> None:
        self.checks.add(task := asyncio.ensure_future(self.run_check(folder)))
        task.add_done_callback(self.checks.discard)  # kept until done: a task is weakly held

    async def run_check(self, folder: Path) -> None:
        """Check ``folder`` on the worker, then publish what changed in its files."""
        self.pending.pop(folder, None)
        try:
            old = self.checker.snapshots.get(folder.resolve())
            before = set(old.diagnostics) if old is not None else set()
            snap = await asyncio.get_running_loop().run_in_executor(
                self.worker, self.checker.check, folder, self.texts()
            )
            self.publish(before | set(snap.diagnostics))
        except Exception as exc:  # a bug of ours: said in the client's log, never a crash
            self.log(f"internal error checking {folder}: {type(exc).__name__}: {exc}")

    def publish(self, files: set[Path]) -> None:
        """Send each of ``files`` its diagnostics, when they differ from what was sent."""
        self.read_now = {}
        try:
            self.publish_each(files)
        finally:
            self.read_now = None

    def publish_each(self, files: set[Path]) -> None:
        """What every check found in each file, the same problem once."""
        for file in sorted(files):
            found = [self.to_lsp(d, file) for d in self.checker.diagnostics_for(file)]
            if self.sent.get(file, []) == found:
                continue
            self.sent[file] = found
            uri = self.uris.get(file, file.as_uri())
            self.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri, found))

    def stop_checks(self) -> None:
        """At shutdown: no check starts any more, and the worker stops after its current one."""
        for handle in self.pending.values():
            handle.cancel()
        self.pending.clear()
        self.worker.shutdown(wait=False, cancel_futures=True)

    def publish_outside(self, file: Path, closed: bool = False) -> None:
        """A file of no policy gets one note saying so while it is open (nothing is checked)."""
        note = t.Diagnostic(
            t.Range(t.Position(0, 0), t.Position(0, 0)),
            "this file belongs to no policy: no folder above it holds a `jurisdiction.yaml`",
            severity=t.DiagnosticSeverity.Information, code=OUTSIDE, source="ordinance",
            code_description=t.CodeDescription(code_href(OUTSIDE)))  # fmt: skip
        uri = self.uris.get(file, file.as_uri())
        self.text_document_publish_diagnostics(
            t.PublishDiagnosticsParams(uri, [] if closed else [note])
        )

    def to_lsp(self, d: Diagnostic, file: Path) -> t.Diagnostic:
        """``d`` as LSP has it: 0-based positions in the client's units, the code with its
        link, the help and section in the message, the related places as related info."""
        message = d.message
        if d.citation:
            message += f"\nsection: {d.citation}"
        if d.help:
            message += f"\nhelp: {d.help}"
        related = [t.DiagnosticRelatedInformation(self.location(s), m) for s, m in d.related]
        severity = (
            t.DiagnosticSeverity.Error if d.severity == "error" else t.DiagnosticSeverity.Warning
        )
        return t.Diagnostic(self.range(d.span, file), message, severity=severity, code=d.code,
                            code_description=t.CodeDescription(code_href(d.code)),
                            source="ordinance", related_information=related or None)  # fmt: skip

    def range(self, span: Span | None, file: Path) -> t.Range:
        text = self.text_of(file) if span is not None else None
        if span is None or text is None:
            return t.Range(t.Position(0, 0), t.Position(0, 0))
        (l1, c1), (l2, c2) = text.span_range(span)
        return t.Range(t.Position(l1, c1), t.Position(l2, c2))

    def location(self, span: Span) -> t.Location:
        file = Path(span.file).resolve()
        return t.Location(self.uris.get(file, file.as_uri()), self.range(span, file))

    def log(self, message: str) -> None:
        self.window_log_message(t.LogMessageParams(t.MessageType.Error, message))

    # Where the cursor is ------------------------------------------------------------------

    def at(self, uri: str, pos: t.Position) -> tuple[Text, int, Index] | None:
        """The open file's text, the offset of ``pos`` in it, and the index of the
        jurisdiction (at the revision) the file belongs to."""
        file = self.opened(uri)
        folder = jurisdiction_folder(file) if file is not None else None
        text = self.text_of(file) if file is not None else None
        if folder is None or text is None or file is None:
            return None
        snap: Snapshot = self.checker.snapshot(folder, self.texts())
        revision = file.parent.name if file.parent.resolve() != folder.resolve() else None
        index = snap.index(revision)
        return (text, text.offset(pos.line, pos.character), index) if index else None


def safe(fn: F) -> F:
    """A handler that answers nothing, and says why in the client's log, when it fails."""

    @wraps(fn)
    def wrapper(server: PolicyServer, params: Any) -> Any:
        try:
            return fn(server, params)
        except Exception as exc:  # a bug of ours: the editor keeps working
            server.log(f"internal error in {fn.__name__}: {type(exc).__name__}: {exc}")
            return None

    return wrapper  # type: ignore[return-value]
