"""The certificate registry on SQLite, and on PostgreSQL when ORDINANCE_TEST_POSTGRES_URL is set
(the `url` fixture of tests/conftest.py): idempotent issue, supersede, the IBC 111.4 state rules,
append-only events, the status list."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from engine.certificates.registry import (
    Certificate,
    Registry,
    RegistryError,
    SupersedeRequired,
    canonical_json,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def registry(url: str) -> Iterator[Registry]:
    with Registry.open(url) as reg:
        yield reg


def cert(id: str = "co-1", permit: str = "P-100", load: int = 49, **kw: str) -> Certificate:
    body = canonical_json({"id": id, "permit": permit, "occupant_load": load})
    fields = {"case_id": "case-1", "key_id": "key-a", "policy_revision": "2024"}
    fields |= kw
    return Certificate(
        id, "houston", permit, fields["case_id"], NOW, fields["key_id"], body,
        fields["policy_revision"], "sha256:policy",
    )  # fmt: skip


def later(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


def test_issue_records_the_certificate_and_one_issue_event(registry: Registry) -> None:
    record = registry.issue(cert(), who="clerk@houston", now=NOW)
    assert (record.id, record.supersedes, record.generation) == ("co-1", None, 1)
    assert len(record.digest) == 64 and record.digest == cert().digest
    assert json.loads(record.canonical)["occupant_load"] == 49
    assert record.issued_at == "2026-12-01T09:00:00Z"
    [event] = registry.history("co-1")
    assert (event.kind, event.who, event.when) == ("issue", "clerk@houston", "2026-12-01T09:00:00Z")
    assert (event.revision, event.digest) == ("2024", "sha256:policy")
    assert registry.status("co-1").state == "valid"


def test_issuing_again_for_the_same_case_and_key_is_idempotent(registry: Registry) -> None:
    first = registry.issue(cert(), who="clerk", now=NOW)
    again = registry.issue(cert(), who="someone else", now=later(5))
    assert again == first
    assert [e.kind for e in registry.history("co-1")] == ["issue"]


def test_other_content_for_a_permit_in_force_needs_supersede(registry: Registry) -> None:
    registry.issue(cert(), who="clerk", now=NOW)
    changed = cert("co-2", load=120)
    with pytest.raises(SupersedeRequired) as info:
        registry.issue(changed, who="clerk", now=later(1))
    assert info.value.current.id == "co-1"
    assert [d.code for d in info.value.diagnostics] == ["certificate/supersede-required"]
    assert "`P-100`" in info.value.diagnostics[0].message
    record = registry.issue(changed, who="clerk", now=later(2), supersede=True)
    assert (record.supersedes, record.generation) == ("co-1", 2)
    old = registry.status("co-1")
    assert (old.state, old.superseded_by, old.since) == (
        "superseded",
        "co-2",
        "2026-12-01T09:02:00Z",
    )
    assert [e.kind for e in registry.history("co-1")] == ["issue", "supersede"]
    assert "superseded by `co-2`" in registry.history("co-1")[1].why
    assert registry.status("co-2").state == "valid"
    assert registry.current("houston", "P-100") == record


def test_regenerate_supersedes_with_a_regenerate_event(registry: Registry) -> None:
    registry.issue(cert(), who="clerk", now=NOW)
    registry.regenerate(cert("co-2", load=50), who="clerk", now=later(1), why="typo in address")
    assert [e.kind for e in registry.history("co-2")] == ["regenerate"]
    assert registry.history("co-2")[0].why == "regenerated to correct `co-1`: typo in address"
    assert registry.status("co-1").superseded_by == "co-2"


def test_an_id_is_never_reused(registry: Registry) -> None:
    registry.issue(cert(), who="clerk", now=NOW)
    for other in (cert(load=50), cert(case_id="case-9", permit="P-9")):
        with pytest.raises(RegistryError) as info:
            registry.issue(other, who="clerk", now=later(1), supersede=True)
        assert [d.code for d in info.value.diagnostics] == ["certificate/id-taken"]
    assert [e.kind for e in registry.history("co-1")] == ["issue"]


def test_a_revoked_permit_certificate_is_replaced_without_supersede(registry: Registry) -> None:
    registry.issue(cert(), who="clerk", now=NOW)
    registry.revoke("co-1", "official", "issued in error", now=later(1))
    record = registry.issue(cert("co-2", load=60), who="clerk", now=later(2))
    assert (record.supersedes, record.generation) == (None, 2)
    assert registry.status("co-1").state == "revoked"


def test_state_rules_cite_ibc_111_4(registry: Registry) -> None:
    registry.issue(cert(), who="clerk", now=NOW)
    with pytest.raises(RegistryError) as info:
        registry.reinstate("co-1", "official", "back", now=later(1))  # not suspended
    [d] = info.value.diagnostics
    assert (d.code, d.citation) == ("certificate/state-refused", "IBC 111.4")
    assert d.message == "certificate `co-1` is valid: it cannot reinstate"
    assert registry.suspend("co-1", "official", "violation", now=later(2)).state == "suspended"
    with pytest.raises(RegistryError, match="is suspended: it cannot suspend"):
        registry.suspend("co-1", "official", "again", now=later(3))
    assert registry.reinstate("co-1", "official", "corrected", now=later(4)).state == "valid"
    assert registry.revoke("co-1", "official", "incorrect information", now=later(5)).state == (
        "revoked"
    )
    for change in (registry.revoke, registry.suspend, registry.reinstate):
        with pytest.raises(RegistryError, match="is revoked"):
            change("co-1", "official", "after revocation", now=later(6))
    whys = [e.why for e in registry.history("co-1")]
    assert whys[1:] == [
        "suspended under IBC 111.4: violation",
        "reinstated under IBC 111.4: corrected",
        "revoked under IBC 111.4: incorrect information",
    ]


def test_unknown_certificate_is_a_diagnostic(registry: Registry) -> None:
    for call in (registry.status, registry.history, registry.get):
        with pytest.raises(RegistryError) as info:
            call("co-404")
        assert info.value.diagnostics[0].code == "certificate/unknown"
    with pytest.raises(RegistryError, match="no certificate `co-404`"):
        registry.revoke("co-404", "official", "x", now=NOW)


def test_history_is_in_recorded_order(registry: Registry) -> None:
    registry.issue(cert(), who="clerk", now=NOW)
    registry.suspend("co-1", "a", "one", now=later(3))
    registry.reinstate("co-1", "b", "two", now=later(1))  # a clock set back keeps the order
    registry.suspend("co-1", "c", "three", now=later(2))
    events = registry.history("co-1")
    assert [e.kind for e in events] == ["issue", "suspend", "reinstate", "suspend"]
    assert [e.who for e in events] == ["clerk", "a", "b", "c"]
    assert [e.seq for e in events] == sorted(e.seq for e in events)


@pytest.mark.parametrize("statement", ["UPDATE events SET who = 'x'", "DELETE FROM events"])
def test_the_database_refuses_to_change_events(registry: Registry, statement: str) -> None:
    registry.issue(cert(), who="clerk", now=NOW)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):  # noqa: SIM117
        with registry.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    assert [e.who for e in registry.history("co-1")] == ["clerk"]


def test_the_database_refuses_to_change_certificates(registry: Registry) -> None:
    registry.issue(cert(), who="clerk", now=NOW)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):  # noqa: SIM117
        with registry.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE certificates SET digest = 'x'")


def test_the_registry_has_no_update_or_delete_api() -> None:
    public = {n for n in dir(Registry) if not n.startswith("_")}
    assert not {n for n in public if any(w in n for w in ("update", "delete", "remove", "edit"))}


def test_status_list_has_one_entry_per_certificate(registry: Registry) -> None:
    registry.issue(cert(), who="clerk", now=NOW)
    registry.issue(cert("co-2", load=80), who="clerk", now=later(1), supersede=True)
    registry.issue(cert("co-3", permit="P-200", case_id="case-3"), who="clerk", now=later(2))
    registry.issue(cert("co-4", permit="P-300", case_id="case-4"), who="clerk", now=later(3))
    registry.suspend("co-3", "official", "violation", now=later(4))
    registry.revoke("co-4", "official", "error", now=later(5))
    text = registry.status_list_json(later(60))
    assert text == canonical_json(json.loads(text))
    data = json.loads(text)
    assert data["generated_at"] == "2026-12-01T10:00:00Z"
    assert {k: v["status"] for k, v in data["certificates"].items()} == {
        "co-1": "superseded", "co-2": "valid", "co-3": "suspended", "co-4": "revoked",
    }  # fmt: skip
    assert data["certificates"]["co-1"]["superseded_by"] == "co-2"
    assert "superseded_by" not in data["certificates"]["co-2"]


def test_reopening_keeps_the_records(url: str) -> None:
    with Registry.open(url) as reg:
        reg.issue(cert(), who="clerk", now=NOW)
    with Registry.open(url) as reg:
        assert reg.status("co-1").state == "valid"
        assert reg.issue(cert(), who="clerk", now=later(1)).generation == 1


def test_naive_times_are_refused(registry: Registry) -> None:
    with pytest.raises(ValueError, match="time zone"):
        registry.issue(cert(), who="clerk", now=datetime(2026, 12, 1, 9))


@pytest.mark.parametrize(
    "bad",
    [
        "mysql://u@localhost/db",
        "nonsense://",
        "sqlite:////nonexistent/folder/registry.db",
        "postgresql://ordinance:secret@127.0.0.1:1/none",
    ],
)
def test_an_unusable_url_is_a_located_diagnostic(bad: str) -> None:
    with pytest.raises(RegistryError) as info:
        Registry.open(bad)
    [d] = info.value.diagnostics
    assert d.code == "certificate/registry-unavailable"
    assert d.span is not None and d.span.line == 1 and d.help
    assert "secret" not in d.message and "secret" not in d.span.file
    assert d.message.startswith("the certificate registry `")


def _race(url: str, work: list[Callable[[Registry], object]]) -> list[object]:
    """Each piece of work on its own connection, all released at once; a refusal is returned."""
    registries = [Registry.open(url) for _ in work]
    barrier = threading.Barrier(len(work))
    results: list[object] = [None] * len(work)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work[i](registries[i])
        except RegistryError as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in registries:
        r.close()
    return results


def _issuing(c: Certificate) -> Callable[[Registry], object]:
    return lambda reg: reg.issue(c, who="clerk", now=NOW)


def _suspending(minute: int) -> Callable[[Registry], object]:
    return lambda reg: reg.suspend("co-1", "official", "violation", now=later(minute)).state


def test_two_connections_issuing_the_same_certificate_make_one_record(url: str) -> None:
    Registry.open(url).close()
    for attempt in range(5):
        c = cert(f"co-{attempt}", permit=f"P-{attempt}", case_id=f"case-{attempt}")
        first, second = _race(url, [_issuing(c), _issuing(c)])
        assert first == second and getattr(first, "id", None) == c.id
        with Registry.open(url) as reg:
            assert [e.kind for e in reg.history(c.id)] == ["issue"]


def test_two_connections_issuing_different_certificates_for_a_permit(url: str) -> None:
    Registry.open(url).close()
    a, b = cert("co-a", load=10), cert("co-b", load=20, case_id="case-2")
    results = _race(url, [_issuing(a), _issuing(b)])
    assert sorted(type(r).__name__ for r in results) == ["Record", "SupersedeRequired"]
    with Registry.open(url) as reg:
        assert reg.status_list(NOW)["certificates"].keys() in ({"co-a"}, {"co-b"})


def test_two_connections_changing_one_certificate_keep_the_state_rules(url: str) -> None:
    with Registry.open(url) as reg:
        reg.issue(cert(), who="clerk", now=NOW)
    for minute in range(3):
        outcomes = _race(url, [_suspending(minute), _suspending(minute)])
        codes = sorted(
            o.diagnostics[0].code if isinstance(o, RegistryError) else o for o in outcomes
        )
        assert codes == ["certificate/state-refused", "suspended"]
        with Registry.open(url) as reg:
            reg.reinstate("co-1", "official", "corrected", now=later(minute))
    with Registry.open(url) as reg:
        events = reg.history("co-1")
        assert [e.kind for e in events] == ["issue"] + ["suspend", "reinstate"] * 3
        assert [e.previous for e in events] == [0] + [e.seq for e in events[:-1]]


def test_replace_keeps_the_digest_in_step_with_the_text() -> None:
    c = cert()
    assert replace(c, canonical=c.canonical + " ").digest != c.digest
