"""Benchmark agents on a scenario suite, with honest statistics.

    python evaluate.py --suite standard --agents random,naive,runbook,expert,oracle,runs/x/model.zip \\
        --episodes 200 --seed 0 --out results/std [--workers 4]

Agents are the built-in names (random, naive, runbook, expert, oracle) or SB3 / sb3-contrib
model files (``path.zip``, or ``path.zip:algo`` with algo one of ppo, maskable_ppo,
recurrent_ppo, dqn). Model files are unpickled: pass only files you trust.

**Episodes.** Episode ``i`` (0 <= i < episodes) resets the environment with seed
``seed + i``; the scenario is the suite's weighted draw under that seed, so the suite's mix is
respected and every agent plays exactly the same episodes. ``--workers N`` spreads episodes over
N processes; results are identical to ``--workers 1`` (episodes are independent and sorted by
index), and the same seed gives the same numbers.

**Normalised score.** For episode ``i`` of scenario ``c`` with return ``R_i``:

    score_i = 100 * (R_i - mean_random(c)) / (mean_oracle(c) - mean_random(c))

where ``mean_random(c)`` and ``mean_oracle(c)`` are the mean returns of the random agent and the
oracle over this run's episodes of scenario ``c`` (same seeds). So 0 is the random agent and
100 the privileged oracle, per scenario; both always run, as references, even if not asked for.

**Statistics.** An agent's ``score`` is the mean of its episodes' normalised scores (the suite's
weighted mix), ``iqm`` their interquartile mean (rliable's IQM: the 25%-trimmed mean). The 95%
confidence intervals are percentile intervals of a stratified bootstrap — rliable's method:
episodes are resampled with replacement *within* each scenario, keeping its episode count —
computed with ``scipy.stats.bootstrap`` (``--reps`` resamples, seeded by ``--seed``).

**Outputs** in ``--out``: ``results.json`` (suite, episodes, seed and per agent: score,
score_ci, iqm, iqm_ci, resolve_rate, mean_time_to_resolve, impact_minutes, harmful_actions,
escalations, wrong_closures, mean_return and per_scenario scores), ``results.csv`` (one row
per agent), ``episodes.csv`` (one row per agent and episode), ``results.md`` (Markdown
tables), ``scores.png`` (score and IQM with CIs) and ``per_scenario.png`` (heatmap).

Exit status: 0 on success, 2 for bad arguments (unknown agent or suite), 1 for a model file
that cannot be used or another runtime error; the message says what went wrong.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing as mp
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

REFERENCES = ("random", "oracle")
#: Episode metrics kept per episode (from ``info["episode_metrics"]``).
EPISODE_FIELDS = ("scenario", "return", "resolved_and_held", "time_to_mitigate", "time_to_resolve", "impact_minutes",
                  "harmful_actions", "invalid_actions", "escalations", "wrong_closures", "validated",
                  "declared_severity", "true_severity", "steps")
#: Per-agent means reported in the table: (results.json key, episode field).
MEANS = (("impact_minutes", "impact_minutes"), ("harmful_actions", "harmful_actions"),
         ("escalations", "escalations"), ("wrong_closures", "wrong_closures"), ("mean_return", "return"))


# --- running episodes ----------------------------------------------------------------------
_CACHE: dict[tuple, Any] = {}  # per process: environments and agents, built once


def _env(suite: str, max_services: int):
    import gymnasium as gym

    import supportgym  # noqa: F401  (registers the environment)

    key = ("env", suite, max_services)
    if key not in _CACHE:
        _CACHE[key] = gym.make("supportgym/Incident-v0", suite=suite, max_services=max_services,
                               disable_env_checker=True)
    return _CACHE[key]


def _agent(spec: str, suite: str, max_services: int):
    from agents.registry import make_agent

    key = ("agent", spec, suite, max_services)
    if key not in _CACHE:
        _CACHE[key] = make_agent(spec, _env(suite, max_services))
    return _CACHE[key]


def run_chunk(task: tuple[str, str, int, int, list[int]]) -> tuple[str, list[dict[str, Any]]]:
    """Play episodes ``indices`` (seed = base seed + index) with one agent. Runs in a worker."""
    from agents.rollout import run_episode

    spec, suite, max_services, seed, indices = task
    env, agent = _env(suite, max_services), _agent(spec, suite, max_services)
    out = []
    for i in indices:
        metrics = run_episode(env, agent, seed + i)
        out.append({"episode": i, "seed": seed + i, **{k: metrics[k] for k in EPISODE_FIELDS}})
    return spec, out


def _worker_init() -> None:
    _single_thread_torch()


def _single_thread_torch() -> None:
    """One torch thread per process: workers do not fight over cores, and a policy computes
    the same numbers in any process."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def run_all(specs: list[str], suite: str, max_services: int, episodes: int, seed: int, workers: int,
            progress: bool) -> dict[str, list[dict[str, Any]]]:
    """Every agent on episodes 0..episodes-1; per agent, episode records in index order."""
    from tqdm import tqdm

    chunk = max(1, math.ceil(episodes / (4 * workers)))
    tasks = [(spec, suite, max_services, seed, list(range(lo, min(lo + chunk, episodes))))
             for spec in specs for lo in range(0, episodes, chunk)]
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with tqdm(total=episodes * len(specs), desc="episodes", unit="ep", disable=not progress, file=sys.stderr) as bar:
        if workers == 1:
            for task in tasks:
                spec, records = run_chunk(task)
                results[spec] += records
                bar.update(len(records))
        else:
            with mp.get_context("spawn").Pool(workers, initializer=_worker_init) as pool:
                for spec, records in pool.imap_unordered(run_chunk, tasks):
                    results[spec] += records
                    bar.update(len(records))
    return {spec: sorted(results[spec], key=lambda r: r["episode"]) for spec in specs}


