"""The SB3 adapter over the native vector env behaves as DummyVecEnv over single envs, and MaskablePPO trains on it."""

from __future__ import annotations

import numpy as np
import pytest
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from supportgym.env import IncidentEnv
from supportgym.sb3 import IncidentSB3VecEnv
from supportgym.vector import IncidentVectorEnv


def _adapter(n: int, suite: str) -> IncidentSB3VecEnv:
    return IncidentSB3VecEnv(IncidentVectorEnv(num_envs=n, suite=suite))


@pytest.mark.parametrize("suite", ["standard", "hard"])
def test_trajectories_equal_dummy_vec_env_over_single_envs(suite):
    n, seed = 4, 3
    ours = _adapter(n, suite)
    dummy = DummyVecEnv([lambda: IncidentEnv(suite)] * n)
    ours.seed(seed), dummy.seed(seed)
    np.testing.assert_array_equal(ours.reset(), dummy.reset())
    pick, dones_seen = np.random.default_rng(0), 0
    for _ in range(120):
        masks = get_action_masks(ours)
        np.testing.assert_array_equal(masks, get_action_masks(dummy))
        actions = np.array([pick.choice(np.flatnonzero(m)) for m in masks])
        obs, rewards, dones, infos = ours.step(actions)
        d_obs, d_rewards, d_dones, d_infos = dummy.step(actions)
        np.testing.assert_array_equal(obs, d_obs)
        np.testing.assert_array_equal(rewards, d_rewards)
        assert rewards.dtype == d_rewards.dtype
        np.testing.assert_array_equal(dones, d_dones)
        for mine, theirs in zip(infos, d_infos):
            assert set(mine) == set(theirs)
            for key in mine:
                if isinstance(mine[key], np.ndarray):
                    np.testing.assert_array_equal(mine[key], theirs[key])
                else:
                    assert str(mine[key]) == str(theirs[key]), key  # nan-safe for the metrics
        dones_seen += int(dones.sum())
    assert dones_seen >= n  # autoresets happened


def test_maskable_ppo_trains_on_it_and_reads_its_masks():
    venv = _adapter(4, "tutorial")
    assert is_masking_supported(venv)
    env = VecMonitor(venv)
    model = MaskablePPO("MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu", verbose=0)
    model.learn(320)
    assert model.num_timesteps >= 320
    masks = get_action_masks(env)
    assert masks.shape == (4, venv.action_space.n) and masks.dtype == bool
    np.testing.assert_array_equal(masks, venv.venv.action_masks())
    obs = env.reset()
    actions, _ = model.predict(obs, action_masks=get_action_masks(env), deterministic=True)
    assert all(get_action_masks(env)[i, a] for i, a in enumerate(actions))  # the policy obeys the masks
    env.close()


def test_attributes_methods_and_wrappers():
    venv = _adapter(3, "tutorial")
    venv.seed(0)
    venv.reset()
    assert venv.get_attr("num_envs") == [3, 3, 3]
    assert [s.name for s in venv.get_attr("scenario", indices=[0, 2])] == [s.name for s in venv.venv.scenarios[::2]]
    assert venv.has_attr("action_masks") and not venv.has_attr("no_such_thing")
    assert venv.env_is_wrapped(VecMonitor) == [False, False, False]
    assert [m["steps"] for m in venv.env_method("episode_metrics")] == [0, 0, 0]
    with pytest.raises(AttributeError):
        venv.env_method("render")
    venv.set_attr("copy", False)
    assert venv.venv.copy is False
    with pytest.raises(ValueError):
        venv.set_attr("copy", True, indices=[0])


def test_set_options_fixes_the_scenario_of_the_next_reset():
    venv = _adapter(2, "tutorial")
    venv.seed(5)
    venv.set_options([{"scenario": "bad-deploy"}, {}])
    obs = venv.reset()
    single = IncidentEnv("tutorial")
    np.testing.assert_array_equal(obs[0], single.reset(seed=5, options={"scenario": "bad-deploy"})[0])
    np.testing.assert_array_equal(obs[1], single.reset(seed=6)[0])
    assert venv.venv.scenarios[0].name == "bad-deploy"
