"""The signal kernel walks each service's callees (``Params.upward_callees``), not the dense
N x N matrix; the golden trajectories pin its results on the shipped suites."""

from __future__ import annotations

import numpy as np
import yaml

from supportgym.episode import nonzero_columns
from supportgym.vector import IncidentVectorEnv


def _suite(n: int) -> dict:
    return {"name": f"sparse{n}", "defaults": {"start_tier": 2, "time_limit_minutes": 300},
            "generators": [{"name": f"sparse{n}", "seed": 77, "count": 6, "services": [n, n], "mix": "uniform",
                            "concurrent": 0.5, "noise": [0.0, 1.0]}]}


def test_nonzero_columns_lists_each_rows_nonzeros_in_order():
    m = np.array([[[0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, -1.0], [1.0, 1.0, 1.0, 1.0]]])
    np.testing.assert_array_equal(nonzero_columns(m)[0], [[1, 3, -1, -1], [-1, -1, -1, -1], [0, 3, -1, -1],
                                                         [0, 1, 2, 3]])


def test_every_scenarios_callee_lists_are_its_upward_calls_nonzeros(tmp_path):
    """What the kernel walks is exactly the nonzero weights the dense loop used (``if w != 0``), in
    column order, so its sums add the same terms in the same order."""
    n = 96
    path = tmp_path / "sparse.yaml"
    path.write_text(yaml.safe_dump(_suite(n)))
    venv = IncidentVectorEnv(num_envs=6, suite=str(path), max_services=n)
    venv.reset(seed=3)
    for scenario in venv.suite.scenarios:
        p = venv._single._params_of(scenario)
        for j in range(n):
            nonzero = np.flatnonzero(p.upward_calls[0, j])
            np.testing.assert_array_equal(p.upward_callees[0, j, :len(nonzero)], nonzero)
            assert (p.upward_callees[0, j, len(nonzero):] == -1).all()
        assert np.count_nonzero(p.upward_calls) > n // 2  # a real call graph, not an empty one
