"""Incident-v1 simulation speed: steps per second of random allowed actions.

    python benchmarks/speed.py                 # every built-in suite, then 8/32/128 services, then the vector env
    python benchmarks/speed.py --steps 50000   # longer runs (each row: median of --repeats runs)
    python benchmarks/speed.py --part vector --sizes 1 16 256 1024 4096
    python benchmarks/speed.py --part profile  # cProfile of the single env's step/reset
    python benchmarks/speed.py --part services --services 8 32 128 256   # vector env step time vs services

Single env (through gym.make): the agent picks uniformly among the allowed actions
(``info["action_mask"]``). ``steps/s`` and ``µs/step`` include the agent's own cost, as a user's
loop would; ``env µs`` is the time inside ``step``/``reset`` only. Resets are included. The
scaling part runs the standard mix of faults on generated layered topologies of 8, 32 and 128
services. Vector env (``supportgym.vector``, standard suite): actions are drawn uniformly among
each row's allowed ones in one vectorised call, outside the timed region; ``env-steps/s`` counts
rows x steps over the time inside ``step`` (autoresets included). If ``nasim`` is installed, its
``small`` benchmark runs too (uniform random actions, time inside ``step``/``reset``). The vector
env uses up to ``--threads`` threads (default: every core; a batch steps in ranges of at least
256 rows, so small batches use one).

Services part: the vector env (``--services-envs`` rows, default 64) on generated suites of
exactly n services (a generator entry with ``services: [n, n]``, written to a temporary suite
file; ``max_services`` = n), time per env-step inside ``step``, split into the step kernel
(``core.step_kernel``: the simulation), the read-out (the rest of ``core.step``: the masks and the
observation copy the step makes once its rows have stepped), the resets of ended rows and the rest
(bookkeeping), with the growth exponent of the total and of the step kernel between successive
sizes (1 = linear in services). The observation holds the ``n x n`` call graph, so its copy is
quadratic in n by size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import yaml

import supportgym
from supportgym.suite.layered import layered_suite
from supportgym.threads import available_cores


def measure(env: gym.Env, steps: int, seed: int) -> tuple[float, float, float]:
    """(steps per second, mean microseconds per step, mean microseconds inside step/reset) over
    ``steps`` steps after a warm-up."""
    rng = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    for _ in range(200):  # warm-up: compiled kernels load, caches fill
        _, _, term, trunc, info = env.step(_random_allowed(rng, info["action_mask"]))
        if term or trunc:
            _, info = env.reset()
    inside = 0.0
    clock = time.perf_counter
    start = clock()
    for _ in range(steps):
        action = _random_allowed(rng, info["action_mask"])
        t0 = clock()
        _, _, term, trunc, info = env.step(action)
        if term or trunc:
            _, info = env.reset()
        inside += clock() - t0
    elapsed = clock() - start
    return steps / elapsed, elapsed / steps * 1e6, inside / steps * 1e6


def measure_vector(num_envs: int, steps: int, seed: int, suite: str = "standard",
                   threads: int | None = None) -> tuple[float, ...]:
    """(env-steps per second, µs per batched step, of which resetting the rows that ended, µs per
    reset row) of the native vector env over about ``steps`` env-steps (at least 20 batched
    steps), timing only ``step``."""
    from supportgym.vector import IncidentVectorEnv

    venv = IncidentVectorEnv(num_envs=num_envs, suite=suite, copy=True, threads=threads)
    iterations, inside, parts = _time_steps(venv, max(20, steps // num_envs), seed)
    return (iterations * num_envs / inside, inside / iterations * 1e6, parts["resets"] / iterations * 1e6,
            parts["resets"] / parts["reset rows"] * 1e6)


def _time_steps(venv, iterations: int, seed: int) -> tuple[int, float, dict[str, float]]:
    """Reset ``venv``, warm it up, then time ``iterations`` batched steps of masked-random actions:
    (iterations, seconds inside ``step``, seconds inside each part: ``core.step``, the step kernel
    within it, the resets of the rows that ended; and ``reset rows``, how many rows ended)."""
    from unittest import mock

    from supportgym import core

    rng = np.random.default_rng(seed)
    _, info = venv.reset(seed=seed)
    for _ in range(20):  # warm-up
        _, _, _, _, info = venv.step(_random_allowed_rows(rng, info["action_mask"]))
    parts = {"core.step": _Timed(core.step), "step kernel": _Timed(core.step_kernel),
             "resets": _Timed(venv._reset_rows)}
    inside, ended = 0.0, 0
    with mock.patch.object(core, "step", parts["core.step"]), \
            mock.patch.object(core, "step_kernel", parts["step kernel"]), \
            mock.patch.object(venv, "_reset_rows", parts["resets"]):
        for _ in range(iterations):
            actions = _random_allowed_rows(rng, info["action_mask"])
            t0 = time.perf_counter()
            _, _, terminated, truncated, info = venv.step(actions)
            inside += time.perf_counter() - t0
            ended += int(np.count_nonzero(terminated | truncated))
    return iterations, inside, {**{name: part.seconds for name, part in parts.items()}, "reset rows": max(ended, 1)}


def generated_suite(n: int, count: int = 8) -> dict:
    """A suite of ``count`` generated scenarios on topologies of exactly ``n`` services."""
    return {"name": f"generated{n}", "description": f"Generated tiered systems of {n} services (speed benchmark).",
            "defaults": {"start_tier": 1, "time_limit_minutes": 300, "post_resolution_minutes": 60,
                         "validate_minutes": 10},
            "generators": [{"name": f"gen{n}", "seed": 5000 + n, "count": count, "services": [n, n], "mix": "ghosh",
                            "concurrent": 0.15, "noise": [0.0, 1.0], "red_herrings": [0, 3]}]}


class _Timed:
    """A callable that sums the seconds spent in ``fn``."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def measure_services(n: int, num_envs: int, steps: int, seed: int, suite_dir: Path,
                     threads: int | None = None) -> dict[str, float]:
    """µs per env-step of the vector env on ``n``-service generated systems, in total and by part
    (the step kernel, the read-out, resets, the rest), over about ``steps`` env-steps."""
    from supportgym.vector import IncidentVectorEnv

    path = suite_dir / f"generated-{n}.yaml"
    path.write_text(yaml.safe_dump(generated_suite(n)))
    venv = IncidentVectorEnv(num_envs=num_envs, suite=str(path), max_services=n, copy=True, threads=threads)
    iterations, inside, parts = _time_steps(venv, max(10, steps // num_envs), seed)
    per_step = 1e6 / (iterations * num_envs)
    out = {"total": inside * per_step, "step kernel": parts["step kernel"] * per_step,
           "read-out": (parts["core.step"] - parts["step kernel"]) * per_step, "resets": parts["resets"] * per_step,
           "obs floats": float(venv.state.obs.shape[1])}
    out["rest"] = out["total"] - sum(out[k] for k in ("step kernel", "read-out", "resets"))
    return out


def report_services(sizes: list[int], num_envs: int, steps: int, repeats: int, seed: int,
                    threads: int | None = None) -> None:
    """The table of ``measure_services`` (median total of ``repeats`` runs) with growth exponents."""
    columns = ("total", "step kernel", "read-out", "resets", "rest")
    print(f"\nvector env ({num_envs} rows), generated systems: µs per env-step\n{'services':>9}{'obs floats':>11}"
          + "".join(f"{c:>12}" for c in columns) + f"{'growth':>8}{'kernel':>8}")
    previous = None
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            runs = sorted((measure_services(n, num_envs, steps, seed + r, Path(tmp), threads) for r in range(repeats)),
                          key=lambda run: run["total"])
        run = runs[len(runs) // 2]
        growth = ["" if previous is None else f"{np.log(run[c] / previous[c]) / np.log(n / previous['n']):.2f}"
                  for c in ("total", "step kernel")]
        print(f"{n:>9}{run['obs floats']:>11.0f}" + "".join(f"{run[c]:>12.1f}" for c in columns)
              + f"{growth[0]:>8}{growth[1]:>8}", flush=True)
        previous = {**run, "n": n}


def _random_allowed_rows(rng: np.random.Generator, masks: np.ndarray) -> np.ndarray:
    """One uniformly drawn allowed action per row of ``masks`` (B, A), in one vectorised draw."""
    return np.argmax(rng.random(masks.shape) * masks, axis=1)


def measure_nasim(steps: int, seed: int) -> tuple[float, float] | None:
    """(steps per second, µs per step) inside NASim ``small``'s step/reset, or None without nasim."""
    try:
        import nasim
    except ImportError:
        return None
    env = nasim.make_benchmark("small", seed=seed)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    inside = 0.0
    for _ in range(steps):
        action = int(env.action_space.sample())  # NASim's flat action space takes Python ints only
        t0 = time.perf_counter()
        _, _, term, trunc, _ = env.step(action)
        if term or trunc:
            env.reset()
        inside += time.perf_counter() - t0
    return steps / inside, inside / steps * 1e6


def profile(steps: int, seed: int, top: int = 30) -> None:
    """cProfile of ``steps`` masked-random steps of the standard suite (time inside step/reset)."""
    import cProfile
    import pstats

    env = gym.make("supportgym/Incident-v1").unwrapped
    measure(env, 500, seed)  # warm-up
    profiler = cProfile.Profile()
    profiler.enable()
    measure(env, steps, seed)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats("supportgym", top)


def _random_allowed(rng: np.random.Generator, mask: np.ndarray) -> int:
    allowed = np.flatnonzero(mask)
    return int(allowed[rng.integers(len(allowed))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20000, help="steps per measurement (default 20000)")
    parser.add_argument("--repeats", type=int, default=3, help="report the median of this many runs (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--part", choices=("all", "single", "vector", "services", "profile"), default="all",
                        help="what to measure (default all: single env, NASim, the vector env, then services)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 16, 256, 1024, 4096],
                        help="vector env sizes (default 1 16 256 1024 4096)")
    parser.add_argument("--services", type=int, nargs="+", default=[8, 32, 128, 256],
                        help="services per generated system for the services part (default 8 32 128 256)")
    parser.add_argument("--services-envs", type=int, default=64, help="vector env rows in the services part (64)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads the vector env may use (default: every available core)")
    args = parser.parse_args()
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, not {args.threads}")
    if args.part == "profile":
        profile(args.steps, args.seed)
        return

    def report(label: str, services: int, env: gym.Env) -> None:
        runs = sorted(measure(env, args.steps, args.seed + r) for r in range(args.repeats))
        sps, us, inside = runs[len(runs) // 2]
        print(f"{label:<12}{services:>9}{sps:>10.0f}{us:>9.1f}{inside:>8.1f}{1e6 / inside:>11.0f}", flush=True)

    if args.part in ("all", "single"):
        print(f"{'suite':<12}{'services':>9}{'steps/s':>10}{'µs/step':>9}{'env µs':>8}{'env st/s':>11}")
        for suite in supportgym.builtin_suites(training_distributions=False):
            env = gym.make("supportgym/Incident-v1", suite=suite)
            report(suite, env.unwrapped.suite.max_services, env)
        with tempfile.TemporaryDirectory() as tmp:
            for n in (8, 32, 128):
                path = Path(tmp) / f"layered-{n}.yaml"
                path.write_text(yaml.safe_dump(layered_suite(n)))
                report("layered", n, gym.make("supportgym/Incident-v1", suite=str(path), max_services=n))
        nasim_run = measure_nasim(args.steps, args.seed)
        if nasim_run is not None:
            print(f"{'nasim-small':<12}{'':>9}{'':>10}{'':>9}{nasim_run[1]:>8.1f}{nasim_run[0]:>11.0f}", flush=True)
    if args.part in ("all", "vector"):
        threads = args.threads or available_cores()
        print(f"\nvector env, standard suite, up to {threads} threads\n"
              f"{'num_envs':>9}{'env-steps/s':>13}{'µs/batch step':>15}"
              f"{'resets µs':>11}{'µs/reset row':>14}")
        for n in args.sizes:
            runs = sorted(measure_vector(n, args.steps, args.seed + r, threads=args.threads)
                          for r in range(args.repeats))
            sps, us, resets, per_row = runs[len(runs) // 2]
            print(f"{n:>9}{sps:>13.0f}{us:>15.0f}{resets:>11.0f}{per_row:>14.0f}", flush=True)
    if args.part in ("all", "services"):
        report_services(args.services, args.services_envs, args.steps, args.repeats, args.seed, args.threads)


if __name__ == "__main__":
    main()
