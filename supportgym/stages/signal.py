"""Stage 1, signal: true golden signals and their propagation, and the alerts raised from them.

Faults switch on mechanisms (``world.mechanisms``); this stage turns them into golden signals
with the same few equations for every fault, carries them through the dependency graph, and
raises alerts through thresholds and a delay, with missed and false alerts. The other signals
reach the desk once, when the incident opens: a customer ticket (which may point at the wrong
place) and, sometimes, another team's report of a service (which may not be the culprit).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from supportgym.compiled import kernel, stamp_cache
from supportgym.contract.observation import ALERTS
from supportgym.contract.vocabulary import (
    ALERT_DOWN,
    ALERT_ERRORS,
    ALERT_LATENCY,
    ALERT_SATURATION,
    ALERT_THRESHOLDS,
    N_TICKETS,
)
from supportgym.rng import integers, random, uniform
from supportgym.world.mechanisms import (
    ACC_EFFECTS,
    ACC_HARM_THRESHOLD,
    DEFECT_EFFECTS,
    EFFECT_CAPACITY,
    EFFECT_ERROR,
    EFFECT_LATENCY,
    advance_row,
)
from supportgym.world.params import (
    ROW_BASE_LATENCY,
    ROW_BASE_LOAD,
    ROW_CAPACITY,
    ROW_ENTRY,
    ROW_HEALTHY_LATENCY,
    ROW_SLO_LATENCY,
    TRAFFIC_AMPLITUDE,
    TRAFFIC_START_HOUR,
    Params,
)
from supportgym.world.state import State

#: Rows of ``Signals.table`` (B, N_SIGNALS, N).
SIG_LOAD, SIG_UTILISATION, SIG_ERR_OWN, SIG_LATENCY_OWN = 0, 1, 2, 3
SIG_ERR, SIG_LATENCY, SIG_LATENCY_RATIO, SIG_SATURATION, SIG_DOWN = 4, 5, 6, 7, 8
N_SIGNALS = 9
#: The daily traffic curve rises through its mean at 09:00 and peaks six hours later.
TRAFFIC_RISE_HOUR = 9.0
#: Queueing delay: own latency grows by QUEUEING * q^2 / (1 - q) at utilisation q, capped at Q_CAP.
QUEUEING = 0.25
Q_CAP = 0.95
ALERT_COLUMN = ALERTS.start
#: A false alarm fires from the start for between these many minutes.
FALSE_ALARM_MINUTES = np.array([5.0, 60.0])
#: Chance that another team's report names the first fault's service rather than a random one.
REPORT_ON_TARGET = 0.5


class Signals:
    """Golden signals of every service at one instant.

    ``table`` (B, N_SIGNALS, N) holds the per-service rows named ``SIG_*`` (also as properties),
    so the compiled kernel fills one array; ``impact`` (B,) is the share of user requests hurt at
    the edge; ``conditions`` (B, N, 4) the true alert conditions (errors, latency, saturation, down).
    """

    __slots__ = ("table", "impact", "conditions")

    def __init__(self, batch: int, n: int):
        """Uninitialised arrays, for a kernel to fill."""
        self.table, self.impact, self.conditions = signal_buffers(batch, n)

    load = property(lambda self: self.table[:, SIG_LOAD], doc="(B, N) requests per unit of healthy edge traffic")
    utilisation = property(lambda self: self.table[:, SIG_UTILISATION], doc="(B, N) load / capacity")
    err_own = property(lambda self: self.table[:, SIG_ERR_OWN], doc="(B, N) error rate a service causes itself")
    latency_own = property(lambda self: self.table[:, SIG_LATENCY_OWN], doc="(B, N) own latency, ms")
    err = property(lambda self: self.table[:, SIG_ERR], doc="(B, N) error rate including its callees'")
    latency = property(lambda self: self.table[:, SIG_LATENCY], doc="(B, N) latency including its callees', ms")
    latency_ratio = property(lambda self: self.table[:, SIG_LATENCY_RATIO], doc="(B, N) latency / healthy latency")
    saturation = property(lambda self: self.table[:, SIG_SATURATION],
                          doc="(B, N) max of utilisation and resource levels")
    down = property(lambda self: self.table[:, SIG_DOWN] > 0.5, doc="(B, N) bool: down (restarting or crashed)")


@kernel
def signal_buffers(batch, n):  # pragma: no cover - compiled
    """Uninitialised (table, impact, conditions) of ``batch`` rows over ``n`` services, for
    ``signals_kernel`` to fill (the arrays of ``Signals``)."""
    return np.empty((batch, N_SIGNALS, n)), np.empty(batch), np.empty((batch, n, len(ALERT_THRESHOLDS)), np.bool_)


@cache
def _all_rows(batch: int) -> np.ndarray:
    rows = np.arange(batch)
    rows.setflags(write=False)
    return rows


@cache
def no_target(batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only (target, capacity kept) arrays for signals with no action taking capacity."""
    target, capacity = np.full(batch, -1), np.ones(batch)
    target.setflags(write=False)
    capacity.setflags(write=False)
    return target, capacity


