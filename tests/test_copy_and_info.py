"""Copies of a running env, what ``info`` may say before the end, malformed actions, and
``episode_metrics`` under a truncation the env does not control."""

from __future__ import annotations

import copy
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit

import supportgym
from supportgym.contract.vocabulary import ActionKind
from supportgym.world.faults import FAULT_NAMES
from tests.conftest import make


def _continue(env: gym.Env, info: dict, pick: np.random.Generator, steps: int) -> list:
    """``steps`` masked-random steps (or fewer, to the episode's end): everything each step returned."""
    trace = []
    for _ in range(steps):
        action = int(pick.choice(np.flatnonzero(info["action_mask"])))
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return trace


def _assert_same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for (obs_a, r_a, te_a, tr_a, info_a), (obs_b, r_b, te_b, tr_b, info_b) in zip(a, b):
        np.testing.assert_array_equal(obs_a, obs_b)
        assert (r_a, te_a, tr_a) == (r_b, te_b, tr_b)
        np.testing.assert_array_equal(info_a["action_mask"], info_b["action_mask"])
        assert str({k: v for k, v in info_a.items() if k != "action_mask"}) == \
            str({k: v for k, v in info_b.items() if k != "action_mask"})  # nan-safe


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
@pytest.mark.parametrize("suite", ["standard", "hard"])
def test_a_copied_env_continues_exactly_like_the_original(suite, how):
    env = make(suite)
    pick = np.random.default_rng(5)
    _, info = env.reset(seed=11)
    *_, (_, _, terminated, truncated, info) = _continue(env, info, pick, 6)  # mid-episode: evidence gathered
    assert not (terminated or truncated)
    twin = copy.deepcopy(env) if how == "deepcopy" else pickle.loads(pickle.dumps(env))
    state = twin.unwrapped.state
    assert np.shares_memory(state.svc_obs, state.obs) and np.shares_memory(state.glob_obs, state.obs)
    original = _continue(env, info, np.random.default_rng(9), 400)
    copied = _continue(twin, info, np.random.default_rng(9), 400)
    assert original[-1][2] or original[-1][3], "the episode should reach its end"
    assert len({o.tobytes() for o, *_ in copied}) > 1, "the copy's observation must keep changing"
    _assert_same(original, copied)
    # the RNG came along too: the next episodes match
    env.reset(), twin.reset()
    np.testing.assert_array_equal(env.unwrapped.state.obs, twin.unwrapped.state.obs)


def test_state_copy_keeps_its_own_views():
    env = make("standard")
    env.reset(seed=0)
    state = env.unwrapped.state
    for twin in (state.copy(), copy.deepcopy(state), pickle.loads(pickle.dumps(state))):
        assert not np.shares_memory(twin.obs, state.obs)
        twin.svc_obs[0, 0, 0] = 0.5
        twin.glob_obs[0, 0] = 0.25
        twin.graph_obs[0, -1, -1] = 0.125
        assert twin.obs[0, 0] == 0.5 and twin.obs[0, twin.svc_obs[0].size] == 0.25 and twin.obs[0, -1] == 0.125


def _fault_names() -> list[str]:
    return [*FAULT_NAMES, *(f.replace("_", "-") for f in FAULT_NAMES), *(f.replace("_", " ") for f in FAULT_NAMES)]


@pytest.mark.parametrize("suite", ["tutorial", "standard", "hard"])
def test_no_scenario_or_fault_name_in_info_or_render_before_the_end(suite):
    """``info`` names neither the scenario nor a fault type before the end; the text view does not
    name the scenario (its log lines may read like a fault, e.g. ``slow_query``: that is evidence)."""
    env = make(suite, render_mode="ansi")
    scenarios = supportgym.load_suite(suite).scenario_names
    pick = np.random.default_rng(3)
    for seed in range(3):
        _, info = env.reset(seed=seed)
        infos, views = [repr(info)], [env.render()]
        while True:
            _, _, terminated, truncated, info = env.step(int(pick.choice(np.flatnonzero(info["action_mask"]))))
            if terminated or truncated:
                break
            infos.append(repr(info))
            views.append(env.render())
        leaks = [(s, text) for text in infos for s in [*scenarios, *_fault_names()] if s in text]
        leaks += [(s, text) for text in views for s in scenarios if f"scenario {s}" in text or f" {s} " in text]
        assert not leaks, leaks[:3]
        assert info["episode_metrics"]["scenario"] == env.unwrapped.scenario.name
        assert f"scenario {env.unwrapped.scenario.name}" in env.render()  # revealed once the episode has ended


# --- actions -----------------------------------------------------------------------------

@pytest.mark.parametrize("action", [np.array([3]), np.array(3), np.int64(3), np.uint8(3), np.array([3], np.int32), 3])
def test_integer_actions_are_accepted(action):
    env = make("tutorial", "bad-deploy")
    env.reset(seed=0)
    reference = make("tutorial", "bad-deploy")
    reference.reset(seed=0)
    obs, reward, *_ = env.step(action)
    obs_ref, reward_ref, *_ = reference.step(3)
    np.testing.assert_array_equal(obs, obs_ref)
    assert reward == reward_ref


