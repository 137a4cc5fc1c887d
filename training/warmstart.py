"""Warm start: behaviour cloning of a rule-based agent before reinforcement learning.

An incident policy needs long chains (declare, escalate, diagnose, fix, validate, resolve)
before any reward shows, and PPO from scratch settles for what L1 can do alone. Cloning the
expert's choices first (a masked cross-entropy on its observations and actions, the same
observations the policy sees) gives RL a sound starting point to improve on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th

from agents.registry import RULE_AGENTS, make_agent
from evaluation.play import EpisodePlan, make_env, play

#: Algorithms whose policy gives per-action logits for one observation (no recurrent state).
CLONABLE = ("ppo", "maskable_ppo")


def collect_demonstrations(suite: str, teacher: str, episodes: int, seed: int,
                           max_services: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The teacher's (observations, actions, action masks) over seeded episodes."""
    if teacher not in RULE_AGENTS:
        raise ValueError(f"warm start needs a rule-based teacher ({', '.join(RULE_AGENTS)}), not {teacher!r}")
    env = make_env(suite, max_services)
    agent = make_agent(teacher, env)
    observations, actions, masks = [], [], []

    def record(obs: np.ndarray, info: dict[str, Any], action: int) -> None:
        observations.append(obs)
        actions.append(action)
        masks.append(info["action_mask"])

    play(env, agent, EpisodePlan(suite, episodes, seed, max_services), observe=record)
    return np.array(observations), np.array(actions), np.array(masks)


def behaviour_clone(policy, observations: np.ndarray, actions: np.ndarray, masks: np.ndarray, epochs: int,
                    batch_size: int = 512, learning_rate: float = 1e-3, seed: int = 0) -> dict[str, float]:
    """Fit the policy's action distribution to the teacher's actions (masked actions excluded).
    Returns the final epoch's mean loss and accuracy."""
    generator = th.Generator().manual_seed(seed)
    optimizer = th.optim.Adam(policy.parameters(), lr=learning_rate)
    obs_t, act_t = th.as_tensor(observations, device=policy.device), th.as_tensor(actions, device=policy.device)
    mask_t = th.as_tensor(masks, device=policy.device)
    policy.set_training_mode(True)
    loss_sum, correct = 0.0, 0
    for _ in range(epochs):
        loss_sum, correct = 0.0, 0
        for idx in th.randperm(len(obs_t), generator=generator).split(batch_size):
            features = policy.extract_features(obs_t[idx], policy.pi_features_extractor)
            latent_pi = policy.mlp_extractor.forward_actor(features)
            logits = policy.action_net(latent_pi).masked_fill(~mask_t[idx], -1e8)
            loss = th.nn.functional.cross_entropy(logits, act_t[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(dim=1) == act_t[idx]).sum())
    policy.set_training_mode(False)
    return {"loss": loss_sum / len(obs_t), "accuracy": correct / len(obs_t)}
