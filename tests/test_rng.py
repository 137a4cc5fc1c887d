"""supportgym.rng: compiled streams draw bit for bit what numpy's Generator draws."""

from __future__ import annotations

import numpy as np
import pytest

from supportgym import rng as streams_mod
from supportgym.rng import read_streams, write_stream

# (name, numpy draw, compiled draw) over one generator / one stream row
RANGES = [(0, 1), (0, 2), (1, 9), (3, 60), (-5, 7), (0, 1000003), (0, 2**32 - 1), (0, 2**32), (7, 2**32 + 7),
          (0, 2**40 + 3), (-2**62, 2**62), (0, 3 * 2**30), (-2**62, 2**62 + 2**61)]  # the last two reject often


def _program(seed: int) -> list[tuple]:
    """A seeded mix of draws, so 32-bit halves are left buffered across other draws."""
    plan = np.random.default_rng(10_000 + seed)
    ops = []
    for _ in range(40):
        op = int(plan.integers(5))
        if op == 0:
            ops.append(("random",))
        elif op == 1:
            ops.append(("uniform", float(plan.uniform(-10, 10)), float(plan.uniform(10, 2000))))
        elif op == 2:
            ops.append(("integers", *RANGES[int(plan.integers(len(RANGES)))]))
        elif op == 3:
            ops.append(("normal",))
        else:
            ops.append(("shuffle", int(plan.integers(0, 12))))
    return ops


def _numpy(g: np.random.Generator, op: tuple):
    if op[0] == "random":
        return g.random()
    if op[0] == "uniform":
        return g.uniform(op[1], op[2])
    if op[0] == "integers":
        return int(g.integers(op[1], op[2]))
    if op[0] == "normal":
        return g.standard_normal()
    return g.permutation(list(range(op[1]))).tolist()


def _compiled(s: np.ndarray, op: tuple):
    if op[0] == "random":
        return streams_mod.random(s, 0)
    if op[0] == "uniform":
        return streams_mod.uniform(s, 0, op[1], op[2])
    if op[0] == "integers":
        return int(streams_mod.integers(s, 0, np.int64(op[1]), np.int64(op[2])))
    if op[0] == "normal":
        return streams_mod.standard_normal(s, 0)
    values = np.arange(op[1])
    streams_mod.shuffle(s, 0, values)
    return values.tolist()


@pytest.mark.parametrize("block", range(4))
def test_every_draw_equals_numpys_over_many_seeds(block):
    for seed in range(block * 250, (block + 1) * 250):
        g = np.random.default_rng(seed)
        s = read_streams([g])
        for op in _program(seed):
            expected, got = _numpy(g, op), _compiled(s, op)
            assert expected == got, (seed, op, expected, got)
        # the stream and the generator end in the same state, buffered half included
        np.testing.assert_array_equal(s, read_streams([g]))


def test_normal_tail_matches_numpy():
    # enough normals that the ziggurat's rare branches (tail, wedges) run
    g = np.random.default_rng(7)
    s = read_streams([g])
    expected = g.standard_normal((50, 2000))
    got = np.array([streams_mod.standard_normal(s, 0) for _ in range(50 * 2000)]).reshape(50, 2000)
    np.testing.assert_array_equal(expected, got)
    assert np.abs(expected).max() > 3.65  # the tail beyond the ziggurat's base was drawn


def test_rows_draw_from_their_own_streams_and_write_back():
    gens = [np.random.default_rng(s) for s in (1, 2, 3)]
    twins = [np.random.default_rng(s) for s in (1, 2, 3)]
    s = read_streams(gens)
    got = [streams_mod.random(s, row) for row in (2, 0, 2, 1)]
    assert got == [twins[2].random(), twins[0].random(), twins[2].random(), twins[1].random()]
    for g, row in zip(gens, s):
        write_stream(g, row)
    assert [g.integers(100) for g in gens] == [t.integers(100) for t in twins]


def test_a_generator_that_is_not_pcg64_is_refused_with_a_clear_error():
    with pytest.raises(TypeError, match="PCG64"):
        read_streams([np.random.Generator(np.random.MT19937(0))])


def test_array_draws_are_the_scalar_draws_in_order():
    """An episode draws ``integers(low, high, n)`` and ``uniform(low, high, n)`` as arrays; the
    compiled draws are one value at a time."""
    g = np.random.default_rng(11)
    s = read_streams([g])
    g.integers(5)  # leave a 32-bit half buffered on both sides
    streams_mod.integers(s, 0, np.int64(0), np.int64(5))
    expected = [*g.integers(3, 60, 25).tolist(), *g.uniform(5.0, 60.0, 7).tolist(), *g.random((3, 4)).ravel().tolist()]
    got = ([int(streams_mod.integers(s, 0, np.int64(3), np.int64(60))) for _ in range(25)]
           + [streams_mod.uniform(s, 0, 5.0, 60.0) for _ in range(7)] + [streams_mod.random(s, 0) for _ in range(12)])
    assert expected == got


def test_the_env_draws_from_np_random_and_hands_its_state_back():
    from supportgym.env import IncidentEnv

    env, twin = IncidentEnv("hard"), IncidentEnv("hard")
    env.reset(seed=3)
    twin.reset(seed=3)
    env.np_random.random()  # whoever draws from np_random between episodes moves the next one
    assert not np.array_equal(env.reset()[0], twin.reset()[0])
    env.np_random = np.random.Generator(np.random.MT19937(0))
    with pytest.raises(TypeError, match="PCG64"):
        env.reset()
