"""`ordinance keys` and `ordinance certificate` end to end, as a clerk and an inspector use them
(issue 12): make a key, issue from the bundled examples, read back every file, verify by the QR
code, supersede after an occupant-load change, suspend, reinstate, revoke, regenerate."""

from __future__ import annotations

import email
import email.policy
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from pypdf import PdfReader

from engine.certificates.registry import Registry
from engine.tools.cli import main
from tests.conftest import ROOT

HOUSTON = ROOT / "examples" / "houston-co-ready.yaml"
KENT = ROOT / "examples" / "kent-co-ready.yaml"
NOT_READY = ROOT / "examples" / "houston-office-building.yaml"
NOW = "2026-12-01T15:00:00Z"


def run(*args: Any, now: str = NOW) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], env={"ORDINANCE_NOW": now})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def desk(tmp_path: Path, url: str) -> dict[str, Any]:
    """A permit center's desk: a Houston key and a Kent key, a folder for certificates and a
    registry (SQLite, and PostgreSQL when CI starts one)."""
    for jur in ("houston", "kent"):
        code, _, err = run("keys", "new", "--jurisdiction", jur, "--out", tmp_path / jur,
                             "--valid-from", "2026-01-01")  # fmt: skip
        assert code == 0, err
    return {
        "houston_key": next((tmp_path / "houston").glob("*.pem")),
        "kent_key": next((tmp_path / "kent").glob("*.pem")),
        "houston_trust": tmp_path / "houston" / "keys.json",
        "kent_trust": tmp_path / "kent" / "keys.json",
        "out": tmp_path / "certs",
        "registry": url,
    }


def issue(desk: dict[str, Any], case: Path, jur: str = "houston", *extra: Any,
          now: str = NOW) -> tuple[int, dict[str, Any], str]:  # fmt: skip
    code, out, err = run("certificate", "issue", case, "--key", desk[f"{jur}_key"], "--out",
                         desk["out"], "--registry", desk["registry"], "--format", "json",
                         "--who", "clerk@permits", *extra, now=now)  # fmt: skip
    return code, json.loads(out) if code == 0 else {}, err


def changed(tmp_path: Path, source: Path, **facts: Any) -> Path:
    data = yaml.safe_load(source.read_text("utf-8"))
    for fid, value in facts.items():
        matter, name = fid.split(".")
        data["facts"].setdefault(matter, {})[name] = value
    path = tmp_path / f"changed-{len(list(tmp_path.glob('changed-*')))}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    return path


def verify(desk: dict[str, Any], scanned: Any, jur: str = "houston",
           *extra: Any) -> tuple[int, dict[str, Any]]:  # fmt: skip
    code, out, err = run("certificate", "verify", scanned, "--trust", desk[f"{jur}_trust"],
                         "--format", "json", "--date", "2026-12-10", *extra)  # fmt: skip
    assert code in (0, 1), err
    return code, json.loads(out)


def checks(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["checks"]}


def test_keys_new_writes_a_private_key_0600_and_the_trust_list(tmp_path: Path) -> None:
    code, out, _ = run("keys", "new", "-j", "houston", "--out", tmp_path, "--valid-from",
                       "2026-01-01", "--valid-until", "2030-12-31")  # fmt: skip
    assert code == 0
    [pem] = tmp_path.glob("*.pem")
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    [entry] = json.loads((tmp_path / "keys.json").read_text("utf-8"))["keys"]
    assert (entry["kid"], entry["algorithm"], entry["jurisdiction"]) == (
        pem.stem,
        "EdDSA",
        "houston",
    )
    assert (entry["valid_from"], entry["valid_until"]) == ("2026-01-01", "2030-12-31")
    assert entry["kid"] in out and "keys.json" in out


def test_keys_new_refuses_an_unknown_jurisdiction(tmp_path: Path) -> None:
    code, _, err = run("keys", "new", "-j", "huston", "--out", tmp_path)
    assert code == 1 and "cli/unknown-jurisdiction" in err and "did you mean `houston`?" in err
    assert not list(tmp_path.glob("*"))


