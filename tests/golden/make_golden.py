"""Record the golden trajectories and baseline returns that pin the simulator's behaviour.

    python tests/golden/make_golden.py        # rewrite tests/golden/golden.json

Run it only when a change is *meant* to alter behaviour (and say so in the commit); a
behaviour-preserving change must leave ``tests/test_golden.py`` green without it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import supportgym  # noqa: E402,F401  (registers the environment)
from agents.registry import make_agent  # noqa: E402
from evaluation.play import run_episode  # noqa: E402

SUITES = ("tutorial", "standard", "hard", "heldout")
AGENTS = ("random", "naive", "runbook", "expert", "oracle")
ROLLOUT_EPISODES = 4
BASELINE_EPISODES = 12
GOLDEN = Path(__file__).with_name("golden.json")


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def rollout(suite: str) -> dict:
    """Masked-random actions (their own seeded generator) through ``ROLLOUT_EPISODES`` episodes."""
    env = gym.make("supportgym/Incident-v1", suite=suite, disable_env_checker=True)
    pick = np.random.default_rng(7)
    obs_h, step_h = hashlib.sha256(), hashlib.sha256()
    metrics = []
    for episode in range(ROLLOUT_EPISODES):
        obs, info = env.reset(seed=1000 + episode)
        obs_h.update(obs.tobytes())
        while True:
            mask = info["action_mask"]
            action = int(pick.choice(np.flatnonzero(mask)))
            obs, reward, terminated, truncated, info = env.step(action)
            obs_h.update(obs.tobytes())
            step_h.update(np.array([reward], dtype=np.float64).tobytes())
            step_h.update(np.array([terminated, truncated, info["invalid_action"]], dtype=bool).tobytes())
            step_h.update(np.asarray(info["action_mask"], dtype=bool).tobytes())
            step_h.update(np.array([info["minutes"]], dtype=np.float64).tobytes())
            if terminated or truncated:
                metrics.append({k: v for k, v in info["episode_metrics"].items()})
                break
    return {"observations": obs_h.hexdigest(), "steps": step_h.hexdigest(), "episode_metrics": metrics}


def baselines(suite: str) -> dict:
    """Each baseline's returns on the same ``BASELINE_EPISODES`` seeded episodes."""
    env = gym.make("supportgym/Incident-v1", suite=suite, disable_env_checker=True)
    return {spec: [repr(float(run_episode(env, make_agent(spec, env), seed=i)["return"]))
                   for i in range(BASELINE_EPISODES)] for spec in AGENTS}


def record() -> dict:
    return {suite: {"rollout": rollout(suite), "baselines": baselines(suite)} for suite in SUITES}


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(record(), indent=1, sort_keys=True, default=repr) + "\n")
    print(f"wrote {GOLDEN}")
