"""The shared shell of rule-based agents: SB3's ``predict`` over one or a batch of observations.

A rule-based agent decides from the observation and its own notes about the episode so far
(its *memory*). The memory travels in SB3's ``state`` slot, exactly like RecurrentPPO's LSTM
state: pass the returned ``state`` back on the next call and set ``episode_start`` at the first
observation of an episode (``state=None`` also starts afresh). The agent object itself holds
nothing per episode, so one agent can drive any number of environments.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from agents.view import Desk, View


class RuleAgent(ABC):
    """Base of the rule-based agents. Subclasses implement :meth:`new_memory` and :meth:`act`."""

    name: str = "rule"

    def __init__(self, desk: Desk):
        self.desk = desk

    def new_memory(self, obs: np.ndarray) -> Any:
        """Fresh notes for an episode whose first observation is ``obs``."""
        return None

    @abstractmethod
    def act(self, view: View, mask: np.ndarray, memory: Any) -> int:
        """The next action (an allowed index) for one observation; may update ``memory`` in place."""

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True, action_masks: np.ndarray | None = None) -> tuple[np.ndarray, Any]:
        batch, masks, single = self.desk.batch(observation, action_masks)
        n = len(batch)
        starts = np.zeros(n, dtype=bool) if episode_start is None else np.broadcast_to(np.asarray(episode_start), (n,))
        memories = [None] * n if state is None else list(state)
        if len(memories) != n:
            raise ValueError(f"{self.name}: state holds {len(memories)} memories for a batch of {n} observations")
        actions = np.empty(n, dtype=np.int64)
        for i in range(n):
            if memories[i] is None or starts[i]:
                memories[i] = self.new_memory(batch[i])
            actions[i] = self.act(View(self.desk.layout, batch[i]), masks[i], memories[i])
        return (np.array(actions[0]) if single else actions), tuple(memories)
