"""The seeded scenario generator: random topologies, faults from a weighted mix, noise, red herrings.

A generated scenario is plain suite-file data, validated by the same code as a hand-written one,
so everything the generator makes is an ordinary :class:`~supportgym.suite.Scenario`
(``loading.py`` validates it; this module never loads). Scenario
``i`` of seed ``s`` is drawn from ``numpy.random.default_rng([s, i])`` alone: the same seed and
settings give the same scenario, however many are generated alongside it.

From a suite file, a ``generators:`` entry (``schema.GeneratorSpec``) is expanded into
``count`` scenarios when the file loads::

    generators:
      - {seed: 7, count: 50, services: [4, 16], mix: ghosh, concurrent: 0.15, noise: [0, 1]}

From Python::

    from supportgym.suite import generate_suite, suite_data
    suite = generate_suite(seed=7, count=50)               # a validated Suite
    yaml.safe_dump(suite_data(seed=7, count=50))           # the same, as a suite file to edit or load

Each scenario gets its own topology (``topology_gen.random_topology``), one fault or (with
probability ``concurrent``) two on distinct services, each drawn by the ``mix`` weights among the
fault types its topology can host, placed on one to three candidate services (the episode's
seed picks among them) and sometimes shipped by a recent deploy or long ago (``SHIPPED_BY_DEPLOY``,
``LATENT``), a noise level between none (0) and the hard suite's (1), red herrings,
and sometimes a daily traffic curve.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from supportgym.contract.vocabulary import ServiceKind
from supportgym.suite.schema import GeneratorSpec
from supportgym.suite.topology_gen import min_services, random_topology
from supportgym.world.faults import FAULT_NAMES, FAULTS, ROOT_CAUSE_CATEGORIES

#: Ghosh et al., SoCC 2022: root causes of 152 high-severity Microsoft Teams incidents (%).
GHOSH_ROOT_CAUSES: dict[str, float] = dict(zip(ROOT_CAUSE_CATEGORIES, (27.0, 16.4, 15.8, 13.2, 12.5, 10.5, 4.6)))
#: The same study's most common mitigations (%); "infrastructure change" includes traffic failover.
GHOSH_MITIGATIONS: dict[str, float] = {"rollback": 22.4, "infrastructure change": 21.1}

#: Fault-type weights whose categories (``FAULTS[type].category``) add up to GHOSH_ROOT_CAUSES:
#: code bug 8 + 6 + 7 + 6, dependency failure 9.4 + 7, infrastructure 6.8 + 5 + 4, deployment
#: error 13.2 (expired certificates), config bug 12.5, database/network 10.5, auth failure 4.6.
GHOSH_MIX: dict[str, float] = {
    "bad_deploy": 8.0,
    "latent_bug": 6.0,
    "memory_leak": 7.0,
    "pool_exhaustion": 6.0,
    "external_outage": 9.4,
    "cache_failure": 7.0,
    "traffic_spike": 6.8,
    "disk_full": 5.0,
    "transient_blip": 4.0,
    "expired_cert": 13.2,
    "bad_config": 12.5,
    "slow_query": 10.5,
    "auth_failure": 4.6,
}
MIXES: dict[str, dict[str, float]] = {"ghosh": GHOSH_MIX, "uniform": {f: 1.0 for f in FAULT_NAMES}}
#: How a generated fault came about, where its type allows a choice (whatever the mix): the chance
#: that a memory leak was shipped by a recent deploy (a rollback then also lasts), and that a fault
#: that comes with a change shipped it long ago (``latent``: only a hotfix lasts). With GHOSH_MIX
#: they put rollback at about GHOSH_MITIGATIONS' 22.4% of the oracle's mitigations: 8 + 7 * 0.3 +
#: 12.5 * (1 - 0.55) + 10.5 * (1 - 0.6) + 4.6 * (1 - 0.45) = 22.4 of 100 brought by a recent change.
SHIPPED_BY_DEPLOY: dict[str, float] = {"memory_leak": 0.3}
LATENT: dict[str, float] = {"bad_config": 0.55, "slow_query": 0.6, "auth_failure": 0.45}

#: Noise at level 1 (the hard suite's); level ``x`` scales every rate by ``x``.
HEAVY_NOISE = {"false_alarm_rate": 0.08, "missed_alert_rate": 0.1, "metric_noise": 0.2, "log_noise": 0.2,
               "trace_noise": 0.2, "ticket_mislead": 0.35, "misroute": 0.35, "internal_report_rate": 0.3}


def generator_spec(seed: int = 0, **settings: Any) -> GeneratorSpec:
    """A validated generator entry (the fields of ``GeneratorSpec``) from Python arguments."""
    return GeneratorSpec.model_validate({"seed": seed, **settings})


def prefix(spec: GeneratorSpec) -> str:
    return spec.name or f"gen-{spec.seed}"


def expand(spec: GeneratorSpec) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The topologies (by name) and scenarios of a generator entry, as suite-file data.

    Raises ``ValueError`` for settings that cannot work together (the suite loader names the entry).
    """
    low, high = spec.services
    if low > high:
        raise ValueError(f"services must be [fewest, most], not {spec.services}")
    if spec.noise[0] > spec.noise[1] or spec.red_herrings[0] > spec.red_herrings[1]:
        raise ValueError("noise and red_herrings must be [low, high] ranges")
    if not any(w > 0 for w in _mix(spec).values()):
        raise ValueError("the fault mix gives every fault type weight 0")
    if low < min_services(spec.family):
        raise ValueError(f"a {spec.family} topology has at least {min_services(spec.family)} services, "
                         f"so services must start there, not at {low}")
    topologies, scenarios = {}, []
    for index in range(spec.count):
        name, topology, scenario = scenario_data(spec, index)
        topologies[name] = topology
        scenarios.append(scenario)
    return topologies, scenarios


