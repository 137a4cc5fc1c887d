"""Stage 2, triage: severity, category and routing, support tiers and escalation.

The agent declares a severity (SEV1..SEV3), files the ticket under a category (one per support
team), reassigns it to the team of that category, and escalates from L1 to L2 to L3. A declared
severity sets how fast an escalation is handed off (``vocabulary.ESCALATION_MINUTES``) and what
engineer time costs; the true severity, judged from the peak user impact
(``vocabulary.true_severity``), is what the declaration is scored against at the end.

Routing is judged against the team that owns the root cause (``world.teams``). An escalation
while the ticket sits with the wrong team costs ``MISROUTE_MINUTES`` more (that team bounces it),
one filed under the wrong category or none ``MISFILED_MINUTES`` more (the next tier re-triages
it); either way the receiving team then owns it, filed right (``action.decode_kernel`` times it). Which
actions each tier may take is part of the action contract (``contract.actions``).
"""

from __future__ import annotations

from supportgym.compiled import kernel, stamp_cache
from supportgym.contract.observation import ESCALATIONS_SCALE, G_CATEGORY, G_DECLARED, G_ROUTED, G_TIER, GF
from supportgym.contract.vocabulary import FILE_ACTIONS, N_TEAMS, SEVERITIES, TIERS, ActionKind

ESCALATE, REASSIGN = int(ActionKind.ESCALATE), int(ActionKind.REASSIGN)
DECLARE_SEV1, DECLARE_SEV3 = int(ActionKind.DECLARE_SEV1), int(ActionKind.DECLARE_SEV3)
FILE_FIRST, FILE_LAST = int(FILE_ACTIONS[0]), int(FILE_ACTIONS[-1])
TIER_COLUMN, DECLARED_COLUMN = G_TIER.start, G_DECLARED.start
ROUTED_COLUMN, CATEGORY_COLUMN = G_ROUTED.start, G_CATEGORY.start
ESCALATIONS_COLUMN = GF["escalations"]
FIRST_TIER, N_TIERS, FIRST_SEVERITY, N_SEVERITIES = TIERS[0], len(TIERS), SEVERITIES[0], len(SEVERITIES)
#: The action kinds this stage handles.
KINDS = frozenset({ESCALATE, REASSIGN, *range(DECLARE_SEV1, DECLARE_SEV3 + 1), *range(FILE_FIRST, FILE_LAST + 1)})


@kernel
def triage_kernel(kind, declared, declared_peak, category, routed, true_team, misrouted_handoffs, tier,
                   escalations):  # pragma: no cover - compiled
    for b in range(kind.shape[0]):
        k = kind[b]
        if DECLARE_SEV1 <= k <= DECLARE_SEV3:
            declared[b] = k - DECLARE_SEV1 + 1
            if declared_peak[b] == 0 or declared[b] < declared_peak[b]:  # the first or a worse one
                declared_peak[b] = declared[b]
        elif FILE_FIRST <= k <= FILE_LAST:
            category[b] = k - FILE_FIRST
        elif k == REASSIGN:
            # Reassigning an unfiled ticket has nowhere to send it: the time is spent for nothing.
            if category[b] >= 0:
                routed[b] = category[b]
        elif k == ESCALATE:
            if routed[b] != true_team[b]:
                misrouted_handoffs[b] += 1.0
            routed[b] = true_team[b]
            category[b] = true_team[b]
            tier[b] += 1
            escalations[b] += 1.0


@kernel
def _one_hot(row, start, size, index):  # pragma: no cover - compiled
    """``row[start:start + size]``: 1 at ``index`` if it lies in [0, size), else all 0."""
    for j in range(size):
        row[start + j] = 1.0 if j == index else 0.0


@kernel
def desk_kernel(tier, declared, routed, category, escalations, glob_obs):  # pragma: no cover - compiled
    for b in range(tier.shape[0]):
        row = glob_obs[b]
        _one_hot(row, TIER_COLUMN, N_TIERS, tier[b] - FIRST_TIER)
        _one_hot(row, DECLARED_COLUMN, N_SEVERITIES, declared[b] - FIRST_SEVERITY)
        _one_hot(row, ROUTED_COLUMN, N_TEAMS, routed[b])
        _one_hot(row, CATEGORY_COLUMN, N_TEAMS + 1, category[b] + 1)  # "none" (-1) first
        row[ESCALATIONS_COLUMN] = min(escalations[b] / ESCALATIONS_SCALE, 1.0)


stamp_cache(__file__, globals())
