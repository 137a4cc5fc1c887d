"""Loading a graph-policy model at any ``max_services``, safely, and playing it as an agent."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th

from agents.graph.policies import GraphPolicy, MaskableGraphPolicy
from agents.safe_load import ModelLoadError, load_model, read_metadata


#: Policy class name -> (algorithm module, class).
GRAPH_ALGORITHMS = {"GraphPolicy": ("stable_baselines3", "PPO"),
                    "MaskableGraphPolicy": ("sb3_contrib", "MaskablePPO")}
_POLICY_CLASSES = {"GraphPolicy": GraphPolicy, "MaskableGraphPolicy": MaskableGraphPolicy}


def graph_policy_name(data: dict[str, Any]) -> str | None:
    """The graph policy class named by an SB3 zip's plain-JSON ``data`` entry, or None."""
    entry = data.get("policy_class")
    init = entry.get("__init__", "") if isinstance(entry, dict) else ""
    return next((name for name in GRAPH_ALGORITHMS if f"<function {name}.__init__" in str(init)), None)


def load_graph_policy(path: str | Path, env: gym.Env, device: str = "cpu"):
    """Load a PPO / MaskablePPO model with a graph policy for ``env``, whatever ``max_services`` it
    was trained at: the saved spaces are replaced by ``env``'s, the policy is built for them and
    the saved weights (which do not depend on the slot count) are loaded into it.

    ``env`` must give the observation the policy was trained on. Like every model load, this runs no code from the file
    (agents/safe_load.py); the policy class comes from :mod:`agents.graph.policies`.
    """
    path = Path(path)
    policy_name = graph_policy_name(read_metadata(path))
    if policy_name is None:
        raise ModelLoadError(f"{path} was not trained with a graph policy ({', '.join(GRAPH_ALGORITHMS)})")
    module, cls_name = GRAPH_ALGORITHMS[policy_name]
    algorithm = getattr(importlib.import_module(module), cls_name)
    return load_model(algorithm, path, device=device,
                      replace={"policy_class": _POLICY_CLASSES[policy_name], "observation_space": env.observation_space,
                               "action_space": env.action_space})


class GraphPolicyAgent:
    """A graph-policy model behind the agents' ``predict`` protocol (masked actions excluded for
    PPO and MaskablePPO alike), so ``evaluate.py`` hands it the same observations as every other
    agent."""

    def __init__(self, model: Any, env: gym.Env, name: str = "graph"):
        self.model, self.env, self.name = model, env, name
        self.max_services = int(model.policy.max_services)
        self.model.policy.set_training_mode(False)

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True, action_masks: np.ndarray | None = None) -> tuple[np.ndarray, Any]:
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        batch = obs[None] if single else obs
        tensor, _ = self.model.policy.obs_to_tensor(batch)
        with th.no_grad():
            logits = self.model.policy.get_distribution(tensor).distribution.logits
            if action_masks is not None:  # act only among allowed actions, PPO and MaskablePPO alike
                allowed = th.as_tensor(np.asarray(action_masks, dtype=bool).reshape(len(batch), -1),
                                       device=logits.device)
                logits = logits.masked_fill(~allowed, -th.inf)
            action = logits.argmax(dim=1) if deterministic else th.distributions.Categorical(logits=logits).sample()
        action = action.cpu().numpy()
        return (np.array(action[0]) if single else action), state


def load_graph_agent(path: str | Path, env: gym.Env, name: str | None = None) -> GraphPolicyAgent:
    """:func:`load_graph_policy` for a supportgym ``env``, as an agent (see
    :class:`GraphPolicyAgent`); any ``max_services`` the topologies fit in."""
    model = load_graph_policy(path, env)
    return GraphPolicyAgent(model, env, name or str(path))
