"""Shared fixtures: the bundled policy is loaded and compiled once per test session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from dsl.values import Unknown
from engine import Policy, load_policy

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"


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
