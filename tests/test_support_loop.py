"""Incident-v1's support loop: category and routing at triage, reproduction, the customer's word."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import supportgym
from supportgym.contract.observation import CUSTOMER_ANSWERS, SF
from supportgym.contract.vocabulary import (
    ACTION_MINUTES,
    ESCALATION_MINUTES,
    MISFILED_MINUTES,
    MISROUTE_MINUTES,
    ActionKind,
    Team,
)
from supportgym.reward import W_UNCONFIRMED
from tests.conftest import make, scenario_of

A = ActionKind
TUTORIAL = (supportgym.builtin_suite_dir() / "tutorial.yaml").read_text(encoding="utf-8")


def _suite(tmp_path: Path, noise: str = "", reward: str = "", name: str = "suite") -> str:
    """The tutorial suite (L2 start, no noise) with extra noise and reward lines."""
    text = TUTORIAL.replace("    alert_delay_minutes: 1", "    alert_delay_minutes: 1\n" + noise)
    if reward:
        text = text.replace("\ntopologies:", f"\nreward:\n{reward}\ntopologies:")
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _env(suite: str, scenario: str = "bad-deploy") -> gym.Env:
    return gym.make("supportgym/Incident-v1", suite=suite, scenario=scenario, disable_env_checker=True)


def _take(env: gym.Env, kind: ActionKind, service: int = 0):
    u = env.unwrapped
    before = float(u.state.time[0])
    out = env.step(u.table.index(kind, service))
    return float(u.state.time[0]) - before, out


# --- triage: category and routing ------------------------------------------------------------


def test_a_misrouted_escalation_costs_the_bounce_and_lands_with_the_owner(tmp_path):
    env = _env(_suite(tmp_path, "    misroute: 1.0"))
    env.reset(seed=0)
    s = env.unwrapped.state
    assert s.routed[0] != s.true_team[0] == Team.API  # a bad deploy on an API service is the API team's
    minutes, (obs, *_rest, info) = _take(env, A.ESCALATE)
    assert minutes == ESCALATION_MINUTES[0] + MISROUTE_MINUTES
    assert s.routed[0] == s.category[0] == s.true_team[0]  # the wrong team bounced it to the owner
    assert env.unwrapped.episode_metrics()["misrouted_handoffs"] == 1


def test_filing_and_reassigning_first_makes_the_handoff_plain(tmp_path):
    env = _env(_suite(tmp_path, "    misroute: 1.0"))
    obs, _ = env.reset(seed=0)
    layout, s = env.unwrapped.layout, env.unwrapped.state
    assert layout.glob(obs, "category_none") == 1.0
    assert layout.glob(obs, f"routed_{Team(s.routed[0]).name.lower()}") == 1.0
    filing, (obs, *_rest) = _take(env, A.FILE_API + s.true_team[0])
    assert filing == ACTION_MINUTES[A.FILE_API] and layout.glob(obs, "category_api") == 1.0
    reassigning, (obs, *_rest) = _take(env, A.REASSIGN)
    assert reassigning == ACTION_MINUTES[A.REASSIGN] and layout.glob(obs, "routed_api") == 1.0
    minutes, _ = _take(env, A.ESCALATE)
    assert minutes == ESCALATION_MINUTES[0]
    assert env.unwrapped.episode_metrics()["misrouted_handoffs"] == 0


def test_a_wrong_or_missing_category_costs_a_re_triage(tmp_path):
    suite = _suite(tmp_path)  # routed right
    env = _env(suite)
    env.reset(seed=0)
    assert _take(env, A.ESCALATE)[0] == ESCALATION_MINUTES[0] + MISFILED_MINUTES  # never filed
    env.reset(seed=0)
    _take(env, A.FILE_DB)
    assert _take(env, A.ESCALATE)[0] == ESCALATION_MINUTES[0] + MISFILED_MINUTES
    env.reset(seed=0)
    _take(env, A.FILE_API)
    assert _take(env, A.ESCALATE)[0] == ESCALATION_MINUTES[0]


def test_reassigning_to_a_wrong_category_misroutes_a_ticket_that_was_right(tmp_path):
    env = _env(_suite(tmp_path))
    env.reset(seed=0)
    _take(env, A.FILE_INFRA)
    _take(env, A.REASSIGN)
    assert env.unwrapped.state.routed[0] == Team.INFRA
    assert _take(env, A.ESCALATE)[0] == ESCALATION_MINUTES[0] + MISROUTE_MINUTES


def test_routing_follows_the_seed_and_the_misroute_rate():
    env = make("standard")
    routed_right = []
    for seed in range(300):
        env.reset(seed=seed)
        s = env.unwrapped.state
        routed_right.append(s.routed[0] == s.true_team[0])
    assert 0.72 < np.mean(routed_right) < 0.88  # the standard suite misroutes 20%


# --- reproduce ---------------------------------------------------------------------------------


def test_reproduce_is_allowed_only_through_entry_services_at_l2():
    env = make("tutorial")
    env.reset(seed=0)
    u = env.unwrapped
    names = list(u.scenario.topology.names)
    mask = u.action_masks()
    assert mask[u.table.index(A.REPRODUCE, names.index("web"))]
    assert not any(mask[u.table.index(A.REPRODUCE, names.index(n))] for n in names if n != "web")
    l1 = gym.make("supportgym/Incident-v1", suite="standard", disable_env_checker=True)
    l1.reset(seed=0)
    assert not l1.unwrapped.action_masks()[l1.unwrapped.table.index(A.REPRODUCE, 0)]


@pytest.mark.parametrize("scenario", ["bad-deploy", "cache-failure"])
def test_reproduce_shows_user_facing_failure_and_the_failing_hop(scenario):
    env = make("tutorial", scenario=scenario)
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        u = env.unwrapped
        web = list(u.scenario.topology.names).index("web")
        minutes, (obs, *_rest) = _take(env, A.REPRODUCE, web)
        assert minutes == ACTION_MINUTES[A.REPRODUCE]
        services = u.layout.services(obs)
        assert services[web, SF["repro_failed"]] > 0.0 and services[web, SF["reproduce_fresh"]] == 1.0
        hops = np.flatnonzero(services[:, SF["repro_hop"]])
        culprit = int(u.state.fault_service[0, 0])
        assert hops.tolist() == [culprit], (seed, hops)  # no trace noise in the tutorial


def test_reproduce_on_a_healthy_system_finds_nothing():
    env = make("tutorial", scenario="bad-deploy")
    env.reset(seed=0)
    u = env.unwrapped
    culprit = int(u.state.fault_service[0, 0])
    _take(env, A.ROLLBACK, culprit)
    _take(env, A.WAIT)
    _, (obs, *_rest) = _take(env, A.REPRODUCE, list(u.scenario.topology.names).index("web"))
    assert u.layout.services(obs)[:, SF["repro_hop"]].sum() == 0.0
    assert u.layout.service(obs, "repro_failed").max() < 0.02


# --- the customer's word -------------------------------------------------------------------------


def test_the_customer_answers_slowly_sometimes_not_at_all_and_only_about_now():
    env = make("tutorial", scenario="bad-deploy")
    answers = []
    for seed in range(40):
        env.reset(seed=seed)
        minutes, (obs, *_rest) = _take(env, A.ASK_CUSTOMER)
        assert minutes == ACTION_MINUTES[A.ASK_CUSTOMER]
        answer = CUSTOMER_ANSWERS[int(np.argmax([env.unwrapped.layout.glob(obs, f"customer_{a}")
                                                 for a in CUSTOMER_ANSWERS]))]
        assert env.unwrapped.layout.glob(obs, "customer_fresh") == 1.0
        answers.append(answer)
    assert set(answers) == {"broken", "silent"}  # the deploy is still bad: nobody says it works
    assert 0.15 < answers.count("silent") / len(answers) < 0.5


def test_a_restarted_leak_can_look_fixed_to_the_customer_and_still_reopens():
    env = make("standard", scenario=scenario_of("memory_leak"))
    env.reset(seed=0)
    u = env.unwrapped
    _take(env, A.RESTART, int(u.state.fault_service[0, 0]))
    for seed in range(10):  # ask until someone answers
        _take(env, A.ASK_CUSTOMER)
        if u.episode_metrics()["customer_answer"] != "silent":
            break
    assert u.episode_metrics()["customer_answer"] == "works"
    *_rest, terminated, _, info = env.step(u.table.index(A.RESOLVE))
    assert terminated and info["episode_metrics"]["wrong_closures"] == 1


def test_closing_without_asking_the_customer_costs_exactly_the_weight(tmp_path):
    def close_after_fix(suite: str, ask: bool) -> float:
        env = _env(suite)
        env.reset(seed=0)
        u = env.unwrapped
        _take(env, A.ROLLBACK, int(u.state.fault_service[0, 0]))
        _take(env, A.VALIDATE)
        if ask:
            while True:
                _take(env, A.ASK_CUSTOMER)
                if u.episode_metrics()["customer_answer"] == "works":
                    break
        _, (_, reward, terminated, _, info) = _take(env, A.RESOLVE)
        assert terminated and info["episode_metrics"]["resolved_and_held"]
        return reward

    default, free = _suite(tmp_path), _suite(tmp_path, reward="  unconfirmed_close: 0.0", name="free")
    weight = _env(default).unwrapped.params.reward_weights[W_UNCONFIRMED]
    assert weight == 1.0
    assert close_after_fix(free, ask=False) - close_after_fix(default, ask=False) == pytest.approx(weight)
    assert close_after_fix(default, ask=True) == pytest.approx(close_after_fix(free, ask=True))
