"""The mutable state of a batch of episodes: the hidden world and the agent's desk.

All arrays have a leading batch axis B; per-service arrays are (B, N) over padded service slots.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field, fields
from functools import cache
from operator import attrgetter

import numpy as np

from supportgym.contract.observation import N_GF, N_SF
from supportgym.contract.vocabulary import ALERT_KINDS, CHANNELS
from supportgym.world.mechanisms import N_ACCUMULATORS, N_DEFECTS

#: Fault slots per episode: one fault, or two at once.
MAX_FAULTS = 2
N_ALERT_KINDS = len(ALERT_KINDS)
N_CHANNELS = len(CHANNELS)


@dataclass(eq=False, frozen=True)
class State:
    """Frozen in its fields, not in its values: every array is updated in place (compiled code
    holds the tuple of ``arrays()``, built once), never replaced."""

    # --- hidden world -------------------------------------------------------------------
    time: np.ndarray  # (B,) minutes since the incident opened (negative before)
    acc_level: np.ndarray  # (B, N, 3) memory / pool / disk level
    acc_rate: np.ndarray  # (B, N, 3) level per minute (a leak)
    defect: np.ndarray  # (B, N, D) intensity of each defect
    defect_timer: np.ndarray  # (B, N, D) minutes until the defect ends by itself
    cache_down: np.ndarray  # (B, N) 1.0 where a cache has crashed
    load_mult: np.ndarray  # (B, N) traffic multiplier injected at a service (spike)
    scale: np.ndarray  # (B, N) capacity multiplier from scale-outs
    deploy_time: np.ndarray  # (B, N) time of the last deploy
    config_time: np.ndarray  # (B, N) time of the last config push
    version: np.ndarray  # (B, N) int deploy counter (for display)
    reverted: np.ndarray  # (B, N) bool: the last change was rolled back; nothing left to revert
    culprit_change: np.ndarray  # (B, N) mechanisms.NO_CHANGE / DEPLOY / CONFIG: the change carrying a fault
    culprit_defect: np.ndarray  # (B, N, D) bool: defects a rollback of the culprit change removes
    culprit_acc: np.ndarray  # (B, N, 3) bool: leaks a rollback of the culprit change removes
    fault_type: np.ndarray  # (B, K) index into FAULT_NAMES, -1 for none
    fault_service: np.ndarray  # (B, K)
    kb_fix: np.ndarray  # (B, N) remedy index the knowledge base suggests per service, -1 none
    log_decoy: np.ndarray  # (B, N) a misleading log signature a service shows all episode, -1 none
    trace_decoy: np.ndarray  # (B, N) the wrong callee a service's traces blame all episode, -1 none
    true_team: np.ndarray  # (B,) the Team that owns the (first) root cause
    param_row: np.ndarray  # (B,) the row of ``Params`` this episode runs on (a vector env stacks each scenario's once)
    # --- the agent's desk ----------------------------------------------------------------
    routed: np.ndarray  # (B,) the Team the ticket sits with
    category: np.ndarray  # (B,) the Team category it is filed under, -1 none
    misrouted_handoffs: np.ndarray  # (B,) escalations handed to the wrong team
    customer_answer: np.ndarray  # (B,) the reporter's last answer (observation.CUSTOMER_ANSWERS)
    customer_time: np.ndarray  # (B,) when they last answered (or stayed silent), -inf never
    tier: np.ndarray  # (B,) 1..3
    declared: np.ndarray  # (B,) 0 none, 1..3
    declared_peak: np.ndarray  # (B,) the most severe level ever declared (0 none)
    ticket: np.ndarray  # (B,)
    internal_report: np.ndarray  # (B,) service slot or -1
    alert_pending: np.ndarray  # (B, N, 4) minutes an alert condition has held
    alert_muted: np.ndarray  # (B, N, 4) bool: broken alert rule (missed alert)
    false_until: np.ndarray  # (B, N, 4) a false alarm fires until this time
    alerts: np.ndarray  # (B, N, 4) bool: firing now
    checked_at: np.ndarray  # (B, N, 4) time each evidence channel was last read (-inf never)
    validation_time: np.ndarray  # (B,)
    obs: np.ndarray  # (B, N * N_SF + N_GF + N * N) float32: the observation, kept up to date in place
    # --- bookkeeping for reward and metrics ---------------------------------------------
    impact_now: np.ndarray  # (B,) share of user requests failing or breaching the SLO now
    impact_minutes: np.ndarray  # (B,)
    peak_impact: np.ndarray  # (B,)
    mitigated_at: np.ndarray  # (B,) nan until impact first falls below the mitigation level
    resolved_at: np.ndarray  # (B,) nan until resolve
    held: np.ndarray  # (B,) bool
    reopened: np.ndarray  # (B,) bool
    validated: np.ndarray  # (B,) bool: the last validation before now reported healthy
    escalations: np.ndarray  # (B,)
    harmful: np.ndarray  # (B,)
    invalid: np.ndarray  # (B,)
    steps: np.ndarray  # (B,)
    episode_return: np.ndarray  # (B,)

    @classmethod
    def empty(cls, batch: int, n: int) -> State:
        """A batch of ``batch`` states before anything is drawn, over ``n`` service slots."""
        if batch == 1:  # every single-env reset: copying a template costs less than building one
            return _empty_one(n).copy()
        return cls._build_empty(batch, n)

    @classmethod
    def _build_empty(cls, batch: int, n: int) -> State:
        z = lambda *shape: np.zeros((batch, *shape))  # noqa: E731
        return cls(
            time=z(), acc_level=z(n, N_ACCUMULATORS), acc_rate=z(n, N_ACCUMULATORS), defect=z(n, N_DEFECTS),
            defect_timer=np.full((batch, n, N_DEFECTS), np.inf), cache_down=z(n), load_mult=np.ones((batch, n)),
            scale=np.ones((batch, n)), deploy_time=z(n), config_time=z(n), version=np.zeros((batch, n), int),
            reverted=np.zeros((batch, n), bool), culprit_change=np.zeros((batch, n), int),
            culprit_defect=np.zeros((batch, n, N_DEFECTS), bool),
            culprit_acc=np.zeros((batch, n, N_ACCUMULATORS), bool),
            fault_type=np.full((batch, MAX_FAULTS), -1), fault_service=np.zeros((batch, MAX_FAULTS), int),
            kb_fix=np.full((batch, n), -1), log_decoy=np.full((batch, n), -1), trace_decoy=np.full((batch, n), -1),
            true_team=np.zeros(batch, int), param_row=np.zeros(batch, np.int64), routed=np.zeros(batch, int),
            category=np.full(batch, -1),
            misrouted_handoffs=z(), customer_answer=np.zeros(batch, int), customer_time=np.full(batch, -np.inf),
            tier=np.ones(batch, int), declared=np.zeros(batch, int), declared_peak=np.zeros(batch, int),
            ticket=np.zeros(batch, int),
            internal_report=np.full(batch, -1), alert_pending=z(n, N_ALERT_KINDS),
            alert_muted=np.zeros((batch, n, N_ALERT_KINDS), bool),
            false_until=np.full((batch, n, N_ALERT_KINDS), -np.inf),
            alerts=np.zeros((batch, n, N_ALERT_KINDS), bool), checked_at=np.full((batch, n, N_CHANNELS), -np.inf),
            validation_time=np.full(batch, -np.inf),
            obs=np.zeros((batch, n * N_SF + N_GF + n * n), np.float32),
            impact_now=z(), impact_minutes=z(), peak_impact=z(), mitigated_at=np.full(batch, np.nan),
            resolved_at=np.full(batch, np.nan), held=np.zeros(batch, bool), reopened=np.zeros(batch, bool),
            validated=np.zeros(batch, bool), escalations=z(), harmful=z(), invalid=z(), steps=z(),
            episode_return=z(),
        )

    # Views into ``obs``, derived (not copied) so they always alias it.
    svc_obs: np.ndarray = field(init=False, repr=False)  # (B, N, N_SF): the per-service part
    glob_obs: np.ndarray = field(init=False, repr=False)  # (B, N_GF): the global part
    graph_obs: np.ndarray = field(init=False, repr=False)  # (B, N, N): the call graph part

    def __post_init__(self):
        batch, n = self.cache_down.shape
        set_ = object.__setattr__  # (frozen)
        set_(self, "svc_obs", self.obs[:, : n * N_SF].reshape(batch, n, N_SF))
        set_(self, "glob_obs", self.obs[:, n * N_SF: n * N_SF + N_GF])
        set_(self, "graph_obs", self.obs[:, n * N_SF + N_GF:].reshape(batch, n, n))
        set_(self, "_arrays", _get_arrays(self))

    # The views alias ``obs`` only in the object that made them: a pickle or deepcopy would give
    # the copy independent arrays, so they are left out of the saved state and rebuilt from ``obs``.
    def __getstate__(self) -> dict:
        return {name: getattr(self, name) for name in STATE_FIELDS}

    def __setstate__(self, saved: dict) -> None:
        self.__dict__.update(saved)
        self.__post_init__()

    def copy(self) -> State:
        copied = object.__new__(State)  # every single-env reset copies a template: skip the checks of __init__
        copied.__setstate__({name: getattr(self, name).copy() for name in STATE_FIELDS})
        return copied

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The state's arrays in ``STATE_ARRAY_NAMES`` order, for a compiled kernel to name with
        ``StateArrays(*arrays)`` (one argument, not fifty; a plain tuple passes twice as fast)."""
        return self._arrays

    def put(self, rows: np.ndarray, part: State) -> None:
        """Write the batch ``part`` (one row per entry of ``rows``) into ``rows``."""
        for name in STATE_FIELDS:
            getattr(self, name)[rows] = getattr(part, name)


#: The names of ``State``'s arrays (the init fields; the ``*_obs`` views are derived): listed once,
#: as ``copy`` runs at every reset and ``dataclasses.fields`` is slow.
STATE_FIELDS = tuple(f.name for f in fields(State) if f.init)


@cache
def _empty_one(n: int) -> State:
    return State._build_empty(1, n)

#: The arrays compiled code reads and writes (``State.arrays``): the fields and the obs views.
STATE_ARRAY_NAMES = (*STATE_FIELDS, "svc_obs", "glob_obs", "graph_obs")
StateArrays = namedtuple("StateArrays", STATE_ARRAY_NAMES)
_get_arrays = attrgetter(*STATE_ARRAY_NAMES)
