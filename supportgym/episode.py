"""Start an episode: a scenario's frozen parameters, and its first state (the ``initial`` of the loop).

This is the one bridge from the scenario layer (``supportgym.suite``) to the simulator:
``scenario_params`` turns a validated scenario into padded arrays, ``draw_episodes`` draws the
incidents' details (``supportgym.draws``, compiled, from each row's random stream) and
``open_episodes`` warms the world up. Every random draw comes from the stream passed in (read
from the env's ``np_random``), so the seed alone fixes the episode. The fault starts some
minutes before the incident opens; the world is simulated through that time so the first
observation already has its alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from supportgym.compiled import kernel, stamp_cache
from supportgym.contract.actions import ActionTable, mask_table, tier_masks
from supportgym.contract.vocabulary import REMEDIES, check_fits
from supportgym.draws import (
    N_CHOICE_FACTS,
    N_FACTS,
    N_RANGES,
    N_RATES,
    N_SIZES,
    choose_scenarios,
    draw_kernel,
)
from supportgym.observe import refresh_kernel, static_kernel
from supportgym.rng import read_streams, write_stream
from supportgym.stages.signal import alerts_kernel, signal_buffers, signals_kernel
from supportgym.suite import Scenario, known_fix
from supportgym.suite.loading import change_of
from supportgym.suite.schema import RewardWeights
from supportgym.world.faults import FAULT_INDEX, FAULTS
from supportgym.world.mechanisms import CONFIG, DEPLOY, NO_CHANGE, advance_kernel
from supportgym.world.params import (
    N_SERVICE_ROWS,
    ROW_BASE_LATENCY,
    ROW_BASE_LOAD,
    ROW_CAPACITY,
    ROW_ENTRY,
    ROW_HEALTHY_LATENCY,
    ROW_SLO_LATENCY,
    ParamArrays,
    Params,
)
from supportgym.world.state import MAX_FAULTS, State, StateArrays
from supportgym.world.teams import team_of


class EpisodePlans:
    """The scenarios of a suite as arrays the draw kernels read (``supportgym.draws``), one row
    per scenario in the suite's order, each filled on first use (a generated suite has thousands)."""

    def __init__(self, scenarios: Sequence[Scenario], max_services: int):
        S, K, N = len(scenarios), MAX_FAULTS, max_services
        self.scenarios = tuple(scenarios)
        self.fault_ranges = np.zeros((S, K, N_RANGES))
        self.fault_facts = np.zeros((S, K, N_FACTS), dtype=np.int64)
        self.choices = np.zeros((S, K, N, N_CHOICE_FACTS), dtype=np.int64)
        self.sizes = np.zeros((S, N_SIZES), dtype=np.int64)
        self.rates = np.zeros((S, N_RATES))
        self._built = np.zeros(S, dtype=bool)

    def ensure(self, indices: np.ndarray) -> None:
        """Build the plans of the scenarios ``indices`` that are not built yet."""
        missing = indices[~self._built[indices]]
        if len(missing):  # (np.unique of nothing costs more than a reset's draws)
            for index in np.unique(missing):
                self._build(int(index))

    def _build(self, index: int) -> None:
        scenario = self.scenarios[index]
        topo, noise = scenario.topology, scenario.noise
        for k, entry in enumerate(scenario.faults):
            spec = FAULTS[entry.type]
            onset = entry.onset_minutes if isinstance(entry.onset_minutes, list) else [entry.onset_minutes] * 2
            self.fault_ranges[index, k] = [*onset, *spec.intensity, *spec.duration, *spec.rate, *spec.start_level,
                                           *spec.load_multiplier]
            change = {None: NO_CHANGE, "deploy": DEPLOY, "config": CONFIG}[change_of(entry)]
            candidates = [entry.service] if isinstance(entry.service, str) else entry.service
            self.fault_facts[index, k] = [
                FAULT_INDEX[spec.name], isinstance(entry.onset_minutes, list), len(candidates),
                -1 if spec.defect is None else int(spec.defect),
                -1 if spec.accumulator is None else int(spec.accumulator), spec.cache_down, spec.spike, change,
                int(spec.ticket)]
            for c, name in enumerate(candidates):
                service = topo.names.index(name)
                fix = known_fix(scenario, entry.type, name)
                self.choices[index, k, c] = [service, -1 if fix is None else REMEDIES.index(fix),
                                             int(team_of(entry.type, topo.kinds[service]))]
        self.sizes[index] = [topo.n, scenario.start_tier, len(scenario.faults), noise.red_herrings]
        self.rates[index] = [noise.log_noise, noise.trace_noise, noise.missed_alert_rate, noise.false_alarm_rate,
                             noise.ticket_mislead, noise.internal_report_rate, noise.misroute]
        self._built[index] = True