def test_issue_writes_json_pdf_png_and_email_and_records_it(desk: dict[str, Any]) -> None:
    code, out, err = issue(desk, HOUSTON)
    assert code == 0, err
    cid = out["certificate"]
    assert out["new"] is True and out["status"] == "valid" and out["supersedes"] is None
    files = {k: Path(v) for k, v in out["files"].items()}
    assert sorted(files) == ["eml", "json", "pdf", "png"]
    assert all(p.name.startswith(cid) for p in files.values())
    certificate = json.loads(files["json"].read_text("utf-8"))
    assert certificate["id"] == cid and certificate["case"] == "HOU-2026-0117"
    text = "".join(page.extract_text() for page in PdfReader(files["pdf"]).pages)
    assert cid in text and "BP-2026-004512" in text and "IBC 111.2" in text
    message = email.message_from_bytes(files["eml"].read_bytes(), policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == "leasing@travis-street.example.com"
    assert len(message["To"].addresses) == 2
    [attachment] = list(message.iter_attachments())  # type: ignore[attr-defined]
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{cid}.pdf"
    assert attachment.get_content() == files["pdf"].read_bytes()
    with Registry.open(str(desk["registry"])) as reg:
        [event] = reg.history(cid)
        record = reg.get(cid)
    assert (event.kind, event.who, event.when) == ("issue", "clerk@permits", "2026-12-01T15:00:00Z")
    assert record.canonical == json.dumps(certificate, sort_keys=True, separators=(",", ":"),
                                          ensure_ascii=False)  # fmt: skip
    assert event.revision == "cal-2024" and len(event.digest) == 64


def test_issuing_twice_is_idempotent_and_rewrites_the_same_bytes(desk: dict[str, Any]) -> None:
    _, first, _ = issue(desk, HOUSTON)
    before = {k: Path(v).read_bytes() for k, v in first["files"].items() if k != "eml"}
    code, again, _ = issue(desk, HOUSTON, now="2026-12-03T10:00:00Z")
    assert code == 0 and again["certificate"] == first["certificate"] and again["new"] is False
    after = {k: Path(v).read_bytes() for k, v in again["files"].items() if k != "eml"}
    assert after == before  # the issue date stays the first one's
    with Registry.open(str(desk["registry"])) as reg:
        assert [e.kind for e in reg.history(first["certificate"])] == ["issue"]


def test_a_case_that_is_not_ready_is_refused_with_located_reasons(desk: dict[str, Any]) -> None:
    code, _, err = issue(desk, NOT_READY)
    assert code == 1
    assert "error[certificate/not-issuable]" in err and "`co.can_issue`" in err
    assert "houston-office-building.yaml:" in err and "section: CO Issuance Workflow" in err
    assert "Traceback" not in err
    assert not desk["out"].exists() or not list(desk["out"].glob("CO-*"))
    with Registry.open(str(desk["registry"])) as reg:
        assert reg.status_list(reg_time())["certificates"] == {}


def reg_time() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 12, 1, tzinfo=UTC)


def test_houston_occupant_load_change_supersedes_and_the_old_is_reported_superseded(
    desk: dict[str, Any], tmp_path: Path
) -> None:
    _, first, _ = issue(desk, HOUSTON)
    old = first["certificate"]
    more = changed(tmp_path, HOUSTON, **{"building.occupant_load": 300,
                                         "change.occupant_load": True})  # fmt: skip
    code, second, err = issue(desk, more, now="2026-12-05T16:00:00Z")
    assert code == 0, err
    assert second["supersedes"] == old and second["certificate"] != old
    certificate = json.loads(Path(second["files"]["json"]).read_text("utf-8"))
    assert certificate["supersedes"] == old
    assert "co.new_certificate_required" in [b["decision"] for b in certificate["basis"]]
    code, out, _ = run("certificate", "history", old, "--registry", desk["registry"])
    assert code == 0 and f"superseded, superseded by {second['certificate']}" in out.replace(
        " since 2026-12-05T16:00:00Z", ""
    )
    code, report = verify(desk, first["files"]["png"], "houston", "--registry", desk["registry"])
    assert code == 1 and checks(report)["status"] == "invalid"
    assert second["certificate"] in next(c["reason"] for c in report["checks"]
                                         if c["name"] == "status")  # fmt: skip
    code, report = verify(desk, second["files"]["png"], "houston", "--registry", desk["registry"])
    assert code == 0 and set(checks(report).values()) == {"valid"}


def test_other_content_without_a_change_the_policy_names_is_refused(
    desk: dict[str, Any], tmp_path: Path
) -> None:
    issue(desk, HOUSTON)
    typo = changed(tmp_path, HOUSTON, **{"owner.name": "Travis St. Partners LLC"})
    code, _, err = issue(desk, typo)
    assert code == 1 and "certificate/supersede-required" in err
    assert "`co.new_certificate_required` is false" in err and "regenerate" in err


def test_kent_has_no_change_rule_so_a_correction_is_a_regenerate(
    desk: dict[str, Any], tmp_path: Path
) -> None:
    code, first, err = issue(desk, KENT, "kent")
    assert code == 0, err
    assert "eml" in first["files"]  # the record's contacts
    fixed = changed(tmp_path, KENT, **{"building.occupant_load": 98})
    code, _, err = issue(desk, fixed, "kent")
    assert code == 1 and "certificate/supersede-required" in err
    assert "the policy names no change that requires a new certificate" in err
    code, out, err = run("certificate", "regenerate", first["certificate"], "--case", fixed,
                         "--key", desk["kent_key"], "--out", desk["out"], "--registry",
                         desk["registry"], "--reason", "occupant load was 98, not 96",
                         "--format", "json")  # fmt: skip
    assert code == 0, err
    second = json.loads(out)
    assert second["supersedes"] == first["certificate"]
    with Registry.open(str(desk["registry"])) as reg:
        [event] = reg.history(second["certificate"])
        assert event.kind == "regenerate" and "occupant load was 98" in event.why
        assert reg.status(first["certificate"]).superseded_by == second["certificate"]
    code, _, err = run("certificate", "regenerate", first["certificate"], "--case", fixed,
                       "--key", desk["kent_key"], "--out", desk["out"], "--registry",
                       desk["registry"], "--reason", "again")  # fmt: skip
    assert code == 1 and "certificate/not-current" in err


