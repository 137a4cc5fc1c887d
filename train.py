"""Train a policy on a supportgym suite with stable-baselines3 / sb3-contrib.

    python train.py                                   # a short MaskablePPO run on the tutorial suite
    python train.py --algo maskable_ppo --suite standard --timesteps 2000000 --seed 0 --n-envs 8 \\
                    --run-dir std-maskppo
    python train.py --resume runs/std-maskppo         # continue from its last checkpoint
    tensorboard --logdir runs                         # watch the curves

A run directory holds config.yaml (every setting, resolved), command.txt, TensorBoard events
(tb/), checkpoints/, best_model.zip (by periodic evaluation) and model.zip (the final model);
under VecNormalize (hyperparameter ``normalize``) each model has its statistics beside it.
Ctrl-C saves model.zip and a checkpoint, then exits. A run stopped at any moment can be resumed
(--resume) or rerun; --resume of a finished run says so, or continues it to a larger --timesteps.
Every value is checked before any work starts: a bad one is a usage error (exit status 2).
"""

from __future__ import annotations

import argparse
import inspect
import shlex
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecEnv, VecMonitor, VecNormalize, unwrap_vec_wrapper

import supportgym
from agents.registry import RULE_AGENTS
from agents.safe_load import ModelLoadError, load_model, load_vec_normalize
from agents.trained import VECNORMALIZE_MARKER, vec_normalize_path
from agents.graph import GraphPolicy, MaskableGraphPolicy
from supportgym.sb3 import IncidentSB3VecEnv
from supportgym.vector import IncidentVectorEnv
from training.callbacks import AtomicCheckpoint, CriticWarmup, DomainEval, Progress, WallClockBudget
from training.config import (CRITIC_WARMUP_KEY, TRAINER_KEYS, ConfigError, apply_overrides, load_hyperparams,
                             validate_hyperparams)
from evaluation.cli import OneLineParser
from training.evaluation import DomainEvaluator
from training.models import ALGORITHM_CLASSES
from training.rundir import (RunDirError, SaveError, atomic_save, atomic_write, latest_checkpoint, read_config,
                             remove_temporary_files, resolve_run_dir, save_checkpoint, write_config)
from training.curriculum import DEFAULT_CURRICULUM_FRACTION, Curriculum
from training.shaping import EvidenceBonus, ImpactShaping, vector_env_of
from training.warmstart import CLONABLE, behaviour_clone, collect_demonstrations

#: --policy graph: the graph policy of each algorithm that has one.
GRAPH_POLICIES = {"ppo": GraphPolicy, "maskable_ppo": MaskableGraphPolicy}


@dataclass
class Args:
    algo: str = "maskable_ppo"
    policy: str = "mlp"
    suite: str = "tutorial"
    timesteps: int | None = None  # default: the hyperparameters' n_timesteps, or the resumed run's own
    seed: int = 0
    n_envs: int | None = None
    run_dir: str | None = None
    runs_root: str = "runs"
    hyperparams: str = "hyperparams"
    hp: list[str] = field(default_factory=list)
    eval_freq: int = 10_000
    eval_episodes: int = 60
    eval_suite: str | None = None  # default: supportgym.selection_suite(suite)
    watch_suite: str | None = None  # default: heldout when training on a training distribution
    checkpoint_freq: int = 20_000
    max_services: int = 16
    torch_threads: int = 1
    warm_start: str | None = None
    warm_start_episodes: int = 1000
    warm_start_epochs: int = 30
    minutes: float | None = None  # a wall-time budget for the RL phase
    resume: str | None = None
    force: bool = False
    progress: bool = True


