"""The shift benchmark: baselines (and trained closure policies) on seeded Shift-v0 shifts.

Every agent plays the same shifts (seeds ``seed .. seed + shifts - 1``). Writes a Markdown table
(shift return with a 95% bootstrap CI, its paired difference from the non-learning expert, time
to resolve, closure work) and a plot: time to resolve by incident index within the shift, and the
shift return, each with 95% CIs.

    python benchmarks/shift.py --shifts 200 --model runs/shift/closure.zip
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import supportgym  # noqa: F401  (registers the environments)
from agents.shift_agents import SHIFT_AGENTS, TrainedClosureAgent, make_shift_agent
from evaluation.statistics import DEFAULT_REPS, stratified_ci
from supportgym.shift.layout import ShiftLayout

REFERENCE = "shift-expert"
AGENT_NOTES = """Shift return: the sum of the shift's incident rewards (Incident-v1's terms, with the shift's \
`resolve_bonus: 0`) and the closure work's engineer time; higher is better. *vs expert*: the mean per-shift \
difference from `shift-expert` on the same seeds. *incidents*: per shift (quiet slots and permanently fixed \
weaknesses open none). *held*: share of incidents resolved and held. CIs: 95% percentile bootstrap \
(`evaluation.statistics`). All agents work the incidents as the expert does; they differ between incidents:

* `shift-expert`: no closure work.
* `shift-expert+rca`: an RCA naming the service it last remedied and that remedy, after every incident.
* `shift-learning-expert`: the RCA; on a recurrence, a permanent fix if it expects 3 or more further \
recurrences (its count per slot so far, times the slots left), else automation of the fix.
* `trained (...)`: a MaskablePPO closure policy (`train_shift.py`) deciding the closure work; incidents are \
worked by the expert."""


def run_shift(env: gym.Env, agent: Any, seed: int) -> dict[str, Any]:
    """One shift under the ``predict`` protocol; its ``episode_metrics``."""
    obs, info = env.reset(seed=seed)
    state, start = None, np.ones(1, dtype=bool)
    while True:
        action, state = agent.predict(obs, state=state, episode_start=start, deterministic=True,
                                      action_masks=info["action_mask"])
        start = np.zeros(1, dtype=bool)
        obs, _, terminated, truncated, info = env.step(int(action))
        if terminated or truncated:
            return dict(info["episode_metrics"])


def mean_ci(x: np.ndarray, reps: int, seed: int) -> tuple[float, float, float]:
    x = np.asarray(x, float)
    lo, hi = stratified_ci(x, ["all"] * len(x), np.mean, reps, seed)
    return float(x.mean()), lo, hi


def ttr_by_index(records: list[dict[str, Any]], most: int) -> np.ndarray:
    """(shifts, most) time to resolve of each shift's k-th incident (nan if unresolved or absent)."""
    out = np.full((len(records), most), np.nan)
    for i, r in enumerate(records):
        for k, inc in enumerate(r["per_incident"][:most]):
            out[i, k] = inc["time_to_resolve"]
    return out


