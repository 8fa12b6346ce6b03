"""Hypothesis profiles for the matching properties.

``pytest --hypothesis-profile=thorough tests/matching`` runs the property tests with many more
examples than the suite's default: run it after every change to the matcher.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "thorough", max_examples=5_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
