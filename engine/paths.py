"""Where the bundled policy lives: inside the wheel (``engine/_policy``) or, for a source checkout
or an editable install, in ``policy/`` next to the packages."""

from __future__ import annotations

from pathlib import Path


def bundled_policy_dir() -> Path:
    """The policy folder shipped with ordinance."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_policy", here.parent / "policy"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the bundled policy folder is missing from this installation")
