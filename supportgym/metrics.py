"""The metrics every episode reports when it ends (``info["episode_metrics"]``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from supportgym.contract.observation import CUSTOMER_ANSWERS
from supportgym.contract.vocabulary import Team, true_severity
from supportgym.world.faults import FAULT_NAMES
from supportgym.world.state import State

_TEAM_NAMES = {team.value: team.name for team in Team}


def episode_metrics(s: State, row: int, service_names: tuple[str, ...], scenario: str) -> dict[str, Any]:
    """Plain-Python metrics of batch row ``row``. Times are simulated minutes since the incident
    opened; ``nan`` where the event never happened."""
    return rows_metrics(s, np.array([row]), [service_names], [scenario])[0]


def rows_metrics(s: State, rows: np.ndarray, service_names: Sequence[tuple[str, ...]],
                 scenarios: Sequence[str]) -> list[dict[str, Any]]:
    """``episode_metrics`` of each of ``rows``, whose service names and scenario are the entries
    of ``service_names`` and ``scenarios`` (each column is read once for all rows)."""
    held, mitigated, resolved = s.held[rows].tolist(), s.mitigated_at[rows].tolist(), s.resolved_at[rows].tolist()
    impact_minutes, harmful, invalid = s.impact_minutes[rows].tolist(), s.harmful[rows].tolist(), \
        s.invalid[rows].tolist()
    escalations, reopened, validated = s.escalations[rows].tolist(), s.reopened[rows].tolist(), \
        s.validated[rows].tolist()
    misrouted, team, answer = s.misrouted_handoffs[rows].tolist(), s.true_team[rows].tolist(), \
        s.customer_answer[rows].tolist()
    declared, severity = s.declared[rows].tolist(), true_severity(s.peak_impact[rows]).tolist()
    returns, steps = s.episode_return[rows].tolist(), s.steps[rows].tolist()
    fault_type, fault_service = s.fault_type[rows].tolist(), s.fault_service[rows].tolist()
    out = []
    for j, names in enumerate(service_names):
        out.append({
            "scenario": scenarios[j],
            "resolved_and_held": bool(held[j]),
            "time_to_mitigate": float(mitigated[j]),
            "time_to_resolve": float(resolved[j]) if held[j] else math.nan,
            "impact_minutes": float(impact_minutes[j]),
            "harmful_actions": int(harmful[j]),
            "invalid_actions": int(invalid[j]),
            "escalations": int(escalations[j]),
            "wrong_closures": int(reopened[j]),
            "validated": bool(validated[j]),
            "misrouted_handoffs": int(misrouted[j]),
            "owning_team": _TEAM_NAMES[team[j]],
            "customer_answer": CUSTOMER_ANSWERS[answer[j]],
            "declared_severity": int(declared[j]),
            "true_severity": int(severity[j]),
            "root_causes": [{"fault": FAULT_NAMES[f], "service": names[svc]}
                            for f, svc in zip(fault_type[j], fault_service[j]) if f >= 0],
            "return": float(returns[j]),
            "steps": int(steps[j]),
        })
    return out
