"""Benchmark agents on a scenario suite, with honest statistics.

    python evaluate.py --suite standard --agents random,naive,runbook,expert,oracle,runs/x/model.zip \\
        --episodes 200 --seed 0 --out results/std [--workers 4]
    python evaluate.py ... --backend ray [--address HOST:PORT]   # episodes as Ray tasks (extra: .[ray])

Every agent plays the same seeded episodes (episode i: seed SEED + i); the random agent and the
oracle always run, as 0 and 100 of the normalised score. The episodes, the score, its statistics
and the outputs are defined in the ``evaluation`` package (``python -m pydoc evaluation.statistics``).
Exit status: 0 on success, 2 for a bad argument (checked before any episode runs), 1 for a model
file that cannot be used.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

from evaluation import plots, reports
from evaluation.cli import OneLineParser
from evaluation.play import EpisodePlan, cached_agent, cached_env, play_agents
from evaluation.statistics import DEFAULT_REPS, REFERENCES, normalised_scores
from evaluation.summary import summarise_all


def parse_args(argv: list[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    p = OneLineParser(prog="evaluate.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="standard", help="built-in suite name or path to a suite file (default standard)")
    p.add_argument("--agents", default="random,naive,runbook,expert,oracle",
                   help="comma-separated: random, naive, runbook, expert, oracle, or model files path.zip[:algo]")
    p.add_argument("--episodes", type=int, default=200, help="episodes per agent (default 200)")
    p.add_argument("--seed", type=int, default=0, help="episode i uses seed SEED + i (default 0)")
    p.add_argument("--out", type=Path, default=None, help="directory for results.json, CSVs, Markdown and plots")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default 1; with --backend ray: the cluster's CPUs); results do not "
                        "depend on it")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: worker processes on this machine; ray: Ray tasks on a local Ray instance of "
                        "--workers CPUs (default: all cores) or on the cluster at --address (default local)")
    p.add_argument("--address", default=None,
                   help="with --backend ray: an existing Ray cluster, e.g. 10.0.0.5:6379 or auto")
    p.add_argument("--max-services", type=int, default=None, help="observation/action padding (default 16)")
    p.add_argument("--reps", type=int, default=DEFAULT_REPS, help=f"bootstrap resamples (default {DEFAULT_REPS})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    args.agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    if not args.agents:
        p.error("--agents is empty")
    if len(set(args.agents)) != len(args.agents):
        p.error("--agents names an agent twice")
    lows = (("--episodes", args.episodes, 1), ("--workers", args.workers, 1), ("--reps", args.reps, 100),
            ("--seed", args.seed, 0), ("--max-services", args.max_services, 1))
    for name, value, low in lows:
        if value is not None and value < low:
            p.error(f"{name} must be at least {low}")
    if args.out is not None and (problem := reports.cannot_write(args.out)):
        p.error(f"--out {args.out}: {problem}")
    if args.address is not None and args.backend != "ray":
        p.error("--address needs --backend ray")
    if args.address is not None and not args.address.strip():
        p.error("--address is empty")
    if args.backend == "ray":
        from evaluation.ray_backend import RayUnavailable, host_and_port, import_ray

        try:
            import_ray()
            if args.address is not None:
                host_and_port(args.address)
        except RayUnavailable as e:
            p.error(f"--backend ray: {e}")
    return p, args


def main(argv: list[str] | None = None) -> int:
    parser, args = parse_args(argv)
    from agents.registry import UnknownAgentError, is_model_spec
    from agents.trained import ModelLoadError
    from supportgym.contract.vocabulary import DEFAULT_MAX_SERVICES
    from supportgym.suite import SuiteError

    max_services = DEFAULT_MAX_SERVICES if args.max_services is None else args.max_services
    plan = EpisodePlan(args.suite, args.episodes, args.seed, max_services)
    specs = list(REFERENCES) + [s for s in args.agents if s not in REFERENCES]
    try:
        cached_env(plan.suite, plan.max_services)
    except SuiteError as e:
        parser.error(f"--suite: {e}")
    except ValueError as e:  # the suite does not fit
        parser.error(f"--max-services: {e}")
    try:
        for spec in sorted(specs, key=is_model_spec):  # every agent once, names first: fail before any work
            cached_agent(spec, plan.suite, plan.max_services)
        results = play(parser, args, specs, plan)
    except UnknownAgentError as e:
        parser.error(str(e))
    except ModelLoadError as e:
        print(f"evaluate.py: error: {e}", file=sys.stderr)
        return 1
    summary = summarise_all(results, normalised_scores(results), args.reps, args.seed)
    shown = list(args.agents) + [r for r in REFERENCES if r not in args.agents]
    print(reports.console(plan, summary, shown, args.agents))
    if args.out is not None:
        reports.write_reports(args.out, plan, args.reps, args.agents, shown, results, summary)
        plots.write_plots(args.out, shown, summary)
        print(f"\nwrote {args.out}/{', '.join(reports.FILES + plots.FILES)}")
    return 0


def play(parser: argparse.ArgumentParser, args: argparse.Namespace, specs: list[str],
         plan: EpisodePlan) -> dict[str, list]:
    """The episodes on the chosen backend (the records do not depend on it)."""
    progress = not args.no_progress
    if args.backend == "local":
        return play_agents(specs, plan, args.workers or 1, progress=progress)
    from evaluation.ray_backend import RayUnavailable, in_ray_tasks, ray_session

    with ExitStack() as stack:
        try:
            cpus = stack.enter_context(ray_session(args.address, args.workers))
        except RayUnavailable as e:
            parser.error(f"--backend ray: {e}")
        return play_agents(specs, plan, args.workers or cpus, progress=progress, runner=in_ray_tasks)


if __name__ == "__main__":
    sys.exit(main())
