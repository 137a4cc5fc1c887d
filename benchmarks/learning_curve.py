"""Plot a run's learning curve from its TensorBoard logs: the policy's normalised score at each
periodic evaluation, with the baselines' scores on the same episodes as reference lines.

    python benchmarks/learning_curve.py runs/std --out docs/learning-curve-standard.png
    python benchmarks/learning_curve.py runs/graph --watched heldout --out heldout.png   # the watched suite
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from evaluation.plots import write_learning_curve


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
    parser.add_argument("--watched", metavar="SUITE", default=None,
                        help="plot the watched suite's curve (train.py --watch-suite: eval_SUITE/score)")
    args = parser.parse_args()
    scalars = read_scalars(args.run_dir)
    suffix = f"_{args.watched}" if args.watched else ""
    curve, prefix = f"eval{suffix}/score", f"baselines{suffix}/"
    if curve not in scalars:
        parser.error(f"{args.run_dir} has no {curve} in its TensorBoard logs")
    # Reference lines: each baseline's latest score (the same episodes at every evaluation).
    baselines = {tag[len(prefix):-len("_score")]: values[-1][1] for tag, values in scalars.items()
                 if tag.startswith(prefix) and tag.endswith("_score")}
    title = f"{args.run_dir.name}: periodic evaluation"
    if suffix:
        title += f" on {args.watched} (watched, not selected on)"
    write_learning_curve(args.out, title, scalars[curve], baselines)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
