"""The vocabulary of the incident world: service kinds, fault types, evidence classes, actions.

Everything here is a constant table. The dynamics (``dynamics.py``) read these tables; nothing
in them depends on a scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class ServiceKind(IntEnum):
    FRONTEND = 0
    API = 1
    WORKER = 2
    DATABASE = 3
    CACHE = 4
    QUEUE = 5
    EXTERNAL = 6


#: Healthy own latency (ms) per service kind, before dependencies are added.
BASE_LATENCY_MS = np.array([20.0, 40.0, 60.0, 8.0, 1.0, 5.0, 150.0])


class Defect(IntEnum):
    """Intensity-type mechanisms: a value in [0, 1] per service that a fault switches on."""

    DEPLOY_BUG = 0
    CONFIG_BUG = 1
    SECRET_BAD = 2
    CERT_EXPIRED = 3
    PROVIDER_OUTAGE = 4
    BLIP = 5
    SLOW_QUERY = 6


N_DEFECTS = len(Defect)

#: Per defect at full intensity: (own error rate, added latency as a multiple of base, capacity lost).
DEFECT_EFFECTS = np.zeros((N_DEFECTS, 3))
DEFECT_EFFECTS[Defect.DEPLOY_BUG] = (0.6, 0.5, 0.0)
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


class LogClass(IntEnum):
    """The log-signature classes a log check can return."""

    NORMAL = 0
    DEPLOY_EXCEPTION = 1
    CONFIG_ERROR = 2
    OOM_KILLED = 3
    POOL_EXHAUSTED = 4
    SLOW_QUERY = 5
    NO_SPACE = 6
    TLS_HANDSHAKE = 7
    AUTH_DENIED = 8
    PROVIDER_5XX = 9
    DEPENDENCY_ERRORS = 10
    HIGH_LOAD = 11
    PROCESS_DOWN = 12


N_LOG_CLASSES = len(LogClass)

#: The log class each defect writes into its own service's logs.
DEFECT_OWN_LOG = np.array([
    LogClass.DEPLOY_EXCEPTION,
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
ACC_OWN_LOG = np.array([LogClass.OOM_KILLED, LogClass.POOL_EXHAUSTED, LogClass.NO_SPACE])
#: Per accumulator over its harm threshold (scaled 0..1): (own error rate, added latency multiple).
ACC_EFFECTS = np.array([[0.45, 2.0], [0.8, 6.0], [0.6, 0.5]])


class Ticket(IntEnum):
    """Customer-ticket categories; the ticket may point at the wrong place."""

    NONE = 0
    APP_SLOW = 1
    ERRORS = 2
    LOGIN_FAILS = 3
    PAYMENT_ERRORS = 4


N_TICKETS = len(Ticket)


class ActionKind(IntEnum):
    # per-service actions
    CHECK_LOGS = 0
    CHECK_METRICS = 1
    CHECK_TRACES = 2
    CHECK_CHANGES = 3
    RESTART = 4
    ROLLBACK = 5
    SCALE_OUT = 6
    HOTFIX = 7
    FAILOVER = 8
    # global actions
    DECLARE_SEV1 = 9
    DECLARE_SEV2 = 10
    DECLARE_SEV3 = 11
    SEARCH_KB = 12
    ESCALATE = 13
    WAIT = 14
    VALIDATE = 15
    RESOLVE = 16


N_SERVICE_ACTIONS = 9
#: What a third-party provider does not take: it cannot be restarted, rolled back, scaled or
#: patched by us, and its logs and change history are not ours to read. It can be failed over.
PROVIDER_BLOCKED = (ActionKind.RESTART, ActionKind.ROLLBACK, ActionKind.SCALE_OUT, ActionKind.HOTFIX,
                    ActionKind.CHECK_CHANGES, ActionKind.CHECK_LOGS)
INTERVENTIONS = (ActionKind.RESTART, ActionKind.ROLLBACK, ActionKind.SCALE_OUT, ActionKind.HOTFIX, ActionKind.FAILOVER)

#: Simulated minutes each action takes (escalation is set by the declared severity instead).
ACTION_MINUTES = np.array([2, 2, 3, 2, 5, 10, 5, 30, 5, 1, 1, 1, 3, 0, 5, 10, 0], dtype=float)
#: Hand-off minutes of an escalation by declared severity (index 0 = none declared).
ESCALATION_MINUTES = np.array([30.0, 5.0, 15.0, 30.0])
#: Minutes a masked action wastes: it must cost time, or an agent could loop forever.
INVALID_ACTION_MINUTES = 1.0
#: Lowest tier (1-3) allowed to take each action.
MIN_TIER = np.array([2, 1, 2, 2, 1, 2, 2, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1])
#: Capacity left on the target service while the action runs (restart = down).
CAPACITY_DURING = np.array([1, 1, 1, 1, 0.0, 0.75, 1, 0.75, 1, 1, 1, 1, 1, 1, 1, 1, 1])
#: Capacity multiplier a scale-out adds.
SCALE_OUT_FACTOR = 2.0

ACTION_LABELS = {
    ActionKind.CHECK_LOGS: "check logs",
    ActionKind.CHECK_METRICS: "check metrics",
    ActionKind.CHECK_TRACES: "check traces",
    ActionKind.CHECK_CHANGES: "check changes",
    ActionKind.RESTART: "restart",
    ActionKind.ROLLBACK: "rollback",
    ActionKind.SCALE_OUT: "scale out",
    ActionKind.HOTFIX: "hotfix",
    ActionKind.FAILOVER: "failover",
    ActionKind.DECLARE_SEV1: "declare SEV1",
    ActionKind.DECLARE_SEV2: "declare SEV2",
    ActionKind.DECLARE_SEV3: "declare SEV3",
    ActionKind.SEARCH_KB: "search knowledge base",
    ActionKind.ESCALATE: "escalate",
    ActionKind.WAIT: "wait",
    ActionKind.VALIDATE: "validate",
    ActionKind.RESOLVE: "resolve",
}
#: Remedy names as written in suite files (known-issue fixes).
REMEDY_NAMES = {
    "restart": ActionKind.RESTART,
    "rollback": ActionKind.ROLLBACK,
    "scale_out": ActionKind.SCALE_OUT,
    "hotfix": ActionKind.HOTFIX,
    "failover": ActionKind.FAILOVER,
    "wait": ActionKind.WAIT,
}


@dataclass(frozen=True)
class FaultSpec:
    """One fault type: the mechanism it switches on and what is known about its remedies.

    The remedy lists are documentation of behaviour that *emerges* from the mechanisms in
    ``dynamics.py``; the test-suite checks every one of them against a simulated episode.
    """

    name: str
    category: str  # Ghosh et al. (SoCC 2022) root-cause category
    kinds: tuple[ServiceKind, ...]  # service kinds the fault can sit on
    ticket: Ticket
    lasting_fixes: tuple[ActionKind, ...]
    #: Remedies SPEC names as useless or harmful, with their target: the faulty service itself
    #: ("self"), a service that calls it ("caller"), or the database it uses or fronts ("database").
    wrong_remedies: tuple[tuple[ActionKind, str], ...]
    defect: Defect | None = None
    intensity: tuple[float, float] = (1.0, 1.0)
    duration: tuple[float, float] = (np.inf, np.inf)  # minutes until it ends by itself
    accumulator: Accumulator | None = None
    rate: tuple[float, float] = (0.0, 0.0)  # accumulator level per minute
    start_level: tuple[float, float] = (0.0, 0.0)  # accumulator level at onset
    change: str | None = None  # "deploy" or "config": the change that brought the fault
    load_multiplier: tuple[float, float] = (1.0, 1.0)
    cache_down: bool = False


APP = (ServiceKind.FRONTEND, ServiceKind.API, ServiceKind.WORKER)
A = ActionKind
FAULTS: dict[str, FaultSpec] = {
    f.name: f
    for f in [
        FaultSpec("bad_deploy", "code bug", APP, Ticket.ERRORS, (A.ROLLBACK, A.HOTFIX), ((A.RESTART, "self"),),
                  defect=Defect.DEPLOY_BUG, intensity=(0.5, 1.0), change="deploy"),
        FaultSpec("bad_config", "config bug", APP, Ticket.ERRORS, (A.ROLLBACK, A.HOTFIX), ((A.RESTART, "self"),),
                  defect=Defect.CONFIG_BUG, intensity=(0.5, 1.0), change="config"),
        FaultSpec("memory_leak", "code bug", APP, Ticket.APP_SLOW, (A.HOTFIX,), ((A.RESTART, "self"),),
                  accumulator=Accumulator.MEMORY, rate=(0.012, 0.02), start_level=(0.9, 1.0)),
        FaultSpec("pool_exhaustion", "code bug", APP, Ticket.APP_SLOW, (A.HOTFIX,),
                  ((A.RESTART, "database"), (A.RESTART, "self")),
                  accumulator=Accumulator.POOL, rate=(0.02, 0.04), start_level=(1.0, 1.0)),
        FaultSpec("slow_query", "database/network", (ServiceKind.DATABASE,), Ticket.APP_SLOW,
                  (A.ROLLBACK, A.HOTFIX), ((A.RESTART, "self"),),
                  defect=Defect.SLOW_QUERY, intensity=(0.8, 1.0), change="deploy"),
        FaultSpec("external_outage", "dependency failure", (ServiceKind.EXTERNAL,), Ticket.PAYMENT_ERRORS,
                  (A.FAILOVER, A.WAIT), ((A.RESTART, "caller"), (A.ROLLBACK, "caller")),
                  defect=Defect.PROVIDER_OUTAGE, intensity=(0.8, 1.0), duration=(25.0, 70.0)),
        FaultSpec("traffic_spike", "infrastructure", APP, Ticket.APP_SLOW, (A.SCALE_OUT,), ((A.RESTART, "self"),),
                  load_multiplier=(2.6, 3.4)),
        FaultSpec("cache_failure", "dependency failure", (ServiceKind.CACHE,), Ticket.APP_SLOW,
                  (A.RESTART,), ((A.RESTART, "database"),), cache_down=True),
        FaultSpec("disk_full", "infrastructure", (ServiceKind.DATABASE, ServiceKind.QUEUE, ServiceKind.WORKER),
                  Ticket.ERRORS, (A.HOTFIX,), ((A.RESTART, "self"),),
                  accumulator=Accumulator.DISK, rate=(0.004, 0.008), start_level=(1.0, 1.0)),
        FaultSpec("expired_cert", "deployment error", APP, Ticket.ERRORS, (A.HOTFIX,),
                  ((A.ROLLBACK, "self"), (A.RESTART, "self")), defect=Defect.CERT_EXPIRED),
        FaultSpec("auth_failure", "auth failure", (ServiceKind.API,), Ticket.LOGIN_FAILS,
                  (A.ROLLBACK, A.HOTFIX), ((A.RESTART, "self"),),
                  defect=Defect.SECRET_BAD, intensity=(0.9, 1.0), change="config"),
        FaultSpec("transient_blip", "infrastructure", APP + (ServiceKind.DATABASE, ServiceKind.CACHE),
                  Ticket.APP_SLOW, (A.WAIT,), ((A.RESTART, "self"), (A.ROLLBACK, "self")),
                  defect=Defect.BLIP, intensity=(0.6, 1.0)),
    ]
}
del A
FAULT_NAMES: tuple[str, ...] = tuple(FAULTS)
FAULT_INDEX = {name: i for i, name in enumerate(FAULT_NAMES)}
