"""Periodic evaluation during training, on the same normalised scale as evaluate.py.

A fixed set of seeded episodes is played once by the rule-based baselines and the oracle (the
references and the TensorBoard reference lines), then by the policy at every evaluation.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from agents.registry import make_agent
from agents.rollout import run_episode
from agents.scoring import normalised_scores
from agents.trained import TrainedAgent
from agents.view import Desk

BASELINES = ("random", "naive", "runbook", "expert", "oracle")


class DomainEvaluator:
    """``evaluator(model) -> metrics`` on episodes with seeds ``seed .. seed + episodes - 1``."""

    def __init__(self, suite: str, episodes: int, seed: int, max_services: int, algo: str):
        self.env = gym.make("supportgym/Incident-v0", suite=suite, max_services=max_services,
                            disable_env_checker=True)
        self.seeds = [seed + i for i in range(episodes)]
        self.algo = algo
        self._references: dict[str, list[dict[str, Any]]] | None = None

    def _play(self, agent) -> list[dict[str, Any]]:
        return [run_episode(self.env, agent, s) for s in self.seeds]

    def references(self) -> dict[str, list[dict[str, Any]]]:
        if self._references is None:
            self._references = {name: self._play(make_agent(name, self.env)) for name in BASELINES}
        return self._references

    def baselines(self) -> dict[str, dict[str, float]]:
        """Each baseline's metrics on the evaluation episodes."""
        refs = self.references()
        scores = normalised_scores(refs)
        return {name: summarise(refs[name], scores[name]) for name in BASELINES}

    def __call__(self, model) -> dict[str, float]:
        policy = TrainedAgent(model, self.algo, Desk.of(self.env), "policy")
        records = self._play(policy)
        scores = normalised_scores({**self.references(), "policy": records})["policy"]
        return summarise(records, scores)


def summarise(records: list[dict[str, Any]], scores: np.ndarray) -> dict[str, float]:
    held = [r for r in records if r["resolved_and_held"]]
    return {
        "score": float(np.mean(scores)),
        "resolve_rate": len(held) / len(records),
        "time_to_resolve": float(np.mean([r["time_to_resolve"] for r in held])) if held else float("nan"),
        "impact_minutes": float(np.mean([r["impact_minutes"] for r in records])),
        "harmful_actions": float(np.mean([r["harmful_actions"] for r in records])),
        "escalations": float(np.mean([r["escalations"] for r in records])),
        "mean_return": float(np.mean([r["return"] for r in records])),
    }
