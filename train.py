"""Train a policy on a supportgym suite with stable-baselines3 / sb3-contrib.

    python train.py                                   # a short MaskablePPO run on the tutorial suite
    python train.py --algo maskable_ppo --suite standard --timesteps 2000000 --seed 0 --n-envs 8 \\
                    --run-dir std-maskppo
    python train.py --resume runs/std-maskppo         # continue from its last checkpoint
    tensorboard --logdir runs                         # watch the curves

A run directory holds config.yaml (every setting, resolved), command.txt, TensorBoard events
(tb/), checkpoints/, best_model.zip (by periodic evaluation) and model.zip (the final model).
Ctrl-C saves model.zip and a checkpoint, then exits.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.env_util import make_vec_env

import supportgym
from training.callbacks import AtomicCheckpoint, DomainEval, Progress
from training.config import ConfigError, apply_overrides, load_hyperparams
from training.evaluation import DomainEvaluator
from training.models import ALGORITHM_CLASSES
from training.rundir import RunDirError, atomic_save, latest_checkpoint, resolve_run_dir
from training.shaping import ImpactShaping
from training.warmstart import CLONABLE, behaviour_clone, collect_demonstrations

DEFAULT_TIMESTEPS = 60_000


@dataclass
class Args:
    algo: str = "maskable_ppo"
    suite: str = "tutorial"
    timesteps: int | None = None  # default: DEFAULT_TIMESTEPS, or the resumed run's own
    seed: int = 0
    n_envs: int | None = None
    run_dir: str | None = None
    runs_root: str = "runs"
    hyperparams: str = "hyperparams.yml"
    hp: list[str] = field(default_factory=list)
    eval_freq: int = 10_000
    eval_episodes: int = 60
    checkpoint_freq: int = 20_000
    max_services: int = 16
    torch_threads: int = 1
    warm_start: str | None = None
    warm_start_episodes: int = 1000
    warm_start_epochs: int = 30
    resume: str | None = None
    force: bool = False
    progress: bool = True


def parse_args(argv: list[str] | None = None) -> Args:
    d = Args()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", choices=tuple(ALGORITHM_CLASSES), default=d.algo, help="algorithm (default: %(default)s)")
    p.add_argument("--suite", default=d.suite, help="built-in suite name or suite file (default: %(default)s)")
    p.add_argument("--timesteps", type=_positive, default=None,
                   help=f"total environment steps (default: {DEFAULT_TIMESTEPS}, or the resumed run's)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the algorithm and the environments")
    p.add_argument("--n-envs", type=_positive, default=None, help="parallel environments (default: hyperparams)")
    p.add_argument("--run-dir", default=None, help="run name, a directory under --runs-root (default: algo_suite_sSEED)")
    p.add_argument("--runs-root", default=d.runs_root, help="where runs live (default: %(default)s)")
    p.add_argument("--hyperparams", default=d.hyperparams, help="hyperparameter file (default: %(default)s)")
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hyperparameter, e.g. --hp learning_rate=1e-4 (repeatable)")
    p.add_argument("--eval-freq", type=_positive, default=d.eval_freq, help="steps between evaluations")
    p.add_argument("--eval-episodes", type=_positive, default=d.eval_episodes, help="episodes per evaluation")
    p.add_argument("--checkpoint-freq", type=_positive, default=d.checkpoint_freq, help="steps between checkpoints")
    p.add_argument("--max-services", type=_positive, default=d.max_services, help="observation padding")
    p.add_argument("--torch-threads", type=_positive, default=d.torch_threads,
                   help="torch threads (1 is as fast as 2 for small networks on 2 cores)")
    p.add_argument("--warm-start", default=None, metavar="AGENT",
                   help="behaviour-clone this rule-based agent (e.g. expert) before RL (ppo, maskable_ppo)")
    p.add_argument("--warm-start-episodes", type=_positive, default=d.warm_start_episodes,
                   help="teacher episodes to clone (default: %(default)s)")
    p.add_argument("--warm-start-epochs", type=_positive, default=d.warm_start_epochs,
                   help="passes over the demonstrations (default: %(default)s)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument("--force", action="store_true", help="overwrite an existing run directory")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return Args(**vars(p.parse_args(argv)))


def _positive(text: str) -> int:
    value = int(float(text))  # accepts 2e6
    if value <= 0 or value != float(text):
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return train(args, argv if argv is not None else sys.argv[1:])
    except (ConfigError, RunDirError, supportgym.SuiteError) as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2


def train(args: Args, argv: list[str]) -> int:
    torch.set_num_threads(args.torch_threads)

    # --- 1. where the run lives, and its settings -------------------------------------------
    if args.resume:
        run_dir = Path(args.resume)
        saved = yaml.safe_load((run_dir / "config.yaml").read_text()) if (run_dir / "config.yaml").exists() else None
        if saved is None:
            raise RunDirError(f"{run_dir} has no config.yaml: not a run directory")
        # The run's own settings; a --timesteps given now extends (or sets) its total.
        args = Args(**{**saved["args"], "timesteps": args.timesteps or saved["args"]["timesteps"],
                       "resume": str(run_dir), "progress": args.progress})
        hyperparams = saved["hyperparams"]
    else:
        args.timesteps = args.timesteps or DEFAULT_TIMESTEPS
        if supportgym.load_suite(args.suite).heldout:  # a bad suite fails here too, before anything is written
            raise ConfigError(f"suite {args.suite!r} is held out: evaluate on it, never train on it")
        hyperparams = apply_overrides(load_hyperparams(Path(args.hyperparams), args.algo, args.suite), args.hp)
        run_dir = resolve_run_dir(args.run_dir or f"{args.algo}_{Path(args.suite).stem}_s{args.seed}",
                                  Path(args.runs_root), args.force)
        (run_dir / "config.yaml").write_text(yaml.safe_dump({"args": asdict(args), "hyperparams": hyperparams,
                                                            "versions": _versions()}, sort_keys=False))
        (run_dir / "command.txt").write_text(shlex.join([sys.executable, "train.py", *argv]) + "\n")
    n_envs = args.n_envs or int(hyperparams.get("n_envs", 8))
    shaping = float(hyperparams.get("impact_shaping", 0.0))
    algo_kwargs = {k: v for k, v in hyperparams.items() if k not in ("n_envs", "impact_shaping")}

    # --- 2. environments: DummyVecEnv (faster than subprocesses on 2 cores) --------------------
    env_kwargs = {"suite": args.suite, "max_services": args.max_services, "render_mode": None}
    wrapper, wrapper_kwargs = (ImpactShaping, {"coef": shaping, "gamma": algo_kwargs.get("gamma", 0.99)}) \
        if shaping else (None, None)
    venv = make_vec_env("supportgym/Incident-v0", n_envs=n_envs, seed=args.seed, env_kwargs=env_kwargs,
                        wrapper_class=wrapper, wrapper_kwargs=wrapper_kwargs)

    # --- 3. the model: new, or the last checkpoint of the run being resumed ------------------
    algo_class = ALGORITHM_CLASSES[args.algo]
    if args.resume:
        found = latest_checkpoint(run_dir)
        if found is None:
            raise RunDirError(f"{run_dir} has no checkpoint to resume from")
        checkpoint, steps = found
        try:
            model = algo_class.load(checkpoint, env=venv, device="cpu")
        except Exception as error:  # a truncated or corrupt zip
            raise RunDirError(f"cannot load checkpoint {checkpoint}: {error}") from None
        print(f"resuming {run_dir} from {checkpoint.name} ({steps} steps)")
    else:
        try:
            model = algo_class(env=venv, seed=args.seed, device="cpu", verbose=0,
                               tensorboard_log=str(run_dir / "tb"), **algo_kwargs)
        except (TypeError, ValueError, AssertionError) as error:  # an unknown name or a bad value
            raise ConfigError(f"bad hyperparameters for {args.algo}: {error}") from None
        if args.warm_start:
            warm_start(model, args)
    model.tensorboard_log = str(run_dir / "tb")

    # --- 4. callbacks: checkpoints, domain evaluation with baseline lines, progress ------------
    evaluator = DomainEvaluator(args.suite, args.eval_episodes, seed=10_000 + args.seed,
                                max_services=args.max_services, algo=args.algo)
    print(f"evaluating baselines on {args.eval_episodes} fixed episodes of {args.suite} ...")
    evaluation = DomainEval(evaluator, evaluator.baselines(), run_dir, args.eval_freq)
    checkpoints = AtomicCheckpoint(run_dir, args.checkpoint_freq)
    callbacks = [checkpoints, evaluation]
    if args.progress:
        callbacks.append(Progress(args.timesteps, evaluation))

    # --- 5. train; Ctrl-C (or SIGTERM) saves and exits cleanly ------------------------------
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    remaining = args.timesteps - model.num_timesteps
    start, start_steps = time.perf_counter(), model.num_timesteps
    interrupted = False
    try:
        if remaining > 0:
            model.learn(remaining, callback=CallbackList(callbacks), reset_num_timesteps=False,
                        tb_log_name="run", progress_bar=False)
    except KeyboardInterrupt:
        interrupted = True
    elapsed = time.perf_counter() - start
    atomic_save(model, run_dir / "model.zip")
    checkpoints.save()
    if not interrupted and remaining > 0:
        final = evaluation.run()
    venv.close()

    # --- 6. report ----------------------------------------------------------------------------
    steps = model.num_timesteps - start_steps
    print(f"\n{'interrupted' if interrupted else 'finished'} after {model.num_timesteps} steps "
          f"({steps / max(elapsed, 1e-9):.0f} steps/s over {elapsed:.0f} s of training)")
    if not interrupted and remaining > 0:
        refs = evaluator.baselines()
        line = ", ".join(f"{name} {m['score']:.1f}" for name, m in refs.items())
        print(f"normalised score {evaluation.first['score']:.1f} at {evaluation.first_steps} steps -> "
              f"{final['score']:.1f} now (random = 0, oracle = 100; on the same episodes: {line}); "
              f"resolve-and-hold {final['resolve_rate']:.0%}")
    print(f"model:       {run_dir / 'model.zip'}  (best: {run_dir / 'best_model.zip'})")
    print(f"TensorBoard: tensorboard --logdir {run_dir / 'tb'}")
    print(f"evaluate:    python evaluate.py --suite {args.suite} "
          f"--agents random,naive,runbook,expert,oracle,{run_dir / 'model.zip'} --episodes 200 --seed 0 "
          f"--out results/{run_dir.name}")
    return 130 if interrupted else 0


def warm_start(model, args: Args) -> None:
    """Behaviour-clone a rule-based teacher into the fresh policy (training/warmstart.py)."""
    if args.algo not in CLONABLE:
        raise ConfigError(f"--warm-start works with {', '.join(CLONABLE)}, not {args.algo}")
    start = time.perf_counter()
    try:
        demos = collect_demonstrations(args.suite, args.warm_start, args.warm_start_episodes, seed=50_000 + args.seed,
                                       max_services=args.max_services)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    fit = behaviour_clone(model.policy, *demos, epochs=args.warm_start_epochs, seed=args.seed)
    print(f"warm start: cloned {args.warm_start} from {len(demos[0])} decisions in {args.warm_start_episodes} episodes "
          f"({time.perf_counter() - start:.0f} s): accuracy {fit['accuracy']:.1%}, loss {fit['loss']:.3f}")


def _versions() -> dict[str, Any]:
    import sb3_contrib
    import stable_baselines3

    return {"supportgym": supportgym.__version__, "stable_baselines3": stable_baselines3.__version__,
            "sb3_contrib": sb3_contrib.__version__, "torch": str(torch.__version__), "python": sys.version.split()[0]}


if __name__ == "__main__":
    sys.exit(main())
