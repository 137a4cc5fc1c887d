"""The fault types: the mechanism each switches on, and what is known about its remedies.

The remedy lists document behaviour that *emerges* from the mechanisms (``world.mechanisms``)
and what the remedies do to them (``stages.action``); ``tests/test_faults.py`` checks every
one of them against a simulated episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from supportgym.compiled import kernel, stamp_cache
from supportgym.contract.vocabulary import ActionKind, ServiceKind, Ticket
from supportgym.world.mechanisms import ACC_HARM_THRESHOLD, DEFECT_PRESENT, Accumulator, Defect
from supportgym.world.state import State

#: Root-cause categories of Ghosh et al. (SoCC 2022, 152 Microsoft Teams incidents).
ROOT_CAUSE_CATEGORIES = ("code bug", "dependency failure", "infrastructure", "deployment error", "config bug",
                         "database/network", "auth failure")


@dataclass(frozen=True)
class FaultSpec:
    """One fault type: the mechanism it switches on and what is known about its remedies."""

    name: str
    category: str  # its root-cause category (one of ROOT_CAUSE_CATEGORIES)
    kinds: tuple[ServiceKind, ...]  # service kinds the fault can sit on
    ticket: Ticket
    lasting_fixes: tuple[ActionKind, ...]
    #: Remedies that are useless or harmful for this fault, with their target: the faulty service
    #: itself ("self"), a service that calls it ("caller"), or the database it uses or fronts ("database").
    wrong_remedies: tuple[tuple[ActionKind, str], ...]
    defect: Defect | None = None
    intensity: tuple[float, float] = (1.0, 1.0)
    duration: tuple[float, float] = (np.inf, np.inf)  # minutes until it ends by itself
    accumulator: Accumulator | None = None
    rate: tuple[float, float] = (0.0, 0.0)  # accumulator level per minute
    start_level: tuple[float, float] = (0.0, 0.0)  # accumulator level at onset
    #: "deploy" or "config": the recent change that brought the fault, which a rollback reverts
    #: (a suite entry may mark it ``latent``: it shipped long ago, so there is nothing recent to revert)
    change: str | None = None
    load_multiplier: tuple[float, float] = (1.0, 1.0)
    cache_down: bool = False

    @property
    def spike(self) -> bool:
        """The fault injects traffic."""
        return self.load_multiplier != (1.0, 1.0)


APP = (ServiceKind.FRONTEND, ServiceKind.API, ServiceKind.WORKER)
A = ActionKind
FAULTS: dict[str, FaultSpec] = {
    f.name: f
    for f in [
        FaultSpec("bad_deploy", "code bug", APP, Ticket.ERRORS, (A.ROLLBACK, A.HOTFIX), ((A.RESTART, "self"),),
                  defect=Defect.CODE_BUG, intensity=(0.5, 1.0), change="deploy"),
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
        # A bug that shipped long ago and surfaces only now (a rare input, a date, grown data): the
        # same defect and stack traces as a bad deploy, but no recent change, so rolling back the
        # service's last, innocent deploy does nothing. The changes check tells the two apart.
        FaultSpec("latent_bug", "code bug", APP, Ticket.ERRORS, (A.HOTFIX,),
                  ((A.ROLLBACK, "self"), (A.RESTART, "self")), defect=Defect.CODE_BUG, intensity=(0.5, 1.0)),
    ]
}
del A
FAULT_NAMES: tuple[str, ...] = tuple(FAULTS)
FAULT_INDEX = {name: i for i, name in enumerate(FAULT_NAMES)}
assert all(f.category in ROOT_CAUSE_CATEGORIES for f in FAULTS.values())

#: The categories each fault type may be filed under (a suite's ``faults[].category``); the first
#: is its own. A broken rollout is a deployment error, a bad query a code bug, a network blip a
#: database/network incident, a pool exhausted by the database's connection limit a database one.
FAULT_CATEGORIES: dict[str, tuple[str, ...]] = {
    name: (FAULTS[name].category, *alternatives)
    for name, alternatives in {
        "bad_deploy": ("deployment error",),
        "bad_config": ("deployment error",),
        "memory_leak": (),
        "pool_exhaustion": ("database/network",),
        "slow_query": ("code bug",),
        "external_outage": (),
        "traffic_spike": (),
        "cache_failure": ("infrastructure",),
        "disk_full": (),
        "expired_cert": ("auth failure",),
        "auth_failure": ("config bug",),
        "transient_blip": ("database/network",),
        "latent_bug": (),
    }.items()
}

# Per fault index: the mechanism it switches on (-1 none), for array lookups.
_SPECS = list(FAULTS.values())
FAULT_DEFECT = np.array([-1 if f.defect is None else int(f.defect) for f in _SPECS])
FAULT_ACCUMULATOR = np.array([-1 if f.accumulator is None else int(f.accumulator) for f in _SPECS])
FAULT_CACHE_DOWN = np.array([f.cache_down for f in _SPECS])
FAULT_SPIKE = np.array([f.spike for f in _SPECS])
#: Utilisation above which injected traffic still counts as a fault at work.
SPIKE_AT_WORK = 0.9


def fault_present(s: State, utilisation: np.ndarray) -> np.ndarray:
    """(B, K) Whether each fault slot's mechanism is still at work on its service (a restarted
    leak still counts: it keeps leaking). ``utilisation`` (B, N) is the signal stage's. Empty
    slots are False."""
    out = np.empty(s.fault_type.shape, dtype=np.bool_)
    _fault_present_kernel(s.fault_type, s.fault_service, s.defect, s.acc_rate, s.acc_level, s.cache_down, utilisation,
                          out)
    return out


@kernel
def _fault_present_kernel(fault_type, fault_service, defect, acc_rate, acc_level, cache_down, utilisation,
                          out):  # pragma: no cover - compiled
    for b in range(out.shape[0]):
        for k in range(out.shape[1]):
            out[b, k] = fault_at_work(b, k, fault_type, fault_service, defect, acc_rate, acc_level, cache_down,
                                      utilisation)


@kernel
def fault_at_work(b, k, fault_type, fault_service, defect, acc_rate, acc_level, cache_down,
                  utilisation):  # pragma: no cover - compiled
    """``fault_present`` of row b's fault slot k."""
    f = fault_type[b, k]
    if f < 0:
        return False
    i, d, a = fault_service[b, k], FAULT_DEFECT[f], FAULT_ACCUMULATOR[f]
    if d >= 0 and defect[b, i, d] > DEFECT_PRESENT[d]:
        return True
    if a >= 0 and (acc_rate[b, i, a] > 0.0 or acc_level[b, i, a] > ACC_HARM_THRESHOLD[a]):
        return True
    if FAULT_CACHE_DOWN[f] and cache_down[b, i] > 0.0:
        return True
    return FAULT_SPIKE[f] and utilisation[b, i] > SPIKE_AT_WORK


stamp_cache(__file__, globals())
