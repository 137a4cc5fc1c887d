"""The expert's notes on an incident: the stages and modes it works in, and what it has seen.

Evidence goes stale when the world changes under it, so what was gathered since the last remedy
(or failed validation) is kept apart, in an :class:`Epoch`, and dropped wholesale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum

import numpy as np

from supportgym.contract.vocabulary import LogClass


class Stage(Enum):
    """The stage of the incident loop that chose the expert's last action."""

    TRIAGE = "triage"
    VALIDATE = "validate"
    CLOSE = "close"
    DIAGNOSE = "diagnose"
    ACT = "act"


class Outwait(Enum):
    """What is being waited out, and how many 5-minute waits before giving up on it."""

    OUTAGE = 16  # a provider outage lasts up to about 70 minutes
    BLIP = 5  # a blip fades within half an hour


class Trace(IntEnum):
    """A trace check's result on a service when it names no next hop."""

    ORIGIN = -2  # the trouble starts here
    CLEAN = -1  # nothing wrong here: the trace that led here was wrong


@dataclass
class Epoch:
    """Evidence gathered since the last remedy or failed validation; dropped after either."""

    traces: dict[int, int] = field(default_factory=dict)  # service -> Trace or the next hop
    trace_reads: dict[int, int] = field(default_factory=dict)
    pointed_by: dict[int, int] = field(default_factory=dict)  # hop -> the service whose trace named it
    logs: dict[int, list[LogClass]] = field(default_factory=dict)
    metrics_read: set[int] = field(default_factory=set)


@dataclass
class Watch:
    """A provider outage or a blip being waited out on ``service``."""

    service: int
    what: Outwait
    waits: int = 0


@dataclass
class Casebook:
    """The expert's notes on the current incident."""

    stage: Stage = Stage.TRIAGE
    last: tuple[int, int] | None = None  # (kind, service) of the previous action
    points_before: np.ndarray | None = None  # trace pointers before the previous trace check
    # triage
    peak_impact: float = 0.0  # highest user impact estimated from entry metrics
    entries_read: set[int] = field(default_factory=set)
    kb_searched: bool = False
    kb_used: bool = False
    triage_validated: bool = False
    # diagnosis
    seen: Epoch = field(default_factory=Epoch)
    changes_read: set[int] = field(default_factory=set)  # changes do not go stale with a remedy
    unexplained: set[int] = field(default_factory=set)  # roots whose evidence gave no fix
    # action
    remedies: list[tuple[int, int]] = field(default_factory=list)  # (kind, service) applied
    diagnosis: dict[int, LogClass] = field(default_factory=dict)  # service -> what was fixed there
    watch: Watch | None = None
    # validation
    to_validate: bool = False
    validated_healthy: bool = False
    healthy_streak: int = 0  # healthy validations in a row
    self_healing: bool = False  # the trouble is thought to pass by itself: watch it stay away
    trend_checked: bool = False
    customer_asked: bool = False  # since the last remedy

    def new_epoch(self) -> None:
        self.seen = Epoch()
        self.validated_healthy = False
