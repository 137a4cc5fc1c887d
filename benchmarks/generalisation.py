"""The generalisation table: every baseline and trained policies on suites they did not train on.

    python benchmarks/generalisation.py --model "slot MLP=runs/std-warm-v1/model.zip" \\
        --model "graph policy=models/graph-v1.zip" --episodes 500 --seed 0 --out docs/generalisation.md

For each suite — ``standard``, ``hard``, ``heldout`` and generated 32-service systems
(``benchmarks/suites/large32.yaml``, larger than any training system) — it runs ``evaluate.py``
with the rule-based baselines and the models on the same seeded episodes (episode i: seed
SEED + i), keeps each run's outputs under ``--results``, and writes one Markdown table of
normalised scores (0 = random, 100 = oracle) with 95% stratified-bootstrap CIs, followed by the
exact commands. A model whose observation has fewer slots than a suite's largest system (a
slot MLP trained at 16 on 32-service systems) cannot play it: its cell says so.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from agents.graph.loading import graph_policy_name
from agents.safe_load import read_metadata
from supportgym.contract.vocabulary import N_SERVICE_ACTIONS, ActionKind

ROOT = Path(__file__).resolve().parent.parent
#: (suite as evaluate.py takes it, its label, the slots it needs)
SUITES = (("standard", "standard", 16), ("hard", "hard", 16), ("heldout", "heldout", 16),
          ("benchmarks/suites/large32.yaml", "generated, 32 services", 32))
BASELINES = ("random", "naive", "runbook", "expert", "oracle")


def model_slots(path: Path) -> int | None:
    """The slots a model was made for, or None for a graph policy (it plays any number)."""
    data = read_metadata(path)
    if graph_policy_name(data) is not None:
        return None
    actions = int(data["action_space"]["n"])
    return (actions - (len(ActionKind) - N_SERVICE_ACTIONS)) // N_SERVICE_ACTIONS  # Discrete(N * 10 + 15)


def run_suite(suite: str, slots: int, models: dict[str, Path], episodes: int, seed: int,
              out: Path) -> tuple[list[str], dict]:
    playable = [str(p) for p in models.values() if (model_slots(p) or slots) >= slots]
    command = [sys.executable, "evaluate.py", "--suite", suite, "--agents", ",".join([*BASELINES, *playable]),
               "--episodes", str(episodes), "--seed", str(seed), "--max-services", str(slots), "--out", str(out),
               "--no-progress"]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return command, json.loads((out / "results.json").read_text())


def cell(summary: dict | None) -> str:
    if summary is None:
        return "n/a (fixed slots)"
    lo, hi = summary["score_ci"]
    return f"{summary['score']:.1f} [{lo:.1f}, {hi:.1f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], metavar="LABEL=PATH",
                        help="a trained model and its column label (repeatable)")
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=Path("results/generalisation"),
                        help="where each suite's evaluate.py outputs go")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown table here (else print it)")
    args = parser.parse_args(argv)
    models: dict[str, Path] = {}
    for item in args.model:
        label, sep, path = item.partition("=")
        if not sep or not Path(path).is_file():
            parser.error(f"--model {item!r}: expected LABEL=PATH to a model file")
        models[label] = Path(path)

    header = ["suite", *BASELINES, *models]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    commands = []
    for suite, label, slots in SUITES:
        command, results = run_suite(suite, slots, models, args.episodes, args.seed,
                                     args.results / Path(suite).stem)
        commands.append(" ".join(command[1:-1]))
        agents = results["agents"]
        row = [cell(agents.get(name)) for name in BASELINES] + [cell(agents.get(str(p))) for p in models.values()]
        lines.append(f"| {label} | " + " | ".join(row) + " |")
        print(lines[-1], flush=True)
    text = "\n".join([
        f"Normalised score (0 = random, 100 = oracle) with 95% stratified-bootstrap CIs; {args.episodes} episodes "
        f"per suite, seeds {args.seed}..{args.seed + args.episodes - 1}, every agent on the same episodes.", "",
        *lines, "", "Made by `python benchmarks/generalisation.py " + " ".join(
            f'--model "{k}={v}"' for k, v in models.items()) + f" --episodes {args.episodes} --seed {args.seed}`, "
        "which ran:", "", "```bash", *(f"python {c}" for c in commands), "```", ""])
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
