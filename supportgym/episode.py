"""Start an episode: a scenario's frozen parameters, and its first state (the ``initial`` of the loop).

This is the one bridge from the scenario layer (``supportgym.suite``) to the simulator:
``scenario_params`` turns a validated scenario into padded arrays, ``new_episode`` draws the
incident's details from it and warms the world up. Every random draw goes through the ``rng``
passed in (the env's ``np_random``), so the seed alone fixes the episode. The fault starts some
minutes before the incident opens; the world is simulated through that time so the first
observation already has its alerts.
"""

from __future__ import annotations

from functools import cache
from weakref import WeakKeyDictionary

import numpy as np

from supportgym.contract.actions import ActionTable, mask_table, tier_masks
from supportgym.contract.vocabulary import N_LOG_CLASSES, REMEDIES, ServiceKind, Team, check_fits
from supportgym.observe import refresh, write_static
from supportgym.stages.signal import break_alert_rules, file_reports, signals, update_alerts
from supportgym.suite import Scenario, known_fix
from supportgym.suite.loading import change_of
from supportgym.suite.schema import FaultEntry, RewardWeights
from supportgym.world.faults import FAULT_INDEX, FAULTS, FaultSpec
from supportgym.world.mechanisms import ACC_BASELINE, CONFIG, DEPLOY, advance
from supportgym.world.params import (
    N_SERVICE_ROWS,
    ROW_BASE_LATENCY,
    ROW_BASE_LOAD,
    ROW_CAPACITY,
    ROW_ENTRY,
    ROW_HEALTHY_LATENCY,
    ROW_SLO_LATENCY,
    Params,
)
from supportgym.world.state import State
from supportgym.world.teams import team_of

_DAY = 1440.0
#: Minutes since the last deploy and config push of a healthy service, drawn uniformly.
QUIET_CHANGE_AGE = (_DAY, 14 * _DAY)
#: A service's deploy counter at the start (shown to the agent only through render).
VERSIONS = (3, 60)
#: Minutes between a bad change and its first errors.
CHANGE_LEAD = (1.0, 4.0)
#: Minutes before the incident opens at which a red-herring change lands, and the share of them
#: that are deploys (the rest are config pushes).
RED_HERRING_AGE = (5.0, 90.0)
RED_HERRING_DEPLOYS = 0.6


def new_episode(scenario: Scenario, p: Params, rng: np.random.Generator) -> State:
    """A fresh batch-of-one state for ``scenario`` (whose parameter row is ``p``)."""
    return open_episodes(p, draw_episode(scenario, p, rng))


def draw_episode(scenario: Scenario, p: Params, rng: np.random.Generator, s: State | None = None) -> State:
    """The batch-of-one state of ``scenario`` with everything ``rng`` decides drawn (faults,
    changes, noise, reports, routing) and the world run up to its last fault's onset; ready for
    ``open_episodes``. All of an episode's draws happen here, in a fixed order. ``s``: an empty
    batch-of-one state to draw into (a vector env passes a row of the batch it opens, ``State.rows``),
    a fresh one by default."""
    topo = scenario.topology
    n, N = topo.n, p.present.shape[1]
    s = _empty_state(N).copy() if s is None else s
    s.acc_level[0, :n] = ACC_BASELINE
    s.deploy_time[0, :n] = -rng.uniform(*QUIET_CHANGE_AGE, n)
    s.config_time[0, :n] = -rng.uniform(*QUIET_CHANGE_AGE, n)
    s.version[0, :n] = rng.integers(*VERSIONS, n)
    s.tier[0] = scenario.start_tier

    drawn = [(_draw_onset(f, rng), _draw_service(f, topo.names, rng), f) for f in scenario.faults]
    onset_order = sorted(range(len(drawn)), key=lambda k: -drawn[k][0])
    s.time[0] = -drawn[onset_order[0]][0]
    for k in onset_order:
        onset, service, entry = drawn[k]
        _warm_up(p, s, -onset)
        _switch_on(s, k, entry, FAULTS[entry.type], service, rng)
        fix = known_fix(scenario, entry.type, topo.names[service])
        if fix is not None:
            s.kb_fix[0, service] = REMEDIES.index(fix)

    noise = scenario.noise
    # A red herring on a service whose fault a change brought would hide that change from a
    # rollback; anywhere else, even on a faulty service, it is fair game.
    culprits = {service for _, service, f in drawn if change_of(f) is not None}
    _red_herrings(s, topo, culprits, noise.red_herrings, rng)
    _decoys(s, topo, noise.log_noise, noise.trace_noise, rng)
    break_alert_rules(s, p.present[0], noise.missed_alert_rate, noise.false_alarm_rate, rng)
    file_reports(s, FAULTS[drawn[0][2].type].ticket, drawn[0][1], n, noise.ticket_mislead,
                 noise.internal_report_rate, rng)
    _route(s, team_of(drawn[0][2].type, topo.kinds[drawn[0][1]]), noise.misroute, rng)
    return s


def cumulative_weights(weights: np.ndarray) -> np.ndarray:
    """Draw weights cumulated and normalised, as ``Generator.choice(p=weights)`` computes them at every call."""
    cdf = np.asarray(weights, dtype=np.float64).cumsum()
    cdf /= cdf[-1]
    return cdf


