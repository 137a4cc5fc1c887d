"""Agents: the shared protocol, observation-only rule-based agents, the oracle, trained models."""

from __future__ import annotations

import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import supportgym  # noqa: F401  (registers the environment)
from agents import RULE_AGENTS, Desk, make_agent, run_episode
from agents.casebook import Stage
from agents.playbook import PLAYBOOK
from agents.registry import UnknownAgentError
from agents.runbook import STEPS, Step
from agents.trained import ModelLoadError, load_trained, parse_model_spec
from evaluation.statistics import normalised_scores, stratified_ci
from supportgym.contract.actions import ActionTable
from supportgym.contract.observation import ObservationLayout, encode_recency
from supportgym.contract.vocabulary import ActionKind, LogClass

def make(suite: str = "standard", **kwargs) -> gym.Env:
    return gym.make("supportgym/Incident-v1", suite=suite, **kwargs)


class _Guarded:
    """Stands in for ``env.unwrapped``: the static action table is public, the world is not."""

    def __init__(self, env):
        self._env = env

    @property
    def table(self):
        return self._env.table

    def __getattr__(self, name):
        raise AssertionError(f"a rule-based agent reached env.unwrapped.{name}")


class HiddenStateGuard(gym.Wrapper):
    """An env whose ``unwrapped`` exposes only the action table."""

    @property
    def unwrapped(self):
        return _Guarded(self.env.unwrapped)


# --- rule-based agents see only the observation ---------------------------------------------
@pytest.mark.parametrize("name", list(RULE_AGENTS))
def test_rule_agents_cannot_reach_hidden_state(name):
    """Built through a guard that raises on any access to the world, they still play."""
    env = make()
    agent = make_agent(name, HiddenStateGuard(env))
    assert set(vars(agent)) <= {"desk", "seed"}  # no handle on the environment
    for seed in range(5):
        metrics = run_episode(env, agent, seed)
        assert metrics["steps"] > 0


@pytest.mark.parametrize("name", list(RULE_AGENTS))
def test_rule_agents_work_from_layout_and_table_alone(name):
    desk = Desk(ObservationLayout(16), ActionTable.build(16))
    agent = RULE_AGENTS[name](desk)
    env = make()
    metrics = run_episode(env, agent, 7)
    assert metrics["invalid_actions"] == 0


@pytest.mark.parametrize("suite", ["tutorial", "standard", "hard"])
def test_mask_rebuilt_from_observation_matches_env(suite):
    env = make(suite)
    desk = Desk.of(env)
    agent = make_agent("random", env)
    for seed in range(10):
        obs, info = env.reset(seed=seed)
        state, done = None, False
        while not done:
            assert np.array_equal(desk.mask_from_observation(obs), info["action_mask"])
            action, state = agent.predict(obs, state=state, action_masks=info["action_mask"])
            obs, _, terminated, truncated, info = env.step(int(action))
            done = terminated or truncated


@pytest.mark.parametrize("name", ["naive", "runbook", "expert"])
def test_rule_agents_take_only_allowed_actions(name):
    env = make("hard")
    agent = make_agent(name, env)
    for seed in range(20):
        assert run_episode(env, agent, seed)["invalid_actions"] == 0


def test_predict_follows_sb3_conventions():
    env = make()
    agent = make_agent("expert", env)
    obs, info = env.reset(seed=3)
    action, state = agent.predict(obs, episode_start=np.array([True]), action_masks=info["action_mask"])
    assert isinstance(action, np.ndarray) and action.shape == ()
    assert state is not None
    # A batch gives one action per observation, the same as one at a time; no mask needed.
    batch_actions, batch_state = agent.predict(np.stack([obs, obs]))
    assert batch_actions.shape == (2,) and len(batch_state) == 2
    assert (batch_actions == int(action)).all()


def test_random_agent_is_seeded_per_episode():
    """The same episode gets the same random actions whatever ran before it."""
    env = make()
    agent = make_agent("random", env)
    first = run_episode(env, agent, 11)
    run_episode(env, agent, 12)
    again = run_episode(env, make_agent("random", env), 11)
    assert repr(first) == repr(again)  # (nan != nan: compare the printed values)


def test_unknown_agent_is_refused():
    with pytest.raises(UnknownAgentError, match="unknown agent 'genius'"):
        make_agent("genius", make())


# --- the expert's and the runbook's tables ----------------------------------------------------
def test_the_playbook_has_a_page_for_every_log_signature():
    assert set(PLAYBOOK) == set(LogClass)
    for signature, page in PLAYBOOK.items():
        assert page.check in (None, ActionKind.CHECK_METRICS, ActionKind.CHECK_CHANGES), signature
        assert page.lines, signature


def test_every_runbook_step_has_a_handler():
    assert set(STEPS) == set(Step)


def test_change_recency_is_read_in_minutes():
    recency = np.exp(-np.array([0.0, 119.0, 121.0, 600.0]) / 60.0)
    assert (recency > encode_recency(120.0)).tolist() == [True, True, False, False]


