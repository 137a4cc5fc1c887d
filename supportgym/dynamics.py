"""The world's physics: how mechanisms become golden signals, and how time moves them.

Pure array code over a batch of episodes. Faults do not write signals directly: they switch on
mechanisms (a defect, a leak, a crashed cache, injected traffic) and the signals, their upstream
propagation and the resulting cascades follow from the same few equations for every fault.
"""

from __future__ import annotations

import numpy as np

from supportgym.catalog import ACC_HARM_THRESHOLD, DEFECT_DECAY, DEFECT_PRESENT, FAULTS
from supportgym.kernels import MITIGATED_IMPACT, advance_kernel, signals_kernel
from supportgym.params import Params
from supportgym.state import State

_SPECS = list(FAULTS.values())
FAULT_DEFECT = np.array([-1 if f.defect is None else int(f.defect) for f in _SPECS])
FAULT_ACCUMULATOR = np.array([-1 if f.accumulator is None else int(f.accumulator) for f in _SPECS])
FAULT_CACHE_DOWN = np.array([f.cache_down for f in _SPECS])
FAULT_SPIKE = np.array([f.load_multiplier != (1.0, 1.0) for f in _SPECS])
#: Impact during the post-resolution window above which a closed incident reopens.
REOPEN_IMPACT = 0.05


class Signals:
    """Golden signals of every service at one instant.

    ``table`` (B, 9, N) holds the per-service rows named by the properties, so the compiled
    kernel fills one array; ``impact`` (B,) is the share of user requests hurt at the edge;
    ``conditions`` (B, N, 4) the true alert conditions (errors, latency, saturation, down).
    """

    __slots__ = ("table", "impact", "conditions")

    def __init__(self, batch: int, n: int):
        self.table = np.empty((batch, 9, n))
        self.impact = np.empty(batch)
        self.conditions = np.empty((batch, n, 4), dtype=bool)

    load = property(lambda self: self.table[:, 0], doc="(B, N) requests per unit of healthy edge traffic")
    utilisation = property(lambda self: self.table[:, 1], doc="(B, N) load / capacity")
    err_own = property(lambda self: self.table[:, 2], doc="(B, N) error rate a service causes itself")
    latency_own = property(lambda self: self.table[:, 3], doc="(B, N) own latency, ms")
    err = property(lambda self: self.table[:, 4], doc="(B, N) error rate including its callees'")
    latency = property(lambda self: self.table[:, 5], doc="(B, N) latency including its callees', ms")
    latency_ratio = property(lambda self: self.table[:, 6], doc="(B, N) latency / healthy latency")
    saturation = property(lambda self: self.table[:, 7], doc="(B, N) max of utilisation and resource levels")
    down = property(lambda self: self.table[:, 8] > 0.5, doc="(B, N) bool: down (restarting or crashed)")


def signals(p: Params, s: State, target: np.ndarray | None = None, capacity_during: np.ndarray | None = None) -> Signals:
    """The golden signals of the current state.

    ``capacity_during`` (B,) scales the capacity of service ``target`` (B,) while an action runs
    on it (0 = down for a restart).
    Per service: load = entry traffic (times the daily curve, plus any injected spike) carried
    down the calls by ``load_matrix``, plus a dead cache's hits landing on its database;
    capacity = base x scale-outs x (1 - capacity a defect eats); utilisation u = load/capacity;
    own latency = base x (1 + q^2/(4 (1-q)) + defect and leak slowdowns) with q = min(u, 0.95);
    own error = defects + leaks over threshold + the share shed beyond capacity (1 - 1/u), or 1
    when down. Effective error and latency add the callees' up the calls, weighted by the share of
    requests that call them (``upward_calls``, in ``callees_first`` order); callers of a dead cache
    depend on its database instead for the cache's hit share;
    user impact is the entry-weighted share of requests failing or over the latency SLO.
    """
    out = Signals(*s.cache_down.shape)
    if target is None:
        target, capacity_during = np.full(len(s.time), -1), np.ones(len(s.time))  # no service loses capacity
    signals_kernel(s.time, p.traffic_table, p.service_table, p.present, p.load_matrix, p.redirect, p.calls, p.upward_calls,
                   p.callees_first,
                   s.load_mult, s.cache_down, s.scale, s.defect, s.acc_level, target, capacity_during, out.table,
                   out.impact, out.conditions)
    return out


def advance(s: State, dt: np.ndarray) -> None:
    """Move the hidden world forward by ``dt`` (B,) minutes, in place: leaks fill (up to 1),
    defect timers run down (a defect ends at 0), the blip decays exponentially."""
    advance_kernel(s.time, dt, s.acc_level, s.acc_rate, s.defect, s.defect_timer, DEFECT_DECAY)


def fault_present(s: State, sig: Signals) -> np.ndarray:
    """(B, K) Whether each fault slot's mechanism is still at work on its service (a restarted
    leak still counts: it keeps leaking). Empty slots are False."""
    slot = s.fault_type >= 0
    fault = np.where(slot, s.fault_type, 0)
    rows = np.arange(len(s.time))[:, None]
    svc = s.fault_service
    defect = FAULT_DEFECT[fault]
    acc = FAULT_ACCUMULATOR[fault]
    present = np.where(defect >= 0, s.defect[rows, svc, np.maximum(defect, 0)] > DEFECT_PRESENT[np.maximum(defect, 0)],
                       False)
    leaking = (s.acc_rate[rows, svc, np.maximum(acc, 0)] > 0.0) | (
        s.acc_level[rows, svc, np.maximum(acc, 0)] > ACC_HARM_THRESHOLD[np.maximum(acc, 0)])
    present |= (acc >= 0) & leaking
    present |= FAULT_CACHE_DOWN[fault] & (s.cache_down[rows, svc] > 0.0)
    present |= FAULT_SPIKE[fault] & (sig.utilisation[rows, svc] > 0.9)
    return slot & present


def fault_active(s: State, sig: Signals) -> np.ndarray:
    """(B,) Whether any root cause is still at work."""
    return fault_present(s, sig).any(axis=1)


def healthy(sig: Signals) -> np.ndarray:
    """(B,) What a validation sees: users are fine and no true alert condition holds."""
    return (sig.impact < MITIGATED_IMPACT) & ~sig.conditions.any(axis=(1, 2))
