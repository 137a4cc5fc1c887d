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
from supportgym.compiled import kernel, stamp_cache
from supportgym.stages.signal import SIG_UTILISATION, Signals, signals_kernel
from supportgym.world.faults import fault_at_work
from supportgym.world.mechanisms import advance_row
from supportgym.world.state import State

VALIDATE, RESOLVE, ASK_CUSTOMER = int(ActionKind.VALIDATE), int(ActionKind.RESOLVE), int(ActionKind.ASK_CUSTOMER)
#: Whether the customer answers at all is drawn.
DRAWING = frozenset({ASK_CUSTOMER})
#: The post-resolution window is simulated in this many equal steps (impact is integrated by
#: the trapezoid rule and its worst value checked at each).
HOLD_WINDOW_STEPS = 4
VALIDATION_COLUMN, CUSTOMER_COLUMN = G_VALIDATION.start, G_CUSTOMER.start
N_VALIDATION_RESULTS, N_CUSTOMER_ANSWERS = len(VALIDATION_RESULTS), len(CUSTOMER_ANSWERS)
TICKET_NONE = int(Ticket.NONE)


def healthy(sig: Signals) -> np.ndarray:
    """(B,) What a validation sees: users are fine and no true alert condition holds."""
    out = np.empty(len(sig.impact), dtype=np.bool_)
    for b in range(len(out)):
        out[b] = healthy_row(b, sig.impact, sig.conditions)
    return out


@kernel
def healthy_row(b, impact, conditions):  # pragma: no cover - compiled
    """``healthy`` of row b."""
    return impact[b] < MITIGATED_IMPACT and not conditions[b].any()


@kernel
def validate_row(b, result, time, validated, validation_time, glob_obs):  # pragma: no cover - compiled
    validated[b] = result
    validation_time[b] = time[b]
    write_validation_row(b, VALIDATION_HEALTHY if result else VALIDATION_UNHEALTHY, glob_obs)


@kernel
def write_validation_row(b, result, glob_obs):  # pragma: no cover - compiled
    for c in range(N_VALIDATION_RESULTS):
        glob_obs[b, VALIDATION_COLUMN + c] = 1.0 if c == result else 0.0


@kernel
def ask_customer_row(b, draw, impact, ticket, time, customer_answer, customer_time,
                     glob_obs):  # pragma: no cover - compiled
    """Row b's reporter, given the uniform ``draw`` of whether they answer."""
    if draw < CUSTOMER_ANSWER_CHANCE and ticket[b] != TICKET_NONE:
        customer_answer[b] = CUSTOMER_WORKS if impact[b] < MITIGATED_IMPACT else CUSTOMER_BROKEN
    else:
        customer_answer[b] = CUSTOMER_SILENT
    customer_time[b] = time[b]
    write_customer_row(b, customer_answer, glob_obs)


def unconfirmed(s: State) -> np.ndarray:
    """(B,) A customer reported the incident and has not been asked since saying it was broken
    (a silent customer counts as asked)."""
    return np.array([unconfirmed_row(b, s.ticket, s.customer_answer) for b in range(len(s.ticket))], dtype=bool)


@kernel
def unconfirmed_row(b, ticket, customer_answer):  # pragma: no cover - compiled
    return ticket[b] != TICKET_NONE and customer_answer[b] != CUSTOMER_WORKS and customer_answer[b] != CUSTOMER_SILENT


@kernel
def write_customer_row(b, customer_answer, glob_obs):  # pragma: no cover - compiled
    for c in range(N_CUSTOMER_ANSWERS):
        glob_obs[b, CUSTOMER_COLUMN + c] = 1.0 if c == customer_answer[b] else 0.0


@kernel
def hold_window_kernel(rows, post_resolution, impact_now, time, traffic_table, service_table, n_services, load_matrix,
                        redirect, calls, upward_calls, upward_callees, callees_first, param_row, load_mult, cache_down,
                        scale, defect, acc_level, acc_rate, defect_timer, fault_type, fault_service, target, capacity,
                        table, impact, conditions, total, held):  # pragma: no cover - compiled
    """Each row of ``rows`` through its window: HOLD_WINDOW_STEPS equal steps of the world, the
    impact integrated by the trapezoid rule and its worst value checked at each."""
    for m in range(rows.shape[0]):
        b, one = rows[m], rows[m:m + 1]
        chunk = post_resolution[param_row[b]] / HOLD_WINDOW_STEPS
        signals_kernel(time, traffic_table, service_table, n_services, load_matrix, redirect, calls, upward_calls,
                        upward_callees, callees_first, param_row, load_mult, cache_down, scale, defect, acc_level,
                        target, capacity, one, table, impact, conditions)
        active = _any_fault_at_work(b, fault_type, fault_service, defect, acc_rate, acc_level, cache_down, table)
        previous = impact_now[b]
        worst, window = previous, 0.0
        for _ in range(HOLD_WINDOW_STEPS):
            advance_row(b, chunk, n_services[param_row[b]], time, acc_level, acc_rate, defect, defect_timer)
            signals_kernel(time, traffic_table, service_table, n_services, load_matrix, redirect, calls, upward_calls,
                            upward_callees, callees_first, param_row, load_mult, cache_down, scale, defect,
                            acc_level, target, capacity, one, table, impact, conditions)
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


@kernel
def record_close(b, window_impact, held_now, window_minutes, time, impact_minutes, resolved_at, held,
                 reopened):  # pragma: no cover - compiled
    """Row b's resolution: its window's impact (``window_minutes`` long), when it was resolved,
    whether it held."""
    impact_minutes[b] += window_impact
    resolved_at[b] = time[b] - window_minutes
    held[b] |= held_now
    reopened[b] |= not held_now


stamp_cache(__file__, globals())
