"""Incident reports: ``IncidentEnv.incident_report()`` and ``evaluate.py --reports``."""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest
from conftest import make, oracle_policy, run_episode, scenario_of
from test_evaluate import evaluate

import supportgym  # noqa: F401  (registers the ids)
from agents.oracle import OracleAgent
from supportgym import journal as journal_module
from supportgym import report
from supportgym.contract.vocabulary import ActionKind, ServiceKind
from supportgym.world.faults import FAULT_NAMES


def section(text: str, title: str) -> str:
    """The body of the report's section whose heading starts with ``title``."""
    match = re.search(rf"^## {re.escape(title)}[^\n]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no section {title!r} in:\n{text}"
    return match.group(1)


def timeline_times(text: str) -> list[float]:
    rows = [line for line in section(text, "Timeline").splitlines() if re.match(r"\| \d", line)]
    return [float(row.split("|")[1]) for row in rows]


def fault_slot(env: gym.Env) -> int:
    return int(env.unwrapped.state.fault_service[0, 0])


def healthy_restartable(env: gym.Env) -> int:
    """A service without a fault that a restart may target (not a third-party provider)."""
    u = env.unwrapped
    faulty = set(u.state.fault_service[0][u.state.fault_type[0] >= 0].tolist())
    return next(i for i, kind in enumerate(u.scenario.topology.kinds)
                if i not in faulty and kind != ServiceKind.EXTERNAL)


def test_report_after_an_episode_names_the_true_root_cause_and_service():
    env = make(scenario=scenario_of("memory_leak"))
    _, metrics = run_episode(env, 0, oracle_policy)
    text = env.unwrapped.incident_report()
    (cause,) = metrics["root_causes"]
    assert cause["fault"] == "memory_leak"
    assert f"**memory_leak** on **{cause['service']}**" in section(text, "Root cause (revealed)")
    assert f"Root cause:** memory_leak on {cause['service']}" in section(text, "Summary")
    assert text.startswith(f"# Incident report: `{metrics['scenario']}`")
    assert "resolution held" in section(text, "Summary") and section(text, "Mistakes").strip() == "None."
    # The oracle's hotfix is judged a lasting fix of the real fault.
    assert "a lasting fix for memory_leak" in section(text, "Remedies")
    for title in ("Summary", "Timeline", "Evidence", "Remedies", "Validation", "Impact", "Root cause", "Mistakes"):
        section(text, title)


def test_concurrent_faults_are_all_revealed():
    env = make("hard", scenario="deploy-plus-cache-crash")
    _, metrics = run_episode(env, 5, oracle_policy)
    body = section(env.unwrapped.incident_report(), "Root cause (revealed)")
    assert len(metrics["root_causes"]) == 2
    for cause in metrics["root_causes"]:
        assert f"**{cause['fault']}** on **{cause['service']}**" in body


def test_timeline_times_strictly_increase_and_follow_the_simulated_clock():
    env = make()
    _, metrics = run_episode(env, 3, oracle_policy)
    u = env.unwrapped
    text = u.incident_report()
    times = timeline_times(text)
    steps = u.journal.steps
    assert len(times) == len(steps) == metrics["steps"] > 2
    assert all(a < b for a, b in zip(times, times[1:]))
    assert times == pytest.approx([r.started for r in steps], abs=0.05)
    # Each action starts when the one before ended; the last ends on the episode's clock.
    assert [r.started for r in steps[1:]] == [r.ended for r in steps[:-1]]
    assert steps[0].started == 0.0 and steps[-1].ended == float(u.state.time[0])
    assert f"Simulated clock at the end: t+{u.state.time[0]:.0f} min" in text


def test_a_harmful_restart_is_listed_under_mistakes():
    env = make(scenario=scenario_of("bad_deploy"))
    env.reset(seed=4)
    victim = healthy_restartable(env)
    name = env.unwrapped.scenario.topology.names[victim]
    restart = env.unwrapped.table.index(ActionKind.RESTART, victim)
    _, _, _, _, info = env.step(restart)
    while "episode_metrics" not in info:
        *_, info = env.step(oracle_policy(env, 0))
    assert info["episode_metrics"]["harmful_actions"] == 1
    text = env.unwrapped.incident_report()
    assert f"**harmful actions: 1** (a remedy with nothing to act on): restart {name} at t+0\n" in section(
        text, "Mistakes")
    assert "**harmful**" in section(text, "Remedies")


def test_resolving_a_relapsing_fault_at_once_is_a_wrong_closure():
    env = make(scenario=scenario_of("memory_leak"))
    env.reset(seed=2)
    *_, terminated, _, info = env.step(env.unwrapped.table.index(ActionKind.RESOLVE))
    assert terminated and info["episode_metrics"]["wrong_closures"] == 1
    text = env.unwrapped.incident_report()
    assert "**reopened**" in section(text, "Summary")
    assert "**wrong closures: 1**" in section(text, "Mistakes") and "resolve at t+0" in section(text, "Mistakes")
    assert "did **not** hold" in section(text, "Validation")
    assert "closed without a healthy validation" in section(text, "Validation")


def test_before_reset_it_raises():
    env = make()
    with pytest.raises(RuntimeError, match="reset"):
        env.unwrapped.incident_report()


def test_mid_episode_the_report_shows_what_the_agent_saw_and_not_the_root_cause():
    env = make(scenario=scenario_of("memory_leak"))
    env.reset(seed=1)
    u = env.unwrapped
    hotfix = u.table.index(ActionKind.HOTFIX, 0)  # an L3 action: masked at the L1 start
    assert not u.action_masks()[hotfix]
    for action in (u.table.index(ActionKind.CHECK_METRICS, 0), u.table.index(ActionKind.WAIT), hotfix):
        env.step(action)
    text = u.incident_report()
    assert "in progress" in text and "Root cause (revealed)" not in text
    # What the agent was told (the masked action) is a mistake it may see at once.
    assert f"**masked actions: 1** (no-ops that cost a minute each): {u.action_names[hotfix]} at t+7" in text
    assert u.scenario.name not in text
    assert not any(fault in text for fault in FAULT_NAMES)
    assert "users hurt" not in text and "harmful" not in section(text, "Mistakes").replace(
        "_Harmful actions", "")
    assert timeline_times(text) == [0.0, 2.0, 7.0]
    # A harness whose own TimeLimit ended the episode may ask for the revealed report.
    assert "Root cause (revealed)" in u.incident_report(ended=True)
    # Once the episode ends, the root cause is revealed.
    while not u._done:
        env.step(oracle_policy(env, 0))
    assert "**memory_leak** on" in u.incident_report()


def test_same_seed_and_actions_give_the_same_report():
    first = make("hard")
    first.reset(seed=11)
    actions = []
    while True:
        actions.append(OracleAgent(first).next_action())
        *_, terminated, truncated, _ = first.step(actions[-1])
        if terminated or truncated:
            break
    second = make("hard")
    second.reset(seed=11)
    for a in actions:
        second.step(a)
    assert first.unwrapped.incident_report() == second.unwrapped.incident_report()


def test_the_evidence_says_what_it_pointed_to_and_whether_that_was_the_root_cause():
    env = make("tutorial", scenario="bad-deploy")
    env.reset(seed=0)
    u = env.unwrapped
    culprit, other = fault_slot(env), healthy_restartable(env)
    for service in (culprit, other):
        env.step(u.table.index(ActionKind.CHECK_LOGS, service))
    env.step(u.table.index(ActionKind.CHECK_CHANGES, culprit))
    while not u._done:
        env.step(oracle_policy(env, 0))
    names = u.scenario.topology.names
    evidence = section(u.incident_report(), "Evidence")
    assert (f"check logs {names[culprit]}: deploy exception → points to bad_deploy or latent_bug on "
            f"{names[culprit]} ✓") in evidence
    assert f"a recent deploy on {names[culprit]} ✓ the root cause" in evidence


def test_an_action_without_a_reader_is_shown_by_the_features_it_changed(monkeypatch):
    """A new action reaches the report with no reader of its own (forward compatibility)."""
    monkeypatch.delitem(report.READERS, ActionKind.CHECK_CHANGES)
    env = make("tutorial", scenario="bad-deploy")
    env.reset(seed=0)
    culprit = fault_slot(env)
    env.step(env.unwrapped.table.index(ActionKind.CHECK_CHANGES, culprit))
    text = env.unwrapped.incident_report()
    assert f"deploy_recent on {env.unwrapped.scenario.topology.names[culprit]} 0→" in section(text, "Evidence")


def test_a_mistake_metric_listed_in_mistakes_shows_up(monkeypatch):
    """A new mistake metric (misrouting, say) needs one line in ``report.MISTAKES``."""
    real = report.episode_metrics
    monkeypatch.setattr(report, "episode_metrics", lambda *a: {**real(*a), "misroutings": 2})
    monkeypatch.setitem(report.MISTAKES, "misroutings", ("misroutings", "the ticket went to the wrong team"))
    env = make("tutorial")
    run_episode(env, 0, oracle_policy)
    assert "**misroutings: 2** (the ticket went to the wrong team)" in section(env.unwrapped.incident_report(),
                                                                              "Mistakes")


def test_a_gymnasium_made_env_reaches_it_through_unwrapped():
    env = gym.make("supportgym/Incident-v1")
    env.reset(seed=0)
    *_, info = env.step(env.unwrapped.table.index(ActionKind.RESOLVE))
    assert "episode_metrics" in info
    text = env.unwrapped.incident_report()
    assert text.startswith("# Incident report: `") and "## Root cause (revealed)" in text


def test_evaluate_writes_reports_and_the_results_do_not_change(tmp_path):
    args = ("--suite", "tutorial", "--agents", "naive,expert", "--episodes", "4", "--seed", "1", "--reps", "100")
    plain = evaluate(*args, "--out", str(tmp_path / "plain"))
    reported = evaluate(*args, "--out", str(tmp_path / "rep"), "--workers", "2", "--reports", str(tmp_path / "reports"),
                        "--report-agents", "expert,oracle", "--report-episodes", "3")
    assert plain.returncode == 0 and reported.returncode == 0, plain.stderr + reported.stderr
    for name in ("results.json", "episodes.csv"):
        assert (tmp_path / "plain" / name).read_text() == (tmp_path / "rep" / name).read_text(), name
    written = sorted(p.relative_to(tmp_path / "reports").as_posix() for p in (tmp_path / "reports").rglob("*.md"))
    episodes = (tmp_path / "plain" / "episodes.csv").read_text().splitlines()[1:]
    scenario = {int(row.split(",")[1]): row.split(",")[3] for row in episodes if row.startswith("expert,")}
    assert written == sorted(f"{agent}/{scenario[i]}-ep{i}.md" for agent in ("expert", "oracle") for i in range(3))
    text = (tmp_path / "reports" / "expert" / f"{scenario[0]}-ep0.md").read_text()
    assert text.startswith(f"# Incident report: `{scenario[0]}`")
    assert text.rstrip().endswith("Played by `expert` in evaluate.py: episode 0, seed 1.")
    assert "wrote 6 incident reports" in reported.stdout


@pytest.mark.parametrize("args, message", [
    (("--reports", "{file}"), "is a file, not a directory"),
    (("--report-agents", "expert"), "--report-agents needs --reports DIR"),
    (("--report-episodes", "3"), "--report-episodes needs --reports DIR"),
    (("--reports", "{dir}", "--report-episodes", "0"), "--report-episodes must be at least 1"),
    (("--reports", "{dir}", "--agents", "naive", "--report-agents", "expert"), "names expert, which is not in"),
])
def test_bad_report_arguments_exit_2_before_any_work(tmp_path, args, message):
    existing = tmp_path / "file.txt"
    existing.write_text("keep me")
    run = evaluate(*(a.format(file=existing, dir=tmp_path / "r") for a in args))
    assert run.returncode == 2 and message in run.stderr and run.stdout == "", run.stderr
    assert not (tmp_path / "r").exists()


def test_the_journal_keeps_its_own_copies_in_a_buffer_reused_across_episodes(monkeypatch):
    """An agent writing into the returned observation does not change the report; an episode
    longer than the buffer grows it; the next episode reuses it."""
    monkeypatch.setattr(journal_module, "INITIAL_ROWS", 4)
    env = make("tutorial")
    u = env.unwrapped
    obs, _ = env.reset(seed=0)
    obs[:] = 0.0
    rows = len(u.journal.observations)
    assert rows == 4
    for _ in range(rows + 3):
        nxt, *_ = env.step(u.table.index(ActionKind.CHECK_METRICS, 0))
        nxt[:] = 0.0
    journal = u.journal
    assert len(journal.observations) > rows and len(journal.steps) == rows + 3
    assert journal.opening.any() and journal.observation_after(rows + 2).any()
    assert np.array_equal(journal.observation_after(rows + 2), u.state.obs[0])
    assert not np.shares_memory(journal.observations, u.state.obs)
    env.reset(seed=1)
    assert u.journal.observations is journal.observations and u.journal.steps == []
