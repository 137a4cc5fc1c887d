"""Run one agent through one seeded episode: the loop every evaluation shares."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from agents.base import Agent


def run_episode(env: gym.Env, agent: Agent, seed: int, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Play one episode of ``env`` reset with ``seed``; return its ``episode_metrics``.

    The agent gets SB3's arguments each step: its own ``state`` back, ``episode_start`` on the
    first observation, and the action mask.
    """
    obs, info = env.reset(seed=seed, options=options)
    state, start = None, np.ones(1, dtype=bool)
    while True:
        action, state = agent.predict(obs, state=state, episode_start=start, deterministic=True,
                                      action_masks=info["action_mask"])
        start = np.zeros(1, dtype=bool)
        obs, _, terminated, truncated, info = env.step(int(action))
        if terminated or truncated:
            return dict(info["episode_metrics"])