# --- statistics (normalised_scores lives in agents.scoring, shared with train.py) --------------
def _iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    from scipy.stats import trim_mean

    return trim_mean(x, 0.25, axis=axis)


def stratified_ci(scores: np.ndarray, strata: list[str], statistic, reps: int, seed: int) -> tuple[float, float]:
    """95% percentile CI of ``statistic`` over a stratified bootstrap: resampling with
    replacement within each stratum (``scipy.stats.bootstrap`` with one sample per stratum).
    A stratum of one episode resamples to itself, so it enters as a constant."""
    from scipy.stats import bootstrap

    groups = defaultdict(list)
    for x, s in zip(scores, strata):
        groups[s].append(x)
    samples = [np.array(v) for _, v in sorted(groups.items()) if len(v) > 1]
    fixed = np.array([v[0] for _, v in sorted(groups.items()) if len(v) == 1])
    if not samples:
        point = float(statistic(np.asarray(scores)))
        return point, point

    def stat(*resampled, axis=-1):
        parts = [np.broadcast_to(fixed, (*resampled[0].shape[:-1], len(fixed)))] if len(fixed) else []
        return statistic(np.concatenate([*resampled, *parts], axis=-1), axis=-1)

    res = bootstrap(samples, stat, paired=False, vectorized=True, n_resamples=reps, method="percentile",
                    confidence_level=0.95, rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarise(results: dict[str, list[dict[str, Any]]], scores: dict[str, np.ndarray], reps: int,
              seed: int) -> dict[str, dict[str, Any]]:
    out = {}
    for spec, records in results.items():
        score, strata = scores[spec], [r["scenario"] for r in records]
        held = np.array([r["resolved_and_held"] for r in records])
        ttr = [r["time_to_resolve"] for r in records if r["resolved_and_held"]]
        row: dict[str, Any] = {
            "score": float(score.mean()),
            "score_ci": list(stratified_ci(score, strata, np.mean, reps, seed)),
            "iqm": float(_iqm(score)),
            "iqm_ci": list(stratified_ci(score, strata, _iqm, reps, seed)),
            "resolve_rate": float(held.mean()),
            "mean_time_to_resolve": float(np.mean(ttr)) if ttr else None,
        }
        for key, fld in MEANS:
            row[key] = float(np.mean([r[fld] for r in records]))
        per = defaultdict(list)
        for i, c in enumerate(strata):
            per[c].append(i)
        row["per_scenario"] = {c: {"episodes": len(idx), "score": float(score[idx].mean()),
                                   "resolve_rate": float(held[idx].mean()),
                                   "mean_return": float(np.mean([records[i]["return"] for i in idx]))}
                               for c, idx in sorted(per.items())}
        out[spec] = row
    return out


# --- reporting ------------------------------------------------------------------------------
def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def summary_rows(summary: dict[str, dict[str, Any]], shown: list[str], requested: list[str]) -> list[list[str]]:
    """One row per agent; agents run only as references (not requested) are marked so."""
    rows = []
    for spec in shown:
        s = summary[spec]
        label = spec if spec in requested else f"{spec} (reference)"
        rows.append([label, _fmt(s["score"]), f"[{_fmt(s['score_ci'][0])}, {_fmt(s['score_ci'][1])}]",
                     _fmt(s["iqm"]), f"[{_fmt(s['iqm_ci'][0])}, {_fmt(s['iqm_ci'][1])}]",
                     _fmt(100 * s["resolve_rate"], ".0f") + "%", _fmt(s["mean_time_to_resolve"]),
                     _fmt(s["impact_minutes"]), _fmt(s["harmful_actions"], ".2f"), _fmt(s["escalations"], ".2f"),
                     _fmt(s["wrong_closures"], ".2f"), _fmt(s["mean_return"], ".2f")])
    return rows


HEADER = ["agent", "score", "95% CI", "IQM", "IQM 95% CI", "resolved+held", "time to resolve", "impact min",
          "harmful", "escalations", "wrong closures", "return"]


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def scenario_rows(summary: dict[str, dict[str, Any]], shown: list[str]) -> tuple[list[str], list[list[str]]]:
    scenarios = list(summary[shown[0]]["per_scenario"])
    header = ["scenario", "episodes", *shown]
    rows = [[c, str(summary[shown[0]]["per_scenario"][c]["episodes"]),
             *(_fmt(summary[s]["per_scenario"][c]["score"]) for s in shown)] for c in scenarios]
    return header, rows


def write_outputs(out: Path, args: argparse.Namespace, shown: list[str], results: dict, summary: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    doc = {"suite": args.suite, "episodes": args.episodes, "seed": args.seed, "max_services": args.max_services,
           "bootstrap_resamples": args.reps, "references": list(REFERENCES), "requested": args.agents,
           "agents": {s: summary[s] for s in shown}}
    (out / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        keys = ["score", "score_ci_low", "score_ci_high", "iqm", "iqm_ci_low", "iqm_ci_high", "resolve_rate",
                "mean_time_to_resolve", *(k for k, _ in MEANS)]
        w.writerow(["agent", *keys])
        for s in shown:
            row = summary[s]
            flat = {**row, "score_ci_low": row["score_ci"][0], "score_ci_high": row["score_ci"][1],
                    "iqm_ci_low": row["iqm_ci"][0], "iqm_ci_high": row["iqm_ci"][1]}
            w.writerow([s, *("" if flat[k] is None else flat[k] for k in keys)])
    with open(out / "episodes.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["agent", "episode", "seed", *EPISODE_FIELDS])
        for s in shown:
            for r in results[s]:
                w.writerow([s, r["episode"], r["seed"], *(r[k] for k in EPISODE_FIELDS)])
    header, rows = scenario_rows(summary, shown)
    md = [f"# supportgym evaluation: suite `{args.suite}`", "",
          f"{args.episodes} episodes (seeds {args.seed}..{args.seed + args.episodes - 1}); normalised score: "
          "0 = random, 100 = oracle (per scenario); 95% CIs from a stratified bootstrap over episodes "
          f"({args.reps} resamples).", "", markdown_table(HEADER, summary_rows(summary, shown, args.agents)), "",
          "## Normalised score per scenario", "", markdown_table(header, rows), ""]
    (out / "results.md").write_text("\n".join(md))
    plot(out, shown, summary)


def plot(out: Path, shown: list[str], summary: dict[str, dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(shown))
    fig, ax = plt.subplots(figsize=(1.4 * len(shown) + 2, 4))
    for offset, key, label in ((-0.2, "score", "mean"), (0.2, "iqm", "IQM")):
        values = np.array([summary[s][key] for s in shown])
        ci = np.array([summary[s][key + "_ci"] for s in shown]).T
        ax.bar(x + offset, values, 0.4, yerr=np.abs(ci - values), capsize=4, label=label)
    ax.set_xticks(x, [Path(s).name if s.endswith(".zip") else s for s in shown], rotation=20)
    ax.set_ylabel("normalised score (0 = random, 100 = oracle)")
    ax.axhline(0, color="black", lw=0.5)
    ax.legend()
    ax.set_title("Normalised score with 95% stratified-bootstrap CIs")
    fig.tight_layout()
    fig.savefig(out / "scores.png", dpi=120)
    plt.close(fig)

    scenarios = list(summary[shown[0]]["per_scenario"])
    grid = np.array([[summary[s]["per_scenario"][c]["score"] for s in shown] for c in scenarios])
    fig, ax = plt.subplots(figsize=(1.2 * len(shown) + 3, 0.32 * len(scenarios) + 1.5))
    im = ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(shown)), [Path(s).name if s.endswith(".zip") else s for s in shown], rotation=20)
    ax.set_yticks(range(len(scenarios)), scenarios)
    for i in range(len(scenarios)):
        for j in range(len(shown)):
            ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="normalised score")
    ax.set_title("Normalised score per scenario")
    fig.tight_layout()
    fig.savefig(out / "per_scenario.png", dpi=120)
    plt.close(fig)


# --- command line ---------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See the module docstring (python -c 'import evaluate; help(evaluate)') for the "
                                       "exact score definition and statistics.")
    p.add_argument("--suite", default="standard", help="built-in suite name or path to a suite file (default standard)")
    p.add_argument("--agents", default="random,naive,runbook,expert,oracle",
                   help="comma-separated agents: random, naive, runbook, expert, oracle, or model files path.zip[:algo]")
    p.add_argument("--episodes", type=int, default=200, help="episodes per agent (default 200)")
    p.add_argument("--seed", type=int, default=0, help="episode i uses seed SEED + i (default 0)")
    p.add_argument("--out", type=Path, default=None, help="directory for results.json, CSVs, Markdown and plots")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1; results do not depend on it)")
    p.add_argument("--max-services", type=int, default=None,
                   help="observation/action padding (default: the environment's default, 16)")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples for the CIs (default 2000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    args.agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    if not args.agents:
        p.error("--agents is empty")
    if len(set(args.agents)) != len(args.agents):
        p.error("--agents names an agent twice")
    for name, value, low in (("--episodes", args.episodes, 1), ("--workers", args.workers, 1), ("--reps", args.reps, 100)):
        if value < low:
            p.error(f"{name} must be at least {low}")
    return p, args


def main(argv: list[str] | None = None) -> int:
    parser, args = parse_args(argv)
    from agents.registry import BUILTIN_AGENTS, is_model_spec
    from agents.scoring import normalised_scores
    from agents.trained import ModelLoadError
    from supportgym.env import DEFAULT_MAX_SERVICES
    from supportgym.suite import SuiteError

    for spec in args.agents:
        if spec not in BUILTIN_AGENTS and not is_model_spec(spec):
            parser.error(f"unknown agent {spec!r}: use one of {', '.join(BUILTIN_AGENTS)}, or a model file "
                         "saved by stable-baselines3 (path.zip, optionally path.zip:algo)")
    args.max_services = args.max_services or DEFAULT_MAX_SERVICES
    try:
        _env(args.suite, args.max_services)
    except SuiteError as e:
        parser.error(f"--suite: {e}")
    except ValueError as e:
        parser.error(str(e))
    specs = list(REFERENCES) + [s for s in args.agents if s not in REFERENCES]
    try:
        for spec in specs:  # load every agent once here, so a bad model file fails before any work
            _agent(spec, args.suite, args.max_services)
        _single_thread_torch()
        results = run_all(specs, args.suite, args.max_services, args.episodes, args.seed, args.workers,
                          progress=not args.no_progress)
    except ModelLoadError as e:
        print(f"evaluate.py: error: {e}", file=sys.stderr)
        return 1
    scores = normalised_scores(results)
    summary = summarise(results, scores, args.reps, args.seed)
    shown = list(args.agents) + [r for r in REFERENCES if r not in args.agents]
    print(f"suite {args.suite}: {args.episodes} episodes per agent, seeds {args.seed}..{args.seed + args.episodes - 1}; "
          "normalised score 0 = random, 100 = oracle; 95% stratified-bootstrap CIs")
    print(text_table(HEADER, summary_rows(summary, shown, args.agents)))
    print()
    print(text_table(*scenario_rows(summary, shown)))
    if args.out is not None:
        write_outputs(args.out, args, shown, results, summary)
        print(f"\nwrote {args.out}/results.json, results.csv, episodes.csv, results.md, scores.png, per_scenario.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
