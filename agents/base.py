"""The agent protocol shared by rule-based agents, the oracle and trained policies."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Agent(Protocol):
    """SB3's prediction protocol, plus the action mask.

    ``observation`` is one observation or a batch; ``state`` is what the previous call returned
    (a recurrent policy's hidden state, a rule-based agent's notes; None to start afresh);
    ``episode_start`` marks the first observation of an episode; ``action_masks`` holds the
    allowed actions (``info["action_mask"]``). Agents act only among allowed actions; rule-based
    agents and trained models rebuild the mask from the observation if it is not given.
    Returns the action (an array, batched like the observation) and the state to pass back.
    """

    name: str

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True, action_masks: np.ndarray | None = None) -> tuple[np.ndarray, Any]:
        ...
