"""Test-wide settings: Hypothesis judges correctness here, never speed (these machines are noisy)."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "cora",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("cora")
