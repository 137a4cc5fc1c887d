"""The runbook agent: an L1 → L2 runbook followed to the letter.

1. (L1) Declare a severity from the alerts, search the knowledge base. A known issue → apply its
   fix (escalating if the fix needs L2) → validate → resolve if healthy.
2. (L2) Otherwise escalate, check changes on every alerting service and roll back the most
   recent change (if there is one in the last two hours) → validate → resolve if healthy.
3. Otherwise restart the deepest alerting service → validate → resolve.

It does not read logs or traces, does not know that a runbook's restart only buys time against a
leak, and closes after its last step whatever the validation says.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agents.rule import RuleAgent
from agents.view import View
from supportgym.catalog import MIN_TIER, REMEDY_NAMES, ActionKind, ServiceKind
from supportgym.layout import KB_REMEDIES

#: A change counts as recent within two hours (``*_recent`` is exp(-age / 60 min)).
RECENT = float(np.exp(-2.0))


@dataclass
class RunbookNotes:
    stage: str = "declare"
    fix: tuple[ActionKind, int] | None = None  # the remedy being applied: (kind, service)
    applied: bool = False
    changes_checked: set[int] = field(default_factory=set)
    validated: bool = False


class RunbookAgent(RuleAgent):
    name = "runbook"

    def new_memory(self, obs: np.ndarray) -> RunbookNotes:
        return RunbookNotes()

    def act(self, view: View, mask: np.ndarray, notes: RunbookNotes) -> int:
        act = self.desk.act
        if notes.stage == "declare":
            notes.stage = "kb"
            entry_alerting = (view.alerting & (view.col("entry_traffic") > 0)).any()
            return act(ActionKind.DECLARE_SEV2 if entry_alerting else ActionKind.DECLARE_SEV3)
        if notes.stage == "kb":
            notes.stage = "known_issue"
            return act(ActionKind.SEARCH_KB)
        if notes.stage == "known_issue":
            suggestion = np.argwhere(view.kb > 0.5)
            if len(suggestion) == 0:
                notes.stage = "changes"
            else:
                service, remedy = (int(x) for x in suggestion[0])
                notes.fix = (REMEDY_NAMES[KB_REMEDIES[remedy]], service)
                notes.stage = "apply_known"
        if notes.stage == "apply_known":
            step = self._apply(view, mask, notes, next_stage="changes")
            if step is not None:
                return step
        if notes.stage == "changes":
            if view.tier < 2:
                return act(ActionKind.ESCALATE)
            for service in self._alerting_own(view):
                if service not in notes.changes_checked:
                    notes.changes_checked.add(service)
                    return act(ActionKind.CHECK_CHANGES, service)
            recent = np.maximum(view.col("deploy_recent"), view.col("config_recent"))
            recent = np.where(view.col("change_reverted") > 0.5, 0.0, recent)
            candidates = [s for s in notes.changes_checked if recent[s] > RECENT]
            if candidates:
                notes.fix = (ActionKind.ROLLBACK, max(candidates, key=lambda s: recent[s]))
                notes.applied, notes.validated = False, False
                notes.stage = "apply_rollback"
            else:
                notes.stage = "restart"
        if notes.stage == "apply_rollback":
            step = self._apply(view, mask, notes, next_stage="restart")
            if step is not None:
                return step
        if notes.stage == "restart":
            own = self._alerting_own(view)
            if not own:
                return act(ActionKind.RESOLVE)
            deepest = max(own, key=lambda s: view.col("depth")[s])
            notes.fix = (ActionKind.RESTART, deepest)
            notes.applied, notes.validated = False, False
            notes.stage = "apply_restart"
        step = self._apply(view, mask, notes, next_stage="close")
        return step if step is not None else act(ActionKind.RESOLVE)

    def _apply(self, view: View, mask: np.ndarray, notes: RunbookNotes, next_stage: str) -> int | None:
        """Escalate as needed, apply ``notes.fix``, validate; resolve if healthy. None when this
        step of the runbook is over and the next one (``next_stage``) should run."""
        kind, service = notes.fix
        if not notes.applied:
            if view.tier < MIN_TIER[kind] and kind != ActionKind.WAIT:
                return self.desk.act(ActionKind.ESCALATE)
            notes.applied = True
            index = self.desk.act(kind) if kind == ActionKind.WAIT else self.desk.act(kind, service)
            if mask[index]:
                return index
        if not notes.validated:
            notes.validated = True
            return self.desk.act(ActionKind.VALIDATE)
        if view.validation == 1:
            return self.desk.act(ActionKind.RESOLVE)
        notes.stage = next_stage
        return None

    @staticmethod
    def _alerting_own(view: View) -> list[int]:
        """Alerting services that are ours (a third-party provider has no changes or restarts)."""
        return [int(s) for s in np.flatnonzero(view.alerting & (view.kind != ServiceKind.EXTERNAL))]
