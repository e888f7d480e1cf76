"""The certificate registry: issued certificates and their append-only events in SQL.

In: canonical certificates and status changes (who, when, why, under which policy revision).
Out: records, statuses, histories and the status list; SQLite at a path, or PostgreSQL by URL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn, TypeVar

import sqlalchemy as sa

from engine.diagnostics import Diagnostic, OrdinanceError
from engine.sqlstore import build_engine, create_schema, engine_url, unavailable

State = Literal["valid", "suspended", "revoked", "superseded"]
T = TypeVar("T")


@dataclass(frozen=True)
class Kind:
    """One kind of event: the states it may follow, the state it leads to, its `why` text."""

    after: tuple[State, ...]
    to: State
    why: str


# One table for the event kinds: the state rules and the recorded reason both come from it.
# IBC 111.4: the building official may suspend or revoke a certificate issued in error, on
# incorrect information, or for a violation; nothing follows a revocation.
KINDS: dict[str, Kind] = {
    "issue": Kind((), "valid", "issued: {reason}"),
    "regenerate": Kind((), "valid", "regenerated to correct `{other}`: {reason}"),
    "supersede": Kind(("valid", "suspended"), "superseded", "superseded by `{other}`: {reason}"),
    "suspend": Kind(("valid",), "suspended", "suspended under IBC 111.4: {reason}"),
    "reinstate": Kind(("suspended",), "valid", "reinstated under IBC 111.4: {reason}"),
    "revoke": Kind(("valid", "suspended"), "revoked", "revoked under IBC 111.4: {reason}"),
}

METADATA = sa.MetaData()
# Certificates are written once and never changed: a certificate's status is the fold of its
# events. `generation` counts the certificates of one permit, so two connections racing to
# issue different certificates for the same permit collide on a unique constraint.
CERTIFICATES = sa.Table(
    "certificates",
    METADATA,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("jurisdiction", sa.String(128), nullable=False),
    sa.Column("permit", sa.String(256), nullable=False),
    sa.Column("case_id", sa.String(256), nullable=False),
    sa.Column("issued_at", sa.String(40), nullable=False),
    sa.Column("key_id", sa.String(256), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("canonical", sa.Text, nullable=False),
    sa.Column("supersedes", sa.String(128), sa.ForeignKey("certificates.id"), unique=True),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("policy_revision", sa.String(128), nullable=False),
    sa.Column("policy_digest", sa.String(128), nullable=False),
    sa.UniqueConstraint("jurisdiction", "permit", "generation"),
    sa.UniqueConstraint("case_id", "key_id", "digest"),
)
EVENTS = sa.Table(
    "events",
    METADATA,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("certificate_id", sa.String(128), sa.ForeignKey("certificates.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("who", sa.Text, nullable=False),
    sa.Column("happened_at", sa.String(40), nullable=False),
    sa.Column("why", sa.Text, nullable=False),
    sa.Column("revision", sa.String(128), nullable=False),
    sa.Column("digest", sa.String(128), nullable=False),
    # The seq of the certificate's event before this one (0 for the first): two connections
    # changing one certificate at once both name the same one and collide, so the later one
    # runs again against the state the first left, and the state rules hold.
    sa.Column("previous", sa.Integer, nullable=False),
    sa.UniqueConstraint("certificate_id", "previous"),  # also the index of a history
    sa.CheckConstraint(
        "kind IN ({})".format(", ".join(f"'{k}'" for k in KINDS)), name="event_kind"
    ),
)

# The database itself refuses to change or delete an event (and a certificate), so that no
# client, not even one that bypasses this module, can rewrite the history.
TABLES = ("events", "certificates")


class RegistryError(OrdinanceError):
    """The registry is unreachable, or refused an operation; carries its diagnostics."""


class SupersedeRequired(RegistryError):
    """The permit has a certificate in force with other content; issue with `supersede=True`."""

    def __init__(self, diagnostics: list[Diagnostic], current: Record) -> None:
        super().__init__(diagnostics)
        self.current = current


@dataclass(frozen=True)
class Certificate:
    """What the registry records of a certificate; `canonical` is its canonical JSON text."""

    id: str
    jurisdiction: str
    permit: str
    case_id: str
    issued_at: datetime
    key_id: str
    canonical: str
    policy_revision: str
    policy_digest: str

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical JSON's UTF-8 bytes, in hex."""
        return hashlib.sha256(self.canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Record:
    """A certificate as the registry holds it."""

    id: str
    jurisdiction: str
    permit: str
    case_id: str
    issued_at: str
    key_id: str
    digest: str
    canonical: str
    supersedes: str | None
    generation: int
    policy_revision: str
    policy_digest: str


@dataclass(frozen=True)
class Event:
    """One entry of a certificate's history."""

    seq: int
    certificate_id: str
    kind: str
    who: str
    when: str
    why: str
    revision: str
    digest: str
    previous: int


@dataclass(frozen=True)
class Status:
    """A certificate's standing: its state, since when, and what superseded it."""

    certificate_id: str
    state: State
    since: str
    superseded_by: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"status": self.state, "since": self.since}
        if self.superseded_by:
            out["superseded_by"] = self.superseded_by
        return out


