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
    GF,
    KIND,
    SF,
    VALIDATION_NONE,
    encode_freshness,
)
from supportgym.contract.vocabulary import ServiceKind
from supportgym.stages.signal import write_reports
from supportgym.stages.triage import write_desk
from supportgym.stages.validation import write_customer, write_validation
from supportgym.world.params import Params
from supportgym.world.state import State

G_ELAPSED, G_VALIDATION_FRESH = GF["elapsed"], GF["validation_fresh"]
G_ALERTS_FIRING, G_INVALID = GF["alerts_firing"], GF["last_action_invalid"]
G_CUSTOMER_FRESH = GF["customer_fresh"]


def write_static(p: Params, s: State) -> None:
    """Features fixed for the episode: topology facts and the call graph, the ticket and its
    routing, an internal report, and the desk, validation and customer as they start."""
    o = s.svc_obs
    o[:] = 0.0
    s.glob_obs[:] = 0.0
    o[:, :, SF["present"]] = p.present
    o[:, :, KIND] = p.kind[..., None] == np.arange(len(ServiceKind))
    o[:, :, SF["entry_traffic"]] = p.entry
    o[:, :, SF["depth"]] = np.minimum(p.depth / DEPTH_SCALE, 1.0)
    o[:, :, SF["failover_configured"]] = p.failover
    write_reports(s)
    write_desk(s)
    write_validation(s, np.full(len(s.tier), VALIDATION_NONE))
    write_customer(s)
    s.graph_obs[:] = np.clip(p.calls, 0.0, 1.0)


def refresh(p: Params, s: State, invalid: np.ndarray) -> None:
    """Per-step features: evidence freshness (``encode_freshness`` of its age), elapsed share of
    the time limit, validation and customer-answer freshness, share of services alerting, and
    whether the last action was masked."""
    refresh_kernel(s.checked_at, s.time, s.svc_obs, s.glob_obs, p.time_limit, s.validation_time, s.customer_time,
                    s.alerts, p.present, invalid)


_encode_freshness = kernel(encode_freshness)


@kernel
def refresh_kernel(checked_at, time, svc_obs, glob_obs, time_limit, validation_time, customer_time, alerts, present,
                    invalid):  # pragma: no cover - compiled
    batch, n, channels = checked_at.shape
    for b in range(batch):
        firing, services = 0, 0
        for i in range(n):
            for c in range(channels):
                svc_obs[b, i, FRESH[c]] = _encode_freshness(time[b] - checked_at[b, i, c])
            if present[b, i]:
                services += 1
                for k in range(alerts.shape[2]):
                    if alerts[b, i, k]:
                        firing += 1
                        break
        glob_obs[b, G_ELAPSED] = min(max(time[b], 0.0) / time_limit[b], 1.0)
        glob_obs[b, G_VALIDATION_FRESH] = _encode_freshness(time[b] - validation_time[b])
        glob_obs[b, G_CUSTOMER_FRESH] = _encode_freshness(time[b] - customer_time[b])
        glob_obs[b, G_ALERTS_FIRING] = firing / max(services, 1)
        glob_obs[b, G_INVALID] = 1.0 if invalid[b] else 0.0


stamp_cache(__file__, globals())
