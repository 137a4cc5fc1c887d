"""Training-only rewards over the native batched env: impact shaping and an evidence bonus.

Both read the hidden state of ``IncidentVectorEnv`` rows, so they wrap the SB3 adapter of one
(``supportgym.sb3.IncidentSB3VecEnv``, optionally inside ``VecMonitor``: put them outside the
monitor, so that ``ep_rew_mean`` stays the environment's own reward). They only affect
training: evaluation always reports the environment's reward.

* ``ImpactShaping``: potential-based shaping (Ng, Harada & Russell, 1999),
  ``r' = r + gamma * phi(s') - phi(s)`` with ``phi(s) = -coef * impact(s)``, the share of users
  hurt right now. A fix is rewarded the moment users recover rather than minute by minute after,
  which shortens the credit-assignment chain from a remedy to its payoff. The potential of a
  terminal state is 0 and a truncated episode's last state keeps its own, so the optimal policy
  is unchanged and nothing can be farmed from it.
* ``EvidenceBonus``: ``coef`` for every piece of evidence read for the first time in an episode
  (a service's metrics, logs, traces, changes or a reproduction). Most evidence needs L2, so it
  pays for escalating and investigating before the payoff of a fix is known. It is an
  exploration bonus, not a potential: it changes what is optimal while ``coef`` > 0, so training
  anneals it to 0 (``training.curriculum``).
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from supportgym.sb3 import IncidentSB3VecEnv
from supportgym.vector import IncidentVectorEnv
from supportgym.world.state import State


def vector_env_of(venv: VecEnv) -> IncidentVectorEnv:
    """The ``IncidentVectorEnv`` under a chain of SB3 wrappers, or a clear error."""
    inner = venv.unwrapped if isinstance(venv, VecEnvWrapper) else venv
    if not isinstance(inner, IncidentSB3VecEnv):
        raise TypeError(f"expected the SB3 adapter of IncidentVectorEnv under the wrappers, not {type(inner).__name__}")
    return inner.venv


class _RowReading(VecEnvWrapper):
    """A wrapper that reads a per-row quantity of the state: ``reached`` (the value at the state
    each step reached, for an ended row its episode's last state) and ``current`` (after the
    resets: for an ended row, its new episode's first state)."""

    def __init__(self, venv: VecEnv):
        super().__init__(venv)
        self.vector = vector_env_of(venv)
        self.vector.step_end_hooks.append(self._on_step_end)
        self.reached = np.zeros(self.num_envs)
        self.current = np.zeros(self.num_envs)

    def read(self, state: State) -> np.ndarray:
        """(B,) the quantity in each row of ``state``."""
        raise NotImplementedError

    def _on_step_end(self, state: State) -> None:
        self.reached = self.read(state)

    def reset(self):
        obs = self.venv.reset()
        self.current = self.read(self.vector.state)
        return obs

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, dones, infos = self.venv.step_wait()
        before, self.current = self.current, self.read(self.vector.state)
        terminated = np.array([done and not info.get("TimeLimit.truncated", False) for done, info in zip(dones, infos)])
        return obs, (reward + self.extra(before, self.reached, terminated)).astype(np.float32), dones, infos

    def extra(self, before: np.ndarray, reached: np.ndarray, terminated: np.ndarray) -> np.ndarray:
        """(B,) the reward added to each row's step, from the quantity before and after it."""
        raise NotImplementedError


class ImpactShaping(_RowReading):
    """``r + gamma * phi(s') - phi(s)``, ``phi = -coef * impact``; 0 at a terminal state."""

    def __init__(self, venv: VecEnv, coef: float, gamma: float):
        super().__init__(venv)
        self.coef, self.gamma = coef, gamma

    def read(self, state: State) -> np.ndarray:
        return -self.coef * state.impact_now

    def extra(self, before: np.ndarray, reached: np.ndarray, terminated: np.ndarray) -> np.ndarray:
        return self.gamma * np.where(terminated, 0.0, reached) - before


class EvidenceBonus(_RowReading):
    """``coef`` per piece of evidence read for the first time in the episode; set ``coef`` to anneal it."""

    def __init__(self, venv: VecEnv, coef: float):
        super().__init__(venv)
        self.coef = coef

    def read(self, state: State) -> np.ndarray:
        return np.isfinite(state.checked_at).sum(axis=(1, 2)).astype(float)

    def extra(self, before: np.ndarray, reached: np.ndarray, terminated: np.ndarray) -> np.ndarray:
        return self.coef * (reached - before)
