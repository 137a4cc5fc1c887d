"""Stage 2, triage: severity, category and routing, support tiers and escalation.

The agent declares a severity (SEV1..SEV3), files the ticket under a category (one per support
team), reassigns it to the team of that category, and escalates from L1 to L2 to L3. A declared
severity sets how fast an escalation is handed off (``vocabulary.ESCALATION_MINUTES``) and what
engineer time costs; the true severity, judged from the peak user impact
(``vocabulary.true_severity``), is what the declaration is scored against at the end.

Routing is judged against the team that owns the root cause (``world.teams``). An escalation
while the ticket sits with the wrong team costs ``MISROUTE_MINUTES`` more (that team bounces it),
one filed under the wrong category or none ``MISFILED_MINUTES`` more (the next tier re-triages
it); either way the receiving team then owns it, filed right (``action.decode`` times it). Which
actions each tier may take is part of the action contract (``contract.actions``).
"""

from __future__ import annotations

import numpy as np

from supportgym.contract.observation import ESCALATIONS_SCALE, G_CATEGORY, G_DECLARED, G_ROUTED, G_TIER, GF
from supportgym.contract.vocabulary import FILE_ACTIONS, N_TEAMS, SEVERITIES, TIERS, ActionKind
from supportgym.world.state import State

ESCALATE, REASSIGN = int(ActionKind.ESCALATE), int(ActionKind.REASSIGN)
DECLARE_SEV1, DECLARE_SEV3 = int(ActionKind.DECLARE_SEV1), int(ActionKind.DECLARE_SEV3)
FILE_FIRST, FILE_LAST = int(FILE_ACTIONS[0]), int(FILE_ACTIONS[-1])
#: The action kinds this stage handles.
KINDS = frozenset({ESCALATE, REASSIGN, *range(DECLARE_SEV1, DECLARE_SEV3 + 1), *range(FILE_FIRST, FILE_LAST + 1)})


def triage(s: State, kind: np.ndarray) -> None:
    """Declare the severities, file and reassign the tickets and take the escalations among
    ``kind`` (B,), in place."""
    declaring = (kind >= DECLARE_SEV1) & (kind <= DECLARE_SEV3)
    escalating = kind == ESCALATE
    s.declared = np.where(declaring, kind - DECLARE_SEV1 + 1, s.declared)
    first_or_worse = declaring & ((s.declared_peak == 0) | (s.declared < s.declared_peak))
    s.declared_peak = np.where(first_or_worse, s.declared, s.declared_peak)
    filing = (kind >= FILE_FIRST) & (kind <= FILE_LAST)
    s.category = np.where(filing, kind - FILE_FIRST, s.category)
    # Reassigning an unfiled ticket has nowhere to send it: the time is spent for nothing.
    s.routed = np.where((kind == REASSIGN) & (s.category >= 0), s.category, s.routed)
    s.misrouted_handoffs = s.misrouted_handoffs + (escalating & (s.routed != s.true_team))
    s.routed = np.where(escalating, s.true_team, s.routed)
    s.category = np.where(escalating, s.true_team, s.category)
    s.tier = s.tier + escalating
    s.escalations = s.escalations + escalating
    write_desk(s)


def write_desk(s: State) -> None:
    """The observation's tier, declared severity, routing, category and escalation count."""
    s.glob_obs[:, G_TIER] = s.tier[:, None] == np.array(TIERS)
    s.glob_obs[:, G_DECLARED] = s.declared[:, None] == np.array(SEVERITIES)
    s.glob_obs[:, G_ROUTED] = s.routed[:, None] == np.arange(N_TEAMS)
    s.glob_obs[:, G_CATEGORY] = s.category[:, None] == np.arange(-1, N_TEAMS)
    s.glob_obs[:, GF["escalations"]] = np.minimum(s.escalations / ESCALATIONS_SCALE, 1.0)
