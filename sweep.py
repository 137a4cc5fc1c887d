"""Hyperparameter sweeps and multi-seed training with Ray Tune, over train.py's own training.

    python sweep.py                          # 4 trials of MaskablePPO on tutorial, 20k steps each (a few min)
    python sweep.py --algo ppo --suite standard --samples 16 --timesteps 200000 --address auto   # a cluster
    python sweep.py --seeds 5 --hyperparams runs/sweep_maskable_ppo_tutorial/best.yml   # one config, 5 seeds
    tensorboard --logdir runs/sweep_maskable_ppo_tutorial                                # every trial's curves

Search: hyperparameters are drawn from the search space ``hyperparams/sweeps/<algo>.yml`` (or
--space) on top of the --hyperparams entry, and the ASHA scheduler stops the trials whose domain
evaluation score (eval/score: random 0, oracle 100) trails at each rung. Each trial is a train.py
run (training/trial.py): ``SWEEP_DIR/trial_NN`` has train.py's layout, and its command.txt is the
train.py command that reproduces it. A failed trial is retried (--max-failures, resuming from its
last checkpoint) and, if it still fails, listed with its error in the summary. The hyperparameters
of the best trial that ran to the budget are written to ``SWEEP_DIR/best.yml``, a file train.py
reads (--hyperparams).

--seeds N trains the --hyperparams configuration (no search, no early stopping) with seeds
--seed .. --seed + N - 1 and tabulates the spread of the final evaluation score.

Ray runs locally (a Ray instance on --cpus cores) unless --address names a cluster whose nodes
have this project at the same path. Needs the extra: pip install -e ".[ray]". Every setting is
checked before Ray starts: a bad one is a usage error (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from supportgym import SuiteError
from agents.safe_load import ModelLoadError
from evaluation.cli import OneLineParser
from evaluation.ray_backend import RayUnavailable, host_and_port, import_ray, ray_session
from training.config import KNOWN, ConfigError, _number, entry_key
from training.rundir import RunDirError, atomic_write
from training.trial import METRIC, TIME_ATTR, hp_option, run_trial, trial_name

#: The search-space distributions a space file may use: Ray Tune's functions of the same names.
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint", "lograndint")
#: What marks a sweep directory (so that --force never deletes anything else).
SETTINGS = "sweep.yaml"


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter of the search space: ``choice`` of values, or a range ``[low, high]``."""

    key: str
    distribution: str
    values: tuple

    def to_tune(self) -> Any:
        from ray import tune

        make = getattr(tune, self.distribution)
        return make(list(self.values)) if self.distribution == "choice" else make(*self.values)


def load_space(path: Path, algo: str) -> list[Dimension]:
    """The search space of ``path``: a mapping of hyperparameter names (training/config.py's
    known numeric ones) to ``{choice: [v, ...]}`` or ``{uniform|loguniform|randint|lograndint:
    [low, high]}``; every value and bound is checked against the hyperparameter's range."""
    try:
        table = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the search space ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{path}: expected a mapping of hyperparameter names to distributions, "
                          "e.g. learning_rate: {loguniform: [1.0e-4, 3.0e-3]}")
    space = []
    for key, spec in table.items():
        where = f"{path}: field {key!r}"
        if key not in KNOWN:
            raise ConfigError(f"{where}: not a hyperparameter a sweep can search (known: {', '.join(KNOWN)})")
        if key == "n_timesteps":
            raise ConfigError(f"{where}: the budget of every trial is sweep.py --timesteps, not a search dimension")
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
            raise ConfigError(f"{where}: expected one of {', '.join(DISTRIBUTIONS)} with its values, "
                              "e.g. {choice: [128, 256]} or {loguniform: [1.0e-4, 3.0e-3]}")
        distribution, values = next(iter(spec.items()))
        number = KNOWN[key]
        if not isinstance(values, list) or not values or (distribution != "choice" and len(values) != 2):
            raise ConfigError(f"{where}: {distribution} needs "
                              f"{'a list of values' if distribution == 'choice' else '[low, high]'}")
        if distribution in ("randint", "lograndint") and number.kind is not int:
            raise ConfigError(f"{where}: {distribution} draws integers, but {key} is {number.describe()}")
        if distribution in ("uniform", "loguniform") and number.kind is int:
            raise ConfigError(f"{where}: {distribution} draws real numbers, but {key} is {number.describe()}: "
                              "use choice, randint or lograndint")
        checked = [number.check(_number(v)) for v in values]
        if any(c is None for c in checked):
            bad = values[checked.index(None)]
            raise ConfigError(f"{where}: {bad!r} is not {number.describe()}")
        if distribution != "choice" and not checked[0] < checked[1]:
            raise ConfigError(f"{where}: {distribution} needs low < high, got {values}")
        if distribution.startswith("log") and checked[0] <= 0:
            raise ConfigError(f"{where}: {distribution} needs a positive low bound, got {values[0]!r}")
        space.append(Dimension(key, distribution, tuple(checked)))
    return space


