"""Plot a run's learning curve from its TensorBoard logs: the policy's normalised score at each
periodic evaluation, with the baselines' scores on the same episodes as reference lines.

    python benchmarks/learning_curve.py runs/std --out docs/learning-curve-standard.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the run's event files, by tag, as (step, value) sorted by step."""
    series: dict[str, dict[int, float]] = {}
    for events in sorted((run_dir / "tb").rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            series.setdefault(tag, {}).update({e.step: e.value for e in acc.Scalars(tag)})
    return {tag: sorted(points.items()) for tag, points in series.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a train.py run directory")
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    args = parser.parse_args()
    scalars = read_scalars(args.run_dir)
    if "eval/score" not in scalars:
        parser.error(f"{args.run_dir} has no eval/score in its TensorBoard logs")
    fig, ax = plt.subplots(figsize=(7, 4))
    steps, scores = zip(*scalars["eval/score"])
    ax.plot(steps, scores, marker="o", color="black", label="policy")
    baselines = sorted(((values[-1][1], tag[len("baselines/"):-len("_score")]) for tag, values in scalars.items()
                        if tag.startswith("baselines/") and tag.endswith("_score")), reverse=True)
    for i, (score, name) in enumerate(baselines):
        ax.axhline(score, linestyle="--", linewidth=1, color=f"C{i}", label=f"{name} ({score:.0f})")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("normalised score (random 0, oracle 100)")
    ax.set_ylim(min(-20, min(scores[1:] or scores)), 110)
    ax.set_title(f"{args.run_dir.name}: periodic evaluation")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
