"""The decision log: every decision the service makes (and every batch, with its items) as one
append-only event.

In: the service's events (`docs/service.md`: id, time, request, input, result, diagnostics …).
Out: canonical JSON lines in an NDJSON file, or rows of one SQL table (SQLite or PostgreSQL),
and the events read back for `ordinance replay`. A fact declared `log: mask` reaches the log
only as a hash of its value.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlparse

import orjson
import sqlalchemy as sa

from engine.diagnostics import Diagnostic, OrdinanceError, Span
from engine.service.masking import mask_event
from engine.sqlstore import build_engine, create_schema, engine_url, unavailable

DEFAULT_FILE = "decisions.ndjson"


class LogError(OrdinanceError):
    """The decision log cannot be opened, written or read; carries its diagnostics."""


def _refuse(code: str, message: str, span: Span | None = None, help: str | None = None) -> NoReturn:
    raise LogError([Diagnostic(code, message, span, help=help)])


# ---------------------------------------------------------------------------------------------
# The event's text


def canonical_line(event: Mapping[str, Any]) -> bytes:
    """One event as one line of canonical JSON: sorted keys, no insignificant space, UTF-8.

    JSON writes a newline inside a value as `\\n`, so no value breaks the line format. orjson
    writes it (the service's encoder: a 60 KB explained result in a tenth of the time of
    `json`); what orjson refuses (half a surrogate pair, which UTF-8 cannot hold; an integer
    past 64 bits) `json` writes, with ASCII escapes.

    >>> canonical_line({"b": "x\\ny", "a": "é"})
    b'{"a":"\\xc3\\xa9","b":"x\\\\ny"}\\n'
    """
    try:
        return orjson.dumps(event, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        text = json.dumps(event, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return (text + "\n").encode("ascii")


def expand(event: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The decisions one logged event holds: itself, or each item of a batch as its own event.

    A batch is logged as one event whose `items` hold each case's `index`, `input`,
    `jurisdiction`, `status`, `result` and `diagnostics`; the item's event is the batch's with
    those, its id `<batch id>.<index>`. What reads the log (replay, an operator's query) sees
    the same events whichever way they were written.

    >>> [e["id"] for e in expand({"id": "B", "kind": "batch", "batch_id": "B", "items": [
    ...     {"index": 0, "input": {}}, {"index": 1, "input": {}}]})]
    ['B.0', 'B.1']
    """
    items = event.get("items")
    if not isinstance(items, list):
        yield dict(event)
        return
    common = {k: v for k, v in event.items() if k != "items"}
    for item in items:
        if isinstance(item, Mapping):
            yield {**common, **item, "id": f"{event.get('id')}.{item.get('index')}"}


# ---------------------------------------------------------------------------------------------
# The log


