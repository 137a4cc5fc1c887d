"""Benchmark agents on a scenario suite, with honest statistics.

    python evaluate.py --suite standard --agents random,naive,runbook,expert,oracle,runs/x/model.zip \\
        --episodes 200 --seed 0 --out results/std [--workers 4]
    python evaluate.py --agents expert,runs/x/model.zip --episodes 50 --reports reports/std --report-episodes 5
    python evaluate.py ... --backend ray [--address HOST:PORT]   # episodes as Ray tasks (extra: .[ray])

Every agent plays the same seeded episodes (episode i: seed SEED + i); the random agent and the
oracle always run, as 0 and 100 of the normalised score. The episodes, the score, its statistics
and the outputs are defined in the ``evaluation`` package (``python -m pydoc evaluation.statistics``).
Exit status: 0 on success, 2 for a bad argument (checked before any episode runs), 1 for a model
file that cannot be used.

``--reports DIR`` writes the post-incident report (``IncidentEnv.incident_report``) of each
reported agent's first ``--report-episodes`` episodes to ``DIR/<agent>/<scenario>-ep<episode>.md``:
how to see why a policy scored what it did. The results do not depend on it.
"""

from __future__ import annotations

import argparse
import re
import sys
from contextlib import ExitStack
from pathlib import Path

from evaluation import plots, reports
from evaluation.cli import OneLineParser
from evaluation.play import EpisodePlan, Record, ReportRequest, cached_agent, cached_env, play_agents
from evaluation.statistics import DEFAULT_REPS, REFERENCES, normalised_scores
from evaluation.summary import summarise_all

#: Incident reports per reported agent unless --report-episodes says otherwise: enough to read,
#: few enough that a 1000-episode run does not write thousands of files.
DEFAULT_REPORT_EPISODES = 20


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
    p.add_argument("--reports", type=Path, default=None, metavar="DIR",
                   help="write incident reports (Markdown) to DIR/<agent>/<scenario>-ep<episode>.md")
    p.add_argument("--report-agents", default=None, metavar="A,B",
                   help="agents to report on, from --agents or the references (default: every agent of --agents)")
    p.add_argument("--report-episodes", type=int, default=None, metavar="K",
                   help=f"report each such agent's first K episodes (default {DEFAULT_REPORT_EPISODES})")
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
    _check_report_args(p, args)
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


def safe_name(name: str) -> str:
    """``name`` as one file-name part: anything but letters, digits, '.', '-' and '_' replaced
    (an agent's directory is its spec, and a model spec is a path, perhaps with ':algo')."""
    return re.sub(r"[^\w.-]+", "_", name).strip("_.") or "agent"


def _check_report_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Settle ``args.report_agents`` (a list) and refuse report options that cannot work."""
    if args.reports is None:
        for name, value in (("--report-agents", args.report_agents), ("--report-episodes", args.report_episodes)):
            if value is not None:
                p.error(f"{name} needs --reports DIR")
        return
    if problem := reports.cannot_write(args.reports):
        p.error(f"--reports {args.reports}: {problem}")
    if args.report_episodes is None:
        args.report_episodes = DEFAULT_REPORT_EPISODES
    if args.report_episodes < 1:
        p.error("--report-episodes must be at least 1")
    if args.report_agents is None:
        args.report_agents = list(args.agents)
    else:
        args.report_agents = [a.strip() for a in args.report_agents.split(",") if a.strip()]
        playing = set(args.agents) | set(REFERENCES)
        if not args.report_agents:
            p.error("--report-agents is empty")
        if unknown := [a for a in args.report_agents if a not in playing]:
            p.error(f"--report-agents names {', '.join(unknown)}, which is not in --agents or the references "
                    f"({', '.join(REFERENCES)})")
    dirs = [safe_name(a) for a in args.report_agents]
    if len(set(dirs)) != len(dirs):
        p.error("--report-agents: two agents would share a report directory")


def write_incident_report(out: Path, spec: str, record: Record, text: str) -> Path:
    """One incident report under ``out``, with a last line saying who played which episode."""
    path = out / safe_name(spec) / f"{safe_name(record['scenario'])}-ep{record['episode']}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{text}\n---\n\nPlayed by `{spec}` in evaluate.py: episode {record['episode']}, "
                    f"seed {record['seed']}.\n")
    return path


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
    written: list[Path] = []
    request = None if args.reports is None else ReportRequest(
        frozenset(args.report_agents), args.report_episodes,
        lambda spec, record, text: written.append(write_incident_report(args.reports, spec, record, text)))
    try:
        for spec in sorted(specs, key=is_model_spec):  # every agent once, names first: fail before any work
            cached_agent(spec, plan.suite, plan.max_services)
        results = play(parser, args, specs, plan, request)
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
    if args.reports is not None:
        print(f"\nwrote {len(written)} incident reports to {args.reports}/<agent>/")
    return 0


def play(parser: argparse.ArgumentParser, args: argparse.Namespace, specs: list[str], plan: EpisodePlan,
         request: ReportRequest | None) -> dict[str, list[Record]]:
    """The episodes on the chosen backend (the records do not depend on it)."""
    progress = not args.no_progress
    if args.backend == "local":
        return play_agents(specs, plan, args.workers or 1, progress=progress, reports=request)
    from evaluation.ray_backend import RayUnavailable, in_ray_tasks, ray_session

    with ExitStack() as stack:
        try:
            cpus = stack.enter_context(ray_session(args.address, args.workers))
        except RayUnavailable as e:
            parser.error(f"--backend ray: {e}")
        return play_agents(specs, plan, args.workers or cpus, progress=progress, reports=request,
                           runner=in_ray_tasks)


if __name__ == "__main__":
    sys.exit(main())
