"""Shared fixtures: the bundled policy is loaded and compiled once per test session."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from dsl.values import Unknown
from engine import Policy, load_policy

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"

# The compiled-policy cache (engine/cache.py) of this test session: a folder of its own, which
# the child processes tests start inherit, so no test reads what a developer's own runs (or an
# older checkout) saved, and a CI machine starts empty. Removed when the session ends.
SESSION_CACHE = Path(tempfile.mkdtemp(prefix="ordinance-test-cache-"))
os.environ["ORDINANCE_CACHE_DIR"] = str(SESSION_CACHE / "cache")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(SESSION_CACHE, ignore_errors=True)


CHILD_MEMORY = 1 << 30  # bytes of address space a child running an abusive input may use


def run_bounded(code: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -c code args`` in a fresh interpreter on this checkout, its address space
    limited to ``CHILD_MEMORY``: an abusive input must fail within bounded memory, and if it
    does not, the child dies instead of the machine."""
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=_limit_memory,
    )  # fmt: skip


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))


def comparable(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Values with their exact types, an Unknown by what it needs (it has no equality): what
    the bulk path must give exactly as the scalar one does."""
    return [
        {k: ("unknown", sorted(v.needs)) if isinstance(v, Unknown) else (type(v), v)
         for k, v in r.items()}
        for r in results
    ]  # fmt: skip


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy(ROOT / "policy")


class TextSnapshot(SingleFileSnapshotExtension):
    """One reviewed text file per snapshot, so a wording change is a readable diff."""

    file_extension = "txt"
    _write_mode = WriteMode.TEXT


class JSONSnapshot(SingleFileSnapshotExtension):
    file_extension = "json"
    _write_mode = WriteMode.TEXT


# Headless Chromium as every browser test starts it: Debian's binary (no browser download), and
# no background traffic of its own, so a test that blocks outside requests sees only the page's.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync")  # fmt: skip


def launch_chromium(playwright: Any) -> Any:
    """A headless Chromium from a ``sync_playwright()`` handle."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_FLAGS))


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this tree, built once for every packaging test (offline: no isolation)."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(dist)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (built,) = dist.glob("*.whl")
    return built


@pytest.fixture(scope="session")
def built_site(policy: Policy, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled policy's site with the golden cases as worked examples, written and then
    built by mkdocs in strict mode once for every test that reads it (a build takes seconds)."""
    from engine.tools.docsgen import build_docs

    out = tmp_path_factory.mktemp("site")
    build_docs(policy, out, GOLDEN)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q"], cwd=out,
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "WARNING" not in run.stderr
    return out


def town_policy(root: Path, files: dict[str, str]) -> Policy:
    """The small clean policy of tests/fixtures/broken_policies/ok with ``files`` (name → YAML
    text) added to its town's revision: a policy a test writes to try one feature."""
    shutil.copytree(ROOT / "tests" / "fixtures" / "broken_policies" / "ok", root / "p")
    for name, text in files.items():
        (root / "p" / "town" / "r1" / name).write_text(text, "utf-8")
    return load_policy(root / "p")


# A real PostgreSQL server for the certificate registry tests (.ci/run starts one); without it
# they run on SQLite alone.
POSTGRES = os.environ.get("ORDINANCE_TEST_POSTGRES_URL")


def _postgres_url() -> str:
    """A fresh schema per test on the one server: the tests never see each other's rows."""
    import sqlalchemy as sa  # here: most test sessions never touch a registry

    assert POSTGRES
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(sa.engine.make_url(POSTGRES).set(drivername="postgresql+psycopg"))
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine.dispose()
    sep = "&" if "?" in POSTGRES else "?"
    return f"{POSTGRES}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(not POSTGRES, reason="ORDINANCE_TEST_POSTGRES_URL is not set"),
        ),
    ]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A certificate registry URL: a SQLite file, then (when the variable is set) PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    return _postgres_url()
