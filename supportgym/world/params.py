"""Frozen per-episode parameters as arrays with a leading batch axis, padded to ``max_services``.

Built once per scenario (``episode.scenario_params``) and cached. Nothing here changes during an
episode (that is ``state.py``'s job). Per-service vectors are packed into one table, so a
compiled kernel takes one argument for them; its rows are named by the ``ROW_*`` constants.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

#: Rows of ``Params.service_table`` (B, 6, N).
ROW_ENTRY = 0  # share of user traffic entering at each service
ROW_BASE_LOAD = 1  # healthy load
ROW_CAPACITY = 2  # load a service can take at its initial replica count
ROW_BASE_LATENCY = 3  # own healthy latency, ms
ROW_SLO_LATENCY = 4  # latency SLO at entry services (inf elsewhere)
ROW_HEALTHY_LATENCY = 5  # latency including dependencies when all is well
N_SERVICE_ROWS = 6
#: Columns of ``Params.traffic_table`` (B, 2).
TRAFFIC_START_HOUR, TRAFFIC_AMPLITUDE = 0, 1


@dataclass(frozen=True, eq=False)
class Params:
    """Frozen arrays of a batch of B episodes over N service slots (read-only)."""

    present: np.ndarray  # (B, N) bool
    kind: np.ndarray  # (B, N) int, -1 for empty slots
    service_table: np.ndarray  # (B, N_SERVICE_ROWS, N): the rows named ROW_* (see the properties)
    load_matrix: np.ndarray  # (B, N, N)
    upward_calls: np.ndarray  # (B, N, N) call weights errors and latency flow up through
    upward_callees: np.ndarray  # (B, N, N) int32: per service, where its ``upward_calls`` row is nonzero, then -1
    callees_first: np.ndarray  # (B, N) service order with every service after all it calls
    redirect: np.ndarray  # (B, N, N)
    calls: np.ndarray  # (B, N, N) call weights; > 0 is an edge
    depth: np.ndarray  # (B, N)
    failover: np.ndarray  # (B, N) bool
    mask_table: np.ndarray  # (B, 3, 4, A) bool: actions allowed at tier L1..L3 with severity none, 1, 2, 3
    traffic_table: np.ndarray  # (B, 2): start hour of day, daily traffic amplitude
    time_limit: np.ndarray  # (B,)
    post_resolution: np.ndarray  # (B,)
    validate_minutes: np.ndarray  # (B,)
    alert_delay: np.ndarray  # (B,)
    metric_noise: np.ndarray  # (B,)
    # (N_WEIGHTS,) one suite's reward weights for the whole batch, or (B, N_WEIGHTS) per row (a vector
    # env's rows); layout ``reward.W_*``, read through ``reward.row_weights``
    reward_weights: np.ndarray

    @property
    def entry(self) -> np.ndarray:
        """(B, N) share of user traffic entering at each service."""
        return self.service_table[:, ROW_ENTRY]

    @property
    def base_load(self) -> np.ndarray:
        """(B, N) healthy load."""
        return self.service_table[:, ROW_BASE_LOAD]

    @property
    def capacity(self) -> np.ndarray:
        """(B, N) load a service can take at its initial replica count."""
        return self.service_table[:, ROW_CAPACITY]

    @property
    def base_latency(self) -> np.ndarray:
        """(B, N) own healthy latency, ms."""
        return self.service_table[:, ROW_BASE_LATENCY]

    @property
    def slo_latency(self) -> np.ndarray:
        """(B, N) latency SLO at entry services (inf elsewhere)."""
        return self.service_table[:, ROW_SLO_LATENCY]

    @property
    def healthy_latency(self) -> np.ndarray:
        """(B, N) latency including dependencies when all is well."""
        return self.service_table[:, ROW_HEALTHY_LATENCY]

    def take(self, rows: np.ndarray) -> Params:
        """The parameters of ``rows`` (to go with ``State.take``; one suite-wide weight row stays)."""
        return Params(**{f.name: getattr(self, f.name) if f.name == "reward_weights" and self.reward_weights.ndim == 1
                         else getattr(self, f.name)[rows] for f in fields(self)})

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
