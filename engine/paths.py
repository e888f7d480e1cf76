"""Where the bundled policy (and the hand-written pages of the generated site) live: inside the
wheel (``engine/_policy``, ``engine/_docs``) or, for a source checkout or an editable install,
in ``policy/`` and ``docs/`` next to the packages."""

from __future__ import annotations

from pathlib import Path


def bundled_policy_dir() -> Path:
    """The policy folder shipped with ordinance."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_policy", here.parent / "policy"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the bundled policy folder is missing from this installation")


def bundled_doc(name: str) -> Path:
    """A hand-written page the generated site includes (``docs/NAME``, or ``README.md``),
    inside the wheel (``engine/_docs``) or in the source tree: ``ordinance docs build`` works
    from an installed wheel as from a checkout."""
    here = Path(__file__).resolve().parent
    shipped = here / "_docs" / name
    if shipped.is_file():
        return shipped
    return here.parent / name if name == "README.md" else here.parent / "docs" / name
