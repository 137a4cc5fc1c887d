"""Stage 3, diagnosis: the evidence channels (metrics, logs, traces, changes) and the knowledge base.

The hidden world reaches the agent only through these checks, each with its own noise: noisy
metric readings; log signatures that a misleading but harmless error can outshout; traces that
sometimes blame the wrong hop; a reproduction (L2's synthetic request through an entry path)
that shows whether users are failing there and which hop the failure starts at. Evidence is a snapshot: its freshness fades (``observe.refresh``).
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
from supportgym.rng import RowStreams, standard_normals
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
_KB_CODES = np.arange(len(KB_REMEDIES))


def diagnose(p: Params, s: State, sig: Signals, kinds: set[int], kind: np.ndarray, rows: np.ndarray,
             target: np.ndarray, rng: RowStreams | None) -> None:
    """Record what the checks among ``kind`` (B,) on ``target`` (B,) find; ``kinds`` is the set of
    ``kind`` (branches test it, not arrays: most steps take no check). ``rng``: the rows' random
    streams, needed only when ``kinds`` meets ``DRAWING``."""
    if CHECK_METRICS in kinds:
        sel = kind == CHECK_METRICS
        record_metrics(p, s, sig, rows[sel], target[sel], rng)
    if CHECK_LOGS in kinds:
        sel = kind == CHECK_LOGS
        record_logs(p, s, sig, rows[sel], target[sel])
    if CHECK_TRACES in kinds:
        sel = kind == CHECK_TRACES
        record_traces(p, s, sig, rows[sel], target[sel])
    if CHECK_CHANGES in kinds:
        sel = kind == CHECK_CHANGES
        record_changes(s, rows[sel], target[sel])
    if SEARCH_KB in kinds:
        record_kb(s, rows[kind == SEARCH_KB])
    if REPRODUCE in kinds:
        sel = kind == REPRODUCE
        record_reproduction(p, s, sig, rows[sel], target[sel], rng)


# Each recorder reads the checks of rows ``r`` on services ``t``.
def record_metrics(p: Params, s: State, sig: Signals, r: np.ndarray, t: np.ndarray, rng: RowStreams) -> None:
    """Metrics of t: error rate, latency, utilisation, memory/pool/disk levels, request rate and
    the resource trends, each with relative noise ``metric_noise``."""
    normals = standard_normals(rng.streams, rng.of_row[r], N_METRICS)
    _metrics_kernel(r, t, sig.table, p.service_table, s.acc_level, s.acc_rate, s.defect, p.metric_noise, normals,
                    s.time, s.svc_obs, s.checked_at)


_encode_latency = kernel(encode_latency)
_encode_utilisation = kernel(encode_utilisation)
_encode_request_rate = kernel(encode_request_rate)
_encode_trend = kernel(encode_trend)
METRIC_COLUMN = METRIC.start


@kernel
def _metrics_kernel(rows, targets, sig, service_table, acc_level, acc_rate, defect, noise, normals, time, svc_obs,
                    checked_at):  # pragma: no cover - compiled
    """A metrics reading of each (row, target): levels and trends, with multiplicative noise."""
    values = np.empty(N_METRICS)
    for m in range(rows.shape[0]):
        b, i = rows[m], targets[m]
        # requests failing a TLS handshake never reach the service: its request rate drops
        reaching = 1.0 - defect[b, i, CERT_EXPIRED]
        values[M_ERROR_RATE] = sig[b, SIG_ERR, i]
        values[M_LATENCY] = _encode_latency(sig[b, SIG_LATENCY_RATIO, i])
        values[M_UTILISATION] = _encode_utilisation(sig[b, SIG_UTILISATION, i])
        values[M_MEMORY] = acc_level[b, i, MEMORY]
        values[M_POOL] = acc_level[b, i, POOL]
        values[M_DISK] = acc_level[b, i, DISK]
        values[M_REQUEST_RATE] = _encode_request_rate(sig[b, SIG_LOAD, i] * reaching / service_table[b, ROW_BASE_LOAD, i])
        values[M_MEMORY_TREND] = _encode_trend(acc_rate[b, i, MEMORY])
        values[M_RESOURCE_TREND] = _encode_trend(max(acc_rate[b, i, POOL], acc_rate[b, i, DISK]))
        for v in range(N_METRICS):
            x = values[v] * (1.0 + noise[b] * normals[m, v])
            svc_obs[b, i, METRIC_COLUMN + v] = min(max(x, 0.0), 1.0)
        checked_at[b, i, METRICS_CH] = time[b]


def log_strengths(p: Params, s: State, sig: Signals, r: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(len(r), N_LOG_CLASSES) How strongly each signature shows in the logs of each t (no noise)."""
    strength = np.empty((len(r), N_LOG_CLASSES))
    _log_strength_kernel(r, t, sig.table, p.calls, s.acc_level, s.defect, s.log_decoy, strength)
    return strength


