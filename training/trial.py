"""One Ray Tune trial of ``sweep.py``: a ``train.py`` run, reporting its evaluations to Tune.

A trial *is* a train.py command line (``trial_argv``): the same planning, checks, run directory
(config.yaml, command.txt with the train.py command that reproduces the trial, tb/,
checkpoints/, best_model.zip, model.zip) and training loop, through ``train.train``. The only
addition is :class:`TuneReport`, which hands every domain evaluation (``eval/*``, the same
numbers TensorBoard gets) to Tune, so that the ASHA scheduler can stop a trial on its score.
A retried trial (Tune's ``max_failures``) resumes its run from the last checkpoint.

Ray is imported only when a trial runs (``ray.tune``), never by train.py.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter

from training.rundir import latest_checkpoint, read_config

#: The metric Tune optimises: the normalised domain evaluation score (random 0, oracle 100).
METRIC = "score"
#: Tune's clock for ASHA: environment steps at the evaluation.
TIME_ATTR = "timesteps"


def hp_option(key: str, value: Any) -> str:
    """``key=value`` for ``train.py --hp``, the value in YAML so that it reads back the same."""
    text = yaml.safe_dump(value, default_flow_style=True, width=math.inf).strip()
    return f"{key}={text.removesuffix('...').strip()}"


def trial_name(index: int) -> str:
    """The run directory of trial ``index`` inside the sweep directory."""
    return f"trial_{index:02d}"


def trial_argv(base: list[str], sweep_dir: Path, index: int, seed: int, hyperparams: dict[str, Any]) -> list[str]:
    """The train.py command line of one trial: the sweep's fixed options, then its own."""
    argv = [*base, "--runs-root", str(sweep_dir), "--run-dir", trial_name(index), "--seed", str(seed),
            "--no-progress"]
    for key, value in hyperparams.items():
        argv += ["--hp", hp_option(key, value)]
    return argv


class _TuneWriter(KVWriter):
    """An SB3 logger output that reports each evaluation's ``eval/*`` values to Tune."""

    def __init__(self, owner: TuneReport):
        self.owner = owner

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        if f"eval/{METRIC}" not in key_values:
            return  # SB3's own rollout and train statistics
        if step >= self.owner.budget and not self.owner.ended:
            return  # the last periodic evaluation: the final one follows, once model.zip is saved
        from ray import tune

        metrics = {key.removeprefix("eval/"): float(value) for key, value in key_values.items()
                   if key.startswith("eval/")}
        tune.report({**metrics, TIME_ATTR: int(step)})

    def close(self) -> None:
        pass


class TuneReport(BaseCallback):
    """Adds :class:`_TuneWriter` to the model's logger, so that the evaluations train.py logs,
    the periodic ones and the final one after training, reach Tune as they reach TensorBoard.

    An evaluation at ``budget`` steps or more is reported only once training has ended: Tune
    stops a trial when it reaches the budget (ASHA's ``max_t``), and a trial stopped then would
    never save its model.zip nor run its final evaluation."""

    def __init__(self, budget: int):
        super().__init__()
        self.budget = budget
        self.ended = False

    def _on_training_start(self) -> None:
        if not any(isinstance(out, _TuneWriter) for out in self.logger.output_formats):
            self.logger.output_formats.append(_TuneWriter(self))

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self.ended = True


def run_trial(config: dict[str, Any], base_argv: list[str], sweep_dir: str) -> None:
    """Tune's function trainable. ``config``: ``index`` (the trial's number), ``seed`` and the
    sampled ``hyperparameters``. Raises if train.py fails, so that Tune retries or reports it."""
    import train  # the train.py script; Ray puts its directory on the workers' path

    run_dir = Path(sweep_dir) / trial_name(config["index"])
    if latest_checkpoint(run_dir) is not None:  # a retry: continue where the failed attempt stopped
        argv = ["--resume", str(run_dir), "--no-progress"]
    else:  # a first attempt, or a retry of one that failed before its first checkpoint: (re)start the run
        argv = [*trial_argv(base_argv, Path(sweep_dir), config["index"], config["seed"], config["hyperparameters"]),
                "--force"]
    args = train.parse_args(argv)
    budget = args.timesteps or read_config(run_dir)["args"]["timesteps"]  # a resumed run's own total
    status = train.train(args, argv, extra_callbacks=[TuneReport(budget)])
    if status != 0:
        raise RuntimeError(f"train.py {' '.join(argv)} exited with status {status}")