def parse_args(argv: list[str] | None = None) -> Args:
    d = Args()
    p = OneLineParser(prog="train.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", choices=tuple(ALGORITHM_CLASSES), default=d.algo, help="algorithm (default: %(default)s)")
    p.add_argument("--policy", choices=("mlp", "graph"), default=d.policy,
                   help="mlp: the hyperparameters' policy; graph: the topology-agnostic graph policy over the call "
                        f"graph (agents/graph; {', '.join(GRAPH_POLICIES)}) (default: %(default)s)")
    p.add_argument("--suite", default=d.suite, help="built-in suite name or suite file (default: %(default)s)")
    p.add_argument("--timesteps", type=_positive, default=None,
                   help="total environment steps (default: the hyperparameters' n_timesteps, or the resumed run's)")
    p.add_argument("--seed", type=_non_negative, default=d.seed, help="seed of the algorithm and the environments")
    p.add_argument("--n-envs", type=_positive, default=None, help="parallel environments (default: hyperparams)")
    p.add_argument("--run-dir", default=None,
                   help="run name, a directory under --runs-root (default: algo_suite_sSEED)")
    p.add_argument("--runs-root", default=d.runs_root, help="where runs live (default: %(default)s)")
    p.add_argument("--hyperparams", default=d.hyperparams,
                   help="folder of one file per algorithm keyed by env id, as rl-zoo3 reads them, or one such file "
                        "(default: %(default)s)")
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hyperparameter, e.g. --hp learning_rate=1e-4 (repeatable)")
    p.add_argument("--eval-freq", type=_positive, default=d.eval_freq, help="steps between evaluations")
    p.add_argument("--eval-episodes", type=_positive, default=d.eval_episodes, help="episodes per evaluation")
    p.add_argument("--eval-suite", default=None, metavar="SUITE",
                   help="suite of the periodic evaluation that selects best_model.zip (default: the training "
                        "suite's validation draw, 'validation' for 'train', else the training suite); never a "
                        "held-out suite")
    p.add_argument("--watch-suite", default=None, metavar="SUITE",
                   help="a second suite evaluated at the same times and logged as eval_<suite>/* to watch, never "
                        "to select on (default: heldout when training on 'train', else none; 'none' for none)")
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
    p.add_argument("--minutes", type=_positive_float, default=None,
                   help="stop reinforcement learning after this many minutes of wall time, or at --timesteps, "
                        "whichever comes first (the steps done depend on the machine; config.yaml and the "
                        "final line record them)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue a run from its last checkpoint (with --timesteps: to a new total)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing run directory (never a directory that is not a run)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return Args(**vars(p.parse_args(argv)))


def _number(text: str) -> float:
    """``text`` as a number (``2e6`` included), NaN if it is none, so every check refuses it."""
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _integer(text: str, low: int, what: str) -> int:
    number = _number(text)
    if not number.is_integer() or number < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return int(number)


def _positive_float(text: str) -> float:
    number = _number(text)
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return number


def _positive(text: str) -> int:
    return _integer(text, 1, "a positive integer")


def _non_negative(text: str) -> int:
    return _integer(text, 0, "a non-negative integer")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return train(args, argv if argv is not None else sys.argv[1:])
    except (ConfigError, RunDirError, ModelLoadError, supportgym.SuiteError) as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    except SaveError as error:  # e.g. a full disk: the last good files are intact
        print(f"train.py: error: {error}", file=sys.stderr)
        return 1


def plan(args: Args) -> tuple[Args, dict[str, Any]]:
    """Check every setting of a new run (or of the run being resumed) before any work starts.
    Returns the args (with the total of timesteps) and the checked hyperparameters."""
    if args.resume:
        saved = read_config(Path(args.resume))
        try:
            # The run's own settings; a --timesteps given now extends (or sets) its total.
            args = Args(**{**saved["args"], "timesteps": args.timesteps or saved["args"].get("timesteps"),
                           "resume": args.resume, "progress": args.progress})
        except TypeError as error:
            raise RunDirError(f"{Path(args.resume) / 'config.yaml'} does not match this train.py: {error}") from None
        if isinstance(args.timesteps, bool) or not isinstance(args.timesteps, int) or args.timesteps <= 0:
            raise RunDirError(f"{Path(args.resume) / 'config.yaml'} has no valid total of timesteps: pass --timesteps")
        hyperparams = saved["hyperparams"]
    else:
        hyperparams = apply_overrides(load_hyperparams(Path(args.hyperparams), args.algo, args.suite), args.hp)
    if args.algo not in ALGORITHM_CLASSES:
        raise ConfigError(f"unknown algorithm {args.algo!r} (one of: {', '.join(ALGORITHM_CLASSES)})")
    # a bad suite fails here, before anything is written
    if _fitting_suite(args.suite, args.max_services, "suite").heldout:
        raise ConfigError(f"suite {args.suite!r} is held out: evaluate on it, never train on it")
    args.eval_suite = args.eval_suite or supportgym.selection_suite(args.suite)
    if _fitting_suite(args.eval_suite, args.max_services, "--eval-suite").heldout:
        raise ConfigError(f"--eval-suite {args.eval_suite!r} is held out: select models on a validation draw, and "
                          f"watch the held-out suite with --watch-suite")
    if args.watch_suite is None:
        args.watch_suite = "heldout" if args.suite in supportgym.TRAINING_DISTRIBUTIONS else "none"
    if args.watch_suite != "none":
        _fitting_suite(args.watch_suite, args.max_services, "--watch-suite")
    accepted = set(inspect.signature(ALGORITHM_CLASSES[args.algo].__init__).parameters) - {"self"}
    hyperparams = validate_hyperparams(hyperparams, args.algo, accepted)
    if args.timesteps is None:  # a new run without --timesteps: the budget its hyperparameters give
        if "n_timesteps" not in hyperparams:
            raise ConfigError(f"no n_timesteps in the hyperparameters for {args.algo}: add it or pass --timesteps")
        args.timesteps = hyperparams["n_timesteps"]
    if hyperparams.get(CRITIC_WARMUP_KEY) and args.algo not in CLONABLE:
        raise ConfigError(f"{CRITIC_WARMUP_KEY} works with {', '.join(CLONABLE)}, not {args.algo}")
    if args.policy == "graph":
        if args.algo not in GRAPH_POLICIES:
            raise ConfigError(f"--policy graph works with {', '.join(GRAPH_POLICIES)}, not {args.algo}")
        if hyperparams.get("normalize"):
            raise ConfigError("--policy graph cannot be combined with normalize (the call graph is not normalised)")
    if args.warm_start is not None:
        if args.warm_start not in RULE_AGENTS:
            raise ConfigError(f"--warm-start {args.warm_start!r}: warm start needs a rule-based teacher "
                              f"({', '.join(RULE_AGENTS)})")
        if args.algo not in CLONABLE:
            raise ConfigError(f"--warm-start works with {', '.join(CLONABLE)}, not {args.algo}")
        if hyperparams.get("normalize"):
            raise ConfigError("--warm-start clones on raw observations: it cannot be combined with normalize")
    return args, hyperparams


def _fitting_suite(name: str, max_services: int, role: str) -> supportgym.Suite:
    """Suite ``name``, loaded and checked to fit ``max_services`` slots (``role`` names it in errors)."""
    suite = supportgym.load_suite(name, max_services)
    if max_services < suite.max_services:
        raise ConfigError(f"--max-services {max_services} is smaller than {role} {suite.name!r}, whose largest "
                          f"topology has {suite.max_services} services")
    return suite


def train(args: Args, argv: list[str], extra_callbacks: Sequence[BaseCallback] = ()) -> int:
    """Train as the command line ``argv`` says; ``extra_callbacks`` (e.g. sweep.py's report to
    Ray Tune) run after train.py's own."""
    args, hyperparams = plan(args)

    # --- 1. where the run lives -----------------------------------------------------------------
    config = {"args": asdict(args), "hyperparams": hyperparams, "versions": _versions()}
    found = None
    if args.resume:
        run_dir = Path(args.resume)
        remove_temporary_files(run_dir)  # left by a process killed mid-save
        found = latest_checkpoint(run_dir)
        if found is not None and found[1] >= args.timesteps:
            print(f"{run_dir} is finished: {found[1]} steps of {args.timesteps}; "
                  f"pass --resume {run_dir} --timesteps N with N > {found[1]} to continue it")
            return 0
        write_config(run_dir, config)  # with the new total of timesteps
    else:
        run_dir = resolve_run_dir(args.run_dir or f"{args.algo}_{Path(args.suite).stem}_s{args.seed}",
                                  Path(args.runs_root), args.force)
        write_config(run_dir, config)
        atomic_write(run_dir / "command.txt", (shlex.join([sys.executable, "train.py", *argv]) + "\n").encode())

    torch.set_num_threads(args.torch_threads)
    # SIGTERM stops like Ctrl-C (only the main thread may set handlers: a Tune trial runs in another)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_sigterm = signal.signal(signal.SIGTERM, signal.default_int_handler) if in_main_thread else None
    venv: VecEnv | None = None
    model = None
    try:
        try:
            venv = make_envs(args, hyperparams, found[0] if found else None)
            model, evaluator, callbacks = setup(args, hyperparams, run_dir, venv, found)
        except KeyboardInterrupt:
            print(f"\ninterrupted before training started: nothing to save. Rerun the same command, "
                  f"or train.py --resume {run_dir}", file=sys.stderr)
            return 130
        return learn(args, run_dir, model, evaluator, [*callbacks, *extra_callbacks])
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_sigterm)
        if model is not None and getattr(model, "_logger", None) is not None:
            model.logger.close()  # releases the TensorBoard writer and its thread
        if venv is not None:
            venv.close()