def record_logs(p: Params, s: State, sig: Signals, r: np.ndarray, t: np.ndarray) -> None:
    """The dominant log signature of t (normal if none reaches LOG_VISIBLE). A service with a log
    decoy (``log_noise``) shows its misleading signature too, every time: re-reading does not help."""
    strength = log_strengths(p, s, sig, r, t)
    cls = np.where(strength.max(axis=1) < LOG_VISIBLE, LogClass.NORMAL, strength.argmax(axis=1))
    s.svc_obs[r, t, LOGS] = cls[:, None] == np.arange(N_LOG_CLASSES)
    s.checked_at[r, t, LOGS_CH] = s.time[r]


@kernel
def _badness(sig, b, j):  # pragma: no cover - compiled
    """How bad callee j looks from a caller: error rate plus scaled slowdown."""
    return sig[b, SIG_ERR, j] + min(max(sig[b, SIG_LATENCY_RATIO, j] - 1.0, 0.0), SLOWDOWN_CAP) / SLOWDOWN_CAP


@kernel
def _log_strength_kernel(rows, targets, sig, calls, acc_level, defect, log_decoy, out):  # pragma: no cover - compiled
    """How strongly each log signature shows in each target's logs, into ``out`` (rows, classes).

    Own signatures come from the service's defects and filled resources, overload and being
    down. About each callee, a caller logs the specific signature (TLS, 401/403, provider 5xx)
    where the callee has it, and generic errors/timeouts in proportion to how bad it is.
    """
    for m in range(rows.shape[0]):
        b, i = rows[m], targets[m]
        strength = out[m]
        strength[:] = 0.0
        for d in range(defect.shape[2]):
            strength[DEFECT_OWN_LOG[d]] += defect[b, i, d] * OWN_LOG_WEIGHT[d]
        for a in range(acc_level.shape[2]):
            over = max(acc_level[b, i, a] - ACC_HARM_THRESHOLD[a], 0.0) / (1.0 - ACC_HARM_THRESHOLD[a])
            strength[ACC_OWN_LOG[a]] += LOG_ACC_WEIGHT * over
        strength[LOG_HIGH_LOAD] += max(sig[b, SIG_UTILISATION, i] - LOG_HIGH_LOAD_FROM, 0.0)
        strength[LOG_PROCESS_DOWN] += sig[b, SIG_DOWN, i]
        for j in range(calls.shape[2]):
            w = calls[b, i, j]
            if w == 0.0:
                continue
            strength[LOG_DEPENDENCY_ERRORS] += w * _badness(sig, b, j)
            for d in range(defect.shape[2]):
                strength[DEFECT_CALLER_LOG[d]] += w * defect[b, j, d] * CALLER_LOG_WEIGHT[d]
        if log_decoy[b, i] >= 0:  # noisy-but-harmless errors this service always logs
            strength[log_decoy[b, i]] += LOG_DECOY_STRENGTH
        strength[LOG_NORMAL] = 0.0


def record_traces(p: Params, s: State, sig: Signals, r: np.ndarray, t: np.ndarray) -> None:
    """Traces through t: does the trouble start here, or which called service does it come from?
    A service with a trace decoy (``trace_noise``) blames its decoy callee whenever it sees trouble."""
    origin, hop = np.empty(len(r), dtype=np.bool_), np.empty(len(r), dtype=np.int64)
    _trace_kernel(r, t, sig.table, p.calls, p.service_table, s.trace_decoy, origin, hop)
    s.svc_obs[r, t, SF["trace_origin_here"]] = origin
    points = hop >= 0
    s.svc_obs[r[points], hop[points], SF["trace_points_here"]] = 1.0
    s.checked_at[r, t, TRACES_CH] = s.time[r]