def signals(p: Params, s: State) -> Signals:
    """The golden signals of the current state, every row (``signals_kernel`` computes them).

    Per service: load = entry traffic (times the daily curve, plus any injected spike) carried
    down the calls by ``load_matrix``, plus a dead cache's hits landing on its database;
    capacity = base x scale-outs x (1 - capacity a defect eats); utilisation u = load/capacity;
    own latency = base x (1 + QUEUEING q^2/(1-q) + defect and leak slowdowns) with q = min(u, Q_CAP);
    own error = defects + leaks over threshold + the share shed beyond capacity (1 - 1/u), or 1
    when down. Effective error and latency add the callees' up the calls, weighted by the share of
    requests that call them (``upward_calls``, in ``callees_first`` order); callers of a dead cache
    depend on its database instead for the cache's hit share;
    user impact is the entry-weighted share of requests failing or over the latency SLO.
    """
    batch, n = s.cache_down.shape
    out = Signals(batch, n)
    target, capacity = no_target(batch)  # no service loses capacity
    signals_kernel(s.time, p.traffic_table, p.service_table, p.n_services, p.load_matrix, p.redirect, p.calls,
                   p.upward_calls, p.upward_callees, p.callees_first, s.param_row, s.load_mult, s.cache_down, s.scale,
                   s.defect, s.acc_level, target, capacity, _all_rows(batch), out.table, out.impact, out.conditions)
    return out


