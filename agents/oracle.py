"""The oracle: a privileged agent that reads the hidden fault. An upper reference, not an
achievable agent: it defines 100 on the normalised score scale.

It declares the true severity, escalates just far enough for the cheapest lasting remedy of
each active fault (filing the ticket under the owning team and reassigning it there first),
applies it, waits out what heals by itself, validates, asks the customer when that costs less
than closing unconfirmed, and resolves.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from supportgym.contract.vocabulary import (
    ACTION_MINUTES,
    BUSY_UTILISATION,
    ESCALATION_MINUTES,
    FILE_ACTIONS,
    MIN_TIER,
    SATURATED,
    ActionKind,
    true_severity,
)
from supportgym.reward import W_ENGINEER, W_SEV1, W_UNCONFIRMED
from supportgym.stages.signal import signals
from supportgym.stages.validation import healthy, unconfirmed
from supportgym.world.faults import FAULT_NAMES, FAULTS, fault_present
from supportgym.world.mechanisms import NO_CHANGE, Defect


def lasting_remedy(env: gym.Env, fault: str, service: int) -> ActionKind:
    """The cheapest remedy that lastingly removes ``fault`` on ``service`` in this episode."""
    u = env.unwrapped
    spec = FAULTS[fault]
    if fault == "external_outage":
        return ActionKind.FAILOVER if u.params.failover[0, service] else ActionKind.WAIT
    if u.state.culprit_change[0, service] != NO_CHANGE:  # the fault came with a change: undo it
        return ActionKind.ROLLBACK
    lasting = [k for k in spec.lasting_fixes if k != ActionKind.ROLLBACK]
    return min(lasting, key=lambda k: MIN_TIER[k])


class OracleAgent:
    name = "oracle"

    def __init__(self, env: gym.Env):
        self.env = env

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True, action_masks: np.ndarray | None = None) -> tuple[np.ndarray, Any]:
        return np.array(self.next_action()), state

    def _ends_first(self, service: int) -> bool:
        """A provider outage ends by itself before a failover could be done: failing over then
        would be a needless change."""
        s = self.env.unwrapped.state
        handoff = ESCALATION_MINUTES[s.declared[0]] if s.tier[0] < MIN_TIER[ActionKind.FAILOVER] else 0.0
        return s.defect_timer[0, service, Defect.PROVIDER_OUTAGE] <= handoff + ACTION_MINUTES[ActionKind.FAILOVER] + 1

    def _escalate(self) -> int:
        """Escalate, with the ticket filed under the owning team and sitting there (a misrouted
        or misfiled hand-off costs more than setting it right)."""
        u = self.env.unwrapped
        s, table = u.state, u.table
        if s.category[0] != s.true_team[0]:
            return table.index(FILE_ACTIONS[s.true_team[0]])
        if s.routed[0] != s.true_team[0]:
            return table.index(ActionKind.REASSIGN)
        return table.index(ActionKind.ESCALATE)

    def _worth_asking(self) -> bool:
        """Asking the customer costs less engineer time than closing unconfirmed costs."""
        u = self.env.unwrapped
        s, w = u.state, u.params.reward_weights
        rate = w[W_ENGINEER + s.tier[0] - 1] * (w[W_SEV1] if s.declared[0] == 1 else 1.0)
        return bool(unconfirmed(s)[0]) and w[W_UNCONFIRMED] > rate * ACTION_MINUTES[ActionKind.ASK_CUSTOMER]

    def next_action(self) -> int:
        u = self.env.unwrapped
        p, s, table = u.params, u.state, u.table
        sig = signals(p, s)
        severity = int(true_severity(np.maximum(s.peak_impact, sig.impact))[0])
        for k in np.flatnonzero(fault_present(s, sig.utilisation)[0]):
            fault, service = FAULT_NAMES[s.fault_type[0, k]], int(s.fault_service[0, k])
            remedy = lasting_remedy(self.env, fault, service)
            if remedy == ActionKind.WAIT or (remedy == ActionKind.FAILOVER and self._ends_first(service)):
                continue
            if s.tier[0] < MIN_TIER[remedy]:
                if s.declared[0] != severity:  # a correct severity makes the hand-off fast
                    return table.index(ActionKind.DECLARE_SEV1 + severity - 1)
                return self._escalate()
            return table.index(remedy, service)
        if s.declared[0] != severity:
            return table.index(ActionKind.DECLARE_SEV1 + severity - 1)
        # Extra load from a spike can overload services downstream of it too (saturated, or slow
        # near capacity): scale out the busiest while the system is not healthy.
        scalable = p.mask_table[0, 2, 0, [table.index(ActionKind.SCALE_OUT, i) for i in range(table.max_services)]]
        busy = np.where(scalable, sig.utilisation[0], 0.0)
        if busy.max() > SATURATED or (not healthy(sig)[0] and busy.max() > BUSY_UTILISATION):
            if s.tier[0] < MIN_TIER[ActionKind.SCALE_OUT]:
                return self._escalate()
            return table.index(ActionKind.SCALE_OUT, int(np.argmax(busy)))
        if not healthy(sig)[0] or fault_present(s, sig.utilisation)[0].any():
            return table.index(ActionKind.WAIT)
        if not s.validated[0]:
            return table.index(ActionKind.VALIDATE)
        if self._worth_asking():
            return table.index(ActionKind.ASK_CUSTOMER)
        return table.index(ActionKind.RESOLVE)
