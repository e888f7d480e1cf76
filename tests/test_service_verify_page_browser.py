"""The verification page in a real browser at a phone's size (390 × 844), served for real by
uvicorn on 127.0.0.1: what an inspector sees after scanning a certificate's QR code.

Every request that leaves 127.0.0.1 is blocked and recorded, and none may be attempted: the
page loads nothing from anywhere. Screenshots go to tests/artifacts/verify-<verdict>.png.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlsplit

import httpx2 as httpx
import pytest
import uvicorn

from engine.service.app import create_app
from engine.service.certificates import routes
from engine.service.state import Loaded
from tests.conftest import CHROMIUM, ROOT, launch_chromium
from tests.test_service_certificates import AUTH, DAY, HOUSTON, case_of, make_service

ARTIFACTS = ROOT / "tests" / "artifacts"
PHONE = {"width": 390, "height": 844}

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail("CI must install Chromium (see .ci/run)", pytrace=False)
    pytest.skip("Chromium is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with the certificate routes, on a free port of 127.0.0.1."""
    root = tmp_path_factory.mktemp("vpage")
    service = make_service(root, Loaded.load(None), f"sqlite:///{root / 'registry.db'}")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(service, routes(service)),
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def links(served: str) -> dict[str, str]:
    """Page paths for each verdict: a valid certificate, the one it superseded, one revoked
    (another permit), and a forged code."""
    with httpx.Client(base_url=served, headers=AUTH, timeout=60) as http:

        def issue(case: dict[str, Any]) -> dict[str, Any]:
            r = http.post(f"/v1/certificates?date={DAY}", json=case)
            assert r.status_code == 201, r.text
            return dict(r.json())

        old = issue(case_of(HOUSTON))
        new = issue(case_of(HOUSTON, building__occupant_load=300, change__occupant_load=True))
        other = issue(case_of(HOUSTON, permit__number="BP-2026-009999"))
        r = http.post(f"/v1/certificates/{other['certificate']}/revoke",
                      json={"reason": "issued for the wrong suite", "ground": "error"})  # fmt: skip
        assert r.status_code == 200, r.text
        held = issue(case_of(HOUSTON, permit__number="BP-2026-008888"))
        r = http.post(
            f"/v1/certificates/{held['certificate']}/suspend",
            json={"reason": "fire alarm out of service", "ground": "violation"},
        )
        assert r.status_code == 200, r.text
    path = {k: "/v/" + urlsplit(v["verify_url"]).path.rsplit("/", 1)[1]
            for k, v in (("valid", new), ("superseded", old), ("revoked", other),
                         ("suspended", held))}  # fmt: skip
    p = path["valid"]
    at = len(p) - 40
    path["not_genuine"] = p[:at] + ("B" if p[at] == "A" else "A") + p[at + 1 :]
    path["new_id"] = new["certificate"]
    return path


@pytest.fixture(scope="module")
def phone() -> Iterator[tuple[Any, list[str]]]:
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []

    def only_local(route: Any) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                      has_touch=True)  # fmt: skip
        context.route("**/*", only_local)
        yield context.new_page(), blocked
        browser.close()


def _look(page: Any) -> dict[str, Any]:
    return dict(
        page.evaluate("""() => {
        const h = document.querySelector('h1'), box = h.getBoundingClientRect();
        const banner = document.querySelector('.verdict');
        const size = parseFloat(getComputedStyle(h).fontSize);
        return {text: h.innerText, size: size,
                lines: Math.round(box.height / (size * 1.02)),
                bottom: box.bottom, color: getComputedStyle(h).color,
                background: getComputedStyle(banner).backgroundColor,
                scroll: document.scrollingElement.scrollWidth};
    }""")
    )


@pytest.mark.parametrize(("key", "words"), [("valid", "VALID"), ("superseded", "SUPERSEDED"),
                                            ("revoked", "REVOKED"),
                                            ("suspended", "SUSPENDED"),
                                            ("not_genuine", "NOT GENUINE")])  # fmt: skip
def test_the_verdict_is_huge_and_first(served: str, links: dict[str, str],
                                       phone: tuple[Any, list[str]], key: str,
                                       words: str) -> None:  # fmt: skip
    page, blocked = phone
    response = page.goto(served + links[key])
    assert response.status == 200
    look = _look(page)
    assert look["text"] == words  # upper-cased by the style, the words themselves unchanged
    # a tenth of the phone's width a letter, and the first thing on the screen
    assert look["size"] >= 40 and look["bottom"] < PHONE["height"] / 3
    assert look["lines"] <= len(words.split())  # a word is never split across lines
    assert look["color"] == "rgb(255, 255, 255)" and look["background"] != "rgba(0, 0, 0, 0)"
    assert look["scroll"] <= PHONE["width"]  # nothing wider than the phone
    if key == "superseded":
        assert links["new_id"] in page.inner_text("body")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"verify-{key}.png"))
    page.screenshot(path=str(ARTIFACTS / f"verify-{key}-full.png"), full_page=True)
    assert blocked == []


def test_an_absurd_payload_is_refused_by_the_real_server(served: str) -> None:
    """100 KB in the path: refused (414 by the service, or 4xx by the server), never a 500."""
    host, port = urlsplit(served).hostname, urlsplit(served).port
    with socket.create_connection((host or "", port or 0), timeout=30) as s:
        s.sendall(
            b"GET /v/" + b"A" * 100_000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        head = s.recv(64)
    status = int(head.split()[1]) if head else 400  # a server may just close the connection
    assert 400 <= status < 500


def test_the_artifacts_folder_is_ignored() -> None:
    assert "/tests/artifacts/" in Path(ROOT / ".gitignore").read_text("utf-8")