def make_envs(args: Args, hyperparams: dict[str, Any], checkpoint: Path | None) -> VecEnv:
    """The training environments: the native batched env through its SB3 adapter (one batched
    step for all envs, the same trajectories as a DummyVecEnv of single envs) in ``VecMonitor``;
    outside it, the training-only rewards the hyperparameters ask for (impact shaping, the
    evidence bonus: the monitor logs the environment's own reward); VecNormalize outermost if asked
    for (with the statistics of ``checkpoint`` when resuming)."""
    normalize = hyperparams.get("normalize", False)
    stats = vec_normalize_path(checkpoint) if normalize and checkpoint is not None else None
    if stats is not None and not stats.is_file():
        raise RunDirError(f"the run trains under VecNormalize, but the statistics of {checkpoint.name} ({stats}) "
                          "are missing")
    n_envs = args.n_envs or int(hyperparams.get("n_envs", 8))
    gamma = float(hyperparams.get("gamma", 0.99))
    # seeded as make_vec_env seeds its envs (seed + rank), with VecMonitor for its Monitor
    venv: VecEnv = VecMonitor(IncidentSB3VecEnv(IncidentVectorEnv(num_envs=n_envs, suite=args.suite,
                                                                  max_services=args.max_services)))
    venv.seed(args.seed)
    if hyperparams.get("impact_shaping"):
        venv = ImpactShaping(venv, coef=float(hyperparams["impact_shaping"]), gamma=gamma)
    if hyperparams.get("evidence_bonus"):
        venv = EvidenceBonus(venv, coef=float(hyperparams["evidence_bonus"]))
    if stats is not None:
        try:
            normalizer = load_vec_normalize(stats)
        except ModelLoadError:
            venv.close()
            raise
        normalizer.set_venv(venv)
        return normalizer
    if normalize:
        return VecNormalize(venv, **{"gamma": gamma, **(normalize if isinstance(normalize, dict) else {})})
    return venv