def test_the_expert_works_the_incident_stage_by_stage():
    """Triage comes first and closing last; on a fault that needs fixing it diagnoses and acts."""
    env = make()
    agent = make_agent("expert", env)
    obs, info = env.reset(seed=0, options={"scenario": "shop-bad-deploy"})
    state, start, stages, done = None, True, [], False
    while not done:
        action, state = agent.predict(obs, state=state, episode_start=[start], action_masks=info["action_mask"])
        stages.append(state[0].stage)
        obs, _, terminated, truncated, info = env.step(int(action))
        start, done = False, terminated or truncated
    assert stages[0] is Stage.TRIAGE and stages[-1] is Stage.CLOSE
    assert {Stage.DIAGNOSE, Stage.ACT, Stage.VALIDATE} <= set(stages)
    assert info["episode_metrics"]["resolved_and_held"]


# --- the oracle and the ordering of the baselines --------------------------------------------
def test_oracle_resolves_and_holds_on_the_standard_suite():
    env = make()
    oracle = make_agent("oracle", env)
    for seed in range(60):
        metrics = run_episode(env, oracle, seed)
        assert metrics["resolved_and_held"], (seed, metrics["scenario"])
        assert metrics["harmful_actions"] == 0


def test_baselines_are_ordered_with_separated_confidence_intervals():
    """random < naive < runbook < expert < oracle on a fixed seed set, CIs not overlapping."""
    env = make()
    order = ["random", "naive", "runbook", "expert", "oracle"]
    results = {}
    for name in order:
        agent = make_agent(name, env)
        results[name] = [{**run_episode(env, agent, seed), "episode": seed} for seed in range(200)]
    scores = normalised_scores(results)
    strata = [r["scenario"] for r in results["random"]]
    cis = {name: stratified_ci(scores[name], strata, np.mean, 1000, 0) for name in order}
    for lower, higher in zip(order, order[1:]):
        assert cis[lower][1] < cis[higher][0], (lower, cis[lower], higher, cis[higher])
    assert cis["expert"][1] < 99.0  # diagnosis costs the expert time the oracle does not spend


# --- trained models ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def torch_single_thread():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _train(algo: str, path: Path) -> Path:
    """A tiny model (a few hundred steps on the tutorial suite), saved to ``path``."""
    from sb3_contrib import MaskablePPO, RecurrentPPO
    from stable_baselines3 import DQN, PPO

    env = make("tutorial")
    if algo == "dqn":
        model = DQN("MlpPolicy", env, learning_starts=50, buffer_size=500, seed=0)
    elif algo == "recurrent_ppo":
        model = RecurrentPPO("MlpLstmPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0,
                             policy_kwargs={"lstm_hidden_size": 16})
    else:
        cls = MaskablePPO if algo == "maskable_ppo" else PPO
        model = cls("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0)
    model.learn(192)
    model.save(path)
    return path


@pytest.mark.parametrize("algo", ["ppo", "maskable_ppo", "recurrent_ppo", "dqn"])
def test_trained_model_is_detected_and_acts_within_masks(algo, tmp_path, torch_single_thread, monkeypatch):
    path = _train(algo, tmp_path / f"{algo}.zip")
    unpickled = []
    import stable_baselines3.common.save_util as save_util

    real_loads = save_util.cloudpickle.loads
    monkeypatch.setattr(save_util.cloudpickle, "loads", lambda *a, **k: unpickled.append(a) or real_loads(*a, **k))
    env = make("tutorial")
    agent = make_agent(str(path), env)
    assert agent.algo == algo
    assert unpickled == []  # spaces from the env, schedules and buffers replaced: nothing unpickled
    for seed in range(3):
        assert run_episode(env, agent, seed)["invalid_actions"] == 0
    hinted = make_agent(f"{path}:{algo}", env)
    assert hinted.algo == algo


def test_maskable_ppo_adapter_matches_sb3_predict(tmp_path, torch_single_thread):
    from sb3_contrib import MaskablePPO

    path = _train("maskable_ppo", tmp_path / "m.zip")
    env = make("tutorial")
    agent, model = load_trained(str(path), env), MaskablePPO.load(path)
    obs, info = env.reset(seed=0)
    for _ in range(20):
        ours, _ = agent.predict(obs, action_masks=info["action_mask"])
        theirs, _ = model.predict(obs, action_masks=info["action_mask"], deterministic=True)
        assert int(ours) == int(theirs)
        obs, _, terminated, truncated, info = env.step(int(ours))
        if terminated or truncated:
            break


def test_model_with_other_spaces_is_refused(tmp_path, torch_single_thread):
    path = _train("ppo", tmp_path / "p.zip")
    with pytest.raises(ModelLoadError, match=r"trained on Box observations of shape .* max_services=12"):
        load_trained(str(path), make("tutorial", max_services=12))


def test_truncated_or_missing_model_file_is_refused(tmp_path, torch_single_thread):
    path = _train("ppo", tmp_path / "p.zip")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    env = make("tutorial")
    with pytest.raises(ModelLoadError, match="not a readable stable-baselines3 model"):
        load_trained(str(truncated), env)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_trained(str(tmp_path / "missing.zip"), env)
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("data", '{"hello": 1}')
    with pytest.raises(ModelLoadError, match="no policy_class"):
        load_trained(str(foreign), env)


def test_model_spec_parsing():
    assert parse_model_spec("runs/x/model.zip") == (Path("runs/x/model.zip"), None)
    assert parse_model_spec("runs/x/model.zip:maskable_ppo") == (Path("runs/x/model.zip"), "maskable_ppo")
    assert parse_model_spec("C:/m.zip:DQN") == (Path("C:/m.zip"), "dqn")
