"""Hypothesis profiles for the fuzz suite: ``ci`` (the default; a fixed, derandomized budget
that keeps the suite within minutes) and ``nightly`` (``ORDINANCE_FUZZ=nightly``: many more
examples, randomized, for a long run)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=60, derandomize=True, deadline=None, database=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
settings.register_profile(
    "nightly", max_examples=5000, derandomize=False, deadline=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
settings.load_profile("nightly" if os.environ.get("ORDINANCE_FUZZ") == "nightly" else "ci")