def canonical_json(data: Any) -> str:
    """Sorted keys, no insignificant space, UTF-8 text: the same data gives the same bytes.

    >>> canonical_json({"b": 1, "a": ["é"]})
    '{"a":["é"],"b":1}'
    """
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def format_time(now: datetime) -> str:
    """An aware time as UTC ISO 8601 text ending in `Z`; naive times are refused.

    >>> from datetime import timedelta, timezone
    >>> format_time(datetime(2026, 12, 1, 10, 30, tzinfo=timezone(timedelta(hours=-6))))
    '2026-12-01T16:30:00Z'
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"a registry time needs a time zone: `{now.isoformat()}`")
    return now.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _refuse(code: str, message: str, help: str, citation: str | None = None) -> NoReturn:
    raise RegistryError([Diagnostic(code, message, help=help, citation=citation)])


def _unavailable(url: str, error: Exception) -> NoReturn:
    raise RegistryError(
        [unavailable("certificate/registry-unavailable", "the certificate registry", url, error)]
    )


def _find(conn: sa.Connection, *where: Any) -> Record | None:
    row = conn.execute(sa.select(CERTIFICATES).where(*where)).first()
    return Record(**row._mapping) if row else None


def _events(conn: sa.Connection, *where: Any) -> list[Event]:
    rows = conn.execute(sa.select(EVENTS).where(*where).order_by(EVENTS.c.seq))
    return [_event(r) for r in rows]


def _event(row: Any) -> Event:
    m = dict(row._mapping)
    m["when"] = m.pop("happened_at")
    return Event(**m)


def fold_status(certificate_id: str, events: list[Event], successor: str | None) -> Status:
    """A certificate's status from its events, oldest first."""
    state: State = "valid"
    since = ""
    for e in events:
        state, since = KINDS[e.kind].to, e.when
    return Status(certificate_id, state, since, successor if state == "superseded" else None)


def _status(conn: sa.Connection, certificate_id: str) -> Status:
    if _find(conn, CERTIFICATES.c.id == certificate_id) is None:
        _refuse(
            "certificate/unknown",
            f"the registry holds no certificate `{certificate_id}`",
            "check the certificate id (the name of its JSON file, or the id in its QR code)",
        )
    successor = conn.execute(
        sa.select(CERTIFICATES.c.id).where(CERTIFICATES.c.supersedes == certificate_id)
    ).scalar()
    return fold_status(certificate_id, _events(conn, EVENTS.c.certificate_id == certificate_id),
                       successor)  # fmt: skip


def _current(conn: sa.Connection, jurisdiction: str, permit: str) -> Record | None:
    """The permit's latest certificate, if it is still in force (valid or suspended)."""
    latest = _find(
        conn,
        CERTIFICATES.c.jurisdiction == jurisdiction,
        CERTIFICATES.c.permit == permit,
        CERTIFICATES.c.generation
        == sa.select(sa.func.max(CERTIFICATES.c.generation))
        .where(CERTIFICATES.c.jurisdiction == jurisdiction, CERTIFICATES.c.permit == permit)
        .scalar_subquery(),
    )
    if latest and _status(conn, latest.id).state in ("valid", "suspended"):
        return latest
    return None


@dataclass(frozen=True)
class Change:
    """Who makes a change, when, why, and under which policy revision and digest."""

    who: str
    now: datetime
    why: str
    revision: str
    digest: str


def _append(
    conn: sa.Connection, certificate_id: str, kind: str, change: Change, **fill: str
) -> None:
    why = KINDS[kind].why.format(reason=change.why, **fill)
    previous = sa.select(sa.func.coalesce(sa.func.max(EVENTS.c.seq), 0)).where(
        EVENTS.c.certificate_id == certificate_id
    )
    conn.execute(
        EVENTS.insert().values(
            certificate_id=certificate_id,
            kind=kind,
            who=change.who,
            happened_at=format_time(change.now),
            why=why,
            revision=change.revision,
            digest=change.digest,
            previous=conn.execute(previous).scalar_one(),
        )
    )


