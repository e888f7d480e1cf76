"""The certificate endpoints in process (issue 13): issue the Houston example over HTTP, fetch
its files, open the page its QR code points at, supersede, suspend, revoke, regenerate; and the
refusals: no token, a wrong token, a forged payload, a path-traversal id, hostile case text."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from starlette.testclient import TestClient

from engine.certificates.keys import load_trust, new_key
from engine.service.app import create_app
from engine.service.auth import TokenError, hash_token, load_tokens, new_token
from engine.service.certificates import routes
from engine.service.state import Loaded, Service
from tests.conftest import ROOT

HOUSTON = ROOT / "examples" / "houston-co-ready.yaml"
NOT_READY = ROOT / "examples" / "houston-office-building.yaml"
TOKEN = "clerk-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DAY = "2026-11-30"


def case_of(path: Path, **facts: Any) -> dict[str, Any]:
    """A case file as the JSON a permitting system posts, with ``matter.name=value`` changes."""
    data = json.loads(json.dumps(yaml.safe_load(path.read_text("utf-8")), default=str))
    for fid, value in facts.items():
        matter, name = fid.split("__")
        data["facts"].setdefault(matter, {})[name] = value
    return data


@pytest.fixture(scope="module")
def loaded() -> Loaded:
    return Loaded.load(None)


def make_service(tmp_path: Path, loaded: Loaded, registry: str | None, **extra: Any) -> Service:
    keys = tmp_path / "keys"
    entry = new_key("houston", keys, dt.date(2026, 1, 1), dt.date(2030, 12, 31))
    return Service(loaded, None, registry_url=registry, writers={hash_token(TOKEN): "clerk-1"},
                   trust=load_trust(keys / "keys.json"), key_path=keys / f"{entry.kid}.pem",
                   certificate_dir=tmp_path / "certs", **extra)  # fmt: skip


@pytest.fixture
def client(tmp_path: Path, loaded: Loaded, url: str) -> Iterator[TestClient]:
    service = make_service(tmp_path, loaded, url)
    yield TestClient(create_app(service, routes(service)))
    service.close()


def issue(client: TestClient, case: dict[str, Any], status: int = 201) -> dict[str, Any]:
    r = client.post(f"/v1/certificates?date={DAY}", json=case, headers=AUTH)
    assert r.status_code == status, r.text
    return dict(r.json())


def page(client: TestClient, verify_url: str) -> str:
    """The page a phone opens for a QR code's URL: its last path segment under /v/."""
    segment = urlsplit(verify_url).path.rsplit("/", 1)[1]
    r = client.get(f"/v/{segment}", headers={"Accept": "text/html"})
    assert r.status_code == 200, (segment, r.text[:500])
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    return r.text


def verdict(html: str) -> str:
    return html.split("<h1>", 1)[1].split("</h1>", 1)[0]


def test_issue_the_houston_example_and_open_its_page(client: TestClient) -> None:
    out = issue(client, case_of(HOUSTON))
    cid = out["certificate"]
    assert out["status"] == "valid" and out["supersedes"] is None and out["new"] is True
    assert out["files"] == {k: f"/v1/certificates/{cid}.{k}" for k in ("json", "pdf", "png")}
    assert out["verify_url"].startswith("https://") and "/OC1:" in out["verify_url"]
    assert client.get(out["files"]["pdf"]).content.startswith(b"%PDF-")
    assert client.get(out["files"]["png"]).content.startswith(b"\x89PNG")
    assert client.get(out["files"]["json"]).json()["id"] == cid
    html = page(client, out["verify_url"])
    assert verdict(html) == "Valid" and "v-valid" in html
    for text in ("1200 Travis Street, Suite 400, Houston, TX 77002", "B (Business)", "240",
                 "18,500 sq ft", DAY, cid, "signature valid"):  # fmt: skip
        assert text in html
    assert "<script" not in html
    again = issue(client, case_of(HOUSTON), status=200)  # idempotent: nothing new recorded
    assert again["certificate"] == cid and again["new"] is False
    history = client.get(f"/v1/certificates/{cid}").json()
    assert history["status"] == "valid" and [e["kind"] for e in history["events"]] == ["issue"]
    assert history["events"][0]["who"] == "clerk-1"


def test_the_json_form_adds_the_verdict(client: TestClient) -> None:
    out = issue(client, case_of(HOUSTON))
    segment = urlsplit(out["verify_url"]).path.rsplit("/", 1)[1]
    data = client.get(f"/v/{segment}", headers={"Accept": "application/json"}).json()
    assert data["verdict"] == "valid" and data["valid"] is True
    assert data["certificate"] == out["certificate"]
    assert [c["name"] for c in data["checks"]] == ["signature", "issuer", "status", "content"]
    assert data["claims"]["occupant_load"] == 240


