"""An episode's random draws, compiled: what ``episode.draw_episodes`` runs for every row it opens.

A new episode draws its scenario (by weight), then its details, in a fixed order: each service's
last quiet deploy and config push and its version, each fault's onset and service, the faults
switched on in the order they began (the world runs between two onsets), then the red herrings,
the decoys, the broken alert rules and false alarms, the reports and the routing. Row ``m`` of
the batch being opened draws all of them from its stream ``of_row[m]`` (``supportgym.rng``), all
rows in one call (``draw_kernel``), and a row draws what a single env with the same generator would.

A scenario reaches the kernels as a row of ``episode.EpisodePlans`` (laid out by the column
constants below): its faults, their draw ranges and candidate services (with the knowledge base's
fix and the owning team for each), its noise rates and sizes.
"""

from __future__ import annotations

import numpy as np

from supportgym.compiled import kernel, stamp_cache
from supportgym.contract.vocabulary import N_LOG_CLASSES, N_TEAMS, ServiceKind
from supportgym.rng import integers, random, shuffle, uniform
from supportgym.stages.signal import break_alert_rules, file_reports, signal_buffers, warm_up_kernel
from supportgym.world.mechanisms import ACC_BASELINE, DEPLOY, N_ACCUMULATORS, NO_CHANGE
from supportgym.world.params import ParamArrays
from supportgym.world.state import MAX_FAULTS, StateArrays

_DAY = 1440.0
#: Minutes since the last deploy and config push of a healthy service, drawn uniformly.
QUIET_CHANGE_AGE = np.array([_DAY, 14 * _DAY])
#: A service's deploy counter at the start, drawn from [low, high) (shown only through render).
VERSIONS = np.array([3, 60])
#: Minutes between a bad change and its first errors.
CHANGE_LEAD = np.array([1.0, 4.0])
#: Minutes before the incident opens at which a red-herring change lands, and the share of them
#: that are deploys (the rest are config pushes).
RED_HERRING_AGE = np.array([5.0, 90.0])
RED_HERRING_DEPLOYS = 0.6
EXTERNAL = int(ServiceKind.EXTERNAL)

# Columns of ``EpisodePlans.fault_ranges`` (S, MAX_FAULTS, N_RANGES): [low, high] of each draw.
ONSET, INTENSITY, DURATION, RATE, LEVEL, LOAD = 0, 2, 4, 6, 8, 10
N_RANGES = 12
# Columns of ``EpisodePlans.fault_facts`` (S, MAX_FAULTS, N_FACTS).
(FACT_TYPE, FACT_ONSET_DRAWN, FACT_CHOICES, FACT_DEFECT, FACT_ACCUMULATOR, FACT_CACHE_DOWN, FACT_SPIKE,
 FACT_CHANGE, FACT_TICKET) = range(9)
N_FACTS = 9
# Columns of ``EpisodePlans.choices`` (S, MAX_FAULTS, N, N_CHOICE_FACTS): per candidate service.
CHOICE_SERVICE, CHOICE_KB_FIX, CHOICE_TEAM = range(3)
N_CHOICE_FACTS = 3
# Columns of ``EpisodePlans.sizes`` (S, N_SIZES) and ``EpisodePlans.rates`` (S, N_RATES).
SIZE_SERVICES, SIZE_START_TIER, SIZE_FAULTS, SIZE_RED_HERRINGS = range(4)
N_SIZES = 4
RATE_LOG, RATE_TRACE, RATE_MISSED_ALERT, RATE_FALSE_ALARM, RATE_TICKET_MISLEAD, RATE_INTERNAL_REPORT, RATE_MISROUTE = (
    range(7))
N_RATES = 7


@kernel
def choose_scenarios(streams, of_row, cdf, fixed, chosen):  # pragma: no cover - compiled
    """``chosen[m]``: ``fixed[m]`` where it is >= 0, else a scenario index drawn from stream
    ``of_row[m]`` by the cumulative weights ``cdf`` (what ``Generator.choice(len(w), p=w)`` draws:
    one uniform placed among them)."""
    for m in range(len(chosen)):
        if fixed[m] >= 0:
            chosen[m] = fixed[m]
        else:
            chosen[m] = np.searchsorted(cdf, random(streams, of_row[m]), side="right")


