"""The naive agent: restart whatever alerts, then close the incident."""

from __future__ import annotations

import numpy as np

from agents.rule import RuleAgent
from agents.view import View
from supportgym.contract.vocabulary import ActionKind


class NaiveAgent(RuleAgent):
    """Restarts every service that is alerting (each once), then resolves. No diagnosis, no
    escalation, no severity, no validation: the panic button."""

    name = "naive"

    def new_memory(self, obs: np.ndarray) -> set[int]:
        return set()  # services restarted so far

    def act(self, view: View, mask: np.ndarray, memory: set[int]) -> int:
        for service in np.flatnonzero(view.alerting):
            restart = self.desk.act(ActionKind.RESTART, int(service))
            if service not in memory and mask[restart]:
                memory.add(int(service))
                return restart
        return self.desk.act(ActionKind.RESOLVE)
