"""`ordinance serve` as a real process (issue 13): SIGTERM drains and loses no acknowledged
decision, a crash loses at most the unacknowledged ones, SIGHUP reloads the policy (a broken
one is refused and the old one kept), and several workers share the port and all reload."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import ROOT

KENT = (ROOT / "examples" / "kent-co-and-permit.json").read_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One `ordinance serve` process on a free port, its log in ``folder``."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "decisions.ndjson"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.out = folder / "server.out"
        with self.out.open("wb") as out:  # a file, not a pipe: a full pipe would stall it
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engine.tools.cli", "serve", "--port", str(self.port),
                 "--decision-log", str(self.log), *args],
                cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(self.output())
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.proc.kill()
        raise AssertionError("the server did not start:\n" + self.output())

    def output(self) -> str:
        return self.out.read_text("utf-8", "replace")

    def status(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/v1/status", timeout=5).json())

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path)
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait(30)


def own_policy(tmp_path: Path) -> Path:
    """A copy of the bundled policy the test may change."""
    root = tmp_path / "policy"
    shutil.copytree(ROOT / "policy", root)
    return root


def reword(root: Path, tag: str) -> None:
    """Change one explanation's words in Kent's CO process: the policy's digest changes, no
    decision does."""
    rules = root / "kent" / "ord-4463" / "co-process.yaml"
    text = rules.read_text("utf-8")
    rules.write_text(text.replace("Within the next business day",
                                  f"Within the next business day ({tag})"), "utf-8")  # fmt: skip


def wait_for_new_digest(s: Server, before: str) -> None:
    deadline = time.monotonic() + 30
    while s.status()["policy_digest"] == before and time.monotonic() < deadline:
        time.sleep(0.3)
    assert s.status()["policy_digest"] != before


def logged_ids(log: Path) -> tuple[set[str], int]:
    """The ids in an NDJSON decision log, and how many lines were not whole JSON (a torn last
    line after a crash)."""
    ids, torn = set(), 0
    for line in log.read_bytes().splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (ValueError, KeyError):
            torn += 1
    return ids, torn


def hammer(url: str, stop: threading.Event, acked: list[str], threads: int = 6) -> list[Any]:
    """Post the Kent case from several threads until ``stop``; the ids of the decisions whose
    200 response arrived go to ``acked``."""

    def work() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                try:
                    r = client.post(f"{url}/v1/decide", content=KENT)
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    acked.append(r.headers["X-Decision-Id"])

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    return workers


def test_sigterm_drains_and_every_acknowledged_decision_is_logged(server: Server) -> None:
    stop, acked = threading.Event(), []
    workers = hammer(server.url, stop, acked)
    time.sleep(2.0)
    code = server.stop()  # mid-load
    stop.set()
    for w in workers:
        w.join(30)
    assert code == 0, server.output()
    ids, torn = logged_ids(server.log)
    assert len(acked) > 20
    assert set(acked) <= ids and torn == 0
    assert len(ids) <= len(acked) + 6  # at most the requests in flight when it stopped


def test_a_crash_loses_only_unacknowledged_decisions(server: Server) -> None:
    stop, acked = threading.Event(), []
    workers = hammer(server.url, stop, acked)
    time.sleep(2.0)
    server.proc.kill()  # SIGKILL: no drain, no flush
    server.proc.wait(30)
    stop.set()
    for w in workers:
        w.join(30)
    ids, torn = logged_ids(server.log)
    assert len(acked) > 20 and set(acked) <= ids and torn <= 1


def test_sighup_reloads_and_keeps_the_old_policy_when_the_new_is_broken(tmp_path: Path) -> None:
    root = own_policy(tmp_path)
    s = Server(tmp_path, "--policy", str(root))
    try:
        before = s.status()["policy_digest"]
        rules = root / "kent" / "ord-4463" / "co-process.yaml"
        good = rules.read_text("utf-8")
        rules.write_text(good.replace("count(co.missing_approvals) == 0",
                                      "count(co.missing_approvalz) == 0"), "utf-8")  # fmt: skip
        s.proc.send_signal(signal.SIGHUP)
        time.sleep(3)
        assert s.proc.poll() is None
        assert s.status()["policy_digest"] == before
        assert httpx.post(f"{s.url}/v1/decide", content=KENT).status_code == 200
        rules.write_text(good, "utf-8")
        reword(root, "reloaded")
        s.proc.send_signal(signal.SIGHUP)
        wait_for_new_digest(s, before)
        assert s.stop() == 0
    finally:
        if s.proc.poll() is None:
            s.proc.kill()


def test_two_workers_share_the_port_and_both_reload(tmp_path: Path) -> None:
    root = own_policy(tmp_path)
    s = Server(tmp_path, "--policy", str(root), "--workers", "2")
    try:
        deadline = time.monotonic() + 60
        pids: dict[int, str] = {}
        while len(pids) < 2 and time.monotonic() < deadline:
            with httpx.Client(timeout=5) as client:  # new connections reach either worker
                st = client.get(f"{s.url}/v1/status").json()
            pids[st["pid"]] = st["policy_digest"]
        assert len(pids) == 2, pids
        before = next(iter(pids.values()))
        reword(root, "reworded")
        s.proc.send_signal(signal.SIGHUP)
        seen: dict[int, str] = {}
        deadline = time.monotonic() + 60
        while (len(seen) < 2 or before in seen.values()) and time.monotonic() < deadline:
            with httpx.Client(timeout=5) as client:
                st = client.get(f"{s.url}/v1/status").json()
            seen[st["pid"]] = st["policy_digest"]
            time.sleep(0.1)
        assert set(seen) == set(pids), "the workers were restarted, not reloaded"
        assert before not in seen.values()
        assert s.stop() == 0
    finally:
        if s.proc.poll() is None:
            s.proc.kill()


def test_watch_reloads_when_a_policy_file_changes(tmp_path: Path) -> None:
    root = own_policy(tmp_path)
    s = Server(tmp_path, "--policy", str(root), "--watch", "--no-decision-log")
    try:
        before = s.status()["policy_digest"]
        reword(root, "watched")
        wait_for_new_digest(s, before)
        assert s.stop() == 0
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
