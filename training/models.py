"""The algorithms ``train.py`` offers, by the names used on its command line."""

from __future__ import annotations

from sb3_contrib import MaskablePPO, RecurrentPPO
from stable_baselines3 import DQN, PPO

ALGORITHM_CLASSES = {"ppo": PPO, "maskable_ppo": MaskablePPO, "recurrent_ppo": RecurrentPPO, "dqn": DQN}
#: Algorithms that use the environment's action masks.
MASKED = {"maskable_ppo"}