# --- the command line -----------------------------------------------------------------------
@dataclass
class Options:
    algo: str
    policy: str
    suite: str
    space: str | None
    hyperparams: str
    hp: list[str]
    samples: int
    seeds: int | None
    seed: int
    timesteps: int
    eval_freq: int
    eval_episodes: int
    n_envs: int | None
    max_services: int
    grace_period: int | None
    reduction_factor: int
    max_failures: int
    name: str | None
    runs_root: str
    force: bool
    address: str | None
    cpus: int | None


def parse_args(argv: list[str] | None) -> tuple[argparse.ArgumentParser, Options]:
    from train import Args, _non_negative, _positive  # train.py's own defaults and checks of counts

    p = OneLineParser(prog="sweep.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", default="maskable_ppo", help="algorithm, as train.py --algo (default: %(default)s)")
    p.add_argument("--policy", choices=("mlp", "graph"), default="mlp", help="as train.py --policy")
    p.add_argument("--suite", default="tutorial", help="suite to train on, as train.py --suite (default: %(default)s)")
    p.add_argument("--space", default=None,
                   help="search space file (default: sweeps/ALGO.yml beside the --hyperparams files)")
    p.add_argument("--hyperparams", default="hyperparams",
                   help="the configuration the space varies (or --seeds trains), as train.py --hyperparams")
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="as train.py --hp (repeatable)")
    p.add_argument("--samples", type=_positive, default=4, help="trials of the search (default: %(default)s)")
    p.add_argument("--seeds", type=_positive, default=None, metavar="N",
                   help="instead of a search: train the configuration with N seeds and tabulate the spread")
    p.add_argument("--seed", type=_non_negative, default=0,
                   help="seed of every trial of a search (and of its sampling); the first seed of --seeds")
    p.add_argument("--timesteps", type=_positive, default=20_000, help="steps per trial (default: %(default)s)")
    p.add_argument("--eval-freq", type=_positive, default=5_000, help="steps between evaluations (and reports)")
    p.add_argument("--eval-episodes", type=_positive, default=30, help="episodes per evaluation")
    p.add_argument("--n-envs", type=_positive, default=None, help="as train.py --n-envs")
    p.add_argument("--max-services", type=_positive, default=Args.max_services, help="as train.py --max-services")
    p.add_argument("--grace-period", type=_positive, default=None,
                   help="ASHA: steps before a trial may be stopped (default: --eval-freq)")
    p.add_argument("--reduction-factor", type=_positive, default=2,
                   help="ASHA: keep the best 1/F of the trials at each rung (default: %(default)s)")
    p.add_argument("--max-failures", type=_non_negative, default=1, help="retries of a failed trial")
    p.add_argument("--name", default=None, help="sweep directory under --runs-root (default: sweep_ALGO_SUITE, "
                                                "or seeds_ALGO_SUITE)")
    p.add_argument("--runs-root", default="runs", help="where runs live (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="replace an existing sweep directory")
    p.add_argument("--address", default=None, help="an existing Ray cluster (e.g. HOST:6379 or auto)")
    p.add_argument("--cpus", type=_positive, default=None, help="CPUs of the local Ray instance (default: all)")
    options = Options(**vars(p.parse_args(argv)))
    if options.address is not None and options.cpus is not None:
        p.error("--cpus sizes a local Ray instance: it does not combine with --address")
    if options.reduction_factor < 2:
        p.error("--reduction-factor must be at least 2")
    return p, options


def trial_base_argv(o: Options) -> list[str]:
    """train.py's options shared by every trial (paths absolute: a trial runs in Tune's directory)."""
    suite = str(Path(o.suite).resolve()) if Path(o.suite).suffix in (".yaml", ".yml") else o.suite
    argv = ["--algo", o.algo, "--policy", o.policy, "--suite", suite, "--timesteps", str(o.timesteps),
            "--hyperparams", str(Path(o.hyperparams).resolve()), "--eval-freq", str(o.eval_freq),
            "--eval-episodes", str(o.eval_episodes), "--checkpoint-freq", str(o.eval_freq),
            "--max-services", str(o.max_services)]
    if o.n_envs is not None:
        argv += ["--n-envs", str(o.n_envs)]
    for item in o.hp:
        argv += ["--hp", item]
    return argv


def check(o: Options, space: list[Dimension]) -> None:
    """train.py's own checks of the fixed settings, and of the space's bounds as trial settings:
    a bad value stops here, before Ray starts."""
    import train

    base = trial_base_argv(o)
    train.plan(train.parse_args(base))
    for dim in space:
        for value in dim.values if dim.distribution == "choice" else dim.values[:1]:
            train.plan(train.parse_args([*base, "--hp", hp_option(dim.key, value)]))


def default_space(o: Options) -> Path:
    """``sweeps/<algo>.yml`` beside the hyperparameter files (in the --hyperparams folder, or beside the file)."""
    hyperparams = Path(o.hyperparams)
    return (hyperparams if hyperparams.is_dir() else hyperparams.parent) / "sweeps" / f"{o.algo}.yml"


def sweep_dir(o: Options) -> Path:
    """``runs_root/name``, new, or an old sweep directory replaced with --force."""
    name = o.name or f"{'seeds' if o.seeds else 'sweep'}_{o.algo}_{Path(o.suite).stem}"
    root = Path(o.runs_root).resolve()
    path = (root / name).resolve()
    if path == root or root not in path.parents:
        raise RunDirError(f"sweep name {name!r} must name a directory inside {o.runs_root}/")
    if path.exists() and any(path.iterdir()):
        if not (path / SETTINGS).is_file():
            raise RunDirError(f"{path} is not empty and is not a sweep directory (no {SETTINGS}): "
                              "choose another --name")
        if not o.force:
            raise RunDirError(f"{path} already holds a sweep: pass --force to replace it")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser, o = parse_args(argv)
    try:
        space = [] if o.seeds else load_space(Path(o.space) if o.space else default_space(o), o.algo)
        check(o, space)  # the arguments first: a bad one is reported whether or not Ray is installed
        import_ray()
        if o.address is not None:
            host_and_port(o.address)
        where = sweep_dir(o)
    except (RayUnavailable, ConfigError, RunDirError, ModelLoadError, SuiteError) as error:  # as train.py's
        parser.error(str(error))
    command = shlex.join([sys.executable, "sweep.py", *(sys.argv[1:] if argv is None else argv)])
    atomic_write(where / SETTINGS, yaml.safe_dump({"options": vars(o), "command": command,
                                                   "space": [vars(d) | {"values": list(d.values)} for d in space]},
                                                  sort_keys=False).encode())
    try:
        with ray_session(o.address, o.cpus) as cpus:
            print(f"sweep {where} on Ray ({cpus} CPUs); TensorBoard: tensorboard --logdir {where}")
            results = tune_trials(o, space, where)
    except RayUnavailable as error:
        parser.error(str(error))
    rows = summary_rows(o, results)
    finished = [r for r in rows if not r["status"].startswith("error") and not math.isnan(r["final_score"])]
    if o.seeds:
        report = seed_table(rows)
        atomic_write(where / "seeds.md", (report + "\n").encode())
    else:
        report = trial_table(o, space, rows)
        if finished:  # the best final score of the trials that ran to the budget (ASHA's survivors)
            complete = [r for r in finished if r["status"] == "finished"] or finished
            best = max(complete, key=lambda r: r["final_score"])
            write_best(o, where, best)
            report += (f"\n\nbest: {best['trial']} (final score {best['final_score']:.1f}) -> {where / 'best.yml'}\n"
                       f"train it: {train_best_command(o, where)}")
    strict = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()} for r in rows]
    atomic_write(where / "summary.json", json.dumps(strict, indent=2, allow_nan=False).encode())  # NaN: null
    atomic_write(where / "summary.md", (report + "\n").encode())
    print(report)
    print(f"\nwrote {where}/: {SETTINGS}, summary.md, summary.json{', seeds.md' if o.seeds else ', best.yml'}, "
          f"{', '.join(trial_name(i) for i in range(len(rows)))}")
    return 0 if finished else 1


