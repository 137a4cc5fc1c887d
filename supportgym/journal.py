"""What happened in one episode, step by step: the raw material of an incident report.

The environment records a :class:`Journal` as it runs: the observation the incident opened
with, and per step the simulated clock before and after, the action, its reward and flags, the
observation after it, and the user impact (hidden until the end). Nothing is decoded here: a step
costs one small copy and one tuple, and ``supportgym.report`` reads the observations back by
feature name only when a report is asked for. So a new action or a new observation feature
reaches the report without a change here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np


class StepRecord(NamedTuple):
    """One step as it happened (a named tuple: recording it must cost next to nothing)."""

    started: float  # simulated minutes since the incident opened, when the action began
    ended: float  # ... when it (and, for a resolution, the hold window) ended
    action: int  # flat action index
    minutes: float  # the action's own duration
    reward: float
    invalid: bool  # masked: a no-op that cost a minute
    harmful: bool  # hidden until the end
    obs: np.ndarray  # the observation after the step (a copy)
    impact: float  # share of user requests hurt after the step (hidden until the end)
    impact_minutes: float  # user-impact minutes so far (hidden until the end)


@dataclass
class Journal:
    """One episode's record: how it opened and every step since."""

    seed: int | None  # the seed ``reset`` got (None: it continued an earlier generator)
    opening: np.ndarray  # the first observation
    opening_impact: float  # share of user requests hurt when the incident opened (hidden)
    steps: list[StepRecord] = field(default_factory=list)

    def observation_before(self, k: int) -> np.ndarray:
        """The observation step ``k`` acted on."""
        return self.opening if k == 0 else self.steps[k - 1].obs
