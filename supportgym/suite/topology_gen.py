"""Seeded random topologies as suite-file data, for the scenario generator (``generator.py``).

``random_topology(rng, n, family, vocabulary)`` draws a graph of realistic shape. Two shape families:

  - ``tiered`` (the generator's default): one or two entry services (a web frontend, maybe a
    mobile BFF or a public API), an optional gateway, front APIs with at most one hop to backend
    APIs, shared databases with caches fronting some of them, an optional queue with workers,
    external providers (some with a failover). At most **three** API-kind services lie on any
    call path (gateway → front → backend), like every hand-written training topology.
  - ``federated`` (used by the held-out suite only): two or three cells, each an entry with its
    own gateway and domain APIs, over a shared platform layer and a core layer: gateway → domain
    → platform → core, so **four** API-kind services lie on the longest call path. Workers may
    call external providers.

  ``api_depth`` measures that invariant and ``shape_fingerprint`` fingerprints a graph's shape
  (kinds and calls, not names), so tests can show that the two families never meet.

Service names come from a *vocabulary* (``commerce`` or ``logistics``); the two share no name.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from supportgym.contract.vocabulary import ServiceKind
from supportgym.world.topology import Topology

# --- seeded random graphs (scenario generator) ----------------------------------------------

#: Service names per role. The vocabularies share no name with each other; ``logistics`` (the
#: held-out suite's) also shares none with any hand-written training suite.
VOCABULARIES: dict[str, dict[str, tuple[str, ...]]] = {
    "commerce": {
        "frontend": ("web", "storefront", "mobile-bff", "admin-ui", "checkout-ui"),
        "entry_api": ("public-api", "partner-api", "merchant-api"),
        "gateway": ("gateway", "api-gateway", "edge-router"),
        "api": ("auth", "catalog", "checkout", "payment", "search", "orders", "profile", "inventory", "cart",
                "reviews", "shipping", "pricing", "recommend", "notifications", "sessions", "promotions",
                "wishlist", "returns", "loyalty", "media"),
        "database": ("orders-db", "users-db", "catalog-db", "inventory-db", "main-db"),
        "cache": ("redis", "memcached", "session-cache", "page-cache"),
        "queue": ("events", "jobs", "order-queue"),
        "worker": ("fulfilment", "mailer", "indexer", "thumbnailer"),
        "external": ("psp", "stripe", "sms-gateway", "maps", "tax-service"),
    },
    "logistics": {
        "frontend": ("shipper-portal", "carrier-app", "ops-console"),
        "entry_api": ("edi-inbound", "booking-api"),
        "gateway": ("shipper-gw", "carrier-gw", "ops-gw"),
        "api": ("quotes", "bookings", "tracking", "manifests", "claims", "dispatch", "customs", "tariffs",
                "routing", "invoicing", "ledger", "fx-rates", "capacity", "proof-of-delivery", "labels",
                "rates-engine", "compliance", "settlement", "yard", "dock-slots"),
        "database": ("booking-store", "ledger-store", "tracking-store", "tariff-store"),
        "cache": ("quote-cache", "route-cache", "rate-cache"),
        "queue": ("dispatch-bus", "scan-stream"),
        "worker": ("label-printer", "reconciler", "scan-ingester", "settler"),
        "external": ("carrier-edi", "fx-feed", "sanctions-screen", "customs-broker"),
    },
}
#: Fewest services each shape family can build, before required roles: an entry, an API and a
#: database; two cells of entry, gateway and domain API over a platform, a core API and a database.
FAMILY_MIN_SERVICES = {"tiered": 3, "federated": 9}
FAMILIES = tuple(FAMILY_MIN_SERVICES)
#: Roles a caller may require (a topology that must host a cache crash needs a cache), with the
#: services each adds (a queue comes with its first worker).
REQUIRABLE = {"cache": 1, "external": 1, "queue": 2}

_KIND = {"frontend": "frontend", "entry_api": "api", "gateway": "api", "api": "api", "database": "database",
         "cache": "cache", "queue": "queue", "worker": "worker", "external": "external"}


class _Graph:
    """A topology under construction: named services by role, calls without duplicates."""

    def __init__(self, rng: np.random.Generator, vocabulary: str):
        self.rng = rng
        self.pools = {role: [str(x) for x in rng.permutation(names)]
                      for role, names in VOCABULARIES[vocabulary].items()}
        self.taken: set[str] = set()
        self.services: dict[str, dict[str, Any]] = {}
        self.calls: dict[tuple[str, str], float] = {}

    def add(self, role: str, **fields: Any) -> str:
        name = self._name(role)
        self.services[name] = {"name": name, "kind": _KIND[role], **_sizing(role, self.rng), **fields}
        return name

    def call(self, caller: str, callee: str, low: float, high: float) -> None:
        if (caller, callee) not in self.calls:
            self.calls[caller, callee] = round(float(self.rng.uniform(low, high)), 2)

    def callers(self, callee: str) -> list[str]:
        return [a for a, b in self.calls if b == callee]

    def pick(self, names: list[str]) -> str:
        return names[int(self.rng.integers(len(names)))]

    def subset(self, names: list[str], low: int, high: int) -> list[str]:
        """Between ``low`` and ``high`` distinct names, in their given order."""
        k = int(self.rng.integers(low, min(high, len(names)) + 1))
        chosen = set(self.rng.choice(len(names), size=k, replace=False).tolist())
        return [n for i, n in enumerate(names) if i in chosen]

    def _name(self, role: str) -> str:
        pool = self.pools[role]
        base = pool.pop(0) if pool else f"{role.replace('_', '-')}"
        name, k = base, 2
        while name in self.taken:  # a pool ran dry: number the names
            name, k = f"{base}-{k}", k + 1
        self.taken.add(name)
        return name

    def data(self) -> dict[str, Any]:
        return {"services": list(self.services.values()),
                "calls": [{"from": a, "to": b, "weight": w} for (a, b), w in self.calls.items()]}


def _sizing(role: str, rng: np.random.Generator) -> dict[str, Any]:
    """Replicas and capacity (headroom over healthy peak load) by role, as in the hand-written suites."""
    if role == "frontend":
        return {"replicas": int(rng.integers(3, 7)), "capacity": 3.0}
    if role in ("gateway", "entry_api"):
        return {"replicas": int(rng.integers(3, 5)), "capacity": 3.0}
    if role == "api":
        return {"replicas": int(rng.integers(2, 4)), "capacity": round(float(rng.uniform(2.2, 3.0)), 1)}
    if role == "database":
        return {"replicas": int(rng.integers(1, 3)), "capacity": 3.0}
    if role == "cache":
        return {"replicas": int(rng.integers(2, 4)), "capacity": 5.0,
                "cache_hit_rate": round(float(rng.uniform(0.8, 0.95)), 2)}
    if role == "queue":
        return {"replicas": 2, "capacity": 4.0}
    if role == "worker":
        return {"replicas": int(rng.integers(2, 4))}
    return {"capacity": 20.0}  # external: a provider's headroom is not ours to exhaust


def _fill(rng: np.random.Generator, counts: dict[str, int], budget: int, api_weight: float, api_roles: list[str],
          caps: dict[str, int]) -> None:
    """Spend ``budget`` services on optional roles, drawn by weight within caps (in place)."""
    while budget > 0:
        apis = sum(counts[r] for r in api_roles)
        options = {r: api_weight / len(api_roles) for r in api_roles if counts[r] < caps.get(r, 10**6)}
        if counts["database"] < 1 + apis // 3:
            options["database"] = 1.0
        if counts["cache"] < counts["database"]:
            options["cache"] = 1.5
        if counts["external"] < 3:
            options["external"] = 1.0
        if counts["queue"] == 0 and budget >= 2:
            options["queue"] = 0.8
        if counts["queue"] and counts["worker"] < 3:
            options["worker"] = 0.6
        roles = sorted(options)
        weights = np.array([options[r] for r in roles])
        role = roles[int(rng.choice(len(roles), p=weights / weights.sum()))]
        counts[role] += 1
        budget -= 1
        if role == "queue":  # a queue comes with its first consumer
            counts["worker"] += 1
            budget -= 1


def _wire_data(g: _Graph, users: list[str], dbs: list[str], caches: list[str], externals: list[str],
               external_callers: list[str]) -> None:
    """Databases shared by the APIs in ``users``, caches fronting some of them, external providers."""
    home: dict[str, list[str]] = {db: [] for db in dbs}
    for api in users:
        if g.rng.random() < 0.8:
            home[g.pick(dbs)].append(api)
    for db in dbs:
        if not home[db]:
            home[db].append(g.pick(users))
    backed = dict(zip(g.rng.permutation(dbs)[:len(caches)].tolist(), caches))
    for db in dbs:
        cache = backed.get(db)
        if cache is None:
            for api in home[db]:
                g.call(api, db, 0.2, 0.6)
            continue
        g.services[cache]["backs"] = db
        through = [a for a in home[db] if g.rng.random() < 0.75] or [home[db][0]]
        for api in home[db]:
            if api in through:  # reads go through the cache, a few writes straight to the database
                g.call(api, cache, 0.5, 0.9)
                g.call(api, db, 0.05, 0.3)
            else:
                g.call(api, db, 0.2, 0.6)
    for external in externals:
        g.services[external]["failover"] = bool(g.rng.random() < 0.5)
        g.call(g.pick(external_callers), external, 0.3, 1.0)


def _wire_queue(g: _Graph, queue: str | None, workers: list[str], producers: list[str], dbs: list[str]) -> None:
    if queue is None:
        return
    for producer in g.subset(producers, 1, 2):
        g.call(producer, queue, 0.2, 0.5)
    for worker in workers:
        g.calls[queue, worker] = 1.0
        g.call(worker, g.pick(dbs), 0.2, 0.5)


def _tiered(rng: np.random.Generator, n: int, vocabulary: str, require: tuple[str, ...]) -> dict[str, Any]:
    g = _Graph(rng, vocabulary)
    spare = n - min_services("tiered", require)  # beyond an entry, an API, a database and the required roles
    two_entries = spare >= 3 and rng.random() < 0.4
    gateway = spare - two_entries >= 4 and rng.random() < 0.6
    counts = {"api": 1 + gateway, "database": 1, **_required(require)}
    _fill(rng, counts, n - 1 - two_entries - gateway - sum(counts.values()), 4.0, ["api"], {})

    share = round(float(rng.uniform(0.6, 0.85)), 2) if two_entries else 1.0
    entries = [g.add("frontend", entry_traffic=share)]
    if two_entries:
        role = "frontend" if rng.random() < 0.5 else "entry_api"
        entries.append(g.add(role, entry_traffic=round(1.0 - share, 2)))
    gw = g.add("gateway") if gateway else None
    apis = [g.add("api") for _ in range(counts["api"])]
    dbs = [g.add("database") for _ in range(counts["database"])]
    caches = [g.add("cache") for _ in range(counts["cache"])]
    queue = g.add("queue") if counts["queue"] else None
    workers = [g.add("worker") for _ in range(counts["worker"])]
    externals = [g.add("external") for _ in range(counts["external"])]

    # front APIs take the users' requests; a backend API sits one hop behind one or two of them
    backend = [a for a in apis[1:] if rng.random() < 0.3]
    front = [a for a in apis if a not in backend]
    for entry in entries:
        if gw is not None and g.services[entry]["kind"] == "frontend":
            g.calls[entry, gw] = 1.0
        else:
            for api in g.subset(front, 1, 3):
                g.call(entry, api, 0.2, 0.9)
    if gw is not None:
        for api in front:
            g.call(gw, api, 0.2, 0.8)
    for api in front:  # every front API is reachable
        if not g.callers(api):
            g.call(g.pick(entries), api, 0.2, 0.9)
    for api in backend:
        for caller in g.subset(front, 1, 2):
            g.call(caller, api, 0.3, 1.0)
    _wire_data(g, apis, dbs, caches, externals, backend or apis)
    _wire_queue(g, queue, workers, apis, dbs)
    return g.data()


def _federated(rng: np.random.Generator, n: int, vocabulary: str, require: tuple[str, ...]) -> dict[str, Any]:
    g = _Graph(rng, vocabulary)
    cells = 3 if n >= min_services("federated", require) + 6 and rng.random() < 0.5 else 2
    counts = {"domain": cells, "platform": 1, "core": 1, "database": 1, **_required(require)}
    _fill(rng, counts, n - 2 * cells - sum(counts.values()), 4.0, ["domain", "platform", "core"],
          {"platform": 3, "core": 2})

    shares = rng.uniform(0.5, 1.5, cells)
    shares = np.round(shares / shares.sum(), 2)
    entries = [g.add("frontend", entry_traffic=float(s)) for s in shares]
    gateways = [g.add("gateway") for _ in range(cells)]
    domains = [g.add("api") for _ in range(counts["domain"])]
    platform = [g.add("api") for _ in range(counts["platform"])]
    core = [g.add("api") for _ in range(counts["core"])]
    dbs = [g.add("database") for _ in range(counts["database"])]
    caches = [g.add("cache") for _ in range(counts["cache"])]
    queue = g.add("queue") if counts["queue"] else None
    workers = [g.add("worker") for _ in range(counts["worker"])]
    externals = [g.add("external") for _ in range(counts["external"])]

    # each cell: its entry, its gateway, its own domain APIs (one at least)
    cell_of = {d: i if i < cells else int(rng.integers(cells)) for i, d in enumerate(domains)}
    for c in range(cells):
        g.calls[entries[c], gateways[c]] = 1.0
        for d in (d for d in domains if cell_of[d] == c):
            g.call(gateways[c], d, 0.3, 0.9)
    # the platform layer is shared: its first service serves the first domain of two cells
    for d in domains:
        for p in g.subset(platform, 1, 2):
            g.call(d, p, 0.3, 0.9)
    for c in range(2):
        g.call(next(d for d in domains if cell_of[d] == c), platform[0], 0.3, 0.9)
    for p in platform[1:]:
        if not g.callers(p):
            g.call(g.pick(domains), p, 0.3, 0.9)
    # the core layer: the first platform service always reaches it (gateway → domain → platform → core)
    g.call(platform[0], core[0], 0.3, 0.9)
    for c in core:
        for p in g.subset(platform, 1, 2):
            g.call(p, c, 0.3, 0.9)
    callers_of_providers = core + (workers if rng.random() < 0.5 else [])
    _wire_data(g, domains + platform + core, dbs, caches, externals, callers_of_providers)
    _wire_queue(g, queue, workers, domains, dbs)
    return g.data()


_BUILDERS = {"tiered": _tiered, "federated": _federated}


def min_services(family: str, require: tuple[str, ...] = ()) -> int:
    """The fewest services a ``family`` topology with the ``require``d roles can have."""
    return FAMILY_MIN_SERVICES[family] + sum(REQUIRABLE[r] for r in set(require))


def _required(require: tuple[str, ...]) -> dict[str, int]:
    counts = {role: int(role in require) for role in REQUIRABLE}
    counts["worker"] = counts["queue"]
    return counts


def random_topology(rng: np.random.Generator, n: int, family: str = "tiered", vocabulary: str = "commerce",
                    require: tuple[str, ...] = ()) -> dict[str, Any]:
    """A random topology of exactly ``n`` services, as suite-file data, drawn from ``rng`` only.

    ``require`` names roles it must have at least one of (``cache``, ``external``)."""
    if family not in _BUILDERS:
        raise ValueError(f"unknown topology family {family!r} (known: {', '.join(FAMILIES)})")
    if vocabulary not in VOCABULARIES:
        raise ValueError(f"unknown vocabulary {vocabulary!r} (known: {', '.join(VOCABULARIES)})")
    if unknown := set(require) - set(REQUIRABLE):
        raise ValueError(f"cannot require {sorted(unknown)} (requirable: {', '.join(REQUIRABLE)})")
    require = tuple(sorted(set(require)))
    if n < min_services(family, require):
        raise ValueError(f"a {family} topology with {list(require)} needs at least "
                         f"{min_services(family, require)} services, not {n}")
    data = _BUILDERS[family](rng, n, vocabulary, require)
    assert len(data["services"]) == n, (family, n, len(data["services"]))
    return data


# --- shape measures ---------------------------------------------------------------------------


def api_depth(topology: Topology) -> int:
    """The most API-kind services on any call path (3 at most for ``tiered``, 4 for ``federated``)."""
    is_api = (topology.kinds == ServiceKind.API).astype(int)
    depth = np.zeros(topology.n, dtype=int)
    for i in topology.callees_first:  # a service's depth from its callees' depths
        callees = np.flatnonzero(topology.calls[i] > 0)
        depth[i] = is_api[i] + (depth[callees].max() if len(callees) else 0)
    return int(depth.max())


def shape_fingerprint(topology: Topology, rounds: int = 4) -> str:
    """A fingerprint of a topology's shape: service kinds, entries, calls and caches, not names or
    weights (Weisfeiler-Lehman colour refinement). Different fingerprints mean different shapes."""
    calls = topology.calls > 0
    label = [f"{int(k)}{'e' if e > 0 else ''}{'f' if f else ''}{'b' if topology.redirect[i].any() else ''}"
             for i, (k, e, f) in enumerate(zip(topology.kinds, topology.entry, topology.failover))]
    for _ in range(rounds):
        label = [
            _digest(label[i] + "|" + ",".join(sorted(label[j] for j in np.flatnonzero(calls[i])))
                    + "|" + ",".join(sorted(label[j] for j in np.flatnonzero(calls[:, i]))))
            for i in range(topology.n)
        ]
    return _digest(",".join(sorted(label)))


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
