"""The Gymnasium contract of Incident-v1: checkers, spaces, seeding, masks, rendering."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import supportgym
from agents.view import View
from supportgym.contract import observation as encoding
from supportgym.contract.observation import GF, ObservationLayout
from supportgym.contract.vocabulary import ActionKind
from supportgym.stages.signal import signals
from tests.conftest import make

ALL_SCENARIOS = [(suite, name) for suite in supportgym.builtin_suites(training_distributions=False)
                 for name in supportgym.load_suite(suite).scenario_names]


def test_registered_and_builtin_suites_found():
    assert "supportgym/Incident-v1" in gym.registry
    assert {"tutorial", "standard", "hard"} <= set(supportgym.builtin_suites())


@pytest.mark.parametrize(("suite", "scenario"), ALL_SCENARIOS)
def test_checkers_clean_on_every_scenario(suite, scenario):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning is a failure
        gym_check_env(make(suite, scenario).unwrapped)
        sb3_check_env(make(suite, scenario).unwrapped, warn=True)


@pytest.mark.parametrize("suite", ["tutorial", "standard", "hard"])
def test_observations_stay_in_space_with_declared_dtype(suite, rng):
    env = make(suite)
    obs, info = env.reset(seed=3)
    for _ in range(1500):
        assert obs.dtype == np.float32 and obs.shape == env.observation_space.shape
        assert env.observation_space.contains(obs)
        allowed = np.flatnonzero(info["action_mask"])
        obs, _, terminated, truncated, info = env.step(int(rng.choice(allowed)))
        if terminated or truncated:
            obs, info = env.reset()


def _rollout(seed: int, steps: int) -> list:
    env = make("hard")
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    trace = [obs]
    for _ in range(steps):
        action = int(rng.choice(np.flatnonzero(info["action_mask"])))
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((obs, reward, terminated, truncated, info.get("episode_metrics")))
        if terminated or truncated:
            obs, info = env.reset()
            trace.append(obs)
    return trace


def test_seeded_rollout_reproducible_for_1000_steps():
    a, b = _rollout(7, 1000), _rollout(7, 1000)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_array_equal(x[0], y[0])
            assert x[1:4] == y[1:4]
            assert str(x[4]) == str(y[4])  # nan-safe comparison of the metrics dicts
    other = _rollout(8, 50)
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(a[1:51], other[1:51]) if isinstance(x, tuple)
               and isinstance(y, tuple))  # another seed, another episode


def test_reset_picks_named_scenario_and_rejects_unknown():
    env = make("standard")
    env.reset(seed=0, options={"scenario": "shop-cache-failure"})
    assert env.unwrapped.scenario.name == "shop-cache-failure"
    with pytest.raises(KeyError, match="no scenario 'nope'"):
        env.reset(seed=0, options={"scenario": "nope"})
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(seed=0, options={"scenarioo": "x"})


def test_index_outside_space_raises():
    env = make("tutorial")
    env.reset(seed=0)
    for bad in (-1, env.action_space.n):
        with pytest.raises(supportgym.InvalidActionError, match="outside Discrete"):
            env.step(bad)


def test_masked_action_is_a_noop_with_penalty():
    env = make("standard", "shop-bad-deploy")  # starts at L1: logs are masked
    obs, info = env.reset(seed=0)
    u = env.unwrapped
    action = u.table.index(ActionKind.CHECK_LOGS, 2)
    assert not info["action_mask"][action]
    world_before = u.state.copy()
    obs2, reward, terminated, truncated, info = env.step(action)
    assert info["invalid_action"] and not (terminated or truncated)
    assert info["minutes"] == 1.0
    assert reward <= -u.suite.reward.invalid_action
    layout = ObservationLayout(u.table.max_services)
    assert layout.glob(obs2, "last_action_invalid") == 1.0
    np.testing.assert_array_equal(layout.service(obs2, "logs_fresh"), 0.0)  # no evidence was gathered
    # nothing but time and its consequences moved: no remedy was applied
    for field in ("defect", "acc_rate", "cache_down", "scale", "tier", "declared", "reverted"):
        np.testing.assert_array_equal(getattr(u.state, field), getattr(world_before, field))
    assert u.state.invalid[0] == 1


def test_action_masks_follow_tier():
    env = make("standard", "shop-bad-deploy")
    _, info = env.reset(seed=0)
    u = env.unwrapped
    hotfix, restart = u.table.index(ActionKind.HOTFIX, 1), u.table.index(ActionKind.RESTART, 1)
    rollback, escalate = u.table.index(ActionKind.ROLLBACK, 1), u.table.index(ActionKind.ESCALATE)
    assert info["action_mask"][restart] and not info["action_mask"][rollback]
    _, _, _, _, info = env.step(escalate)
    assert info["action_mask"][rollback] and not info["action_mask"][hotfix]
    _, _, _, _, info = env.step(escalate)
    assert info["action_mask"][hotfix] and not info["action_mask"][escalate]
    np.testing.assert_array_equal(u.action_masks(), info["action_mask"])


def test_action_names_align_with_indices():
    env = make("standard", "shop-cache-failure")
    env.reset(seed=0)
    names = env.unwrapped.action_names
    table = env.unwrapped.table
    assert len(names) == env.action_space.n
    cache = env.unwrapped.scenario.topology.index("cache")
    assert names[table.index(ActionKind.RESTART, cache)] == "restart cache"
    assert names[table.index(ActionKind.RESOLVE)] == "resolve"
    assert names[table.index(ActionKind.CHECK_LOGS, 15)].startswith("check logs <empty slot")


def test_hidden_fault_not_in_info_until_the_end():
    env = make("standard", "shop-memory-leak")
    _, info = env.reset(seed=0)
    assert set(info) == {"action_mask"}
    _, _, _, _, info = env.step(env.unwrapped.table.index(ActionKind.WAIT))
    assert set(info) == {"action_mask", "minutes", "invalid_action"}
    _, _, terminated, _, info = env.step(env.unwrapped.table.index(ActionKind.RESOLVE))
    assert terminated and info["episode_metrics"]["root_causes"][0]["fault"] == "memory_leak"


def test_episode_metrics_have_every_field():
    env = make("tutorial", "cache-failure")
    env.reset(seed=0)
    *_, info = env.step(env.unwrapped.table.index(ActionKind.RESOLVE))
    assert {"resolved_and_held", "time_to_mitigate", "time_to_resolve", "impact_minutes", "harmful_actions",
            "escalations", "wrong_closures", "validated", "declared_severity", "true_severity", "root_causes",
            "return", "scenario"} <= set(info["episode_metrics"])


def test_time_limit_truncates_with_penalty():
    env = make("tutorial", "bad-deploy")
    env.reset(seed=0)
    wait = env.unwrapped.table.index(ActionKind.WAIT)
    rewards = []
    while True:
        _, reward, terminated, truncated, info = env.step(wait)
        rewards.append(reward)
        if terminated or truncated:
            break
    assert truncated and not terminated
    assert rewards[-1] <= rewards[-2] - env.unwrapped.suite.reward.timeout_penalty + 1e-9
    with pytest.raises(RuntimeError, match="episode has ended"):
        env.step(wait)


def test_step_reward_within_documented_bounds(rng):
    env = make("hard")
    low, high = env.unwrapped.reward_bounds
    _, info = env.reset(seed=1)
    for _ in range(3000):
        _, reward, terminated, truncated, info = env.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
        assert low <= reward <= high
        if terminated or truncated:
            _, info = env.reset()


def test_render_ansi_shows_alerts_evidence_and_timeline():
    env = make("standard", "shop-bad-deploy", render_mode="ansi")
    env.reset(seed=0)
    u = env.unwrapped
    env.step(u.table.index(ActionKind.CHECK_METRICS, u.scenario.topology.index("gateway")))
    text = env.render()
    assert "tier L1" in text and "gateway" in text and "metrics err=" in text
    assert "timeline:" in text and "check metrics gateway" in text
    assert GF  # the layout module is importable alongside


@pytest.mark.parametrize(("encode", "decode", "values"), [
    (encoding.encode_latency, encoding.decode_latency, [1.0, 1.7, 4.0, 31.5]),
    (encoding.encode_utilisation, encoding.decode_utilisation, [0.0, 0.4, 0.85, 1.9]),
    (encoding.encode_request_rate, encoding.decode_request_rate, [0.0, 1.0, 2.5]),
    (encoding.encode_trend, encoding.decode_trend, [0.0, 0.004, 0.02]),
    (encoding.encode_recency, encoding.decode_recency, [0.0, 12.0, 180.0]),
    (encoding.encode_freshness, encoding.decode_freshness, [0.0, 5.0, 90.0]),
])
def test_each_encoding_has_its_inverse(encode, decode, values):
    for value in values:
        assert float(decode(encode(value))) == pytest.approx(value, abs=1e-9)


def test_view_decodes_what_the_simulator_measured():
    """The agent-side decoders read back the true signals (the tutorial suite has no metric noise)."""
    env = make("tutorial", "bad-deploy")
    env.reset(seed=3)
    u = env.unwrapped
    service = u.scenario.topology.index("api")
    env.step(u.table.index(ActionKind.CHECK_METRICS, service))
    obs, *_ = env.step(u.table.index(ActionKind.CHECK_CHANGES, service))
    view, sig, s = View(u.layout, obs), signals(u.params, u.state), u.state
    assert view.latency_ratio[service] == pytest.approx(max(sig.latency_ratio[0, service], 1.0), rel=1e-5)
    assert view.utilisation[service] == pytest.approx(sig.utilisation[0, service], rel=1e-5, abs=1e-6)
    assert view.change_age("deploy")[service] == pytest.approx(s.time[0] - s.deploy_time[0, service], rel=1e-4)


def test_max_services_too_small_is_a_clear_error():
    with pytest.raises(ValueError, match="max_services"):
        make("standard", max_services=4)


def test_severity_can_only_be_raised_once_declared():
    env = make("standard", "shop-bad-deploy")
    _, info = env.reset(seed=0)
    u = env.unwrapped
    sev1, sev2, sev3 = (u.table.index(k) for k in (ActionKind.DECLARE_SEV1, ActionKind.DECLARE_SEV2,
                                                    ActionKind.DECLARE_SEV3))
    assert info["action_mask"][[sev1, sev2, sev3]].all()
    _, _, _, _, info = env.step(sev2)
    assert info["action_mask"][sev1] and not info["action_mask"][[sev2, sev3]].any()
    for again in (sev2, sev3):
        _, _, _, _, info = env.step(again)
        assert info["invalid_action"] and u.state.declared[0] == 2
    env.step(sev1)
    assert u.state.declared[0] == 1


def test_start_tier_override():
    env = make("standard", "shop-bad-deploy", start_tier=2)
    _, info = env.reset(seed=0)
    u = env.unwrapped
    assert u.state.tier[0] == 2 and info["action_mask"][u.table.index(ActionKind.ROLLBACK, 1)]
    assert supportgym.load_suite("standard").scenario("shop-bad-deploy").start_tier == 1  # the file is untouched
    with pytest.raises(ValueError, match="start_tier"):
        make("standard", start_tier=4)


def test_compiled_cache_is_dropped_when_a_constant_changes(tmp_path):
    """numba only watches a kernel's own file; ``stamp_cache`` also watches the constants it froze."""
    from supportgym.compiled import stamp_cache

    module = tmp_path / "physics.py"
    module.write_text("")
    cached = tmp_path / "__pycache__" / "physics.kernel-1.py311.nbi"
    stamp_cache(str(module), {"LIMIT": 1.0})
    cached.write_text("compiled")
    stamp_cache(str(module), {"LIMIT": 1.0, "lower_case_is_not_a_constant": 2.0})
    assert cached.exists()
    stamp_cache(str(module), {"LIMIT": 2.0})
    assert not cached.exists()


def test_the_step_kernels_cache_watches_every_kernel_it_calls():
    """The step kernel's cached code includes the kernels it calls and the kernels they call
    (``fault_at_work`` through the hold window, the random streams through diagnosis), so its
    stamp hashes their files too."""
    import supportgym.core
    from supportgym.compiled import _kernel_sources

    watched = {path.name for path in _kernel_sources(vars(supportgym.core), set())}
    assert {"faults.py", "rng.py", "mechanisms.py", "diagnosis.py", "validation.py", "signal.py"} <= watched