def test_suspend_reinstate_revoke_follow_ibc_111_4(desk: dict[str, Any]) -> None:
    _, first, _ = issue(desk, HOUSTON)
    cid, reg = first["certificate"], desk["registry"]
    code, _, err = run("certificate", "suspend", cid, "--reason", "x", "--registry", reg)
    assert code == 2 and "--ground" in err
    code, out, _ = run("certificate", "suspend", cid, "--ground", "violation", "--reason",
                       "blocked exit found on 2026-12-02", "--registry", reg)  # fmt: skip
    assert code == 0 and "suspended" in out
    code, report = verify(desk, first["files"]["png"], "houston", "--registry", reg)
    assert code == 1 and checks(report)["status"] == "invalid"
    code, out, _ = run("certificate", "reinstate", cid, "--reason", "exit cleared",
                       "--registry", reg)  # fmt: skip
    assert code == 0 and "valid" in out
    assert verify(desk, first["files"]["png"], "houston", "--registry", reg)[0] == 0
    code, out, _ = run("certificate", "revoke", cid, "--ground", "error", "--reason",
                       "issued for the wrong suite", "--registry", reg)  # fmt: skip
    assert code == 0 and "revoked" in out
    code, _, err = run("certificate", "reinstate", cid, "--reason", "oops", "--registry", reg)
    assert code == 1 and "certificate/state-refused" in err and "IBC 111.4" in err
    with Registry.open(str(reg)) as r:
        whys = [e.why for e in r.history(cid)]
    assert whys[1] == (
        "suspended under IBC 111.4: the building or portion is in violation of an ordinance, "
        "regulation or the code: blocked exit found on 2026-12-02"
    )
    assert whys[3].startswith("revoked under IBC 111.4: issued in error: ")


def test_verify_reads_the_png_the_pdf_and_the_text_alike(desk: dict[str, Any]) -> None:
    _, first, _ = issue(desk, HOUSTON)
    files = first["files"]
    reports = [verify(desk, files["png"]), verify(desk, files["pdf"])]
    payload = reports[0][1]["claims"]
    assert all(code == 0 for code, _ in reports)
    assert reports[0][1] == reports[1][1]
    assert payload["certificate_id"] == first["certificate"]
    code, report = verify(desk, files["png"], "houston", "--certificate", files["json"])
    assert code == 0 and checks(report)["content"] == "valid"


def test_verify_catches_a_changed_certificate_file_and_a_foreign_key(
    desk: dict[str, Any], tmp_path: Path
) -> None:
    _, first, _ = issue(desk, HOUSTON)
    doc = json.loads(Path(first["files"]["json"]).read_text("utf-8"))
    doc["items"][9]["value"] = 400  # the design occupant load
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(doc), "utf-8")
    code, report = verify(desk, first["files"]["png"], "houston", "--certificate", forged)
    assert code == 1 and checks(report)["content"] == "invalid"
    code, report = verify(desk, first["files"]["png"], "kent")  # Kent's trust list
    assert code == 1 and checks(report)["issuer"] == "invalid"


def test_verify_of_garbage_is_invalid_without_a_traceback(desk: dict[str, Any],
                                                         tmp_path: Path) -> None:  # fmt: skip
    code, report = verify(desk, "HC1:NCFOXN%TS3DH")
    assert code == 1 and checks(report)["signature"] == "invalid"
    not_png = tmp_path / "photo.png"
    not_png.write_bytes(b"\x89PNG not really")
    code, _, err = run("certificate", "verify", not_png, "--trust", desk["houston_trust"])
    assert code == 1 and "certificate/no-qr" in err and "Traceback" not in err


def test_status_list_publishes_a_signed_file_for_offline_checks(desk: dict[str, Any],
                                                               tmp_path: Path) -> None:  # fmt: skip
    _, first, _ = issue(desk, HOUSTON)
    run("certificate", "revoke", first["certificate"], "--ground", "incorrect_information",
        "--reason", "wrong owner", "--registry", desk["registry"])  # fmt: skip
    listing = tmp_path / "status.cose"
    code, _, err = run("certificate", "status-list", "--registry", desk["registry"], "--key",
                         desk["houston_key"], "-j", "houston", "--out", listing)  # fmt: skip
    assert code == 0, err
    code, report = verify(desk, first["files"]["png"], "houston", "--status-list", listing)
    assert code == 1 and checks(report)["status"] == "invalid"
    assert "revoked" in next(c["reason"] for c in report["checks"] if c["name"] == "status")
