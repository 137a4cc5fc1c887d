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
    for tag in ("eval/score", "eval/resolve_rate", "eval/mean_time_to_resolve", "eval/impact_minutes",
                "eval/harmful_actions", "eval/escalations", "baselines/expert_score", "baselines/oracle_score"):
        assert tag in tags, (tag, sorted(tags))
    assert "evaluate.py --suite tutorial" in result.stdout and "tensorboard --logdir" in result.stdout


def test_resume_continues_the_step_count_and_a_finished_run_says_so(tmp_path):
    first = train(tmp_path, "--run-dir", "r", "--timesteps", "600", "--checkpoint-freq", "200", *TINY,
                  *TINY_HP["maskable_ppo"])
    assert first.returncode == 0, first.stderr[-2000:]
    finished = train(tmp_path, "--resume", str(tmp_path / "r"), "--no-progress")
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "is finished" in finished.stdout and "--timesteps N" in finished.stdout
    second = train(tmp_path, "--resume", str(tmp_path / "r"), "--timesteps", "1200", "--no-progress")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resuming" in second.stdout
    steps = sorted(int(p.name.split("_")[1]) for p in (tmp_path / "r" / "checkpoints").glob("*.zip"))
    assert steps[-1] >= 1200
    again = train(tmp_path, "--resume", str(tmp_path / "r"), "--no-progress")  # the new total was kept
    assert again.returncode == 0 and "is finished" in again.stdout, again.stderr[-2000:]


def foreground(command: list[str]) -> subprocess.Popen:
    """Start ``command`` as a foreground process would be: with SIGINT at its default (a shell
    starts a background job, e.g. with ``&``, with SIGINT ignored, and Python then never raises
    KeyboardInterrupt)."""
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_ctrl_c_before_the_first_checkpoint_leaves_a_run_that_resume_or_a_rerun_accepts(tmp_path):
    # the baselines' evaluation on 60 episodes, before training, takes over a second: interrupt it
    settings = ["--timesteps", "300", "--suite", "tutorial", "--eval-episodes", "60", "--n-envs", "2",
                "--no-progress", *TINY_HP["maskable_ppo"]]
    for name in ("resumed", "rerun"):
        proc = foreground([sys.executable, str(ROOT / "train.py"), "--runs-root", str(tmp_path), "--run-dir", name,
                           *settings])
        for line in proc.stdout:
            if line.startswith("evaluating baselines"):
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err[-2000:]
        assert "interrupted before training started" in err and "Traceback" not in err
        assert not (tmp_path / name / "checkpoints").exists()
    resumed = train(tmp_path, "--resume", str(tmp_path / "resumed"), "--no-progress")
    assert resumed.returncode == 0 and "no checkpoint yet" in resumed.stdout, resumed.stderr[-2000:]
    rerun = train(tmp_path, "--run-dir", "rerun", *TINY, *TINY_HP["maskable_ppo"], "--timesteps", "300")  # no --force
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert (tmp_path / "rerun" / "model.zip").exists()


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
    proc = foreground([sys.executable, str(ROOT / "train.py"), "--runs-root", str(tmp_path), "--run-dir", "s",
                       "--timesteps", "1000000", *TINY, *TINY_HP["maskable_ppo"]])
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


def test_checkpoint_writes_are_atomic(tmp_path):
    from training.rundir import atomic_save

    class Exploding:
        def get_vec_normalize_env(self):
            return None

        def save(self, path):
            path.write(b"partial")
            raise OSError("cannot serialise")

    target = tmp_path / "model.zip"
    target.write_bytes(b"previous")
    with pytest.raises(OSError):
        atomic_save(Exploding(), target)
    assert target.read_bytes() == b"previous" and list(tmp_path.iterdir()) == [target]


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
    model = MaskablePPO("MlpPolicy", gym.make("supportgym/Incident-v1", suite="tutorial"), seed=0, device="cpu")
    fit = behaviour_clone(model.policy, *demos, epochs=100, batch_size=32)
    assert fit["accuracy"] > 0.9, fit


def test_hyperparameter_overrides_read_numbers_as_users_write_them():
    from training.config import apply_overrides

    params = apply_overrides({"n_steps": 256}, ["learning_rate=1e-4", "n_steps=512", "policy_kwargs={net_arch: [64]}"])
    assert params == {"n_steps": 512, "learning_rate": 1e-4, "policy_kwargs": {"net_arch": [64]}}


IN_PROCESS = ["--suite", "tutorial", "--eval-episodes", "2", "--n-envs", "2", "--no-progress", "--timesteps", "256",
              "--eval-freq", "128", "--checkpoint-freq", "128", *TINY_HP["maskable_ppo"]]


def test_repeated_runs_in_one_process_release_their_writers(tmp_path, capsys):
    import threading

    import train as train_module

    def writer_threads() -> int:
        return sum(type(t).__name__ == "_AsyncWriterThread" for t in threading.enumerate())

    before = writer_threads()
    for name in ("one", "two", "three"):
        assert train_module.main(["--runs-root", str(tmp_path), "--run-dir", name, *IN_PROCESS]) == 0
        assert writer_threads() == before, name
    assert scalar_tags(tmp_path / "three")  # the writer was flushed before it was closed


