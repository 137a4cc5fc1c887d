"""The observation: where each feature sits in the flat vector, and how each value is encoded.

The observation is ``max_services`` blocks of :data:`SERVICE_FEATURES`, then
:data:`GLOBAL_FEATURES`, then the call graph: ``max_services x max_services`` call weights, row =
caller, column = callee (the service map an engineer has). Every feature lies in [0, 1]. Agents read it by name through
:class:`ObservationLayout` rather than by magic offsets. Each scaled reading has one
``encode_*``/``decode_*`` pair here: the simulator encodes with the first, render and agents
decode with the second. The scalar encoders are plain arithmetic so compiled kernels can use them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from supportgym.contract.vocabulary import (
    ALERT_KINDS,
    CHANNELS,
    DONE,
    INTERVENTIONS,
    KB_REMEDIES,
    N_LOG_CLASSES,
    N_TICKETS,
    SEVERITIES,
    TIERS,
    LogClass,
    ServiceKind,
    Team,
    Ticket,
)

METRICS = ("error_rate", "latency", "utilisation", "memory", "pool", "disk", "request_rate", "memory_trend",
           "resource_trend")
#: A metric reading's index in ``METRICS`` (and in the ``METRIC`` block), by name.
(M_ERROR_RATE, M_LATENCY, M_UTILISATION, M_MEMORY, M_POOL, M_DISK, M_REQUEST_RATE, M_MEMORY_TREND,
 M_RESOURCE_TREND) = range(len(METRICS))
VALIDATION_RESULTS = ("none", "healthy", "unhealthy")
VALIDATION_NONE, VALIDATION_HEALTHY, VALIDATION_UNHEALTHY = range(len(VALIDATION_RESULTS))
#: The customer's last answer to "does it work again?".
CUSTOMER_ANSWERS = ("none", "works", "broken", "silent")
CUSTOMER_NONE, CUSTOMER_WORKS, CUSTOMER_BROKEN, CUSTOMER_SILENT = range(len(CUSTOMER_ANSWERS))
TEAMS = tuple(t.name.lower() for t in Team)


def _names(prefix: str, items) -> list[str]:
    return [f"{prefix}{i}" for i in items]


SERVICE_FEATURES: list[str] = (
    ["present"]
    + _names("kind_", (k.name.lower() for k in ServiceKind))
    + ["entry_traffic", "depth", "failover_configured"]
    + _names("alert_", ALERT_KINDS)
    + ["internal_report"]
    + _names("metric_", METRICS)
    + ["metrics_fresh"]
    + _names("log_", (c.name.lower() for c in LogClass))
    + ["logs_fresh"]
    + ["trace_origin_here", "trace_points_here", "traces_fresh"]
    + ["deploy_recent", "config_recent", "change_reverted", "changes_fresh"]
    + ["repro_failed", "repro_hop", "reproduce_fresh"]
    + _names("kb_", KB_REMEDIES)
    + _names("done_", DONE)
)
GLOBAL_FEATURES: list[str] = (
    _names("tier_", TIERS)
    + _names("declared_", ("none", "sev1", "sev2", "sev3"))
    + ["elapsed"]
    + _names("validation_", VALIDATION_RESULTS)
    + ["validation_fresh", "kb_searched", "kb_matched"]
    + _names("ticket_", (t.name.lower() for t in Ticket))
    + _names("routed_", TEAMS)
    + _names("category_", ("none",) + TEAMS)
    + _names("customer_", CUSTOMER_ANSWERS)
    + ["customer_fresh"]
    + ["escalations", "alerts_firing", "last_action_invalid"]
)
SF = {name: i for i, name in enumerate(SERVICE_FEATURES)}
GF = {name: i for i, name in enumerate(GLOBAL_FEATURES)}
N_SF, N_GF = len(SERVICE_FEATURES), len(GLOBAL_FEATURES)


def _block(table: dict[str, int], first: str, length: int) -> slice:
    return slice(table[first], table[first] + length)


# Contiguous blocks of one-hot or grouped features.
KIND = _block(SF, "kind_" + ServiceKind(0).name.lower(), len(ServiceKind))
ALERTS = _block(SF, "alert_" + ALERT_KINDS[0], len(ALERT_KINDS))
METRIC = _block(SF, "metric_" + METRICS[0], len(METRICS))
LOGS = _block(SF, "log_" + LogClass(0).name.lower(), N_LOG_CLASSES)
KB = _block(SF, "kb_" + KB_REMEDIES[0], len(KB_REMEDIES))
DONE_BLOCK = _block(SF, "done_" + DONE[0], len(DONE))
#: Freshness columns, in the order of the evidence channels (``vocabulary.CHANNELS``).
FRESH = np.array([SF[f"{channel}_fresh"] for channel in CHANNELS])
G_TIER = _block(GF, f"tier_{TIERS[0]}", len(TIERS))
G_DECLARED = _block(GF, "declared_none", len(SEVERITIES))
G_VALIDATION = _block(GF, "validation_" + VALIDATION_RESULTS[0], len(VALIDATION_RESULTS))
G_TICKET = _block(GF, "ticket_" + Ticket(0).name.lower(), N_TICKETS)
G_ROUTED = _block(GF, "routed_" + TEAMS[0], len(TEAMS))
G_CATEGORY = _block(GF, "category_none", len(TEAMS) + 1)
G_CUSTOMER = _block(GF, "customer_" + CUSTOMER_ANSWERS[0], len(CUSTOMER_ANSWERS))
#: The ``done_*`` column of each intervention, by action kind.
DONE_FEATURE = {kind: SF["done_" + done] for kind, done in zip(INTERVENTIONS, DONE)}

# --- encodings: one pair per scaled value --------------------------------------------------
#: Evidence freshness = exp(-age / FRESHNESS_MINUTES); 0 if never read.
FRESHNESS_MINUTES = 30.0
#: Change recency (``deploy_recent``, ``config_recent``) = exp(-age / CHANGE_RECENCY_MINUTES).
CHANGE_RECENCY_MINUTES = 60.0
#: ``metric_latency`` = log2(latency / healthy latency) / LATENCY_OCTAVES: 1 at 32x healthy.
LATENCY_OCTAVES = 5.0
#: ``metric_utilisation`` = utilisation / UTILISATION_SCALE: 1 at twice the capacity.
UTILISATION_SCALE = 2.0
#: ``metric_request_rate`` = request rate / healthy rate / REQUEST_RATE_SCALE (healthy ~ 0.33).
REQUEST_RATE_SCALE = 3.0
#: Resource trends = level gained per minute x TREND_MINUTES (the level gained in half an hour).
TREND_MINUTES = 30.0
#: ``depth`` = call depth / DEPTH_SCALE; ``escalations`` = count / ESCALATIONS_SCALE; the
#: ``done_*`` counts go up in thirds to 1.
DEPTH_SCALE = 6.0
ESCALATIONS_SCALE = 2.0
DONE_STEP = 1.0 / 3.0
#: Ages at or beyond this many minutes mean "never" (an untouched reading starts at -inf).
NEVER = 1e9


def encode_freshness(age: float) -> float:
    return math.exp(-age / FRESHNESS_MINUTES) if age < NEVER else 0.0


def decode_freshness(value):
    """Age in minutes of a reading (inf if never read)."""
    return np.where(value > 0.0, -FRESHNESS_MINUTES * np.log(np.maximum(value, 1e-300)), np.inf)


def encode_recency(age):
    """Minutes since a change -> ``*_recent`` (numpy: for the batch of checked services)."""
    return np.exp(-age / CHANGE_RECENCY_MINUTES)


def decode_recency(value):
    """``*_recent`` -> minutes since the change."""
    return -CHANGE_RECENCY_MINUTES * np.log(value)


def encode_latency(ratio: float) -> float:
    """Latency over its healthy value -> ``metric_latency`` (log scale; 0 when not slower)."""
    return math.log2(max(ratio, 1.0)) / LATENCY_OCTAVES


def decode_latency(value):
    """``metric_latency`` -> latency over its healthy value."""
    return 2.0 ** (LATENCY_OCTAVES * value)


def encode_utilisation(utilisation: float) -> float:
    return utilisation / UTILISATION_SCALE


def decode_utilisation(value):
    return value * UTILISATION_SCALE


def encode_request_rate(rate_vs_healthy: float) -> float:
    return rate_vs_healthy / REQUEST_RATE_SCALE


def decode_request_rate(value):
    return value * REQUEST_RATE_SCALE


def encode_trend(per_minute: float) -> float:
    return per_minute * TREND_MINUTES


def decode_trend(value):
    """A trend reading -> level gained per minute."""
    return value / TREND_MINUTES


@dataclass(frozen=True)
class ObservationLayout:
    """Named access into a flat observation of an environment with ``max_services`` slots."""

    max_services: int

    @property
    def size(self) -> int:
        return self.max_services * N_SF + N_GF + self.max_services ** 2

    @property
    def graph_start(self) -> int:
        """Where the call graph starts in the flat observation."""
        return self.max_services * N_SF + N_GF

    def services(self, obs: np.ndarray) -> np.ndarray:
        """View of the per-service block, shape (..., max_services, n_service_features)."""
        return obs[..., : self.max_services * N_SF].reshape(*obs.shape[:-1], self.max_services, N_SF)

    def globals(self, obs: np.ndarray) -> np.ndarray:
        return obs[..., self.max_services * N_SF: self.graph_start]

    def calls(self, obs: np.ndarray) -> np.ndarray:
        """View of the call graph, shape (..., max_services, max_services): row = caller, column =
        callee, the call weight in [0, 1] (0: no call)."""
        n = self.max_services
        return obs[..., self.graph_start:].reshape(*obs.shape[:-1], n, n)

    def service(self, obs: np.ndarray, feature: str) -> np.ndarray:
        """One per-service feature for every service slot, shape (..., max_services)."""
        return self.services(obs)[..., SF[feature]]

    def glob(self, obs: np.ndarray, feature: str) -> np.ndarray:
        return self.globals(obs)[..., GF[feature]]

    def feature_names(self) -> list[str]:
        n = self.max_services
        return ([f"s{s}.{f}" for s in range(n) for f in SERVICE_FEATURES] + GLOBAL_FEATURES
                + [f"calls.s{a}.s{b}" for a in range(n) for b in range(n)])


def one_hot_index(values: np.ndarray, block: slice) -> np.ndarray:
    """The index of the set feature within a one-hot ``block`` (over the last axis)."""
    return np.argmax(values[..., block], axis=-1)
