"""The on-call shift (supportgym/Shift-v0): recurrence, knowledge, phases, API checks and exploits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import yaml

import supportgym  # noqa: F401
from agents.shift_agents import ShiftExpertAgent, ShiftMemory, make_shift_agent
from supportgym.contract.vocabulary import KB_REMEDIES
from supportgym.shift.env import ShiftEnv
from supportgym.shift.layout import SGF, ShiftLayout
from supportgym.suite import SuiteError
from supportgym.suite.shift import load_shift_suite

HOTFIX, ROLLBACK = KB_REMEDIES.index("hotfix"), KB_REMEDIES.index("rollback")


def shift_file(tmp_path: Path, **changes: Any) -> Path:
    """A one-system shift on the shop whose only weakness (a latent bug in checkout) fires every slot."""
    data = {"name": "test-shift", "incident_suite": "standard", "incidents": 4, "reward": {"resolve_bonus": 0},
            "systems": [{"name": "shop", "topology": "shop", "one_off_rate": 0.0,
                         "weaknesses": [{"scenario": "shop-latent-bug", "service": "checkout", "rate": 1.0}]}]}
    data.update(changes)
    path = tmp_path / "shift.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


Closure = Callable[[ShiftEnv, np.ndarray, int], list[int]]


def play(env: ShiftEnv, seed: int, closure: Closure | None = None, agent: Any = None) -> dict[str, Any]:
    """One shift: the expert works the incidents; ``closure(env, obs, k)`` gives the closure work
    after the k-th incident (then next incident), or ``agent`` plays everything."""
    lay = ShiftLayout(env.layout.max_services)
    expert = ShiftExpertAgent(lay, "none")
    memory, state = ShiftMemory(), None
    obs, info = env.reset(seed=seed)
    start, k = np.ones(1, bool), 0
    while True:
        if agent is not None:
            action, state = agent.predict(obs, state, start, True, info["action_mask"])
            action = int(action)
            start = np.zeros(1, bool)
        elif lay.closure_phase(obs):
            k += 1
            for work in [*(closure(env, obs, k) if closure else []), lay.next_incident]:
                assert info["action_mask"][work], env.action_names[work]
                obs, _, terminated, truncated, info = env.step(work)
                if terminated or truncated:
                    return info["episode_metrics"]
            memory.in_closure = True
            continue
        else:
            action = expert.act(obs, info["action_mask"], memory)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return info["episode_metrics"]


def test_registered_and_spaces():
    env = gym.make("supportgym/Shift-v0")
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs) and obs.dtype == np.float32
    assert info["action_mask"].shape == (env.action_space.n,)
    lay = ShiftLayout(16)
    assert env.action_space.n == lay.n_actions and obs.shape == (lay.obs_size,)


def test_gymnasium_check_env():
    from gymnasium.utils.env_checker import check_env

    check_env(ShiftEnv(), skip_render_check=True)


def test_sb3_check_env():
    from stable_baselines3.common.env_checker import check_env

    check_env(ShiftEnv(), warn=True)


def test_seeded_shifts_are_reproducible():
    def rollout(seed: int) -> tuple[list, dict]:
        env, rng = ShiftEnv(), np.random.default_rng(7)
        obs, info = env.reset(seed=seed)
        trace = [obs]
        for _ in range(400):
            obs, r, te, tr, info = env.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
            assert obs.dtype == np.float32 and env.observation_space.contains(obs)
            trace.append((obs, r))
            if te or tr:
                break
        return trace, env.episode_metrics()

    (a, ma), (b, mb), (_, mc) = rollout(5), rollout(5), rollout(6)
    assert repr(ma) == repr(mb) and len(a) == len(b)  # repr: nan equals nan
    assert np.array_equal(a[0], b[0]) and all(np.array_equal(x[0], y[0]) and x[1] == y[1] for x, y in zip(a[1:], b[1:]))
    assert repr(ma) != repr(mc)


def test_weakness_recurs_until_a_permanent_fix(tmp_path):
    env = ShiftEnv(shift_file(tmp_path))
    never = play(env, 0)
    assert never["incidents"] == 4 and all(r["service"] == "checkout" for r in never["per_incident"])
    checkout = env.inner.scenario.topology.index("checkout")
    fixed = play(env, 0, lambda e, o, k: [e.layout.permanent_fix(checkout)] if k == 2 else [])
    assert fixed["incidents"] == 2 and fixed["quiet_slots"] == 2 and fixed["weaknesses_fixed"] == 1
    assert fixed["closure"]["permanent_fix"] == 1


def test_a_correct_rca_shortens_the_next_recurrence_and_a_wrong_one_lengthens_it(tmp_path):
    env = ShiftEnv(shift_file(tmp_path, incidents=2))
    checkout = env.inner.scenario.topology.index("checkout")
    minutes = {"none": [], "right": [], "wrong": []}
    for seed in range(4):
        for label, rca in (("none", None), ("right", HOTFIX), ("wrong", ROLLBACK)):
            m = play(env, seed, None if rca is None else (lambda e, o, k, r=rca: [e.layout.rca(checkout, r)] if k == 1
                                                          else []))
            _, second = m["per_incident"]
            minutes[label].append((second["time_to_resolve"], second["return"]))
    ttr = {k: np.array(v) for k, v in minutes.items()}
    assert np.all(ttr["right"][:, 0] < ttr["none"][:, 0]) and ttr["right"][:, 1].mean() > ttr["none"][:, 1].mean()
    assert ttr["wrong"][:, 0].mean() > ttr["none"][:, 0].mean() and ttr["wrong"][:, 1].mean() < ttr["none"][:, 1].mean()


def test_automation_remediates_at_the_open(tmp_path):
    env = ShiftEnv(shift_file(tmp_path, incidents=3))
    checkout = env.inner.scenario.topology.index("checkout")
    plain = play(env, 1)
    auto = play(env, 1, lambda e, o, k: [e.layout.rca(checkout, HOTFIX), e.layout.automate(checkout)] if k == 1 else [])
    assert [r["automated"] for r in auto["per_incident"]] == [False, True, True]
    for r_auto, r_plain in zip(auto["per_incident"][1:], plain["per_incident"][1:]):
        assert r_auto["resolved_and_held"]
        assert r_auto["time_to_resolve"] < r_plain["time_to_resolve"] and r_auto["return"] > r_plain["return"]


def test_masks_enforce_the_phases(tmp_path):
    env = ShiftEnv(shift_file(tmp_path, incidents=2))
    lay = env.layout
    obs, info = env.reset(seed=0)
    mask = info["action_mask"]
    assert mask[: lay.n_incident_actions].any() and not mask[lay.n_incident_actions:].any()
    before = env.inner.state.time[0]
    obs, r, te, tr, info = env.step(lay.next_incident)  # a closure action mid-incident: a no-op with a penalty
    assert info["invalid_action"] and r < 0 and env.inner.state.time[0] == before and not (te or tr)
    # work the incident, then closure: only closure work, "automate" only where an RCA names a fix
    expert, memory = ShiftExpertAgent(ShiftLayout(lay.max_services), "none"), ShiftMemory()
    while not lay.closure_phase(obs):
        obs, r, te, tr, info = env.step(expert.act(obs, info["action_mask"], memory))
    mask = info["action_mask"]
    assert not mask[: lay.n_incident_actions].any() and mask[lay.next_incident]
    checkout = env.inner.scenario.topology.index("checkout")
    assert not mask[lay.automate(checkout)] and mask[lay.rca(checkout, HOTFIX)]
    obs, r, *_ , info = env.step(lay.rca(checkout, HOTFIX))
    assert r == pytest.approx(-30 * 0.02) and info["action_mask"][lay.automate(checkout)]
    assert not info["action_mask"][lay.rca(checkout, HOTFIX)]  # already the entry
    for _ in range(env.suite.closure.max_actions - 1):
        obs, r, *_ , info = env.step(lay.tune_alert(int(np.flatnonzero(info["action_mask"][
            lay.tune_alert(0): lay.tune_alert(0) + lay.max_services])[0])))
    assert np.flatnonzero(info["action_mask"]).tolist() == [lay.next_incident]  # the cap on closure work
    assert lay.globals(obs)[SGF["closure_used"]] == 1.0


def test_shift_file_errors_name_file_and_field(tmp_path):
    for changes, field in (
        ({"systems": [{"name": "s", "topology": "shop", "weaknesses": [
            {"scenario": "shop-latent-bug", "service": "checkout", "rate": 0.95}]}]}, "systems[0].weaknesses"),
        ({"systems": [{"name": "s", "topology": "shop", "one_off_rate": 0, "weaknesses": [
            {"scenario": "shop-latent-bug", "service": "auth", "rate": 0.5}]}]}, "systems[0].weaknesses[0].service"),
        ({"systems": [{"name": "s", "topology": "shop", "one_off_rate": 0, "weaknesses": [
            {"scenario": "nope", "service": "auth", "rate": 0.5}]}]}, "systems[0].weaknesses[0].scenario"),
        ({"incidents": 0}, "incidents"),
        ({"reward": {"resolve_bonus": -1}}, "reward.resolve_bonus"),
    ):
        path = shift_file(tmp_path, **changes)
        with pytest.raises(SuiteError) as err:
            load_shift_suite(path)
        assert str(path) in str(err.value) and field in str(err.value), str(err.value)


def run_agent(agent_or_closure: Any, seeds: range) -> float:
    """Mean shift return over ``seeds``: an agent, or the expert with a closure habit."""
    env = ShiftEnv()
    if callable(agent_or_closure) and not hasattr(agent_or_closure, "predict"):
        return float(np.mean([play(env, s, agent_or_closure)["return"] for s in seeds]))
    return float(np.mean([play(env, s, agent=agent_or_closure)["return"] for s in seeds]))


def test_learning_beats_no_learning_and_exploits_score_below_a_sound_policy():
    env, seeds = ShiftEnv(), range(8)
    expert = run_agent(make_shift_agent("shift-expert", env), seeds)
    learning = run_agent(make_shift_agent("shift-learning-expert", env), seeds)

    def rca_forever(e: ShiftEnv, obs: np.ndarray, k: int) -> list[int]:
        """Write RCAs until the cap, cycling over services and remedies."""
        lay, mask = e.layout, e.action_masks()
        allowed = [a for a in range(lay.rca(0, 0), lay.automate(0)) if mask[a]]
        return allowed[(k * 7) % len(allowed)::5][: e.suite.closure.max_actions]

    def tune_forever(e: ShiftEnv, obs: np.ndarray, k: int) -> list[int]:
        lay, mask = e.layout, e.action_masks()
        return [a for a in range(lay.tune_alert(0), lay.tune_alert(0) + lay.max_services) if mask[a]][
            : e.suite.closure.max_actions]

    rca_spam, tune_spam = run_agent(rca_forever, seeds), run_agent(tune_forever, seeds)
    assert learning > expert + 10
    assert rca_spam < learning and tune_spam < learning
    assert rca_spam < expert and tune_spam < expert


def test_tuned_alerts_neither_miss_nor_cry_wolf(tmp_path):
    """With every alert rule broken and false alarms everywhere (the shift's noise override), the
    services whose alerts were tuned have neither in the next incident; the others keep both."""
    env = ShiftEnv(shift_file(tmp_path, incidents=2, noise={"missed_alert_rate": 1.0, "false_alarm_rate": 1.0}))
    names = env.inner.scenario.topology.names
    checkout, edge = names.index("checkout"), names.index("edge")
    play(env, 2, lambda e, o, k: [e.layout.tune_alert(checkout), e.layout.tune_alert(edge)] if k == 1 else [])
    s = env.inner.state
    for i in range(len(names)):
        tuned = i in (checkout, edge)
        assert s.alert_muted[0, i].any() != tuned and np.isfinite(s.false_until[0, i]).any() != tuned
    assert env.knowledge.tuned[[checkout, edge]].all() and env.knowledge.tuned.sum() == 2
