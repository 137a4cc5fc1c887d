"""Where each feature sits in the flat observation vector.

The observation is ``max_services`` blocks of :data:`SERVICE_FEATURES` followed by
:data:`GLOBAL_FEATURES`. Agents read it by name through :class:`ObservationLayout` rather than
by magic offsets. Every feature lies in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from supportgym.catalog import N_LOG_CLASSES, N_TICKETS, LogClass, ServiceKind, Ticket

ALERT_KINDS = ("errors", "latency", "saturation", "down")
METRICS = ("error_rate", "latency", "utilisation", "memory", "pool", "disk", "request_rate", "memory_trend",
           "resource_trend")
KB_REMEDIES = ("restart", "rollback", "scale_out", "hotfix", "failover", "wait")
DONE = ("restarted", "rolled_back", "scaled_out", "hotfixed", "failed_over")


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
    + _names("kb_", KB_REMEDIES)
    + _names("done_", DONE)
)
GLOBAL_FEATURES: list[str] = (
    _names("tier_", (1, 2, 3))
    + _names("declared_", ("none", "sev1", "sev2", "sev3"))
    + ["elapsed"]
    + _names("validation_", ("none", "healthy", "unhealthy"))
    + ["validation_fresh", "kb_searched", "kb_matched"]
    + _names("ticket_", (t.name.lower() for t in Ticket))
    + ["escalations", "alerts_firing", "last_action_invalid"]
)
SF = {name: i for i, name in enumerate(SERVICE_FEATURES)}
GF = {name: i for i, name in enumerate(GLOBAL_FEATURES)}
N_SF, N_GF = len(SERVICE_FEATURES), len(GLOBAL_FEATURES)

# Contiguous blocks the dynamics write into.
KIND = slice(SF["kind_frontend"], SF["kind_frontend"] + len(ServiceKind))
ALERTS = slice(SF["alert_errors"], SF["alert_errors"] + len(ALERT_KINDS))
METRIC = slice(SF["metric_error_rate"], SF["metric_error_rate"] + len(METRICS))
LOGS = slice(SF["log_normal"], SF["log_normal"] + N_LOG_CLASSES)
KB = slice(SF["kb_restart"], SF["kb_restart"] + len(KB_REMEDIES))
DONE_BLOCK = slice(SF["done_restarted"], SF["done_restarted"] + len(DONE))
#: Freshness columns, in the order of the evidence channels: metrics, logs, traces, changes.
FRESH = np.array([SF["metrics_fresh"], SF["logs_fresh"], SF["traces_fresh"], SF["changes_fresh"]])
G_TIER = slice(GF["tier_1"], GF["tier_1"] + 3)
G_DECLARED = slice(GF["declared_none"], GF["declared_none"] + 4)
G_VALIDATION = slice(GF["validation_none"], GF["validation_none"] + 3)
G_TICKET = slice(GF["ticket_none"], GF["ticket_none"] + N_TICKETS)
#: Minutes over which evidence loses half... roughly: freshness = exp(-age / FRESHNESS_MINUTES).
FRESHNESS_MINUTES = 30.0


@dataclass(frozen=True)
class ObservationLayout:
    """Named access into a flat observation of an environment with ``max_services`` slots."""

    max_services: int

    @property
    def size(self) -> int:
        return self.max_services * N_SF + N_GF

    def services(self, obs: np.ndarray) -> np.ndarray:
        """View of the per-service block, shape (..., max_services, n_service_features)."""
        return obs[..., : self.max_services * N_SF].reshape(*obs.shape[:-1], self.max_services, N_SF)

    def globals(self, obs: np.ndarray) -> np.ndarray:
        return obs[..., self.max_services * N_SF:]

    def service(self, obs: np.ndarray, feature: str) -> np.ndarray:
        """One per-service feature for every service slot, shape (..., max_services)."""
        return self.services(obs)[..., SF[feature]]

    def glob(self, obs: np.ndarray, feature: str) -> np.ndarray:
        return self.globals(obs)[..., GF[feature]]

    def feature_names(self) -> list[str]:
        return [f"s{s}.{f}" for s in range(self.max_services) for f in SERVICE_FEATURES] + GLOBAL_FEATURES
