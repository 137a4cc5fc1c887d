"""sweep.py: search spaces, the trial's train.py command line, and (with Ray) sweeps end to end on
a local Ray instance: run directories, best.yml that train.py reads, failed trials, --seeds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import sweep as sweep_cli
from training.config import ConfigError, apply_overrides, entry_key
from training.trial import hp_option, trial_argv

ROOT = Path(__file__).resolve().parent.parent
#: A sweep of a few seconds per trial (tiny rollouts: batch 64 on 2 envs).
TINY = ("--suite", "tutorial", "--timesteps", "2000", "--eval-freq", "1000", "--eval-episodes", "4", "--n-envs", "2",
        "--hp", "batch_size=64", "--name", "s")


def sweep(tmp_path: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "sweep.py"), "--runs-root", str(tmp_path), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def check_trial_run(run_dir: Path, finished: bool) -> None:
    """A trial's run directory has train.py's layout, and TensorBoard has its evaluation curve."""
    for name in ("config.yaml", "command.txt", "best_model.zip", *(("model.zip",) if finished else ())):
        assert (run_dir / name).is_file(), (run_dir, name)
    assert list((run_dir / "checkpoints").glob("checkpoint_*_steps.zip"))
    assert (run_dir / "command.txt").read_text().split()[1] == "train.py"
    tags = set()
    for events in (run_dir / "tb").rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    assert {"eval/score", "baselines/expert_score"} <= tags, sorted(tags)


# --- search spaces (no Ray needed) ------------------------------------------------------------
@pytest.mark.parametrize("algo", ["ppo", "maskable_ppo", "recurrent_ppo", "dqn"])
def test_each_shipped_space_loads_and_its_values_pass_train_py_checks(algo):
    _, options = sweep_cli.parse_args(["--algo", algo])
    space = sweep_cli.load_space(ROOT / "hyperparams" / "sweeps" / f"{algo}.yml", algo)
    assert space
    sweep_cli.check(options, space)  # train.py's plan() on every choice and low bound


@pytest.mark.parametrize("text, message", [
    ("learning_rte: {loguniform: [1.0e-4, 1.0e-3]}", "field 'learning_rte': not a hyperparameter a sweep can search"),
    ("learning_rate: {normal: [0, 1]}", "field 'learning_rate': expected one of choice, uniform"),
    ("learning_rate: {loguniform: [1.0e-3, 1.0e-4]}", "needs low < high"),
    ("learning_rate: {loguniform: [-1, 1.0e-4]}", "-1 is not a number > 0"),
    ("ent_coef: {loguniform: [0, 0.1]}", "needs a positive low bound"),
    ("n_steps: {uniform: [64, 512]}", "uniform draws real numbers, but n_steps is an integer"),
    ("gamma: {randint: [0, 1]}", "randint draws integers"),
    ("n_steps: {choice: [128, 0]}", "0 is not an integer >= 1"),
    ("n_timesteps: {choice: [1000]}", "sweep.py --timesteps"),
    ("gamma: {choice: []}", "choice needs a list of values"),
    ("[1, 2]", "expected a mapping of hyperparameter names"),
    ("gamma: {choice: [0.9", "not valid YAML"),
])
def test_a_bad_space_file_names_the_file_and_the_field(tmp_path, text, message):
    path = tmp_path / "space.yml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as error:
        sweep_cli.load_space(path, "ppo")
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_yaml_tags_are_refused(tmp_path):
    """Loaded with yaml.safe_load: a Python tag is an error, never an object."""
    path = tmp_path / "space.yml"
    path.write_text("gamma: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        sweep_cli.load_space(path, "ppo")


def test_a_trial_is_a_train_py_command_whose_values_read_back_the_same(tmp_path):
    sampled = {"learning_rate": 1.2345e-05, "n_steps": 256, "ent_coef": 0.0, "gamma": 0.995,
               "policy_kwargs": {"net_arch": [64, 64]}}
    argv = trial_argv(["--suite", "tutorial"], tmp_path, 3, 7, sampled)
    assert argv[:2] == ["--suite", "tutorial"] and "trial_03" in argv and argv[argv.index("--seed") + 1] == "7"
    overrides = [argv[i + 1] for i, a in enumerate(argv) if a == "--hp"]
    assert apply_overrides({}, overrides) == sampled
    assert hp_option("learning_rate", 1e-05) == "learning_rate=1.0e-05"


def test_sweep_usage_errors_exit_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("gama: {choice: [0.9]}\n")
    cases = [(("--cpus", "2", "--address", "auto"), "--cpus sizes a local Ray instance"),
             (("--samples", "0"), "positive integer"), (("--suite", "heldout"), "held out"),
             (("--space", str(bad)), f"{bad}: field 'gama'")]  # all checked before Ray is needed
    for args, message in cases:
        run = sweep(tmp_path, *args)
        assert run.returncode == 2 and run.stdout == "", (args, run.stderr[-2000:])
        assert run.stderr.strip().splitlines() == [run.stderr.strip()] and message in run.stderr, run.stderr


# --- sweeps on a local Ray instance -----------------------------------------------------------
def test_a_sweep_writes_every_trial_run_and_a_best_file_train_py_reads(tmp_path):
    pytest.importorskip("ray")
    run = sweep(tmp_path, "--samples", "2", "--cpus", "2", *TINY)
    assert run.returncode == 0, run.stderr[-3000:]
    where = tmp_path / "s"
    rows = json.loads((where / "summary.json").read_text())
    assert [r["trial"] for r in rows] == ["trial_00", "trial_01"]
    assert rows[0]["hyperparameters"] != rows[1]["hyperparameters"]  # two draws of the space
    assert any(r["status"] == "finished" for r in rows)
    for row in rows:
        assert row["status"] == "finished" or row["status"].startswith("stopped by ASHA"), row
        check_trial_run(where / row["trial"], finished=row["status"] == "finished")
        hyperparams = yaml.safe_load((where / row["trial"] / "config.yaml").read_text())["hyperparams"]
        assert {k: hyperparams[k] for k in row["hyperparameters"]} == row["hyperparameters"]
    best = max((r for r in rows if r["status"] == "finished"), key=lambda r: r["final_score"])
    assert f"best: {best['trial']}" in run.stdout

    # best.yml holds the best trial's hyperparameters under the suite's entry, and train.py trains with them
    best_file = yaml.safe_load((where / "best.yml").read_text())
    trained = yaml.safe_load((where / best["trial"] / "config.yaml").read_text())["hyperparams"]
    assert best_file == {entry_key("tutorial"): trained}  # the suite's env id, as train.py looks it up
    again = subprocess.run([sys.executable, str(ROOT / "train.py"), "--runs-root", str(tmp_path), "--run-dir", "again",
                            "--suite", "tutorial", "--hyperparams", str(where / "best.yml"), "--timesteps", "300",
                            "--n-envs", "2", "--eval-episodes", "4", "--no-progress"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert yaml.safe_load((tmp_path / "again" / "config.yaml").read_text())["hyperparams"] == trained


def test_a_failing_trial_is_retried_then_reported_not_lost(tmp_path):
    pytest.importorskip("ray")
    space = tmp_path / "space.yml"
    # batch_size 1 passes train.py's checks, but the normalised advantage of one sample is NaN: the
    # first update fails (ValueError from torch's distribution), in every attempt
    space.write_text("batch_size: {choice: [1]}\n")
    run = sweep(tmp_path, "--samples", "1", "--max-failures", "1", "--space", str(space), *TINY)
    assert run.returncode == 1, run.stderr[-3000:]  # no trial finished
    rows = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert len(rows) == 1 and rows[0]["status"].startswith("error: ValueError: "), rows
    assert "error: " in run.stdout and not (tmp_path / "s" / "best.yml").exists()
    # Tune ran it twice (the first attempt and one retry): its experiment state counts the failures
    states = list((tmp_path / "s" / "tune").glob("experiment_state-*.json"))
    assert len(states) == 1 and re.search(r'num_failures\W+2\b', states[0].read_text())


def test_seeds_tabulate_the_spread_of_the_final_score(tmp_path):
    pytest.importorskip("ray")
    run = sweep(tmp_path, "--seeds", "2", "--seed", "3", *TINY)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert [(r["seed"], r["status"]) for r in rows] == [(3, "finished"), (4, "finished")]
    commands = [(tmp_path / "s" / r["trial"] / "command.txt").read_text() for r in rows]
    assert "--seed 3" in commands[0] and "--seed 4" in commands[1]
    scores = [r["final_score"] for r in rows]
    table = (tmp_path / "s" / "seeds.md").read_text()
    assert f"min {min(scores):.1f}, max {max(scores):.1f}" in table and "mean" in table and "std" in table
    assert table.strip() in run.stdout


@pytest.mark.slow
def test_a_trial_whose_process_dies_is_retried_from_its_last_checkpoint(tmp_path):
    """SIGKILL of the trial's Ray worker mid-training (as a lost node would): Tune retries the
    trial, which resumes its run directory (a second TensorBoard events file in the same run,
    checkpoints on to the budget) instead of starting over."""
    pytest.importorskip("ray")
    import psutil  # a dependency of Ray

    args = ["--samples", "1", "--timesteps", "12000", "--eval-freq", "2000", "--eval-episodes", "4", "--name", "s"]
    proc = subprocess.Popen([sys.executable, str(ROOT / "sweep.py"), "--runs-root", str(tmp_path), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    checkpoints = tmp_path / "s" / "trial_00" / "checkpoints"
    try:
        deadline = time.monotonic() + 300
        while not list(checkpoints.glob("checkpoint_*_steps.zip")) and time.monotonic() < deadline:
            time.sleep(1)
        trials = [p for p in psutil.Process(proc.pid).children(recursive=True)
                  if "ImplicitFunc" in " ".join(p.cmdline())]
        assert len(trials) == 1, [p.cmdline() for p in psutil.Process(proc.pid).children(recursive=True)]
        trials[0].kill()
        output, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output[-3000:]
    rows = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert rows[0]["status"] == "finished" and rows[0]["steps"] >= 12000, rows
    assert len(list((tmp_path / "s" / "trial_00" / "tb").rglob("events.out.tfevents.*"))) == 2
