"""Hypothesis profiles of the fuzz suites: ``ci`` (the default: a fixed budget, derandomized, so a
run is quick and repeatable) and ``nightly`` (many more examples, random), chosen by the
environment variable ``ORDINANCE_FUZZ`` (``ORDINANCE_FUZZ=nightly pytest tests/fuzz``)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "nightly",
    max_examples=20_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("nightly" if os.environ.get("ORDINANCE_FUZZ") == "nightly" else "ci")
