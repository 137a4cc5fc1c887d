"""The observation outside any one stage: episode-wide features and the per-step clock.

``State.obs`` is kept up to date in place: each stage writes what it finds (alerts, evidence,
desk, validation, reports); this module writes the topology facts fixed for the episode and
the features that move with time alone (evidence
freshness, elapsed time, validation freshness, alert load, whether the last action was masked).
"""

from __future__ import annotations

import numpy as np

from supportgym.compiled import kernel, stamp_cache
from supportgym.contract.observation import (
    DEPTH_SCALE,
    FRESH,
    G_TICKET,
    GF,
    KIND,
    SF,
    VALIDATION_NONE,
    encode_freshness,
)
from supportgym.contract.vocabulary import N_TICKETS, ServiceKind
from supportgym.stages.triage import desk_kernel
from supportgym.stages.validation import write_customer_row, write_validation_row
from supportgym.world.params import ROW_ENTRY, Params
from supportgym.world.state import State

G_ELAPSED, G_VALIDATION_FRESH = GF["elapsed"], GF["validation_fresh"]
G_ALERTS_FIRING, G_INVALID = GF["alerts_firing"], GF["last_action_invalid"]
G_CUSTOMER_FRESH = GF["customer_fresh"]
PRESENT_COLUMN, KIND_COLUMN, ENTRY_COLUMN = SF["present"], KIND.start, SF["entry_traffic"]
DEPTH_COLUMN, FAILOVER_COLUMN, REPORT_COLUMN = SF["depth"], SF["failover_configured"], SF["internal_report"]
TICKET_COLUMN = G_TICKET.start
N_KINDS = len(ServiceKind)


@kernel
def static_kernel(present, kind, service_table, depth, failover, calls, param_row, internal_report, ticket, tier,
                  declared, routed, category, escalations, customer_answer, svc_obs, glob_obs,
                  graph_obs):  # pragma: no cover - compiled
    """Features fixed for the episode: topology facts and the call graph, the ticket and its
    routing, an internal report, and the desk, validation and customer as they start."""
    batch, n = svc_obs.shape[0], present.shape[1]
    for b in range(batch):
        pr = param_row[b]
        svc_obs[b] = 0.0
        glob_obs[b] = 0.0
        for i in range(n):
            svc_obs[b, i, PRESENT_COLUMN] = 1.0 if present[pr, i] else 0.0
            for k in range(N_KINDS):
                svc_obs[b, i, KIND_COLUMN + k] = 1.0 if kind[pr, i] == k else 0.0
            svc_obs[b, i, ENTRY_COLUMN] = service_table[pr, ROW_ENTRY, i]
            svc_obs[b, i, DEPTH_COLUMN] = min(depth[pr, i] / DEPTH_SCALE, 1.0)
            svc_obs[b, i, FAILOVER_COLUMN] = 1.0 if failover[pr, i] else 0.0
            for j in range(n):
                graph_obs[b, i, j] = min(max(calls[pr, i, j], 0.0), 1.0)
        if internal_report[b] >= 0:
            svc_obs[b, internal_report[b], REPORT_COLUMN] = 1.0
        for c in range(N_TICKETS):
            glob_obs[b, TICKET_COLUMN + c] = 1.0 if ticket[b] == c else 0.0
        write_validation_row(b, VALIDATION_NONE, glob_obs)
        write_customer_row(b, customer_answer, glob_obs)
    desk_kernel(tier, declared, routed, category, escalations, glob_obs)


def refresh(p: Params, s: State, invalid: np.ndarray) -> None:
    """Per-step features: evidence freshness (``encode_freshness`` of its age), elapsed share of
    the time limit, validation and customer-answer freshness, share of services alerting, and
    whether the last action was masked."""
    refresh_kernel(s.checked_at, s.time, s.svc_obs, s.glob_obs, p.time_limit, s.validation_time, s.customer_time,
                    s.alerts, p.present, p.n_services, s.param_row, invalid)


_encode_freshness = kernel(encode_freshness)


@kernel
def refresh_kernel(checked_at, time, svc_obs, glob_obs, time_limit, validation_time, customer_time, alerts, present,
                    n_services, param_row, invalid):  # pragma: no cover - compiled
    batch, channels = checked_at.shape[0], checked_at.shape[2]
    for b in range(batch):
        pr = param_row[b]
        firing, services = 0, 0
        for i in range(n_services[pr]):  # (padding is never read and never alerts)
            for c in range(channels):
                if checked_at[b, i, c] > -np.inf:  # (never read: 0, as the opening wrote it)
                    svc_obs[b, i, FRESH[c]] = _encode_freshness(time[b] - checked_at[b, i, c])
            if present[pr, i]:
                services += 1
                for k in range(alerts.shape[2]):
                    if alerts[b, i, k]:
                        firing += 1
                        break
        glob_obs[b, G_ELAPSED] = min(max(time[b], 0.0) / time_limit[pr], 1.0)
        glob_obs[b, G_VALIDATION_FRESH] = _encode_freshness(time[b] - validation_time[b])
        glob_obs[b, G_CUSTOMER_FRESH] = _encode_freshness(time[b] - customer_time[b])
        glob_obs[b, G_ALERTS_FIRING] = firing / max(services, 1)
        glob_obs[b, G_INVALID] = 1.0 if invalid[b] else 0.0


stamp_cache(__file__, globals())
