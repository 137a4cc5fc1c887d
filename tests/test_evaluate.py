"""evaluate.py end to end (through a subprocess, on a tiny budget) and the evaluation library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agents import make_agent
from evaluation.play import (EPISODE_FIELDS, EpisodePlan, batchable, cached_agent, cached_env, make_env, play,
                             play_agents, play_batched, run_episode)
from evaluation.statistics import normalised_score, normalised_scores, stratified_ci
from evaluation.summary import FLAT_KEYS, flat, summarise_all

ROOT = Path(__file__).resolve().parent.parent
AGENT_KEYS = {"score", "score_ci", "iqm", "resolve_rate", "mean_time_to_resolve", "impact_minutes", "harmful_actions",
              "escalations", "wrong_closures", "mean_return", "per_scenario"}


def evaluate(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, str(ROOT / "evaluate.py"), "--no-progress", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A MaskablePPO trained for a few hundred steps on the standard suite's spaces."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    import gymnasium as gym
    from sb3_contrib import MaskablePPO

    import supportgym  # noqa: F401

    path = tmp_path_factory.mktemp("model") / "tiny.zip"
    env = gym.make("supportgym/Incident-v1", suite="tutorial")
    model = MaskablePPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0)
    model.learn(128)
    model.save(path)
    return path


def test_end_to_end_with_a_trained_model(tmp_path, tiny_model):
    out = tmp_path / "std"
    run = evaluate("--suite", "standard", "--agents", f"naive,expert,{tiny_model}", "--episodes", "12", "--seed", "3",
                   "--out", str(out), "--reps", "200")
    assert run.returncode == 0, run.stderr
    doc = json.loads((out / "results.json").read_text())
    assert (doc["suite"], doc["episodes"], doc["seed"]) == ("standard", 12, 3)
    assert set(doc["agents"]) == {"naive", "expert", str(tiny_model), "random", "oracle"}
    for name, row in doc["agents"].items():
        assert AGENT_KEYS <= set(row), name
        lo, hi = row["score_ci"]
        assert lo <= row["score"] <= hi
        for scenario in row["per_scenario"].values():
            assert {"score", "resolve_rate"} <= set(scenario)
    # The references sit at exactly 0 and 100 on average, scenario by scenario.
    for scenario in doc["agents"]["oracle"]["per_scenario"].values():
        assert scenario["score"] == pytest.approx(100.0)
    for scenario in doc["agents"]["random"]["per_scenario"].values():
        assert scenario["score"] == pytest.approx(0.0, abs=1e-9)
    for name in ("results.csv", "episodes.csv", "results.md", "scores.png", "per_scenario.png"):
        assert (out / name).stat().st_size > 0, name
    assert "random (reference)" in run.stdout and "expert" in run.stdout
    assert len((out / "episodes.csv").read_text().splitlines()) == 1 + 5 * 12


def test_workers_give_identical_results(tmp_path):
    args = ("--suite", "standard", "--agents", "runbook,expert", "--episodes", "16", "--seed", "5", "--reps", "200")
    one = evaluate(*args, "--workers", "1", "--out", str(tmp_path / "w1"))
    two = evaluate(*args, "--workers", "2", "--out", str(tmp_path / "w2"))
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    for name in ("results.json", "episodes.csv", "results.csv", "results.md"):
        assert (tmp_path / "w1" / name).read_text() == (tmp_path / "w2" / name).read_text(), name
    assert one.stdout.replace("w1", "w2") == two.stdout


def test_same_seed_same_numbers():
    def once():
        results = play_agents(["random", "oracle", "naive"], EpisodePlan("standard", 10, 42, 16))
        return summarise_all(results, normalised_scores(results), reps=200, seed=42)

    assert json.dumps(once()) == json.dumps(once())


@pytest.mark.parametrize("args, message", [
    (("--agents", "naive,genius", "--episodes", "2"), "unknown agent 'genius'"),
    (("--suite", "nonexistent", "--episodes", "2"), "no built-in suite of that name"),
    (("--suite", "missing/suite.yaml", "--episodes", "2"), "cannot read suite file"),
    (("--agents", "naive,naive", "--episodes", "2"), "names an agent twice"),
    (("--episodes", "0"), "--episodes must be at least 1"),
    (("--episodes", "-3"), "--episodes must be at least 1"),
    (("--workers", "0"), "--workers must be at least 1"),
    (("--workers", "-1"), "--workers must be at least 1"),
    (("--reps", "0"), "--reps must be at least 100"),
    (("--reps", "-5"), "--reps must be at least 100"),
    (("--seed", "-1"), "--seed must be at least 0"),
    (("--max-services", "0"), "--max-services must be at least 1"),
    (("--max-services", "10"), "a topology has 11 services but the environment allows at most max_services=10"),
    (("--suite", "hard", "--max-services", "13"),
     "a topology has 14 services but the environment allows at most max_services=13"),
    (("--episodes", "abc"), "invalid int value: 'abc'"),
])
def test_bad_arguments_exit_2_with_one_line_before_any_work(args, message):
    # A traceback or any episode run would print more than one line (the progress bar is off).
    run = evaluate(*args)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [run.stderr.strip()], run.stderr
    assert message in run.stderr and run.stderr.startswith("evaluate.py: error: ")
    assert run.stdout == ""


def test_out_naming_a_file_is_refused_before_any_work(tmp_path):
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    for out, message in ((existing, "is a file, not a directory"), (existing / "sub", f"{existing} is a file")):
        run = evaluate("--agents", "naive", "--episodes", "2", "--out", str(out))
        assert run.returncode == 2 and run.stdout == "", run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and message in run.stderr
    assert existing.read_text() == "keep me"


def test_truncated_model_file_exits_1_with_one_line(tmp_path, tiny_model):
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(tiny_model.read_bytes()[:1000])
    run = evaluate("--agents", f"expert,{truncated}", "--episodes", "2")
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a readable stable-baselines3 model" in lines[0]


# --- the evaluation library -------------------------------------------------------------------
def test_the_score_formula_puts_random_at_0_and_oracle_at_100():
    assert normalised_score(-10.0, -10.0, 5.0) == 0.0
    assert normalised_score(5.0, -10.0, 5.0) == 100.0
    assert normalised_score(-2.5, -10.0, 5.0) == 50.0
    assert normalised_score(3.0, 3.0, 3.0) == 0.0  # a zero span does not divide by zero
    results = {"random": [{"scenario": "a", "return": -4.0}, {"scenario": "a", "return": -2.0},
                          {"scenario": "b", "return": 0.0}],
               "oracle": [{"scenario": "a", "return": 7.0}, {"scenario": "a", "return": 9.0},
                          {"scenario": "b", "return": 10.0}],
               "x": [{"scenario": "a", "return": 2.5}, {"scenario": "a", "return": 13.5},
                     {"scenario": "b", "return": 5.0}]}
    assert normalised_scores(results)["x"].tolist() == [50.0, 150.0, 50.0]


def test_episode_plan_chunks_cover_every_episode_once():
    for episodes in (1, 7, 200):
        for workers in (1, 2, 3, 8):
            chunks = EpisodePlan("standard", episodes, 0, 16).chunks(workers)
            assert [i for c in chunks for i in c] == list(range(episodes))


def test_observer_sees_every_decision_of_the_one_rollout_loop():
    env = make_env("standard", 16)
    agent = make_agent("expert", env)
    seen = []
    metrics = run_episode(env, agent, 3, observe=lambda obs, info, action: seen.append((obs.copy(), action)))
    assert len(seen) == metrics["steps"] > 0
    assert repr(metrics) == repr(run_episode(env, agent, 3))  # observing changes nothing
    obs, info = env.reset(seed=3)
    first, _ = agent.predict(obs, action_masks=info["action_mask"])
    assert np.array_equal(seen[0][0], obs) and seen[0][1] == int(first)


def test_play_records_the_plans_seeds_and_fields():
    env = make_env("tutorial", 16)
    plan = EpisodePlan("tutorial", 3, 40, 16, scenario="cache-failure")
    records = play(env, make_agent("naive", env), plan)
    assert [(r["episode"], r["seed"]) for r in records] == [(0, 40), (1, 41), (2, 42)]
    assert all(r["scenario"] == "cache-failure" and set(EPISODE_FIELDS) <= set(r) for r in records)


def test_flat_summary_is_the_csv_row(tmp_path):
    results = play_agents(["random", "oracle", "naive"], EpisodePlan("tutorial", 6, 0, 16))
    summary = summarise_all(results, normalised_scores(results), reps=200, seed=0)
    row = flat(summary["naive"])
    assert tuple(row) == FLAT_KEYS
    assert (row["score_ci_low"], row["score_ci_high"]) == tuple(summary["naive"]["score_ci"])


def test_training_metrics_are_the_summary_keys():
    from training.evaluation import DomainEvaluator

    baselines = DomainEvaluator("tutorial", 4, 10_000, 16, "maskable_ppo").baselines()
    assert set(baselines) == {"random", "naive", "runbook", "expert", "oracle"}
    for metrics in baselines.values():
        assert tuple(metrics) == FLAT_KEYS and all(isinstance(v, float) for v in metrics.values())
    assert baselines["oracle"]["score"] == pytest.approx(100.0)


def test_warm_start_demonstrations_are_the_teachers_decisions():
    from training.warmstart import collect_demonstrations

    observations, actions, masks = collect_demonstrations("tutorial", "expert", 3, seed=5, max_services=16)
    env = make_env("tutorial", 16)
    records = play(env, make_agent("expert", env), EpisodePlan("tutorial", 3, 5, 16))
    assert len(observations) == len(actions) == len(masks) == sum(r["steps"] for r in records)
    assert masks[np.arange(len(actions)), actions].all()  # every recorded action was allowed


def test_stratified_ci_handles_single_episode_strata():
    scores = np.array([10.0, 12.0, 50.0, 90.0, 95.0, 91.0])
    strata = ["a", "a", "b", "c", "c", "c"]  # "b" has one episode: it resamples to itself
    lo, hi = stratified_ci(scores, strata, np.mean, 500, 0)
    assert lo <= scores.mean() <= hi
    assert stratified_ci(np.array([1.0, 2.0]), ["a", "b"], np.mean, 500, 0) == (1.5, 1.5)


@pytest.mark.parametrize("suite", ["standard", "hard"])
def test_rule_agents_play_batched_on_the_vector_env_exactly_as_one_env_at_a_time(suite):
    plan = EpisodePlan(suite, 40, 3, 16)
    indices = range(5, 40)  # a chunk that does not start at 0, played by fewer rows than episodes
    for spec in ("random", "naive", "runbook", "expert"):
        agent = cached_agent(spec, suite, 16)
        assert batchable(agent)
        single = play(cached_env(suite, 16), agent, plan, indices)
        batched = play_batched(agent, plan, indices, rows=8)
        assert json.dumps(batched) == json.dumps(single), spec  # NaN-safe, order included
    assert not batchable(cached_agent("oracle", suite, 16))  # it reads its env: one at a time
