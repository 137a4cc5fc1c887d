"""evaluate.py end to end (through a subprocess, on a tiny budget) and its statistics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agents.scoring import normalised_scores
from evaluate import run_all, stratified_ci, summarise

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
    env = gym.make("supportgym/Incident-v0", suite="tutorial")
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
        results = run_all(["random", "oracle", "naive"], "standard", 16, episodes=10, seed=42, workers=1,
                          progress=False)
        return summarise(results, normalised_scores(results), reps=200, seed=42)

    assert json.dumps(once()) == json.dumps(once())


@pytest.mark.parametrize("args, message", [
    (("--agents", "naive,genius", "--episodes", "2"), "unknown agent 'genius'"),
    (("--suite", "nonexistent", "--episodes", "2"), "no built-in suite of that name"),
    (("--suite", "missing/suite.yaml", "--episodes", "2"), "cannot read suite file"),
    (("--episodes", "0",), "--episodes must be at least 1"),
    (("--agents", "naive,naive", "--episodes", "2"), "names an agent twice"),
])
def test_bad_arguments_exit_2_with_a_clear_message(args, message):
    run = evaluate(*args)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_truncated_model_file_exits_1_with_one_line(tmp_path, tiny_model):
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(tiny_model.read_bytes()[:1000])
    run = evaluate("--agents", f"expert,{truncated}", "--episodes", "2")
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a readable stable-baselines3 model" in lines[0]


def test_stratified_ci_handles_single_episode_strata():
    scores = np.array([10.0, 12.0, 50.0, 90.0, 95.0, 91.0])
    strata = ["a", "a", "b", "c", "c", "c"]  # "b" has one episode: it resamples to itself
    lo, hi = stratified_ci(scores, strata, np.mean, 500, 0)
    assert lo <= scores.mean() <= hi
    assert stratified_ci(np.array([1.0, 2.0]), ["a", "b"], np.mean, 500, 0) == (1.5, 1.5)
