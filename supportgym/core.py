"""One step of a batch of incidents: ``step(params, state, actions, rng)``.

The pure simulation core behind the ``gym.Env`` shell (and any batched front end): it decodes
the actions, gates them by tier, lets the world run for the actions' duration, applies their
effects, records what the agent learns, and returns rewards and episode ends. ``state`` is
updated in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from supportgym import interventions
from supportgym.catalog import CAPACITY_DURING, INTERVENTIONS, ActionKind
from supportgym.dynamics import (
    REOPEN_IMPACT,
    advance,
    fault_active,
    healthy,
    signals,
)
from supportgym.kernels import account_kernel, decode_kernel
from supportgym.observe import (
    record_changes,
    record_kb,
    record_logs,
    record_metrics,
    record_traces,
    refresh,
    update_alerts,
    write_desk,
    write_validation,
)
from supportgym.params import ActionTable, Params
from supportgym.reward import end_reward, resolution_reward
from supportgym.state import State

_POST_RESOLUTION_CHUNKS = 4
_CHECKS = {
    int(ActionKind.CHECK_METRICS): record_metrics,
    int(ActionKind.CHECK_LOGS): record_logs,
    int(ActionKind.CHECK_TRACES): record_traces,
}
_ESCALATE, _VALIDATE, _RESOLVE = int(ActionKind.ESCALATE), int(ActionKind.VALIDATE), int(ActionKind.RESOLVE)
_CHECK_CHANGES, _SEARCH_KB = int(ActionKind.CHECK_CHANGES), int(ActionKind.SEARCH_KB)
_DECLARE_SEV1, _DECLARE_SEV3 = int(ActionKind.DECLARE_SEV1), int(ActionKind.DECLARE_SEV3)
_DESK = {_ESCALATE, *range(_DECLARE_SEV1, _DECLARE_SEV3 + 1)}
_INTERVENTIONS = {int(k) for k in INTERVENTIONS}
_DISRUPTIVE = {int(k) for k in ActionKind if CAPACITY_DURING[k] < 1.0}


@dataclass
class StepResult:
    reward: np.ndarray  # (B,) float
    terminated: np.ndarray  # (B,) bool: resolved (whether or not it held)
    truncated: np.ndarray  # (B,) bool: time limit
    invalid: np.ndarray  # (B,) bool: the action was masked and did nothing
    harmful: np.ndarray  # (B,) bool
    minutes: np.ndarray  # (B,) simulated minutes the action took


def action_mask(p: Params, s: State) -> np.ndarray:
    """(B, A) bool: actions allowed now (``params.tier_masks`` and ``params.severity_gate``)."""
    return p.mask_table[np.arange(len(s.tier)), s.tier - 1, s.declared]


def step(p: Params, s: State, table: ActionTable, actions: np.ndarray, rng: np.random.Generator) -> StepResult:
    batch = len(actions)
    rows = np.arange(batch)
    kind, target = np.empty(batch, dtype=np.int64), np.empty(batch, dtype=np.int64)
    valid, minutes, capacity_during = np.empty(batch, dtype=bool), np.empty(batch), np.empty(batch)
    decode_kernel(actions, s.tier, s.declared, p.mask_table, table.kind, table.service, p.validate_minutes, kind,
                  target, valid, minutes, capacity_during)
    # Branches test this small set, not arrays: most steps skip most of the work below.
    kinds = set(kind.tolist())
    tier, declared = s.tier, s.declared  # the cost of this action is at the old rates
    # A validation watches the whole window: healthy at its start and at its end.
    healthy_before = healthy(signals(p, s)) if _VALIDATE in kinds else None

    advance(s, minutes)
    disrupting = not kinds.isdisjoint(_DISRUPTIVE)
    sig = signals(p, s, target, capacity_during) if disrupting else signals(p, s)
    impact_during = sig.impact  # users hurt while the action ran (a restart's outage included)

    harmful = np.zeros(len(rows), dtype=bool)
    if not kinds.isdisjoint(_INTERVENTIONS):
        harmful = interventions.apply(s, kind, target)
        sig = signals(p, s)
    elif disrupting:
        sig = signals(p, s)

    for check, record in _CHECKS.items():
        if check in kinds:
            sel = kind == check
            record(p, s, sig, rows[sel], target[sel], rng)
    if _CHECK_CHANGES in kinds:
        sel = kind == _CHECK_CHANGES
        record_changes(s, rows[sel], target[sel])
    if _SEARCH_KB in kinds:
        record_kb(s, rows[kind == _SEARCH_KB])
    if not kinds.isdisjoint(_DESK):
        declaring = (kind >= _DECLARE_SEV1) & (kind <= _DECLARE_SEV3)
        escalating = kind == _ESCALATE
        s.declared = np.where(declaring, kind - _DECLARE_SEV1 + 1, s.declared)
        first_or_worse = declaring & ((s.declared_peak == 0) | (s.declared < s.declared_peak))
        s.declared_peak = np.where(first_or_worse, s.declared, s.declared_peak)
        s.tier = s.tier + escalating
        s.escalations = s.escalations + escalating
        write_desk(s)
    if _VALIDATE in kinds:
        vrows = rows[kind == _VALIDATE]
        result = healthy_before[vrows] & healthy(sig)[vrows]
        s.validated[vrows] = result
        s.validation_time[vrows] = s.time[vrows]
        write_validation(s, np.where(result, 1, 2), vrows)

    update_alerts(p, s, sig, minutes)
    reward, truncated = np.empty(len(rows)), np.empty(len(rows), dtype=bool)
    ended = account_kernel(kind, minutes, impact_during, sig.impact, tier, declared, harmful, valid,
                           p.reward_weights, s.time, p.time_limit, s.impact_now, s.impact_minutes, s.peak_impact,
                           s.mitigated_at, s.harmful, s.invalid, s.steps, s.episode_return, reward, truncated)
    resolving = np.zeros(len(rows), dtype=bool)
    if ended:
        resolving = kind == _RESOLVE
        extra = end_reward(p.reward, resolving | truncated, truncated, s.declared, s.declared_peak, s.peak_impact)
        if _RESOLVE in kinds:
            window_impact, held = _post_resolution(p, s, resolving)
            s.impact_minutes += window_impact
            s.resolved_at = np.where(resolving, s.time - p.post_resolution, s.resolved_at)
            s.held |= held
            s.reopened |= resolving & ~held
            extra += resolution_reward(p.reward, resolving, held, window_impact)
        reward += extra
        s.episode_return += extra
    invalid = ~valid
    refresh(p, s, invalid)
    return StepResult(reward, resolving, truncated, invalid, harmful, minutes)


def _post_resolution(p: Params, s: State, resolving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run the post-resolution window for the rows that resolved. Returns its impact minutes and
    whether each resolution held: no fault at work at the close or at the end of the window
    (a restarted leak still leaks), and no user impact above the reopen level in between."""
    chunk = np.where(resolving, p.post_resolution / _POST_RESOLUTION_CHUNKS, 0.0)
    previous = s.impact_now
    worst = previous.copy()
    total = np.zeros(len(resolving))
    active = fault_active(s, signals(p, s))
    for _ in range(_POST_RESOLUTION_CHUNKS):
        advance(s, chunk)
        sig = signals(p, s)
        total += chunk * 0.5 * (previous + sig.impact)
        worst = np.maximum(worst, sig.impact)
        previous = sig.impact
    active |= fault_active(s, sig)
    held = resolving & ~active & (worst < REOPEN_IMPACT)
    return total, held
