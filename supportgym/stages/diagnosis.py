"""Stage 3, diagnosis: the evidence channels (metrics, logs, traces, changes) and the knowledge base.

The hidden world reaches the agent only through these checks, each with its own noise: noisy
metric readings; log signatures that a misleading but harmless error can outshout; traces that
sometimes blame the wrong hop; a reproduction (L2's synthetic request through an entry path)
that shows whether users are failing there and which hop the failure starts at. Evidence is a
snapshot: its freshness fades (``observe.refresh``).
"""

from __future__ import annotations

import numpy as np

from supportgym.compiled import kernel, stamp_cache
from supportgym.contract.observation import (
    GF,
    KB,
    LOGS,
    M_DISK,
    M_ERROR_RATE,
    M_LATENCY,
    M_MEMORY,
    M_MEMORY_TREND,
    M_POOL,
    M_REQUEST_RATE,
    M_RESOURCE_TREND,
    M_UTILISATION,
    METRIC,
    METRICS,
    SF,
    encode_latency,
    encode_recency,
    encode_request_rate,
    encode_trend,
    encode_utilisation,
)
from supportgym.contract.vocabulary import (
    CHANGES_CH,
    KB_REMEDIES,
    LOGS_CH,
    METRICS_CH,
    N_LOG_CLASSES,
    REPRODUCE_CH,
    TRACES_CH,
    ActionKind,
    LogClass,
)
from supportgym.rng import standard_normal
from supportgym.stages.signal import (
    SIG_DOWN,
    SIG_ERR,
    SIG_ERR_OWN,
    SIG_LATENCY_OWN,
    SIG_LATENCY_RATIO,
    SIG_LOAD,
    SIG_UTILISATION,
    Signals,
)
from supportgym.world.mechanisms import (
    ACC_HARM_THRESHOLD,
    ACC_OWN_LOG,
    DEFECT_CALLER_LOG,
    DEFECT_OWN_LOG,
    Accumulator,
    Defect,
)
from supportgym.world.params import ROW_BASE_LATENCY, ROW_BASE_LOAD, ROW_HEALTHY_LATENCY, ROW_SLO_LATENCY, Params
from supportgym.world.state import State

CHECK_METRICS, CHECK_LOGS = int(ActionKind.CHECK_METRICS), int(ActionKind.CHECK_LOGS)
CHECK_TRACES, CHECK_CHANGES = int(ActionKind.CHECK_TRACES), int(ActionKind.CHECK_CHANGES)
SEARCH_KB, REPRODUCE = int(ActionKind.SEARCH_KB), int(ActionKind.REPRODUCE)
#: The action kinds this stage handles.
KINDS = frozenset({CHECK_METRICS, CHECK_LOGS, CHECK_TRACES, CHECK_CHANGES, SEARCH_KB, REPRODUCE})
#: The checks whose findings carry random noise.
DRAWING = frozenset({CHECK_METRICS, REPRODUCE})