def table(results: dict[str, list[dict[str, Any]]], reps: int, seed: int) -> str:
    ref = np.array([r["return"] for r in results[REFERENCE]])
    lines = [("| agent | shift return [95% CI] | vs expert (paired) [95% CI] | incidents | held | "
              "mean time to resolve (min) | RCAs (correct) | automations | permanent fixes | alert tunings |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, records in results.items():
        ret = np.array([r["return"] for r in records])
        m, lo, hi = mean_ci(ret, reps, seed)
        d, dlo, dhi = mean_ci(ret - ref, reps, seed)
        incidents = np.mean([r["incidents"] for r in records])
        held = sum(r["resolved_and_held"] for r in records) / max(1, sum(r["incidents"] for r in records))
        ttr = [inc["time_to_resolve"] for r in records for inc in r["per_incident"]
               if not math.isnan(inc["time_to_resolve"])]
        closure = {k: np.mean([r["closure"][k] for r in records]) for k in records[0]["closure"]}
        correct = np.mean([r["correct_rcas"] for r in records])
        diff = "—" if name == REFERENCE else f"{d:+.1f} [{dlo:+.1f}, {dhi:+.1f}]"
        lines.append(f"| {name} | {m:.1f} [{lo:.1f}, {hi:.1f}] | {diff} | {incidents:.1f} | {held:.0%} | "
                     f"{np.mean(ttr):.0f} | {closure['rca']:.1f} ({correct:.1f}) | {closure['automate']:.1f} | "
                     f"{closure['permanent_fix']:.1f} | {closure['tune_alert']:.1f} |")
    return "\n".join(lines)


def plot(results: dict[str, list[dict[str, Any]]], path: Path, most: int, reps: int, seed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [2, 1]})
    names = list(results)
    for j, name in enumerate(names):
        ttr = ttr_by_index(results[name], most)
        xs, ms, los, his = [], [], [], []
        for k in range(most):
            col = ttr[:, k][~np.isnan(ttr[:, k])]
            if len(col) < 5:
                continue
            m, lo, hi = mean_ci(col, reps, seed)
            xs.append(k + 1)
            ms.append(m)
            los.append(lo)
            his.append(hi)
        ax.plot(xs, ms, marker="o", label=name)
        ax.fill_between(xs, los, his, alpha=0.2)
        m, lo, hi = mean_ci(np.array([r["return"] for r in results[name]]), reps, seed)
        bx.bar(j, m, yerr=[[m - lo], [hi - m]], capsize=4, color=f"C{j}")
    ax.set_xlabel("incident index within the shift")
    ax.set_ylabel("time to resolve (simulated minutes; held resolutions)")
    ax.set_title("Time to resolve by incident index (mean, 95% CI)")
    ax.legend(fontsize=8)
    bx.set_xticks(range(len(names)), [n.replace("shift-", "") for n in names], rotation=20, fontsize=8)
    bx.set_ylabel("shift return")
    bx.set_title("Shift return (mean, 95% CI)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="standard")
    parser.add_argument("--shifts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", action="append", default=[], metavar="PATH[=NAME]",
                        help="a closure policy saved by train_shift.py (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("docs/shift.md"))
    parser.add_argument("--plot", type=Path, default=Path("docs/shift_ttr.png"))
    parser.add_argument("--reps", type=int, default=DEFAULT_REPS)
    parser.add_argument("--note", action="append", default=[], help="a line for the notes (e.g. a training command)")
    args = parser.parse_args(argv)

    env = gym.make("supportgym/Shift-v0", suite=args.suite, disable_env_checker=True)
    agents: dict[str, Any] = {name: make_shift_agent(name, env) for name in SHIFT_AGENTS}
    if args.model:
        import torch
        from sb3_contrib import MaskablePPO

        torch.set_num_threads(1)
        for spec in args.model:
            path, _, name = spec.partition("=")
            model = MaskablePPO.load(path, device="cpu")
            agents[name or f"trained ({Path(path).stem})"] = TrainedClosureAgent(
                model, ShiftLayout(int(env.unwrapped.layout.max_services)))
    results: dict[str, list[dict[str, Any]]] = {}
    for name, agent in agents.items():
        start = time.monotonic()
        results[name] = [run_shift(env, agent, args.seed + i) for i in range(args.shifts)]
        print(f"{name}: {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
    most = env.unwrapped.incidents
    text = table(results, args.reps, args.seed)
    given = list(argv if argv is not None else sys.argv[1:])
    shown = [a for i, a in enumerate(given) if a != "--note" and (i == 0 or given[i - 1] != "--note")]
    command = shlex.join(["python", "benchmarks/shift.py", *shown])  # the notes are below the table
    header = (f"# Shift-v0 benchmark\n\n<!-- Generated by benchmarks/shift.py: do not edit by hand. -->\n\n"
              f"Suite `{args.suite}`, {args.shifts} shifts (seeds {args.seed}..{args.seed + args.shifts - 1}), the "
              f"same for every agent. Written by `{command}`.\n\n")
    notes = "\n".join(["", "", AGENT_NOTES, *(f"* {n}" for n in args.note)]) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(header + text + notes + "\n![time to resolve by incident index and shift return]"
                        f"({args.plot.name})\n")
    plot(results, args.plot, most, args.reps, args.seed)
    print(text)


if __name__ == "__main__":
    main()
