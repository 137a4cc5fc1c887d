"""The runbook agent: an L1 → L2 runbook followed to the letter.

1. **Triage** (L1): declare a severity from the alerts, search the knowledge base, file the
   ticket under the team its complaint names (:data:`agents.routing.TICKET_TEAM`) and reassign
   it there if it sits elsewhere.
2. **Known issue**: apply its fix (escalating if the fix needs L2) → validate → resolve if healthy.
3. **Recent changes** (L2): otherwise escalate, check changes on every alerting service and roll
   back the most recent change (if there is one in the last two hours) → validate → resolve if
   healthy.
4. **Restart**: otherwise restart the deepest alerting service → validate → resolve.

Before resolving after a healthy validation it asks the customer, and resolves whatever they say.

It does not read logs or traces, does not know that a runbook's restart only buys time against a
leak, and closes after its last step whatever the validation says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from agents.routing import team_by_ticket
from agents.rule import RuleAgent
from agents.view import View
from supportgym.contract.observation import CUSTOMER_NONE
from supportgym.contract.observation import encode_recency
from supportgym.contract.vocabulary import FILE_ACTIONS, KB_REMEDIES, MIN_TIER, REMEDY_NAMES, ActionKind, ServiceKind

#: A change counts as recent within two hours.
RECENT_MINUTES = 120.0


class Step(Enum):
    """The runbook's steps, in the order it follows them."""

    DECLARE = "declare a severity"  # triage
    SEARCH_KB = "search the knowledge base"  # triage
    ROUTE = "file the ticket by its complaint, reassign it there"  # triage
    KNOWN_ISSUE = "read the knowledge base's answer"  # diagnose
    APPLY_KNOWN = "apply the known fix, validate"  # act, validate
    CHANGES = "check the alerting services' changes"  # diagnose (L2)
    APPLY_ROLLBACK = "roll the most recent change back, validate"  # act, validate
    RESTART = "pick the deepest alerting service"  # diagnose
    APPLY_RESTART = "restart it, validate"  # act, validate
    CLOSE = "resolve"  # close


@dataclass
class RunbookNotes:
    step: Step = Step.DECLARE
    fix: tuple[ActionKind, int] | None = None  # the remedy being applied: (kind, service)
    applied: bool = False
    changes_checked: set[int] = field(default_factory=set)
    validated: bool = False


#: A step's handler: the next action, or None once the step is over and ``notes.step`` is the next.
Handler = Callable[["RunbookAgent", View, np.ndarray, RunbookNotes], "int | None"]


