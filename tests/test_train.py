"""train.py end to end, through subprocesses, on tiny budgets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import supportgym  # noqa: F401  (registers the environment)

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--suite", "tutorial", "--eval-episodes", "4", "--n-envs", "2", "--no-progress"]
TINY_HP = {
    "ppo": ["--hp", "n_steps=64", "--hp", "batch_size=64", "--hp", "n_epochs=1"],
    "maskable_ppo": ["--hp", "n_steps=64", "--hp", "batch_size=64", "--hp", "n_epochs=1"],
    "recurrent_ppo": ["--hp", "n_steps=64", "--hp", "batch_size=64", "--hp", "n_epochs=1"],
    "dqn": ["--hp", "learning_starts=200", "--hp", "buffer_size=5000"],
}


def train(tmp_path: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "train.py"), "--runs-root", str(tmp_path), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def scalar_tags(run_dir: Path) -> set[str]:
    tags = set()
    for events in (run_dir / "tb").rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    return tags


@pytest.mark.parametrize("algo", ["ppo", "maskable_ppo", "recurrent_ppo", "dqn"])
def test_smoke_training_of_each_algorithm(tmp_path, algo):
    result = train(tmp_path, "--algo", algo, "--run-dir", "smoke", "--timesteps", "1000", "--eval-freq", "500",
                   *TINY, *TINY_HP[algo])
    assert result.returncode == 0, result.stderr[-2000:]
    run = tmp_path / "smoke"
    for name in ("config.yaml", "command.txt", "model.zip", "best_model.zip"):
        assert (run / name).exists(), name
    assert list((run / "checkpoints").glob("checkpoint_*_steps.zip"))
    tags = scalar_tags(run)
    for tag in ("eval/score", "eval/resolve_rate", "eval/time_to_resolve", "eval/impact_minutes",
                "eval/harmful_actions", "eval/escalations", "baselines/expert_score", "baselines/oracle_score"):
        assert tag in tags, (tag, sorted(tags))
    assert "evaluate.py --suite tutorial" in result.stdout and "tensorboard --logdir" in result.stdout


def test_resume_continues_the_step_count(tmp_path):
    first = train(tmp_path, "--run-dir", "r", "--timesteps", "600", "--checkpoint-freq", "200", *TINY,
                  *TINY_HP["maskable_ppo"])
    assert first.returncode == 0, first.stderr[-2000:]
    second = train(tmp_path, "--resume", str(tmp_path / "r"), "--timesteps", "1200", "--no-progress")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resuming" in second.stdout
    steps = sorted(int(p.name.split("_")[1]) for p in (tmp_path / "r" / "checkpoints").glob("*.zip"))
    assert steps[-1] >= 1200


def test_existing_run_needs_force_and_names_cannot_escape(tmp_path):
    ok = train(tmp_path, "--run-dir", "x", "--timesteps", "200", *TINY, *TINY_HP["maskable_ppo"])
    assert ok.returncode == 0, ok.stderr[-2000:]
    again = train(tmp_path, "--run-dir", "x", "--timesteps", "200", *TINY)
    assert again.returncode == 2 and "--force" in again.stderr
    escape = train(tmp_path, "--run-dir", "../outside", "--timesteps", "200", *TINY)
    assert escape.returncode == 2 and "inside" in escape.stderr
    assert not (tmp_path.parent / "outside").exists()


BAD_ARGUMENTS = (
    (["--algo", "a2c"], "invalid choice"), (["--timesteps", "-5"], "positive integer"),
    (["--seed", "-1"], "non-negative integer"), (["--seed", "x"], "non-negative integer"),
    (["--max-services", "0"], "positive integer"), (["--max-services", "5"], "smaller than suite 'tutorial'"),
    (["--suite", "hard", "--max-services", "12"], "smaller than suite"),
    (["--suite", "nope"], "no built-in suite"), (["--suite", "heldout"], "held out"),
    (["--hp", "oops"], "expected key=value"), (["--hp", "not_a_param=1"], "unknown name 'not_a_param'"),
    (["--hp", "learning_rate=fast"], "learning_rate='fast': expected a number > 0"),
    (["--hp", "n_envs=0"], "n_envs=0: expected an integer >= 1"),
    (["--hp", "n_envs=abc"], "n_envs='abc': expected an integer"),
    (["--hp", "n_steps=0"], "n_steps=0: expected an integer >= 1"),
    (["--hp", "n_steps=1.5"], "expected an integer"), (["--hp", "batch_size=true"], "expected an integer"),
    (["--hp", "gamma=1.5"], "gamma=1.5: expected a number in (0, 1]"), (["--hp", "ent_coef=-1"], "ent_coef"),
    (["--hp", "learning_rate=.inf"], "learning_rate=inf"), (["--hp", "seed=3"], "use --seed"),
    (["--hp", "policy_kwargs=[1]"], "expected a mapping"), (["--hp", "normalize={clip: 3}"], "unknown VecNormalize"),
    (["--algo", "dqn", "--hp", "buffer_size=0"], "buffer_size=0"),
    (["--warm-start", "oracle"], "rule-based teacher"), (["--warm-start", "expert", "--algo", "dqn"], "works with ppo"),
    (["--warm-start", "expert", "--hp", "normalize=true"], "cannot be combined with normalize"),
)


@pytest.mark.parametrize("args, message", BAD_ARGUMENTS)
def test_bad_arguments_are_one_line_usage_errors_before_any_work(tmp_path, capsys, args, message):
    import train as train_module

    try:
        code = train_module.main(["--runs-root", str(tmp_path), "--run-dir", "bad", *args, "--no-progress"])
    except SystemExit as exit_:  # argparse
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, (args, err)
    assert message in err and err.count("\n") == 1 and err.startswith("train.py: error:"), (args, err)
    assert not (tmp_path / "bad").exists()  # nothing was written


def test_usage_errors_have_no_traceback_from_the_command_line(tmp_path):
    for args, message in ((["--hp", "n_envs=0"], "n_envs=0"), (["--seed", "-1"], "non-negative")):
        result = train(tmp_path, *args, "--no-progress")
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_sigint_leaves_a_loadable_model(tmp_path):
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "--runs-root", str(tmp_path), "--run-dir", "s",
                             "--timesteps", "1000000", *TINY, *TINY_HP["maskable_ppo"]],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoints = tmp_path / "s" / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "s" / "tb").exists():
        time.sleep(0.5)
    time.sleep(3)  # well into training
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "interrupted" in out
    from sb3_contrib import MaskablePPO
    MaskablePPO.load(tmp_path / "s" / "model.zip", device="cpu")
    assert list(checkpoints.glob("*.zip"))


def test_corrupt_checkpoint_is_reported_clearly(tmp_path):
    ok = train(tmp_path, "--run-dir", "c", "--timesteps", "200", *TINY, *TINY_HP["maskable_ppo"])
    assert ok.returncode == 0, ok.stderr[-2000:]
    for checkpoint in (tmp_path / "c" / "checkpoints").glob("*.zip"):
        checkpoint.write_bytes(checkpoint.read_bytes()[:100])  # truncated
    result = train(tmp_path, "--resume", str(tmp_path / "c"), "--timesteps", "400", "--no-progress")
    assert result.returncode == 2 and "cannot load checkpoint" in result.stderr
    assert "Traceback" not in result.stderr


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    from training.rundir import atomic_save

    class Exploding:
        def save(self, path):
            Path(path).write_bytes(b"partial")
            raise OSError("disk full")

    target = tmp_path / "model.zip"
    target.write_bytes(b"previous")
    with pytest.raises(OSError):
        atomic_save(Exploding(), target)
    assert target.read_bytes() == b"previous" and list(tmp_path.iterdir()) == [target]
    assert os.path.exists(target)


def test_warm_start_clones_the_expert_before_rl(tmp_path):
    result = train(tmp_path, "--run-dir", "w", "--timesteps", "300", "--warm-start", "expert",
                   "--warm-start-episodes", "4", "--warm-start-epochs", "2", *TINY, *TINY_HP["maskable_ppo"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "warm start: cloned expert from" in result.stdout
    for args, message in ((["--warm-start", "oracle"], "rule-based teacher"),
                          (["--warm-start", "expert", "--algo", "dqn"], "works with ppo, maskable_ppo")):
        bad = train(tmp_path, "--run-dir", "wb", "--force", "--timesteps", "200", *args, *TINY)
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr[-1000:]


def test_behaviour_cloning_fits_the_teacher():
    import torch
    from sb3_contrib import MaskablePPO

    from training.warmstart import behaviour_clone, collect_demonstrations
    torch.set_num_threads(1)
    demos = collect_demonstrations("tutorial", "expert", 30, seed=0, max_services=16)
    model = MaskablePPO("MlpPolicy", gym.make("supportgym/Incident-v0", suite="tutorial"), seed=0, device="cpu")
    fit = behaviour_clone(model.policy, *demos, epochs=100, batch_size=32)
    assert fit["accuracy"] > 0.9, fit


def test_hyperparameter_overrides_read_numbers_as_users_write_them():
    from training.config import apply_overrides

    params = apply_overrides({"n_steps": 256}, ["learning_rate=1e-4", "n_steps=512", "policy_kwargs={net_arch: [64]}"])
    assert params == {"n_steps": 512, "learning_rate": 1e-4, "policy_kwargs": {"net_arch": [64]}}