def tune_trials(o: Options, space: list[Dimension], where: Path) -> list[Any]:
    """Run the trials with Tune; one result per trial, in trial order."""
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"  # no TensorBoard files of Tune's: the trials' tb/ are
    from ray import tune                                   # the curves, and only they are under the sweep directory
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    trials = o.seeds or o.samples
    if o.seeds:  # one configuration, seeds --seed ...: every trial runs to the end
        param_space = {"index": tune.grid_search(list(range(trials))),
                       "seed": tune.sample_from(lambda spec: o.seed + spec.config["index"]), "hyperparameters": {}}
        scheduler = FIFOScheduler()
    else:  # the same seed, a fresh draw of the space per trial
        param_space = {"index": tune.grid_search(list(range(trials))), "seed": o.seed,
                       "hyperparameters": {d.key: d.to_tune() for d in space}}
        scheduler = ASHAScheduler(time_attr=TIME_ATTR, max_t=o.timesteps, grace_period=o.grace_period or o.eval_freq,
                                  reduction_factor=o.reduction_factor)
    trainable = tune.with_resources(tune.with_parameters(run_trial, base_argv=trial_base_argv(o), sweep_dir=str(where)),
                                    {"cpu": 1})
    tuner = tune.Tuner(
        trainable, param_space=param_space,
        tune_config=tune.TuneConfig(metric=METRIC, mode="max", scheduler=scheduler, num_samples=1,
                                    search_alg=BasicVariantGenerator(random_state=o.seed)),
        run_config=tune.RunConfig(name="tune", storage_path=str(where), verbose=1,
                                  callbacks=[JsonLoggerCallback(), CSVLoggerCallback()],  # each trial's history
                                  failure_config=tune.FailureConfig(max_failures=o.max_failures)))
    grid = tuner.fit()
    return sorted((grid[i] for i in range(len(grid))), key=lambda r: r.config["index"])