def new_episode(plans: EpisodePlans, cdf: np.ndarray, fixed: int, params_at: Callable[[int], Params],
                rng: np.random.Generator) -> tuple[int, Params, State]:
    """A single env's new episode: the index of its scenario (``fixed``, or drawn by ``cdf`` when
    -1), that scenario's parameter row (``params_at(index)``) and the opened batch-of-one state,
    everything drawn from ``rng``, which then continues after the draws."""
    streams, of_row = read_streams([rng]), np.zeros(1, dtype=np.int64)
    index = int(choose(cdf, np.array([fixed]), streams, of_row)[0])
    p = params_at(index)
    s = State.empty(1, p.present.shape[1])
    draw_episodes(plans, p, s, np.array([index]), streams, of_row)
    write_stream(rng, streams[0])
    return index, p, open_episodes(p, s)


def choose(cdf: np.ndarray, fixed: np.ndarray, streams: np.ndarray, of_row: np.ndarray) -> np.ndarray:
    """(R,) the scenario index of each new episode: ``fixed[m]`` where >= 0, else drawn by the
    cumulative weights ``cdf`` (``cumulative_weights``) from stream ``of_row[m]``."""
    chosen = np.empty(len(fixed), dtype=np.int64)
    choose_scenarios(streams, of_row, cdf, fixed, chosen)
    return chosen


def draw_episodes(plans: EpisodePlans, p: Params, s: State, chosen: np.ndarray, streams: np.ndarray,
                  of_row: np.ndarray) -> None:
    """Draw into ``s``, an empty batch (row m's parameters: ``p`` at ``s.param_row[m]``), the
    episode of each row ``m``: scenario ``chosen[m]`` of ``plans``, from stream ``of_row[m]`` (its
    draws in a fixed order, ``supportgym.draws``), with the world run from the first fault's onset
    to the last's; ready for ``open_episodes``."""
    plans.ensure(chosen)
    draw_kernel(plans.fault_ranges, plans.fault_facts, plans.choices, plans.sizes, plans.rates, chosen, p.arrays(),
                s.arrays(), streams, of_row)


def cumulative_weights(weights: np.ndarray) -> np.ndarray:
    """Draw weights cumulated and normalised, as ``Generator.choice(p=weights)`` computes them at every call."""
    cdf = np.asarray(weights, dtype=np.float64).cumsum()
    cdf /= cdf[-1]
    return cdf


def open_episodes(p: Params, s: State) -> State:
    """Open the incidents of the batch ``s`` (drawn by ``draw_episodes``; their parameters: ``p``
    at ``s.param_row``): run the world and its alert rules to the moment the incident opens (time
    0), and write the first observation (``open_kernel``). Nothing is drawn, so a vector env opens
    all its resetting rows in one call."""
    open_kernel(p.arrays(), s.arrays())
    return s


@kernel
def open_kernel(params, state):  # pragma: no cover - compiled
    """``open_episodes`` of every row. A row already at time 0 gets one more alert update with no
    time passing, which changes nothing (the last one, below, is the same)."""
    P, S = ParamArrays(*params), StateArrays(*state)
    batch, n = S.cache_down.shape
    rows = np.arange(batch)
    dt = np.maximum(-S.time, 0.0)
    advance_kernel(S.time, dt, S.param_row, P.n_services, S.acc_level, S.acc_rate, S.defect, S.defect_timer)
    table, impact, conditions = signal_buffers(batch, n)
    no_target, full_capacity = np.full(batch, -1), np.ones(batch)
    signals_kernel(S.time, P.traffic_table, P.service_table, P.n_services, P.load_matrix, P.redirect, P.calls,
                   P.upward_calls, P.upward_callees, P.callees_first, S.param_row, S.load_mult, S.cache_down, S.scale,
                   S.defect, S.acc_level, no_target, full_capacity, rows, table, impact, conditions)
    alerts_kernel(rows, conditions, S.alert_pending, dt, P.alert_delay, S.param_row, P.n_services, S.alert_muted,
                  S.false_until, S.time, S.alerts, S.svc_obs)
    S.impact_now[:] = impact  # alerts leave the world as it was: these are its signals at time 0
    S.peak_impact[:] = impact
    static_kernel(P.present, P.kind, P.service_table, P.depth, P.failover, P.calls, S.param_row, S.internal_report,
                  S.ticket, S.tier, S.declared, S.routed, S.category, S.escalations, S.customer_answer, S.svc_obs,
                  S.glob_obs, S.graph_obs)
    no_time = np.zeros(batch)
    alerts_kernel(rows, conditions, S.alert_pending, no_time, P.alert_delay, S.param_row, P.n_services, S.alert_muted,
                  S.false_until, S.time, S.alerts, S.svc_obs)
    refresh_kernel(S.checked_at, S.time, S.svc_obs, S.glob_obs, P.time_limit, S.validation_time, S.customer_time,
                   S.alerts, P.present, P.n_services, S.param_row, np.zeros(batch, np.bool_))