@pytest.mark.parametrize("action", [
    None, 2.0, 2.5, float("inf"), float("nan"), np.float32(2.0), np.array([2.0]), np.array(2.0), "2", b"2",
    [2], (2,), np.array([2, 3]), np.array([[2]]), np.zeros((0,), int), True, np.bool_(True), np.array([True]),
    -1, 10**30, np.int64(-1), np.array([10_000]), 2 + 0j, object(),
], ids=repr)
def test_every_malformed_action_raises_invalid_action_error(action):
    env = make("tutorial", "bad-deploy")
    env.reset(seed=0)
    before = env.unwrapped.state.copy()
    with pytest.raises(supportgym.InvalidActionError, match=r"Discrete\(") as raised:
        env.step(action)
    assert isinstance(raised.value, ValueError)
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 160
    np.testing.assert_array_equal(env.unwrapped.state.obs, before.obs)  # nothing happened
    assert env.unwrapped.state.steps[0] == before.steps[0]


# --- episode_metrics under an outer TimeLimit ---------------------------------------------

def _wait_to_truncation(env: gym.Env, limit: int) -> dict:
    env.reset(seed=4)
    wait = env.unwrapped.table.index(ActionKind.WAIT)
    for k in range(limit):
        _, _, terminated, truncated, info = env.step(wait)
        assert not terminated and truncated == (k == limit - 1)
        assert ("episode_metrics" in info) == truncated
    return info


@pytest.mark.parametrize("wrap", ["gym.make", "TimeLimit", "wrapper", "nested", "outer wrappers"])
def test_episode_metrics_when_an_outer_time_limit_truncates(wrap):
    if wrap == "gym.make":
        env = make("tutorial", "cache-failure", max_episode_steps=7)
    elif wrap == "TimeLimit":  # the env finds a TimeLimit around it by itself
        env = TimeLimit(make("tutorial", "cache-failure"), 7)
    elif wrap == "wrapper":
        env = supportgym.EpisodeMetricsOnTruncation(TimeLimit(make("tutorial", "cache-failure"), 7))
    elif wrap == "nested":  # the tighter limit counts
        env = TimeLimit(make("tutorial", "cache-failure", max_episode_steps=30), 7)
    else:  # wrappers outside the TimeLimit do not hide it
        env = gym.wrappers.RecordEpisodeStatistics(make("tutorial", "cache-failure", max_episode_steps=7))
    info = _wait_to_truncation(env, 7)
    metrics = info["episode_metrics"]
    assert metrics["steps"] == 7 and metrics["scenario"] == "cache-failure"
    assert metrics["root_causes"][0]["fault"] == "cache_failure"
    assert str(metrics) == str(env.unwrapped.episode_metrics())  # nan-safe
    info = _wait_to_truncation(env, 7)  # and again after a reset
    assert info["episode_metrics"]["steps"] == 7


def test_episode_metrics_method_needs_an_episode_and_tracks_it():
    env = make("tutorial", "bad-deploy").unwrapped
    with pytest.raises(RuntimeError, match="reset"):
        env.episode_metrics()
    env.reset(seed=0)
    total = 0.0
    for _ in range(3):
        total += env.step(env.table.index(ActionKind.WAIT))[1]
    assert env.episode_metrics()["return"] == pytest.approx(total)
    *_, info = env.step(env.table.index(ActionKind.RESOLVE))
    assert str(info["episode_metrics"]) == str(env.episode_metrics())


def test_episode_metrics_when_a_time_limit_truncates_inside_a_vector_env():
    envs = gym.make_vec("supportgym/Incident-Tutorial-v1", num_envs=2, vectorization_mode="sync",
                        scenario="cache-failure", max_episode_steps=5)
    envs.reset(seed=0)
    wait = envs.unwrapped.envs[0].unwrapped.table.index(ActionKind.WAIT)
    for k in range(5):
        *_, truncated, info = envs.step(np.array([wait, wait]))
        assert list(truncated) == [k == 4] * 2 and ("episode_metrics" in info) == (k == 4)
    assert list(info["episode_metrics"]["steps"]) == [5, 5]


def test_a_step_limit_is_not_found_where_there_is_none():
    env = make("tutorial", "cache-failure")
    env.reset(seed=0)
    assert env.unwrapped._step_limit is None
    env.unwrapped.reset(seed=0)  # not through the wrappers
    assert env.unwrapped._step_limit is None
    limited = TimeLimit(make("tutorial", "cache-failure"), 3)
    limited.reset(seed=0)
    assert limited.unwrapped._step_limit == 3


def test_natural_end_keeps_the_envs_own_metrics_under_the_wrapper():
    env = make("tutorial", "bad-deploy")
    env.reset(seed=0)
    *_, terminated, _, info = env.step(env.unwrapped.table.index(ActionKind.RESOLVE))
    assert terminated and info["episode_metrics"]["steps"] == 1