MEMORY, POOL, DISK = int(Accumulator.MEMORY), int(Accumulator.POOL), int(Accumulator.DISK)
CERT_EXPIRED = int(Defect.CERT_EXPIRED)
LOG_NORMAL, LOG_HIGH_LOAD = int(LogClass.NORMAL), int(LogClass.HIGH_LOAD)
LOG_PROCESS_DOWN, LOG_DEPENDENCY_ERRORS = int(LogClass.PROCESS_DOWN), int(LogClass.DEPENDENCY_ERRORS)
#: A signature must reach this strength to show; below it the logs read normal.
LOG_VISIBLE = 0.03
#: How loud a service's misleading log signature is: a real fault of middling intensity can hide under it.
LOG_DECOY_STRENGTH = 0.5
#: How loud an accumulator over its threshold is in its own logs (per unit over the threshold).
LOG_ACC_WEIGHT = 1.5
#: Utilisation above which a service logs high load.
LOG_HIGH_LOAD_FROM = 0.9
#: Specific signatures (TLS, 401/403, provider 5xx) outweigh generic errors in a log.
_SPECIFIC = (LogClass.TLS_HANDSHAKE, LogClass.AUTH_DENIED, LogClass.PROVIDER_5XX)
OWN_LOG_WEIGHT = np.array([2.0 if c in _SPECIFIC else 1.0 for c in DEFECT_OWN_LOG])
CALLER_LOG_WEIGHT = np.array([2.0 if c in _SPECIFIC else 1.0 for c in DEFECT_CALLER_LOG])
#: How bad a callee looks from a caller: its error rate plus its slowdown, capped at SLOWDOWN_CAP
#: times healthy and scaled to [0, 1].
SLOWDOWN_CAP = 5.0
#: Trouble (error rate plus scaled slowdown) below which traces see nothing wrong.
TRACE_TROUBLE = 0.02
N_METRICS = len(METRICS)
N_KB_CODES = len(KB_REMEDIES)
LOGS_COLUMN, KB_COLUMN = LOGS.start, KB.start
TRACE_ORIGIN_COLUMN, TRACE_POINTS_COLUMN = SF["trace_origin_here"], SF["trace_points_here"]
DEPLOY_RECENT_COLUMN, CONFIG_RECENT_COLUMN = SF["deploy_recent"], SF["config_recent"]
CHANGE_REVERTED_COLUMN = SF["change_reverted"]
REPRO_FAILED_COLUMN, REPRO_HOP_COLUMN = SF["repro_failed"], SF["repro_hop"]
KB_SEARCHED_COLUMN, KB_MATCHED_COLUMN = GF["kb_searched"], GF["kb_matched"]


@kernel
def diagnose_kernel(kind, target, sig, service_table, calls, noise, param_row, acc_level, acc_rate, defect, log_decoy,
                     trace_decoy, deploy_time, config_time, reverted, kb_fix, time, svc_obs, glob_obs, checked_at,
                     streams, of_row):  # pragma: no cover - compiled
    """Each row's check of its target: a reading written into the observation, stamped with the time
    (row b's parameters, ``service_table`` to ``noise``, at ``param_row[b]``)."""
    normals = np.empty(N_METRICS)
    strength = np.empty(N_LOG_CLASSES)
    for b in range(kind.shape[0]):
        k, i, now, pr = kind[b], target[b], time[b], param_row[b]
        if k == CHECK_METRICS:
            for v in range(N_METRICS):
                normals[v] = standard_normal(streams, of_row[b])
            _metrics_row(b, pr, i, sig, service_table, acc_level, acc_rate, defect, noise, normals, svc_obs)
            checked_at[b, i, METRICS_CH] = now
        elif k == CHECK_LOGS:
            _log_strength_row(b, pr, i, sig, calls, acc_level, defect, log_decoy, strength)
            shown = LOG_NORMAL if strength.max() < LOG_VISIBLE else strength.argmax()
            for c in range(N_LOG_CLASSES):
                svc_obs[b, i, LOGS_COLUMN + c] = 1.0 if c == shown else 0.0
            checked_at[b, i, LOGS_CH] = now
        elif k == CHECK_TRACES:
            hop, origin = _trace_step(b, pr, i, sig, calls, service_table, trace_decoy)
            svc_obs[b, i, TRACE_ORIGIN_COLUMN] = 1.0 if origin else 0.0
            if hop >= 0:
                svc_obs[b, hop, TRACE_POINTS_COLUMN] = 1.0
            checked_at[b, i, TRACES_CH] = now
        elif k == CHECK_CHANGES:
            svc_obs[b, i, DEPLOY_RECENT_COLUMN] = _encode_recency(now - deploy_time[b, i])
            svc_obs[b, i, CONFIG_RECENT_COLUMN] = _encode_recency(now - config_time[b, i])
            svc_obs[b, i, CHANGE_REVERTED_COLUMN] = 1.0 if reverted[b, i] else 0.0
            checked_at[b, i, CHANGES_CH] = now
        elif k == SEARCH_KB:
            matched = False
            for j in range(kb_fix.shape[1]):
                for c in range(N_KB_CODES):
                    svc_obs[b, j, KB_COLUMN + c] = 1.0 if kb_fix[b, j] == c else 0.0
                matched |= kb_fix[b, j] >= 0
            glob_obs[b, KB_SEARCHED_COLUMN] = 1.0
            glob_obs[b, KB_MATCHED_COLUMN] = 1.0 if matched else 0.0
        elif k == REPRODUCE:
            failed, hop = _reproduction(b, pr, i, sig, calls, service_table, trace_decoy, noise,
                                        standard_normal(streams, of_row[b]))
            svc_obs[b, i, REPRO_FAILED_COLUMN] = failed
            for j in range(svc_obs.shape[1]):  # the latest reproduction replaces the hop of any earlier one
                svc_obs[b, j, REPRO_HOP_COLUMN] = 0.0
            if hop >= 0:
                svc_obs[b, hop, REPRO_HOP_COLUMN] = 1.0
            checked_at[b, i, REPRODUCE_CH] = now


