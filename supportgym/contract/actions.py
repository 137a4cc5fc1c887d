"""The action space: flat indices to (kind, service), readable names, and the allowed-action masks.

Index ``s * N_SERVICE_ACTIONS + k`` is per-service action ``k`` on service slot ``s``; the global
actions follow. The masks depend only on facts that are also in the observation (present
services, their kinds, entry traffic, configured failovers, tier, declared severity), so an agent can rebuild
its mask from what it sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from supportgym.contract.vocabulary import (
    ACTION_LABELS,
    MIN_TIER,
    N_SERVICE_ACTIONS,
    PROVIDER_BLOCKED,
    SEVERITIES,
    TIERS,
    ActionKind,
    ServiceKind,
)


@dataclass(frozen=True, eq=False)
class ActionTable:
    """Decoding of flat action indices: index = service * N_SERVICE_ACTIONS + kind, then globals."""

    max_services: int
    kind: np.ndarray  # (A,) ActionKind of each index
    service: np.ndarray  # (A,) target service slot, 0 for global actions (unused there)
    is_service_action: np.ndarray  # (A,) bool
    min_tier: np.ndarray  # (A,)

    @classmethod
    def build(cls, max_services: int) -> ActionTable:
        per_service = [(k, s) for s in range(max_services) for k in range(N_SERVICE_ACTIONS)]
        globals_ = [(k, 0) for k in range(N_SERVICE_ACTIONS, len(ActionKind))]
        kind = np.array([k for k, _ in per_service + globals_])
        service = np.array([s for _, s in per_service + globals_])
        return cls(max_services, kind, service, kind < N_SERVICE_ACTIONS, MIN_TIER[kind])

    @property
    def n(self) -> int:
        return len(self.kind)

    def index(self, kind: ActionKind, service: int = 0) -> int:
        if kind < N_SERVICE_ACTIONS:
            return service * N_SERVICE_ACTIONS + int(kind)
        return self.max_services * N_SERVICE_ACTIONS + int(kind) - N_SERVICE_ACTIONS

    def names(self, service_names: list[str]) -> list[str]:
        out = []
        for k, s, per in zip(self.kind, self.service, self.is_service_action):
            label = ACTION_LABELS[ActionKind(k)]
            if per:
                label += f" {service_names[s]}" if s < len(service_names) else f" <empty slot {s}>"
            out.append(label)
        return out


def tier_masks(table: ActionTable, present: np.ndarray, kind: np.ndarray, failover: np.ndarray,
               entry: np.ndarray) -> np.ndarray:
    """(B, 3, A) bool: the actions allowed at L1, L2, L3 by topology and tier, before the
    severity rule (``severity_gate``). Inputs are (B, N): all of them are in the observation too."""
    service = table.service
    allowed = np.where(table.is_service_action, present[:, service], True)
    # A third-party provider takes none of PROVIDER_BLOCKED; failover needs a configured secondary.
    allowed &= ~((kind[:, service] == ServiceKind.EXTERNAL) & np.isin(table.kind, PROVIDER_BLOCKED))
    allowed &= np.where(table.kind == ActionKind.FAILOVER, failover[:, service] & table.is_service_action, True)
    # A synthetic request enters where users do.
    allowed &= np.where(table.kind == ActionKind.REPRODUCE, (entry[:, service] > 0) & table.is_service_action, True)
    tiers = np.array(TIERS)[:, None]
    mask = allowed[:, None, :] & (table.min_tier <= tiers)
    mask[:, :, table.index(ActionKind.ESCALATE)] = tiers[:, 0] < TIERS[-1]  # nobody above L3
    return mask


def severity_gate(mask: np.ndarray, declared: np.ndarray, table: ActionTable) -> np.ndarray:
    """Apply, in place, the rule that a severity can only be raised once declared (re-declaring
    would be a cheap way to let time pass for nothing). ``mask`` (B, A), ``declared`` (B,)."""
    sev1 = table.index(ActionKind.DECLARE_SEV1)
    for level in SEVERITIES[1:]:
        mask[:, sev1 + level - 1] &= (declared == 0) | (level < declared)
    return mask


def mask_table(tier_mask: np.ndarray, table: ActionTable) -> np.ndarray:
    """(B, 3, 4, A): ``tier_masks`` with ``severity_gate`` applied for each declared level, so
    the mask of a state is one lookup (the env hands one out every step)."""
    out = np.repeat(tier_mask[:, :, None, :], len(SEVERITIES), axis=2)
    for declared in SEVERITIES:
        for tier in range(len(TIERS)):
            severity_gate(out[:, tier, declared], np.full(len(out), declared), table)
    return out