def summary_rows(o: Options, results: list[Any]) -> list[dict[str, Any]]:
    """One row per trial: its settings, status (finished, stopped by ASHA, error) and scores."""
    rows = []
    for result in results:
        index, metrics = result.config["index"], result.metrics or {}
        history = result.metrics_dataframe
        scores = [] if history is None or METRIC not in history else [s for s in history[METRIC] if not math.isnan(s)]
        steps = int(metrics.get(TIME_ATTR, 0))
        if result.error is not None:
            cause = getattr(result.error, "cause", None) or result.error  # the trial's own exception
            status = f"error: {type(cause).__name__}: {(str(cause).strip().splitlines() or [''])[0][:160]}"
        elif steps >= o.timesteps:
            status = "finished"
        else:
            status = f"stopped by ASHA at {steps} steps"
        rows.append({"trial": trial_name(index), "seed": result.config["seed"],
                     "hyperparameters": result.config["hyperparameters"], "status": status, "steps": steps,
                     "final_score": metrics.get(METRIC, math.nan) if result.error is None else math.nan,
                     "best_score": max(scores, default=math.nan),
                     "resolve_rate": metrics.get("resolve_rate", math.nan)})
    return rows


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def trial_table(o: Options, space: list[Dimension], rows: list[dict[str, Any]]) -> str:
    keys = [d.key for d in space]
    lines = ["| trial | " + " | ".join(keys) + " | final score | best score | steps | status |",
             "|---|" + "---:|" * len(keys) + "---:|---:|---:|---|"]
    for r in rows:
        cells = [_cell(r["hyperparameters"].get(k, "")) for k in keys]
        lines.append(f"| {r['trial']} | " + " | ".join(cells)
                     + f" | {r['final_score']:.1f} | {r['best_score']:.1f} | {r['steps']} | {r['status']} |")
    return "\n".join(lines)


def seed_table(rows: list[dict[str, Any]]) -> str:
    """Each seed's final evaluation score, then their spread (mean, std, min, max)."""
    lines = ["| seed | final score | best score | resolve rate | status |", "|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['final_score']:.1f} | {r['best_score']:.1f} | {r['resolve_rate']:.0%} "
                     f"| {r['status']} |")
    finals = [r["final_score"] for r in rows if r["status"] == "finished"]
    if finals:
        std = statistics.stdev(finals) if len(finals) > 1 else math.nan
        lines += ["", f"final score over {len(finals)} seeds: mean {statistics.fmean(finals):.1f}, std {std:.1f}, "
                      f"min {min(finals):.1f}, max {max(finals):.1f}"]
    return "\n".join(lines)


def train_best_command(o: Options, where: Path) -> str:
    """The train.py command that trains the best configuration (with the sweep's train.py options)."""
    from train import Args

    extra = ["--policy", o.policy] if o.policy != "mlp" else []
    extra += ["--n-envs", str(o.n_envs)] if o.n_envs is not None else []
    extra += ["--max-services", str(o.max_services)] if o.max_services != Args.max_services else []
    return shlex.join(["python", "train.py", "--algo", o.algo, "--suite", o.suite, *extra,
                       "--hyperparams", str(where / "best.yml")])


def write_best(o: Options, where: Path, best: dict[str, Any]) -> None:
    """``best.yml``: the best trial's hyperparameters, as its config.yaml recorded them (every
    value it trained with), under the suite's entry: a file train.py --hyperparams reads."""
    from training.rundir import read_config

    hyperparams = read_config(where / best["trial"])["hyperparams"]
    header = (f"# best of {len(list(where.glob('trial_*')))} trials of {where.name} (sweep.py): {best['trial']}, "
              f"final score {best['final_score']:.1f} after {best['steps']} steps.\n"
              f"#   {train_best_command(o, where)}\n")
    body = yaml.safe_dump({entry_key(o.suite): hyperparams}, sort_keys=False)
    atomic_write(where / "best.yml", (header + body).encode())


if __name__ == "__main__":
    sys.exit(main())
