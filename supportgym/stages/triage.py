"""Stage 2, triage: severity, support tiers and escalation.

The agent declares a severity (SEV1..SEV3) and escalates from L1 to L2 to L3. A declared
severity sets how fast an escalation is handed off (``vocabulary.ESCALATION_MINUTES``) and what
engineer time costs; the true severity, judged from the peak user impact
(``vocabulary.true_severity``), is what the declaration is scored against at the end. Which actions each tier may take is part of the
action contract (``contract.actions``).
"""

from __future__ import annotations

import numpy as np

from supportgym.contract.observation import ESCALATIONS_SCALE, G_DECLARED, G_TIER, GF
from supportgym.contract.vocabulary import SEVERITIES, TIERS, ActionKind
from supportgym.world.state import State

ESCALATE = int(ActionKind.ESCALATE)
DECLARE_SEV1, DECLARE_SEV3 = int(ActionKind.DECLARE_SEV1), int(ActionKind.DECLARE_SEV3)
#: The action kinds this stage handles.
KINDS = frozenset({ESCALATE, *range(DECLARE_SEV1, DECLARE_SEV3 + 1)})


def triage(s: State, kind: np.ndarray) -> None:
    """Declare the severities and take the escalations among ``kind`` (B,), in place."""
    declaring = (kind >= DECLARE_SEV1) & (kind <= DECLARE_SEV3)
    escalating = kind == ESCALATE
    s.declared = np.where(declaring, kind - DECLARE_SEV1 + 1, s.declared)
    first_or_worse = declaring & ((s.declared_peak == 0) | (s.declared < s.declared_peak))
    s.declared_peak = np.where(first_or_worse, s.declared, s.declared_peak)
    s.tier = s.tier + escalating
    s.escalations = s.escalations + escalating
    write_desk(s)


def write_desk(s: State) -> None:
    """The observation's tier, declared severity and escalation count."""
    s.glob_obs[:, G_TIER] = s.tier[:, None] == np.array(TIERS)
    s.glob_obs[:, G_DECLARED] = s.declared[:, None] == np.array(SEVERITIES)
    s.glob_obs[:, GF["escalations"]] = np.minimum(s.escalations / ESCALATIONS_SCALE, 1.0)
