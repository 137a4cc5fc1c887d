"""The random agent: uniform over the allowed actions. It defines 0 on the normalised scale."""

from __future__ import annotations

import zlib

import numpy as np

from agents.rule import RuleAgent
from agents.view import Desk, View


class RandomAgent(RuleAgent):
    """Picks uniformly among the allowed actions.

    Its generator is seeded per episode from ``seed`` and the episode's first observation, so an
    episode gets the same actions whatever order episodes run in (serial or parallel).
    """

    name = "random"

    def __init__(self, desk: Desk, seed: int = 0):
        super().__init__(desk)
        self.seed = seed

    def new_memory(self, obs: np.ndarray) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(np.ascontiguousarray(obs).tobytes())])

    def act(self, view: View, mask: np.ndarray, memory: np.random.Generator) -> int:
        allowed = np.flatnonzero(mask)
        return int(allowed[memory.integers(len(allowed))])
