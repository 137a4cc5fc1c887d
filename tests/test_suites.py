"""Suite files: safe loading, validation errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import supportgym
from supportgym.suite import SuiteError, builtin_suite_dir, load_suite, parse_suite

MINIMAL = """
name: mini
topologies:
  t:
    services:
      - {name: web, kind: frontend, entry_traffic: 1.0}
      - {name: db, kind: database}
    calls:
      - {from: web, to: db, weight: 0.5}
scenarios:
  - {name: s, topology: t, faults: [{type: slow_query, service: db}]}
"""


def write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def mutate(change) -> str:
    data = yaml.safe_load(MINIMAL)
    change(data)
    return yaml.safe_dump(data)


def test_minimal_suite_loads_and_runs(tmp_path):
    path = write(tmp_path, MINIMAL)
    suite = load_suite(path)
    assert suite.scenario_names == ["s"]
    env = supportgym.IncidentEnv(suite=str(path))
    env.reset(seed=0)


@pytest.mark.parametrize(("change", "field", "message"), [
    (lambda d: d["scenarios"][0].update(colour="red"), "scenarios[0].colour", "Extra inputs are not permitted"),
    (lambda d: d["topologies"]["t"]["services"][0].update(replicas="many"), "topologies.t.services[0].replicas",
     "valid integer"),
    (lambda d: d["scenarios"][0]["faults"][0].update(service="cache"), "scenarios[0].faults[0].service",
     "service 'cache' is not in topology 't'"),
    (lambda d: d.update(defaults={"noise": {"log_noise": 1.5}}), "defaults.noise.log_noise", "less than or equal to 1"),
    (lambda d: d["scenarios"][0].update(noise={"false_alarm_rate": -0.1}), "scenarios[0].noise.false_alarm_rate",
     "greater than or equal to 0"),
    (lambda d: d.update(scenarios=[]), "scenarios", "at least 1 item"),
    (lambda d: d["scenarios"][0].update(topology="nope"), "scenarios[0].topology", "unknown topology 'nope'"),
    (lambda d: d["topologies"]["t"]["calls"].append({"from": "db", "to": "web"}), "topologies.t.calls",
     "cycle"),
    (lambda d: d["topologies"]["t"]["calls"][0].update(to="ghost"), "topologies.t.calls[0].to",
     "unknown service 'ghost'"),
    (lambda d: d["scenarios"][0]["faults"][0].update(type="meteor"), "scenarios[0].faults[0].type", "Input should be"),
    (lambda d: d["scenarios"][0]["faults"][0].update(type="memory_leak"), "scenarios[0].faults[0].service",
     "cannot sit on 'db'"),
    (lambda d: d["scenarios"].append(dict(d["scenarios"][0])), "scenarios[1].name", "duplicate scenario name"),
    (lambda d: d["scenarios"][0]["faults"][0].update(latent=True, change="deploy"), "scenarios[0].faults[0].latent",
     "cannot be latent and brought by a recent change at once"),
    (lambda d: d["scenarios"][0]["faults"][0].update(type="memory_leak", service="web", latent=True),
     "scenarios[0].faults[0].latent", "comes with no change, so it is latent anyway"),
    (lambda d: d["scenarios"][0]["faults"][0].update(type="bad_deploy", service="web", latent=True),
     "scenarios[0].faults[0].latent", "is the fault type latent_bug"),
    (lambda d: d["scenarios"][0]["faults"][0].update(latent="yes"), "scenarios[0].faults[0].latent",
     "valid boolean"),
])
def test_invalid_suite_names_file_and_field(tmp_path, change, field, message):
    path = write(tmp_path, mutate(change), "broken.yaml")
    with pytest.raises(SuiteError) as error:
        load_suite(path)
    text = str(error.value)
    assert text.startswith(f"{path}: {field}: "), text
    assert message in text


def test_empty_and_malformed_files(tmp_path):
    with pytest.raises(SuiteError, match="empty.yaml: the file is empty"):
        load_suite(write(tmp_path, "", "empty.yaml"))
    with pytest.raises(SuiteError, match=r"bad.yaml: line \d+: not valid YAML"):
        load_suite(write(tmp_path, "name: [unclosed\n", "bad.yaml"))
    with pytest.raises(SuiteError, match="list.yaml: the top level must be a mapping"):
        load_suite(write(tmp_path, "- 1\n- 2\n", "list.yaml"))
    with pytest.raises(SuiteError, match="cannot read suite file"):
        load_suite(tmp_path / "missing.yaml")
    with pytest.raises(SuiteError, match="no built-in suite of that name"):
        load_suite("no-such-suite")


def test_yaml_is_loaded_safely(tmp_path):
    text = MINIMAL.replace("name: mini", "name: !!python/object/apply:os.system ['echo pwned']")
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_suite(write(tmp_path, text, "evil.yaml"))


def test_builtin_suites_are_valid_and_cover_every_fault():
    from supportgym.world.faults import FAULT_NAMES
    assert builtin_suite_dir().is_dir()
    standard = load_suite("standard")
    assert {f.type for s in standard.scenarios for f in s.faults} == set(FAULT_NAMES)
    assert all(len(s.faults) == 1 and s.noise.log_noise == 0 for s in load_suite("tutorial").scenarios)
    hard = load_suite("hard")
    assert any(len(s.faults) == 2 for s in hard.scenarios) and all(s.noise.false_alarm_rate > 0 for s in hard.scenarios)


def test_parse_suite_reports_given_source():
    with pytest.raises(SuiteError, match="^inline: "):
        parse_suite("name: x\n", source="inline")
