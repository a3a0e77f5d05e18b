"""Property-based fuzzing. Every fuzz test has a bounded run in the suite and a long run that is
collected only when asked for with ``-m slow`` (CI runs the whole suite without a marker
expression, so the long runs stay out of its 90 minutes)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# function-scoped fixtures (the suite's autouse isolation) are set up once per test, not per
# example: that is what we want, the examples share the isolated HOME and cwd
# CI (CI=true) runs the same examples every time, so a red run is a change, not luck; developers'
# runs and the long runs explore new ones
settings.register_profile("synconsole", deadline=None, database=None, print_blob=True,
                          derandomize=os.environ.get("CI") == "true",
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile("synconsole")

CI_EXAMPLES = 300
LONG_EXAMPLES = 5000