_encode_latency = kernel(encode_latency)
_encode_utilisation = kernel(encode_utilisation)
_encode_request_rate = kernel(encode_request_rate)
_encode_trend = kernel(encode_trend)
_encode_recency = kernel(encode_recency)
METRIC_COLUMN = METRIC.start


@kernel
def _metrics_row(b, pr, i, sig, service_table, acc_level, acc_rate, defect, noise, normals,
                 svc_obs):  # pragma: no cover - compiled
    """Metrics of service i of row b (parameter row ``pr``): error rate, latency, utilisation,
    memory/pool/disk levels, request rate and the resource trends, each with relative noise
    ``noise[pr]`` (``normals``: one draw each)."""
    # requests failing a TLS handshake never reach the service: its request rate drops
    reaching = 1.0 - defect[b, i, CERT_EXPIRED]
    values = np.empty(N_METRICS)
    values[M_ERROR_RATE] = sig[b, SIG_ERR, i]
    values[M_LATENCY] = _encode_latency(sig[b, SIG_LATENCY_RATIO, i])
    values[M_UTILISATION] = _encode_utilisation(sig[b, SIG_UTILISATION, i])
    values[M_MEMORY] = acc_level[b, i, MEMORY]
    values[M_POOL] = acc_level[b, i, POOL]
    values[M_DISK] = acc_level[b, i, DISK]
    values[M_REQUEST_RATE] = _encode_request_rate(sig[b, SIG_LOAD, i] * reaching / service_table[pr, ROW_BASE_LOAD, i])
    values[M_MEMORY_TREND] = _encode_trend(acc_rate[b, i, MEMORY])
    values[M_RESOURCE_TREND] = _encode_trend(max(acc_rate[b, i, POOL], acc_rate[b, i, DISK]))
    for v in range(N_METRICS):
        x = values[v] * (1.0 + noise[pr] * normals[v])
        svc_obs[b, i, METRIC_COLUMN + v] = min(max(x, 0.0), 1.0)


