"""Compiled inner loops of the dynamics (numba), over a batch axis and a service axis.

These are the equations of ``dynamics.py`` written as loops, because at a batch of one a chain
of ~50 small numpy calls costs more than the arithmetic (~80 µs against ~3 µs here). The
Python wrappers in ``dynamics.py`` and ``observe.py`` are the only callers; the equations are
documented there. ``cache=True`` stores the compiled code beside this file after first use.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from supportgym.catalog import ACC_EFFECTS, ACC_HARM_THRESHOLD, DEFECT_EFFECTS

#: True alert thresholds: error rate, latency / healthy latency, saturation, down.
ALERT_THRESHOLDS = np.array([0.05, 2.0, 0.85, 0.5])


@njit(cache=True)
def signals_kernel(
    time, traffic_table, service_table, present, load_matrix, redirect, propagation, load_mult, cache_down, scale,
    defect, acc_level, capacity_during, out, impact, conditions,
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
            cap = capacity[i] * scale[b, i] * (1.0 - cap_lost) * capacity_during[b, i]
            is_down = cap <= 0.0 or cache_down[b, i] > 0.0
            u = load[i] / max(cap, 1e-9)
            q = min(u, 0.95)
            lat_own[i] = base_latency[i] * (1.0 + 0.5 * q / (1.0 - q) + l_def + l_acc)
            shed = 1.0 - 1.0 / max(u, 1.0)  # requests beyond capacity are rejected
            err_own[i] = 1.0 if is_down else min(e_def + e_acc + shed, 1.0)
            util[i] = u
            down[i] = 1.0 if is_down else 0.0
            saturation[i] = max(u, top)
        # errors and latency flow up the calls
        impact[b] = 0.0
        for j in range(n):
            e, lat = 0.0, 0.0
            for i in range(n):
                w = propagation[b, i, j]
                if w != 0.0:
                    e += err_own[i] * w
                    lat += lat_own[i] * w
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
def alerts_kernel(conditions, pending, dt, delay, muted, false_until, time, alerts, svc_obs, alert_col):  # pragma: no cover
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
                svc_obs[b, i, alert_col + k] = 1.0 if firing else 0.0


@njit(cache=True)
def account_kernel(
    minutes, impact_start, impact_during, impact_end, tier, declared, harmful, valid, resolving, engineer_cost, w_impact,
    w_sev1, w_harm, w_invalid, mitigated_level, time, time_limit, impact_now, impact_minutes, peak_impact,
    mitigated_at, harmful_count, invalid_count, steps, reward, truncated,
):  # pragma: no cover
    """Per-step reward and bookkeeping (see ``reward.step_reward`` for the terms). The action's
    user impact is the trapezoid of the impact before it and at its end while still running
    (``impact_during``); ``impact_end`` is the impact once it completed."""
    for b in range(minutes.shape[0]):
        impact = minutes[b] * 0.5 * (impact_start[b] + impact_during[b])
        engineer = engineer_cost[tier[b] - 1] * (w_sev1 if declared[b] == 1 else 1.0)
        reward[b] = -(w_impact * impact + engineer * minutes[b] + w_harm * harmful[b] + w_invalid * (not valid[b]))
        impact_minutes[b] += impact
        impact_now[b] = impact_end[b]
        peak_impact[b] = max(peak_impact[b], impact_end[b])
        if not resolving[b] and math.isnan(mitigated_at[b]) and impact_end[b] < mitigated_level:
            mitigated_at[b] = time[b]
        truncated[b] = not resolving[b] and time[b] >= time_limit[b]
        harmful_count[b] += harmful[b]
        invalid_count[b] += not valid[b]
        steps[b] += 1


@njit(cache=True)
def refresh_kernel(
    checked_at, time, fresh_cols, half_life, svc_obs, glob_obs, time_limit, validation_time, alerts, present,
    invalid, col_elapsed, col_validation_fresh, col_alerts_firing, col_invalid,
):  # pragma: no cover
    """Per-step observation features: evidence freshness, elapsed time, alert load, validity."""
    batch, n, channels = checked_at.shape
    for b in range(batch):
        firing, services = 0, 0
        for i in range(n):
            for c in range(channels):
                age = time[b] - checked_at[b, i, c]
                svc_obs[b, i, fresh_cols[c]] = math.exp(-age / half_life) if age < 1e9 else 0.0
            if present[b, i]:
                services += 1
                for k in range(alerts.shape[2]):
                    if alerts[b, i, k]:
                        firing += 1
                        break
        glob_obs[b, col_elapsed] = min(max(time[b], 0.0) / time_limit[b], 1.0)
        age = time[b] - validation_time[b]
        glob_obs[b, col_validation_fresh] = math.exp(-age / half_life) if age < 1e9 else 0.0
        glob_obs[b, col_alerts_firing] = firing / max(services, 1)
        glob_obs[b, col_invalid] = 1.0 if invalid[b] else 0.0
