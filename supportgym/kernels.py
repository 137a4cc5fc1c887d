"""Compiled inner loops of the dynamics (numba), over a batch axis and a service axis.

These are the equations of ``dynamics.py`` written as loops, because at a batch of one a chain
of ~50 small numpy calls costs more than the arithmetic (~80 µs against ~3 µs here). The
Python wrappers in ``dynamics.py``, ``observe.py``, ``interventions.py`` and ``core.py`` are
the only callers; the equations are documented there.

``cache=True`` stores the compiled code beside this file after first use. Compiled code
freezes the module-level constants it reads (the tables of ``catalog.py``, the columns of
``layout.py``), but numba only notices changes to *this* file; ``_drop_stale_cache`` clears the
cache when those constants change.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
from numba import njit

from supportgym.catalog import (
    ACC_BASELINE,
    ACC_EFFECTS,
    ACC_HARM_THRESHOLD,
    ACC_OWN_LOG,
    ACC_RESTART_RELIEF,
    ACTION_MINUTES,
    CAPACITY_DURING,
    DEFECT_CALLER_LOG,
    DEFECT_EFFECTS,
    DEFECT_OWN_LOG,
    ESCALATION_MINUTES,
    INVALID_ACTION_MINUTES,
    N_LOG_CLASSES,
    SCALE_OUT_FACTOR,
    ActionKind,
    Defect,
    LogClass,
)
from supportgym.layout import ALERTS, FRESH, FRESHNESS_MINUTES, GF, SF
from supportgym.reward import W_ENGINEER, W_HARM, W_IMPACT, W_INVALID, W_SEV1
from supportgym.state import CONFIG, DEPLOY, NO_CHANGE

# Plain ints: compiled code sees them as constants.
RESTART, ROLLBACK, SCALE_OUT = int(ActionKind.RESTART), int(ActionKind.ROLLBACK), int(ActionKind.SCALE_OUT)
HOTFIX, FAILOVER = int(ActionKind.HOTFIX), int(ActionKind.FAILOVER)
ESCALATE, VALIDATE, RESOLVE = int(ActionKind.ESCALATE), int(ActionKind.VALIDATE), int(ActionKind.RESOLVE)
NOOP = -1  # the kind of a masked action: it does nothing but cost a minute
PROVIDER_OUTAGE, CERT_EXPIRED = int(Defect.PROVIDER_OUTAGE), int(Defect.CERT_EXPIRED)
N_LOG = N_LOG_CLASSES
LOG_NORMAL, LOG_HIGH_LOAD = int(LogClass.NORMAL), int(LogClass.HIGH_LOAD)
LOG_PROCESS_DOWN, LOG_DEPENDENCY_ERRORS = int(LogClass.PROCESS_DOWN), int(LogClass.DEPENDENCY_ERRORS)
#: How loud a service's misleading log signature is: a real fault of middling intensity can hide under it.
LOG_DECOY_STRENGTH = 0.5
#: Specific signatures (TLS, 401/403, provider 5xx) outweigh generic errors in a log.
_SPECIFIC = (LogClass.TLS_HANDSHAKE, LogClass.AUTH_DENIED, LogClass.PROVIDER_5XX)
OWN_LOG_WEIGHT = np.array([2.0 if c in _SPECIFIC else 1.0 for c in DEFECT_OWN_LOG])
CALLER_LOG_WEIGHT = np.array([2.0 if c in _SPECIFIC else 1.0 for c in DEFECT_CALLER_LOG])
ALERT_COLUMN = ALERTS.start
G_ELAPSED, G_VALIDATION_FRESH = GF["elapsed"], GF["validation_fresh"]
G_ALERTS_FIRING, G_INVALID = GF["alerts_firing"], GF["last_action_invalid"]
#: The observation's done_* column of each action kind, -1 for non-remedies.
DONE_COLUMN = np.full(len(ActionKind), -1)
for _kind, _feature in ((RESTART, "restarted"), (ROLLBACK, "rolled_back"), (SCALE_OUT, "scaled_out"),
                        (HOTFIX, "hotfixed"), (FAILOVER, "failed_over")):
    DONE_COLUMN[_kind] = SF["done_" + _feature]

#: Impact (share of users hurt) below which the incident counts as mitigated.
MITIGATED_IMPACT = 0.02
#: True alert thresholds: error rate, latency / healthy latency, saturation, down.
ALERT_THRESHOLDS = np.array([0.05, 2.0, 0.85, 0.5])


@njit(cache=True)
def signals_kernel(
    time, traffic_table, service_table, present, load_matrix, redirect, calls, upward_calls, callees_first, load_mult,
    cache_down, scale,
    defect, acc_level, during_target, during_capacity, out, impact, conditions,
):  # pragma: no cover - compiled
    """Fill ``out`` (B, 9, N), ``impact`` (B,) and ``conditions`` (B, N, 4); see ``dynamics.signals``."""
    batch, n = present.shape
    raw = np.empty(n)
    for b in range(batch):
        entry, base_load, capacity = service_table[b, 0], service_table[b, 1], service_table[b, 2]
        base_latency, slo_latency, healthy_latency = service_table[b, 3], service_table[b, 4], service_table[b, 5]
        load, util, err_own, lat_own = out[b, 0], out[b, 1], out[b, 2], out[b, 3]
        err, latency, ratio, saturation, down = out[b, 4], out[b, 5], out[b, 6], out[b, 7], out[b, 8]
        # daily traffic curve peaking at 15:00; a spike injects load at one service
        hour = traffic_table[b, 0] + time[b] / 60.0
        traffic = 1.0 + traffic_table[b, 1] * math.sin((hour - 9.0) * 2.0 * math.pi / 24.0)
        # load flows down the calls; a dead cache sends its hits to the database it fronts
        for j in range(n):
            raw[j] = entry[j] * traffic + base_load[j] * (load_mult[b, j] - 1.0)
        for j in range(n):
            acc = 0.0
            for i in range(n):
                acc += raw[i] * load_matrix[b, i, j]
            load[j] = acc
        for i in range(n):
            if cache_down[b, i] > 0.0:
                for j in range(n):
                    load[j] += load[i] * cache_down[b, i] * redirect[b, i, j]
        for i in range(n):
            e_def, l_def, cap_lost = 0.0, 0.0, 0.0
            for d in range(defect.shape[2]):
                x = defect[b, i, d]
                if x != 0.0:
                    e_def += x * DEFECT_EFFECTS[d, 0]
                    l_def += x * DEFECT_EFFECTS[d, 1]
                    cap_lost += x * DEFECT_EFFECTS[d, 2]
            e_acc, l_acc, top = 0.0, 0.0, 0.0
            for a in range(acc_level.shape[2]):
                level = acc_level[b, i, a]
                top = max(top, level)
                over = max(level - ACC_HARM_THRESHOLD[a], 0.0) / (1.0 - ACC_HARM_THRESHOLD[a])
                e_acc += over * ACC_EFFECTS[a, 0]
                l_acc += over * ACC_EFFECTS[a, 1]
            cap = capacity[i] * scale[b, i] * (1.0 - cap_lost)
            if i == during_target[b]:  # the target of a running action (0 = down for a restart)
                cap *= during_capacity[b]
            is_down = cap <= 0.0 or cache_down[b, i] > 0.0
            u = load[i] / max(cap, 1e-9)
            q = min(u, 0.95)
            lat_own[i] = base_latency[i] * (1.0 + 0.25 * q * q / (1.0 - q) + l_def + l_acc)
            shed = 1.0 - 1.0 / max(u, 1.0)  # requests beyond capacity are rejected
            err_own[i] = 1.0 if is_down else min(e_def + e_acc + shed, 1.0)
            util[i] = u
            down[i] = 1.0 if is_down else 0.0
            saturation[i] = max(u, top)
        # errors and latency flow up the calls, callees first
        impact[b] = 0.0
        any_cache_down = False
        for i in range(n):
            any_cache_down = any_cache_down or cache_down[b, i] > 0.0
        for idx in range(n):
            j = callees_first[b, idx]
            e, lat = err_own[j], lat_own[j]
            for d in range(n):
                w = upward_calls[b, j, d]
                if w != 0.0:
                    e += w * err[d]
                    lat += w * latency[d]
            if any_cache_down:  # the hits of a dead cache now wait on its database
                for c in range(n):
                    if cache_down[b, c] > 0.0 and calls[b, j, c] > 0.0:
                        for d in range(n):
                            w = calls[b, j, c] * redirect[b, c, d]
                            if w != 0.0:
                                e += w * err[d]
                                lat += w * latency[d]
            e = min(e, 1.0)
            err[j] = e
            latency[j] = lat
            ratio[j] = lat / healthy_latency[j]
            if entry[j] > 0.0:
                breach = min(max(lat / slo_latency[j] - 1.0, 0.0), 1.0)
                impact[b] += entry[j] * (e + (1.0 - e) * breach)
            conditions[b, j, 0] = present[b, j] and e > ALERT_THRESHOLDS[0]
            conditions[b, j, 1] = present[b, j] and ratio[j] > ALERT_THRESHOLDS[1]
            conditions[b, j, 2] = present[b, j] and saturation[j] > ALERT_THRESHOLDS[2]
            conditions[b, j, 3] = present[b, j] and down[j] > 0.5


@njit(cache=True)
def advance_kernel(time, dt, acc_level, acc_rate, defect, defect_timer, decay):  # pragma: no cover
    batch, n, n_defects = defect.shape
    for b in range(batch):
        step = dt[b]
        if step == 0.0:
            continue
        time[b] += step
        for i in range(n):
            for a in range(acc_level.shape[2]):
                if acc_rate[b, i, a] != 0.0:
                    acc_level[b, i, a] = min(acc_level[b, i, a] + acc_rate[b, i, a] * step, 1.0)
            for d in range(n_defects):
                defect_timer[b, i, d] -= step
                if defect[b, i, d] != 0.0:
                    if defect_timer[b, i, d] <= 0.0:
                        defect[b, i, d] = 0.0
                    elif decay[d] != 0.0:
                        defect[b, i, d] *= math.exp(-decay[d] * step)


@njit(cache=True)
def alerts_kernel(conditions, pending, dt, delay, muted, false_until, time, alerts, svc_obs):  # pragma: no cover
    batch, n, kinds = conditions.shape
    for b in range(batch):
        for i in range(n):
            for k in range(kinds):
                if conditions[b, i, k]:
                    pending[b, i, k] += dt[b]
                else:
                    pending[b, i, k] = 0.0
                firing = (conditions[b, i, k] and pending[b, i, k] >= delay[b] and not muted[b, i, k]) or (
                    false_until[b, i, k] > time[b]
                )
                alerts[b, i, k] = firing
                svc_obs[b, i, ALERT_COLUMN + k] = 1.0 if firing else 0.0


@njit(cache=True)
def account_kernel(
    kind, minutes, impact_during, impact_end, tier, declared, harmful, valid, weights, time,
    time_limit, impact_now, impact_minutes, peak_impact, mitigated_at, harmful_count, invalid_count, steps,
    episode_return, reward, truncated,
):  # pragma: no cover
    """Per-step reward and bookkeeping (the terms are in ``reward.py``; ``weights`` is
    ``Params.reward_weights``). The action's user impact is the trapezoid of the impact before it
    and at its end while still running (``impact_during``); ``impact_end`` is the impact once it
    completed; ``impact_now`` holds the impact before the action and is then updated. Returns how
    many rows ended (resolved or out of time)."""
    ended = 0
    for b in range(minutes.shape[0]):
        resolving = kind[b] == RESOLVE
        impact = minutes[b] * 0.5 * (impact_now[b] + impact_during[b])
        engineer = weights[W_ENGINEER + tier[b] - 1] * (weights[W_SEV1] if declared[b] == 1 else 1.0)
        reward[b] = -(weights[W_IMPACT] * impact + engineer * minutes[b] + weights[W_HARM] * harmful[b]
                      + weights[W_INVALID] * (not valid[b]))
        episode_return[b] += reward[b]
        impact_minutes[b] += impact
        impact_now[b] = impact_end[b]
        peak_impact[b] = max(peak_impact[b], impact_end[b])
        if not resolving and math.isnan(mitigated_at[b]) and impact_end[b] < MITIGATED_IMPACT:
            mitigated_at[b] = time[b]
        truncated[b] = not resolving and time[b] >= time_limit[b]
        ended += resolving or truncated[b]
        harmful_count[b] += harmful[b]
        invalid_count[b] += not valid[b]
        steps[b] += 1
    return ended


@njit(cache=True)
def refresh_kernel(checked_at, time, svc_obs, glob_obs, time_limit, validation_time, alerts, present,
                   invalid):  # pragma: no cover
    """Per-step observation features: evidence freshness, elapsed time, alert load, validity."""
    batch, n, channels = checked_at.shape
    for b in range(batch):
        firing, services = 0, 0
        for i in range(n):
            for c in range(channels):
                age = time[b] - checked_at[b, i, c]
                svc_obs[b, i, FRESH[c]] = math.exp(-age / FRESHNESS_MINUTES) if age < 1e9 else 0.0
            if present[b, i]:
                services += 1
                for k in range(alerts.shape[2]):
                    if alerts[b, i, k]:
                        firing += 1
                        break
        glob_obs[b, G_ELAPSED] = min(max(time[b], 0.0) / time_limit[b], 1.0)
        age = time[b] - validation_time[b]
        glob_obs[b, G_VALIDATION_FRESH] = math.exp(-age / FRESHNESS_MINUTES) if age < 1e9 else 0.0
        glob_obs[b, G_ALERTS_FIRING] = firing / max(services, 1)
        glob_obs[b, G_INVALID] = 1.0 if invalid[b] else 0.0


@njit(cache=True)
def interventions_kernel(
    kind, target, time, acc_level, acc_rate, defect, cache_down, scale, deploy_time, config_time, version,
    reverted, culprit_change, culprit_defect, culprit_acc, svc_obs, validated, harmful,
):  # pragma: no cover
    """Complete the remedial action of each row (see ``interventions.py``); set ``harmful``."""
    for b in range(kind.shape[0]):
        k, i = kind[b], target[b]
        if k < 0 or DONE_COLUMN[k] < 0:
            continue
        validated[b] = False  # a change makes any earlier validation stale
        svc_obs[b, i, DONE_COLUMN[k]] = min(svc_obs[b, i, DONE_COLUMN[k]] + 1.0 / 3.0, 1.0)  # counts to three
        if k == RESTART:
            helps = _restart_relieves(acc_level[b, i], cache_down[b, i])
            for a in range(acc_level.shape[2]):
                acc_level[b, i, a] = max(acc_level[b, i, a] - ACC_RESTART_RELIEF[a], ACC_BASELINE[a])
            cache_down[b, i] = 0.0
            harmful[b] = not helps
        elif k == ROLLBACK:
            latest = DEPLOY if deploy_time[b, i] >= config_time[b, i] else CONFIG
            fixes = not reverted[b, i] and culprit_change[b, i] == latest
            if fixes:
                for d in range(defect.shape[2]):
                    if culprit_defect[b, i, d]:
                        defect[b, i, d] = 0.0
                for a in range(acc_level.shape[2]):
                    if culprit_acc[b, i, a]:
                        acc_rate[b, i, a] = 0.0
                        acc_level[b, i, a] = ACC_BASELINE[a]
                culprit_change[b, i] = NO_CHANGE
            # the rollback is itself a change, and leaves nothing further to revert
            if latest == DEPLOY:
                deploy_time[b, i] = time[b]
                version[b, i] -= 1
            else:
                config_time[b, i] = time[b]
            reverted[b, i] = True
            harmful[b] = not fixes
        elif k == SCALE_OUT:
            scale[b, i] *= SCALE_OUT_FACTOR
            harmful[b] = False  # costs time, never hurts users
        elif k == HOTFIX:
            helps = _restart_relieves(acc_level[b, i], cache_down[b, i])
            for d in range(defect.shape[2]):
                if d != PROVIDER_OUTAGE:
                    helps = helps or defect[b, i, d] > 0.02
                    defect[b, i, d] = 0.0
            for a in range(acc_level.shape[2]):
                helps = helps or acc_rate[b, i, a] > 0.0
                acc_rate[b, i, a] = 0.0
                acc_level[b, i, a] = min(acc_level[b, i, a], ACC_BASELINE[a])
            cache_down[b, i] = 0.0
            culprit_change[b, i] = NO_CHANGE
            version[b, i] += 1
            deploy_time[b, i] = time[b]
            reverted[b, i] = False
            harmful[b] = not helps
        elif k == FAILOVER:
            harmful[b] = not defect[b, i, PROVIDER_OUTAGE] > 0.02
            defect[b, i, PROVIDER_OUTAGE] = 0.0


@njit(cache=True)
def _restart_relieves(acc_level, cache_down):  # pragma: no cover
    """A restart has something to relieve: a crashed process or a filled resource."""
    if cache_down > 0.0:
        return True
    for a in range(acc_level.shape[0]):
        if acc_level[a] - ACC_BASELINE[a] > 0.1:
            return True
    return False


@njit(cache=True)
def metrics_kernel(rows, targets, sig, service_table, acc_level, acc_rate, defect, noise, normals, time, svc_obs,
                   checked_at, metric_col, channel):  # pragma: no cover
    """A metrics reading of each (row, target): levels and trends, with multiplicative noise."""
    values = np.empty(9)
    for m in range(rows.shape[0]):
        b, i = rows[m], targets[m]
        # requests failing a TLS handshake never reach the service: its request rate drops
        reaching = 1.0 - defect[b, i, CERT_EXPIRED]
        values[0] = sig[b, 4, i]  # error rate
        values[1] = math.log2(max(sig[b, 6, i], 1.0)) / 5.0  # latency vs healthy, log scale
        values[2] = sig[b, 1, i] / 2.0  # utilisation
        values[3] = acc_level[b, i, 0]
        values[4] = acc_level[b, i, 1]
        values[5] = acc_level[b, i, 2]
        values[6] = sig[b, 0, i] * reaching / service_table[b, 1, i] / 3.0  # request rate vs healthy
        values[7] = acc_rate[b, i, 0] * 30.0  # memory trend
        values[8] = max(acc_rate[b, i, 1], acc_rate[b, i, 2]) * 30.0  # pool / disk trend
        for v in range(9):
            x = values[v] * (1.0 + noise[b] * normals[m, v])
            svc_obs[b, i, metric_col + v] = min(max(x, 0.0), 1.0)
        checked_at[b, i, channel] = time[b]


@njit(cache=True)
def log_strength_kernel(rows, targets, sig, calls, acc_level, defect, log_decoy, out):  # pragma: no cover
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
            strength[ACC_OWN_LOG[a]] += 1.5 * over
        strength[LOG_HIGH_LOAD] += max(sig[b, 1, i] - 0.9, 0.0)
        strength[LOG_PROCESS_DOWN] += sig[b, 8, i]
        for j in range(calls.shape[2]):
            w = calls[b, i, j]
            if w == 0.0:
                continue
            badness = sig[b, 4, j] + min(max(sig[b, 6, j] - 1.0, 0.0), 5.0) / 5.0
            strength[LOG_DEPENDENCY_ERRORS] += w * badness
            for d in range(defect.shape[2]):
                strength[DEFECT_CALLER_LOG[d]] += w * defect[b, j, d] * CALLER_LOG_WEIGHT[d]
        if log_decoy[b, i] >= 0:  # noisy-but-harmless errors this service always logs
            strength[log_decoy[b, i]] += LOG_DECOY_STRENGTH
        strength[LOG_NORMAL] = 0.0


@njit(cache=True)
def trace_kernel(rows, targets, sig, calls, service_table, trace_decoy, origin, hop):  # pragma: no cover
    """Where the trouble seen at each target starts: ``origin`` (it starts here) or ``hop`` (the
    called service it comes from, -1 none). A service with a trace decoy blames that callee."""
    for m in range(rows.shape[0]):
        b, i = rows[m], targets[m]
        own_latency = min(max(sig[b, 3, i] / service_table[b, 3, i] - 1.0, 0.0), 5.0) / 5.0
        own = sig[b, 2, i] + own_latency
        best, best_j = 0.0, -1
        for j in range(calls.shape[2]):
            w = calls[b, i, j]
            if w == 0.0:
                continue
            contrib = w * (sig[b, 4, j] + min(max(sig[b, 6, j] - 1.0, 0.0), 5.0) / 5.0)
            if contrib > best:
                best, best_j = contrib, j
        troubled = max(best, own) > 0.02
        if trace_decoy[b, i] >= 0 and troubled:
            hop[m] = trace_decoy[b, i]
        else:
            hop[m] = best_j if best_j >= 0 and best > max(own, 0.02) else -1
        origin[m] = hop[m] < 0 and own > 0.02


@njit(cache=True)
def decode_kernel(actions, tier, declared, mask_table, table_kind, table_service, validate_minutes, kind, target,
                  valid, minutes, capacity_during):  # pragma: no cover
    """Decode flat actions: kind (NOOP if masked: ``Params.mask_table``), target, minutes it takes,
    and the capacity its target keeps while it runs. Returns how many were masked."""
    masked = 0
    for b in range(actions.shape[0]):
        a = actions[b]
        ok = mask_table[b, tier[b] - 1, declared[b], a]
        k = table_kind[a] if ok else NOOP
        valid[b] = ok
        kind[b] = k
        target[b] = table_service[a]
        if not ok:
            masked += 1
            minutes[b] = INVALID_ACTION_MINUTES
            capacity_during[b] = 1.0
            continue
        if k == ESCALATE:
            minutes[b] = ESCALATION_MINUTES[declared[b]]
        elif k == VALIDATE:
            minutes[b] = validate_minutes[b]
        else:
            minutes[b] = ACTION_MINUTES[k]
        capacity_during[b] = CAPACITY_DURING[k]
    return masked


def _drop_stale_cache() -> None:
    """Remove cached compiled kernels built against other values of the constants above."""
    constants = {name: value for name, value in sorted(globals().items())
                 if name.isupper() and isinstance(value, (int, float, np.ndarray))}
    stamp = hashlib.sha256(repr([(k, np.asarray(v).tolist()) for k, v in constants.items()]).encode()).hexdigest()
    cache_dir = Path(__file__).resolve().parent / "__pycache__"
    stamp_file = cache_dir / "kernels.constants"
    try:
        if stamp_file.read_text() == stamp:
            return
    except OSError:
        pass
    try:
        cache_dir.mkdir(exist_ok=True)
        for cached in cache_dir.glob("kernels.*.nb[ic]"):
            cached.unlink(missing_ok=True)
        stamp_file.write_text(stamp)
    except OSError:  # a read-only install: numba keeps its cache elsewhere, keyed on this file
        pass


_drop_stale_cache()