def test_a_full_disk_mid_training_is_one_line_and_the_last_good_model_survives(tmp_path, capsys, monkeypatch):
    import errno

    import train as train_module

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to tell which file is being written")
    assert train_module.main(["--runs-root", str(tmp_path), "--run-dir", "d", *IN_PROCESS]) == 0
    run = tmp_path / "d"
    good = {p: p.read_bytes() for p in [run / "model.zip", *sorted((run / "checkpoints").iterdir())]}
    real_fsync = os.fsync

    def full_for_checkpoints(fd: int) -> None:
        if "checkpoint_" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_for_checkpoints)
    capsys.readouterr()
    code = train_module.main(["--runs-root", str(tmp_path), "--resume", str(run), "--timesteps", "1024",
                              "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "no space left on device" in err, err
    assert "checkpoint_" in err and "Traceback" not in err
    for path, content in good.items():
        assert path.read_bytes() == content, path  # the last good model and checkpoints are intact
    assert not [p for p in run.rglob(".tmp-*")]
    from sb3_contrib import MaskablePPO
    from agents.safe_load import load_model
    assert load_model(MaskablePPO, run / "model.zip").num_timesteps >= 256


def test_vec_normalize_statistics_travel_with_the_model(tmp_path, capsys):
    import train as train_module
    from agents.trained import load_trained, vec_normalize_path
    from agents.safe_load import ModelLoadError

    assert train_module.main(["--runs-root", str(tmp_path), "--run-dir", "n", *IN_PROCESS,
                              "--hp", "normalize={norm_reward: false}"]) == 0
    run = tmp_path / "n"
    for model in (run / "model.zip", run / "best_model.zip", *(run / "checkpoints").glob("*.zip")):
        assert vec_normalize_path(model).is_file(), model
    env = gym.make("supportgym/Incident-v1", suite="tutorial")
    agent = load_trained(str(run / "model.zip"), env)
    assert agent.normalizer is not None and agent.normalizer.obs_rms.count > 256
    obs, info = env.reset(seed=0)
    action, _ = agent.predict(obs, action_masks=info["action_mask"])
    assert info["action_mask"][int(action)]
    assert train_module.main(["--runs-root", str(tmp_path), "--resume", str(run), "--timesteps", "512",
                              "--no-progress"]) == 0
    vec_normalize_path(run / "model.zip").unlink()
    with pytest.raises(ModelLoadError, match="trained under VecNormalize, but its statistics"):
        load_trained(str(run / "model.zip"), env)


def test_the_shipped_hyperparameters_pass_the_checks():
    import inspect

    from training.config import load_hyperparams, validate_hyperparams
    from training.models import ALGORITHM_CLASSES

    for algo, cls in ALGORITHM_CLASSES.items():
        for suite in ("tutorial", "standard", "hard"):
            params = load_hyperparams(ROOT / "hyperparams", algo, suite)
            accepted = set(inspect.signature(cls.__init__).parameters)
            assert validate_hyperparams(params, algo, accepted) == params, (algo, suite)


def test_the_budget_and_the_entry_come_from_the_hyperparameter_file(tmp_path):
    """train.py reads rl-zoo3's layout: the suite's env id entry, else ``default``; its
    ``n_timesteps`` is the budget unless --timesteps; a file in the old layout is refused clearly."""
    import train as train_module
    from training.config import ConfigError

    args, params = train_module.plan(train_module.parse_args(["--algo", "ppo", "--suite", "tutorial"]))
    assert args.timesteps == params["n_timesteps"] == 60_000 and params["n_envs"] == 8
    conf = tmp_path / "ppo.yml"
    conf.write_text("default: {n_timesteps: 1000, n_envs: 2}\nsupportgym/Incident-Hard-v1: {n_timesteps: 3000}\n")
    for suite, timesteps in (("tutorial", 1000), ("hard", 3000)):
        args, _ = train_module.plan(train_module.parse_args(["--algo", "ppo", "--suite", suite,
                                                             "--hyperparams", str(conf)]))
        assert args.timesteps == timesteps
    args, _ = train_module.plan(train_module.parse_args(["--algo", "ppo", "--hyperparams", str(conf),
                                                         "--timesteps", "64"]))
    assert args.timesteps == 64
    conf.write_text("ppo:\n  default: {n_envs: 2}\n")
    with pytest.raises(ConfigError, match="no entry for 'supportgym/Incident-Tutorial-v1' and no 'default'"):
        train_module.plan(train_module.parse_args(["--algo", "ppo", "--hyperparams", str(conf)]))
    conf.write_text("default: {n_envs: 2}\n")
    with pytest.raises(ConfigError, match="no n_timesteps"):
        train_module.plan(train_module.parse_args(["--algo", "ppo", "--hyperparams", str(conf)]))
