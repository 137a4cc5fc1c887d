"""Train a closure policy on ``supportgym/Shift-v0`` with MaskablePPO (sb3-contrib).

The policy decides the Learning stage only: between incidents, which closure work to do (RCAs,
automation, permanent fixes, alert tuning, next incident), from the full Shift-v0 observation (the
last incident's final observation and the shift's knowledge-base state). The incidents themselves
are worked by the expert baseline inside :class:`ExpertIncidents`, so each of the policy's steps
carries the reward of the closure work *and* of the incidents up to its next decision: it is
credited with what its learning saves later in the shift. Training one policy for both levels
(320 actions, ~300 steps a shift) is out of reach of a 30-minute CPU budget; this split is the
"learning expert" with learnt closure decisions.

``--warm-start N`` first clones the learning expert's closure decisions over N shifts
(``training.warmstart.behaviour_clone``: masked cross-entropy), so PPO starts from a sound policy
instead of from random closure work, which costs a lot and hides what pays.

    python train_shift.py --warm-start 300 --minutes 20 --out runs/shift/closure.zip
    python benchmarks/shift.py --model runs/shift/closure.zip
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import supportgym  # noqa: F401  (registers the environments)
from agents.shift_agents import ShiftExpertAgent, ShiftMemory
from supportgym.shift.layout import ShiftLayout


class ExpertIncidents(gym.Wrapper):
    """Shift-v0 in which the expert works every incident: the agent steps only at closure phases.

    A step is one closure action; the reward is everything the shift paid until the next closure
    decision (that work, then the next incident worked by the expert, automation included)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.layout = ShiftLayout(int(env.unwrapped.layout.max_services))
        self.expert = ShiftExpertAgent(self.layout, "none")
        self._memory = ShiftMemory()

    def _play_incident(self, obs: np.ndarray, info: dict[str, Any]) -> tuple[np.ndarray, float, bool, bool, dict]:
        total, terminated, truncated = 0.0, False, False
        while not (terminated or truncated) and not self.layout.closure_phase(obs):
            action = self.expert.act(obs, info["action_mask"], self._memory)
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += reward
        return obs, total, terminated, truncated, info

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._memory = ShiftMemory()
        obs, _, _, _, info = self._play_incident(obs, info)  # the first incident: no decision of the policy's
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if not (terminated or truncated) and not self.layout.closure_phase(obs):
            self._memory.in_closure = True  # a new incident: the expert starts a new casebook
            obs, more, terminated, truncated, info = self._play_incident(obs, info)
            reward += more
        return obs, float(reward), terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        return self.env.unwrapped.action_masks()


def closure_demonstrations(suite: str, teacher: str, shifts: int, seed: int) -> tuple[np.ndarray, ...]:
    """The teacher's closure decisions (observations, actions, masks) over seeded shifts."""
    from agents.shift_agents import make_shift_agent

    env = gym.make("supportgym/Shift-v0", suite=suite, disable_env_checker=True)
    agent = make_shift_agent(teacher, env)
    lay = ShiftLayout(int(env.unwrapped.layout.max_services))
    observations, actions, masks = [], [], []
    for i in range(shifts):
        obs, info = env.reset(seed=seed + i)
        state, start = None, np.ones(1, bool)
        while True:
            action, state = agent.predict(obs, state, start, True, info["action_mask"])
            start = np.zeros(1, bool)
            if lay.closure_phase(obs):
                observations.append(obs)
                actions.append(int(action))
                masks.append(info["action_mask"])
            obs, _, terminated, truncated, info = env.step(int(action))
            if terminated or truncated:
                break
    return np.array(observations), np.array(actions), np.array(masks)


def make_env(suite: str, seed: int) -> gym.Env:
    env = ExpertIncidents(gym.make("supportgym/Shift-v0", suite=suite, disable_env_checker=True))
    env.reset(seed=seed)
    return env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="standard", help="shift suite (scenarios/shifts/<name>.yaml or a path)")
    parser.add_argument("--minutes", type=float, default=20.0, help="wall-clock budget")
    parser.add_argument("--timesteps", type=int, default=300_000, help="closure decisions at most")
    parser.add_argument("--envs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warm-start", type=int, default=0, metavar="N",
                        help="clone the learning expert's closure decisions over N shifts first (0: none)")
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--ent-coef", type=float, default=0.01)
    parser.add_argument("--out", type=Path, default=Path("runs/shift/closure.zip"))
    args = parser.parse_args(argv)

    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    torch.set_num_threads(1)
    venv = VecMonitor(DummyVecEnv([lambda i=i: make_env(args.suite, 10_000 * (args.seed + 1) + i)
                                   for i in range(args.envs)]))
    model = MaskablePPO("MlpPolicy", venv, n_steps=256, batch_size=256, n_epochs=5, learning_rate=args.learning_rate,
                        gamma=0.99, gae_lambda=0.95, ent_coef=args.ent_coef, clip_range=0.2,
                        policy_kwargs={"net_arch": [128, 128]}, seed=args.seed, verbose=0, device="cpu")
    deadline = time.monotonic() + 60.0 * args.minutes
    if args.warm_start:
        from training.warmstart import behaviour_clone

        # Seeds far from the training envs' and the benchmark's (0..).
        demos = closure_demonstrations(args.suite, "shift-learning-expert", args.warm_start, 500_000)
        fit = behaviour_clone(model.policy, *demos, epochs=30, batch_size=256, seed=args.seed)
        print(f"warm start: {len(demos[0])} closure decisions, loss {fit['loss']:.3f}, "
              f"accuracy {fit['accuracy']:.3f}", flush=True)
        if args.minutes <= 0 or args.timesteps <= 0:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            model.save(args.out)
            print(f"saved {args.out} (cloned only)")
            return

    class Budget(BaseCallback):
        """Stop at the wall-clock budget; print the mean shift return of recent episodes."""

        def _on_rollout_end(self) -> None:
            buf = self.model.ep_info_buffer
            if buf:
                print(f"{self.num_timesteps:7d} decisions  mean return of last {len(buf)} shifts "
                      f"(from the first decision) {np.mean([e['r'] for e in buf]):8.2f}", flush=True)

        def _on_step(self) -> bool:
            return time.monotonic() < deadline

    model.learn(args.timesteps, callback=Budget())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"saved {args.out} after {model.num_timesteps} decisions")


if __name__ == "__main__":
    main()
