"""The policy ships inside the wheel: an installed ordinance finds it without the source tree."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path


def test_wheel_carries_the_policy_and_finds_it(tmp_path: Path, wheel: Path) -> None:
    target = tmp_path / "site"
    names = zipfile.ZipFile(wheel).namelist()
    assert "engine/_policy/kent/jurisdiction.yaml" in names
    assert "engine/_policy/kent/ord-4463/14.01.030.yaml" in names
    assert "engine/schemas/result.schema.json" in names
    assert "engine/schemas/result-v1.schema.json" in names  # written until the next version
    assert {"engine/py.typed", "dsl/py.typed"} <= set(names)  # PEP 561: embedders type-check
    zipfile.ZipFile(wheel).extractall(target)
    probe = (
        "from engine import load_policy; from engine.paths import bundled_policy_dir; "
        "p = load_policy(); print(bundled_policy_dir()); print(sorted(p.compiled))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True,
        cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, timeout=60,
    ).stdout.splitlines()  # fmt: skip
    assert out[0] == str(target / "engine" / "_policy")
    assert out[1] == "[('generic', 'icc-2021'), ('houston', 'cal-2024'), ('kent', 'ord-4463')]"
