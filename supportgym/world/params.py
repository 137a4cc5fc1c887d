"""Frozen per-episode parameters: arrays over K parameter rows, padded to ``max_services``.

Built once per scenario (``episode.scenario_params``: one row) and cached. Nothing here changes
during an episode (that is ``state.py``'s job). Row b of a batch of states runs on parameter row
``State.param_row[b]``: a single env has one, a vector env one per scenario its rows run, so
rows of the same scenario share their parameters. Per-service vectors are packed into one
table, so a compiled kernel takes one argument for them; its rows are named by the ``ROW_*``
constants.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, fields
from operator import attrgetter

import numpy as np

#: Rows of ``Params.service_table`` (K, 6, N).
ROW_ENTRY = 0  # share of user traffic entering at each service
ROW_BASE_LOAD = 1  # healthy load
ROW_CAPACITY = 2  # load a service can take at its initial replica count
ROW_BASE_LATENCY = 3  # own healthy latency, ms
ROW_SLO_LATENCY = 4  # latency SLO at entry services (inf elsewhere)
ROW_HEALTHY_LATENCY = 5  # latency including dependencies when all is well
N_SERVICE_ROWS = 6
#: Columns of ``Params.traffic_table`` (K, 2).
TRAFFIC_START_HOUR, TRAFFIC_AMPLITUDE = 0, 1


@dataclass(frozen=True, eq=False)
class Params:
    """Frozen arrays of K parameter rows over N service slots (read-only)."""

    present: np.ndarray  # (K, N) bool: slots 0..n_services-1
    # (K,) int: the system's services fill the first slots; the rest is padding, which nothing reaches
    # (no fault, action or alert), so the kernels skip it
    n_services: np.ndarray
    kind: np.ndarray  # (K, N) int, -1 for empty slots
    service_table: np.ndarray  # (K, N_SERVICE_ROWS, N): the rows named ROW_* (see the properties)
    load_matrix: np.ndarray  # (K, N, N)
    upward_calls: np.ndarray  # (K, N, N) call weights errors and latency flow up through
    upward_callees: np.ndarray  # (K, N, N) int32: per service, where its ``upward_calls`` row is nonzero, then -1
    callees_first: np.ndarray  # (K, N) service order with every service after all it calls
    redirect: np.ndarray  # (K, N, N)
    calls: np.ndarray  # (K, N, N) call weights; > 0 is an edge
    depth: np.ndarray  # (K, N)
    failover: np.ndarray  # (K, N) bool
    mask_table: np.ndarray  # (K, 3, 4, A) bool: actions allowed at tier L1..L3 with severity none, 1, 2, 3
    traffic_table: np.ndarray  # (K, 2): start hour of day, daily traffic amplitude
    time_limit: np.ndarray  # (K,)
    post_resolution: np.ndarray  # (K,)
    validate_minutes: np.ndarray  # (K,)
    alert_delay: np.ndarray  # (K,)
    metric_noise: np.ndarray  # (K,)
    # (N_WEIGHTS,) one scenario's reward weights (its suite's), or (K, N_WEIGHTS) a row each (a vector
    # env's); layout ``reward.W_*``; ``arrays()`` gives them as (K, N_WEIGHTS)
    reward_weights: np.ndarray

    @property
    def entry(self) -> np.ndarray:
        """(K, N) share of user traffic entering at each service."""
        return self.service_table[:, ROW_ENTRY]

    @property
    def base_load(self) -> np.ndarray:
        """(K, N) healthy load."""
        return self.service_table[:, ROW_BASE_LOAD]

    @property
    def capacity(self) -> np.ndarray:
        """(K, N) load a service can take at its initial replica count."""
        return self.service_table[:, ROW_CAPACITY]

    @property
    def base_latency(self) -> np.ndarray:
        """(K, N) own healthy latency, ms."""
        return self.service_table[:, ROW_BASE_LATENCY]

    @property
    def slo_latency(self) -> np.ndarray:
        """(K, N) latency SLO at entry services (inf elsewhere)."""
        return self.service_table[:, ROW_SLO_LATENCY]

    @property
    def healthy_latency(self) -> np.ndarray:
        """(K, N) latency including dependencies when all is well."""
        return self.service_table[:, ROW_HEALTHY_LATENCY]

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The arrays in ``PARAM_ARRAY_NAMES`` order, the reward weights as (K, N_WEIGHTS), for a
        compiled kernel to name with ``ParamArrays(*arrays)`` (built once: ``Params`` is frozen)."""
        return self._arrays

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
        weights = self.reward_weights.reshape(-1, self.reward_weights.shape[-1])
        object.__setattr__(self, "_arrays", (*_get_arrays(self), weights))


#: The names of ``Params.arrays()``, in order.
PARAM_ARRAY_NAMES = (*(f.name for f in fields(Params) if f.name != "reward_weights"), "reward_weights")
ParamArrays = namedtuple("ParamArrays", PARAM_ARRAY_NAMES)
_get_arrays = attrgetter(*PARAM_ARRAY_NAMES[:-1])
