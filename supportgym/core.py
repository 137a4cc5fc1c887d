"""One step of a batch of incidents: ``step(params, state, table, actions, rng)``.

The pure simulation core behind the ``gym.Env`` shell (and any batched front end). It reads top
to bottom as the support loop: decode the action, let the world run for its duration (signal),
apply its effect (triage, diagnosis, action, validation: for one row only one of these runs),
raise alerts, then account the reward and close what ended. ``state`` is updated in place; every array has a leading batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from supportgym import reward as rewards
from supportgym.contract.actions import ActionTable
from supportgym.observe import refresh
from supportgym.rng import RowStreams, read_streams, write_stream
from supportgym.stages import action, diagnosis, triage, validation
from supportgym.stages.signal import signals, update_alerts
from supportgym.world.mechanisms import advance
from supportgym.world.params import Params
from supportgym.world.state import State


@dataclass
class StepResult:
    reward: np.ndarray  # (B,) float
    terminated: np.ndarray  # (B,) bool: resolved (whether or not it held)
    truncated: np.ndarray  # (B,) bool: time limit
    invalid: np.ndarray  # (B,) bool: the action was masked and did nothing
    harmful: np.ndarray  # (B,) bool
    minutes: np.ndarray  # (B,) simulated minutes the action took


def action_mask(p: Params, s: State) -> np.ndarray:
    """(B, A) bool: actions allowed now (``contract.actions.tier_masks`` and ``severity_gate``)."""
    return action.allowed(p, s)


#: The kinds of action whose outcome is drawn (noisy readings, whether the customer answers).
DRAWING = diagnosis.DRAWING | validation.DRAWING


def step(p: Params, s: State, table: ActionTable, actions: np.ndarray,
         rng: np.random.Generator | np.ndarray) -> StepResult:
    """Advance every row of ``s`` by its action (B,). ``rng``: one generator the rows draw from in
    row order (a single env's ``np_random``), or a (B, ``rng.STREAM_WORDS``) array of one stream
    per row (a vector env's, each read from the generator a single env would have, so a row
    equals a single env); either advances by exactly what was drawn."""
    rows = np.arange(len(actions))
    # 0. What was chosen, and for how long. Branches test the set of kinds, not arrays: most
    #    steps skip most of the work below.
    act = action.decode(p, s, table, actions)
    kind, target, minutes = act.kind, act.target, act.minutes
    kinds = set(kind.tolist())
    streams = _row_streams(rng, len(rows)) if not kinds.isdisjoint(DRAWING) else None
    tier, declared = s.tier.copy(), s.declared.copy()  # the action costs the old rates (triage writes in place)
    # A validation watches the whole window: healthy at its start and at its end.
    healthy_before = None
    if validation.VALIDATE in kinds:
        healthy_before = validation.healthy(signals(p, s, rows=rows[kind == validation.VALIDATE]))

    # 1. Signal: the world moves on while the action runs (a restart takes its service down).
    advance(s, minutes)
    disrupting = not kinds.isdisjoint(action.DISRUPTIVE)
    sig = signals(p, s, target, act.capacity_during) if disrupting else signals(p, s)
    impact_during = sig.impact  # users hurt while the action ran (a restart's outage included)

    # 2. Triage: declared severity, category and routing, escalation.
    if not kinds.isdisjoint(triage.KINDS):
        triage.triage(s, kind)
    # 3. Diagnosis: what the checks find (a row's own signals; other rows' remedies do not touch them).
    if not kinds.isdisjoint(diagnosis.KINDS):
        diagnosis.diagnose(p, s, sig, kind, target, streams)
    # 4. Action: a remedy changes the hidden mechanisms when it completes.
    harmful = np.zeros(len(rows), dtype=bool)
    remedying = not kinds.isdisjoint(action.KINDS)
    if remedying:
        harmful = action.apply_remedies(s, kind, target)
    if remedying or disrupting:  # only the rows whose world (or capacity) changed need new signals
        changed = action.INTERVENES[kind] | (act.capacity_during < 1.0)
        sig = signals(p, s, rows=rows[changed], base=sig)
    # 5. Validation: healthy at the start and at the end of the watch; or the customer's word.
    if validation.VALIDATE in kinds:
        validation.validate(s, rows[kind == validation.VALIDATE], healthy_before, validation.healthy(sig))
    if validation.ASK_CUSTOMER in kinds:
        validation.ask_customer(s, sig, rows[kind == validation.ASK_CUSTOMER], streams)
    # The alerts the world now raises.
    update_alerts(p, s, sig, minutes)

    # Reward and episode ends; a resolution runs the hold window.
    reward, truncated = np.empty(len(rows)), np.empty(len(rows), dtype=bool)
    ended = rewards.account(p, s, kind, minutes, impact_during, sig.impact, tier, declared, harmful, act.valid,
                            reward, truncated)
    resolving = np.zeros(len(rows), dtype=bool)
    if ended:
        resolving = kind == validation.RESOLVE
        extra = rewards.end_reward(p.reward_weights, resolving | truncated, truncated, s.declared, s.declared_peak,
                                   s.peak_impact)
        if validation.RESOLVE in kinds:
            window_impact, held = validation.close(p, s, resolving)
            extra += rewards.resolution_reward(p.reward_weights, resolving, held, window_impact,
                                               validation.unconfirmed(s))
        reward += extra
        s.episode_return += extra
    invalid = ~act.valid
    refresh(p, s, invalid)
    if streams is not None and isinstance(rng, np.random.Generator):
        write_stream(rng, streams.streams[0])  # the generator continues after what was drawn
    return StepResult(reward, resolving, truncated, invalid, harmful, minutes)


def _row_streams(rng: np.random.Generator | np.ndarray, batch: int) -> RowStreams:
    if isinstance(rng, np.random.Generator):
        return RowStreams(read_streams([rng]), np.zeros(batch, dtype=np.int64))
    return RowStreams(rng, np.arange(batch))
