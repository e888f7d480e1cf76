"""Review of issue 12 (certificates of occupancy): what a hostile case, a wrong key, a bad
folder or a decompression bomb does to `ordinance certificate`, as a clerk and an inspector run
it. Each test failed on the code before its fix."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from engine.tools.cli import main
from tests.conftest import ROOT

HOUSTON = ROOT / "examples" / "houston-co-ready.yaml"
NOW = "2026-12-01T15:00:00Z"


def run(*args: Any, now: str = NOW) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], env={"ORDINANCE_NOW": now})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A Houston key valid for 2026 only, and a Kent key."""
    root = tmp_path_factory.mktemp("keys")
    for jur, until in (("houston", "2026-12-31"), ("kent", "2030-12-31")):
        code, _, err = run("keys", "new", "-j", jur, "--out", root / jur, "--valid-from",
                           "2026-01-01", "--valid-until", until)  # fmt: skip
        assert code == 0, err
    return {
        "houston": next((root / "houston").glob("*.pem")),
        "kent": next((root / "kent").glob("*.pem")),
        "houston_trust": root / "houston" / "keys.json",
    }


def issue(key: Path, tmp: Path, *extra: Any, case: Path = HOUSTON) -> tuple[int, str, str]:
    return run("certificate", "issue", case, "--key", key, "--out", tmp / "out", "--registry",
               tmp / "registry.db", *extra)  # fmt: skip


def recorded(tmp: Path) -> int:
    db = tmp / "registry.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM certificates").fetchone()[0])


def hostile(tmp: Path, **facts: Any) -> Path:
    data = yaml.safe_load(HOUSTON.read_text("utf-8"))
    for fid, value in facts.items():
        matter, name = fid.split(".")
        data["facts"][matter][name] = value
    path = tmp / "hostile.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return path


# --- the signing key must be the case's jurisdiction's, valid on the issue date ---------------


def test_a_kent_key_does_not_sign_a_houston_certificate(keys: dict[str, Path],
                                                        tmp_path: Path) -> None:  # fmt: skip
    code, out, err = issue(keys["kent"], tmp_path)
    assert code == 1, out
    assert "certificate/wrong-key" in err and "`kent`" in err and "`houston`" in err
    assert str(keys["kent"]) in err.split("-->")[1].splitlines()[0]  # located at the key
    assert recorded(tmp_path) == 0 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("day", ["2027-06-01", "2025-06-01", "9999-12-31"])
def test_a_key_does_not_sign_outside_its_validity(keys: dict[str, Path], tmp_path: Path,
                                                  day: str) -> None:  # fmt: skip
    code, out, err = issue(keys["houston"], tmp_path, "--date", day)
    assert code == 1, out
    assert "certificate/wrong-key" in err and day in err and "2026-12-31" in err
    assert recorded(tmp_path) == 0


def test_a_key_without_its_trust_list_is_refused(keys: dict[str, Path], tmp_path: Path) -> None:
    alone = tmp_path / "alone.pem"
    alone.write_bytes(keys["houston"].read_bytes())
    code, _, err = issue(alone, tmp_path)
    assert code == 1 and "certificate/wrong-key" in err and "keys.json" in err
    assert recorded(tmp_path) == 0


def test_issue_takes_the_trust_list_it_is_given(keys: dict[str, Path], tmp_path: Path) -> None:
    alone = tmp_path / "alone.pem"
    alone.write_bytes(keys["houston"].read_bytes())
    code, _, err = issue(alone, tmp_path, "--trust", keys["houston_trust"])
    assert code == 0, err


def test_a_status_list_is_not_signed_for_another_jurisdiction(keys: dict[str, Path],
                                                              tmp_path: Path) -> None:  # fmt: skip
    code, _, err = run("certificate", "status-list", "--key", keys["houston"], "-j", "kent",
                       "--out", tmp_path / "s.cose", "--registry", tmp_path / "r.db")  # fmt: skip
    assert code == 1 and "certificate/wrong-key" in err
    assert not (tmp_path / "s.cose").exists()