def test_an_occupant_load_change_supersedes(client: TestClient) -> None:
    old = issue(client, case_of(HOUSTON))
    refused = client.post(f"/v1/certificates?date={DAY}", headers=AUTH,
                          json=case_of(HOUSTON, building__occupant_load=300))  # fmt: skip
    assert refused.status_code == 409
    assert refused.json()["error"]["diagnostics"][0]["code"] == "certificate/supersede-required"
    new = issue(client, case_of(HOUSTON, building__occupant_load=300,
                                change__occupant_load=True))  # fmt: skip
    assert new["supersedes"] == old["certificate"] != new["certificate"]
    html = page(client, old["verify_url"])
    assert verdict(html) == "Superseded" and new["certificate"] in html
    assert verdict(page(client, new["verify_url"])) == "Valid"
    history = client.get(f"/v1/certificates/{old['certificate']}").json()
    assert history["status"] == "superseded"
    assert history["superseded_by"] == new["certificate"]


def test_suspend_reinstate_revoke(client: TestClient) -> None:
    out = issue(client, case_of(HOUSTON))
    base = f"/v1/certificates/{out['certificate']}"
    no_ground = client.post(f"{base}/suspend", json={"reason": "check"}, headers=AUTH)
    assert no_ground.status_code == 422
    assert no_ground.json()["error"]["diagnostics"][0]["code"] == "service/bad-change"
    r = client.post(f"{base}/suspend", headers=AUTH,
                    json={"reason": "sprinklers disabled", "ground": "violation"})  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    html = page(client, out["verify_url"])
    assert verdict(html) == "Suspended" and "sprinklers disabled" in html
    assert client.post(f"{base}/reinstate", json={"reason": "repaired"},
                       headers=AUTH).json()["status"] == "valid"  # fmt: skip
    r = client.post(f"{base}/revoke", headers=AUTH,
                    json={"reason": "wrong building", "ground": "error"})  # fmt: skip
    assert r.json()["status"] == "revoked"
    assert verdict(page(client, out["verify_url"])) == "Revoked"
    again = client.post(f"{base}/reinstate", json={"reason": "oops"}, headers=AUTH)
    assert again.status_code == 409
    assert again.json()["error"]["diagnostics"][0]["code"] == "certificate/state-refused"
    unknown = client.post("/v1/certificates/CO-AAAAA-AAAAA/revoke", headers=AUTH,
                          json={"reason": "x", "ground": "error"})  # fmt: skip
    assert unknown.status_code == 404
    assert client.get("/v1/certificates/CO-AAAAA-AAAAA").status_code == 404


def test_regenerate_corrects_and_supersedes(client: TestClient) -> None:
    out = issue(client, case_of(HOUSTON))
    corrected = case_of(HOUSTON, owner__name="Travis Street Partners L.L.C.")
    r = client.post(f"/v1/certificates/{out['certificate']}/regenerate?date={DAY}",
                    headers=AUTH, json={"case": corrected, "reason": "owner misspelt"})  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["supersedes"] == out["certificate"]
    assert verdict(page(client, out["verify_url"])) == "Superseded"
    bad = client.post(f"/v1/certificates/{out['certificate']}/regenerate", headers=AUTH,
                      json={"case": corrected})  # fmt: skip
    assert bad.status_code == 422


def test_a_forged_or_garbage_payload_is_not_genuine(client: TestClient) -> None:
    out = issue(client, case_of(HOUSTON))
    segment = urlsplit(out["verify_url"]).path.rsplit("/", 1)[1]
    at = len(segment) // 2
    forged = segment[:at] + ("A" if segment[at] != "A" else "B") + segment[at + 1 :]
    for bad in (forged, "hello", "OC1:" + "Z" * 5000, "%00%FF%2F..%2F"):
        html = client.get(f"/v/{bad}").text
        assert verdict(html) == "Not genuine", bad
        assert "Travis" not in html  # nothing a forged code says is shown
    # httpx refuses URLs past 64 KiB; the browser test sends 100 KB to the real server
    assert client.get("/v/" + "A" * 60_000).status_code == 414


def test_without_a_registry_the_status_is_not_checked(tmp_path: Path, loaded: Loaded,
                                                       url: str) -> None:  # fmt: skip
    service = make_service(tmp_path, loaded, url)
    out = issue(TestClient(create_app(service, routes(service))), case_of(HOUSTON))
    reader = Service(loaded, None, trust=service.trust)  # a verification-only service
    html = page(TestClient(create_app(reader, routes(reader))), out["verify_url"])
    service.close()
    assert verdict(html) == "Not checked" and "status not checked" in html


