"""The public vocabulary of the incident world: what an on-call engineer is allowed to know.

Service kinds, log signatures, ticket categories, actions with their tiers and durations, the
remedies and the public rules and thresholds (when an alert fires, what counts as mitigated,
how severity is judged). Agents read these; the hidden mechanisms behind the symptoms live in
``supportgym.world``. Everything here is a constant; nothing depends on a scenario.
"""

from __future__ import annotations

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


class Ticket(IntEnum):
    """Customer-ticket categories; the ticket may point at the wrong place."""

    NONE = 0
    APP_SLOW = 1
    ERRORS = 2
    LOGIN_FAILS = 3
    PAYMENT_ERRORS = 4


N_TICKETS = len(Ticket)


class Team(IntEnum):
    """The support teams a ticket is routed to, which are also the categories L1 files it under."""

    API = 0
    DB = 1
    AUTH = 2
    UI = 3
    INFRA = 4


N_TEAMS = len(Team)
#: The team that owns each service kind: what a fault on that service is filed under unless the
#: fault itself belongs to a team (``world.teams``). Public: the service map says who owns what.
KIND_TEAM: dict[ServiceKind, Team] = {
    ServiceKind.FRONTEND: Team.UI, ServiceKind.API: Team.API, ServiceKind.WORKER: Team.API,
    ServiceKind.DATABASE: Team.DB, ServiceKind.CACHE: Team.INFRA, ServiceKind.QUEUE: Team.INFRA,
    ServiceKind.EXTERNAL: Team.API,
}


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
    REPRODUCE = 9  # a synthetic request through an entry service
    # global actions
    DECLARE_SEV1 = 10
    DECLARE_SEV2 = 11
    DECLARE_SEV3 = 12
    FILE_API = 13  # file the ticket under a category (one per team, in Team order)
    FILE_DB = 14
    FILE_AUTH = 15
    FILE_UI = 16
    FILE_INFRA = 17
    REASSIGN = 18  # route the ticket to the team of its filed category
    SEARCH_KB = 19
    ESCALATE = 20
    ASK_CUSTOMER = 21
    WAIT = 22
    VALIDATE = 23
    RESOLVE = 24


N_SERVICE_ACTIONS = 10
#: The filing action of each team, in Team order.
FILE_ACTIONS = tuple(ActionKind.FILE_API + t for t in Team)
#: What a third-party provider does not take: it cannot be restarted, rolled back, scaled or
#: patched by us, its logs and change history are not ours to read, and users do not enter
#: through it. It can be failed over.
PROVIDER_BLOCKED = (ActionKind.RESTART, ActionKind.ROLLBACK, ActionKind.SCALE_OUT, ActionKind.HOTFIX,
                    ActionKind.CHECK_CHANGES, ActionKind.CHECK_LOGS, ActionKind.REPRODUCE)
#: The remedial actions on a service, in the order of the observation's ``done_*`` features.
INTERVENTIONS = (ActionKind.RESTART, ActionKind.ROLLBACK, ActionKind.SCALE_OUT, ActionKind.HOTFIX, ActionKind.FAILOVER)
#: Every remedy, in the order of the observation's ``kb_*`` features: the interventions, and
#: waiting for something that heals by itself.
REMEDIES = INTERVENTIONS + (ActionKind.WAIT,)


def remedy_name(kind: ActionKind) -> str:
    """A remedy's name as suite files and the observation write it (``scale_out``)."""
    return ActionKind(kind).name.lower()


#: Remedy names as written in suite files (known-issue fixes), to their action.
REMEDY_NAMES: dict[str, ActionKind] = {remedy_name(k): k for k in REMEDIES}
#: The knowledge base's suggestions, by name, in observation order.
KB_REMEDIES: tuple[str, ...] = tuple(REMEDY_NAMES)
#: What the observation calls a remedy once it has been done, per intervention.
DONE: tuple[str, ...] = ("restarted", "rolled_back", "scaled_out", "hotfixed", "failed_over")

