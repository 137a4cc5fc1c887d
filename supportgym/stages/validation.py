"""Stage 5, validation: checking that the system is healthy, and the window a resolution must hold.

A validation watches the whole action: the system must be healthy (users fine, no true alert
condition) both when it starts and when it ends. Asking the customer who reported the incident
whether it works again is slower, goes unanswered sometimes (``CUSTOMER_ANSWER_CHANCE``), and
is evidence rather than proof: it tells how users fare now, and a restarted leak works for a
while. On resolve, the simulator runs the
post-resolution window: the resolution holds if no fault is at work at the close or at the end
of the window (a restarted leak still leaks) and users stay unhurt in between.
"""

from __future__ import annotations

import numpy as np

from supportgym.contract.observation import (
    CUSTOMER_ANSWERS,
    CUSTOMER_BROKEN,
    CUSTOMER_SILENT,
    CUSTOMER_WORKS,
    G_CUSTOMER,
    G_VALIDATION,
    VALIDATION_HEALTHY,
    VALIDATION_RESULTS,
    VALIDATION_UNHEALTHY,
)
from supportgym.contract.vocabulary import CUSTOMER_ANSWER_CHANCE, MITIGATED_IMPACT, REOPEN_IMPACT, ActionKind, Ticket
from supportgym.rng import RowStreams, randoms
from supportgym.compiled import kernel, stamp_cache
from supportgym.stages.signal import SIG_UTILISATION, Signals, no_target, signals_kernel
from supportgym.world.faults import fault_at_work
from supportgym.world.mechanisms import advance_row
from supportgym.world.params import Params
from supportgym.world.state import State

VALIDATE, RESOLVE, ASK_CUSTOMER = int(ActionKind.VALIDATE), int(ActionKind.RESOLVE), int(ActionKind.ASK_CUSTOMER)
#: Whether the customer answers at all is drawn.
DRAWING = frozenset({ASK_CUSTOMER})
#: The post-resolution window is simulated in this many equal steps (impact is integrated by
#: the trapezoid rule and its worst value checked at each).
HOLD_WINDOW_STEPS = 4


def healthy(sig: Signals) -> np.ndarray:
    """(B,) What a validation sees: users are fine and no true alert condition holds."""
    return (sig.impact < MITIGATED_IMPACT) & ~sig.conditions.any(axis=(1, 2))


def validate(s: State, rows: np.ndarray, healthy_before: np.ndarray, healthy_after: np.ndarray) -> None:
    """Record the validations of ``rows``: healthy at the start and at the end of the watch."""
    result = healthy_before[rows] & healthy_after[rows]
    s.validated[rows] = result
    s.validation_time[rows] = s.time[rows]
    write_validation(s, np.where(result, VALIDATION_HEALTHY, VALIDATION_UNHEALTHY), rows)


def write_validation(s: State, result: np.ndarray, rows: np.ndarray | None = None) -> None:
    """The observation's last validation result (``contract.observation.VALIDATION_RESULTS``)."""
    rows = np.arange(len(s.tier)) if rows is None else rows
    s.glob_obs[rows, G_VALIDATION] = result[:, None] == np.arange(len(VALIDATION_RESULTS))


def ask_customer(s: State, sig: Signals, rows: np.ndarray, rng: RowStreams) -> None:
    """The reporters of ``rows`` answer whether it works again (users unhurt now), or stay
    silent; nobody answers an incident no customer reported."""
    answers = randoms(rng.streams, rng.of_row[rows]) < CUSTOMER_ANSWER_CHANCE
    answers &= s.ticket[rows] != Ticket.NONE
    works = sig.impact[rows] < MITIGATED_IMPACT
    s.customer_answer[rows] = np.where(answers, np.where(works, CUSTOMER_WORKS, CUSTOMER_BROKEN), CUSTOMER_SILENT)
    s.customer_time[rows] = s.time[rows]
    write_customer(s, rows)


def unconfirmed(s: State) -> np.ndarray:
    """(B,) A customer reported the incident and has not been asked since saying it was broken
    (a silent customer counts as asked)."""
    return (s.ticket != Ticket.NONE) & (s.customer_answer != CUSTOMER_WORKS) & (s.customer_answer != CUSTOMER_SILENT)


