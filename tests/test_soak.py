"""Memory soak (slow): the vector env's RSS stays flat over many episodes (``benchmarks/soak.py``)."""

from __future__ import annotations

import pytest

from tests.conftest import benchmark_script


@pytest.mark.slow
def test_rss_stays_flat_over_a_long_vector_run():
    # 300,000 env-steps at num_envs=256: ~10,000 episodes drawn, opened and ended after the
    # warm-up (every reset allocates its row's new episode), a few seconds.
    out = benchmark_script("soak").soak(num_envs=256, env_steps=300_000, samples=10, seed=1, warmup=0.2)
    assert out["episodes"] > 5_000
    assert out["growth"] < 0.03, out["samples"]
    assert out["peak_mb"] < out["warmup_mb"] * 1.03, out["samples"]