def curriculum(args: Args, hyperparams: dict[str, Any], venv: VecEnv) -> Curriculum | None:
    """The start-tier curriculum and evidence-bonus schedule (training/curriculum.py), if asked for."""
    start_share = float(hyperparams.get("start_tier_share", 0.0))
    bonus = unwrap_vec_wrapper(venv, EvidenceBonus)
    if not start_share and bonus is None:
        return None
    end = hyperparams.get("curriculum_fraction", DEFAULT_CURRICULUM_FRACTION) * args.timesteps
    return Curriculum(vector_env_of(venv), end, start_share=start_share, bonus=bonus, seed=args.seed)


def setup(args: Args, hyperparams: dict[str, Any], run_dir: Path, venv: VecEnv,
          found: tuple[Path, int] | None) -> tuple[Any, DomainEvaluator, list]:
    """The model (new, or the last checkpoint of the run being resumed) and the callbacks."""
    algo_class = ALGORITHM_CLASSES[args.algo]
    if found is not None:
        checkpoint, steps = found
        try:
            model = load_model(algo_class, checkpoint, env=venv)
        except ModelLoadError as error:
            raise RunDirError(f"cannot load checkpoint {checkpoint}: {error}") from None
        print(f"resuming {run_dir} from {checkpoint.name} ({steps} steps)")
    else:
        if args.resume:
            print(f"{run_dir} has no checkpoint yet: starting it afresh")
        algo_kwargs = {k: v for k, v in hyperparams.items() if k not in TRAINER_KEYS}
        if args.policy == "graph":  # it builds its own network: the MLP's net_arch does not apply
            algo_kwargs["policy"] = GRAPH_POLICIES[args.algo]
            kwargs = {k: v for k, v in (algo_kwargs.get("policy_kwargs") or {}).items() if k != "net_arch"}
            algo_kwargs["policy_kwargs"] = kwargs or None
        try:
            model = algo_class(env=venv, seed=args.seed, device="cpu", verbose=0,
                               tensorboard_log=str(run_dir / "tb"), **algo_kwargs)
        except (TypeError, ValueError, AssertionError) as error:  # a value only the algorithm can judge
            raise ConfigError(f"bad hyperparameters for {args.algo}: {error}") from None
        if args.warm_start:
            warm_start(model, args)
    model.tensorboard_log = str(run_dir / "tb")
    if isinstance(model.get_env(), VecNormalize):
        setattr(model, VECNORMALIZE_MARKER, True)  # saved in the model's data: its statistics are needed

    evaluator = DomainEvaluator(args.eval_suite, args.eval_episodes, seed=10_000 + args.seed,
                                max_services=args.max_services, algo=args.algo)
    watched = None
    if args.watch_suite != "none":
        watched = DomainEvaluator(args.watch_suite, args.eval_episodes, seed=10_000 + args.seed,
                                  max_services=args.max_services, algo=args.algo)
    suites = args.eval_suite + (f" and {args.watch_suite}" if watched else "")
    print(f"evaluating baselines on {args.eval_episodes} fixed episodes of {suites} ...")
    evaluation = DomainEval(evaluator, evaluator.baselines(), run_dir, args.eval_freq,
                            watch=(Path(args.watch_suite).stem, watched, watched.baselines()) if watched else None)
    callbacks: list = [AtomicCheckpoint(run_dir, args.checkpoint_freq), evaluation]
    if args.progress:
        callbacks.append(Progress(args.timesteps, evaluation))
    if hyperparams.get(CRITIC_WARMUP_KEY):
        callbacks.append(CriticWarmup(hyperparams[CRITIC_WARMUP_KEY]))
    if args.minutes:
        callbacks.append(WallClockBudget(60 * args.minutes))
    schedule = curriculum(args, hyperparams, venv)
    if schedule is not None:
        callbacks.append(schedule)
    return model, evaluator, callbacks


