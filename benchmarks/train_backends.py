"""MaskablePPO on the batched env against the same training on single envs: speed and learning.

    python benchmarks/train_backends.py                       # standard, 100k steps, evaluation every 20k
    python benchmarks/train_backends.py --timesteps 50000 --out docs/train-backends.md

Both runs train the same MaskablePPO (train.py's hyperparameters for the suite) with the same
seed and budget; only the environments differ:

* ``single envs``: SB3's ``DummyVecEnv`` of ``n_envs`` single ``IncidentEnv`` (``make_vec_env``,
  env *i* seeded ``seed + i``), the path train.py took before the batched env;
* ``batched env``: ``IncidentSB3VecEnv`` over one ``IncidentVectorEnv`` (row *i* seeded
  ``seed + i``), what train.py uses now.

Row *i* of the batched env is exactly single env *i*, so the two runs should learn exactly the same
policy: the script evaluates both every ``--eval-every`` steps on the same fixed episodes and
prints the two curves side by side, with training steps per second (steps over the wall time of
``learn``, evaluations excluded).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from sb3_contrib import MaskablePPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

import supportgym  # noqa: F401  (registers the ids)
from supportgym.sb3 import IncidentSB3VecEnv
from supportgym.vector import IncidentVectorEnv
from training.config import TRAINER_KEYS, hyperparams_file, load_hyperparams
from training.evaluation import DomainEvaluator

ROOT = Path(__file__).resolve().parent.parent


def single_envs(suite: str, n_envs: int, seed: int) -> VecEnv:
    return make_vec_env("supportgym/Incident-v1", n_envs=n_envs, seed=seed, env_kwargs={"suite": suite})


def batched_env(suite: str, n_envs: int, seed: int) -> VecEnv:
    venv = VecMonitor(IncidentSB3VecEnv(IncidentVectorEnv(num_envs=n_envs, suite=suite)))
    venv.seed(seed)
    return venv


BACKENDS = {"single envs (DummyVecEnv)": single_envs, "batched env (IncidentSB3VecEnv)": batched_env}


def run(make, args: argparse.Namespace, hyperparams: dict, evaluator: DomainEvaluator) -> tuple[list[float], float]:
    """(scores at 0, every, 2 x every, ... steps; training steps per second)."""
    n_envs = int(hyperparams.get("n_envs", 8))
    kwargs = {k: v for k, v in hyperparams.items() if k not in TRAINER_KEYS}
    torch.manual_seed(args.seed)
    model = MaskablePPO(env=make(args.suite, n_envs, args.seed), seed=args.seed, device="cpu", **kwargs)
    scores, trained, seconds = [evaluator(model)["score"]], 0, 0.0
    while trained < args.timesteps:
        start = time.perf_counter()
        model.learn(args.eval_every, reset_num_timesteps=False)
        seconds += time.perf_counter() - start
        trained = model.num_timesteps
        scores.append(evaluator(model)["score"])
    return scores, trained / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="standard")
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--eval-every", type=int, default=20_000)
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the table here (Markdown)")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    hyperparams = load_hyperparams(hyperparams_file(ROOT / "hyperparams", "maskable_ppo"), "maskable_ppo",
                                   args.suite)
    evaluator = DomainEvaluator(args.suite, args.eval_episodes, seed=10_000 + args.seed, max_services=16,
                                algo="maskable_ppo")
    results = {name: run(make, args, hyperparams, evaluator) for name, make in BACKENDS.items()}
    lines = [f"MaskablePPO on `{args.suite}`, seed {args.seed}, {args.timesteps} steps "
             f"(`python benchmarks/train_backends.py --suite {args.suite} --timesteps {args.timesteps} "
             f"--eval-every {args.eval_every} --eval-episodes {args.eval_episodes} --seed {args.seed}`); "
             f"normalised score on {args.eval_episodes} fixed episodes:", "",
             "| steps | " + " | ".join(results) + " |", "|---:|" + "---:|" * len(results)]
    curves = [scores for scores, _ in results.values()]
    for k in range(len(curves[0])):
        lines.append(f"| {k * args.eval_every} | " + " | ".join(f"{c[k]:.1f}" for c in curves) + " |")
    lines.append("| **training steps/s** | " + " | ".join(f"**{rate:,.0f}**" for _, rate in results.values()) + " |")
    same = all(c == curves[0] for c in curves)
    lines += ["", "The curves are identical." if same else "The curves differ."]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