def _issue(
    conn: sa.Connection, cert: Certificate, change: Change, supersede: bool, kind: str
) -> Record:
    same = _find(
        conn,
        CERTIFICATES.c.case_id == cert.case_id,
        CERTIFICATES.c.key_id == cert.key_id,
        CERTIFICATES.c.digest == cert.digest,
    )
    if same:
        return same  # issuing again for the same case and key: idempotent, no new event
    if _find(conn, CERTIFICATES.c.id == cert.id):
        _refuse(
            "certificate/id-taken",
            f"the registry already holds another certificate with the id `{cert.id}`",
            "give the new certificate its own id; regenerate to correct a certificate",
        )
    current = _current(conn, cert.jurisdiction, cert.permit)
    if current and not supersede:
        _supersede_required(cert, current)
    generation = conn.execute(
        sa.select(sa.func.coalesce(sa.func.max(CERTIFICATES.c.generation), 0)).where(
            CERTIFICATES.c.jurisdiction == cert.jurisdiction, CERTIFICATES.c.permit == cert.permit
        )
    ).scalar_one()
    record = Record(
        id=cert.id,
        jurisdiction=cert.jurisdiction,
        permit=cert.permit,
        case_id=cert.case_id,
        issued_at=format_time(cert.issued_at),
        key_id=cert.key_id,
        digest=cert.digest,
        canonical=cert.canonical,
        supersedes=current.id if current else None,
        generation=int(generation) + 1,
        policy_revision=cert.policy_revision,
        policy_digest=cert.policy_digest,
    )
    conn.execute(CERTIFICATES.insert().values(**record.__dict__))
    if current:
        _append(conn, current.id, "supersede", change, other=cert.id)
    _append(
        conn, cert.id, kind if current else "issue", change, other=current.id if current else ""
    )
    return record


def _supersede_required(cert: Certificate, current: Record) -> NoReturn:
    message = (
        f"permit `{cert.permit}` already has certificate `{current.id}` in force, "
        f"with other content than `{cert.id}`"
    )
    help = (
        "a new certificate replaces the one in force only when the policy requires it "
        "(area, occupant load or use changed): issue it with supersede"
    )
    raise SupersedeRequired(
        [Diagnostic("certificate/supersede-required", message, help=help)], current
    )


def _change_state(conn: sa.Connection, certificate_id: str, kind: str, change: Change) -> Status:
    status = _status(conn, certificate_id)
    if status.state not in KINDS[kind].after:
        allowed = " or ".join(KINDS[kind].after)
        _refuse(
            "certificate/state-refused",
            f"certificate `{certificate_id}` is {status.state}: it cannot {kind}",
            f"only a {allowed} certificate can {kind}; nothing follows a revocation",
            citation="IBC 111.4",
        )
    _append(conn, certificate_id, kind, change)
    return _status(conn, certificate_id)


