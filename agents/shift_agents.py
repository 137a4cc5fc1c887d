"""Baselines for the on-call shift (``supportgym/Shift-v0``): the expert, with three closure habits.

Every one works each incident as :class:`~agents.expert.ExpertAgent` does (on the incident part of
the observation) and differs only between incidents:

* ``shift-expert``: no learning; takes the next incident at once.
* ``shift-expert+rca``: always writes an RCA naming the service it remedied last and the remedy
  it used (what its own notes say fixed it).
* ``shift-learning-expert``: the RCA; then, when a service it remedied comes back, it estimates
  how often it will recur in the rest of the shift (its count so far per slot, times the slots
  left) and fixes it for good if that is at least ``FIX_RECURRENCES``, else automates the fix if
  at least ``AUTOMATE_RECURRENCES``. The thresholds come from the standard shift's costs: an
  incident the expert works costs about 4.5, 4 with a right RCA, 2 automated; automation costs
  1.2 (pays after about half a recurrence), a permanent fix 7.2 (beats automation past
  (7.2 - 1.2) / 2 = 3 recurrences).

They read only observations (``supportgym.shift.layout``) and keep their memory (the expert's
casebook, what they remedied where) in SB3's ``state`` slot, like the other rule-based agents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from agents.casebook import Casebook
from agents.expert import ExpertAgent
from agents.playbook import KB_DIAGNOSIS
from agents.view import Desk, View
from supportgym.contract.actions import ActionTable
from supportgym.contract.observation import ObservationLayout
from supportgym.contract.vocabulary import DONE, INTERVENTIONS, KB_REMEDIES, REMEDY_NAMES, ActionKind, LogClass
from supportgym.shift.layout import SGF, SSF, ShiftLayout

#: Closure habits of the baselines.
MODES = ("none", "rca", "learning")
#: The learning expert acts on a recurrence (a service it has remedied at least twice): it fixes it
#: for good if it expects this many more recurrences in the shift, else automates at this many.
FIX_RECURRENCES = 3.0
AUTOMATE_RECURRENCES = 0.5


@dataclass
class ShiftMemory:
    """A shift agent's notes: the expert's casebook for the incident, and what it learnt."""

    book: Casebook | None = None
    in_closure: bool = False
    plan: list[int] = field(default_factory=list)  # closure actions still to take
    remedied: dict[int, int] = field(default_factory=dict)  # service -> incidents it fixed there
    diagnosis: dict[int, LogClass] = field(default_factory=dict)  # service -> what the RCA said was wrong


class ShiftExpertAgent:
    """The expert on every incident, with a closure habit (``MODES``)."""

    def __init__(self, layout: ShiftLayout, mode: str = "none"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.layout, self.mode = layout, mode
        self.name = {"none": "shift-expert", "rca": "shift-expert+rca", "learning": "shift-learning-expert"}[mode]
        n = layout.max_services
        self.expert = ExpertAgent(Desk(ObservationLayout(n), ActionTable.build(n)))

    @classmethod
    def of(cls, env: gym.Env, mode: str = "none") -> ShiftExpertAgent:
        return cls(ShiftLayout(int(env.unwrapped.layout.max_services)), mode)

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True, action_masks: np.ndarray | None = None) -> tuple[np.ndarray, Any]:
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        batch = obs[None] if single else obs
        n = len(batch)
        masks = None if action_masks is None else np.asarray(action_masks, bool).reshape(n, -1)
        starts = np.zeros(n, bool) if episode_start is None else np.broadcast_to(np.asarray(episode_start), (n,))
        memories = [None] * n if state is None else list(state)
        actions = np.empty(n, dtype=np.int64)
        for i in range(n):
            if memories[i] is None or starts[i]:
                memories[i] = ShiftMemory()
            actions[i] = self.act(batch[i], None if masks is None else masks[i], memories[i])
        return (np.array(actions[0]) if single else actions), tuple(memories)

    def act(self, obs: np.ndarray, mask: np.ndarray | None, memory: ShiftMemory) -> int:
        lay = self.layout
        if lay.closure_phase(obs):
            if not memory.in_closure:
                memory.in_closure = True
                memory.plan = self._plan(obs, memory)
            while memory.plan:
                action = memory.plan.pop(0)
                if mask is None or mask[action]:
                    return action
            return lay.next_incident
        inc = lay.incident_obs(obs)
        if memory.book is None or memory.in_closure:
            memory.in_closure = False
            memory.book = self.expert.new_memory(inc)
            if lay.globals(obs)[SGF["auto_remediated"]] > 0.5:
                self._note_automation(obs, memory)
        inc_mask = self.expert.desk.mask_from_observation(inc) if mask is None else mask[: lay.n_incident_actions]
        return self.expert.act(View(self.expert.desk.layout, inc), inc_mask, memory.book)

    def _note_automation(self, obs: np.ndarray, memory: ShiftMemory) -> None:
        """The automation already applied the knowledge base's fix: note it as the expert's own
        remedy, so the expert validates (and checks a leak's trend) before looking further."""
        view = View(self.expert.desk.layout, self.layout.incident_obs(obs))
        auto = self.layout.services(obs)[:, SSF["automated"]] > 0.5
        for s in np.flatnonzero(auto & (view.done.max(axis=1) > 0.0)):
            kind = INTERVENTIONS[int(np.argmax(view.done[s]))]
            book = memory.book
            book.remedies.append((int(kind), int(s)))
            book.diagnosis[int(s)] = memory.diagnosis.get(int(s), KB_DIAGNOSIS.get(kind, LogClass.NORMAL))
            book.to_validate = True
            book.kb_used = True

    def _plan(self, obs: np.ndarray, memory: ShiftMemory) -> list[int]:
        """The closure work after an incident, from the expert's notes on it."""
        book, lay = memory.book, self.layout
        if self.mode == "none" or book is None or not book.remedies:
            return [lay.next_incident]
        kind, service = book.remedies[-1]
        remedy = KB_REMEDIES.index(next(name for name, k in REMEDY_NAMES.items() if k == kind))
        memory.remedied[service] = memory.remedied.get(service, 0) + 1
        if service in book.diagnosis:
            memory.diagnosis[service] = book.diagnosis[service]
        shift = lay.services(obs)
        plan = []
        if lay.kb_entry(obs)[service] != remedy:
            plan.append(lay.rca(service, remedy))
        count = memory.remedied[service]
        if self.mode == "learning" and count >= 2 and shift[service, SSF["fixed"]] < 0.5:
            done = max(float(lay.globals(obs)[SGF["slot"]]), 1e-6)  # share of the slots so far
            expected = count * (1.0 - done) / done  # the rate so far, over the slots left
            if expected >= FIX_RECURRENCES:
                plan.append(lay.permanent_fix(service))
            elif (expected >= AUTOMATE_RECURRENCES and shift[service, SSF["automated"]] < 0.5
                  and kind != ActionKind.WAIT):
                plan.append(lay.automate(service))
        plan.append(lay.next_incident)
        return plan


SHIFT_AGENTS = {"shift-expert": "none", "shift-expert+rca": "rca", "shift-learning-expert": "learning"}


def make_shift_agent(name: str, env: gym.Env) -> ShiftExpertAgent:
    """A shift baseline by name (``SHIFT_AGENTS``)."""
    if name not in SHIFT_AGENTS:
        raise ValueError(f"unknown shift agent {name!r}: use one of {', '.join(SHIFT_AGENTS)}")
    return ShiftExpertAgent.of(env, SHIFT_AGENTS[name])


assert DONE and len(INTERVENTIONS) == len(DONE)


class TrainedClosureAgent:
    """A trained closure policy (``train_shift.py``) with the expert on the incidents.

    The policy decides only in the closure phase (its action masks allow only closure work
    there); every incident action is the expert's, as in the ``ExpertIncidents`` wrapper it was
    trained in. ``model`` is anything with SB3's ``predict(obs, deterministic=, action_masks=)``.
    """

    name = "trained-closure"

    def __init__(self, model: Any, layout: ShiftLayout):
        self.model, self.layout = model, layout
        self.expert = ShiftExpertAgent(layout, "none")

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True, action_masks: np.ndarray | None = None) -> tuple[np.ndarray, Any]:
        obs = np.asarray(observation, dtype=np.float32)
        if obs.ndim != 1:
            raise ValueError("TrainedClosureAgent plays one shift at a time")
        memory = state[0] if state is not None and not (episode_start is not None and np.any(episode_start)) else None
        memory = memory or ShiftMemory()
        if self.layout.closure_phase(obs):
            memory.in_closure = True  # the expert starts a new casebook at the next incident
            mask = None if action_masks is None else np.asarray(action_masks, bool)[None]
            action, _ = self.model.predict(obs[None], deterministic=deterministic, action_masks=mask)
            return np.array(int(np.asarray(action).reshape(-1)[0])), (memory,)
        return np.array(self.expert.act(obs, None if action_masks is None else np.asarray(action_masks, bool),
                                        memory)), (memory,)
