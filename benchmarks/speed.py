"""Incident-v1 simulation speed: steps per second of random allowed actions through gym.make.

    python benchmarks/speed.py                 # every built-in suite, then 8/32/128 services
    python benchmarks/speed.py --steps 50000   # longer runs (each row: median of --repeats runs)

The agent picks uniformly among the allowed actions (``info["action_mask"]``); its own cost is
included, as a user's loop would include it. Resets are included. The scaling part runs the
standard mix of faults on generated layered topologies of 8, 32 and 128 services.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import yaml

import supportgym
from supportgym.suite.layered import layered_suite


def measure(env: gym.Env, steps: int, seed: int) -> tuple[float, float]:
    """(steps per second, mean microseconds per step) over ``steps`` steps after a warm-up."""
    rng = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    for _ in range(200):  # warm-up: compiled kernels load, caches fill
        _, _, term, trunc, info = env.step(_random_allowed(rng, info["action_mask"]))
        if term or trunc:
            _, info = env.reset()
    start = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, info = env.step(_random_allowed(rng, info["action_mask"]))
        if term or trunc:
            _, info = env.reset()
    elapsed = time.perf_counter() - start
    return steps / elapsed, elapsed / steps * 1e6


def _random_allowed(rng: np.random.Generator, mask: np.ndarray) -> int:
    allowed = np.flatnonzero(mask)
    return int(allowed[rng.integers(len(allowed))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20000, help="steps per measurement (default 20000)")
    parser.add_argument("--repeats", type=int, default=3, help="report the median of this many runs (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    def report(label: str, services: int, env: gym.Env) -> None:
        runs = sorted(measure(env, args.steps, args.seed + r) for r in range(args.repeats))
        sps, us = runs[len(runs) // 2]
        print(f"{label:<12}{services:>9}{sps:>10.0f}{us:>9.1f}", flush=True)

    print(f"{'suite':<12}{'services':>9}{'steps/s':>10}{'µs/step':>9}")
    for suite in supportgym.builtin_suites(training_distributions=False):
        env = gym.make("supportgym/Incident-v1", suite=suite)
        report(suite, env.unwrapped.suite.max_services, env)
    with tempfile.TemporaryDirectory() as tmp:
        for n in (8, 32, 128):
            path = Path(tmp) / f"layered-{n}.yaml"
            path.write_text(yaml.safe_dump(layered_suite(n)))
            report("layered", n, gym.make("supportgym/Incident-v1", suite=str(path), max_services=n))


if __name__ == "__main__":
    main()
