"""The native vector env is the single env, batched: row i equals ``IncidentEnv`` seeded ``seed + i``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import supportgym  # noqa: F401  (registers the ids)
from supportgym.env import IncidentEnv, InvalidActionError
from supportgym.episode import choose, cumulative_weights
from supportgym.rng import read_streams
from supportgym.threads import MIN_ROWS_PER_THREAD, row_ranges, run_ranges, splits
from supportgym.vector import IncidentVectorEnv


def _pick(rng: np.random.Generator, masks: np.ndarray) -> np.ndarray:
    return np.array([rng.choice(np.flatnonzero(m)) for m in masks])


def lockstep(venv, singles: list, steps: int, pick_seed: int) -> int:
    """Step ``venv`` and ``singles`` by the same masked-random actions for ``steps`` steps, asserting
    that row i is single env i throughout (rewards, ends, observations, masks, and an ended
    episode's last observation and metrics); the number of episodes that ended."""
    pick, ends = np.random.default_rng(pick_seed), 0
    masks = venv.action_masks()
    for _ in range(steps):
        actions = _pick(pick, masks)
        obs, reward, terminated, truncated, info = venv.step(actions)
        masks = info["action_mask"]
        for i, env in enumerate(singles):
            o, r, te, tr, inf = env.step(int(actions[i]))
            assert (r, te, tr) == (reward[i], terminated[i], truncated[i])
            if te or tr:
                ends += 1
                assert str(info["episode_metrics"][i]) == str(inf["episode_metrics"])  # nan-safe
                np.testing.assert_array_equal(info["final_obs"][i], o)
                o, inf = env.reset()
            np.testing.assert_array_equal(obs[i], o)
            np.testing.assert_array_equal(masks[i], inf["action_mask"])
    return ends


@pytest.mark.parametrize("suite", ["standard", "hard"])
def test_row_i_equals_a_single_env_seeded_seed_plus_i_across_autoresets(suite):
    B, seed, steps = 5, 11, 160
    venv = IncidentVectorEnv(num_envs=B, suite=suite)
    singles = [IncidentEnv(suite) for _ in range(B)]
    obs, info = venv.reset(seed=seed)
    single_obs = []
    for i, env in enumerate(singles):
        o, inf = env.reset(seed=seed + i)
        single_obs.append(o)
        np.testing.assert_array_equal(obs[i], o)
        np.testing.assert_array_equal(info["action_mask"][i], inf["action_mask"])
    pick = np.random.default_rng(0)
    ends, scenarios = 0, {env.scenario.name for env in singles}
    for _ in range(steps):
        actions = _pick(pick, info["action_mask"])
        obs, reward, terminated, truncated, info = venv.step(actions)
        assert obs.dtype == np.float32 and venv.observation_space.contains(obs)
        for i, env in enumerate(singles):
            o, r, te, tr, inf = env.step(int(actions[i]))
            assert (r, te, tr) == (reward[i], terminated[i], truncated[i])
            assert inf["minutes"] == info["minutes"][i] and inf["invalid_action"] == info["invalid_action"][i]
            if te or tr:  # SAME_STEP: the row already holds the next episode
                ends += 1
                np.testing.assert_array_equal(info["final_obs"][i], o)
                assert str(info["episode_metrics"][i]) == str(inf["episode_metrics"])  # nan-safe
                np.testing.assert_array_equal(info["final_info"]["action_mask"][i], inf["action_mask"])
                o, inf = env.reset()
                scenarios.add(env.scenario.name)
            else:
                assert not info.get("_final_obs", np.zeros(B, bool))[i]
            np.testing.assert_array_equal(obs[i], o)
            np.testing.assert_array_equal(info["action_mask"][i], inf["action_mask"])
        np.testing.assert_array_equal(venv.action_masks(), info["action_mask"])
    assert ends >= 2 * B  # several autoresets per row on average
    assert len(scenarios) >= 3  # rows ran different scenarios side by side


@pytest.mark.parametrize("weights", [[1.0], [0.2, 0.3, 0.5], [0.0, 0.25, 0.0, 0.75], [1 / 3] * 3, [0.1] * 7 + [0.3]])
def test_the_scenario_draw_is_generator_choice(weights):
    """Resets draw scenarios with ``episode.choose``: what ``rng.choice(len(w), p=w)`` draws, and as many draws."""
    cdf, theirs = cumulative_weights(weights), np.random.default_rng(4)
    streams = read_streams([np.random.default_rng(4)])
    ours = choose(cdf, np.full(3000, -1), streams, np.zeros(3000, dtype=np.int64))
    assert ours.tolist() == [theirs.choice(len(weights), p=weights) for _ in range(3000)]
    np.testing.assert_array_equal(streams, read_streams([theirs]))
    assert choose(cdf, np.array([0, -1]), streams, np.zeros(2, dtype=np.int64))[0] == 0  # fixed: no draw


def test_rows_read_their_scenarios_shared_parameter_rows():
    """Each row's parameter row holds its scenario's parameters; rows of one scenario share it."""
    venv = IncidentVectorEnv(num_envs=6, suite="standard")
    venv.reset(seed=2)
    pick = np.random.default_rng(1)
    info = {"action_mask": venv.action_masks()}
    for _ in range(60):
        _, _, _, _, info = venv.step(_pick(pick, info["action_mask"]))
    single = venv._single
    for i, scenario in enumerate(venv.scenarios):
        own, k = single._params_of(scenario), venv.state.param_row[i]
        for name in ("calls", "mask_table", "service_table", "time_limit"):
            np.testing.assert_array_equal(getattr(venv.params, name)[k], getattr(own, name)[0])
        np.testing.assert_array_equal(venv.params.reward_weights[k], own.reward_weights)
    held = {venv.scenarios[i].name: venv.state.param_row[i] for i in range(6)}
    assert len(set(held.values())) == len(held)  # one parameter row per scenario run


def test_parameter_rows_are_reused_and_never_more_than_the_rows(tmp_path):
    """A suite of many scenarios: rows keep moving to new ones, parameter rows no row runs any more
    are reloaded, and the rows still equal single envs seeded like them."""
    path = tmp_path / "many.yaml"
    path.write_text("name: many\ngenerators:\n  - {seed: 5, count: 40, services: [5, 9]}\n")
    B = 3
    venv = IncidentVectorEnv(num_envs=B, suite=str(path))
    singles = [IncidentEnv(str(path)) for _ in range(B)]
    obs, _ = venv.reset(seed=4)
    for i, env in enumerate(singles):
        np.testing.assert_array_equal(obs[i], env.reset(seed=4 + i)[0])
    loads = []
    original = venv._load
    venv._load = lambda k, index: (loads.append(k), original(k, index))
    assert lockstep(venv, singles, 150, pick_seed=6) >= 3 * B
    assert len(loads) >= 2 * B and len(set(loads)) < len(loads)  # rows reloaded, not grown per scenario
    assert venv.params.calls.shape[0] == len(venv._held) <= B


@pytest.mark.parametrize("mode", [None, "vector_entry_point"])
def test_make_vec_builds_it_and_documents_the_autoreset_mode(mode):
    venv = gym.make_vec("supportgym/Incident-Hard-v1", num_envs=3, vectorization_mode=mode)
    assert isinstance(venv, IncidentVectorEnv) and venv.suite.name == supportgym.load_suite("hard").name
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert venv.spec.id == "supportgym/Incident-Hard-v1" and venv.spec.kwargs["num_envs"] == 3
    obs, info = venv.reset(seed=0)
    assert obs.shape == (3, *venv.single_observation_space.shape) and venv.observation_space.contains(obs)
    assert info["action_mask"].shape == (3, venv.single_action_space.n)
    assert venv.action_space.shape == (3,)
    # sub-environments on request, each the single env gym.make builds
    sync = gym.make_vec("supportgym/Incident-v1", num_envs=2, vectorization_mode="sync")
    assert isinstance(sync, gym.vector.SyncVectorEnv)


def test_make_vec_passes_keyword_arguments_through(tmp_path):
    venv = gym.make_vec("supportgym/Incident-v1", num_envs=2, vectorization_mode="vector_entry_point",
                        suite="tutorial", max_services=20, scenario="bad-deploy", start_tier=2)
    assert venv.suite.name == supportgym.load_suite("tutorial").name and venv.table.max_services == 20
    venv.reset(seed=0)
    assert [s.name for s in venv.scenarios] == ["bad-deploy"] * 2 and list(venv.state.tier) == [2, 2]
    with pytest.raises(TypeError):
        gym.make_vec("supportgym/Incident-v1", num_envs=2, vectorization_mode="vector_entry_point", sute="hard")


@pytest.mark.parametrize("env_id,limit", [("supportgym/Incident-v1", None), ("supportgym/Incident-Tutorial-v1", 9)])
def test_make_vec_rows_equal_gym_make_envs(env_id, limit):
    """Row i of ``gym.make_vec`` is ``gym.make`` (wrappers, TimeLimit and all) seeded ``seed + i``."""
    B, seed = 3, 7
    venv = gym.make_vec(env_id, num_envs=B, vectorization_mode="vector_entry_point", max_episode_steps=limit)
    singles = [gym.make(env_id, max_episode_steps=limit) for _ in range(B)]
    obs, info = venv.reset(seed=seed)
    for i, env in enumerate(singles):
        np.testing.assert_array_equal(obs[i], env.reset(seed=seed + i)[0])
    ends = lockstep(venv, singles, steps=60, pick_seed=3)
    assert ends >= (B * 6 if limit else 1)


def test_reset_mask_resets_only_its_rows_and_seeds_them_like_single_envs():
    venv = IncidentVectorEnv(num_envs=3, suite="tutorial")
    obs, info = venv.reset(seed=5)
    venv.step(_pick(np.random.default_rng(0), info["action_mask"]))
    before = venv.state.obs.copy()
    obs, _ = venv.reset(seed=[None, 40, None], options={"reset_mask": np.array([False, True, False])})
    np.testing.assert_array_equal(obs[[0, 2]], before[[0, 2]])
    np.testing.assert_array_equal(obs[1], IncidentEnv("tutorial").reset(seed=40)[0])


def test_fixed_scenario_and_scenario_option():
    venv = IncidentVectorEnv(num_envs=2, suite="tutorial", scenario="cache-failure")
    venv.reset(seed=0)
    assert [s.name for s in venv.scenarios] == ["cache-failure"] * 2
    venv.reset(seed=0, options={"scenario": "bad-deploy"})
    assert [s.name for s in venv.scenarios] == ["bad-deploy"] * 2
    np.testing.assert_array_equal(venv.state.obs[1],
                                  IncidentEnv("tutorial").reset(seed=1, options={"scenario": "bad-deploy"})[0])


@pytest.mark.parametrize("actions", [np.array([0, 1]), np.array([0.0, 1.0, 2.0]), np.array([0, -1, 2]),
                                     np.array([0, 1, 10_000]), [[0, 1, 2]]], ids=repr)
def test_malformed_actions_raise_and_change_nothing(actions):
    venv = IncidentVectorEnv(num_envs=3, suite="tutorial")
    venv.reset(seed=0)
    before = venv.state.copy()
    with pytest.raises(InvalidActionError):
        venv.step(actions)
    np.testing.assert_array_equal(venv.state.obs, before.obs)
    np.testing.assert_array_equal(venv.state.steps, before.steps)


def test_step_before_reset_and_bad_arguments_are_refused():
    venv = IncidentVectorEnv(num_envs=2, suite="tutorial")
    with pytest.raises(RuntimeError, match="reset"):
        venv.step(np.zeros(2, dtype=int))
    with pytest.raises(ValueError):
        IncidentVectorEnv(num_envs=0)
    with pytest.raises(ValueError, match="max_episode_steps"):
        IncidentVectorEnv(num_envs=1, max_episode_steps=0)
    with pytest.raises(ValueError, match="unknown reset option"):
        venv.reset(options={"scenaro": "x"})


def test_threads_change_nothing_but_speed():
    """A batch stepped in ranges on threads gives, bit for bit, what one call over it gives."""
    rows = 2 * MIN_ROWS_PER_THREAD + 5  # two ranges, uneven
    assert len(row_ranges(rows, 2)) == 2
    one, two = (IncidentVectorEnv(num_envs=rows, suite="hard", threads=t) for t in (1, 2))
    obs_one, _ = one.reset(seed=11)
    obs_two, _ = two.reset(seed=11)
    pick, ends = np.random.default_rng(3), 0
    for _ in range(60):
        actions = np.array([pick.choice(np.flatnonzero(m)) for m in one.action_masks()])
        a, b = one.step(actions), two.step(actions)
        for x, y in zip(a[:4], b[:4]):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(a[4]["action_mask"], b[4]["action_mask"])
        ends += int((a[2] | a[3]).sum())
    np.testing.assert_array_equal(one._streams, two._streams)
    assert ends > rows // 2  # the ranges were exercised across autoresets too


def test_row_ranges_and_their_errors():
    assert not splits(2 * MIN_ROWS_PER_THREAD - 1, 2) and splits(2 * MIN_ROWS_PER_THREAD, 2)
    assert not splits(10**6, 1)
    assert row_ranges(10, 4) == [(0, 10)]  # too few rows for a thread of their own
    assert row_ranges(512, 3, min_rows=128) == [(0, 170), (170, 341), (341, 512)]
    assert row_ranges(512, 3, min_rows=256) == [(0, 256), (256, 512)]
    assert not splits(1023, 2, min_rows=512) and splits(1024, 2, min_rows=512)
    seen = []
    run_ranges(lambda start, stop: seen.append((start, stop)), [(0, 3), (3, 7)])
    assert sorted(seen) == [(0, 3), (3, 7)]

    def fails_on_the_pool(start: int, stop: int) -> None:
        if start > 0:
            raise ValueError("range failed")

    with pytest.raises(ValueError, match="range failed"):
        run_ranges(fails_on_the_pool, [(0, 3), (3, 7)])
    with pytest.raises(ValueError, match="threads must be"):
        IncidentVectorEnv(num_envs=2, threads=0)


def _ranges_in_child(queue) -> None:
    seen = []
    run_ranges(lambda start, stop: seen.append((start, stop)), [(0, 3), (3, 7)])
    queue.put(sorted(seen))


def test_row_ranges_run_in_a_forked_child():
    """A process forked after the pool ran gets threads of its own instead of waiting forever."""
    import multiprocessing

    run_ranges(lambda start, stop: None, [(0, 1), (1, 2)])  # the parent's pool exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_ranges_in_child, args=(queue,))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        pytest.fail("run_ranges in a forked child did not return")
    assert child.exitcode == 0 and queue.get(timeout=5) == [(0, 3), (3, 7)]
