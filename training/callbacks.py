"""SB3 callbacks for ``train.py``: atomic checkpoints, domain evaluation, a progress bar, critic warm-up."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from stable_baselines3.common.callbacks import BaseCallback
from tqdm import tqdm

from training.rundir import atomic_save, save_checkpoint

#: A function that evaluates a model on fixed episodes and returns metrics by name,
#: including "score" (the normalised score); and the baselines' metrics on the same episodes.
Evaluator = Callable[[object], dict[str, float]]


class AtomicCheckpoint(BaseCallback):
    """Every ``every`` steps: ``checkpoints/checkpoint_<steps>_steps.zip``, keeping the newest ``keep``."""

    def __init__(self, run_dir: Path, every: int, keep: int = 3):
        super().__init__()
        self.run_dir, self.every, self.keep = run_dir, every, keep
        self.last = 0

    def _on_training_start(self) -> None:
        self.last = self.num_timesteps  # a resumed run counts from where it stood

    def _on_step(self) -> bool:
        if self.num_timesteps - self.last >= self.every:
            self.last = self.num_timesteps
            save_checkpoint(self.model, self.run_dir, self.keep)
        return True


#: A suite watched but never selected on: its name, its evaluator and its baselines' metrics.
Watched = tuple[str, Evaluator, dict[str, dict[str, float]]]


class DomainEval(BaseCallback):
    """Every ``every`` steps: evaluate the policy on fixed episodes, log ``eval/*`` and the
    baselines' scores on the same episodes as ``baselines/*`` reference lines, keep the best model.
    A ``watch``ed suite (e.g. the held-out one) is evaluated at the same times and logged as
    ``eval_<suite>/*`` and ``baselines_<suite>/*``; it never decides the best model."""

    def __init__(self, evaluate: Evaluator, baselines: dict[str, dict[str, float]], run_dir: Path, every: int,
                 watch: Watched | None = None):
        super().__init__()
        self.evaluate, self.baselines, self.run_dir, self.every = evaluate, baselines, run_dir, every
        self.watch = watch
        self.last = -every
        self.best = float("-inf")
        self.latest: dict[str, float] = {}
        self.first: dict[str, float] = {}  # the first evaluation of this process, to show progress
        self.first_steps = 0

    def _on_step(self) -> bool:
        if self.num_timesteps - self.last >= self.every:
            self.run()
        return True

    def run(self) -> dict[str, float]:
        self.last = self.num_timesteps
        self.latest = self.evaluate(self.model)
        if not self.first:
            self.first, self.first_steps = self.latest, self.num_timesteps
        for key, value in self.latest.items():
            self.logger.record(f"eval/{key}", value)
        for name, metrics in self.baselines.items():
            self.logger.record(f"baselines/{name}_score", metrics["score"])
        if self.watch is not None:
            suite, evaluate, baselines = self.watch
            for key, value in evaluate(self.model).items():
                self.logger.record(f"eval_{suite}/{key}", value)
            for name, metrics in baselines.items():
                self.logger.record(f"baselines_{suite}/{name}_score", metrics["score"])
        self.logger.dump(self.num_timesteps)
        if self.latest["score"] > self.best:
            self.best = self.latest["score"]
            atomic_save(self.model, self.run_dir / "best_model.zip")
        return self.latest


class Progress(BaseCallback):
    """A progress bar: steps, throughput (steps / wall time, not SB3's early-logged fps), latest score."""

    def __init__(self, total: int, evaluation: DomainEval | None):
        super().__init__()
        self.total, self.evaluation = total, evaluation
        self.bar: tqdm | None = None

    def _on_training_start(self) -> None:
        self.start_steps, self.start_time = self.num_timesteps, time.perf_counter()
        self.bar = tqdm(total=self.total, initial=self.num_timesteps, unit="step", dynamic_ncols=True)

    def _on_step(self) -> bool:
        done = min(self.num_timesteps, self.total)  # SB3 finishes its last rollout past the total
        if self.bar is not None and done - self.bar.n >= 1000:
            self.bar.update(done - self.bar.n)
            rate = (self.num_timesteps - self.start_steps) / max(time.perf_counter() - self.start_time, 1e-9)
            score = self.evaluation.latest.get("score") if self.evaluation else None
            self.bar.set_postfix_str(f"{rate:.0f} steps/s" + (f", score {score:.1f}" if score is not None else ""))
        return True

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.update(min(self.num_timesteps, self.total) - self.bar.n)
        self.close()

    def close(self) -> None:
        """Close the bar (also after an interruption, when SB3 does not end training)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class WallClockBudget(BaseCallback):
    """Stop training once ``seconds`` of wall time have passed since training started (checked
    every step; the update under way when it runs out finishes first)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.deadline = float("inf")

    def _on_training_start(self) -> None:
        self.deadline = time.perf_counter() + self.seconds

    def _on_step(self) -> bool:
        return time.perf_counter() < self.deadline


class CriticWarmup(BaseCallback):
    """Freeze the actor for the first ``steps`` RL steps while the critic learns. After a
    behaviour-cloning warm start the critic is untrained: its early advantages are noise, and
    PPO updates on them undid the clone (0% resolved); frozen meanwhile, the clone's level held.

    Frozen: every parameter on the actor's path (its encoder, or the shared one, the policy
    latent network and the action head); the updates then move the critic alone."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps = steps
        self.frozen = False

    def _actor_parameters(self) -> list:
        policy = self.model.policy
        modules = [policy.action_net, getattr(policy.mlp_extractor, "policy_net", None),
                   policy.features_extractor if policy.share_features_extractor else policy.pi_features_extractor]
        return [p for module in modules if module is not None for p in module.parameters()]

    def _set_frozen(self, frozen: bool) -> None:
        if frozen != self.frozen:
            for parameter in self._actor_parameters():
                parameter.requires_grad_(not frozen)
            self.frozen = frozen

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        # the update that follows learns from the steps up to num_timesteps: frozen while within the warm-up
        self._set_frozen(self.num_timesteps <= self.steps)

    def _on_training_end(self) -> None:
        self._set_frozen(False)  # a saved or further-trained model has a trainable actor