# --- the scenario's frozen parameters -------------------------------------------------------


def weight_array(w: RewardWeights) -> np.ndarray:
    """A suite's reward weights as ``Params.reward_weights`` (in the order of ``reward.W_*``)."""
    return np.array([w.impact, w.sev1_cost_multiplier, w.harm, w.invalid_action, *w.engineer_per_minute,
                     w.resolve_bonus, w.reopen_penalty, w.timeout_penalty, w.severity_mismatch, w.unconfirmed_close])


def nonzero_columns(m: np.ndarray) -> np.ndarray:
    """(B, N, N) int32: for each row of each matrix of ``m`` (B, N, N), the columns of its nonzero
    entries in order, then -1: a sparse matrix's rows for a kernel to walk in O(entries)."""
    out = np.full(m.shape, -1, dtype=np.int32)
    nonzero = m != 0.0
    # the k-th nonzero of a row goes to position k: its rank among the row's nonzeros
    rank = np.cumsum(nonzero, axis=-1) - 1
    b, i, j = np.nonzero(nonzero)
    out[b, i, rank[b, i, j]] = j
    return out


def scenario_params(scenario: Scenario, actions: ActionTable) -> Params:
    """The parameter row (B = 1) of one scenario, padded to ``actions.max_services``."""
    topo = scenario.topology
    n, N = topo.n, actions.max_services
    check_fits(n, N, f"{scenario.suite}: scenario {scenario.name!r}")

    def pad(values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        out = np.full((1, N), fill, dtype=np.asarray(values).dtype if np.asarray(values).dtype == bool else float)
        out[0, :n] = values
        return out

    def pad2(m: np.ndarray) -> np.ndarray:
        out = np.zeros((1, N, N))
        out[0, :n, :n] = m
        return out

    callees_first = np.arange(N)[None].copy()
    callees_first[0, :n] = topo.callees_first
    load_matrix = np.eye(N)[None].copy()
    load_matrix[0, :n, :n] = topo.load_matrix
    healthy_latency = topo.base_latency @ topo.propagation_matrix
    entry_slo = np.where(topo.entry > 0, topo.slo_latency_factor * healthy_latency, np.inf)

    present = pad(np.ones(n, dtype=bool), False).astype(bool)
    kinds = np.full((1, N), -1)
    kinds[0, :n] = topo.kinds
    failover_ok = np.zeros(N, dtype=bool)
    failover_ok[:n] = topo.failover
    tier_mask = tier_masks(actions, present, kinds, failover_ok[None], pad(topo.entry))
    rows = {ROW_ENTRY: pad(topo.entry), ROW_BASE_LOAD: pad(topo.base_load, 1.0),
            ROW_CAPACITY: pad(topo.base_load * topo.headroom, 1.0), ROW_BASE_LATENCY: pad(topo.base_latency, 1.0),
            ROW_SLO_LATENCY: pad(entry_slo, np.inf), ROW_HEALTHY_LATENCY: pad(healthy_latency, 1.0)}
    noise = scenario.noise
    return Params(
        present=present,
        n_services=np.array([n]),
        kind=kinds,
        service_table=np.stack([rows[r] for r in range(N_SERVICE_ROWS)], axis=1),
        load_matrix=load_matrix,
        upward_calls=pad2(topo.upward_calls),
        upward_callees=nonzero_columns(pad2(topo.upward_calls)),
        callees_first=callees_first,
        redirect=pad2(topo.redirect),
        calls=pad2(topo.calls),
        depth=pad(topo.depth),
        failover=failover_ok[None],
        mask_table=mask_table(tier_mask, actions),
        traffic_table=np.array([[scenario.start_hour, scenario.daily_traffic_amplitude]]),
        time_limit=np.array([scenario.time_limit_minutes]),
        post_resolution=np.array([scenario.post_resolution_minutes]),
        validate_minutes=np.array([scenario.validate_minutes]),
        alert_delay=np.array([noise.alert_delay_minutes]),
        metric_noise=np.array([noise.metric_noise]),
        reward_weights=weight_array(scenario.reward),
    )


stamp_cache(__file__, globals())