def scenario_data(spec: GeneratorSpec, index: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Scenario ``index`` of a generator entry: (name, topology data, scenario data)."""
    rng = np.random.default_rng([spec.seed, index])
    name = f"{prefix(spec)}-{index}"
    mix = {f: w for f, w in _mix(spec).items() if min_services(spec.family, _requirements([f])) <= spec.services[1]}
    types = _draw_types(rng, mix, spec.concurrent)
    # the topology is drawn to host the faults, so the mix is what the scenarios get
    require = _requirements(types)
    if min_services(spec.family, require) > spec.services[1]:  # too small for two: keep the first
        types = types[:1]
        require = _requirements(types)
    low = max(spec.services[0], min_services(spec.family, require))
    n = int(rng.integers(low, spec.services[1] + 1))
    topology = random_topology(rng, n, spec.family, spec.vocabulary, require)
    faults = _place_faults(rng, topology, types)
    level = float(rng.uniform(*spec.noise))
    herrings = int(rng.integers(spec.red_herrings[0], spec.red_herrings[1] + 1))
    scenario: dict[str, Any] = {
        "name": name,
        "topology": name,
        "weight": spec.weight / spec.count,
        "faults": faults,
        "noise": noise_at(level, herrings),
        "description": _describe(spec, index, n, faults, level),
    }
    if rng.random() < 0.25:  # a daily traffic curve: the same fault looks different at peak
        scenario["daily_traffic_amplitude"] = round(float(rng.uniform(0.1, 0.3)), 2)
        scenario["start_hour"] = float(rng.integers(0, 48)) / 2
    return name, topology, scenario


def noise_at(level: float, red_herrings: int) -> dict[str, Any]:
    """Noise settings at ``level`` (0 none, 1 the hard suite's), as a suite file's ``noise`` mapping."""
    noise: dict[str, Any] = {k: round(v * level, 3) for k, v in HEAVY_NOISE.items()}
    noise["alert_delay_minutes"] = round(1.0 + 4.0 * level, 1)
    noise["red_herrings"] = red_herrings
    return noise


def _mix(spec: GeneratorSpec) -> dict[str, float]:
    return MIXES[spec.mix] if isinstance(spec.mix, str) else dict(spec.mix)


#: Fault types only one optional role can host (every topology has frontends, APIs and a database).
_HOST_ROLE = {"cache_failure": "cache", "external_outage": "external"}


def _requirements(types: list[str]) -> tuple[str, ...]:
    """Roles a topology needs to host ``types`` on distinct services."""
    roles = {_HOST_ROLE[t] for t in types if t in _HOST_ROLE}
    if {"slow_query", "disk_full"} <= set(types):  # one database cannot host both: a queue can fill its disk
        roles.add("queue")
    return tuple(sorted(roles))


def _draw_types(rng: np.random.Generator, mix: dict[str, float], concurrent: float) -> list[str]:
    """One fault type drawn by weight, or (with chance ``concurrent``) two different ones."""
    names = [f for f in FAULT_NAMES if mix.get(f, 0.0) > 0]
    weights = np.array([mix[f] for f in names])
    two = rng.random() < concurrent and len(names) > 1
    picked = rng.choice(len(names), size=1 + two, replace=False, p=weights / weights.sum())
    return [names[int(i)] for i in picked]


def _place_faults(rng: np.random.Generator, topology: dict[str, Any], types: list[str]) -> list[dict[str, Any]]:
    """Fault entries on disjoint candidate services (one to three each; the episode draws one).

    A second fault whose every possible host the first one took is dropped; the first leaves it one
    host when it can, so that only happens when a single service could host both."""
    kinds = {s["name"]: ServiceKind[s["kind"].upper()] for s in topology["services"]}
    pools = [[s for s, k in kinds.items() if k in FAULTS[t].kinds] for t in types]
    faults: list[dict[str, Any]] = []
    used: set[str] = set()
    for i, fault in enumerate(types):
        pool = [s for s in pools[i] if s not in used]
        if i + 1 < len(types) and (later := [s for s in pools[i + 1] if s not in used]):
            reserve = later[int(rng.integers(len(later)))]  # keep a host free for the next fault
            pool = [s for s in pool if s != reserve] or pool
        if not pool:
            continue
        k = int(rng.integers(1, min(3, len(pool)) + 1))
        services = sorted(rng.choice(pool, size=k, replace=False).tolist(), key=pool.index)
        used |= set(services)
        onset = float(rng.integers(2, 13))
        entry: dict[str, Any] = {"type": fault, "service": services if k > 1 else services[0],
                                 "onset_minutes": [onset, onset + float(rng.integers(4, 16))]}
        if fault in SHIPPED_BY_DEPLOY and rng.random() < SHIPPED_BY_DEPLOY[fault]:
            entry["change"] = "deploy"
        if fault in LATENT and rng.random() < LATENT[fault]:
            entry["latent"] = True
        faults.append(entry)
    return faults


def _describe(spec: GeneratorSpec, index: int, n: int, faults: list[dict[str, Any]], level: float) -> str:
    what = " + ".join(("latent " if f.get("latent") else "") + f["type"] for f in faults)
    return f"Generated (seed {spec.seed}, #{index}): {what} on a {spec.family} topology of {n} services; " \
           f"noise level {level:.2f}."


# --- Python entry points -----------------------------------------------------------------------


def suite_data(seed: int = 0, count: int = 10, name: str = "generated", description: str | None = None,
               extra: dict[str, Any] | None = None, **settings: Any) -> dict[str, Any]:
    """A suite file's data holding ``count`` generated scenarios, written out (no generator entry).

    ``settings`` are ``GeneratorSpec`` fields (``services``, ``mix``, ``concurrent``, ...); ``extra``
    adds top-level suite fields (``defaults``, ``reward``, ``known_issues``, ``heldout``).
    """
    spec = generator_spec(seed, count=count, **settings)
    topologies, scenarios = expand(spec)
    return {
        "name": name,
        "description": description or f"{count} generated scenarios (seed {seed}).",
        **(extra or {}),
        "topologies": topologies,
        "scenarios": scenarios,
    }
