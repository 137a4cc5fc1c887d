"""Agents for supportgym: rule-based baselines, the privileged oracle, trained-policy adapters.

Every agent follows SB3's ``predict(observation, state=None, episode_start=None,
deterministic=True, action_masks=None) -> (action, state)`` protocol, so rule-based agents,
the oracle and trained models plug into evaluation and user code alike::

    import gymnasium as gym, supportgym
    from agents import make_agent

    env = gym.make("supportgym/Incident-v1", suite="standard")
    agent = make_agent("expert", env)          # or "runbook", "oracle", "runs/x/model.zip", ...
    obs, info = env.reset(seed=0)
    state, start, done = None, True, False
    while not done:
        action, state = agent.predict(obs, state=state, episode_start=[start], action_masks=info["action_mask"])
        obs, reward, terminated, truncated, info = env.step(int(action))
        start, done = False, terminated or truncated

Pass ``state`` back each step, as with RecurrentPPO: the rule-based agents keep their notes
about the episode there.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public names, by the module that defines them. They load on first use, so importing one
#: rule-based agent (``agents.expert``) does not load the registry, the oracle (which reads the
#: hidden world) or the trained-model adapters.
_PUBLIC = {
    "Agent": "agents.base",
    "BUILTIN_AGENTS": "agents.registry",
    "RULE_AGENTS": "agents.registry",
    "UnknownAgentError": "agents.registry",
    "make_agent": "agents.registry",
    "run_episode": "evaluation.play",
    "Desk": "agents.view",
    "View": "agents.view",
}
__all__ = ["Agent", "BUILTIN_AGENTS", "Desk", "RULE_AGENTS", "UnknownAgentError", "View", "make_agent", "run_episode"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
