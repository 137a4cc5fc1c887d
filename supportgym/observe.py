"""The agent's view: alerts raised from true signals, evidence from checks, the flat observation.

The hidden world reaches the agent only through the functions here, each with its own noise:
delayed, missed and false alerts; noisy metric readings; misleading log signatures; traces
that sometimes point at the wrong hop. Evidence is a snapshot that loses freshness with time.
"""

from __future__ import annotations

import numpy as np

from supportgym.catalog import N_LOG_CLASSES, LogClass, ServiceKind
from supportgym.dynamics import Signals
from supportgym.kernels import (
    alerts_kernel,
    log_strength_kernel,
    metrics_kernel,
    refresh_kernel,
    trace_kernel,
)
from supportgym.layout import (
    G_DECLARED,
    G_TICKET,
    G_TIER,
    G_VALIDATION,
    GF,
    KB,
    KB_REMEDIES,
    KIND,
    LOGS,
    METRIC,
    SF,
)
from supportgym.params import Params
from supportgym.state import State

METRICS_CH, LOGS_CH, TRACES_CH, CHANGES_CH = range(4)
_KB_CODES = np.arange(len(KB_REMEDIES))


def update_alerts(p: Params, s: State, sig: Signals, dt: np.ndarray) -> None:
    """Alerts fire once a true condition has held for the alert delay, unless the rule is broken;
    false alarms fire on their own schedule."""
    alerts_kernel(sig.conditions, s.alert_pending, dt, p.alert_delay, s.alert_muted, s.false_until, s.time, s.alerts,
                  s.svc_obs)


# The evidence recorders share one signature (``core.step`` dispatches on the action kind) for
# rows ``r`` checking services ``t``; only metric readings draw fresh noise, so only they use rng.
def record_metrics(p: Params, s: State, sig: Signals, r: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> None:
    """Metrics of t: error rate, latency, utilisation, memory/pool/disk levels, request rate and
    the resource trends, each with relative noise ``metric_noise``."""
    normals = rng.standard_normal((len(r), METRIC.stop - METRIC.start))
    metrics_kernel(r, t, sig.table, p.service_table, s.acc_level, s.acc_rate, s.defect, p.metric_noise, normals,
                   s.time, s.svc_obs, s.checked_at, METRIC.start, METRICS_CH)


def log_strengths(p: Params, s: State, sig: Signals, r: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(len(r), N_LOG_CLASSES) How strongly each signature shows in the logs of each t (no noise)."""
    strength = np.empty((len(r), N_LOG_CLASSES))
    log_strength_kernel(r, t, sig.table, p.calls, s.acc_level, s.defect, s.log_decoy, strength)
    return strength


def record_logs(p: Params, s: State, sig: Signals, r: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> None:
    """The dominant log signature of t (normal if none reaches 0.03). A service with a log decoy
    (``log_noise``) shows its misleading signature too, every time: re-reading does not help."""
    strength = log_strengths(p, s, sig, r, t)
    cls = np.where(strength.max(axis=1) < 0.03, LogClass.NORMAL, strength.argmax(axis=1))
    s.svc_obs[r, t, LOGS] = cls[:, None] == np.arange(N_LOG_CLASSES)
    s.checked_at[r, t, LOGS_CH] = s.time[r]


def record_traces(p: Params, s: State, sig: Signals, r: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> None:
    """Traces through t: does the trouble start here, or which called service does it come from?
    A service with a trace decoy (``trace_noise``) blames its decoy callee whenever it sees trouble."""
    origin, hop = np.empty(len(r), dtype=bool), np.empty(len(r), dtype=np.int64)
    trace_kernel(r, t, sig.table, p.calls, p.service_table, s.trace_decoy, origin, hop)
    s.svc_obs[r, t, SF["trace_origin_here"]] = origin
    points = hop >= 0
    s.svc_obs[r[points], hop[points], SF["trace_points_here"]] = 1.0
    s.checked_at[r, t, TRACES_CH] = s.time[r]


def record_changes(s: State, r: np.ndarray, t: np.ndarray) -> None:
    now = s.time[r]
    s.svc_obs[r, t, SF["deploy_recent"]] = np.exp(-(now - s.deploy_time[r, t]) / 60.0)
    s.svc_obs[r, t, SF["config_recent"]] = np.exp(-(now - s.config_time[r, t]) / 60.0)
    s.svc_obs[r, t, SF["change_reverted"]] = s.reverted[r, t]
    s.checked_at[r, t, CHANGES_CH] = now


def record_kb(s: State, r: np.ndarray) -> None:
    fix = s.kb_fix[r]
    s.svc_obs[r, :, KB] = fix[..., None] == _KB_CODES
    s.glob_obs[r, GF["kb_searched"]] = 1.0
    s.glob_obs[r, GF["kb_matched"]] = (fix >= 0).any(axis=1)


def write_static(p: Params, s: State) -> None:
    """Features fixed for the episode: topology facts, the ticket, an internal report."""
    o = s.svc_obs
    o[:] = 0.0
    s.glob_obs[:] = 0.0
    o[:, :, SF["present"]] = p.present
    o[:, :, KIND] = p.kind[..., None] == np.arange(len(ServiceKind))
    o[:, :, SF["entry_traffic"]] = p.entry
    o[:, :, SF["depth"]] = np.minimum(p.depth / 6.0, 1.0)
    o[:, :, SF["failover_configured"]] = p.failover
    rows = np.flatnonzero(s.internal_report >= 0)
    o[rows, s.internal_report[rows], SF["internal_report"]] = 1.0
    s.glob_obs[:, G_TICKET] = s.ticket[:, None] == np.arange(G_TICKET.stop - G_TICKET.start)
    write_desk(s)
    write_validation(s, np.zeros(len(s.tier), int))


def write_desk(s: State) -> None:
    """Tier, declared severity and escalation count."""
    s.glob_obs[:, G_TIER] = s.tier[:, None] == np.arange(1, 4)
    s.glob_obs[:, G_DECLARED] = s.declared[:, None] == np.arange(4)
    s.glob_obs[:, GF["escalations"]] = np.minimum(s.escalations / 2.0, 1.0)


def write_validation(s: State, result: np.ndarray, rows: np.ndarray | None = None) -> None:
    """result: 0 none, 1 healthy, 2 unhealthy."""
    rows = np.arange(len(s.tier)) if rows is None else rows
    s.glob_obs[rows, G_VALIDATION] = result[:, None] == np.arange(3)


def refresh(p: Params, s: State, invalid: np.ndarray) -> None:
    """Per-step features: evidence freshness (exp(-age / FRESHNESS_MINUTES), 0 if never read),
    elapsed share of the time limit, validation freshness, share of services alerting, and
    whether the last action was masked."""
    refresh_kernel(s.checked_at, s.time, s.svc_obs, s.glob_obs, p.time_limit, s.validation_time, s.alerts, p.present,
                   invalid)

