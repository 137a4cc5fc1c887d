"""Each fault type: its correct remedy resolves and holds, its wrong remedies do not; the
dynamics docs/world.md describes (relapse, cascade, self-healing, upstream alerts) emerge from the model."""

from __future__ import annotations

import numpy as np
import pytest

from supportgym.contract.observation import ObservationLayout
from supportgym.contract.vocabulary import MIN_TIER, ActionKind, LogClass, ServiceKind
from supportgym.stages.diagnosis import log_strengths
from supportgym.stages.signal import signals
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
    assert len(set(EXPECTED_LOGS.values())) == len(FAULT_NAMES)  # all twelve differ
