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
from supportgym.stages.signal import Signals, signals
from supportgym.world.faults import fault_active
from supportgym.world.mechanisms import ADVANCED_FIELDS, advance
from supportgym.world.params import Params
from supportgym.world.state import State

VALIDATE, RESOLVE, ASK_CUSTOMER = int(ActionKind.VALIDATE), int(ActionKind.RESOLVE), int(ActionKind.ASK_CUSTOMER)
#: Whether the customer answers at all is drawn.
DRAWING = frozenset({ASK_CUSTOMER})
#: The post-resolution window is simulated in this many equal steps (impact is integrated by
#: the trapezoid rule and its worst value checked at each).
HOLD_WINDOW_STEPS = 4
#: A batch of at least this many rows, of which at most one in this many resolve, runs the
#: window on the resolving rows alone (copying them out costs less than simulating the rest).
FEW_OF_MANY = (128, 4)


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
    rows = np.flatnonzero(resolving)
    if len(resolving) >= FEW_OF_MANY[0] and len(rows) * FEW_OF_MANY[1] <= len(resolving):
        # A few rows of a large batch: the window runs on them alone (the same numbers, without
        # simulating every row of the batch five times for them).
        part = s.take(rows)
        total, held = np.zeros(len(resolving)), np.zeros(len(resolving), dtype=bool)
        total[rows], held[rows] = _hold_window(p.take(rows), part, np.ones(len(rows), dtype=bool))
        s.put(rows, part, ADVANCED_FIELDS)
        return total, held
    return _hold_window(p, s, resolving)


def _hold_window(p: Params, s: State, resolving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    chunk = np.where(resolving, p.post_resolution / HOLD_WINDOW_STEPS, 0.0)
    previous = s.impact_now
    worst = previous.copy()
    total = np.zeros(len(resolving))
    rows = np.flatnonzero(resolving)  # the others' signals stay zero: their chunk is 0 and they cannot hold
    active = fault_active(s, signals(p, s, rows=rows).utilisation)
    for _ in range(HOLD_WINDOW_STEPS):
        advance(s, chunk)
        sig = signals(p, s, rows=rows)
        total += chunk * 0.5 * (previous + sig.impact)
        worst = np.maximum(worst, sig.impact)
        previous = sig.impact
    active |= fault_active(s, sig.utilisation)
    held = resolving & ~active & (worst < REOPEN_IMPACT)
    return total, held


def close(p: Params, s: State, resolving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Resolve the rows in ``resolving``: run the hold window and record the outcome. Returns the
    window's impact minutes and whether each resolution held."""
    window_impact, held = hold_window(p, s, resolving)
    s.impact_minutes += window_impact
    s.resolved_at = np.where(resolving, s.time - p.post_resolution, s.resolved_at)
    s.held |= held
    s.reopened |= resolving & ~held
    return window_impact, held
