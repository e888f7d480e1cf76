"""Shared fixtures: the bundled policy is loaded and compiled once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from engine import Policy, load_policy

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"


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
