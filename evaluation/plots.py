"""Figures of an evaluation: ``scores.png`` (score and IQM with CIs) and ``per_scenario.png`` (a
heatmap); and a training run's learning curve. matplotlib is imported only when a figure is drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evaluation.summary import Summary

FILES = ("scores.png", "per_scenario.png")


def _label(spec: str) -> str:
    return Path(spec).name if spec.endswith(".zip") else spec


SCORE_AXIS = "normalised score (0 = random, 100 = oracle)"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def write_plots(out: Path, shown: list[str], summary: dict[str, Summary]) -> None:
    plt = _pyplot()

    x = np.arange(len(shown))
    fig, ax = plt.subplots(figsize=(1.4 * len(shown) + 2, 4))
    for offset, key, label in ((-0.2, "score", "mean"), (0.2, "iqm", "IQM")):
        values = np.array([summary[s][key] for s in shown])
        ci = np.array([summary[s][key + "_ci"] for s in shown]).T
        ax.bar(x + offset, values, 0.4, yerr=np.abs(ci - values), capsize=4, label=label)
    ax.set_xticks(x, [_label(s) for s in shown], rotation=20)
    ax.set_ylabel(SCORE_AXIS)
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
    ax.set_xticks(range(len(shown)), [_label(s) for s in shown], rotation=20)
    ax.set_yticks(range(len(scenarios)), scenarios)
    for i in range(len(scenarios)):
        for j in range(len(shown)):
            ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="normalised score")
    ax.set_title("Normalised score per scenario")
    fig.tight_layout()
    fig.savefig(out / "per_scenario.png", dpi=120)
    plt.close(fig)


def write_learning_curve(path: Path, title: str, scores: list[tuple[int, float]], baselines: dict[str, float]) -> None:
    """The policy's score at each periodic evaluation (step, score), with the baselines' scores on
    the same episodes as reference lines."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    steps, values = zip(*scores)
    ax.plot(steps, values, marker="o", color="black", label="policy")
    for i, (name, score) in enumerate(sorted(baselines.items(), key=lambda b: (b[1], b[0]), reverse=True)):
        ax.axhline(score, linestyle="--", linewidth=1, color=f"C{i}", label=f"{name} ({score:.0f})")
    ax.set_xlabel("environment steps")
    ax.set_ylabel(SCORE_AXIS)
    ax.set_ylim(min(-20, min(values[1:] or values)), 110)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
