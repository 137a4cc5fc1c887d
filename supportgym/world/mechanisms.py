"""The hidden mechanisms behind every fault, and how time moves them.

Faults never write symptoms directly: they switch on a *defect* (an intensity in [0, 1] on a
service: a code bug, a rotated secret, ...) or fill an *accumulator* (a level that climbs at
a rate: memory, connection pool, disk), crash a cache or inject traffic. The signal stage turns
these into golden signals with the same few equations for every fault.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np

from supportgym.compiled import kernel, stamp_cache
from supportgym.contract.vocabulary import LogClass, ServiceKind

#: Healthy own latency (ms) per service kind, before dependencies are added.
BASE_LATENCY_MS = np.array([20.0, 40.0, 60.0, 8.0, 1.0, 5.0, 150.0])
assert len(BASE_LATENCY_MS) == len(ServiceKind)


class Defect(IntEnum):
    """Intensity-type mechanisms: a value in [0, 1] per service that a fault switches on. Whether a
    recent change brought it (so that a rollback removes it) is the fault's ``State.culprit_change``,
    not the defect's: a code bug is the same bug whether it shipped an hour or a year ago."""

    CODE_BUG = 0
    CONFIG_BUG = 1
    SECRET_BAD = 2
    CERT_EXPIRED = 3
    PROVIDER_OUTAGE = 4
    BLIP = 5
    SLOW_QUERY = 6


N_DEFECTS = len(Defect)

#: Columns of ``DEFECT_EFFECTS``: what a defect at full intensity does to its service.
EFFECT_ERROR, EFFECT_LATENCY, EFFECT_CAPACITY = 0, 1, 2
#: Per defect at full intensity: (own error rate, added latency as a multiple of base, capacity lost).
DEFECT_EFFECTS = np.zeros((N_DEFECTS, 3))
DEFECT_EFFECTS[Defect.CODE_BUG] = (0.6, 0.5, 0.0)
DEFECT_EFFECTS[Defect.CONFIG_BUG] = (0.5, 0.3, 0.0)
DEFECT_EFFECTS[Defect.SECRET_BAD] = (0.9, 0.0, 0.0)
DEFECT_EFFECTS[Defect.CERT_EXPIRED] = (1.0, 0.0, 0.0)
DEFECT_EFFECTS[Defect.PROVIDER_OUTAGE] = (0.9, 3.0, 0.0)
DEFECT_EFFECTS[Defect.BLIP] = (0.5, 2.0, 0.0)
# A slow query costs the database most of its capacity: its latency and saturation then come
# from the utilisation curve, and every dependant slows down through propagation.
DEFECT_EFFECTS[Defect.SLOW_QUERY] = (0.0, 20.0, 0.75)

#: Intensity below which a defect no longer counts as at work: a fading blip is over once it is
#: below what any alert would notice (its error rate under the 5% error alert).
DEFECT_PRESENT = np.full(N_DEFECTS, 0.02)
DEFECT_PRESENT[Defect.BLIP] = 0.1
#: Exponential decay rate per minute of each defect (only the blip heals by itself this way).
DEFECT_DECAY = np.zeros(N_DEFECTS)
DEFECT_DECAY[Defect.BLIP] = 0.06


class Accumulator(IntEnum):
    """Level-type mechanisms: a level that climbs at a rate and harms above a threshold."""

    MEMORY = 0
    POOL = 1
    DISK = 2


N_ACCUMULATORS = len(Accumulator)
#: Healthy level of each accumulator, and the level a restart brings it back to.
ACC_BASELINE = np.array([0.35, 0.2, 0.5])
#: Level above which the accumulator starts to cause errors (see ACC_EFFECTS).
ACC_HARM_THRESHOLD = np.array([0.85, 0.95, 0.95])
#: How much a restart lowers the level: memory and connection pool are freed entirely, a disk
#: only by its temporary files (brief relief).
ACC_RESTART_RELIEF = np.array([1.0, 1.0, 0.08])
#: Per accumulator over its harm threshold (scaled 0..1): (own error rate, added latency multiple).
ACC_EFFECTS = np.array([[0.45, 2.0], [0.8, 6.0], [0.6, 0.5]])

#: The log class each defect writes into its own service's logs.
DEFECT_OWN_LOG = np.array([
    LogClass.DEPLOY_EXCEPTION,  # a stack trace, which looks the same however old the code is
    LogClass.CONFIG_ERROR,
    LogClass.AUTH_DENIED,
    LogClass.NORMAL,  # an expired certificate fails the handshake before the app logs anything
    LogClass.PROVIDER_5XX,
    LogClass.DEPENDENCY_ERRORS,  # a blip looks like a burst of timeouts
    LogClass.SLOW_QUERY,
])
#: The log class a *caller* of a service with each defect writes about it.
DEFECT_CALLER_LOG = np.array([
    LogClass.DEPENDENCY_ERRORS,
    LogClass.DEPENDENCY_ERRORS,
    LogClass.AUTH_DENIED,  # 401/403 from auth shows at every caller
    LogClass.TLS_HANDSHAKE,
    LogClass.PROVIDER_5XX,
    LogClass.DEPENDENCY_ERRORS,
    LogClass.DEPENDENCY_ERRORS,  # timeouts waiting on the slow database
])
#: The log class of each accumulator over its threshold.
ACC_OWN_LOG = np.array([LogClass.OOM_KILLED, LogClass.POOL_EXHAUSTED, LogClass.NO_SPACE])

#: Change kinds a fault can come with (``State.culprit_change``, rollback targets).
NO_CHANGE, DEPLOY, CONFIG = 0, 1, 2


@kernel
def advance_kernel(time, dt, param_row, n_services, acc_level, acc_rate, defect,
                   defect_timer):  # pragma: no cover - compiled
    """Move the hidden world forward by ``dt`` (B,) minutes, in place: leaks fill (up to 1),
    defect timers run down (a defect ends at 0), the blip decays exponentially."""
    for b in range(defect.shape[0]):
        advance_row(b, dt[b], n_services[param_row[b]], time, acc_level, acc_rate, defect, defect_timer)


@kernel
def advance_row(b, step, used, time, acc_level, acc_rate, defect, defect_timer):  # pragma: no cover - compiled
    """``advance_kernel`` for batch row b by ``step`` minutes over its first ``used`` service slots
    (padding has no leak or defect: its timers stay at inf)."""
    if step == 0.0:
        return
    n_defects = defect.shape[2]
    time[b] += step
    for i in range(used):
        for a in range(acc_level.shape[2]):
            if acc_rate[b, i, a] != 0.0:
                acc_level[b, i, a] = min(acc_level[b, i, a] + acc_rate[b, i, a] * step, 1.0)
        for d in range(n_defects):
            defect_timer[b, i, d] -= step
            if defect[b, i, d] != 0.0:
                if defect_timer[b, i, d] <= 0.0:
                    defect[b, i, d] = 0.0
                elif DEFECT_DECAY[d] != 0.0:
                    defect[b, i, d] *= math.exp(-DEFECT_DECAY[d] * step)


stamp_cache(__file__, globals())
