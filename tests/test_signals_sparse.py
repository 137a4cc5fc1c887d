"""The signal kernel walks each service's callees (``Params.upward_callees``), not the dense
N x N matrix, and the kernels skip the padding slots; the golden trajectories pin their results
on the shipped suites."""

from __future__ import annotations

import dataclasses

import numpy as np
import yaml

from supportgym import core
from supportgym.env import IncidentEnv
from supportgym.episode import new_episode, nonzero_columns
from supportgym.vector import IncidentVectorEnv
from supportgym.world.state import STATE_FIELDS


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


def _same_states(a, b) -> None:
    for name in STATE_FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_skipping_the_padding_slots_changes_nothing():
    """The kernels loop over a system's ``Params.n_services`` slots, not all of them: episodes on
    systems smaller than the slots (heldout: 9 to 16 services in 16) open and step exactly as the
    full loops (``n_services`` set to the slot count) open and step them."""
    env = IncidentEnv("heldout")
    rng, compared = np.random.default_rng(5), 0
    for index, scenario in enumerate(env.suite.scenarios):
        trimmed = env._params_of(scenario)
        slots = trimmed.present.shape[1]
        if trimmed.n_services[0] == slots or compared >= 4:
            continue
        full = dataclasses.replace(trimmed, n_services=np.full_like(trimmed.n_services, slots))
        generators = [np.random.default_rng(index) for _ in range(2)]
        (_, _, s_trim), (_, _, s_full) = (new_episode(env.plans, env._cdf, index, lambda _, p=p: p, g)
                                          for p, g in zip((trimmed, full), generators))
        _same_states(s_trim, s_full)
        for _ in range(200):
            actions = np.array([rng.choice(np.flatnonzero(core.action_mask(trimmed, s_trim)[0]))])
            r_trim = core.step(trimmed, s_trim, env.table, actions, generators[0])
            r_full = core.step(full, s_full, env.table, actions, generators[1])
            _same_states(s_trim, s_full)
            for field in dataclasses.fields(r_trim):
                np.testing.assert_array_equal(getattr(r_trim, field.name), getattr(r_full, field.name))
            if r_trim.terminated[0] or r_trim.truncated[0]:
                break
        assert generators[0].bit_generator.state == generators[1].bit_generator.state
        compared += 1
    assert compared == 4
