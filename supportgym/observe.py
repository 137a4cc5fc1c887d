"""The agent's view: alerts raised from true signals, evidence from checks, the flat observation.

The hidden world reaches the agent only through the functions here, each with its own noise:
delayed, missed and false alerts; noisy metric readings; misleading log signatures; traces
that sometimes point at the wrong hop. Evidence is a snapshot that loses freshness with time.
"""

from __future__ import annotations

import numpy as np

from supportgym.catalog import (
    ACC_HARM_THRESHOLD,
    ACC_OWN_LOG,
    DEFECT_CALLER_LOG,
    DEFECT_OWN_LOG,
    N_ACCUMULATORS,
    N_DEFECTS,
    N_LOG_CLASSES,
    Defect,
    LogClass,
    ServiceKind,
)
from supportgym.dynamics import Signals
from supportgym.kernels import alerts_kernel, refresh_kernel
from supportgym.layout import (
    ALERTS,
    FRESH,
    FRESHNESS_MINUTES,
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
_SPECIFIC_CALLER_CLASSES = (LogClass.TLS_HANDSHAKE, LogClass.AUTH_DENIED, LogClass.PROVIDER_5XX)


def _log_matrix(classes: np.ndarray, weight: float = 1.0) -> np.ndarray:
    m = np.zeros((len(classes), N_LOG_CLASSES))
    for i, c in enumerate(classes):
        if c != LogClass.NORMAL:
            m[i, c] = 2.0 * weight if c in _SPECIFIC_CALLER_CLASSES else weight
    return m


_OWN_LOG = _log_matrix(DEFECT_OWN_LOG)
_CALLER_LOG = _log_matrix(DEFECT_CALLER_LOG)
_ACC_LOG = _log_matrix(ACC_OWN_LOG, 1.5)
_KB_CODES = np.arange(len(KB_REMEDIES))
assert _OWN_LOG.shape == (N_DEFECTS, N_LOG_CLASSES) and _ACC_LOG.shape == (N_ACCUMULATORS, N_LOG_CLASSES)


def update_alerts(p: Params, s: State, sig: Signals, dt: np.ndarray) -> None:
    """Alerts fire once a true condition has held for the alert delay, unless the rule is broken;
    false alarms fire on their own schedule."""
    alerts_kernel(sig.conditions, s.alert_pending, dt, p.alert_delay, s.alert_muted, s.false_until, s.time, s.alerts,
                  s.svc_obs, ALERTS.start)


def record_metrics(p: Params, s: State, sig: Signals, r: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> None:
    level, rate = s.acc_level[r, t], s.acc_rate[r, t]
    # Requests failing a TLS handshake never reach the service: its request rate drops.
    reaching = 1.0 - s.defect[r, t, Defect.CERT_EXPIRED]
    values = np.stack(
        (
            sig.err[r, t],
            np.log2(np.maximum(sig.latency_ratio[r, t], 1.0)) / 5.0,
            sig.utilisation[r, t] / 2.0,
            level[:, 0],
            level[:, 1],
            level[:, 2],
            sig.load[r, t] * reaching / p.base_load[r, t] / 3.0,
            rate[:, 0] * 30.0,
            np.maximum(rate[:, 1], rate[:, 2]) * 30.0,
        ),
        axis=-1,
    )
    values *= 1.0 + p.metric_noise[r, None] * rng.standard_normal(values.shape)
    s.svc_obs[r, t, METRIC] = np.clip(values, 0.0, 1.0)
    s.checked_at[r, t, METRICS_CH] = s.time[r]


def log_strengths(p: Params, s: State, sig: Signals, r: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(len(r), N_LOG_CLASSES) How strongly each log signature shows in service t's logs."""
    over = np.maximum(s.acc_level[r] - ACC_HARM_THRESHOLD, 0.0) / (1.0 - ACC_HARM_THRESHOLD)
    own = s.defect[r, t] @ _OWN_LOG + over[np.arange(len(r)), t] @ _ACC_LOG
    own[:, LogClass.HIGH_LOAD] += np.maximum(sig.utilisation[r, t] - 0.9, 0.0)
    own[:, LogClass.PROCESS_DOWN] += sig.down[r, t]
    # What t's logs say about each service it calls: specific signatures (TLS, 401/403,
    # provider 5xx) where the callee has them, otherwise generic errors/timeouts from it.
    seen = s.defect[r] @ _CALLER_LOG
    badness = sig.err[r] + np.minimum(np.maximum(sig.latency_ratio[r] - 1.0, 0.0), 5.0) / 5.0
    seen[:, :, LogClass.DEPENDENCY_ERRORS] += badness
    from_callees = np.matmul(p.calls[r, t][:, None, :], seen)[:, 0]
    return own + from_callees


def record_logs(p: Params, s: State, sig: Signals, r: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> None:
    strength = log_strengths(p, s, sig, r, t)
    cls = np.where(strength.max(axis=1) < 0.03, LogClass.NORMAL, strength.argmax(axis=1))
    misleading = rng.random(len(r)) < p.log_noise[r]
    cls = np.where(misleading, rng.integers(1, N_LOG_CLASSES, len(r)), cls)
    s.svc_obs[r, t, LOGS] = cls[:, None] == np.arange(N_LOG_CLASSES)
    s.checked_at[r, t, LOGS_CH] = s.time[r]


def record_traces(p: Params, s: State, sig: Signals, r: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> None:
    """Traces through t: does the trouble start here, or which called service does it come from?"""
    calls = p.calls[r, t]
    badness = sig.err[r] + np.minimum(np.maximum(sig.latency_ratio[r] - 1.0, 0.0), 5.0) / 5.0
    contrib = calls * badness
    own_latency = sig.latency_own[r, t] / p.base_latency[r, t] - 1.0
    own = sig.err_own[r, t] + np.minimum(np.maximum(own_latency, 0.0), 5.0) / 5.0
    hop = contrib.argmax(axis=1)
    best = contrib[np.arange(len(r)), hop]
    wrong = (rng.random(len(r)) < p.trace_noise[r]) & (calls > 0).any(axis=1)
    random_hop = ((calls > 0) * rng.random(calls.shape)).argmax(axis=1)
    hop = np.where(wrong, random_hop, hop)
    points = (best > np.maximum(own, 0.02)) | (wrong & (best > 0.02))
    s.svc_obs[r, t, SF["trace_origin_here"]] = ~points & (own > 0.02)
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
    refresh_kernel(s.checked_at, s.time, FRESH, FRESHNESS_MINUTES, s.svc_obs, s.glob_obs, p.time_limit,
                   s.validation_time, s.alerts, p.present, invalid, GF["elapsed"], GF["validation_fresh"],
                   GF["alerts_firing"], GF["last_action_invalid"])


def encode(s: State) -> np.ndarray:
    """The flat float32 observation (B, N * N_SF + N_GF)."""
    return np.concatenate((s.svc_obs.reshape(len(s.svc_obs), -1), s.glob_obs), axis=1)
