"""Training aids over the batched env: per-row start tiers, step-end hooks, impact shaping, the
evidence bonus and the curriculum that anneals them (training/shaping.py, training/curriculum.py)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sb3_contrib")

from sb3_contrib import MaskablePPO  # noqa: E402
from stable_baselines3.common.logger import configure  # noqa: E402
from stable_baselines3.common.vec_env import VecMonitor  # noqa: E402

from supportgym.contract.vocabulary import ActionKind  # noqa: E402
from supportgym.env import IncidentEnv  # noqa: E402
from supportgym.sb3 import IncidentSB3VecEnv  # noqa: E402
from supportgym.vector import IncidentVectorEnv  # noqa: E402
from tests.test_vector import _pick, lockstep  # noqa: E402
from tests.test_train import TINY, TINY_HP, scalar_tags, train  # noqa: E402
from training.curriculum import Curriculum, remaining_share  # noqa: E402
from training.shaping import EvidenceBonus, ImpactShaping, vector_env_of  # noqa: E402


def test_a_row_opened_at_a_higher_tier_is_the_single_env_started_there_and_the_others_are_unchanged():
    seed, tiers = 7, [0, 2, 3]
    venv = IncidentVectorEnv(num_envs=3, suite="standard")
    venv.start_tiers[:] = tiers
    singles = [IncidentEnv("standard", start_tier=t or None) for t in tiers]
    obs, info = venv.reset(seed=seed)
    for i, env in enumerate(singles):
        np.testing.assert_array_equal(obs[i], env.reset(seed=seed + i)[0])
    assert list(venv.state.tier) == [1, 2, 3]
    ends = lockstep(venv, singles, steps=150, pick_seed=1)
    assert ends >= 3  # the tiers hold across autoresets


def test_step_end_hooks_see_the_last_state_of_an_ended_episode():
    venv = IncidentVectorEnv(num_envs=2, suite="standard")
    seen: list[np.ndarray] = []
    venv.step_end_hooks.append(lambda state: seen.append(state.steps.copy()))
    venv.reset(seed=0)
    resolve = venv.table.index(ActionKind.RESOLVE)
    venv.step(np.array([venv.table.index(ActionKind.WAIT), resolve]))
    assert venv.state.steps[1] == 0  # row 1 ended and opened its next episode
    np.testing.assert_array_equal(seen[-1], [1, 1])  # the hook saw the step the episode ended on


def _sb3(suite: str, rows: int, seed: int, wrap=None):
    venv = VecMonitor(IncidentSB3VecEnv(IncidentVectorEnv(num_envs=rows, suite=suite)))
    venv.seed(seed)
    return wrap(venv) if wrap else venv


def test_impact_shaping_changes_each_discounted_return_by_potentials_only():
    """Potential-based: an episode's shaped discounted return is its own minus the first state's
    potential, plus the discounted potential of its last state when it was truncated (0 when it
    terminated): nothing a policy does can farm it."""
    rows, seed, gamma, coef = 4, 3, 0.97, 2.0
    plain = _sb3("hard", rows, seed)
    shaped = _sb3("hard", rows, seed, lambda v: ImpactShaping(v, coef=coef, gamma=gamma))
    plain.reset()
    shaped.reset()
    pick = np.random.default_rng(0)
    first_phi = shaped.current.copy()
    discount, ret, shaped_ret = np.ones(rows), np.zeros(rows), np.zeros(rows)
    checked = {"terminated": 0, "truncated": 0}
    for _ in range(400):
        actions = _pick(pick, np.stack(plain.env_method("action_masks")))
        _, r, done, infos = plain.step(actions)
        _, r_shaped, done_shaped, _ = shaped.step(actions)
        np.testing.assert_array_equal(done, done_shaped)
        ret += discount * r
        shaped_ret += discount * r_shaped
        discount *= gamma
        for i in np.flatnonzero(done):
            truncated = infos[i]["TimeLimit.truncated"]
            last_phi = shaped.reached[i] if truncated else 0.0
            assert first_phi[i] <= 0 and last_phi <= 0
            assert shaped_ret[i] == pytest.approx(ret[i] - first_phi[i] + discount[i] * last_phi, abs=1e-3)
            checked["truncated" if truncated else "terminated"] += 1
            first_phi[i], discount[i], ret[i], shaped_ret[i] = shaped.current[i], 1.0, 0.0, 0.0
    assert checked["terminated"] >= 5, checked
    assert np.any(first_phi < 0)  # the potential is not trivially 0


def test_the_evidence_bonus_pays_each_new_reading_once():
    plain = _sb3("standard", 1, 5)
    paid = _sb3("standard", 1, 5, lambda v: EvidenceBonus(v, coef=0.5))
    plain.reset()
    paid.reset()
    table = vector_env_of(paid).table
    metrics = np.array([table.index(ActionKind.CHECK_METRICS, 0)])
    other = np.array([table.index(ActionKind.CHECK_METRICS, 1)])
    extra = []
    for action in (metrics, metrics, other):
        r = plain.step(action)[1]
        extra.append(float(paid.step(action)[1][0] - r[0]))
    assert extra == pytest.approx([0.5, 0.0, 0.5])


def test_remaining_share_falls_linearly_to_zero():
    assert [remaining_share(s, 100) for s in (0, 25, 100, 150)] == [1.0, 0.75, 0.0, 0.0]
    assert remaining_share(10, 0) == 0.0


def test_the_curriculum_draws_start_tiers_and_anneals_the_bonus():
    venv = _sb3("tutorial", 400, 0, lambda v: EvidenceBonus(v, coef=0.2))
    model = MaskablePPO("MlpPolicy", venv, n_steps=8, batch_size=8, seed=0)
    model.set_logger(configure(None, []))
    vector = vector_env_of(venv)
    curriculum = Curriculum(vector, end_step=1000, start_share=0.8, bonus=venv, seed=0)
    curriculum.init_callback(model)
    for steps, share in ((0, 0.8), (500, 0.4), (1000, 0.0)):
        curriculum.num_timesteps = steps
        curriculum.on_rollout_start()
        above = vector.start_tiers > 0
        assert set(vector.start_tiers[above]) <= {2, 3}
        assert above.mean() == pytest.approx(share, abs=0.08)
        assert venv.coef == pytest.approx(0.2 * share / 0.8)
    curriculum.on_training_end()
    assert not vector.start_tiers.any()


def test_training_with_the_aids_logs_their_schedule(tmp_path):
    result = train(tmp_path, "--run-dir", "c", "--algo", "maskable_ppo", "--timesteps", "256", "--eval-freq", "256",
                   *TINY, *TINY_HP["maskable_ppo"], "--hp", "start_tier_share=0.5", "--hp", "evidence_bonus=0.05",
                   "--hp", "impact_shaping=1", "--hp", "curriculum_fraction=0.8")
    assert result.returncode == 0, result.stderr[-2000:]
    tags = scalar_tags(tmp_path / "c")
    assert {"curriculum/start_above_l1_share", "curriculum/evidence_bonus"} <= tags, sorted(tags)
