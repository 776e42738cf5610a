"""Shared test setup: hypothesis profiles (ci: the default run; long: `bash dev.sh fuzz`)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=10000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    config.addinivalue_line("markers", "fuzz: property-based fuzzing (long profile: dev.sh fuzz)")
    config.addinivalue_line("markers", "slow: a slower conformance or integration test (CI runs "
                                       "it; deselect with -m 'not slow' while iterating)")