@kernel
def draw_faults(streams, of_row, ranges, facts, choices, sizes, time, tier, acc_level, deploy_time, config_time,
                version, onsets, order, picked):  # pragma: no cover - compiled
    """The first draws of each row ``m`` (its plan rows gathered: ``ranges[m]`` ...): every
    service's quiet deploy and config ages and version, then each fault's onset and candidate
    (``onsets`` (R, K), ``picked`` (R, K)), and the order they began in (``order``: latest onset
    first, ties in scenario order). The clock starts at the first onset."""
    for m in range(len(of_row)):
        r, n = of_row[m], sizes[m, SIZE_SERVICES]
        for i in range(n):
            for a in range(N_ACCUMULATORS):
                acc_level[m, i, a] = ACC_BASELINE[a]
        for i in range(n):
            deploy_time[m, i] = -uniform(streams, r, QUIET_CHANGE_AGE[0], QUIET_CHANGE_AGE[1])
        for i in range(n):
            config_time[m, i] = -uniform(streams, r, QUIET_CHANGE_AGE[0], QUIET_CHANGE_AGE[1])
        for i in range(n):
            version[m, i] = integers(streams, r, VERSIONS[0], VERSIONS[1])
        tier[m] = sizes[m, SIZE_START_TIER]
        faults = sizes[m, SIZE_FAULTS]
        for k in range(faults):
            low, high = ranges[m, k, ONSET], ranges[m, k, ONSET + 1]
            onsets[m, k] = uniform(streams, r, low, high) if facts[m, k, FACT_ONSET_DRAWN] else low
            picked[m, k] = integers(streams, r, 0, facts[m, k, FACT_CHOICES])
        for k in range(faults):  # a stable insertion sort, latest onset first
            order[m, k] = k
            j = k
            while j > 0 and onsets[m, order[m, j - 1]] < onsets[m, k]:
                order[m, j] = order[m, j - 1]
                j -= 1
            order[m, j] = k
        time[m] = -onsets[m, order[m, 0]]


@kernel
def switch_on(streams, of_row, rows, position, ranges, facts, choices, order, picked, time, fault_type,
              fault_service, defect, defect_timer, acc_rate, acc_level, cache_down, load_mult, deploy_time,
              config_time, version, culprit_change, reverted, culprit_defect, culprit_acc,
              kb_fix):  # pragma: no cover - compiled
    """Switch on, in each row ``m`` of ``rows``, the fault that began ``position``-th (``order``):
    its mechanism with drawn intensity, duration, rate, level or load, and the change that brought
    it (``CHANGE_LEAD`` minutes before its errors, or before a leak filled up); the knowledge base
    learns its fix if a known issue matches."""
    for m in rows:
        r, k = of_row[m], order[m, position]
        choice = choices[m, k, picked[m, k]]
        i = choice[CHOICE_SERVICE]
        d, a = facts[m, k, FACT_DEFECT], facts[m, k, FACT_ACCUMULATOR]
        fault_type[m, k] = facts[m, k, FACT_TYPE]
        fault_service[m, k] = i
        if d >= 0:
            intensity = uniform(streams, r, ranges[m, k, INTENSITY], ranges[m, k, INTENSITY + 1])
            defect[m, i, d] = max(defect[m, i, d], intensity)
            low, high = ranges[m, k, DURATION], ranges[m, k, DURATION + 1]
            defect_timer[m, i, d] = uniform(streams, r, low, high) if np.isfinite(low) else np.inf
        lead = uniform(streams, r, CHANGE_LEAD[0], CHANGE_LEAD[1])  # errors start right after a bad change...
        if a >= 0:
            rate = uniform(streams, r, ranges[m, k, RATE], ranges[m, k, RATE + 1])
            acc_rate[m, i, a] = rate
            level = max(acc_level[m, i, a], uniform(streams, r, ranges[m, k, LEVEL], ranges[m, k, LEVEL + 1]))
            acc_level[m, i, a] = level
            lead += (level - ACC_BASELINE[a]) / rate  # ...or once a leak has filled up
        if facts[m, k, FACT_CACHE_DOWN]:
            cache_down[m, i] = 1.0
        if facts[m, k, FACT_SPIKE]:
            load_mult[m, i] = uniform(streams, r, ranges[m, k, LOAD], ranges[m, k, LOAD + 1])
        change = facts[m, k, FACT_CHANGE]
        if change != NO_CHANGE:
            when = time[m] - lead
            if change == DEPLOY:
                deploy_time[m, i] = when
                version[m, i] += 1
            else:
                config_time[m, i] = when
            culprit_change[m, i] = change
            reverted[m, i] = False
            if d >= 0:
                culprit_defect[m, i, d] = True
            if a >= 0:
                culprit_acc[m, i, a] = True
        if choice[CHOICE_KB_FIX] >= 0:
            kb_fix[m, i] = choice[CHOICE_KB_FIX]