def test_writes_need_a_token(client: TestClient) -> None:
    r = client.post("/v1/certificates", json=case_of(HOUSTON))
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["error"]["diagnostics"][0]["code"] == "service/unauthorized"
    r = client.post("/v1/certificates", json=case_of(HOUSTON),
                    headers={"Authorization": "Bearer not-the-token"})  # fmt: skip
    assert r.status_code == 403
    r = client.post("/v1/certificates/CO-AAAAA-AAAAA/revoke", json={"reason": "x"})
    assert r.status_code == 401


def test_a_path_traversal_id_is_404_and_touches_no_file(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    touched: list[str] = []
    for name in ("is_file", "read_bytes", "exists", "open"):
        real = getattr(pathlib.Path, name)

        def spy(self: Path, *a: Any, _real: Any = real, **k: Any) -> Any:
            touched.append(str(self))
            return _real(self, *a, **k)

        monkeypatch.setattr(pathlib.Path, name, spy)
    for bad in ("..%2F..%2Fetc%2Fpasswd", "..%2F..%2Fetc%2Fpasswd.pdf", "CO-..", "CO-...pdf",
                "%2E%2E%2Fregistry.db", "co-aaaaa-aaaaa.json", "CO-AAAAA-AAAAA%00.pdf",
                "CO-AAAAA-AAAA1.png"):  # fmt: skip
        r = client.get(f"/v1/certificates/{bad}")
        assert r.status_code == 404, bad
    assert touched == []


def test_hostile_case_text_is_escaped_on_the_page(client: TestClient) -> None:
    address = '<script>alert(1)</script><img src=x onerror=alert(2)> & "quoted"'
    out = issue(client, case_of(HOUSTON, site__address=address))
    html = page(client, out["verify_url"])
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in html


def test_a_case_that_may_not_issue_is_refused_in_place(client: TestClient) -> None:
    r = client.post("/v1/certificates", json=case_of(NOT_READY), headers=AUTH)
    assert r.status_code == 422
    diagnostics = r.json()["error"]["diagnostics"]
    assert {d["code"] for d in diagnostics} == {"certificate/not-issuable"}
    assert all(d["span"]["file"] == "request.json" for d in diagnostics)
    assert client.post("/v1/certificates", content=b"{nope", headers=AUTH).status_code == 400
    r = client.post("/v1/certificates", json=[1], headers=AUTH)
    assert r.status_code == 422
    assert r.json()["error"]["diagnostics"][0]["code"] == "case/not-a-mapping"
    assert client.post("/v1/certificates?date=tomorrow", json={}, headers=AUTH).status_code == 400


def test_tokens_are_stored_hashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tokens.json"
    token = new_token(path, "clerk-2")
    assert token not in path.read_text("utf-8") and path.stat().st_mode & 0o777 == 0o600
    assert load_tokens(path, environ={}) == {hash_token(token): "clerk-2"}
    env = json.dumps({"tokens": [{"name": "robot", "sha256": hash_token("x")}]})
    assert load_tokens(None, environ={"ORDINANCE_TOKENS": env}) == {hash_token("x"): "robot"}
    with pytest.raises(TokenError):
        new_token(path, "clerk-2")
    path.write_text('{"tokens": [{"name": "a", "sha256": "plain-token"}]}', "utf-8")
    with pytest.raises(TokenError) as info:
        load_tokens(path, environ={})
    assert info.value.diagnostics[0].code == "service/bad-tokens"


def test_the_token_command_prints_the_token_once(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from engine.tools.cli import main

    path = tmp_path / "tokens.json"
    result = CliRunner().invoke(main, ["token", "new", "--name", "clerk-3", "--file", str(path)])
    assert result.exit_code == 0, result.stderr
    token = result.stdout.strip()
    assert len(token) >= 43 and load_tokens(path, environ={}) == {hash_token(token): "clerk-3"}
    assert token not in path.read_text("utf-8")


def test_an_unreachable_registry_leaves_the_status_unchecked(
    tmp_path: Path, loaded: Loaded, url: str
) -> None:
    """The inspector still learns the signature is genuine; writes get a 503 that names no
    server (the log does)."""
    service = make_service(tmp_path, loaded, url)
    out = issue(TestClient(create_app(service, routes(service))), case_of(HOUSTON))
    down = make_service(tmp_path / "down", loaded, "postgresql://nobody@127.0.0.1:1/none")
    down.trust = service.trust
    client = TestClient(create_app(down, routes(down)))
    html = page(client, out["verify_url"])
    assert verdict(html) == "Not checked" and "cannot be reached" in html
    r = client.post("/v1/certificates", json=case_of(HOUSTON), headers=AUTH)
    service.close()
    down.close()
    assert r.status_code == 503 and "127.0.0.1" not in r.text
    assert r.json()["error"]["diagnostics"][0]["code"] == "service/certificates-unavailable"
