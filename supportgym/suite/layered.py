"""Deterministic layered topologies of any size, as suite-file data (the speed benchmark's).

``layered_topology(n)`` is one graph of ``n`` services: edge → gateways → APIs → databases,
caches, a queue with workers, external providers. ``layered_suite(n)`` puts every fault type on
it, with moderate noise, so ``benchmarks/speed.py`` can scale the simulator up.
"""

from __future__ import annotations

from typing import Any

from supportgym.contract.vocabulary import ServiceKind
from supportgym.world.faults import FAULTS


def layered_topology(n: int) -> dict[str, Any]:
    if n < 8:
        raise ValueError(f"a layered topology needs at least 8 services, not {n}")
    counts = {
        "gateway": max(1, n // 16),
        "db": max(1, n // 10),
        "cache": max(1, n // 16),
        "queue": max(1, n // 32),
        "worker": max(1, n // 16),
        "external": max(1, n // 32),
    }
    counts["api"] = n - 1 - sum(counts.values())
    names = {role: [f"{role}-{i}" for i in range(k)] for role, k in counts.items()}
    kinds = {"gateway": "api", "api": "api", "db": "database", "cache": "cache", "queue": "queue",
             "worker": "worker", "external": "external"}
    services = [{"name": "edge", "kind": "frontend", "replicas": 4, "capacity": 3.0, "entry_traffic": 1.0}]
    for role, role_names in names.items():
        for i, name in enumerate(role_names):
            service: dict[str, Any] = {"name": name, "kind": kinds[role]}
            if role == "cache":
                service |= {"capacity": 5.0, "backs": names["db"][i % len(names["db"])]}
            if role == "external":
                service["failover"] = i % 2 == 0
            services.append(service)

    calls = [{"from": "edge", "to": g, "weight": 1.0} for g in names["gateway"]]
    apis = names["api"]
    per_gateway = [apis[g::len(names["gateway"])] for g in range(len(names["gateway"]))]
    for gateway, own in zip(names["gateway"], per_gateway):
        calls += [{"from": gateway, "to": a, "weight": min(1.0, 1.5 / len(own))} for a in own]
    for i, api in enumerate(apis):
        calls.append({"from": api, "to": names["cache"][i % len(names["cache"])], "weight": 0.6})
        calls.append({"from": api, "to": names["db"][i % len(names["db"])], "weight": 0.2})
    for k, external in enumerate(names["external"]):
        calls.append({"from": apis[(2 * k) % len(apis)], "to": external, "weight": 0.5})
    for k, queue in enumerate(names["queue"]):
        calls.append({"from": apis[(2 * k + 1) % len(apis)], "to": queue, "weight": 0.3})
    for i, worker in enumerate(names["worker"]):
        calls.append({"from": names["queue"][i % len(names["queue"])], "to": worker, "weight": 1.0})
        calls.append({"from": worker, "to": names["db"][i % len(names["db"])], "weight": 0.4})
    return {"services": services, "calls": calls}


def layered_suite(n: int) -> dict[str, Any]:
    topology = layered_topology(n)
    by_kind: dict[str, list[str]] = {}
    for service in topology["services"]:
        by_kind.setdefault(service["kind"], []).append(service["name"])
    scenarios = []
    for fault, spec in FAULTS.items():
        candidates = [name for kind in spec.kinds for name in by_kind.get(ServiceKind(kind).name.lower(), [])
                      if name != "edge" or kind == ServiceKind.FRONTEND]
        scenarios.append({"name": f"layered-{fault}", "topology": "layered", "faults": [
            {"type": fault, "service": candidates}]})
    return {
        "name": f"layered-{n}",
        "description": f"Every fault type on a layered topology of {n} services.",
        "defaults": {"noise": {"false_alarm_rate": 0.03, "missed_alert_rate": 0.05, "metric_noise": 0.1,
                               "log_noise": 0.1, "trace_noise": 0.1, "red_herrings": 1}},
        "topologies": {"layered": topology},
        "scenarios": scenarios,
    }