def log_strengths(p: Params, s: State, sig: Signals, r: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(len(r), N_LOG_CLASSES) How strongly each signature shows in the logs of each t (no noise)."""
    strength = np.empty((len(r), N_LOG_CLASSES))
    _log_strength_kernel(r, t, sig.table, p.calls, s.param_row, s.acc_level, s.defect, s.log_decoy, strength)
    return strength


@kernel
def _badness(sig, b, j):  # pragma: no cover - compiled
    """How bad callee j looks from a caller: error rate plus scaled slowdown."""
    return sig[b, SIG_ERR, j] + min(max(sig[b, SIG_LATENCY_RATIO, j] - 1.0, 0.0), SLOWDOWN_CAP) / SLOWDOWN_CAP


@kernel
def _log_strength_kernel(rows, targets, sig, calls, param_row, acc_level, defect, log_decoy,
                         out):  # pragma: no cover - compiled
    """How strongly each log signature shows in each target's logs, into ``out`` (rows, classes).

    Own signatures come from the service's defects and filled resources, overload and being
    down. About each callee, a caller logs the specific signature (TLS, 401/403, provider 5xx)
    where the callee has it, and generic errors/timeouts in proportion to how bad it is.
    """
    for m in range(rows.shape[0]):
        _log_strength_row(rows[m], param_row[rows[m]], targets[m], sig, calls, acc_level, defect, log_decoy, out[m])


@kernel
def _log_strength_row(b, pr, i, sig, calls, acc_level, defect, log_decoy, strength):  # pragma: no cover - compiled
    """How strongly each log signature shows in service i's logs (row b, parameter row ``pr``),
    into ``strength`` (classes,)."""
    strength[:] = 0.0
    for d in range(defect.shape[2]):
        strength[DEFECT_OWN_LOG[d]] += defect[b, i, d] * OWN_LOG_WEIGHT[d]
    for a in range(acc_level.shape[2]):
        over = max(acc_level[b, i, a] - ACC_HARM_THRESHOLD[a], 0.0) / (1.0 - ACC_HARM_THRESHOLD[a])
        strength[ACC_OWN_LOG[a]] += LOG_ACC_WEIGHT * over
    strength[LOG_HIGH_LOAD] += max(sig[b, SIG_UTILISATION, i] - LOG_HIGH_LOAD_FROM, 0.0)
    strength[LOG_PROCESS_DOWN] += sig[b, SIG_DOWN, i]
    for j in range(calls.shape[2]):
        w = calls[pr, i, j]
        if w == 0.0:
            continue
        strength[LOG_DEPENDENCY_ERRORS] += w * _badness(sig, b, j)
        for d in range(defect.shape[2]):
            strength[DEFECT_CALLER_LOG[d]] += w * defect[b, j, d] * CALLER_LOG_WEIGHT[d]
    if log_decoy[b, i] >= 0:  # noisy-but-harmless errors this service always logs
        strength[log_decoy[b, i]] += LOG_DECOY_STRENGTH
    strength[LOG_NORMAL] = 0.0


@kernel
def _trace_step(b, pr, i, sig, calls, service_table, trace_decoy):  # pragma: no cover - compiled
    """What a trace through service i of row b (parameter row ``pr``) shows: (the called service the trouble comes from
    or -1, whether it starts here). A service with a trace decoy blames that callee."""
    own_slowdown = sig[b, SIG_LATENCY_OWN, i] / service_table[pr, ROW_BASE_LATENCY, i] - 1.0
    own = sig[b, SIG_ERR_OWN, i] + min(max(own_slowdown, 0.0), SLOWDOWN_CAP) / SLOWDOWN_CAP
    best, best_j = 0.0, -1
    for j in range(calls.shape[2]):
        w = calls[pr, i, j]
        if w == 0.0:
            continue
        contrib = w * _badness(sig, b, j)
        if contrib > best:
            best, best_j = contrib, j
    troubled = max(best, own) > TRACE_TROUBLE
    if trace_decoy[b, i] >= 0 and troubled:
        hop = trace_decoy[b, i]
    else:
        hop = best_j if best_j >= 0 and best > max(own, TRACE_TROUBLE) else -1
    return hop, hop < 0 and own > TRACE_TROUBLE


@kernel
def _reproduction(b, pr, i, sig, calls, service_table, trace_decoy, noise, normal):  # pragma: no cover - compiled
    """A synthetic request through entry service i of row b (parameter row ``pr``): (the share of
    such requests that fail or breach the SLO there, with the metric noise times ``normal``; the hop where the failure
    starts, -1 none, found by following the trace from i hop by hop, so trace decoys mislead it)."""
    errors = sig[b, SIG_ERR, i]
    latency = sig[b, SIG_LATENCY_RATIO, i] * service_table[pr, ROW_HEALTHY_LATENCY, i]
    share = errors + (1.0 - errors) * (latency > service_table[pr, ROW_SLO_LATENCY, i])
    failed = min(max(share * (1.0 + noise[pr] * normal), 0.0), 1.0)
    hop = -1
    for _ in range(calls.shape[1]):  # a call path visits each service at most once
        nxt, starts_here = _trace_step(b, pr, i, sig, calls, service_table, trace_decoy)
        if starts_here:
            hop = i
        if nxt < 0:
            break
        i = nxt
    return failed, hop


stamp_cache(__file__, globals())
