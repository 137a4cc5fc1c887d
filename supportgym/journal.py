"""What happened in one episode, step by step: the raw material of an incident report.

The environment records a :class:`Journal` as it runs: the observation the incident opened
with, and per step the simulated clock before and after, the action, its reward and flags, the
observation after it, and the user impact (hidden until the end). Nothing is decoded here: a step
costs one tuple and one row copied into a buffer that lives across episodes (a fresh array per
step would cost ~20 µs at 128 services, in page faults), and ``supportgym.report`` reads the
observations back by feature name only when a report is asked for. So a new action or a new
observation feature reaches the report with no change here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

#: Observation rows a new buffer holds (it doubles when an episode needs more).
INITIAL_ROWS = 64


class StepRecord(NamedTuple):
    """One step as it happened (a named tuple: recording it must cost next to nothing)."""

    started: float  # simulated minutes since the incident opened, when the action began
    ended: float  # ... when it (and, for a resolution, the hold window) ended
    action: int  # flat action index
    minutes: float  # the action's own duration
    reward: float
    invalid: bool  # masked: a no-op that cost a minute
    harmful: bool  # hidden until the end
    impact: float  # share of user requests hurt after the step (hidden until the end)
    impact_minutes: float  # user-impact minutes so far (hidden until the end)


@dataclass
class Journal:
    """One episode's record: how it opened and every step since.

    ``observations`` row 0 is the first observation and row ``k + 1`` the one after step ``k``;
    rows past the last step are stale. The environment hands the buffer on to its next episode's
    journal, so read a journal before the next ``reset``.
    """

    seed: int | None  # the seed ``reset`` got (None: it continued an earlier generator)
    opening_impact: float  # share of user requests hurt when the incident opened (hidden)
    observations: np.ndarray  # (rows, observation size) float32
    steps: list[StepRecord] = field(default_factory=list)

    @classmethod
    def start(cls, seed: int | None, obs: np.ndarray, impact: float, previous: Journal | None = None) -> Journal:
        """A journal opening on ``obs``, reusing ``previous``'s buffer when it fits."""
        fits = previous is not None and previous.observations.shape[1] == len(obs)
        buffer = previous.observations if fits else np.empty((INITIAL_ROWS, len(obs)), np.float32)
        buffer[0] = obs
        return cls(seed, impact, buffer)

    def record(self, step: StepRecord, obs: np.ndarray) -> None:
        """Append ``step`` and the observation after it (copied)."""
        row = len(self.steps) + 1
        if row == len(self.observations):
            self.observations = np.concatenate([self.observations, np.empty_like(self.observations)])
        self.observations[row] = obs
        self.steps.append(step)

    @property
    def opening(self) -> np.ndarray:
        """The first observation."""
        return self.observations[0]

    def observation_after(self, k: int) -> np.ndarray:
        """The observation step ``k`` left."""
        return self.observations[k + 1]

    def observation_before(self, k: int) -> np.ndarray:
        """The observation step ``k`` acted on."""
        return self.observations[k]