def learn(args: Args, run_dir: Path, model: Any, evaluator: DomainEvaluator, callbacks: list) -> int:
    """Train to the total; Ctrl-C (or SIGTERM) saves the model and a checkpoint and stops."""
    evaluation = callbacks[1]
    remaining = args.timesteps - model.num_timesteps
    start, start_steps = time.perf_counter(), model.num_timesteps
    interrupted = False
    try:
        model.learn(remaining, callback=CallbackList(callbacks), reset_num_timesteps=False,
                    tb_log_name="run", progress_bar=False)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        for callback in callbacks:
            if isinstance(callback, Progress):
                callback.close()
    elapsed = time.perf_counter() - start
    atomic_save(model, run_dir / "model.zip")
    save_checkpoint(model, run_dir)
    if not interrupted:
        try:
            final = evaluation.run()
        except KeyboardInterrupt:  # during the final evaluation: the model is saved already
            interrupted = True

    steps = model.num_timesteps - start_steps
    print(f"\n{'interrupted' if interrupted else 'finished'} after {model.num_timesteps} steps "
          f"({steps / max(elapsed, 1e-9):.0f} steps/s over {elapsed:.0f} s of training)")
    if not interrupted:
        refs = evaluator.baselines()
        line = ", ".join(f"{name} {m['score']:.1f}" for name, m in refs.items())
        print(f"normalised score {evaluation.first['score']:.1f} at {evaluation.first_steps} steps -> "
              f"{final['score']:.1f} now (random = 0, oracle = 100; on the same episodes: {line}); "
              f"resolve-and-hold {final['resolve_rate']:.0%}")
    print(f"model:       {run_dir / 'model.zip'}  (best: {run_dir / 'best_model.zip'})")
    print(f"TensorBoard: tensorboard --logdir {run_dir / 'tb'}")
    print(f"evaluate:    python evaluate.py --suite {args.eval_suite} "
          f"--agents random,naive,runbook,expert,oracle,{run_dir / 'model.zip'} --episodes 200 --seed 0 "
          f"--out results/{run_dir.name}")
    return 130 if interrupted else 0


def warm_start(model, args: Args) -> None:
    """Behaviour-clone a rule-based teacher into the fresh policy (training/warmstart.py)."""
    start = time.perf_counter()
    try:
        demos = collect_demonstrations(args.suite, args.warm_start, args.warm_start_episodes, seed=50_000 + args.seed,
                                       max_services=args.max_services)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    fit = behaviour_clone(model.policy, *demos, epochs=args.warm_start_epochs, seed=args.seed)
    print(f"warm start: cloned {args.warm_start} from {len(demos[0])} decisions in {args.warm_start_episodes} episodes "
          f"({time.perf_counter() - start:.0f} s): accuracy {fit['accuracy']:.1%}, loss {fit['loss']:.3f}", flush=True)


def _versions() -> dict[str, Any]:
    import sb3_contrib
    import stable_baselines3

    return {"supportgym": supportgym.__version__, "stable_baselines3": stable_baselines3.__version__,
            "sb3_contrib": sb3_contrib.__version__, "torch": str(torch.__version__), "python": sys.version.split()[0]}


if __name__ == "__main__":
    sys.exit(main())
