"""Each fault type: its correct remedy resolves and holds, its wrong remedies do not; the
dynamics docs/world.md describes (relapse, cascade, self-healing, upstream alerts) emerge from the model."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from agents.oracle import lasting_remedy
from supportgym.contract.observation import ObservationLayout, encode_recency
from supportgym.contract.vocabulary import MIN_TIER, ActionKind, LogClass, ServiceKind
from supportgym.stages.diagnosis import log_strengths
from supportgym.stages.signal import signals
from supportgym.suite import builtin_suite_dir
from supportgym.world.faults import FAULT_NAMES, FAULTS
from tests.conftest import make, oracle_policy, run_episode, scenario_of

SEEDS = (0, 1, 2)


def _target(env, service: int, role: str) -> int:
    topo = env.unwrapped.scenario.topology
    if role == "self":
        return service
    if role == "caller":
        return topo.callers(service)[0]
    if topo.kinds[service] == ServiceKind.CACHE:  # the database a cache fronts
        return int(np.flatnonzero(topo.redirect[service])[0])
    return next(j for j in topo.callees(service) if topo.kinds[j] == ServiceKind.DATABASE)


def wrong_remedy_policy(kind: ActionKind, role: str):
    """Escalate as needed, apply the wrong remedy once, validate, resolve."""
    def policy(env, k):
        u, table = env.unwrapped, env.unwrapped.table
        if not hasattr(u, "_plan"):
            target = _target(env, int(u.state.fault_service[0, 0]), role)
            u._plan = [table.index(ActionKind.ESCALATE)] * (MIN_TIER[kind] - int(u.state.tier[0]))
            u._plan += [table.index(kind, target), table.index(ActionKind.VALIDATE), table.index(ActionKind.RESOLVE)]
        return u._plan[k]
    return policy


@pytest.mark.parametrize("fault", FAULT_NAMES)
def test_correct_remedy_resolves_and_holds(fault):
    for seed in SEEDS:
        _, metrics = run_episode(make("standard", scenario_of(fault)), seed, oracle_policy)
        assert metrics["resolved_and_held"], (fault, seed, metrics)
        assert metrics["harmful_actions"] == 0 and metrics["wrong_closures"] == 0


@pytest.mark.parametrize(("fault", "kind", "role"),
                         [(f, k, r) for f, spec in FAULTS.items() for k, r in spec.wrong_remedies])
def test_wrong_remedy_does_not_resolve(fault, kind, role):
    for seed in SEEDS:
        env = make("standard", scenario_of(fault))
        correct, _ = run_episode(env, seed, oracle_policy)
        wrong, metrics = run_episode(make("standard", scenario_of(fault)), seed, wrong_remedy_policy(kind, role))
        assert wrong < correct
        if fault in ("transient_blip", "external_outage"):
            # These end by themselves whatever is done; the change was needless risk.
            assert metrics["harmful_actions"] >= 1
        else:
            assert not metrics["resolved_and_held"] and metrics["wrong_closures"] == 1, (fault, kind, seed)


def _leak_env():
    env = make("standard", scenario_of("memory_leak"))
    env.reset(seed=0)
    u = env.unwrapped
    return env, u, int(u.state.fault_service[0, 0])


def test_memory_leak_relapses_after_restart_not_after_hotfix():
    env, u, svc = _leak_env()
    env.step(u.table.index(ActionKind.RESTART, svc))
    relieved = u.state.acc_level[0, svc, 0]
    for _ in range(12):  # an hour of waiting
        env.step(u.table.index(ActionKind.WAIT))
    assert relieved < 0.5 and u.state.acc_level[0, svc, 0] > 0.85  # it came back
    assert signals(u.params, u.state).impact[0] > 0.0

    env, u, svc = _leak_env()
    for _ in range(2):
        env.step(u.table.index(ActionKind.ESCALATE))
    env.step(u.table.index(ActionKind.HOTFIX, svc))
    for _ in range(12):
        env.step(u.table.index(ActionKind.WAIT))
    assert u.state.acc_level[0, svc, 0] < 0.5  # it stayed fixed


def test_deep_root_cause_alerts_its_callers():
    env = make("standard", "shop-slow-query")  # orders-db, two hops below the edge
    obs, _ = env.reset(seed=0)
    u = env.unwrapped
    layout, topo = ObservationLayout(u.table.max_services), u.scenario.topology
    alerting = layout.service(obs, "alert_latency") + layout.service(obs, "alert_errors")
    sig = signals(u.params, u.state)
    alerting_callers = [c for c in topo.callers(topo.index("orders-db")) if alerting[c]]
    assert alerting_callers, "a caller of the slow database alerts"
    for caller in alerting_callers:  # loud, but not the cause
        assert sig.err_own[0, caller] < 0.01 and sig.latency_own[0, caller] < 1.5 * u.params.base_latency[0, caller]


def test_cache_crash_overloads_its_database():
    env = make("standard", "shop-cache-failure")
    env.reset(seed=0)
    u = env.unwrapped
    topo, sig = u.scenario.topology, signals(u.params, u.state)
    db = topo.index("orders-db")
    assert sig.utilisation[0, db] > 1.0  # the thundering herd
    assert sig.latency_ratio[0, topo.index("catalog")] > 2.0  # callers of the cache wait on the database
    env.step(u.table.index(ActionKind.RESTART, topo.index("cache")))
    assert signals(u.params, u.state).utilisation[0, db] < 0.9


def test_external_outage_ends_by_itself_and_blip_heals():
    for scenario in ("saas-stripe-outage", "shop-transient-blip"):
        env = make("standard", scenario)
        env.reset(seed=0)
        u = env.unwrapped
        assert u.state.defect[0].max() > 0.3
        for _ in range(20):  # 100 minutes
            env.step(u.table.index(ActionKind.WAIT))
        assert u.state.defect[0].max() < 0.02


def test_two_concurrent_faults_need_both_remedies():
    _, metrics = run_episode(make("hard", "deploy-plus-cache-crash"), 0, oracle_policy)
    assert metrics["resolved_and_held"] and len(metrics["root_causes"]) == 2

    def cache_only(env, k):
        u = env.unwrapped
        cache = u.scenario.topology.index("redis")
        plan = [u.table.index(ActionKind.RESTART, cache), u.table.index(ActionKind.VALIDATE),
                u.table.index(ActionKind.RESOLVE)]
        return plan[k]
    _, metrics = run_episode(make("hard", "deploy-plus-cache-crash"), 0, cache_only)
    assert not metrics["resolved_and_held"]


def test_rollback_of_an_unrelated_change_is_harmful():
    env = make("standard", "shop-bad-deploy")
    env.reset(seed=0)
    u = env.unwrapped
    faulty = int(u.state.fault_service[0, 0])
    innocent = next(i for i in range(u.scenario.topology.n) if i != faulty
                    and u.scenario.topology.kinds[i] == ServiceKind.API)
    env.step(u.table.index(ActionKind.ESCALATE))
    *_, info = env.step(u.table.index(ActionKind.ROLLBACK, innocent))
    assert u.state.harmful[0] == 1 and u.state.defect[0, faulty].max() > 0
    env.step(u.table.index(ActionKind.ROLLBACK, faulty))
    assert u.state.harmful[0] == 1 and u.state.defect[0, faulty].max() == 0
    env.step(u.table.index(ActionKind.ROLLBACK, faulty))  # nothing left to revert
    assert u.state.harmful[0] == 2


EXPECTED_LOGS = {  # fault: (where the log is read, the signature it shows)
    "bad_deploy": ("self", LogClass.DEPLOY_EXCEPTION),
    "bad_config": ("self", LogClass.CONFIG_ERROR),
    "memory_leak": ("self", LogClass.OOM_KILLED),
    "pool_exhaustion": ("self", LogClass.POOL_EXHAUSTED),
    "slow_query": ("self", LogClass.SLOW_QUERY),
    "external_outage": ("caller", LogClass.PROVIDER_5XX),
    "traffic_spike": ("self", LogClass.HIGH_LOAD),
    "cache_failure": ("self", LogClass.PROCESS_DOWN),
    "disk_full": ("self", LogClass.NO_SPACE),
    "expired_cert": ("caller", LogClass.TLS_HANDSHAKE),
    "auth_failure": ("caller", LogClass.AUTH_DENIED),
    "transient_blip": ("self", LogClass.DEPENDENCY_ERRORS),
    "latent_bug": ("self", LogClass.DEPLOY_EXCEPTION),  # a stack trace looks the same however old the code
}


@pytest.mark.parametrize("fault", FAULT_NAMES)
def test_each_fault_has_its_own_log_signature(fault):
    env = make("standard", scenario_of(fault))
    env.reset(seed=0)
    u = env.unwrapped
    where, expected = EXPECTED_LOGS[fault]
    service = _target(env, int(u.state.fault_service[0, 0]), where)
    strength = log_strengths(u.params, u.state, signals(u.params, u.state), np.array([0]), np.array([service]))
    assert LogClass(int(strength[0].argmax())) == expected
    # all differ but the latent bug's and the bad deploy's: the changes check tells those apart
    assert len(set(EXPECTED_LOGS.values())) == len(FAULT_NAMES) - 1


def _changes_seen(env, service: int) -> tuple[float, float]:
    """What a changes check of ``service`` shows now: (deploy recency, config recency), 0 long ago .. 1 now."""
    u = env.unwrapped
    layout = ObservationLayout(u.table.max_services)
    obs, *_ = env.step(u.table.index(ActionKind.CHECK_CHANGES, service))
    return layout.service(obs, "deploy_recent")[service], layout.service(obs, "config_recent")[service]


@pytest.fixture(scope="module")
def quiet_standard(tmp_path_factory) -> str:
    """The standard suite without red herrings (a recent harmless change that may land on any
    service whose fault no change brought)."""
    data = yaml.safe_load((builtin_suite_dir() / "standard.yaml").read_text(encoding="utf-8"))
    data["defaults"]["noise"]["red_herrings"] = 0
    path = tmp_path_factory.mktemp("suites") / "quiet.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("scenario", "recent"), [("shop-bad-deploy", True), ("shop-latent-bug", False),
                                                  ("shop-bad-config", True), ("shop-latent-config", False)])
def test_changes_check_tells_a_latent_fault_from_one_a_change_brought(quiet_standard, scenario, recent):
    """The same logs; only the changes check shows a recent deploy or config push, or none."""
    for seed in SEEDS:
        env = make(quiet_standard, scenario)
        env.reset(seed=seed)
        u = env.unwrapped
        service = int(u.state.fault_service[0, 0])
        env.step(u.table.index(ActionKind.ESCALATE))  # changes need L2
        deploy, config = _changes_seen(env, service)
        assert (max(deploy, config) > encode_recency(180.0)) == recent, (scenario, seed, deploy, config)


def _remedy_policy(kind: ActionKind):
    """Escalate as needed, apply ``kind`` to the faulty service, validate, resolve."""
    return wrong_remedy_policy(kind, "self")


@pytest.mark.parametrize("scenario", ["shop-latent-config", "saas-slow-query-growth",
                                      "saas-auth-failure-expired-secret"])
def test_a_latent_fault_is_fixed_by_a_hotfix_not_a_rollback(scenario):
    """A fault that usually comes with a change, marked ``latent``: no recent change to revert, so
    a rollback is harmful and fixes nothing, a hotfix lasts (and the oracle picks it)."""
    for seed in SEEDS:
        _, rolled = run_episode(make("standard", scenario), seed, _remedy_policy(ActionKind.ROLLBACK))
        assert not rolled["resolved_and_held"] and rolled["harmful_actions"] == 1, (scenario, seed, rolled)
        _, fixed = run_episode(make("standard", scenario), seed, _remedy_policy(ActionKind.HOTFIX))
        assert fixed["resolved_and_held"] and fixed["harmful_actions"] == 0, (scenario, seed, fixed)
        env = make("standard", scenario)
        env.reset(seed=seed)
        u = env.unwrapped
        fault = FAULT_NAMES[u.state.fault_type[0, 0]]
        assert lasting_remedy(env, fault, int(u.state.fault_service[0, 0])) == ActionKind.HOTFIX