def draw_index(cdf: np.ndarray, rng: np.random.Generator) -> int:
    """What ``rng.choice(len(cdf), p=weights)`` draws (one uniform double placed among the
    ``cumulative_weights``), without its per-call checks, which cost more than the draw."""
    return int(cdf.searchsorted(rng.random(), side="right"))


def open_episodes(p: Params, s: State) -> State:
    """Open the incidents of the batch ``s`` (drawn by ``draw_episode``; ``p`` their parameter
    rows): run the world and its alert rules to the moment the incident opens (time 0), and write
    the first observation. Nothing is drawn, so a vector env opens all its resetting rows in one
    call. A row already at time 0 gets one more alert update with no time passing, which changes
    nothing (the next one, below, is the same)."""
    dt = np.maximum(-s.time, 0.0)
    advance(s, dt)
    update_alerts(p, s, signals(p, s), dt)
    sig = signals(p, s)
    s.impact_now = sig.impact
    s.peak_impact = sig.impact.copy()
    write_static(p, s)
    no_time = np.zeros(len(s.time))
    update_alerts(p, s, sig, no_time)
    refresh(p, s, no_time)
    return s


def _route(s: State, owner: Team, misroute: float, rng: np.random.Generator) -> None:
    """The ticket arrives with ``owner``'s team, or with a chance ``misroute`` another one."""
    s.true_team[0] = owner
    others = [t for t in Team if t != owner]
    s.routed[0] = others[int(rng.integers(len(others)))] if rng.random() < misroute else owner


def _draw_onset(f: FaultEntry, rng: np.random.Generator) -> float:
    if isinstance(f.onset_minutes, list):
        return float(rng.uniform(*f.onset_minutes))
    return float(f.onset_minutes)


def _draw_service(f: FaultEntry, names: tuple[str, ...], rng: np.random.Generator) -> int:
    choices = [f.service] if isinstance(f.service, str) else f.service
    return names.index(choices[int(rng.integers(len(choices)))])


def _warm_up(p: Params, s: State, until: float) -> None:
    """Simulate the world, and its alert rules, up to time ``until``."""
    dt = np.array([until - s.time[0]])
    if dt[0] > 0:
        advance(s, dt)
        update_alerts(p, s, signals(p, s), dt)


def _switch_on(s: State, k: int, entry: FaultEntry, spec: FaultSpec, i: int, rng: np.random.Generator) -> None:
    s.fault_type[0, k] = FAULT_INDEX[spec.name]
    s.fault_service[0, k] = i
    if spec.defect is not None:
        s.defect[0, i, spec.defect] = max(s.defect[0, i, spec.defect], rng.uniform(*spec.intensity))
        s.defect_timer[0, i, spec.defect] = rng.uniform(*spec.duration) if np.isfinite(spec.duration[0]) else np.inf
    lead = rng.uniform(*CHANGE_LEAD)  # errors start right after a bad change...
    if spec.accumulator is not None:
        rate = s.acc_rate[0, i, spec.accumulator] = rng.uniform(*spec.rate)
        level = max(s.acc_level[0, i, spec.accumulator], rng.uniform(*spec.start_level))
        s.acc_level[0, i, spec.accumulator] = level
        lead += (level - ACC_BASELINE[spec.accumulator]) / rate  # ...or once a leak has filled up
    if spec.cache_down:
        s.cache_down[0, i] = 1.0
    if spec.spike:
        s.load_mult[0, i] = rng.uniform(*spec.load_multiplier)
    change = change_of(entry)
    if change is not None:
        when = s.time[0] - lead
        if change == "deploy":
            s.deploy_time[0, i] = when
            s.version[0, i] += 1
        else:
            s.config_time[0, i] = when
        s.culprit_change[0, i] = DEPLOY if change == "deploy" else CONFIG
        s.reverted[0, i] = False
        if spec.defect is not None:
            s.culprit_defect[0, i, spec.defect] = True
        if spec.accumulator is not None:
            s.culprit_acc[0, i, spec.accumulator] = True


@cache
def _empty_state(max_services: int) -> State:
    """The empty batch-of-one state every episode starts from (copied: allocating it field by field
    costs more than a copy, and every reset of a vector env's rows pays it)."""
    return State.empty(1, max_services)


_TOPOLOGY_FACTS: WeakKeyDictionary = WeakKeyDictionary()


def _facts(topo) -> tuple[tuple[bool, ...], tuple[list[int], ...]]:
    """Per service of ``topo``: whether it is internal (not a third-party provider), and its
    callees; computed once per topology (they were recomputed at every reset)."""
    facts = _TOPOLOGY_FACTS.get(topo)
    if facts is None:
        internal = tuple(bool(k != ServiceKind.EXTERNAL) for k in topo.kinds)
        facts = _TOPOLOGY_FACTS[topo] = (internal, tuple(topo.callees(i) for i in range(topo.n)))
    return facts


