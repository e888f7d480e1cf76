"""Hypothesis profiles shared by the fuzz suites of tests/fuzz/.

`ci` (the default) runs a fixed, derandomized budget, so the normal suite is quick and always
tries the same inputs; `nightly` randomizes and runs many more (``ORDINANCE_FUZZ=nightly``,
sized by ``ORDINANCE_FUZZ_EXAMPLES``, default 2,000 per test).
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

# Generated inputs can be large (deep nesting, long lines): data generation is allowed to be
# slow, and each example has a deadline, not a budget of its own.
_COMMON = {
    "deadline": timedelta(seconds=10),
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,  # a failure prints the line that replays it, so no database is kept
    "database": None,
}
settings.register_profile("ci", max_examples=60, derandomize=True, **_COMMON)
settings.register_profile(
    "nightly",
    max_examples=int(os.environ.get("ORDINANCE_FUZZ_EXAMPLES", "2000")),
    derandomize=False,
    **_COMMON,
)
settings.load_profile(os.environ.get("ORDINANCE_FUZZ", "ci"))