@kernel
def signals_kernel(
    time, traffic_table, service_table, n_services, load_matrix, redirect, calls, upward_calls, upward_callees,
    callees_first, param_row, load_mult, cache_down, scale, defect, acc_level, during_target, during_capacity, rows,
    out, impact, conditions,
):  # pragma: no cover - compiled
    """Fill ``out`` (B, N_SIGNALS, N), ``impact`` (B,) and ``conditions`` (B, N, 4) at ``rows``
    (indices: a row's signals depend on that row alone), the other rows untouched; see ``signals``.
    Row ``b`` reads its parameters (the arguments up to ``callees_first``) at ``param_row[b]``.
    ``during_capacity`` (B,) scales the capacity of service ``during_target`` (B,) while an action
    runs on it (0 = down for a restart; target -1: none).

    Linear in the services and calls, not quadratic: the load sums run over the services that
    inject load (entries, spikes), the upward sums over each service's callees
    (``upward_callees``) and the dead caches; every sum adds the same nonzero terms in the same
    order as the dense products did (zero terms add nothing), so the results are bit-identical.
    The loops run over the row's ``n_services`` slots; a padding slot, which nothing reaches, gets
    the values the full computation gives it: idle at its own latency, nothing failing."""
    n = service_table.shape[2]
    raw = np.empty(n)
    dead = np.empty(n, np.int64)  # the row's dead caches, in index order
    for b in rows:
        pr = param_row[b]
        used = n_services[pr]
        entry, base_load, capacity = service_table[pr, ROW_ENTRY], service_table[pr, ROW_BASE_LOAD], \
            service_table[pr, ROW_CAPACITY]
        base_latency, slo_latency = service_table[pr, ROW_BASE_LATENCY], service_table[pr, ROW_SLO_LATENCY]
        healthy_latency = service_table[pr, ROW_HEALTHY_LATENCY]
        load, util, err_own, lat_own = out[b, SIG_LOAD], out[b, SIG_UTILISATION], out[b, SIG_ERR_OWN], \
            out[b, SIG_LATENCY_OWN]
        err, latency, ratio = out[b, SIG_ERR], out[b, SIG_LATENCY], out[b, SIG_LATENCY_RATIO]
        saturation, down = out[b, SIG_SATURATION], out[b, SIG_DOWN]
        # the daily traffic curve; a spike injects load at one service
        hour = traffic_table[pr, TRAFFIC_START_HOUR] + time[b] / 60.0
        daily = math.sin((hour - TRAFFIC_RISE_HOUR) * 2.0 * math.pi / 24.0)
        traffic = 1.0 + traffic_table[pr, TRAFFIC_AMPLITUDE] * daily
        # load flows down the calls; a dead cache sends its hits to the database it fronts
        for j in range(used):
            raw[j] = entry[j] * traffic + base_load[j] * (load_mult[b, j] - 1.0)
            load[j] = 0.0
        for i in range(used):
            if raw[i] != 0.0:
                for j in range(used):
                    load[j] += raw[i] * load_matrix[pr, i, j]
        for i in range(used):
            if cache_down[b, i] > 0.0:
                for j in range(used):
                    load[j] += load[i] * cache_down[b, i] * redirect[pr, i, j]
        for i in range(used):
            e_def, l_def, cap_lost = 0.0, 0.0, 0.0
            for d in range(defect.shape[2]):
                x = defect[b, i, d]
                if x != 0.0:
                    e_def += x * DEFECT_EFFECTS[d, EFFECT_ERROR]
                    l_def += x * DEFECT_EFFECTS[d, EFFECT_LATENCY]
                    cap_lost += x * DEFECT_EFFECTS[d, EFFECT_CAPACITY]
            e_acc, l_acc, top = 0.0, 0.0, 0.0
            for a in range(acc_level.shape[2]):
                level = acc_level[b, i, a]
                top = max(top, level)
                if level > ACC_HARM_THRESHOLD[a]:  # (below it the effects add 0)
                    over = (level - ACC_HARM_THRESHOLD[a]) / (1.0 - ACC_HARM_THRESHOLD[a])
                    e_acc += over * ACC_EFFECTS[a, EFFECT_ERROR]
                    l_acc += over * ACC_EFFECTS[a, EFFECT_LATENCY]
            cap = capacity[i] * scale[b, i] * (1.0 - cap_lost)
            if i == during_target[b]:  # the target of a running action (0 = down for a restart)
                cap *= during_capacity[b]
            is_down = cap <= 0.0 or cache_down[b, i] > 0.0
            u = load[i] / max(cap, 1e-9)
            q = min(u, Q_CAP)
            lat_own[i] = base_latency[i] * (1.0 + QUEUEING * q * q / (1.0 - q) + l_def + l_acc)
            shed = 1.0 - 1.0 / max(u, 1.0)  # requests beyond capacity are rejected
            err_own[i] = 1.0 if is_down else min(e_def + e_acc + shed, 1.0)
            util[i] = u
            down[i] = 1.0 if is_down else 0.0
            saturation[i] = max(u, top)
        # errors and latency flow up the calls, callees first
        impact[b] = 0.0
        n_dead = 0
        for i in range(used):
            if cache_down[b, i] > 0.0:
                dead[n_dead] = i
                n_dead += 1
        for idx in range(used):
            j = callees_first[pr, idx]
            e, lat = err_own[j], lat_own[j]
            for t in range(used):
                d = upward_callees[pr, j, t]
                if d < 0:
                    break
                w = upward_calls[pr, j, d]
                e += w * err[d]
                lat += w * latency[d]
            for k in range(n_dead):  # the hits of a dead cache now wait on its database
                c = dead[k]
                if calls[pr, j, c] > 0.0:
                    for d in range(used):
                        w = calls[pr, j, c] * redirect[pr, c, d]
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
            conditions[b, j, ALERT_ERRORS] = e > ALERT_THRESHOLDS[ALERT_ERRORS]
            conditions[b, j, ALERT_LATENCY] = ratio[j] > ALERT_THRESHOLDS[ALERT_LATENCY]
            conditions[b, j, ALERT_SATURATION] = saturation[j] > ALERT_THRESHOLDS[ALERT_SATURATION]
            conditions[b, j, ALERT_DOWN] = down[j] > ALERT_THRESHOLDS[ALERT_DOWN]
        for j in range(used, n):  # padding
            load[j], util[j], err_own[j], err[j], saturation[j], down[j] = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
            lat_own[j] = latency[j] = base_latency[j]
            ratio[j] = base_latency[j] / healthy_latency[j]
            conditions[b, j] = False


