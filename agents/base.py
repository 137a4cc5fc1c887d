"""The agent protocol shared by rule-based agents, the oracle and trained policies."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Agent(Protocol):
    """SB3's prediction protocol. ``state`` is the agent's recurrent state (None if it has none);
    ``episode_start`` marks the first observation of an episode."""

    name: str

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True, action_masks: np.ndarray | None = None) -> tuple[np.ndarray, Any]:
        ...
