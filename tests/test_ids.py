"""One Gymnasium id per built-in suite, so a client that takes only an env id can pick a suite."""

from __future__ import annotations

import gymnasium as gym
import pytest

import supportgym
from supportgym import builtin_suites, suite_id


def test_every_builtin_suite_has_an_id_and_no_other_id_exists():
    ours = {k for k in gym.registry if k.startswith("supportgym/")}
    assert ours == {"supportgym/Incident-v1", "supportgym/Shift-v0",
                    *(suite_id(s) for s in builtin_suites(training_distributions=False))}
    assert len(builtin_suites(training_distributions=False)) >= 4  # tutorial, standard, hard, heldout


@pytest.mark.parametrize("suite", builtin_suites(training_distributions=False))
def test_each_id_makes_the_env_of_its_suite(suite):
    env_id = suite_id(suite)
    namespace, name, version = gym.envs.registration.parse_env_id(env_id)
    assert (namespace, name, version) == ("supportgym", f"Incident-{suite.title()}", 1)
    env = gym.make(env_id)
    try:
        loaded = env.unwrapped.suite
        assert loaded.name == supportgym.load_suite(suite).name
        assert loaded.scenario_names == supportgym.load_suite(suite).scenario_names
        obs, info = env.reset(seed=0)
        assert env.observation_space.contains(obs)
    finally:
        env.close()


def test_the_plain_id_is_the_standard_suite():
    env = gym.make("supportgym/Incident-v1")
    assert env.unwrapped.suite.name == gym.make(suite_id("standard")).unwrapped.suite.name
