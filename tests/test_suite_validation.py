"""Hostile and broken suite files: every one is a SuiteError naming the file and the field (or
line), raised fast, and a one-line usage error (exit 2) from both command-line tools."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import supportgym
from supportgym.suite import SuiteError, load_suite, parse_suite
from supportgym.suite import loading
from tests.test_suites import MINIMAL, mutate, write

ROOT = Path(__file__).resolve().parent.parent


def _raises(path: Path, field: str, message: str, **kwargs) -> str:
    with pytest.raises(SuiteError) as error:
        load_suite(path, **kwargs)
    text = str(error.value)
    assert text.startswith(f"{path}: {field}: "), text
    assert message in text and "\n" not in text, text
    return text


def _set(path: tuple, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


NON_FINITE = [
    (("scenarios", 0, "weight"), "scenarios[0].weight"),
    (("reward", "harm"), "reward.harm"),
    (("reward", "engineer_per_minute"), "reward.engineer_per_minute"),
    (("defaults", "time_limit_minutes"), "defaults.time_limit_minutes"),
    (("scenarios", 0, "faults", 0, "onset_minutes"), "scenarios[0].faults[0].onset_minutes"),
    (("scenarios", 0, "noise"), "scenarios[0].noise.metric_noise"),
    (("topologies", "t", "calls", 0, "weight"), "topologies.t.calls[0].weight"),
]


def _with_reward_and_defaults(data: dict) -> dict:
    data.setdefault("reward", {})
    data.setdefault("defaults", {})
    return data


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan], ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize(("where", "field"), NON_FINITE, ids=[f for _, f in NON_FINITE])
def test_non_finite_numbers_are_refused(tmp_path, where, field, value):
    def change(data):
        _with_reward_and_defaults(data)
        if where[-1] == "engineer_per_minute":
            data["reward"]["engineer_per_minute"] = [0.01, value, 0.04]
        elif where[-1] == "noise":
            data["scenarios"][0]["noise"] = {"metric_noise": value}
        else:
            _set(where, value)(data)
    path = write(tmp_path, mutate(change), "nonfinite.yaml")
    _raises(path, field + ("[1]" if where[-1] == "engineer_per_minute" else ""), "finite number")


def test_a_finite_but_overflowing_weight_is_refused(tmp_path):
    for where, field in ((("reward", "timeout_penalty"), "reward.timeout_penalty"),
                         (("scenarios", 0, "weight"), "scenarios[0].weight")):
        path = write(tmp_path, mutate(lambda d: _set(where, 1e308)(_with_reward_and_defaults(d))), "huge.yaml")
        _raises(path, field, "less than or equal to")


def test_reward_bounds_and_rewards_stay_finite_at_the_largest_weights(tmp_path):
    from supportgym.suite.schema import MAX_REWARD_WEIGHT
    weights = {k: MAX_REWARD_WEIGHT for k in ("impact", "harm", "invalid_action", "resolve_bonus", "reopen_penalty",
                                              "timeout_penalty", "severity_mismatch")}
    weights |= {"engineer_per_minute": [MAX_REWARD_WEIGHT] * 3, "sev1_cost_multiplier": 100.0}
    path = write(tmp_path, mutate(lambda d: d.update(reward=weights)), "heavy.yaml")
    env = supportgym.IncidentEnv(suite=str(path))
    assert all(np.isfinite(env.reward_bounds))
    env.reset(seed=0)
    _, reward, *_ = env.step(env.table.n - 1)  # resolve
    assert np.isfinite(reward)


@pytest.mark.parametrize(("where", "field"), [
    (("topologies", "t", "services", 1, "replicas"), "topologies.t.services[1].replicas"),
    (("topologies", "t", "services", 0, "entry_traffic"), "topologies.t.services[0].entry_traffic"),
    (("topologies", "t", "calls", 0, "weight"), "topologies.t.calls[0].weight"),
    (("scenarios", 0, "weight"), "scenarios[0].weight"),
    (("scenarios", 0, "start_tier"), "scenarios[0].start_tier"),
    (("scenarios", 0, "faults", 0, "onset_minutes"), "scenarios[0].faults[0].onset_minutes"),
])
def test_booleans_are_not_numbers(tmp_path, where, field):
    path = write(tmp_path, mutate(_set(where, True)), "bools.yaml")
    _raises(path, field, "valid")


def test_a_boolean_noise_override_or_generator_setting_is_refused(tmp_path):
    path = write(tmp_path, mutate(lambda d: d["scenarios"][0].update(noise={"red_herrings": True})), "b1.yaml")
    _raises(path, "scenarios[0].noise.red_herrings", "valid integer")
    path = write(tmp_path, mutate(lambda d: d.update(generators=[{"seed": True}])), "b2.yaml")
    _raises(path, "generators[0].seed", "valid integer")


@pytest.mark.parametrize(("text", "key", "line"), [
    (MINIMAL + "name: again\n", "name", 12),
    (MINIMAL.replace("{name: db, kind: database}", "{name: db, kind: database, kind: cache}"), "kind", 7),
    (MINIMAL.replace("  t:\n", "  t:\n    calls: []\n"), "calls", 9),
])
def test_duplicate_keys_are_refused_with_their_line(tmp_path, text, key, line):
    path = write(tmp_path, text, "dup.yaml")
    _raises(path, f"line {line}", f"duplicate key '{key}'")


def test_a_merge_key_may_be_overridden(tmp_path):
    """``<<: *base`` then a key of its own is YAML's way to override, not a duplicate."""
    text = MINIMAL.replace("      - {name: db, kind: database}",
                          "      - &db {name: db, kind: database, replicas: 2}\n"
                          "      - {<<: *db, name: db2, replicas: 3}")
    text = text.replace("      - {from: web, to: db, weight: 0.5}",
                        "      - {from: web, to: db, weight: 0.5}\n      - {from: web, to: db2, weight: 0.5}")
    topology = load_suite(write(tmp_path, text, "merge.yaml")).scenarios[0].topology
    assert list(topology.names) == ["web", "db", "db2"] and list(topology.replicas) == [2, 2, 3]


