"""The scenario generator, generator entries in suite files, the held-out suite, calibration, catalogue."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env

import supportgym
from supportgym.contract.vocabulary import DEFAULT_MAX_SERVICES
from supportgym.suite import (
    SuiteError,
    build_suite,
    category_of,
    generate_scenario,
    generate_suite,
    load_suite,
    suite_data,
)
from supportgym.suite.generator import GHOSH_MITIGATIONS, GHOSH_MIX, GHOSH_ROOT_CAUSES, LATENT, SHIPPED_BY_DEPLOY
from supportgym.suite.schema import GeneratorSpec
from supportgym.suite.topology_gen import VOCABULARIES, api_depth, shape_fingerprint
from supportgym.world.faults import FAULT_CATEGORIES, FAULTS

#: The generator's default upper topology size.
MAX_SERVICES = GeneratorSpec(seed=0).services[1]
from tests.conftest import benchmark_script, oracle_policy, run_episode

ROOT = Path(__file__).resolve().parent.parent
TRAINING = ("tutorial", "standard", "hard")
#: A hand-written suite of one scenario, for generator entries to join.
HAND_WRITTEN = {
    "name": "mixed",
    "topologies": {"t": {"services": [{"name": "w", "kind": "frontend", "entry_traffic": 1.0},
                                      {"name": "d", "kind": "database"}],
                         "calls": [{"from": "w", "to": "d", "weight": 0.5}]}},
    "scenarios": [{"name": "s", "topology": "t", "faults": [{"type": "slow_query", "service": "d"}]}],
}


def _write(tmp_path: Path, data: dict, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# --- determinism ----------------------------------------------------------------------------------


def test_same_seed_same_scenarios():
    assert suite_data(seed=3, count=6, concurrent=0.5) == suite_data(seed=3, count=6, concurrent=0.5)
    assert suite_data(seed=3, count=6)["topologies"] != suite_data(seed=4, count=6)["topologies"]


def test_scenario_does_not_depend_on_how_many_are_generated():
    few, many = suite_data(seed=5, count=2), suite_data(seed=5, count=9)
    assert few["topologies"]["gen-5-1"] == many["topologies"]["gen-5-1"]
    strip = [{k: v for k, v in s.items() if k != "weight"} for s in (few["scenarios"][1], many["scenarios"][1])]
    assert strip[0] == strip[1]


def test_python_and_suite_file_give_the_same_scenario(tmp_path):
    single = generate_scenario(seed=8, index=3, concurrent=0.5)
    path = _write(tmp_path, {"name": "g", "generators": [{"seed": 8, "count": 4, "concurrent": 0.5}]})
    loaded = load_suite(path).scenario("gen-8-3")
    assert single.topology.names == loaded.topology.names
    assert np.array_equal(single.topology.calls, loaded.topology.calls)
    assert single.faults == loaded.faults and single.noise == loaded.noise


# --- what is generated ------------------------------------------------------------------------------


def test_default_sizes_span_four_to_the_observation_maximum():
    assert MAX_SERVICES == DEFAULT_MAX_SERVICES
    suite = generate_suite(seed=1, count=300)
    sizes = {s.topology.n for s in suite.scenarios}
    assert sizes == set(range(4, MAX_SERVICES + 1))
    assert suite.max_services <= DEFAULT_MAX_SERVICES


def test_topologies_have_realistic_parts():
    suite = generate_suite(seed=2, count=300)
    has = Counter()
    for s in suite.scenarios:
        t, kinds = s.topology, {int(k) for k in s.topology.kinds}
        has["two entries"] += int((t.entry > 0).sum() == 2)
        has["shared database"] += int(any(len(t.callers(i)) > 1 for i in range(t.n) if t.kinds[i] == 3))
        has["cache fronting a database"] += int(t.redirect.any())
        has["queue with workers"] += int({5, 2} <= kinds)
        has["external with failover"] += int(t.failover.any())
        has["external without failover"] += int(any(t.kinds[i] == 6 and not t.failover[i] for i in range(t.n)))
        has["gateway"] += int(any(t.kinds[i] == 1 and len([c for c in t.callees(i) if t.kinds[c] == 1]) >= 2
                                  and any(t.entry[j] > 0 for j in t.callers(i)) for i in range(t.n)))
        has["two faults"] += int(len(s.faults) == 2)
    assert all(count >= 15 for count in has.values()), has  # each shape shows up in at least 5% of draws


def test_generated_fault_mix_follows_its_weights():
    suite = generate_suite(seed=4, count=1000)
    types, categories = Counter(), Counter()
    for s in suite.scenarios:
        for f in s.faults:
            types[f.type] += 1 / len(s.faults)
            categories[category_of(f)] += 1 / len(s.faults)
    total = sum(GHOSH_MIX.values())
    for fault, weight in GHOSH_MIX.items():
        assert abs(100 * types[fault] / 1000 - 100 * weight / total) < 3.0, (fault, types[fault])
    for category, share in GHOSH_ROOT_CAUSES.items():
        assert abs(100 * categories[category] / 1000 - share) < 3.5, (category, categories[category])


def test_concurrent_faults_sit_on_distinct_services():
    suite = generate_suite(seed=6, count=200, concurrent=1.0)
    pairs = [s for s in suite.scenarios if len(s.faults) == 2]
    assert len(pairs) >= 190
    for s in pairs:
        a, b = ([f.service] if isinstance(f.service, str) else f.service for f in s.faults)
        assert not set(a) & set(b) and s.faults[0].type != s.faults[1].type


@pytest.mark.parametrize("settings", [
    {"services": [4, 6], "concurrent": 0.5, "noise": [0.0, 0.0]},
    {"services": [10, 16], "concurrent": 0.5, "noise": [1.0, 1.0]},
    {"family": "federated", "vocabulary": "logistics", "services": [9, 16], "mix": "uniform", "concurrent": 0.5},
])
def test_every_generated_scenario_passes_check_env(tmp_path, settings):
    path = _write(tmp_path, {"name": "g", "generators": [{"seed": 21, "count": 10, **settings}]})
    for name in load_suite(path).scenario_names:
        env = gym.make("supportgym/Incident-v1", suite=str(path), scenario=name)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a checker warning is a failure
            check_env(env.unwrapped)
        _, metrics = run_episode(env, 0, oracle_policy)
        assert metrics["resolved_and_held"], (name, metrics)  # the oracle can solve it


# --- generator entries in suite files ------------------------------------------------------------


def test_generator_entry_expands_next_to_hand_written_scenarios(tmp_path):
    data = dict(HAND_WRITTEN)
    data["generators"] = [{"seed": 3, "count": 4, "weight": 2.0}, {"name": "big", "seed": 3, "count": 2,
                                                                    "services": [16, 16]}]
    suite = load_suite(_write(tmp_path, data))
    assert suite.scenario_names == ["s", "gen-3-0", "gen-3-1", "gen-3-2", "gen-3-3", "big-0", "big-1"]
    assert np.isclose(suite.weights[1:5].sum() / suite.weights[0], 2.0)
    assert all(s.topology.n == 16 for s in suite.scenarios[-2:])
    gym.make("supportgym/Incident-v1", suite=str(tmp_path / "suite.yaml")).reset(seed=0)


@pytest.mark.parametrize(("entry", "field", "message"), [
    ({"seed": 1, "count": 0}, "generators[0].count", "greater than or equal to 1"),
    ({"count": 3}, "generators[0].seed", "Field required"),
    ({"seed": 1, "services": [12, 6]}, "generators[0]", "services must be [fewest, most]"),
    ({"seed": 1, "services": [4, 16], "family": "federated"}, "generators[0]", "must start there"),
    ({"seed": 1, "mix": {"meteor": 1.0}}, "generators[0].mix", "Input should be"),
    ({"seed": 1, "mix": {"bad_deploy": 0.0}}, "generators[0]", "weight 0"),
    ({"seed": 1, "colour": "red"}, "generators[0].colour", "Extra inputs are not permitted"),
    ({"name": "s", "seed": 1, "count": 1}, "generators[0].name", "already taken"),
])
def test_bad_generator_entries_name_file_and_field(tmp_path, entry, field, message):
    data = {**HAND_WRITTEN, "topologies": {"s-0": HAND_WRITTEN["topologies"]["t"]}, "generators": [entry]}
    data["scenarios"] = [{**HAND_WRITTEN["scenarios"][0], "topology": "s-0"}]
    path = _write(tmp_path, data, "broken.yaml")
    with pytest.raises(SuiteError) as error:
        load_suite(path)
    assert str(error.value).startswith(f"{path}: {field}: "), str(error.value)
    assert message in str(error.value)


def test_fault_category_override_is_checked_per_fault_type(tmp_path):
    base = {"name": "c", "topologies": {"t": {"services": [{"name": "w", "kind": "frontend", "entry_traffic": 1},
                                                          {"name": "a", "kind": "api"}],
                                              "calls": [{"from": "w", "to": "a"}]}}}
    ok = build_suite({**base, "scenarios": [{"name": "x", "topology": "t", "faults": [
        {"type": "bad_deploy", "service": "a", "category": "deployment error"}]}]})
    assert category_of(ok.scenarios[0].faults[0]) == "deployment error"
    with pytest.raises(SuiteError, match=r"scenarios\[0\]\.faults\[0\]\.category: fault 'bad_deploy' cannot be "
                                         r"filed as 'auth failure'"):
        build_suite({**base, "scenarios": [{"name": "x", "topology": "t", "faults": [
            {"type": "bad_deploy", "service": "a", "category": "auth failure"}]}]})
    assert all(cats[0] == FAULTS[f].category for f, cats in FAULT_CATEGORIES.items())


# --- the held-out suite ------------------------------------------------------------------------------


def _service_names(suite) -> set[str]:
    return {n for s in suite.scenarios for n in s.topology.names}


def test_heldout_names_are_disjoint_from_training():
    heldout = load_suite("heldout")
    assert heldout.heldout and not any(load_suite(name).heldout for name in TRAINING)
    assert len(heldout.scenarios) == 40
    for name in TRAINING:
        training = load_suite(name)
        assert not set(heldout.scenario_names) & set(training.scenario_names)
        assert not {s.topology.name for s in heldout.scenarios} & {s.topology.name for s in training.scenarios}
        assert not _service_names(heldout) & _service_names(training)
    for role, names in VOCABULARIES["logistics"].items():
        assert not set(names) & {n for pool in VOCABULARIES["commerce"].values() for n in pool}, role


def test_heldout_topology_shapes_are_disjoint_from_training_and_the_default_generator():
    heldout = load_suite("heldout").scenarios
    training = [s for name in TRAINING for s in load_suite(name).scenarios]
    default = list(generate_suite(seed=0, count=400).scenarios)  # the generator's default settings
    assert {api_depth(s.topology) for s in heldout} == {4}
    assert max(api_depth(s.topology) for s in training + default) <= 3
    held_shapes = {shape_fingerprint(s.topology) for s in heldout}
    assert not held_shapes & {shape_fingerprint(s.topology) for s in training + default}
    assert len(held_shapes) >= 0.9 * len(heldout)  # nearly every held-out topology has a shape of its own
    assert GeneratorSpec(seed=0).family == "tiered" and GeneratorSpec(seed=0).vocabulary == "commerce"


def test_heldout_fault_mix_differs_from_training():
    def mix(suite) -> dict[str, float]:
        out = Counter()
        for s, w in zip(suite.scenarios, suite.weights):
            for f in s.faults:
                out[f.type] += w / len(s.faults)
        return out

    heldout = load_suite("heldout")
    concurrent = sum(w for s, w in zip(heldout.scenarios, heldout.weights) if len(s.faults) == 2)
    assert np.isclose(concurrent, 0.3)
    pairs = {frozenset(f.type for f in s.faults) for s in heldout.scenarios if len(s.faults) == 2}
    for name in TRAINING:
        training = load_suite(name)
        a, b = mix(heldout), mix(training)
        assert 0.5 * sum(abs(a[f] - b[f]) for f in set(a) | set(b)) > 0.15, name  # total variation
        assert pairs - {frozenset(f.type for f in s.faults) for s in training.scenarios}


# --- calibration and catalogue -----------------------------------------------------------------------


def test_standard_suite_calibrated_within_two_points():
    calibrate = benchmark_script("calibrate")
    expected = calibrate.expected_mix(load_suite("standard"))
    sampled = calibrate.root_cause_mix("standard", 4000)
    for category, share in GHOSH_ROOT_CAUSES.items():
        assert abs(expected[category] - share) < 0.05, category
        assert abs(sampled[category] - share) <= 2.0, (category, sampled[category])


def test_standard_suite_remedy_mix_within_five_points_of_ghosh():
    """The oracle's rollback share (and infrastructure changes) as in Ghosh et al.: latent faults
    bring it down from the half it would be if every code and config bug came with a change."""
    calibrate = benchmark_script("calibrate")
    remedies, held = calibrate.remedy_mix("standard", 500)
    mitigations = calibrate.mitigation_mix(remedies)
    assert held == 100.0
    assert calibrate.remedy_gap(mitigations) <= 5.0, mitigations


def test_ghosh_mix_brings_a_rollback_share_like_ghosh():
    """The share of generated faults a recent change brought (the oracle rolls those back)."""
    def recent_change(fault: str) -> float:
        if FAULTS[fault].change is not None:
            return 1.0 - LATENT.get(fault, 0.0)
        return SHIPPED_BY_DEPLOY.get(fault, 0.0)

    share = 100 * sum(w * recent_change(f) for f, w in GHOSH_MIX.items()) / sum(GHOSH_MIX.values())
    assert abs(share - GHOSH_MITIGATIONS["rollback"]) < 1.0, share


def test_generated_latent_faults_follow_their_shares():
    suite = generate_suite(seed=4, count=1000)
    seen, latent = Counter(), Counter()
    for s in suite.scenarios:
        for f in s.faults:
            seen[f.type] += 1
            latent[f.type] += f.latent
    assert set(+latent) == set(LATENT)  # only faults that come with a change are ever latent
    for fault, share in LATENT.items():
        assert abs(latent[fault] / seen[fault] - share) < 0.12, (fault, latent[fault], seen[fault])


@pytest.mark.slow
def test_calibration_script_full_run(capsys):
    calibrate = benchmark_script("calibrate")
    assert calibrate.main([]) == 0
    out = capsys.readouterr().out
    assert "largest gap" in out and "infrastructure change" in out


def test_catalogue_lists_every_builtin_scenario():
    page = (ROOT / "docs" / "catalogue.md").read_text(encoding="utf-8")
    for name in supportgym.builtin_suites(training_distributions=False):
        assert f"## Suite `{name}`" in page
        for scenario in load_suite(name).scenario_names:
            assert f"### `{scenario}`" in page, "docs/catalogue.md is stale: run python benchmarks/catalogue.py"


@pytest.mark.slow
def test_catalogue_is_up_to_date():
    assert benchmark_script("catalogue").main(["--check", "--workers", "1"]) == 0
