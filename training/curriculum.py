"""Training aids for learning from scratch, annealed to nothing: a start-tier curriculum and the
evidence bonus's coefficient.

From scratch, a policy never finds the chain escalate -> investigate at L2 -> fix at L3, which
pays only at its end (measured: it learns to close the ticket at once instead; README,
"Generalisation"). Two aids aim at the chain:

* **Start-tier curriculum** (``start_tier_share``): that share of training episodes opens at L2
  or L3 (half each), where investigating and fixing are available from the first step, so their
  payoff is learnt first; the share then falls linearly to 0, and episodes open at L1 as
  evaluated, where escalating leads into states whose value the critic already knows (a reverse
  curriculum, Florensa et al., 2017).
* **Evidence bonus** (``evidence_bonus``, ``training.shaping.EvidenceBonus``): a reward for each
  new piece of evidence, falling linearly to 0 on the same schedule.

Both reach 0 at ``curriculum_fraction`` of the run's ``--timesteps`` (default 0.5), so the rest of
training, model selection and every evaluation see the environment as it is.
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from supportgym.vector import IncidentVectorEnv
from training.shaping import EvidenceBonus

#: The share of the run over which the aids anneal, unless ``curriculum_fraction`` says otherwise.
DEFAULT_CURRICULUM_FRACTION = 0.5


def remaining_share(steps: int, end: float) -> float:
    """1 at step 0, falling linearly to 0 at step ``end`` and after."""
    return max(0.0, 1.0 - steps / end) if end > 0 else 0.0


class Curriculum(BaseCallback):
    """Before every rollout: draws each row's start tier (L2 or L3 with probability
    ``start_share`` x the remaining share, else the scenario's own) and sets the evidence bonus to
    ``bonus`` x the remaining share; logs both under ``curriculum/``."""

    def __init__(self, vector: IncidentVectorEnv, end_step: float, start_share: float = 0.0,
                 bonus: EvidenceBonus | None = None, seed: int = 0):
        super().__init__()
        self.vector, self.end_step, self.start_share = vector, end_step, start_share
        self.bonus = bonus
        self.initial_bonus = bonus.coef if bonus is not None else 0.0
        self.rng = np.random.default_rng(seed)  # training's own draws: the rows' generators are untouched

    def _on_rollout_start(self) -> None:
        left = remaining_share(self.num_timesteps, self.end_step)
        share = self.start_share * left
        rows = self.vector.num_envs
        opened_higher = self.rng.random(rows) < share
        self.vector.start_tiers[:] = np.where(opened_higher, self.rng.integers(2, 4, rows), 0)
        self.logger.record("curriculum/start_above_l1_share", share)
        if self.bonus is not None:
            self.bonus.coef = self.initial_bonus * left
            self.logger.record("curriculum/evidence_bonus", self.bonus.coef)

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self.vector.start_tiers[:] = 0