@pytest.mark.parametrize("opening, closing", [("[", "]"), ("{a: ", "}")], ids=["lists", "mappings"])
def test_deep_nesting_is_a_clean_error(tmp_path, opening, closing):
    depth = 50_000
    path = write(tmp_path, f"name: x\ndescription: {opening * depth}1{closing * depth}\n", "deep.yaml")
    start = time.perf_counter()
    _raises(path, "line 2", f"nested deeper than {loading.MAX_NESTING} levels")
    assert time.perf_counter() - start < 5


def test_nesting_within_the_limit_reaches_the_schema(tmp_path):
    depth = loading.MAX_NESTING - 3
    text = MINIMAL.replace("scenarios:", f"description: {'[' * depth}1{']' * depth}\nscenarios:")
    _raises(write(tmp_path, text, "nested.yaml"), "description", "valid string")


def test_file_size_is_limited(tmp_path):
    big = MINIMAL + "# " + "x" * loading.MAX_SUITE_BYTES + "\n"
    path = write(tmp_path, big, "big.yaml")
    start = time.perf_counter()
    with pytest.raises(SuiteError, match=f"^{path}: the file is larger than {loading.MAX_SUITE_BYTES} bytes$"):
        load_suite(path)
    assert time.perf_counter() - start < 1
    with pytest.raises(SuiteError, match="^inline: the file is larger than"):
        parse_suite(big, source="inline")


def test_non_utf8_file_is_a_clean_error(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(MINIMAL.encode() + b"# caf\xe9\n")
    with pytest.raises(SuiteError, match="not UTF-8 text"):
        load_suite(path)


GENERATED = {"name": "gen", "topologies": {}, "scenarios": [], "generators": [{"seed": 1, "count": 1000,
                                                                               "services": [4, 200]}]}


def _no_generation(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("generated before the cheap checks")
    monkeypatch.setattr(loading, "expand", refuse)


def test_generator_too_large_for_max_services_is_refused_before_generating(tmp_path, monkeypatch):
    _no_generation(monkeypatch)
    path = write(tmp_path, yaml.safe_dump(GENERATED), "gen.yaml")
    text = _raises(path, "generators[0].services", "max_services=16", max_services=16)
    assert "200" in text
    with pytest.raises(SuiteError, match=r"generators\[0\].services: .*max_services=16"):
        supportgym.IncidentEnv(suite=str(path))


def test_generators_have_a_total_budget_checked_before_generating(tmp_path, monkeypatch):
    _no_generation(monkeypatch)
    data = {**GENERATED, "generators": [{"seed": 1, "count": 100, "services": [4, 16]},
                                        {"seed": 2, "count": 1000, "services": [4, 256]}]}
    path = write(tmp_path, yaml.safe_dump(data), "budget.yaml")
    text = _raises(path, "generators[1].count", f"the limit is {loading.MAX_GENERATED_SERVICES}", max_services=256)
    assert "257600" in text


def test_an_infinite_scenario_weight_no_longer_reaches_reset(tmp_path):
    path = write(tmp_path, mutate(_set(("scenarios", 0, "weight"), math.inf)), "inf.yaml")
    with pytest.raises(SuiteError, match=r"scenarios\[0\].weight: Input should be a finite number"):
        supportgym.IncidentEnv(suite=str(path))


# --- through the command-line tools --------------------------------------------------------

def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, what its one-line error must contain)."""
    deep = write(tmp_path, "name: x\ndescription: " + "[" * 20_000 + "]" * 20_000 + "\n", "deep.yaml")
    dup = write(tmp_path, MINIMAL + "name: again\n", "dup.yaml")
    inf = write(tmp_path, mutate(_set(("scenarios", 0, "weight"), math.inf)), "inf.yaml")
    gen = write(tmp_path, yaml.safe_dump(GENERATED), "gen.yaml")
    return {"deep": (deep, "nested deeper than"), "duplicate": (dup, "duplicate key 'name'"),
            "inf": (inf, "scenarios[0].weight: Input should be a finite number"),
            "generator": (gen, "generators[0].services")}


@pytest.mark.parametrize("bad", ["deep", "duplicate", "inf", "generator"])
def test_train_reports_a_bad_suite_in_one_line(tmp_path, capsys, bad):
    import train as train_module

    path, message = _bad_files(tmp_path)[bad]
    code = train_module.main(["--runs-root", str(tmp_path), "--run-dir", "bad", "--suite", str(path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("train.py: error:") and err.count("\n") == 1 and str(path) in err and message in err, err
    assert not (tmp_path / "bad").exists()


def _cli(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("bad", ["deep", "generator"])
def test_both_tools_exit_2_in_one_line_without_a_traceback(tmp_path, bad):
    path, message = _bad_files(tmp_path)[bad]
    runs = [_cli("evaluate.py", "--no-progress", "--agents", "naive", "--episodes", "2", "--suite", str(path)),
            _cli("train.py", "--runs-root", str(tmp_path), "--run-dir", "bad", "--suite", str(path), "--no-progress")]
    for run in runs:
        assert run.returncode == 2, run.stderr[-2000:]
        assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr[-2000:]
        assert message in run.stderr and str(path) in run.stderr and run.stdout == ""