def _decoys(s: State, topo, log_noise: float, trace_noise: float, rng: np.random.Generator) -> None:
    """Misleading evidence that persists all episode: a service that logs a scary but harmless
    signature, a service whose traces blame the wrong callee."""
    internal, all_callees = _facts(topo)
    for i in range(topo.n):
        if rng.random() < log_noise and internal[i]:
            s.log_decoy[0, i] = rng.integers(1, N_LOG_CLASSES)
        callees = all_callees[i]
        if rng.random() < trace_noise and len(callees) > 1:
            s.trace_decoy[0, i] = callees[int(rng.integers(len(callees)))]


def _red_herrings(s: State, topo, culprits: set[int], count: int, rng: np.random.Generator) -> None:
    """Recent, harmless changes, on any service but one whose fault a change brought."""
    internal = _facts(topo)[0]
    candidates = [i for i in range(topo.n) if i not in culprits and internal[i]]
    for i in rng.permutation(candidates)[:count]:
        when = -rng.uniform(*RED_HERRING_AGE)
        if rng.random() < RED_HERRING_DEPLOYS:
            s.deploy_time[0, i] = when
            s.version[0, i] += 1
        else:
            s.config_time[0, i] = when


# --- the scenario's frozen parameters -------------------------------------------------------


def weight_array(w: RewardWeights) -> np.ndarray:
    """A suite's reward weights as ``Params.reward_weights`` (in the order of ``reward.W_*``)."""
    return np.array([w.impact, w.sev1_cost_multiplier, w.harm, w.invalid_action, *w.engineer_per_minute,
                     w.resolve_bonus, w.reopen_penalty, w.timeout_penalty, w.severity_mismatch, w.unconfirmed_close])


def nonzero_columns(m: np.ndarray) -> np.ndarray:
    """(B, N, N) int32: for each row of each matrix of ``m`` (B, N, N), the columns of its nonzero
    entries in order, then -1: a sparse matrix's rows for a kernel to walk in O(entries)."""
    out = np.full(m.shape, -1, dtype=np.int32)
    nonzero = m != 0.0
    # the k-th nonzero of a row goes to position k: its rank among the row's nonzeros
    rank = np.cumsum(nonzero, axis=-1) - 1
    b, i, j = np.nonzero(nonzero)
    out[b, i, rank[b, i, j]] = j
    return out


def scenario_params(scenario: Scenario, actions: ActionTable) -> Params:
    """The parameter row (B = 1) of one scenario, padded to ``actions.max_services``."""
    topo = scenario.topology
    n, N = topo.n, actions.max_services
    check_fits(n, N, f"{scenario.suite}: scenario {scenario.name!r}")

    def pad(values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        out = np.full((1, N), fill, dtype=np.asarray(values).dtype if np.asarray(values).dtype == bool else float)
        out[0, :n] = values
        return out

    def pad2(m: np.ndarray) -> np.ndarray:
        out = np.zeros((1, N, N))
        out[0, :n, :n] = m
        return out

    callees_first = np.arange(N)[None].copy()
    callees_first[0, :n] = topo.callees_first
    load_matrix = np.eye(N)[None].copy()
    load_matrix[0, :n, :n] = topo.load_matrix
    healthy_latency = topo.base_latency @ topo.propagation_matrix
    entry_slo = np.where(topo.entry > 0, topo.slo_latency_factor * healthy_latency, np.inf)

    present = pad(np.ones(n, dtype=bool), False).astype(bool)
    kinds = np.full((1, N), -1)
    kinds[0, :n] = topo.kinds
    failover_ok = np.zeros(N, dtype=bool)
    failover_ok[:n] = topo.failover
    tier_mask = tier_masks(actions, present, kinds, failover_ok[None], pad(topo.entry))
    rows = {ROW_ENTRY: pad(topo.entry), ROW_BASE_LOAD: pad(topo.base_load, 1.0),
            ROW_CAPACITY: pad(topo.base_load * topo.headroom, 1.0), ROW_BASE_LATENCY: pad(topo.base_latency, 1.0),
            ROW_SLO_LATENCY: pad(entry_slo, np.inf), ROW_HEALTHY_LATENCY: pad(healthy_latency, 1.0)}
    noise = scenario.noise
    return Params(
        present=present,
        kind=kinds,
        service_table=np.stack([rows[r] for r in range(N_SERVICE_ROWS)], axis=1),
        load_matrix=load_matrix,
        upward_calls=pad2(topo.upward_calls),
        upward_callees=nonzero_columns(pad2(topo.upward_calls)),
        callees_first=callees_first,
        redirect=pad2(topo.redirect),
        calls=pad2(topo.calls),
        depth=pad(topo.depth),
        failover=failover_ok[None],
        mask_table=mask_table(tier_mask, actions),
        traffic_table=np.array([[scenario.start_hour, scenario.daily_traffic_amplitude]]),
        time_limit=np.array([scenario.time_limit_minutes]),
        post_resolution=np.array([scenario.post_resolution_minutes]),
        validate_minutes=np.array([scenario.validate_minutes]),
        alert_delay=np.array([noise.alert_delay_minutes]),
        metric_noise=np.array([noise.metric_noise]),
        reward_weights=weight_array(scenario.reward),
    )
