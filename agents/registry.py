"""Agents by name: the built-in baselines, the oracle, and trained models by file path."""

from __future__ import annotations

from typing import Callable

import gymnasium as gym

from agents.base import Agent
from agents.expert import ExpertAgent
from agents.naive import NaiveAgent
from agents.oracle import OracleAgent
from agents.random_agent import RandomAgent
from agents.rule import RuleAgent
from agents.runbook import RunbookAgent
from agents.view import Desk

#: Rule-based agents: built from the observation layout and action table only.
RULE_AGENTS: dict[str, Callable[[Desk], RuleAgent]] = {
    "random": RandomAgent,
    "naive": NaiveAgent,
    "runbook": RunbookAgent,
    "expert": ExpertAgent,
}
BUILTIN_AGENTS = (*RULE_AGENTS, "oracle")


class UnknownAgentError(ValueError):
    pass


def is_model_spec(spec: str) -> bool:
    """A trained model is named by its saved file: ``path.zip`` or ``path.zip:algo``."""
    return spec.endswith(".zip") or ".zip:" in spec


def make_agent(spec: str, env: gym.Env) -> Agent:
    """The agent named ``spec`` for ``env``: a built-in name or a model file (see agents.trained).

    Rule-based agents receive only the env's observation layout and action table; the oracle
    receives the env itself (it is privileged).
    """
    if spec in RULE_AGENTS:
        return RULE_AGENTS[spec](Desk.of(env))
    if spec == "oracle":
        return OracleAgent(env)
    if is_model_spec(spec):
        from agents.trained import load_trained  # imports torch: only when a model is asked for

        return load_trained(spec, env)
    raise UnknownAgentError(f"unknown agent {spec!r}: use one of {', '.join(BUILTIN_AGENTS)}, "
                            "or a model file saved by stable-baselines3 (path.zip, optionally path.zip:algo)")