@kernel
def _trace_step(b, i, sig, calls, service_table, trace_decoy):  # pragma: no cover - compiled
    """What a trace through service i of row b shows: (the called service the trouble comes from
    or -1, whether it starts here). A service with a trace decoy blames that callee."""
    own_slowdown = sig[b, SIG_LATENCY_OWN, i] / service_table[b, ROW_BASE_LATENCY, i] - 1.0
    own = sig[b, SIG_ERR_OWN, i] + min(max(own_slowdown, 0.0), SLOWDOWN_CAP) / SLOWDOWN_CAP
    best, best_j = 0.0, -1
    for j in range(calls.shape[2]):
        w = calls[b, i, j]
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
def _trace_kernel(rows, targets, sig, calls, service_table, trace_decoy, origin, hop):  # pragma: no cover - compiled
    """Where the trouble seen at each target starts: ``origin`` (it starts here) or ``hop`` (the
    called service it comes from, -1 none)."""
    for m in range(rows.shape[0]):
        hop[m], origin[m] = _trace_step(rows[m], targets[m], sig, calls, service_table, trace_decoy)


def record_reproduction(p: Params, s: State, sig: Signals, r: np.ndarray, t: np.ndarray, rng: RowStreams) -> None:
    """A synthetic request through entry service t: the share of such requests that fail or
    breach the SLO there (with the metric noise), and the hop where the failure starts, found by
    following the trace from t hop by hop (so trace decoys mislead it too). The latest
    reproduction replaces the hop of any earlier one."""
    failed, hop = np.empty(len(r)), np.empty(len(r), dtype=np.int64)
    _repro_kernel(r, t, sig.table, p.calls, p.service_table, s.trace_decoy, p.metric_noise,
                  standard_normals(rng.streams, rng.of_row[r], 1)[:, 0], failed, hop)
    s.svc_obs[r, t, SF["repro_failed"]] = failed
    s.svc_obs[r, :, SF["repro_hop"]] = 0.0
    found = hop >= 0
    s.svc_obs[r[found], hop[found], SF["repro_hop"]] = 1.0
    s.checked_at[r, t, REPRODUCE_CH] = s.time[r]


@kernel
def _repro_kernel(rows, entries, sig, calls, service_table, trace_decoy, noise, normals, failed,
                  hop):  # pragma: no cover - compiled
    for m in range(rows.shape[0]):
        b, i = rows[m], entries[m]
        errors = sig[b, SIG_ERR, i]
        latency = sig[b, SIG_LATENCY_RATIO, i] * service_table[b, ROW_HEALTHY_LATENCY, i]
        share = errors + (1.0 - errors) * (latency > service_table[b, ROW_SLO_LATENCY, i])
        failed[m] = min(max(share * (1.0 + noise[b] * normals[m]), 0.0), 1.0)
        hop[m] = -1
        for _ in range(calls.shape[1]):  # a call path visits each service at most once
            nxt, starts_here = _trace_step(b, i, sig, calls, service_table, trace_decoy)
            if starts_here:
                hop[m] = i
            if nxt < 0:
                break
            i = nxt


def record_changes(s: State, r: np.ndarray, t: np.ndarray) -> None:
    """How recently t was deployed and reconfigured, and whether its last change was rolled back."""
    now = s.time[r]
    s.svc_obs[r, t, SF["deploy_recent"]] = encode_recency(now - s.deploy_time[r, t])
    s.svc_obs[r, t, SF["config_recent"]] = encode_recency(now - s.config_time[r, t])
    s.svc_obs[r, t, SF["change_reverted"]] = s.reverted[r, t]
    s.checked_at[r, t, CHANGES_CH] = now


def record_kb(s: State, r: np.ndarray) -> None:
    """The knowledge base's suggested remedy per service, where a known issue matches."""
    fix = s.kb_fix[r]
    s.svc_obs[r, :, KB] = fix[..., None] == _KB_CODES
    s.glob_obs[r, GF["kb_searched"]] = 1.0
    s.glob_obs[r, GF["kb_matched"]] = (fix >= 0).any(axis=1)


stamp_cache(__file__, globals())
