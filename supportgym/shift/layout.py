"""The public layout of a shift's actions and observations (imports only ``supportgym.contract``).

Actions: ``Discrete(I + S * 9 + 1)`` where ``I`` is Incident-v1's action count and ``S``
``max_services``. ``[0, I)`` are the incident's actions; then closure work: RCA per (service,
remedy) at ``I + s * 6 + r`` (``r`` in ``KB_REMEDIES`` order: the service and the fix the RCA
names), automate per service at ``I + 6S + s``, permanent fix at ``I + 7S + s``, tune alerts at
``I + 8S + s``, and "next incident" last.

Observation: the incident's (``ObservationLayout``, during closure the last incident's final one),
then ``S x SHIFT_SF`` per-service shift features, then ``SHIFT_GF`` global ones, all in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from supportgym.contract.actions import ActionTable
from supportgym.contract.observation import ObservationLayout
from supportgym.contract.vocabulary import KB_REMEDIES

N_KB = len(KB_REMEDIES)
#: Closure work kinds, in action order (RCA takes N_KB slots per service).
RCA, AUTOMATE, PERMANENT_FIX, TUNE_ALERT, NEXT = "rca", "automate", "permanent_fix", "tune_alert", "next"
#: Per-service shift features: the knowledge base's entry from an RCA (one-hot over KB_REMEDIES,
#: all zero for none), automated, permanently fixed, alerts tuned, and incidents so far in which a
#: remedy was applied on the service (a share of the shift's slots).
SHIFT_SF = (*(f"kb_{r}" for r in KB_REMEDIES), "automated", "fixed", "alerts_tuned", "remedied")
#: Global shift features: slot index (share of the shift's slots), closure phase, closure actions
#: used (share of the cap), automation ran at this incident's open, incidents so far (share).
SHIFT_GF = ("slot", "closure_phase", "closure_used", "auto_remediated", "incidents_so_far")
SSF = {name: i for i, name in enumerate(SHIFT_SF)}
SGF = {name: i for i, name in enumerate(SHIFT_GF)}


@dataclass(frozen=True)
class ShiftLayout:
    """Where everything sits in a shift's flat action and observation spaces."""

    max_services: int

    @property
    def incident(self) -> ObservationLayout:
        return ObservationLayout(self.max_services)

    @property
    def n_incident_actions(self) -> int:
        return ActionTable.build(self.max_services).n

    @property
    def n_closure_actions(self) -> int:
        return self.max_services * (N_KB + 3) + 1

    @property
    def n_actions(self) -> int:
        return self.n_incident_actions + self.n_closure_actions

    @property
    def obs_size(self) -> int:
        return self.incident.size + self.max_services * len(SHIFT_SF) + len(SHIFT_GF)

    # --- actions ---------------------------------------------------------------------------
    def rca(self, service: int, remedy: int) -> int:
        return self.n_incident_actions + service * N_KB + remedy

    def automate(self, service: int) -> int:
        return self.n_incident_actions + self.max_services * N_KB + service

    def permanent_fix(self, service: int) -> int:
        return self.n_incident_actions + self.max_services * (N_KB + 1) + service

    def tune_alert(self, service: int) -> int:
        return self.n_incident_actions + self.max_services * (N_KB + 2) + service

    @property
    def next_incident(self) -> int:
        return self.n_actions - 1

    def decode(self, action: int) -> tuple[str, int, int]:
        """(kind, service, remedy) of a closure action (remedy -1 but for an RCA)."""
        c = action - self.n_incident_actions
        n = self.max_services
        if c < 0:
            raise ValueError(f"action {action} is an incident action")
        if c == self.n_closure_actions - 1:
            return NEXT, -1, -1
        if c < n * N_KB:
            return RCA, c // N_KB, c % N_KB
        block, service = divmod(c - n * N_KB, n)
        return (AUTOMATE, PERMANENT_FIX, TUNE_ALERT)[block], service, -1

    # --- observations ----------------------------------------------------------------------
    def incident_obs(self, obs: np.ndarray) -> np.ndarray:
        return obs[..., : self.incident.size]

    def services(self, obs: np.ndarray) -> np.ndarray:
        """(..., max_services, len(SHIFT_SF)) view of the per-service shift features."""
        start = self.incident.size
        return obs[..., start: start + self.max_services * len(SHIFT_SF)].reshape(
            *obs.shape[:-1], self.max_services, len(SHIFT_SF))

    def globals(self, obs: np.ndarray) -> np.ndarray:
        return obs[..., self.obs_size - len(SHIFT_GF):]

    def kb_entry(self, obs: np.ndarray) -> np.ndarray:
        """(max_services,) the RCA's remedy index per service, -1 none."""
        kb = self.services(obs)[:, :N_KB]
        return np.where(kb.max(axis=1) > 0.5, kb.argmax(axis=1), -1)

    def closure_phase(self, obs: np.ndarray) -> bool:
        return bool(self.globals(obs)[SGF["closure_phase"]] > 0.5)
