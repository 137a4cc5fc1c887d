"""The ``supportgym/Shift-v0`` environment: an on-call shift over an inner Incident-v1 environment."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from supportgym.contract.observation import DONE_BLOCK
from supportgym.contract.vocabulary import (
    DEFAULT_MAX_SERVICES,
    KB_REMEDIES,
    MIN_TIER,
    REMEDIES,
    REMEDY_NAMES,
    ActionKind,
    ServiceKind,
)
from supportgym.env import IncidentEnv, action_index
from supportgym.episode import weight_array
from supportgym.journal import Journal
from supportgym.observe import refresh
from supportgym.render import render_ansi
from supportgym.reward import W_ENGINEER, W_INVALID
from supportgym.shift.layout import (
    AUTOMATE,
    N_KB,
    NEXT,
    PERMANENT_FIX,
    RCA,
    SGF,
    SHIFT_GF,
    SHIFT_SF,
    SSF,
    TUNE_ALERT,
    ShiftLayout,
)
from supportgym.stages.signal import signals, update_alerts
from supportgym.suite import Scenario
from supportgym.suite.shift import ShiftSystem, load_shift_suite
from supportgym.world.faults import FAULTS

INCIDENT, CLOSURE = 0, 1


@dataclass
class Knowledge:
    """What the team has learnt so far this shift, per service slot."""

    kb: np.ndarray  # (N,) remedy index an RCA wrote, -1 none
    automated: np.ndarray  # (N,) bool
    fixed: np.ndarray  # (N,) bool: permanently fixed
    tuned: np.ndarray  # (N,) bool: alert rules fixed
    remedied: np.ndarray  # (N,) incidents in which a remedy was applied there

    @classmethod
    def empty(cls, n: int) -> Knowledge:
        return cls(np.full(n, -1), np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool), np.zeros(n))


@dataclass
class ShiftLog:
    """The shift's record: one entry per incident and per piece of closure work."""

    incidents: list[dict[str, Any]] = field(default_factory=list)
    closure: list[dict[str, Any]] = field(default_factory=list)
    quiet_slots: int = 0
    invalid: int = 0


