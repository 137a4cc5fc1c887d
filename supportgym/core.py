"""One step of a batch of incidents: ``step(params, state, table, actions, rng)``.

The pure simulation core behind the ``gym.Env`` shell and the vector env: one compiled call,
``step_kernel``, which reads top to bottom as the support loop: decode the action, let the world
run for its duration (signal), apply its effect (triage, diagnosis, action, validation: for one
row only one of these runs), raise alerts, then account the reward and close what ended. Each
stage's kernels live in its module (``stages``, ``reward``, ``observe``); this strings them
together without returning to Python, so a step costs one kernel call at any batch size.
``state`` is updated in place; every array has a leading batch axis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from supportgym.compiled import kernel, stamp_cache
from supportgym.contract.actions import ActionTable
from supportgym.observe import refresh_kernel
from supportgym.reward import account_kernel, end_reward_row, resolution_reward_row
from supportgym.rng import STREAM_WORDS, random, read_streams, write_stream
from supportgym.stages import action, diagnosis, triage, validation
from supportgym.stages.action import INTERVENES, by_kind, decode_kernel, remedies_kernel
from supportgym.stages.diagnosis import diagnose_kernel
from supportgym.stages.signal import alerts_kernel, signal_buffers, signals_kernel
from supportgym.stages.triage import desk_kernel, triage_kernel
from supportgym.stages.validation import (
    ask_customer_row,
    healthy_row,
    hold_window_kernel,
    record_close,
    unconfirmed_row,
    validate_row,
)
from supportgym.threads import row_ranges, run_ranges, splits
from supportgym.world.mechanisms import advance_kernel
from supportgym.world.params import ParamArrays, Params
from supportgym.world.state import State, StateArrays


@dataclass
class StepResult:
    reward: np.ndarray  # (B,) float
    terminated: np.ndarray  # (B,) bool: resolved (whether or not it held)
    truncated: np.ndarray  # (B,) bool: time limit
    invalid: np.ndarray  # (B,) bool: the action was masked and did nothing
    harmful: np.ndarray  # (B,) bool
    minutes: np.ndarray  # (B,) simulated minutes the action took

    @classmethod
    def empty(cls, batch: int) -> StepResult:
        return cls(np.empty(batch), np.empty(batch, dtype=bool), np.empty(batch, dtype=bool),
                   np.empty(batch, dtype=bool), np.empty(batch, dtype=bool), np.empty(batch))


def action_mask(p: Params, s: State, threads: int = 1) -> np.ndarray:
    """(B, A) bool: actions allowed now (``contract.actions.tier_masks`` and ``severity_gate``)."""
    return action.allowed(p, s, threads)


#: The kinds of action whose outcome is drawn (noisy readings, whether the customer answers).
DRAWING = diagnosis.DRAWING | validation.DRAWING
TRIAGING, DIAGNOSING = by_kind(triage.KINDS), by_kind(diagnosis.KINDS)
DISRUPTING, DRAWS = by_kind(action.DISRUPTIVE), by_kind(DRAWING)
VALIDATE, RESOLVE, ASK_CUSTOMER = validation.VALIDATE, validation.RESOLVE, validation.ASK_CUSTOMER

_NO_STREAMS = np.zeros((0, STREAM_WORDS), dtype=np.uint64)


def step(p: Params, s: State, table: ActionTable, actions: np.ndarray, rng: np.random.Generator | np.ndarray,
         threads: int = 1, out: StepResult | None = None,
         after: Callable[[int, int], None] | None = None) -> StepResult:
    """Advance every row of ``s`` by its action (B,). ``rng``: one generator the rows draw from in
    row order (a single env's ``np_random``), or a (B, ``rng.STREAM_WORDS``) array of one stream
    per row (a vector env's, each read from the generator a single env would have, so a row
    equals a single env); either advances by exactly what was drawn. With a stream per row, the
    rows may step in ranges on up to ``threads`` threads (``supportgym.threads``; same results).
    ``out``: a ``StepResult`` of (B,) arrays to write into (a single env reuses one), else a new one.
    ``after(start, stop)``: called once rows ``start:stop`` have stepped, on the thread that stepped
    them (a vector env reads their masks and observations there, without a handoff of its own)."""
    batch = len(actions)
    generator = isinstance(rng, np.random.Generator)
    if generator:  # read only when an action may draw (a masked one draws nothing: written back as read)
        drawing = bool(DRAWS[table.kind[actions[0]]] if batch == 1 else DRAWS[table.kind[actions]].any())
        streams, of_row = (read_streams([rng]) if drawing else _NO_STREAMS), _zeros(batch)
    else:
        streams, of_row = rng, _rows(batch)
    if out is None:
        out = StepResult.empty(batch)
    params, state = p.arrays(), s.arrays()
    outputs = (out.reward, out.terminated, out.truncated, out.invalid, out.harmful, out.minutes)
    if generator or not splits(batch, threads):
        step_kernel(params, state, table.kind, table.service, actions, streams, of_row, *outputs)
        if after is not None:
            after(0, batch)
    else:
        def step_range(start: int, stop: int) -> None:
            part = slice(start, stop)
            step_kernel(params, tuple(a[part] for a in state), table.kind, table.service,
                        actions[part], streams[part], _rows(stop - start), *(a[part] for a in outputs))
            if after is not None:
                after(start, stop)

        run_ranges(step_range, row_ranges(batch, threads))
    if generator and drawing:
        write_stream(rng, streams[0])  # the generator continues after what was drawn
    return out


@cache
def _zeros(batch: int) -> np.ndarray:
    return np.zeros(batch, dtype=np.int64)


@cache
def _rows(batch: int) -> np.ndarray:
    return np.arange(batch)


@kernel
def step_kernel(params, state, table_kind, table_service, actions, streams, of_row, reward, terminated, truncated,
                invalid, harmful, minutes):  # pragma: no cover - compiled
    """``step`` of every row: ``params`` and ``state`` are the tuples of ``Params.arrays()`` and
    ``State.arrays()`` (row b runs on parameter row ``S.param_row[b]``); the outputs (B,) are
    ``StepResult``'s fields."""
    P, S = ParamArrays(*params), StateArrays(*state)
    batch, n = S.cache_down.shape
    rows = np.arange(batch)
    # 0. What was chosen, and for how long. Flags over the batch: most steps skip most stages.
    kind, target = np.empty(batch, np.int64), np.empty(batch, np.int64)
    valid, capacity_during = np.empty(batch, np.bool_), np.empty(batch)
    decode_kernel(actions, S.tier, S.declared, S.routed, S.category, S.true_team, P.mask_table, table_kind,
                  table_service, P.validate_minutes, S.param_row, kind, target, valid, minutes, capacity_during)
    validating = asking = resolving = triaging = diagnosing = remedying = disrupting = False
    for b in range(batch):
        k = kind[b]
        validating |= k == VALIDATE
        asking |= k == ASK_CUSTOMER
        resolving |= k == RESOLVE
        triaging |= TRIAGING[k]
        diagnosing |= DIAGNOSING[k]
        remedying |= INTERVENES[k]
        disrupting |= DISRUPTING[k]
    tier, declared = S.tier.copy(), S.declared.copy()  # the action costs the old rates
    no_target, full_capacity = np.full(batch, -1), np.ones(batch)
    table, impact, conditions = signal_buffers(batch, n)
    # A validation watches the whole window: healthy at its start and at its end.
    healthy_before = np.zeros(batch, np.bool_)
    if validating:
        watched = rows[kind == VALIDATE]
        signals_kernel(S.time, P.traffic_table, P.service_table, P.n_services, P.load_matrix, P.redirect, P.calls,
                       P.upward_calls, P.upward_callees, P.callees_first, S.param_row, S.load_mult, S.cache_down,
                       S.scale, S.defect, S.acc_level, no_target, full_capacity, watched, table, impact, conditions)
        for b in watched:
            healthy_before[b] = healthy_row(b, impact, conditions)

    # 1. Signal: the world moves on while the action runs (a restart takes its service down).
    advance_kernel(S.time, minutes, S.param_row, P.n_services, S.acc_level, S.acc_rate, S.defect, S.defect_timer)
    signals_kernel(S.time, P.traffic_table, P.service_table, P.n_services, P.load_matrix, P.redirect, P.calls,
                   P.upward_calls, P.upward_callees, P.callees_first, S.param_row, S.load_mult, S.cache_down, S.scale,
                   S.defect, S.acc_level, target if disrupting else no_target,
                   capacity_during if disrupting else full_capacity, rows, table, impact, conditions)
    impact_during = impact.copy()  # users hurt while the action ran (a restart's outage included)

    # 2. Triage: declared severity, category and routing, escalation.
    if triaging:
        triage_kernel(kind, S.declared, S.declared_peak, S.category, S.routed, S.true_team, S.misrouted_handoffs,
                      S.tier, S.escalations)
        desk_kernel(S.tier, S.declared, S.routed, S.category, S.escalations, S.glob_obs)
    # 3. Diagnosis: what the checks find (a row's own signals; other rows' remedies do not touch them).
    if diagnosing:
        diagnose_kernel(kind, target, table, P.service_table, P.calls, P.metric_noise, S.param_row, S.acc_level,
                        S.acc_rate, S.defect, S.log_decoy, S.trace_decoy, S.deploy_time, S.config_time, S.reverted,
                        S.kb_fix, S.time, S.svc_obs, S.glob_obs, S.checked_at, streams, of_row)
    # 4. Action: a remedy changes the hidden mechanisms when it completes.
    harmful[:] = False
    if remedying:
        remedies_kernel(kind, target, S.time, S.acc_level, S.acc_rate, S.defect, S.cache_down, S.scale,
                        S.deploy_time, S.config_time, S.version, S.reverted, S.culprit_change, S.culprit_defect,
                        S.culprit_acc, S.svc_obs, S.validated, harmful)
    if remedying or disrupting:  # only the rows whose world (or capacity) changed need new signals
        changed = np.empty(batch, np.int64)
        count = 0
        for b in range(batch):
            if INTERVENES[kind[b]] or capacity_during[b] < 1.0:
                changed[count] = b
                count += 1
        signals_kernel(S.time, P.traffic_table, P.service_table, P.n_services, P.load_matrix, P.redirect, P.calls,
                       P.upward_calls, P.upward_callees, P.callees_first, S.param_row, S.load_mult, S.cache_down,
                       S.scale, S.defect, S.acc_level, no_target, full_capacity, changed[:count], table, impact,
                       conditions)
    # 5. Validation: healthy at the start and at the end of the watch; or the customer's word.
    if validating:
        for b in watched:
            validate_row(b, healthy_before[b] and healthy_row(b, impact, conditions), S.time, S.validated,
                         S.validation_time, S.glob_obs)
    if asking:
        for b in range(batch):
            if kind[b] == ASK_CUSTOMER:
                ask_customer_row(b, random(streams, of_row[b]), impact, S.ticket, S.time, S.customer_answer,
                                 S.customer_time, S.glob_obs)
    # The alerts the world now raises.
    alerts_kernel(rows, conditions, S.alert_pending, minutes, P.alert_delay, S.param_row, P.n_services, S.alert_muted,
                  S.false_until, S.time, S.alerts, S.svc_obs)

    # Reward and episode ends; a resolution runs the hold window.
    ended = account_kernel(kind, minutes, impact_during, impact, tier, declared, harmful, valid, P.reward_weights,
                           S.time, P.time_limit, S.param_row, S.impact_now, S.impact_minutes, S.peak_impact,
                           S.mitigated_at, S.harmful, S.invalid, S.steps, S.episode_return, reward, truncated)
    terminated[:] = False
    if ended:
        window, held = np.zeros(batch), np.zeros(batch, np.bool_)
        if resolving:
            closing = rows[kind == RESOLVE]
            hold_window_kernel(closing, P.post_resolution, S.impact_now, S.time, P.traffic_table, P.service_table,
                               P.n_services, P.load_matrix, P.redirect, P.calls, P.upward_calls, P.upward_callees,
                               P.callees_first, S.param_row, S.load_mult, S.cache_down, S.scale, S.defect, S.acc_level,
                               S.acc_rate, S.defect_timer, S.fault_type, S.fault_service, no_target, full_capacity,
                               *signal_buffers(batch, n), window, held)
            for b in closing:
                record_close(b, window[b], held[b], P.post_resolution[S.param_row[b]], S.time, S.impact_minutes,
                             S.resolved_at, S.held, S.reopened)
        for b in range(batch):  # every row, as the reward is the same sum of terms (an unended row's are 0)
            closes = kind[b] == RESOLVE
            terminated[b] = closes
            w = P.reward_weights[S.param_row[b]]
            extra = end_reward_row(w, closes or truncated[b], truncated[b], S.declared[b], S.declared_peak[b],
                                   S.peak_impact[b])
            if resolving:
                extra += resolution_reward_row(w, closes, held[b], window[b], unconfirmed_row(b, S.ticket,
                                                                                             S.customer_answer))
            reward[b] += extra
            S.episode_return[b] += extra
    for b in range(batch):
        invalid[b] = not valid[b]
    refresh_kernel(S.checked_at, S.time, S.svc_obs, S.glob_obs, P.time_limit, S.validation_time, S.customer_time,
                   S.alerts, P.present, P.n_services, S.param_row, invalid)


stamp_cache(__file__, globals())