@kernel
def draw_noise(streams, of_row, facts, choices, sizes, rates, picked, present, kind, calls, param_row, deploy_time,
               config_time, version, log_decoy, trace_decoy, alert_muted, false_until, tickets, internal_report,
               true_team, routed):  # pragma: no cover - compiled
    """The last draws of each row: red-herring changes (on internal services whose fault no change
    brought), decoys (a misleading log signature, traces blaming the wrong callee), broken alert
    rules and false alarms, the reports, and the team the ticket is routed to (the owner of the
    first fault, or with chance ``misroute`` another). Row m's topology (``present`` to ``calls``)
    is at ``param_row[m]``."""
    N = present.shape[1]
    candidates = np.empty(N, dtype=np.int64)
    callees = np.empty(N, dtype=np.int64)
    for m in range(len(of_row)):
        r, n, faults, pr = of_row[m], sizes[m, SIZE_SERVICES], sizes[m, SIZE_FAULTS], param_row[m]
        count = 0
        for i in range(n):
            culprit = False
            for k in range(faults):
                if facts[m, k, FACT_CHANGE] != NO_CHANGE and choices[m, k, picked[m, k], CHOICE_SERVICE] == i:
                    culprit = True
            if kind[pr, i] != EXTERNAL and not culprit:
                candidates[count] = i
                count += 1
        shuffle(streams, r, candidates[:count])
        for j in range(min(sizes[m, SIZE_RED_HERRINGS], count)):
            i = candidates[j]
            when = -uniform(streams, r, RED_HERRING_AGE[0], RED_HERRING_AGE[1])
            if random(streams, r) < RED_HERRING_DEPLOYS:
                deploy_time[m, i] = when
                version[m, i] += 1
            else:
                config_time[m, i] = when
        for i in range(n):
            if random(streams, r) < rates[m, RATE_LOG] and kind[pr, i] != EXTERNAL:
                log_decoy[m, i] = integers(streams, r, 1, N_LOG_CLASSES)
            n_callees = 0
            for j in range(N):
                if calls[pr, i, j] > 0.0:
                    callees[n_callees] = j
                    n_callees += 1
            if random(streams, r) < rates[m, RATE_TRACE] and n_callees > 1:
                trace_decoy[m, i] = callees[integers(streams, r, 0, n_callees)]
        break_alert_rules(streams, r, m, present[pr], rates[m, RATE_MISSED_ALERT], rates[m, RATE_FALSE_ALARM],
                          alert_muted, false_until)
        first = choices[m, 0, picked[m, 0]]
        file_reports(streams, r, m, facts[m, 0, FACT_TICKET], first[CHOICE_SERVICE], n, rates[m, RATE_TICKET_MISLEAD],
                     rates[m, RATE_INTERNAL_REPORT], tickets, internal_report)
        owner = first[CHOICE_TEAM]
        true_team[m] = owner
        if random(streams, r) < rates[m, RATE_MISROUTE]:
            other = integers(streams, r, 0, N_TEAMS - 1)
            routed[m] = other + 1 if other >= owner else other
        else:
            routed[m] = owner



@kernel
def draw_kernel(fault_ranges, fault_facts, plan_choices, plan_sizes, plan_rates, chosen, params, state, streams,
                of_row):  # pragma: no cover - compiled
    """Draw into ``state`` (``State.arrays()`` of an empty batch, row m on parameter row
    ``param_row[m]`` of ``params``, ``Params.arrays()``) each row m's episode of scenario
    ``chosen[m]`` (rows of the ``episode.EpisodePlans`` arrays), from stream ``of_row[m]``: the
    faults' draws, each fault switched on in the order they began with the world run from one
    onset to the next, then the noise."""
    P, S = ParamArrays(*params), StateArrays(*state)
    ranges, facts, choices = fault_ranges[chosen], fault_facts[chosen], plan_choices[chosen]
    sizes, rates = plan_sizes[chosen], plan_rates[chosen]
    batch, n = S.cache_down.shape
    onsets = np.zeros((batch, MAX_FAULTS))
    order = np.zeros((batch, MAX_FAULTS), np.int64)
    picked = np.zeros((batch, MAX_FAULTS), np.int64)
    draw_faults(streams, of_row, ranges, facts, choices, sizes, S.time, S.tier, S.acc_level, S.deploy_time,
                S.config_time, S.version, onsets, order, picked)
    dt, no_target, full_capacity = np.zeros(batch), np.full(batch, -1), np.ones(batch)
    table, impact, conditions = signal_buffers(batch, n)
    for position in range(MAX_FAULTS):  # each fault in the order they began
        rows = np.flatnonzero(sizes[:, SIZE_FAULTS] > position)
        if position > 0:  # the world runs (alert rules too) up to this fault's onset
            for m in rows:
                dt[m] = max(-onsets[m, order[m, position]] - S.time[m], 0.0)
            moving = rows[dt[rows] > 0]
            warm_up_kernel(moving, dt, S.time, P.traffic_table, P.service_table, P.n_services, P.load_matrix,
                           P.redirect, P.calls, P.upward_calls, P.upward_callees, P.callees_first, S.param_row,
                           S.load_mult, S.cache_down, S.scale, S.defect, S.acc_level, S.acc_rate, S.defect_timer,
                           no_target, full_capacity, S.alert_pending, P.alert_delay, S.alert_muted, S.false_until,
                           S.alerts, S.svc_obs, table, impact, conditions)
        switch_on(streams, of_row, rows, position, ranges, facts, choices, order, picked, S.time, S.fault_type,
                  S.fault_service, S.defect, S.defect_timer, S.acc_rate, S.acc_level, S.cache_down, S.load_mult,
                  S.deploy_time, S.config_time, S.version, S.culprit_change, S.reverted, S.culprit_defect,
                  S.culprit_acc, S.kb_fix)
    draw_noise(streams, of_row, facts, choices, sizes, rates, picked, P.present, P.kind, P.calls, S.param_row,
               S.deploy_time, S.config_time, S.version, S.log_decoy, S.trace_decoy, S.alert_muted, S.false_until,
               S.ticket, S.internal_report, S.true_team, S.routed)


stamp_cache(__file__, globals())
