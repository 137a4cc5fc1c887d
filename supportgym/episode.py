"""Start an episode: draw the incident's details from a scenario and warm the world up.

Every random draw goes through the ``rng`` passed in (the env's ``np_random``), so the seed
alone fixes the episode. The fault starts some minutes before the incident opens; the world
is simulated through that time so the first observation already has its alerts.
"""

from __future__ import annotations

import numpy as np

from supportgym.catalog import (
    ACC_BASELINE,
    FAULT_INDEX,
    FAULTS,
    N_LOG_CLASSES,
    N_TICKETS,
    FaultSpec,
    ServiceKind,
)
from supportgym.dynamics import advance, signals
from supportgym.layout import KB_REMEDIES
from supportgym.observe import refresh, update_alerts, write_static
from supportgym.params import Params
from supportgym.state import CONFIG, DEPLOY, State
from supportgym.suite import Scenario, known_fix
from supportgym.suite_schema import FaultEntry

_DAY = 1440.0


def new_episode(scenario: Scenario, p: Params, rng: np.random.Generator) -> State:
    """A fresh batch-of-one state for ``scenario`` (whose parameter row is ``p``)."""
    topo = scenario.topology
    n, N = topo.n, p.present.shape[1]
    s = State.empty(1, N)
    s.acc_level[0, :n] = ACC_BASELINE
    s.deploy_time[0, :n] = -rng.uniform(_DAY, 14 * _DAY, n)
    s.config_time[0, :n] = -rng.uniform(_DAY, 14 * _DAY, n)
    s.version[0, :n] = rng.integers(3, 60, n)
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
            s.kb_fix[0, service] = KB_REMEDIES.index(fix.name.lower())

    noise = scenario.noise
    # A red herring on a service whose fault a change brought would hide that change from a
    # rollback; anywhere else, even on a faulty service, it is fair game.
    culprits = {service for _, service, f in drawn if (f.change or FAULTS[f.type].change) is not None}
    _red_herrings(s, topo, culprits, noise.red_herrings, rng)
    _decoys(s, topo, noise.log_noise, noise.trace_noise, rng)
    present = p.present[0][:, None]
    s.alert_muted[0] = (rng.random((N, 4)) < noise.missed_alert_rate) & present
    false = (rng.random((N, 4)) < noise.false_alarm_rate) & present
    s.false_until[0] = np.where(false, rng.uniform(5.0, 60.0, (N, 4)), -np.inf)

    first = FAULTS[drawn[0][2].type]
    s.ticket[0] = first.ticket
    if rng.random() < noise.ticket_mislead:
        s.ticket[0] = rng.choice([t for t in range(1, N_TICKETS) if t != first.ticket])
    if rng.random() < noise.internal_report_rate:
        s.internal_report[0] = drawn[0][1] if rng.random() < 0.5 else rng.integers(n)

    _warm_up(p, s, 0.0)
    sig = signals(p, s)
    s.impact_now = sig.impact
    s.peak_impact = sig.impact.copy()
    write_static(p, s)
    update_alerts(p, s, sig, np.zeros(1))
    refresh(p, s, np.zeros(1))
    return s


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
    lead = rng.uniform(1.0, 4.0)  # errors start right after a bad change...
    if spec.accumulator is not None:
        rate = s.acc_rate[0, i, spec.accumulator] = rng.uniform(*spec.rate)
        level = max(s.acc_level[0, i, spec.accumulator], rng.uniform(*spec.start_level))
        s.acc_level[0, i, spec.accumulator] = level
        lead += (level - ACC_BASELINE[spec.accumulator]) / rate  # ...or once a leak has filled up
    if spec.cache_down:
        s.cache_down[0, i] = 1.0
    if spec.load_multiplier != (1.0, 1.0):
        s.load_mult[0, i] = rng.uniform(*spec.load_multiplier)
    change = entry.change or spec.change
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


def _decoys(s: State, topo, log_noise: float, trace_noise: float, rng: np.random.Generator) -> None:
    """Misleading evidence that persists all episode: a service that logs a scary but harmless
    signature, a service whose traces blame the wrong callee."""
    for i in range(topo.n):
        if rng.random() < log_noise and topo.kinds[i] != ServiceKind.EXTERNAL:
            s.log_decoy[0, i] = rng.integers(1, N_LOG_CLASSES)
        callees = topo.callees(i)
        if rng.random() < trace_noise and len(callees) > 1:
            s.trace_decoy[0, i] = callees[int(rng.integers(len(callees)))]


def _red_herrings(s: State, topo, culprits: set[int], count: int, rng: np.random.Generator) -> None:
    """Recent, harmless changes, on any service but one whose fault a change brought."""
    candidates = [i for i in range(topo.n) if i not in culprits and topo.kinds[i] != ServiceKind.EXTERNAL]
    for i in rng.permutation(candidates)[:count]:
        when = -rng.uniform(5.0, 90.0)
        if rng.random() < 0.6:
            s.deploy_time[0, i] = when
            s.version[0, i] += 1
        else:
            s.config_time[0, i] = when
