"""Periodic evaluation during training, on the same normalised scale and with the same summary
as evaluate.py (``evaluation``).

A fixed set of seeded episodes is played once by the rule-based baselines and the oracle (the
references and the TensorBoard reference lines), then by the policy at every evaluation. The
metrics are the summary's flat numbers (``evaluation.summary.FLAT_KEYS``), logged as ``eval/*``.
"""

from __future__ import annotations

import math

import numpy as np

from agents.registry import make_agent
from agents.trained import model_agent
from evaluation.play import EpisodePlan, Record, make_env, play
from evaluation.statistics import DEFAULT_REPS, normalised_scores
from evaluation.summary import Summary, flat, summarise

BASELINES = ("random", "naive", "runbook", "expert", "oracle")


class DomainEvaluator:
    """``evaluator(model) -> metrics`` on episodes with seeds ``seed .. seed + episodes - 1``."""

    def __init__(self, suite: str, episodes: int, seed: int, max_services: int, algo: str):
        self.plan = EpisodePlan(suite, episodes, seed, max_services)
        self.env = make_env(suite, max_services)
        self.algo = algo
        self._references: dict[str, list[Record]] | None = None

    def references(self) -> dict[str, list[Record]]:
        if self._references is None:
            self._references = {name: play(self.env, make_agent(name, self.env), self.plan) for name in BASELINES}
        return self._references

    def baselines(self) -> dict[str, dict[str, float]]:
        """Each baseline's metrics on the evaluation episodes."""
        refs = self.references()
        scores = normalised_scores(refs)
        return {name: scalars(self._summarise(refs[name], scores[name])) for name in BASELINES}

    def __call__(self, model) -> dict[str, float]:
        policy = model_agent(model, self.algo, self.env, "policy")
        records = play(self.env, policy, self.plan)
        scores = normalised_scores({**self.references(), "policy": records})["policy"]
        return scalars(self._summarise(records, scores))

    def _summarise(self, records: list[Record], scores: np.ndarray) -> Summary:
        return summarise(records, scores, DEFAULT_REPS, self.plan.seed)


def scalars(summary: Summary) -> dict[str, float]:
    """The summary as TensorBoard scalars: its flat numbers, NaN where undefined (no resolution)."""
    return {key: math.nan if value is None else value for key, value in flat(summary).items()}
