"""The metrics every episode reports when it ends (``info["episode_metrics"]``)."""

from __future__ import annotations

import math
from typing import Any

from supportgym.contract.observation import CUSTOMER_ANSWERS
from supportgym.contract.vocabulary import Team, true_severity
from supportgym.world.faults import FAULT_NAMES
from supportgym.world.state import State


def episode_metrics(s: State, row: int, service_names: tuple[str, ...], scenario: str) -> dict[str, Any]:
    """Plain-Python metrics of batch row ``row``. Times are simulated minutes since the incident
    opened; ``nan`` where the event never happened."""
    faults = [
        {"fault": FAULT_NAMES[f], "service": service_names[svc]}
        for f, svc in zip(s.fault_type[row], s.fault_service[row])
        if f >= 0
    ]
    held = bool(s.held[row])
    return {
        "scenario": scenario,
        "resolved_and_held": held,
        "time_to_mitigate": float(s.mitigated_at[row]),
        "time_to_resolve": float(s.resolved_at[row]) if held else math.nan,
        "impact_minutes": float(s.impact_minutes[row]),
        "harmful_actions": int(s.harmful[row]),
        "invalid_actions": int(s.invalid[row]),
        "escalations": int(s.escalations[row]),
        "wrong_closures": int(s.reopened[row]),
        "validated": bool(s.validated[row]),
        "misrouted_handoffs": int(s.misrouted_handoffs[row]),
        "owning_team": Team(s.true_team[row]).name,
        "customer_answer": CUSTOMER_ANSWERS[s.customer_answer[row]],
        "declared_severity": int(s.declared[row]),
        "true_severity": int(true_severity(s.peak_impact[row])),
        "root_causes": faults,
        "return": float(s.episode_return[row]),
        "steps": int(s.steps[row]),
    }