class RunbookAgent(RuleAgent):
    name = "runbook"

    def new_memory(self, obs: np.ndarray) -> RunbookNotes:
        return RunbookNotes()

    def act(self, view: View, mask: np.ndarray, notes: RunbookNotes) -> int:
        while True:  # a step that is over hands on to the next one in the same decision
            action = STEPS[notes.step](self, view, mask, notes)
            if action is not None:
                return action

    # --- triage ----------------------------------------------------------------------------
    def declare(self, view: View, mask: np.ndarray, notes: RunbookNotes) -> int:
        notes.step = Step.SEARCH_KB
        entry_alerting = (view.alerting & (view.col("entry_traffic") > 0)).any()
        return self.desk.act(ActionKind.DECLARE_SEV2 if entry_alerting else ActionKind.DECLARE_SEV3)

    def search_kb(self, view: View, mask: np.ndarray, notes: RunbookNotes) -> int:
        notes.step = Step.ROUTE
        return self.desk.act(ActionKind.SEARCH_KB)

    def route(self, view: View, mask: np.ndarray, notes: RunbookNotes) -> int | None:
        if view.category is None:
            return self.desk.act(FILE_ACTIONS[team_by_ticket(view)])
        if view.routed != view.category:
            return self.desk.act(ActionKind.REASSIGN)
        notes.step = Step.KNOWN_ISSUE
        return None

    # --- diagnose ----------------------------------------------------------------------------
    def known_issue(self, view: View, mask: np.ndarray, notes: RunbookNotes) -> None:
        suggestion = np.argwhere(view.kb > 0.5)
        if len(suggestion) == 0:
            notes.step = Step.CHANGES
            return None
        service, remedy = (int(x) for x in suggestion[0])
        notes.fix = (REMEDY_NAMES[KB_REMEDIES[remedy]], service)
        notes.step = Step.APPLY_KNOWN
        return None

    def changes(self, view: View, mask: np.ndarray, notes: RunbookNotes) -> int | None:
        if view.tier < 2:
            return self.desk.act(ActionKind.ESCALATE)
        for service in self._alerting_own(view):
            if service not in notes.changes_checked:
                notes.changes_checked.add(service)
                return self.desk.act(ActionKind.CHECK_CHANGES, service)
        # The recency encoding grows with recency: the highest is the most recent change.
        recency = np.maximum(view.col("deploy_recent"), view.col("config_recent"))
        recency = np.where(view.col("change_reverted") > 0.5, 0.0, recency)
        recent = recency > encode_recency(RECENT_MINUTES)
        candidates = [s for s in notes.changes_checked if recent[s]]
        if candidates:
            self._plan(notes, ActionKind.ROLLBACK, max(candidates, key=lambda s: recency[s]), Step.APPLY_ROLLBACK)
        else:
            notes.step = Step.RESTART
        return None

    def restart(self, view: View, mask: np.ndarray, notes: RunbookNotes) -> int | None:
        own = self._alerting_own(view)
        if not own:
            return self.desk.act(ActionKind.RESOLVE)
        self._plan(notes, ActionKind.RESTART, max(own, key=lambda s: view.col("depth")[s]), Step.APPLY_RESTART)
        return None

    @staticmethod
    def _plan(notes: RunbookNotes, kind: ActionKind, service: int, step: Step) -> None:
        notes.fix = (kind, service)
        notes.applied, notes.validated = False, False
        notes.step = step

    @staticmethod
    def _alerting_own(view: View) -> list[int]:
        """Alerting services that are ours (a third-party provider has no changes or restarts)."""
        return [int(s) for s in np.flatnonzero(view.alerting & (view.kind != ServiceKind.EXTERNAL))]

    # --- act and validate ---------------------------------------------------------------------
    def apply_known(self, view: View, mask: np.ndarray, notes: RunbookNotes) -> int | None:
        return self._apply(view, mask, notes, next_step=Step.CHANGES)

    def apply_rollback(self, view: View, mask: np.ndarray, notes: RunbookNotes) -> int | None:
        return self._apply(view, mask, notes, next_step=Step.RESTART)

    def _apply(self, view: View, mask: np.ndarray, notes: RunbookNotes, next_step: Step) -> int | None:
        """Escalate as needed, apply ``notes.fix``, validate; resolve if healthy. None when this
        step of the runbook is over and the next one (``next_step``) should run."""
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
            return self._confirm_and_resolve(view)
        notes.step = next_step
        return None

    # --- close -------------------------------------------------------------------------------
    def close(self, view: View, mask: np.ndarray, notes: RunbookNotes) -> int:
        """The last remedy's validation (if not done yet), then resolve whatever it says."""
        step = self._apply(view, mask, notes, next_step=Step.CLOSE)
        return step if step is not None else self._confirm_and_resolve(view)

    def _confirm_and_resolve(self, view: View) -> int:
        """Ask the customer once, then resolve whatever they answer."""
        if view.customer == CUSTOMER_NONE:
            return self.desk.act(ActionKind.ASK_CUSTOMER)
        return self.desk.act(ActionKind.RESOLVE)


#: Each step's handler.
STEPS: dict[Step, Handler] = {
    Step.DECLARE: RunbookAgent.declare,
    Step.SEARCH_KB: RunbookAgent.search_kb,
    Step.ROUTE: RunbookAgent.route,
    Step.KNOWN_ISSUE: RunbookAgent.known_issue,
    Step.APPLY_KNOWN: RunbookAgent.apply_known,
    Step.CHANGES: RunbookAgent.changes,
    Step.APPLY_ROLLBACK: RunbookAgent.apply_rollback,
    Step.RESTART: RunbookAgent.restart,
    Step.APPLY_RESTART: RunbookAgent.close,  # the last remedy: validate, then close
    Step.CLOSE: RunbookAgent.close,
}
