"""One summary of an agent's episodes, with one set of keys, for every report and for training.

Per agent: ``score`` and ``score_ci``, ``iqm`` and ``iqm_ci`` (see ``evaluation.statistics``),
``resolve_rate`` (resolved and held), ``mean_time_to_resolve`` (over resolved-and-held episodes;
None if there are none), the means ``impact_minutes``, ``harmful_actions``, ``escalations``,
``wrong_closures`` and ``mean_return``, and ``per_scenario``: per scenario its ``episodes``,
``score``, ``resolve_rate`` and ``mean_return``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from evaluation.statistics import iqm, stratified_ci

#: Per-agent means: (summary key, episode field).
MEANS = (("impact_minutes", "impact_minutes"), ("harmful_actions", "harmful_actions"),
         ("escalations", "escalations"), ("wrong_closures", "wrong_closures"), ("mean_return", "return"))
#: The summary's numbers as flat columns (the CSV's, and the TensorBoard scalars of training).
FLAT_KEYS = ("score", "score_ci_low", "score_ci_high", "iqm", "iqm_ci_low", "iqm_ci_high", "resolve_rate",
             "mean_time_to_resolve", *(key for key, _ in MEANS))

Summary = dict[str, Any]


def summarise(records: list[dict[str, Any]], scores: np.ndarray, reps: int, seed: int) -> Summary:
    """One agent's summary from its episode records and their normalised scores."""
    strata = [r["scenario"] for r in records]
    held = np.array([r["resolved_and_held"] for r in records])
    ttr = [r["time_to_resolve"] for r in records if r["resolved_and_held"]]
    row: Summary = {
        "score": float(scores.mean()),
        "score_ci": list(stratified_ci(scores, strata, np.mean, reps, seed)),
        "iqm": float(iqm(scores)),
        "iqm_ci": list(stratified_ci(scores, strata, iqm, reps, seed)),
        "resolve_rate": float(held.mean()),
        "mean_time_to_resolve": float(np.mean(ttr)) if ttr else None,
    }
    for key, fld in MEANS:
        row[key] = float(np.mean([r[fld] for r in records]))
    per = defaultdict(list)
    for i, c in enumerate(strata):
        per[c].append(i)
    row["per_scenario"] = {c: {"episodes": len(idx), "score": float(scores[idx].mean()),
                               "resolve_rate": float(held[idx].mean()),
                               "mean_return": float(np.mean([records[i]["return"] for i in idx]))}
                           for c, idx in sorted(per.items())}
    return row


def summarise_all(results: dict[str, list[dict[str, Any]]], scores: dict[str, np.ndarray], reps: int,
                  seed: int) -> dict[str, Summary]:
    """Every agent's summary (``scores`` from ``evaluation.statistics.normalised_scores``)."""
    return {spec: summarise(records, scores[spec], reps, seed) for spec, records in results.items()}


def flat(summary: Summary) -> dict[str, float | None]:
    """The summary's numbers by ``FLAT_KEYS``: the CIs split into low and high, no per-scenario part."""
    both = {**summary, "score_ci_low": summary["score_ci"][0], "score_ci_high": summary["score_ci"][1],
            "iqm_ci_low": summary["iqm_ci"][0], "iqm_ci_high": summary["iqm_ci"][1]}
    return {key: both[key] for key in FLAT_KEYS}