def test_a_key_that_is_not_a_key_says_so_plainly_at_the_key(keys: dict[str, Path],
                                                            tmp_path: Path) -> None:  # fmt: skip
    bad = tmp_path / "bad.pem"
    bad.write_text("hello", "utf-8")
    code, _, err = issue(bad, tmp_path)
    assert code == 1 and "certificate/bad-key" in err
    assert "cryptography.io" not in err and "MalformedFraming" not in err
    assert f"--> {bad}:1:1" in err


# --- the output folder -----------------------------------------------------------------------


def test_an_output_folder_that_cannot_be_made_is_a_diagnostic_before_recording(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("x", "utf-8")
    out = tmp_path / "afile" / "certs"
    code, _, err = run("certificate", "issue", HOUSTON, "--key", keys["houston"], "--out", out,
                       "--registry", tmp_path / "registry.db")  # fmt: skip
    assert code == 1, err
    assert "internal error" not in err and "certificate/unwritable" in err
    assert recorded(tmp_path) == 0


def test_the_default_registry_in_an_unusable_folder_is_a_diagnostic(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("x", "utf-8")
    code, _, err = run("certificate", "issue", HOUSTON, "--key", keys["houston"], "--out",
                       tmp_path / "afile" / "certs")  # fmt: skip
    assert code == 1 and "certificate/unwritable" in err and "internal error" not in err


def test_a_status_list_that_cannot_be_written_is_a_diagnostic(keys: dict[str, Path],
                                                              tmp_path: Path) -> None:  # fmt: skip
    (tmp_path / "afile").write_text("x", "utf-8")
    code, _, err = run("certificate", "status-list", "--key", keys["houston"], "-j", "houston",
                       "--out", tmp_path / "afile" / "s.cose", "--registry",
                       tmp_path / "r.db")  # fmt: skip
    assert code == 1 and "certificate/unwritable" in err and "internal error" not in err


@pytest.mark.parametrize("case_id, permit", [("C" * 300, "BP-1"), ("HOU-1", "BP\x00-1"),
                                             ("HOU\x00-1", "BP-1")])  # fmt: skip
def test_a_value_postgresql_cannot_keep_is_refused_on_every_backend(
    keys: dict[str, Path], tmp_path: Path, url: str, case_id: str, permit: str
) -> None:
    data = yaml.safe_load(HOUSTON.read_text("utf-8"))
    data["case"] = case_id  # PostgreSQL: varchar(256), no NUL: an internal error at the query
    data["facts"]["permit"]["number"] = permit
    case = tmp_path / "long.yaml"
    case.write_text(yaml.safe_dump(data), "utf-8")
    code, _, err = run("certificate", "issue", case, "--key", keys["houston"], "--out",
                       tmp_path / "out", "--registry", url)  # fmt: skip
    assert code == 1 and "certificate/bad-value" in err and "internal error" not in err
    assert "long.yaml:" in err and not (tmp_path / "out").exists()


# --- what an inspector gives verify ----------------------------------------------------------


def test_a_decompression_bomb_png_is_a_diagnostic(keys: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)  # 400 Mpx, a few KB on disk
    code, _, err = run("certificate", "verify", bomb, "--trust", keys["houston_trust"])
    assert code == 1 and "internal error" not in err
    assert "certificate/no-qr" in err and "too large to be a scan" in err


def test_a_large_png_below_the_bomb_limit_is_refused_without_a_warning(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    from PIL import Image

    big = tmp_path / "big.png"
    Image.new("1", (10000, 10000)).save(big)  # 100 Mpx: Pillow only warns
    code, _, err = run("certificate", "verify", big, "--trust", keys["houston_trust"])
    assert code == 1 and "certificate/no-qr" in err and "Warning" not in err


def bomb_pdf(path: Path, megabytes: int) -> None:
    """A one-page PDF whose content stream inflates to ``megabytes`` MB of drawing operators."""
    import zlib

    op = b"0 0 1 1 re f\n"
    data = zlib.compress(op * (megabytes * 2**20 // len(op)), 9)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
               b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data
               + b"\nendstream"]  # fmt: skip
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 5\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    path.write_bytes(out)


def test_a_pdf_zip_bomb_is_refused_before_it_is_rendered(keys: dict[str, Path],
                                                         tmp_path: Path) -> None:  # fmt: skip
    bomb = tmp_path / "bomb.pdf"
    bomb_pdf(bomb, 100)  # ~100 KB on disk; rendering it took gigabytes and many seconds
    start = time.monotonic()
    code, _, err = run("certificate", "verify", bomb, "--trust", keys["houston_trust"])
    assert code == 1 and "certificate/bad-pdf" in err and "inflates past 64 MB" in err
    assert time.monotonic() - start < 5


def test_verify_dash_reads_the_scanned_text_from_stdin(keys: dict[str, Path],
                                                       tmp_path: Path) -> None:  # fmt: skip
    code, _, err = issue(keys["houston"], tmp_path, "--format", "json")
    assert code == 0, err
    [png] = (tmp_path / "out").glob("*.png")
    from engine.certificates.qr import decode_png

    result = CliRunner().invoke(main, ["certificate", "verify", "-", "--trust",
                                       str(keys["houston_trust"]), "--date", "2026-12-02"],
                                input=decode_png(png) + "\n")  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "VALID" in result.stdout


def test_verify_of_empty_text_says_nothing_was_scanned(keys: dict[str, Path]) -> None:
    code, out, _ = run("certificate", "verify", "  ", "--trust", keys["houston_trust"])
    assert code == 1 and "nothing was scanned" in out


# --- hostile case text on the clerk's and the inspector's terminal ---------------------------


def test_escapes_in_a_case_do_not_reach_the_terminal(keys: dict[str, Path],
                                                     tmp_path: Path) -> None:  # fmt: skip
    address = "1 Main St\x1b[2J\x1b[31m\nVALID: forged \u202eline"
    case = hostile(tmp_path, **{"site.address": address})
    code, out, err = issue(keys["houston"], tmp_path, case=case)
    assert code == 0, err
    [png] = (tmp_path / "out").glob("*.png")
    code, out, err = run("certificate", "verify", png, "--trust", keys["houston_trust"],
                         "--date", "2026-12-02")  # fmt: skip
    assert code == 0, err
    assert "\x1b" not in out and "\u202e" not in out and "\nVALID: forged" not in out
    assert "1 Main St\\x1b[2J\\x1b[31m\\nVALID: forged \\u202eline" in out
    json_out = json.loads(run("certificate", "verify", png, "--trust", keys["houston_trust"],
                              "--date", "2026-12-02", "--format", "json")[1])  # fmt: skip
    assert json_out["claims"]["address"] == address  # the data itself is kept


def test_a_permit_number_with_an_escape_is_refused(keys: dict[str, Path], tmp_path: Path) -> None:
    case = hostile(tmp_path, **{"permit.number": "BP-1\x1b[2J"})
    code, out, err = issue(keys["houston"], tmp_path, case=case)
    assert code == 1 and "certificate/bad-value" in err and "\x1b" not in err + out
    assert recorded(tmp_path) == 0


def test_a_long_recipient_list_is_quoted_short(keys: dict[str, Path], tmp_path: Path) -> None:
    many = ", ".join(f"u{i}@x.example" for i in range(10_000))
    case = hostile(tmp_path, **{"applicant.email": many})
    start = time.monotonic()
    code, _, err = issue(keys["houston"], tmp_path, case=case)
    assert time.monotonic() - start < 8  # refused before a 390 KB item is laid out in the PDF
    assert code == 1 and "certificate/bad-recipient" in err
    assert len(err) < 2_000 and "characters" in err
    assert recorded(tmp_path) == 0


def test_a_real_process_refuses_the_wrong_key_without_a_traceback(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    env = {**os.environ, "ORDINANCE_NOW": NOW, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(
        [sys.executable, "-m", "engine.tools.cli", "certificate", "issue", str(HOUSTON),
         "--key", str(keys["kent"]), "--out", str(tmp_path / "out"), "--registry",
         str(tmp_path / "registry.db")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert child.returncode == 1 and "Traceback" not in child.stderr
    assert "certificate/wrong-key" in child.stderr


# --- the state machine: a suspension is not laundered by a new certificate -------------------


def test_a_suspended_certificate_is_not_regenerated_into_a_valid_one(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    code, out, err = issue(keys["houston"], tmp_path, "--format", "json")
    assert code == 0, err
    cid = json.loads(out)["certificate"]
    reg = ("--registry", tmp_path / "registry.db")
    assert run("certificate", "suspend", cid, "--ground", "violation", "--reason",
               "exits blocked", *reg)[0] == 0  # fmt: skip
    code, out, err = run("certificate", "regenerate", cid, "--case", HOUSTON, "--key",
                         keys["houston"], "--out", tmp_path / "out", *reg,
                         "--reason", "typo")  # fmt: skip
    assert code == 1, out
    assert "certificate/state-refused" in err and "suspended" in err and "reinstate" in err
    assert recorded(tmp_path) == 1


def test_a_suspended_certificate_is_not_superseded_by_a_change(keys: dict[str, Path],
                                                              tmp_path: Path) -> None:  # fmt: skip
    code, out, err = issue(keys["houston"], tmp_path, "--format", "json")
    assert code == 0, err
    cid = json.loads(out)["certificate"]
    reg = ("--registry", tmp_path / "registry.db")
    assert (
        run("certificate", "suspend", cid, "--ground", "violation", "--reason", "x", *reg)[0] == 0
    )
    more = hostile(tmp_path, **{"building.occupant_load": 300, "change.occupant_load": True})
    code, out, err = issue(keys["houston"], tmp_path, case=more)
    assert code == 1, out
    assert "certificate/state-refused" in err and "suspended" in err
    assert recorded(tmp_path) == 1


def test_a_key_made_in_the_evening_signs_that_days_certificate(tmp_path: Path) -> None:
    """At 19:00 in Houston it is already tomorrow in UTC: the key's first day must be the
    jurisdiction's today, the day `issue` dates the certificate."""
    evening = "2026-12-02T01:00:00Z"  # 2026-12-01 19:00 in Houston
    code, out, err = run("keys", "new", "-j", "houston", "--out", tmp_path / "k", now=evening)
    assert code == 0 and "2026-12-01 to" in out, out + err
    key = next((tmp_path / "k").glob("*.pem"))
    code, out, err = run("certificate", "issue", HOUSTON, "--key", key, "--out", tmp_path / "o",
                         "--registry", tmp_path / "r.db", now=evening)  # fmt: skip
    assert code == 0, err


def test_losing_a_race_to_issue_the_same_certificate_does_not_say_issued(
    keys: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two clerks issue the same case at once: both pass the look-up, the registry keeps the
    first record and hands it to the second, who must not read "issued" (nothing was)."""
    import datetime as dt

    from engine.api import load_policy
    from engine.certificates import issue as issuing
    from engine.certificates.registry import Registry
    from engine.compile.load import read_case

    policy, case = load_policy(None), read_case(HOUSTON)
    first = dt.datetime(2026, 12, 1, 15, tzinfo=dt.UTC)
    later = first + dt.timedelta(seconds=3)
    with Registry.open(str(tmp_path / "r.db")) as reg:
        done = issuing.issue(policy, case, key_path=keys["houston"], out_dir=tmp_path / "o",
                             registry=reg, who="a", now=first)  # fmt: skip
        monkeypatch.setattr(issuing, "_known", lambda registry, cid: None)  # the race: both
        monkeypatch.setattr(Registry, "current", lambda self, j, p: None)  # looked before
        again = issuing.issue(policy, case, key_path=keys["houston"], out_dir=tmp_path / "o",
                              registry=reg, who="b", now=later)  # fmt: skip
    assert done.new and again.record.id == done.record.id
    assert again.new is False