def update_alerts(p: Params, s: State, sig: Signals, dt: np.ndarray) -> None:
    """Alerts fire once a true condition has held for the alert delay, unless the rule is broken;
    false alarms fire on their own schedule."""
    alerts_kernel(_all_rows(len(dt)), sig.conditions, s.alert_pending, dt, p.alert_delay, s.param_row, p.n_services,
                  s.alert_muted, s.false_until, s.time, s.alerts, s.svc_obs)


@kernel
def warm_up_kernel(rows, dt, time, traffic_table, service_table, n_services, load_matrix, redirect, calls, upward_calls,
                   upward_callees, callees_first, param_row, load_mult, cache_down, scale, defect, acc_level, acc_rate,
                   defect_timer, target, capacity, pending, delay, muted, false_until, alerts, svc_obs, table, impact,
                   conditions):  # pragma: no cover - compiled
    """Simulate the world of each of ``rows`` by ``dt[b]`` minutes, then its alert rules over
    that time (``table``, ``impact``, ``conditions``: scratch written at those rows)."""
    for m in range(rows.shape[0]):
        b, one = rows[m], rows[m:m + 1]
        advance_row(b, dt[b], n_services[param_row[b]], time, acc_level, acc_rate, defect, defect_timer)
        signals_kernel(time, traffic_table, service_table, n_services, load_matrix, redirect, calls, upward_calls,
                       upward_callees, callees_first, param_row, load_mult, cache_down, scale, defect, acc_level,
                       target, capacity, one, table, impact, conditions)
        alerts_kernel(one, conditions, pending, dt, delay, param_row, n_services, muted, false_until, time, alerts,
                      svc_obs)


@kernel
def alerts_kernel(rows, conditions, pending, dt, delay, param_row, n_services, muted, false_until, time, alerts,
                  svc_obs):  # pragma: no cover - compiled
    kinds = conditions.shape[2]
    for b in rows:
        for i in range(n_services[param_row[b]]):  # (padding never alerts: left as the opening wrote it)
            for k in range(kinds):
                if conditions[b, i, k]:
                    pending[b, i, k] += dt[b]
                else:
                    pending[b, i, k] = 0.0
                firing = (conditions[b, i, k] and pending[b, i, k] >= delay[param_row[b]] and not muted[b, i, k]) or (
                    false_until[b, i, k] > time[b]
                )
                alerts[b, i, k] = firing
                svc_obs[b, i, ALERT_COLUMN + k] = 1.0 if firing else 0.0


@kernel
def break_alert_rules(streams, r, m, present, missed_alert_rate, false_alarm_rate, alert_muted,
                      false_until):  # pragma: no cover - compiled
    """Draw, from stream ``r``, batch row ``m``'s broken alert rules (alerts that never fire) and
    false alarms over its ``present`` (N,) service slots: a rule per (slot, alert kind) in C order,
    every draw made for every slot."""
    n, kinds = alert_muted.shape[1], alert_muted.shape[2]
    for i in range(n):
        for k in range(kinds):
            alert_muted[m, i, k] = random(streams, r) < missed_alert_rate and present[i]
    false = np.empty((n, kinds), dtype=np.bool_)
    for i in range(n):
        for k in range(kinds):
            false[i, k] = random(streams, r) < false_alarm_rate and present[i]
    for i in range(n):
        for k in range(kinds):
            until = uniform(streams, r, FALSE_ALARM_MINUTES[0], FALSE_ALARM_MINUTES[1])
            false_until[m, i, k] = until if false[i, k] else -np.inf


@kernel
def file_reports(streams, r, m, ticket, culprit, services, ticket_mislead, internal_report_rate, tickets,
                 internal_report):  # pragma: no cover - compiled
    """Batch row ``m``'s customer ticket (the first fault's category ``ticket``, or with chance
    ``ticket_mislead`` another, uniformly) and, with chance ``internal_report_rate``, another team's
    report of a service (``culprit`` with chance REPORT_ON_TARGET, else any of ``services``)."""
    tickets[m] = ticket
    if random(streams, r) < ticket_mislead:
        other = 1 + integers(streams, r, 0, N_TICKETS - 1 - (1 if 1 <= ticket < N_TICKETS else 0))
        tickets[m] = other + 1 if other >= ticket >= 1 else other
    if random(streams, r) < internal_report_rate:
        internal_report[m] = culprit if random(streams, r) < REPORT_ON_TARGET else integers(streams, r, 0, services)


stamp_cache(__file__, globals())