class Registry:
    """The registry of issued certificates; every operation is one transaction.

    >>> import tempfile, os
    >>> from datetime import timezone
    >>> now = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
    >>> with tempfile.TemporaryDirectory() as d, Registry.open(os.path.join(d, "r.db")) as reg:
    ...     cert = Certificate("co-1", "j", "P-1", "case-1", now, "k1", '{"a":1}', "2024", "ab")
    ...     reg.issue(cert, who="clerk", now=now).generation, reg.status("co-1").state
    (1, 'valid')
    """

    def __init__(self, engine: sa.Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    @classmethod
    def open(cls, url: str) -> Registry:
        """Connect to `url` (a path, `sqlite:///path`, or `postgresql://…`) and create the schema.

        An unusable sa.engine.URL or an unreachable server is a `certificate/registry-unavailable`
        diagnostic, raised as a `RegistryError`.
        """
        engine = None
        try:
            engine = build_engine(engine_url(url))
            with engine.begin() as conn:
                create_schema(conn, METADATA, TABLES)
        except (sa.exc.SQLAlchemyError, ValueError, ImportError) as e:
            if engine is not None:
                engine.dispose()
            _unavailable(url, e)
        return cls(engine, url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, work: Callable[[sa.Connection], T], retries: int = 3) -> T:
        """`work` in one transaction; a unique-constraint collision with a concurrent writer
        rolls back and runs it again, when the other writer's rows are visible."""
        for attempt in range(retries + 1):
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except (sa.exc.IntegrityError, sa.exc.OperationalError) as e:
                if attempt < retries and _retryable(e):
                    continue
                if isinstance(e, sa.exc.OperationalError):  # the server went away, or stays locked
                    _unavailable(self.url, e)
                raise
        raise AssertionError("unreachable")

    def issue(
        self,
        cert: Certificate,
        *,
        who: str,
        now: datetime,
        why: str = "the policy allows the certificate",
        supersede: bool = False,
    ) -> Record:
        """Record `cert`; the same case, key and content again returns the first record.

        A permit whose certificate is in force gets a certificate with other content only with
        `supersede=True` (else `SupersedeRequired`); the old one gets a supersede event.
        """
        change = Change(who, now, why, cert.policy_revision, cert.policy_digest)
        return self._run(lambda conn: _issue(conn, cert, change, supersede, "issue"))

    def regenerate(self, cert: Certificate, *, who: str, now: datetime, why: str) -> Record:
        """A corrected certificate that supersedes the permit's certificate in force."""
        change = Change(who, now, why, cert.policy_revision, cert.policy_digest)
        return self._run(lambda conn: _issue(conn, cert, change, True, "regenerate"))

    def revoke(self, certificate_id: str, who: str, why: str, *, now: datetime) -> Status:
        """Revoke under IBC 111.4 a valid or suspended certificate; nothing follows."""
        return self._change(certificate_id, "revoke", who, why, now)

    def suspend(self, certificate_id: str, who: str, why: str, *, now: datetime) -> Status:
        """Suspend under IBC 111.4 a valid certificate."""
        return self._change(certificate_id, "suspend", who, why, now)

    def reinstate(self, certificate_id: str, who: str, why: str, *, now: datetime) -> Status:
        """Reinstate a suspended certificate."""
        return self._change(certificate_id, "reinstate", who, why, now)

    def _change(self, certificate_id: str, kind: str, who: str, why: str, now: datetime) -> Status:
        def work(conn: sa.Connection) -> Status:
            record = self._get(conn, certificate_id)
            change = Change(who, now, why, record.policy_revision, record.policy_digest)
            return _change_state(conn, certificate_id, kind, change)

        return self._run(work)

    def _get(self, conn: sa.Connection, certificate_id: str) -> Record:
        record = _find(conn, CERTIFICATES.c.id == certificate_id)
        if record is None:
            _status(conn, certificate_id)  # raises certificate/unknown
            raise AssertionError("unreachable")
        return record

    def get(self, certificate_id: str) -> Record:
        """The record of a certificate (`certificate/unknown` if there is none)."""
        return self._run(lambda conn: self._get(conn, certificate_id))

    def current(self, jurisdiction: str, permit: str) -> Record | None:
        """The permit's certificate in force (valid or suspended), if any."""
        return self._run(lambda conn: _current(conn, jurisdiction, permit))

    def status(self, certificate_id: str) -> Status:
        """Valid, suspended, revoked, or superseded (and by which certificate)."""
        return self._run(lambda conn: _status(conn, certificate_id))

    def history(self, certificate_id: str) -> list[Event]:
        """The certificate's events, in the order they were recorded."""

        def work(conn: sa.Connection) -> list[Event]:
            _status(conn, certificate_id)
            return _events(conn, EVENTS.c.certificate_id == certificate_id)

        return self._run(work)

    def status_list(self, now: datetime) -> dict[str, Any]:
        """Every certificate's status, for offline checks: `{id: {"status": …}}` and when."""
        return self._run(lambda conn: build_status_list(conn, now))

    def status_list_json(self, now: datetime) -> str:
        """The status list as canonical JSON (what the signer signs)."""
        return canonical_json(self.status_list(now))


def build_status_list(conn: sa.Connection, now: datetime) -> dict[str, Any]:
    by_cert: dict[str, list[Event]] = {}
    for e in _events(conn):
        by_cert.setdefault(e.certificate_id, []).append(e)
    successors: Mapping[str, str] = {
        old: new
        for new, old in conn.execute(
            sa.select(CERTIFICATES.c.id, CERTIFICATES.c.supersedes).where(
                CERTIFICATES.c.supersedes.is_not(None)
            )
        )
    }
    ids = conn.execute(sa.select(CERTIFICATES.c.id).order_by(CERTIFICATES.c.id)).scalars()
    entries = {i: fold_status(i, by_cert.get(i, []), successors.get(i)).to_json() for i in ids}
    return {
        "format": "ordinance-status-list/1",
        "generated_at": format_time(now),
        "certificates": entries,
    }


def _retryable(e: sa.exc.SQLAlchemyError) -> bool:
    """A collision with a concurrent writer (unique key) or a lock timeout, not a refusal."""
    message = str(getattr(e, "orig", e)).lower()
    return (isinstance(e, sa.exc.IntegrityError) and "append-only" not in message) or (
        "locked" in message or "could not serialize" in message
    )
