"""The training suite of generated systems (scenarios/train.yaml) and its validation draw
(scenarios/validation.yaml): what they hold, and that the held-out suite stays disjoint from them."""

from __future__ import annotations

import warnings
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env

import supportgym  # noqa: F401  (registers the environment)
from supportgym.suite import builtin_suite_dir, load_suite
from supportgym import TRAINING_DISTRIBUTIONS
from supportgym.suite.topology_gen import api_depth, shape_fingerprint
from tests.conftest import oracle_policy, run_episode

GENERATED = TRAINING_DISTRIBUTIONS


def _entries(name: str) -> list[dict]:
    return yaml.safe_load((builtin_suite_dir() / f"{name}.yaml").read_text(encoding="utf-8"))["generators"]


def _mix(suite) -> Counter:
    """Share of each fault type, by scenario weight (a two-fault scenario counts half to each)."""
    out = Counter()
    for s, w in zip(suite.scenarios, suite.weights):
        for f in s.faults:
            out[f.type] += w / len(s.faults)
    return out


def _shapes(suite) -> set[str]:
    return {shape_fingerprint(s.topology) for s in suite.scenarios}


@pytest.fixture(scope="module")
def train():
    return load_suite("train")


@pytest.fixture(scope="module")
def train_shapes(train) -> set[str]:
    return _shapes(train)


@pytest.fixture(scope="module")
def heldout():
    return load_suite("heldout")


def test_training_sees_thousands_of_systems_of_every_size(train, train_shapes):
    assert not train.heldout and len(train.scenarios) == 3000
    systems = {(s.topology.names, s.topology.calls.tobytes()) for s in train.scenarios}
    assert len(systems) == 3000  # every scenario on a system of its own
    assert len(train_shapes) >= 2500  # and nearly every one a shape of its own, names aside
    assert {s.topology.n for s in train.scenarios} == set(range(6, 25)) and train.max_services == 24
    two = sum(w for s, w in zip(train.scenarios, train.weights) if len(s.faults) == 2)
    assert 0.25 < two < 0.4  # 15% of the single entries, all of the pairs entry
    levels = [s.noise.metric_noise / 0.2 for s in train.scenarios]  # noise level: 0 none .. 1 the hard suite's
    assert min(levels) < 0.02 and max(levels) > 0.98
    assert {f.type for s in train.scenarios for f in s.faults} == set(_mix(load_suite("standard")))


def test_training_follows_the_ghosh_mix(train):
    from supportgym.suite.generator import GHOSH_MIX

    mix, total = _mix(train), sum(GHOSH_MIX.values())
    for fault, weight in GHOSH_MIX.items():
        assert abs(mix[fault] - weight / total) < 0.03, (fault, mix[fault])


def test_heldout_is_disjoint_from_the_training_suite(train, train_shapes, heldout):
    # names: scenarios, topologies, services
    assert not set(heldout.scenario_names) & set(train.scenario_names)
    assert not {s.topology.name for s in heldout.scenarios} & {s.topology.name for s in train.scenarios}
    assert not {n for s in heldout.scenarios for n in s.topology.names} & \
        {n for s in train.scenarios for n in s.topology.names}
    # shapes: at most three API services on a call path in training, four in every held-out system
    assert max(api_depth(s.topology) for s in train.scenarios) <= 3
    assert {api_depth(s.topology) for s in heldout.scenarios} == {4}
    assert not _shapes(heldout) & train_shapes
    # fault mix: total variation between the two
    a, b = _mix(heldout), _mix(train)
    assert 0.5 * sum(abs(a[f] - b[f]) for f in set(a) | set(b)) > 0.15
    # seeds, family, vocabulary of the entries
    held = _entries("heldout")
    for name in GENERATED:
        for entry in _entries(name):
            assert entry.get("family", "tiered") == "tiered" and entry.get("vocabulary", "commerce") == "commerce"
            assert entry["seed"] not in {e["seed"] for e in held}


def test_validation_is_the_training_distribution_with_other_systems(train):
    validation = load_suite("validation")
    assert not validation.heldout and validation.max_services <= 24
    train_entries, validation_entries = _entries("train"), _entries("validation")
    same = [{k: v for k, v in e.items() if k not in ("name", "seed", "count")} for e in train_entries]
    assert same == [{k: v for k, v in e.items() if k not in ("name", "seed", "count")} for e in validation_entries]
    assert not {e["seed"] for e in train_entries} & {e["seed"] for e in validation_entries}
    assert not set(validation.scenario_names) & set(train.scenario_names)
    systems = {(s.topology.names, s.topology.calls.tobytes()) for s in train.scenarios}
    assert not {(s.topology.names, s.topology.calls.tobytes()) for s in validation.scenarios} & systems
    assert np.isclose(sum(w for s, w in zip(validation.scenarios, validation.weights)
                          if s.name.startswith("val-pairs")), 0.2)


def test_train_suite_needs_24_slots():
    """Refused before generating, naming the first entry that does not fit."""
    with pytest.raises(ValueError, match=r"generators\[1\]\.services: .*max_services>=17"):
        gym.make("supportgym/Incident-v1", suite="train", max_services=16)
    with pytest.raises(ValueError, match=r"generators\[2\]\.services: .*max_services>=24"):
        gym.make("supportgym/Incident-v1", suite="train", max_services=23)


@pytest.mark.parametrize(("suite", "index"), [(name, i) for name in GENERATED for i in range(4)])
def test_generated_training_scenarios_pass_check_env_and_the_oracle_solves_them(tmp_path, suite, index):
    """Each entry's first scenarios, from a copy of the suite with ``count: 2``: scenario i of an
    entry depends only on its seed, i and settings, so they are the very scenarios of the suite."""
    data = yaml.safe_load((builtin_suite_dir() / f"{suite}.yaml").read_text(encoding="utf-8"))
    data["generators"] = [{**data["generators"][index], "count": 2}]
    path = tmp_path / f"{suite}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    for scenario in load_suite(path).scenario_names:
        env = gym.make("supportgym/Incident-v1", suite=str(path), max_services=24, scenario=scenario)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_env(env.unwrapped)
        _, metrics = run_episode(env, 0, oracle_policy)
        assert metrics["resolved_and_held"], (scenario, metrics)


def test_the_copies_hold_the_suites_own_scenarios(tmp_path, train):
    data = yaml.safe_load((builtin_suite_dir() / "train.yaml").read_text(encoding="utf-8"))
    data["generators"] = [{**data["generators"][2], "count": 2}]
    path = tmp_path / "copy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    for copied in load_suite(path).scenarios:
        original = train.scenario(copied.name)
        assert copied.topology.names == original.topology.names and copied.faults == original.faults
        assert np.array_equal(copied.topology.calls, original.topology.calls) and copied.noise == original.noise