_A = ActionKind
#: Per action kind: simulated minutes it takes (an escalation's are set by the declared severity
#: and the routing instead), the lowest tier allowed to take it, and the capacity left on its
#: target while it runs (a restart takes the service down).
_ACTIONS: dict[ActionKind, tuple[float, int, float]] = {
    _A.CHECK_LOGS: (2, 2, 1.0), _A.CHECK_METRICS: (2, 1, 1.0), _A.CHECK_TRACES: (3, 2, 1.0),
    _A.CHECK_CHANGES: (2, 2, 1.0), _A.RESTART: (5, 1, 0.0), _A.ROLLBACK: (10, 2, 0.75), _A.SCALE_OUT: (5, 2, 1.0),
    _A.HOTFIX: (30, 3, 0.75), _A.FAILOVER: (5, 2, 1.0), _A.REPRODUCE: (5, 2, 1.0),
    _A.DECLARE_SEV1: (1, 1, 1.0), _A.DECLARE_SEV2: (1, 1, 1.0), _A.DECLARE_SEV3: (1, 1, 1.0),
    **{k: (1, 1, 1.0) for k in FILE_ACTIONS}, _A.REASSIGN: (2, 1, 1.0),
    _A.SEARCH_KB: (3, 1, 1.0), _A.ESCALATE: (0, 1, 1.0), _A.ASK_CUSTOMER: (15, 1, 1.0), _A.WAIT: (5, 1, 1.0),
    _A.VALIDATE: (10, 1, 1.0), _A.RESOLVE: (0, 1, 1.0),
}
assert list(_ACTIONS) == sorted(_ACTIONS) == list(ActionKind)
#: Simulated minutes each action takes.
ACTION_MINUTES = np.array([v[0] for v in _ACTIONS.values()], dtype=float)
#: Support tiers L1..L3, and the lowest tier allowed to take each action.
TIERS = (1, 2, 3)
MIN_TIER = np.array([v[1] for v in _ACTIONS.values()])
#: Capacity left on the target service while the action runs (restart = down).
CAPACITY_DURING = np.array([v[2] for v in _ACTIONS.values()])
del _A
#: Hand-off minutes of an escalation by declared severity (index 0 = none declared).
ESCALATION_MINUTES = np.array([30.0, 5.0, 15.0, 30.0])
#: Extra hand-off minutes of an escalation while the ticket sits with the wrong team: that team
#: bounces it to the right one, which then owns it.
MISROUTE_MINUTES = 20.0
#: Extra hand-off minutes of an escalation whose ticket is filed under the wrong category, or none:
#: the receiving engineer re-triages it first.
MISFILED_MINUTES = 5.0
#: Chance that a reporting customer answers "does it work again?"; nobody answers an incident
#: that no customer reported.
CUSTOMER_ANSWER_CHANCE = 0.7
#: Minutes a masked action wastes: it must cost time, or an agent could loop forever.
INVALID_ACTION_MINUTES = 1.0
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
    ActionKind.REPRODUCE: "reproduce through",
    ActionKind.DECLARE_SEV1: "declare SEV1",
    ActionKind.DECLARE_SEV2: "declare SEV2",
    ActionKind.DECLARE_SEV3: "declare SEV3",
    **{k: f"file as {t.name}" for k, t in zip(FILE_ACTIONS, Team)},
    ActionKind.REASSIGN: "reassign to the filed team",
    ActionKind.SEARCH_KB: "search knowledge base",
    ActionKind.ESCALATE: "escalate",
    ActionKind.ASK_CUSTOMER: "ask the customer",
    ActionKind.WAIT: "wait",
    ActionKind.VALIDATE: "validate",
    ActionKind.RESOLVE: "resolve",
}

# --- alerts --------------------------------------------------------------------------------
#: The alert kinds of every service, and their index in the alert arrays.
ALERT_KINDS = ("errors", "latency", "saturation", "down")
ALERT_ERRORS, ALERT_LATENCY, ALERT_SATURATION, ALERT_DOWN = range(len(ALERT_KINDS))
#: True alert thresholds: error rate, latency / healthy latency, saturation (utilisation or a
#: resource level), down.
ALERT_THRESHOLDS = np.array([0.05, 2.0, 0.85, 0.5])
#: The saturation alert's threshold, by name.
SATURATED = float(ALERT_THRESHOLDS[ALERT_SATURATION])

# --- evidence --------------------------------------------------------------------------------
#: The evidence channels a check reads, in the order of their freshness features.
CHANNELS = ("metrics", "logs", "traces", "changes", "reproduce")
METRICS_CH, LOGS_CH, TRACES_CH, CHANGES_CH, REPRODUCE_CH = range(len(CHANNELS))

# --- impact, severity, closing ---------------------------------------------------------------
#: Impact (share of user requests hurt at the edge) below which the incident counts as mitigated;
#: a validation also needs it (and no true alert condition) to report healthy.
MITIGATED_IMPACT = 0.02
#: Impact during the post-resolution window above which a closed incident reopens.
REOPEN_IMPACT = 0.05
#: The true severity from the peak impact: SEV1 above SEV1_IMPACT, SEV2 above SEV2_IMPACT, else SEV3.
SEV1_IMPACT = 0.5
SEV2_IMPACT = 0.1
#: Declared-severity levels: 0 none, then SEV1..SEV3.
SEVERITIES = (0, 1, 2, 3)


def true_severity(peak_impact):
    """The severity an incident with this peak impact (share of users hurt) really has: SEV1
    above SEV1_IMPACT, SEV2 above SEV2_IMPACT, else SEV3. Works on arrays, and compiled."""
    return 3 - (peak_impact > SEV2_IMPACT) - (peak_impact > SEV1_IMPACT)


#: Utilisation from which queueing visibly slows a service down (about +20% latency).
BUSY_UTILISATION = 0.6
#: The edge latency SLO as a multiple of healthy edge latency, unless a topology sets its own.
DEFAULT_SLO_LATENCY_FACTOR = 3.0

#: The environment's default number of service slots (observation and action padding).
DEFAULT_MAX_SERVICES = 16


def check_fits(services: int, max_services: int, what: str) -> None:
    """Raise ``ValueError`` if ``what`` (a topology of ``services`` services) cannot fit the slots."""
    if services > max_services:
        raise ValueError(f"{what} has {services} services but the environment allows at most "
                         f"max_services={max_services}; pass max_services>={services}")
