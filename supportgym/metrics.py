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
    def floats(a: np.ndarray) -> list[float]:
        return a[rows].astype(np.float64).tolist()

    def ints(a: np.ndarray) -> list[int]:
        return a[rows].astype(np.int64).tolist()

    def bools(a: np.ndarray) -> list[bool]:
        return a[rows].astype(bool).tolist()

    held, mitigated, resolved, impact_minutes = bools(s.held), floats(s.mitigated_at), floats(s.resolved_at), \
        floats(s.impact_minutes)
    harmful, invalid, escalations, reopened = ints(s.harmful), ints(s.invalid), ints(s.escalations), ints(s.reopened)
    validated, misrouted, team, answer = bools(s.validated), ints(s.misrouted_handoffs), ints(s.true_team), \
        ints(s.customer_answer)
    declared, severity = ints(s.declared), true_severity(s.peak_impact[rows]).astype(np.int64).tolist()
    returns, steps, fault_type, fault_service = floats(s.episode_return), ints(s.steps), ints(s.fault_type), \
        ints(s.fault_service)
    return [{
        "scenario": scenarios[j],
        "resolved_and_held": held[j],
        "time_to_mitigate": mitigated[j],
        "time_to_resolve": resolved[j] if held[j] else math.nan,
        "impact_minutes": impact_minutes[j],
        "harmful_actions": harmful[j],
        "invalid_actions": invalid[j],
        "escalations": escalations[j],
        "wrong_closures": reopened[j],
        "validated": validated[j],
        "misrouted_handoffs": misrouted[j],
        "owning_team": _TEAM_NAMES[team[j]],
        "customer_answer": CUSTOMER_ANSWERS[answer[j]],
        "declared_severity": declared[j],
        "true_severity": severity[j],
        "root_causes": [{"fault": FAULT_NAMES[f], "service": names[svc]}
                        for f, svc in zip(fault_type[j], fault_service[j]) if f >= 0],
        "return": returns[j],
        "steps": steps[j],
    } for j, names in enumerate(service_names)]
