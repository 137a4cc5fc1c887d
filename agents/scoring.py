"""The normalised score shared by evaluate.py and train.py's periodic evaluation.

For episode ``i`` of scenario ``c`` with return ``R_i``:
``score_i = 100 * (R_i - mean_random(c)) / (mean_oracle(c) - mean_random(c))``, with the random
agent's and the oracle's mean returns over the same episodes of ``c``: 0 is random, 100 oracle.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


def normalised_scores(results: dict[str, list[dict[str, Any]]]) -> dict[str, np.ndarray]:
    """Per-episode normalised scores (see the module docstring), per agent."""
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
    span = {c: hi[c] - lo[c] if hi[c] != lo[c] else 1.0 for c in lo}
    return {spec: np.array([100.0 * (r["return"] - lo[c]) / span[c] for r, c in zip(records, scenarios)])
            for spec, records in results.items()}
