"""Potential-based reward shaping for training (Ng, Harada & Russell, 1999).

``r' = r + gamma * phi(s') - phi(s)`` with ``phi(s) = -coef * impact(s)``: the share of users
hurt right now. A fix is rewarded the moment users recover rather than minute by minute after,
which shortens the credit-assignment chain from a remedy to its payoff. Shaping of this form
leaves the optimal policy unchanged (the potential of a terminal state is 0), so nothing can be
farmed from it. It only affects training: evaluation always reports the environment's reward.
"""

from __future__ import annotations

import gymnasium as gym


class ImpactShaping(gym.Wrapper):
    def __init__(self, env: gym.Env, coef: float, gamma: float):
        super().__init__(env)
        self.coef, self.gamma = coef, gamma
        self._phi = 0.0

    def _potential(self) -> float:
        return -self.coef * float(self.env.unwrapped.state.impact_now[0])

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._phi = self._potential()
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        phi = 0.0 if terminated else self._potential()
        shaped = reward + self.gamma * phi - self._phi
        self._phi = phi
        return obs, shaped, terminated, truncated, info