def write_customer(s: State, rows: np.ndarray | None = None) -> None:
    """The observation's last customer answer (``contract.observation.CUSTOMER_ANSWERS``)."""
    rows = np.arange(len(s.tier)) if rows is None else rows
    s.glob_obs[rows, G_CUSTOMER] = s.customer_answer[rows, None] == np.arange(len(CUSTOMER_ANSWERS))


def hold_window(p: Params, s: State, resolving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run the post-resolution window for the rows that resolved. Returns its impact minutes and
    whether each resolution held: no fault at work at the close or at the end of the window,
    and no user impact above REOPEN_IMPACT in between."""
    batch, n = s.cache_down.shape
    total, held = np.zeros(batch), np.zeros(batch, dtype=bool)
    sig = Signals(batch, n)  # written and read at the resolving rows only
    target, capacity = no_target(batch)
    _hold_window_kernel(np.flatnonzero(resolving), p.post_resolution, s.impact_now, s.time, p.traffic_table,
                        p.service_table, p.present, p.load_matrix, p.redirect, p.calls, p.upward_calls,
                        p.upward_callees, p.callees_first, s.load_mult, s.cache_down, s.scale, s.defect, s.acc_level,
                        s.acc_rate, s.defect_timer, s.fault_type, s.fault_service, target, capacity, sig.table,
                        sig.impact, sig.conditions, total, held)
    return total, held


@kernel
def _hold_window_kernel(rows, post_resolution, impact_now, time, traffic_table, service_table, present, load_matrix,
                        redirect, calls, upward_calls, upward_callees, callees_first, load_mult, cache_down, scale,
                        defect, acc_level, acc_rate, defect_timer, fault_type, fault_service, target, capacity, table,
                        impact, conditions, total, held):  # pragma: no cover - compiled
    """Each row of ``rows`` through its window: HOLD_WINDOW_STEPS equal steps of the world, the
    impact integrated by the trapezoid rule and its worst value checked at each."""
    for m in range(rows.shape[0]):
        b, one = rows[m], rows[m:m + 1]
        chunk = post_resolution[b] / HOLD_WINDOW_STEPS
        signals_kernel(time, traffic_table, service_table, present, load_matrix, redirect, calls, upward_calls,
                        upward_callees, callees_first, load_mult, cache_down, scale, defect, acc_level, target,
                        capacity, one, table, impact, conditions)
        active = _any_fault_at_work(b, fault_type, fault_service, defect, acc_rate, acc_level, cache_down, table)
        previous = impact_now[b]
        worst, window = previous, 0.0
        for _ in range(HOLD_WINDOW_STEPS):
            advance_row(b, chunk, time, acc_level, acc_rate, defect, defect_timer)
            signals_kernel(time, traffic_table, service_table, present, load_matrix, redirect, calls, upward_calls,
                            upward_callees, callees_first, load_mult, cache_down, scale, defect, acc_level, target,
                            capacity, one, table, impact, conditions)
            window += chunk * 0.5 * (previous + impact[b])
            worst = max(worst, impact[b])
            previous = impact[b]
        active |= _any_fault_at_work(b, fault_type, fault_service, defect, acc_rate, acc_level, cache_down, table)
        total[b] = window
        held[b] = not active and worst < REOPEN_IMPACT


@kernel
def _any_fault_at_work(b, fault_type, fault_service, defect, acc_rate, acc_level, cache_down,
                       table):  # pragma: no cover - compiled
    at_work = False
    for k in range(fault_type.shape[1]):
        at_work |= fault_at_work(b, k, fault_type, fault_service, defect, acc_rate, acc_level, cache_down,
                                 table[:, SIG_UTILISATION])
    return at_work


def close(p: Params, s: State, resolving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Resolve the rows in ``resolving``: run the hold window and record the outcome. Returns the
    window's impact minutes and whether each resolution held."""
    window_impact, held = hold_window(p, s, resolving)
    s.impact_minutes += window_impact
    s.resolved_at = np.where(resolving, s.time - p.post_resolution, s.resolved_at)
    s.held |= held
    s.reopened |= resolving & ~held
    return window_impact, held


stamp_cache(__file__, globals())
