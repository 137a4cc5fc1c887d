"""The normalised score and its statistics.

**Normalised score.** For episode ``i`` of scenario ``c`` with return ``R_i``:

    score_i = 100 * (R_i - mean_random(c)) / (mean_oracle(c) - mean_random(c))

where ``mean_random(c)`` and ``mean_oracle(c)`` are the mean returns of the random agent and the
oracle over the same episodes of scenario ``c``. So 0 is the random agent and 100 the
privileged oracle, per scenario; both always run, as references.

**Statistics.** An agent's ``score`` is the mean of its episodes' normalised scores (the suite's
weighted mix), ``iqm`` their interquartile mean (rliable's IQM: the 25%-trimmed mean). The 95%
confidence intervals are percentile intervals of a stratified bootstrap — rliable's method:
episodes are resampled with replacement *within* each scenario, keeping its episode count —
computed with ``scipy.stats.bootstrap`` (seeded, with a given number of resamples).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: The agents that define 0 and 100 on the normalised scale; every evaluation plays them.
REFERENCES = ("random", "oracle")
#: Bootstrap resamples for the confidence intervals, unless told otherwise.
DEFAULT_REPS = 2000

Statistic = Callable[..., Any]


def normalised_score(returns: float | np.ndarray, random_return: float, oracle_return: float) -> float | np.ndarray:
    """The one score formula: 0 at the random agent's mean return, 100 at the oracle's (a span of
    zero is taken as one, so a degenerate scenario does not divide by zero)."""
    span = oracle_return - random_return
    return 100.0 * (returns - random_return) / (span if span != 0 else 1.0)


def normalised_scores(results: dict[str, list[dict[str, Any]]]) -> dict[str, np.ndarray]:
    """Per-episode normalised scores, per agent. ``results`` holds every agent's episode records
    (with ``scenario`` and ``return``), the references included, all on the same episodes."""
    scenarios = [r["scenario"] for r in results["random"]]
    for spec, records in results.items():
        if [r["scenario"] for r in records] != scenarios:
            raise RuntimeError(f"agent {spec} did not play the same episodes as the random agent")
    lo, hi = {}, {}
    for c in sorted(set(scenarios)):
        idx = [i for i, s in enumerate(scenarios) if s == c]
        lo[c] = np.mean([results["random"][i]["return"] for i in idx])
        hi[c] = np.mean([results["oracle"][i]["return"] for i in idx])
        if hi[c] <= lo[c]:
            warnings.warn(f"scenario {c}: the oracle's mean return ({hi[c]:.2f}) is not above the random agent's "
                          f"({lo[c]:.2f}) over {len(idx)} episode(s); its normalised scores are meaningless "
                          "(too few episodes?)", stacklevel=2)
    return {spec: np.array([normalised_score(r["return"], lo[c], hi[c]) for r, c in zip(records, scenarios)])
            for spec, records in results.items()}


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """The interquartile mean: the mean of the middle half."""
    from scipy.stats import trim_mean

    return trim_mean(x, 0.25, axis=axis)


def stratified_ci(scores: np.ndarray, strata: Sequence[str], statistic: Statistic, reps: int,
                  seed: int) -> tuple[float, float]:
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