class ShiftEnv(gym.Env):
    """Work an on-call shift: several incidents on one system whose latent weaknesses recur.

    ## Description
    The Learning stage of the support loop. One episode is a shift of ``incidents`` slots (16 in
    the standard shift) on one system (a topology of an incident suite, drawn by weight), which
    carries a few latent **weaknesses** (a fault type pinned to a service: a latent bug in
    checkout, a memory leak in catalog, ...). Each slot draws, with the shift file's rates, a
    weakness still active (it recurs until a permanent fix of its service), a one-off incident (a
    scenario of the topology, by the incident suite's weights) or nothing (a quiet slot, skipped);
    the first slot always opens an incident. Each incident is an Incident-v1 episode run by an
    inner :class:`~supportgym.env.IncidentEnv` (the same world core, not a copy) with the shift's
    knowledge applied to its fresh state. After it ends (resolved, or out of time) comes a
    **closure phase**: closure work, each with an engineer-time cost, until "next incident":

    * **RCA** (service, remedy): the knowledge base now suggests that remedy on that service for
      any later incident whose fault sits there (it replaces the suite's known issue there). If it
      names the weakness's lasting fix, the recurrence is a known issue with the right fix; if not,
      the knowledge base misleads, as a stale runbook does.
    * **automate** (service, needs an RCA there that names an intervention): when an incident's
      fault sits on the service, the knowledge base's fix runs by itself as the incident opens
      (through the core, at no engineer cost; its user-impact minutes count). The on-call still
      validates and closes: a short incident if the RCA was right, a harmful remedy if not.
    * **permanent fix** (service, L3, expensive): the weaknesses on the service stop recurring.
    * **tune alerts** (service): no broken alert rules or false alarms there from then on.

    ## Action space
    ``Discrete(I + max_services * 9 + 1)`` with ``I = max_services * 10 + 15`` Incident-v1's
    actions: those first, then RCA per (service, remedy) (``KB_REMEDIES`` order: restart,
    rollback, scale out, hotfix, failover, wait), automate, permanent fix and tune alerts per
    service, and "next incident" (``supportgym.shift.layout.ShiftLayout`` names them).
    ``action_masks()`` / ``info["action_mask"]`` enforce the phases: during an incident its own
    mask (closure actions masked); during closure only closure work (RCA on a present service with
    a remedy other than its current entry; automate where an RCA names an intervention and it is
    not automated or fixed; permanent fix on a present, unfixed service that is not a third-party
    provider; tune alerts on an untuned present service; next incident always), and only "next
    incident" once ``closure.max_actions`` closure actions were taken. A masked action does nothing
    and costs ``invalid_action`` (during an incident, the inner environment's masked step).

    ## Observation space
    ``Box(0, 1, (O + max_services * 10 + 5,), float32)``: Incident-v1's observation (``O`` long;
    during closure the last incident's final observation, with its evidence and remedies, to name
    an RCA from), then per service slot the shift's knowledge (the RCA's remedy one-hot, automated,
    fixed, alerts tuned, incidents with a remedy there as a share of the slots), then the slot
    index share, the closure-phase flag, closure actions used (share of the cap), whether
    automation ran at this incident's open, and incidents so far (share). Which weakness an
    incident is never shows.

    ## Rewards
    The sum of the incidents' Incident-v1 rewards (user impact, engineer time, harm, the
    resolution's outcome, the end penalties) plus closure work's engineer time: its minutes times
    the incident suite's ``engineer_per_minute`` at the work's tier (RCA 30 min at L2, automate 60
    at L2, permanent fix 180 at L3, tune alerts 20 at L1 in the standard shift). A shift file may
    override the incidents' reward weights: the standard shift sets ``resolve_bonus: 0``, since a
    per-incident prize would make incidents pay and fixing them for good cost. So learning pays
    only when it pays off later in the shift.

    ## Starting state
    A system is drawn by weight; the first incident is drawn among the system's weaknesses and the
    one-off (by their rates) and opened as in Incident-v1; the knowledge base holds only the
    incident suite's known issues. All draws use the env's ``np_random`` (shared with the inner
    environment), so the seed alone fixes the shift.

    ## Episode end
    Terminated when "next incident" is taken after the last slot's incident (remaining slots that
    draw quiet end the shift too); ``info["episode_metrics"]`` then holds the shift's metrics
    (return, per-incident records with time to resolve, closure work). An incident's end is not
    the episode's: ``info["incident_metrics"]`` holds its Incident-v1 metrics. Truncated after
    ``max_steps`` steps (a guard; a sound policy never reaches it).

    ## Arguments
    ``gym.make("supportgym/Shift-v0", suite="standard", max_services=16, incidents=None,
    render_mode=None)``: ``suite`` is a built-in shift file (``scenarios/shifts/<name>.yaml``) or a
    path; ``incidents`` overrides its slot count; ``render_mode="ansi"`` returns the incident's text
    view with a line on the shift.

    ## Version history
    * v0: initial release.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, suite: str | Path = "standard", max_services: int = DEFAULT_MAX_SERVICES,
                 incidents: int | None = None, render_mode: str | None = None):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, not {render_mode!r}")
        if incidents is not None and not (isinstance(incidents, int) and 1 <= incidents <= 50):
            raise ValueError(f"incidents must be an integer from 1 to 50, not {incidents!r}")
        self.suite = load_shift_suite(suite, max_services)
        self.incidents = incidents or self.suite.incidents
        self.render_mode = render_mode
        self.inner = IncidentEnv(self.suite.incident_suite.source, max_services)
        # The inner environment opens the shift's incident templates by name.
        self.inner._use_suite(replace(self.inner.suite, scenarios=self.suite.scenarios))  # its noise overrides
        self.layout = ShiftLayout(max_services)
        self.n_incident_actions = self.layout.n_incident_actions
        self.observation_space = spaces.Box(0.0, 1.0, (self.layout.obs_size,), np.float32)
        self.action_space = spaces.Discrete(self.layout.n_actions)
        self.weights = weight_array(self.suite.reward)
        self.action_names = self.inner.action_names + self._closure_names(self.inner.scenario.topology.names)
        self.system: ShiftSystem = self.suite.systems[0]
        self.knowledge = Knowledge.empty(max_services)
        self.log = ShiftLog()
        self._obs = np.zeros(self.layout.obs_size, np.float32)
        self._phase = INCIDENT
        self._active: list[bool] = []
        self._where: list[str] = []
        self._slot = 0
        self._closure_used = 0
        self._auto = False
        self._record: dict[str, Any] = {}
        self._steps = 0
        self._return = 0.0
        self._started = False
        self._done = False

    # --- the gym API -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options:
            raise ValueError(f"unknown reset option(s) {sorted(options)}; Shift-v0 takes none")
        self.inner.np_random = self.np_random  # one generator for the whole shift
        weights = np.array([s.weight for s in self.suite.systems])
        self.system = self.suite.systems[int(self.np_random.choice(len(weights), p=weights / weights.sum()))]
        self.knowledge = Knowledge.empty(self.layout.max_services)
        self.log = ShiftLog()
        # Where each weakness sits this shift (drawn when the file lists several services).
        self._where = [w.services[int(self.np_random.integers(len(w.services)))] for w in self.system.weaknesses]
        self._active = [True] * len(self.system.weaknesses)
        self._slot, self._steps, self._return = 0, 0, 0.0
        self._started, self._done = True, False
        names = self.system.one_offs[0].topology.names
        self.action_names = self.inner._action_names(self.system.one_offs[0]) + self._closure_names(names)
        reward = self._open(self._draw(first=True))
        self._return += reward  # an automated first remedy cannot happen (no knowledge yet): 0
        return self._observe(), {"action_mask": self.action_masks()}

    def step(self, action):
        if not self._started or self._done:
            raise RuntimeError("call reset() before step(): " + ("the shift has ended" if self._done else "no shift"))
        a = action_index(action, self.layout.n_actions)
        self._steps += 1
        info: dict[str, Any] = {}
        terminated = False
        invalid = shift_invalid = False
        if self._phase == INCIDENT:
            if a < self.n_incident_actions:
                _, reward, ended, out_of_time, inner_info = self.inner.step(a)
                info["minutes"] = inner_info["minutes"]
                invalid = inner_info["invalid_action"]
                if ended or out_of_time:
                    info["incident_metrics"] = self._close_incident(inner_info["episode_metrics"])
            else:
                reward, invalid = -float(self.weights[W_INVALID]), True
                shift_invalid = True
        else:
            if a < self.n_incident_actions or not self._closure_mask()[a - self.n_incident_actions]:
                reward, invalid = -float(self.weights[W_INVALID]), True
                shift_invalid = True
                self._closure_used += 1
            else:
                kind, service, remedy = self.layout.decode(a)
                if kind == NEXT:
                    scenario = self._draw()
                    if scenario is None:
                        reward, terminated = 0.0, True
                    else:
                        reward = self._open(scenario)
                else:
                    reward = self._work(kind, service, remedy)
        if shift_invalid:  # the inner environment counts its own
            self.log.invalid += 1
        info["invalid_action"] = bool(invalid)
        self._return += reward
        truncated = not terminated and self._steps >= self.suite.max_steps
        self._done = terminated or truncated
        info["action_mask"] = self.action_masks()
        if self._done:
            info["episode_metrics"] = self.episode_metrics()
        return self._observe(), float(reward), terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """Allowed actions now, as sb3-contrib's MaskablePPO expects."""
        mask = np.zeros(self.layout.n_actions, dtype=bool)
        if not self._started or (self._phase == INCIDENT and not self._done):
            mask[: self.n_incident_actions] = self.inner.action_masks()
        else:
            mask[self.n_incident_actions:] = self._closure_mask()
        return mask

    def render(self):
        if self.render_mode != "ansi":
            return None
        k = self.knowledge
        names = self.system.one_offs[0].topology.names
        kb = ", ".join(f"{names[s]}: {KB_REMEDIES[k.kb[s]]}" for s in np.flatnonzero(k.kb >= 0)) or "none"
        head = (f"shift on {self.system.name}: slot {self._slot}/{self.incidents}, "
                f"{'closure' if self._phase == CLOSURE else 'incident'} phase, return {self._return:.2f}\n"
                f"  RCAs: {kb}; automated: {self._names(k.automated)}; fixed: {self._names(k.fixed)}; "
                f"alerts tuned: {self._names(k.tuned)}\n")
        return head + render_ansi(self.inner.state, None, names, self.inner.timeline)

    def episode_metrics(self) -> dict[str, Any]:
        """The shift's metrics as they stand (at its end, ``info["episode_metrics"]``). They name
        each incident's weakness, so an agent must not read them before the end."""
        incidents = self.log.incidents
        ttr = [r["time_to_resolve"] for r in incidents]
        return {
            "scenario": self.system.name,
            "return": float(self._return),
            "incidents": len(incidents),
            "quiet_slots": self.log.quiet_slots,
            "resolved_and_held": sum(bool(r["resolved_and_held"]) for r in incidents),
            "mean_time_to_resolve": float(np.nanmean(ttr)) if any(not math.isnan(t) for t in ttr) else math.nan,
            "incident_return": float(sum(r["return"] for r in incidents)),
            "closure_cost": float(sum(w["cost"] for w in self.log.closure)),
            "closure": {kind: sum(w["kind"] == kind for w in self.log.closure)
                        for kind in (RCA, AUTOMATE, PERMANENT_FIX, TUNE_ALERT)},
            "correct_rcas": sum(bool(w.get("correct")) for w in self.log.closure if w["kind"] == RCA),
            "weaknesses_fixed": sum(not a for a in self._active),
            "invalid_actions": self.log.invalid,
            "per_incident": [dict(r) for r in incidents],
            "steps": self._steps,
        }

    # --- incidents -----------------------------------------------------------------------------
    def _draw(self, first: bool = False) -> Scenario | None:
        """The next slot's incident template (skipping quiet slots), or None once the shift is over.
        The first slot is always an incident: its draw leaves out the quiet share."""
        system = self.system
        while self._slot < self.incidents:
            self._slot += 1
            rates = [w.rate if active else 0.0 for w, active in zip(system.weaknesses, self._active)]
            rates.append(system.one_off_rate)
            total = sum(rates) if first else 1.0
            u = self.np_random.random() * total
            first = False
            for k, rate in enumerate(rates):
                if u < rate:
                    if k < len(system.weaknesses):
                        return system.weaknesses[k].scenarios[self._where[k]]
                    weights = np.array([sc.weight for sc in system.one_offs])
                    return system.one_offs[int(self.np_random.choice(len(weights), p=weights / weights.sum()))]
                u -= rate
            self.log.quiet_slots += 1
        return None

    def _open(self, scenario: Scenario) -> float:
        """Open an incident with the shift's knowledge applied; the reward of its automation (0 if none)."""
        self.inner.reset(options={"scenario": scenario.name})
        s, p, k = self.inner.state, self.inner.params, self.knowledge
        self._phase, self._closure_used, self._auto = INCIDENT, 0, False
        culprit = int(s.fault_service[0, 0])
        if k.kb[culprit] >= 0:  # the RCA's entry replaces the suite's known issue where it matches
            s.kb_fix[0, culprit] = k.kb[culprit]
        tuned = k.tuned
        if tuned.any():
            s.alert_muted[0, tuned] = False
            s.false_until[0, tuned] = -np.inf
            update_alerts(p, s, signals(p, s), np.zeros(1))
        self.inner.journal = Journal.start(None, s.obs[0], float(s.impact_now[0]), self.inner.journal)
        self._record = {"slot": self._slot, "weakness": self._weakness_of(scenario), "scenario": scenario.name,
                        "service": scenario.topology.names[culprit], "fault": scenario.faults[0].type,
                        "automated": False}
        if not (k.automated[culprit] and k.kb[culprit] >= 0):
            return 0.0
        kind = REMEDY_NAMES[KB_REMEDIES[k.kb[culprit]]]
        if kind == ActionKind.WAIT:
            return 0.0
        # The automation runs the fix through the core at the tier it needs, with no engineer paid.
        tier = int(s.tier[0])
        s.tier[0] = max(tier, int(MIN_TIER[kind]))
        _, reward, _, _, info = self.inner.step(self.inner.table.index(kind, culprit))  # minutes: never the end
        s.tier[0] = tier
        refresh(p, s, np.zeros(1))
        reward += float(self.weights[W_ENGINEER + max(tier, int(MIN_TIER[kind])) - 1]) * info["minutes"]
        self._auto = True
        self._record["automated"] = True
        self._record["automation_reward"] = float(reward)
        return float(reward)

    def _weakness_of(self, scenario: Scenario) -> str | None:
        return next((w.name for w, s in zip(self.system.weaknesses, self._where) if w.scenarios[s] is scenario), None)

    def _close_incident(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """Note the incident's end and what was remedied (as the observation shows it); start closure."""
        done = self.layout.incident.services(self.inner.state.obs[0])
        self.knowledge.remedied += done[:, DONE_BLOCK].max(axis=1) > 0.0
        record = {**self._record, **{k: metrics[k] for k in ("return", "resolved_and_held", "time_to_resolve",
                                                               "time_to_mitigate", "impact_minutes", "steps",
                                                               "harmful_actions")}}
        record["return"] += record.pop("automation_reward", 0.0)
        self.log.incidents.append(record)
        self._phase, self._closure_used = CLOSURE, 0
        return dict(metrics)

    # --- closure work --------------------------------------------------------------------------
    def _closure_mask(self) -> np.ndarray:
        n, k = self.layout.max_services, self.knowledge
        mask = np.zeros(self.layout.n_closure_actions, dtype=bool)
        mask[-1] = True
        if self._phase != CLOSURE or self._closure_used >= self.suite.closure.max_actions or self._done:
            return mask
        present = self.inner.params.present[0]
        external = self.inner.params.kind[0] == ServiceKind.EXTERNAL
        rca = present[:, None] & (np.arange(N_KB)[None] != k.kb[:, None])
        mask[: n * N_KB] = rca.ravel()
        wait = REMEDIES.index(ActionKind.WAIT)
        mask[n * N_KB: n * (N_KB + 1)] = present & (k.kb >= 0) & (k.kb != wait) & ~k.automated & ~k.fixed
        mask[n * (N_KB + 1): n * (N_KB + 2)] = present & ~k.fixed & ~external
        mask[n * (N_KB + 2): n * (N_KB + 3)] = present & ~k.tuned
        return mask

    def _work(self, kind: str, service: int, remedy: int) -> float:
        """Do one piece of closure work; its reward is minus its engineer time."""
        k, c = self.knowledge, self.suite.closure
        spec = getattr(c, kind)
        entry: dict[str, Any] = {"kind": kind, "service": self.inner.scenario.topology.names[service],
                                 "after_slot": self._slot}
        weak = [w for w, s in zip(self.system.weaknesses, self._where) if s == entry["service"]]
        if kind == RCA:
            k.kb[service] = remedy
            name = KB_REMEDIES[remedy]
            entry["remedy"] = name
            entry["correct"] = any(REMEDY_NAMES[name] in FAULTS[w.fault].lasting_fixes for w in weak)
        elif kind == AUTOMATE:
            k.automated[service] = True
        elif kind == PERMANENT_FIX:
            k.fixed[service] = True
            for j, s in enumerate(self._where):
                if s == entry["service"]:
                    self._active[j] = False
            entry["weaknesses"] = len(weak)
        else:
            k.tuned[service] = True
        entry["cost"] = float(self.weights[W_ENGINEER + spec.tier - 1]) * spec.minutes
        self.log.closure.append(entry)
        self._closure_used += 1
        return -entry["cost"]

    # --- observation -----------------------------------------------------------------------------
    def _observe(self) -> np.ndarray:
        lay, k, obs = self.layout, self.knowledge, self._obs
        obs[: lay.incident.size] = self.inner.state.obs[0]
        svc = lay.services(obs)
        svc[:] = 0.0
        has = k.kb >= 0
        svc[np.flatnonzero(has), k.kb[has]] = 1.0
        svc[:, SSF["automated"]] = k.automated
        svc[:, SSF["fixed"]] = k.fixed
        svc[:, SSF["alerts_tuned"]] = k.tuned
        svc[:, SSF["remedied"]] = np.minimum(k.remedied / self.incidents, 1.0)
        g = lay.globals(obs)
        g[SGF["slot"]] = self._slot / self.incidents
        g[SGF["closure_phase"]] = float(self._phase == CLOSURE)
        g[SGF["closure_used"]] = self._closure_used / self.suite.closure.max_actions
        g[SGF["auto_remediated"]] = float(self._auto)
        g[SGF["incidents_so_far"]] = min(len(self.log.incidents) / self.incidents, 1.0)
        return obs.copy()

    # --- names ---------------------------------------------------------------------------------
    def _closure_names(self, names: tuple[str, ...]) -> list[str]:
        n = self.layout.max_services
        label = [names[s] if s < len(names) else f"slot{s}" for s in range(n)]
        return ([f"rca {label[s]} {r}" for s in range(n) for r in KB_REMEDIES]
                + [f"{kind} {label[s]}" for kind in ("automate", "permanent fix", "tune alerts") for s in range(n)]
                + ["next incident"])

    def _names(self, flags: np.ndarray) -> str:
        names = self.system.one_offs[0].topology.names
        return ", ".join(names[s] for s in np.flatnonzero(flags)) or "none"


assert len(SHIFT_SF) == N_KB + 4 and len(SHIFT_GF) == 5
