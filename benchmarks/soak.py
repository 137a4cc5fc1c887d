"""Memory soak of the vector env: RSS over a long run of masked-random actions must stay flat.

    python benchmarks/soak.py                              # 10^6 env-steps at num_envs=256, standard suite
    python benchmarks/soak.py --env-steps 3000000 --num-envs 1024 --suite hard

Steps ``IncidentVectorEnv`` (autoresets included: every ended row draws and opens a new episode)
with a uniformly drawn allowed action per row, and samples the process's resident set size
(``VmRSS`` of ``/proc/self/status``) at ``--samples`` evenly spaced points. Reports the RSS after
the warm-up (the first ``--warmup`` share of the run: kernels compiled, per-scenario parameters
cached, allocator pools filled), at the end and at its highest, and fails (exit status 1) if the
end is more than ``--tolerance`` above the warm-up figure. ``tests/test_soak.py`` runs a shorter
soak under ``pytest -m slow``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    """The resident set size of this process now, in MB (Linux ``/proc``; elsewhere the peak so far)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def soak(num_envs: int = 256, env_steps: int = 10**6, samples: int = 20, seed: int = 0, suite: str = "standard",
         warmup: float = 0.2) -> dict:
    """Run about ``env_steps`` env-steps; return the RSS samples ``[(env_steps, episodes, MB)]``,
    the warm-up, final and highest RSS after warm-up, the growth (final / warm-up - 1) and the rate."""
    from supportgym.vector import IncidentVectorEnv

    venv = IncidentVectorEnv(num_envs=num_envs, suite=suite)
    rng = np.random.default_rng(seed)
    _, info = venv.reset(seed=seed)
    iterations = max(samples, env_steps // num_envs)
    marks = set(np.linspace(0, iterations, samples + 1).astype(int)[1:].tolist())
    warm = int(iterations * warmup)
    rows, episodes, start = [(0, 0, rss_mb())], 0, time.perf_counter()
    warm_mb = None
    for k in range(1, iterations + 1):
        actions = np.argmax(rng.random(info["action_mask"].shape) * info["action_mask"], axis=1)  # masked random
        _, _, terminated, truncated, info = venv.step(actions)
        episodes += int(np.count_nonzero(terminated | truncated))
        if k == warm:
            warm_mb = rss_mb()
        if k in marks:
            rows.append((k * num_envs, episodes, rss_mb()))
    elapsed = time.perf_counter() - start
    warm_mb = rows[1][2] if warm_mb is None else warm_mb
    after = [mb for steps, _, mb in rows if steps >= warm * num_envs]
    return {"samples": rows, "warmup_mb": warm_mb, "final_mb": rows[-1][2], "peak_mb": max(after),
            "growth": rows[-1][2] / warm_mb - 1.0, "env_steps": iterations * num_envs, "episodes": episodes,
            "env_steps_per_s": iterations * num_envs / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-steps", type=int, default=10**6, help="env-steps in all (default 10^6)")
    parser.add_argument("--num-envs", type=int, default=256, help="vector env rows (default 256)")
    parser.add_argument("--samples", type=int, default=20, help="RSS samples (default 20)")
    parser.add_argument("--suite", default="standard")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=float, default=0.2, help="share of the run before the reference RSS (0.2)")
    parser.add_argument("--tolerance", type=float, default=0.05, help="allowed growth after warm-up (default 0.05)")
    args = parser.parse_args()
    out = soak(args.num_envs, args.env_steps, args.samples, args.seed, args.suite, args.warmup)
    print(f"{'env-steps':>11}{'episodes':>10}{'RSS MB':>9}")
    for steps, episodes, mb in out["samples"]:
        print(f"{steps:>11}{episodes:>10}{mb:>9.1f}")
    print(f"\n{out['env_steps']} env-steps, {out['episodes']} episodes at num_envs={args.num_envs} "
          f"({out['env_steps_per_s']:.0f} env-steps/s incl. action sampling); RSS after warm-up "
          f"{out['warmup_mb']:.1f} MB, final {out['final_mb']:.1f} MB ({out['growth']:+.1%}), "
          f"peak after warm-up {out['peak_mb']:.1f} MB")
    if out["growth"] > args.tolerance:
        print(f"FAIL: RSS grew by more than {args.tolerance:.0%} after warm-up", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