class DecisionLog:
    """Where events go; `append` returns once the event is durable. Thread-safe.

    `mask` is the set of fact ids to mask; the service replaces it when it reloads the policy.
    `warnings` holds what opening the log found (a line torn by an earlier crash, removed).
    """

    url: str
    mask: frozenset[str] = frozenset()
    warnings: list[Diagnostic]

    def append(self, event: Mapping[str, Any]) -> None:
        """Record one event (a decision, or a whole batch with its `items`)."""
        self.append_many((event,))

    def append_many(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Record the events of a batch in one write (NDJSON) or one transaction (SQL)."""
        mask = self.mask
        masked_events = [mask_event(e, mask) for e in events]
        if masked_events:
            self._write(masked_events)

    def _write(self, events: list[Mapping[str, Any]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the file or the connections; appending after this is a bug."""

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class FileLog(DecisionLog):
    """An NDJSON file, one canonical event per line, opened for appending.

    Each append is one `write` of whole lines under an exclusive `flock`, so the processes of
    several workers sharing the file never interleave their lines, then (with `fsync`) one
    `os.fsync`. The fsync runs outside the locks: threads that wrote at once wait on the disk
    together, and each one's lines are durable when its own fsync returns.
    """

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.url = str(path)
        self.path = path
        self.fsync = fsync
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            new = not path.exists()
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            if new and fsync:  # the file's name must survive a power cut as well as its lines
                _fsync_folder(path.parent)
        except (OSError, ValueError) as e:  # ValueError: a NUL in the path
            _refuse(
                "log/unavailable",
                f"the decision log `{path}` cannot be opened: {getattr(e, 'strerror', e)}",
                help="give a file in a folder you may write to, "
                "`sqlite:///path/to/log.db` or a `postgresql://` URL",
            )
        self.warnings = self._seal()

    def _seal(self) -> list[Diagnostic]:
        """Cut off a last line a crash left unfinished, so the next event does not continue it.

        The torn bytes were never acknowledged (an append returns after its whole line is
        written), and under the lock no other writer is half-way through a line.
        """
        with self._locked():
            size = os.fstat(self._fd).st_size
            end = _last_line_end(self.path, size)
            if end == size:
                return []
            os.ftruncate(self._fd, end)
        line = _count_lines(self.path, end) + 1
        message = (
            f"the last line of the decision log was cut off by a crash ({size - end} "
            "bytes, never acknowledged): removed"
        )
        return [
            Diagnostic(
                "log/torn-line", message, Span(str(self.path), line, 1, line, 1), severity="warning"
            )
        ]

    def _locked(self) -> _FileLock:
        return _FileLock(self._lock, self._fd)

    def _write(self, events: list[Mapping[str, Any]]) -> None:
        data = b"".join(canonical_line(e) for e in events)
        try:
            with self._locked():
                start = os.fstat(self._fd).st_size
                try:
                    view = memoryview(data)
                    while view:  # one write; the loop only finishes one the kernel cut short
                        view = view[os.write(self._fd, view) :]
                except OSError:
                    # A write the disk stopped half-way (full) would leave half a line for the
                    # next event to continue: take it back, the event is not acknowledged.
                    os.ftruncate(self._fd, start)
                    raise
            if self.fsync:
                os.fsync(self._fd)
        except OSError as e:
            _refuse(
                "log/refused",
                f"the decision log `{self.path}` refused a write: {e.strerror}",
                help="free space on its disk, or check its permissions",
            )

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _FileLock:
    """The thread lock of one log, then the `flock` every process writing the file takes."""

    def __init__(self, lock: threading.Lock, fd: int) -> None:
        self.lock, self.fd = lock, fd

    def __enter__(self) -> None:
        self.lock.acquire()
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.lock.release()


def _last_line_end(path: Path, size: int, block: int = 1 << 16) -> int:
    """The offset just past the file's last newline (0 when it has none)."""
    with path.open("rb") as f:
        end = size
        while end > 0:
            start = max(0, end - block)
            f.seek(start)
            chunk = f.read(end - start)
            at = chunk.rfind(b"\n")
            if at >= 0:
                return start + at + 1
            end = start
    return 0


def _count_lines(path: Path, end: int, block: int = 1 << 20) -> int:
    count = 0
    with path.open("rb") as f:
        while end > 0 and (chunk := f.read(min(block, end))):
            count += chunk.count(b"\n")
            end -= len(chunk)
    return count


METADATA = sa.MetaData()
# One row per event. `event` is the canonical JSON of the whole event, what replay reads; the
# other columns repeat what an operator filters by. `seq` keeps the order of arrival; `id` is
# unique, so an event recorded twice is refused rather than counted twice.
DECISIONS = sa.Table(
    "decisions",
    METADATA,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("time", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("batch_id", sa.String(64)),
    sa.Column("jurisdiction", sa.String(128)),
    sa.Column("revision", sa.String(128)),
    sa.Column("policy_digest", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
)
COLUMNS = ("id", "time", "kind", "batch_id", "jurisdiction", "revision", "policy_digest", "status")


class SQLLog(DecisionLog):
    """The table `decisions` in SQLite or PostgreSQL; an append returns once committed. The
    database refuses UPDATE, DELETE and TRUNCATE of it (triggers made with the table)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.warnings = []
        engine = None
        try:
            engine = build_engine(engine_url(url))
            with engine.begin() as conn:
                create_schema(conn, METADATA, ("decisions",))
        except (sa.exc.SQLAlchemyError, ValueError, ImportError) as e:
            if engine is not None:
                engine.dispose()
            raise LogError([unavailable("log/unavailable", "the decision log", url, e)]) from None
        self.engine = engine

    def _write(self, events: list[Mapping[str, Any]]) -> None:
        rows = [
            {
                **{c: e.get(c) for c in COLUMNS},
                "event": canonical_line(e).decode("utf-8").rstrip("\n"),
            }
            for e in events
        ]
        try:
            with self.engine.begin() as conn:
                conn.execute(DECISIONS.insert(), rows)
        except sa.exc.SQLAlchemyError as e:
            reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
            _refuse(
                "log/refused",
                f"the decision log refused an event: {reason}",
                help="each event needs its own id; the log is append-only",
            )

    def read(self) -> Iterator[dict[str, Any]]:
        with self.engine.connect() as conn:
            query = sa.select(DECISIONS.c.event).order_by(DECISIONS.c.seq)
            for text in conn.execute(query).scalars():
                yield json.loads(text)

    def close(self) -> None:
        self.engine.dispose()


def _is_sql(url: str) -> bool:
    return url.split(":", 1)[0].split("+", 1)[0] in ("sqlite", "postgresql", "postgres")


def _file_path(url: str) -> Path:
    if url.startswith("file:"):
        return Path(urlparse(url).path or url[5:])
    if "://" in url:
        _refuse(
            "log/unavailable",
            f"`{url.split('://', 1)[0]}` is not a kind of decision log",
            help="give a file path, `file:PATH`, `sqlite:///PATH` or `postgresql://…`",
        )
    return Path(url)


def open_log(
    url: str | None, *, default_dir: Path, fsync: bool = True, mask: frozenset[str] = frozenset()
) -> DecisionLog:
    """The decision log `url` names, created if missing.

    Args:
        url: None for `default_dir/decisions.ndjson`; a path or `file:` URL for an NDJSON
            file; `sqlite:///path` or `postgresql://…` for the table `decisions`.
        default_dir: where the default file goes.
        fsync: NDJSON only: fsync each append (durable against a power cut, not only a crash
            of the process); SQL commits are durable as the database is configured.
        mask: the fact ids to mask (`mask_for(policy)`).

    Raises:
        LogError: `log/unavailable`, located at the URL.
    """
    log: DecisionLog
    if url is None:
        log = FileLog(default_dir / DEFAULT_FILE, fsync=fsync)
    elif _is_sql(url):
        log = SQLLog(url)
    else:
        log = FileLog(_file_path(url), fsync=fsync)
    log.mask = mask
    return log


def read_events(url: str, *, problems: list[Diagnostic] | None = None) -> Iterator[dict[str, Any]]:
    """The events of the log `url`, oldest first, a batch's items each as its own event
    (`expand`).

    A last line a crash cut off is skipped with a `log/torn-line` warning; any other line that
    is not an event's JSON is a `log/bad-line` error at its file:line:column. Both go to
    `problems` when given; without it, errors raise `LogError` once the good events are read.
    """
    found = problems if problems is not None else []
    if _is_sql(url):
        _check_exists(url)
        log = SQLLog(url)
        try:
            for event in log.read():
                yield from expand(event)
        finally:
            log.close()
    else:
        for event in _read_file(_file_path(url), found):
            yield from expand(event)
    errors = [d for d in found if d.severity == "error"]
    if problems is None and errors:
        raise LogError(errors)


def _check_exists(url: str) -> None:
    """Reading a SQLite log that is not there is a mistake (a typo), not an empty log: opening
    it would create it."""
    try:
        parsed = engine_url(url)
    except (sa.exc.SQLAlchemyError, ValueError):
        return  # SQLLog reports it, located
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if database and database != ":memory:" and not Path(database).is_file():
        _refuse(
            "log/unavailable",
            f"the decision log `{database}` does not exist",
            help="give the database `ordinance serve --decision-log` writes to",
        )


def _read_file(path: Path, problems: list[Diagnostic]) -> Iterator[dict[str, Any]]:
    try:
        f = path.open("rb")
    except OSError as e:
        _refuse(
            "log/unavailable",
            f"the decision log `{path}` cannot be read: {e.strerror}",
            help="give the file `ordinance serve --decision-log` writes",
        )
    with f:
        for number, raw in enumerate(f, 1):  # binary lines end at b"\n" only, not at U+2028
            event, problem = _parse_line(path, number, raw)
            if problem is not None:
                problems.append(problem)
            elif event is not None:
                yield event


def _parse_line(
    path: Path, number: int, raw: bytes
) -> tuple[dict[str, Any] | None, Diagnostic | None]:
    if not raw.strip():
        return None, None
    try:
        event = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        col = e.colno if isinstance(e, json.JSONDecodeError) else e.start + 1
        span = Span(str(path), number, col, number, col + 1)
        if not raw.endswith(b"\n"):
            return None, Diagnostic(
                "log/torn-line",
                "the last line was cut off by a crash (never acknowledged): skipped",
                span,
                severity="warning",
            )
        return None, Diagnostic(
            "log/bad-line",
            f"line {number} is not an event: {e}",
            span,
            help="an event is one JSON object per line; was the file edited by hand?",
        )
    if not isinstance(event, dict):
        span = Span(str(path), number, 1, number, 2)
        return None, Diagnostic(
            "log/bad-line",
            f"line {number} is not an event: not an object",
            span,
            help="an event is one JSON object per line",
        )
    return event, None
