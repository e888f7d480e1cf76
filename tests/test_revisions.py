"""Revisions over time: a new revision starts as a copy, older ones keep deciding their cases,
and `ordinance diff` says what changed in law and for which cases, and why."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from engine import load_policy
from engine.tools.cli import main
from tests.conftest import GOLDEN, ROOT


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "policy"
    shutil.copytree(ROOT / "policy", root)
    return root


def _new(root: Path, jur: str, rev: str, day: str) -> Path:
    code, _, err = run("revision", "new", "-j", jur, "--id", rev, "--effective", day,
                         "--title", f"{rev} (hypothetical)", "--policy", str(root))  # fmt: skip
    assert code == 0, err
    return root / jur / rev


def _kent_270_days(tmp_path: Path) -> Path:
    """A policy copy with a (hypothetical) Kent revision whose inactivity period is 270 days."""
    root = _copy(tmp_path)
    rules = _new(root, "kent", "ord-9999", "2026-01-01") / "rulesets.yaml"
    rules.write_text(rules.read_text().replace(
        "work.last_inspection_on) + 180 days", "work.last_inspection_on) + 270 days"))  # fmt: skip
    return root


def test_a_new_revision_keeps_history(tmp_path: Path) -> None:
    root = _kent_270_days(tmp_path)
    policy = load_policy(root)
    case = {"jurisdiction": "kent", "as_of": "2026-02-01", "facts": {
        "permit": {"code": "IBC", "issued_on": "2025-06-02"},
        "work": {"commenced_on": "2025-06-02", "last_inspection_on": None}}}  # fmt: skip
    new = policy.evaluate(case)
    assert new.revision == "ord-9999"
    assert new.decisions["permit.expires_on"].value.isoformat() == "2026-02-27"  # + 270 days
    old = policy.evaluate(case, revision="ord-4463")
    assert old.decisions["permit.expires_on"].value.isoformat() == "2025-11-29"  # + 180 days
    earlier = policy.evaluate({**case, "as_of": "2025-12-01"})
    assert earlier.revision == "ord-4463"
    # In bulk, each case is decided under its own revision (by as_of, or by its vesting date).
    vested = {**case, "facts": {**case["facts"], "application": {"complete_on": "2025-05-01"}}}
    batch = [case, {**case, "as_of": "2025-12-01"}, vested, case]
    got = policy.values_many(iter(batch), iter(["permit.expires_on"]))
    assert [v["permit.expires_on"].isoformat() for v in got] == [
        "2026-02-27", "2025-11-29", "2025-11-29", "2026-02-27"]  # fmt: skip


def test_diff_names_the_changed_law_and_the_cases_it_changes(tmp_path: Path) -> None:
    root = _kent_270_days(tmp_path)
    golden = str(GOLDEN / "kent" / "ord-4463")
    code, out, _ = run("diff", "-j", "kent", "--from", "ord-4463", "--to", "ord-9999",
                       "--cases", golden, "--policy", str(root), "--format", "json")  # fmt: skip
    assert code == 1
    report = json.loads(out)
    assert {c["what"] for c in report["changes"]} == {"permit.inaction_limit"}
    assert len(report["changes"]) == 5  # one definition per code
    by_case = {i["case"]: i["decisions"] for i in report["impact"]}
    g05 = {d["decision"]: d for d in by_case["KENT-G-05"]}
    assert g05["permit.expires_on"]["before"]["value"] == "2025-03-09"
    assert g05["permit.expires_on"]["after"]["value"] == "2025-06-07"
    assert g05["permit.expires_on"]["caused_by"] == [
        "permit.inaction_limit (IBC 105.5.1 as amended by KCC 14.01.030.D)"
    ]
    assert "KENT-G-41" not in by_case  # a CO case the change does not touch


def test_diff_of_a_fee_raise_and_of_an_unchanged_revision(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    folder = _new(root, "houston", "cal-2025", "2025-01-01")
    co = folder / "certificate-of-occupancy.yaml"
    old = (
        'amount: $501.29\n              when: |\n                request.kind == "new"\n'
        '                and building.use != "multi_family"'
    )  # as `ordinance fmt` lays it out
    assert old in co.read_text()
    co.write_text(co.read_text().replace(old, old.replace("$501.29", "$525.00")))
    code, out, _ = run("diff", "-j", "houston", "--from", "cal-2024", "--to", "cal-2025",
                       "--cases", str(GOLDEN / "houston"), "--policy", str(root))  # fmt: skip
    assert code == 1
    assert "fee `co.fee: certificate_of_compliance` changed [Houston CO Fees]" in out
    assert "before: $501.29 when" in out and "after:  $525.00 when" in out
    assert '`co.fee`: "751.93" → "775.64"' in out  # 3-story commercial, +$23.71
    folder2 = _new(root, "kent", "ord-9999", "2026-01-01")
    assert folder2.is_dir()
    code, out, _ = run("diff", "-j", "kent", "--from", "ord-4463", "--to", "ord-9999",
                       "--cases", str(GOLDEN / "kent"), "--policy", str(root))  # fmt: skip
    assert code == 0
    assert "Nothing changes." in out


def test_a_revision_cannot_reuse_an_id_or_go_back_in_time(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    code, _, err = run("revision", "new", "-j", "kent", "--id", "ord-4463", "--effective",
                       "2023-01-01", "--policy", str(root))  # fmt: skip
    assert code == 1
    assert "already has a revision `ord-4463`" in err
    assert "is not after Ord. No. 4463's effective date (2024-03-15)" in err


def test_golden_cases_carry_over_forced_to_the_new_revision(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    golden = tmp_path / "golden"
    shutil.copytree(GOLDEN / "kent" / "ord-4463", golden / "kent" / "ord-4463")
    code, out, err = run("revision", "new", "-j", "kent", "--id", "ord-9999", "--effective",
                         "2026-01-01", "--policy", str(root), "--golden", str(golden))  # fmt: skip
    assert code == 0, err
    count = len(list((GOLDEN / "kent" / "ord-4463").glob("*.yaml")))
    assert count > 80 and f"copied {count} golden cases" in out
    copied = golden / "kent" / "ord-9999" / "10-tie-at-three-years.yaml"
    assert copied.read_text().splitlines()[:3] == [
        "case: KENT-G-10", "jurisdiction: kent", "revision: ord-9999"]  # fmt: skip
    code, out, _ = run("test", str(golden / "kent" / "ord-9999"), "--policy", str(root))
    assert out.strip().endswith(f"{count} passed, 0 failed")  # unchanged law: same answers


def test_a_revision_id_must_be_a_plain_id(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    code, _, err = run("revision", "new", "-j", "kent", "--id", "Ord 45/01", "--effective",
                       "2030-01-01", "--policy", str(root))  # fmt: skip
    assert code == 1
    assert "`Ord 45/01` is not a revision id" in err
    assert not (root / "kent" / "Ord 45").exists()


TITLES = ["Ord. No. 4502: appeal periods", "#1 — \"quoted\" 'too'", "- a dash first",
          "line\nbreak", "{braces}: [and] & more"]  # fmt: skip


@pytest.mark.parametrize("title", TITLES)
def test_a_title_yaml_would_misread_is_written_by_the_emitter(tmp_path: Path, title: str) -> None:
    """A title is quoted as YAML needs (it used to be pasted: a colon made jurisdiction.yaml
    invalid, the command exited 0 and every later command failed)."""
    root = _copy(tmp_path)
    code, _, err = run("revision", "new", "-j", "kent", "--id", "ord-4502", "--effective",
                       "2026-06-01", "--title", title, "--policy", str(root))  # fmt: skip
    assert code == 0, err
    data = yaml.safe_load((root / "kent" / "jurisdiction.yaml").read_text("utf-8"))
    assert data["revisions"][-1] == {"id": "ord-4502", "title": title, "encoded": True,
                                     "effective_on": dt.date(2026, 6, 1),
                                     "note": "Started from ord-4463."}  # fmt: skip
    code, _, err = run("check", str(root))
    assert code == 0, err


def test_a_failed_write_leaves_neither_folder_nor_half_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _copy(tmp_path)
    before = (root / "kent" / "jurisdiction.yaml").read_bytes()

    def full_disk(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("engine.tools.revisions.os.replace", full_disk)
    code, _, err = run("revision", "new", "-j", "kent", "--id", "ord-4502", "--effective",
                       "2026-06-01", "--policy", str(root))  # fmt: skip
    assert code == 1 and "revision/cannot-create" in err and "No space left" in err
    assert (root / "kent" / "jurisdiction.yaml").read_bytes() == before
    assert not (root / "kent" / "ord-4502").exists()
    assert not [p for p in (root / "kent").iterdir() if p.name.startswith(".")]
