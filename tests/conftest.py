"""Shared helpers: scripted episodes that read hidden state (tests only, never agents)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Callable

import gymnasium as gym
import numpy as np
import pytest

import supportgym  # noqa: F401  (registers the environment)
from agents.oracle import OracleAgent

Policy = Callable[[gym.Env, int], int]


def benchmark_script(name: str) -> ModuleType:
    """A module of ``benchmarks/`` (not a package), loaded from its file."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make(suite: str = "standard", scenario: str | None = None, **kwargs) -> gym.Env:
    return gym.make("supportgym/Incident-v1", suite=suite, scenario=scenario, **kwargs)


def run_episode(env: gym.Env, seed: int, policy: Policy, max_steps: int = 10_000) -> tuple[float, dict]:
    """Run one episode; ``policy(env, step_index) -> action``. Returns (return, episode metrics)."""
    env.reset(seed=seed)
    total = 0.0
    for k in range(max_steps):
        _, reward, terminated, truncated, info = env.step(policy(env, k))
        total += reward
        if terminated or truncated:
            return total, info["episode_metrics"]
    raise AssertionError("episode did not end")


def oracle_policy(env: gym.Env, k: int) -> int:
    return OracleAgent(env).next_action()


def scenario_of(fault: str, suite: str = "standard") -> str:
    """The first scenario of a suite whose only fault is ``fault``."""
    for scenario in supportgym.load_suite(suite).scenarios:
        if [f.type for f in scenario.faults] == [fault]:
            return scenario.name
    raise KeyError(fault)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
