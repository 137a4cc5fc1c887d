"""Playing agents on seeded episodes: the one rollout loop, the episode plan and its workers.

**Incident reports.** ``play_agents`` can also collect the post-incident report
(``IncidentEnv.incident_report``) of each agent's first episodes: a worker returns their text
with its records, and they reach a sink in the main process, so the files are written in one
place and the records are the same as without them.

**Episodes.** Episode ``i`` (0 <= i < episodes) of a plan resets the environment with seed
``seed + i``; the scenario is the suite's weighted draw under that seed (or the plan's fixed
scenario), so the suite's mix is respected and every agent plays exactly the same episodes.
Spreading episodes over worker processes gives the same records as one process: episodes are
independent, agents hold nothing between episodes, and records are sorted by episode index.

**Batched.** A rule-based agent (it reads only observations and keeps one memory per row) plays
a worker's chunk on the vector env (``supportgym.vector``), ``BATCH_ROWS`` episodes at once, each
row reset with its episode's seed: the same records, faster. The oracle (it reads its env),
trained models and episodes whose incident report is asked for play one at a time.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import gymnasium as gym
import numpy as np

if TYPE_CHECKING:  # agents import the registry, which imports this module's users: no import at load time
    from agents.base import Agent

#: Episode metrics kept per episode (from ``info["episode_metrics"]``).
EPISODE_FIELDS = ("scenario", "return", "resolved_and_held", "time_to_mitigate", "time_to_resolve", "impact_minutes",
                  "harmful_actions", "invalid_actions", "escalations", "wrong_closures", "validated",
                  "declared_severity", "true_severity", "steps")

#: Called before each step with (observation, info, action): what the agent saw and chose.
Observer = Callable[[np.ndarray, dict[str, Any], int], None]
Record = dict[str, Any]
#: Called in the main process with (agent spec, an episode's record, its incident report).
ReportSink = Callable[[str, Record, str], None]


def run_episode(env: gym.Env, agent: Agent, seed: int, options: dict[str, Any] | None = None,
                observe: Observer | None = None) -> dict[str, Any]:
    """Play one episode of ``env`` reset with ``seed``; return its ``episode_metrics``.

    The agent gets SB3's arguments each step: its own ``state`` back, ``episode_start`` on the
    first observation, and the action mask. ``observe`` sees every decision (e.g. to record a
    teacher's demonstrations).
    """
    obs, info = env.reset(seed=seed, options=options)
    state, start = None, np.ones(1, dtype=bool)
    while True:
        action, state = agent.predict(obs, state=state, episode_start=start, deterministic=True,
                                      action_masks=info["action_mask"])
        start = np.zeros(1, dtype=bool)
        if observe is not None:
            observe(obs, info, int(action))
        obs, _, terminated, truncated, info = env.step(int(action))
        if terminated or truncated:
            return dict(info["episode_metrics"])


@dataclass(frozen=True)
class EpisodePlan:
    """Which episodes every agent plays: seeds ``seed .. seed + episodes - 1`` of ``suite``."""

    suite: str
    episodes: int
    seed: int
    max_services: int
    scenario: str | None = None  # None: the suite's weighted draw per seed

    @property
    def options(self) -> dict[str, Any] | None:
        return None if self.scenario is None else {"scenario": self.scenario}

    def chunks(self, workers: int) -> list[range]:
        """Episode indices in about four chunks per worker, so workers finish close together."""
        size = max(1, math.ceil(self.episodes / (4 * workers)))
        return [range(lo, min(lo + size, self.episodes)) for lo in range(0, self.episodes, size)]


def make_env(suite: str, max_services: int) -> gym.Env:
    import supportgym  # noqa: F401  (registers the environment)

    return gym.make("supportgym/Incident-v1", suite=suite, max_services=max_services, disable_env_checker=True)


@dataclass
class IncidentReports:
    """Incident reports gathered while playing: those of the episodes with index below ``episodes``."""

    episodes: int
    texts: dict[int, str] = field(default_factory=dict)  # by episode index


@dataclass(frozen=True)
class ReportRequest:
    """Which incident reports ``play_agents`` collects: the first ``episodes`` episodes of each
    agent in ``agents``, each handed to ``sink``."""

    agents: frozenset[str]
    episodes: int
    sink: ReportSink


def play(env: gym.Env, agent: Agent, plan: EpisodePlan, indices: Iterable[int] | None = None,
         observe: Observer | None = None, reports: IncidentReports | None = None) -> list[Record]:
    """One agent on the plan's episodes (all, or ``indices``): a record per episode, in order.
    With ``reports``, the incident report of each episode it asks for goes into it."""
    records = []
    for i in range(plan.episodes) if indices is None else indices:
        metrics = run_episode(env, agent, plan.seed + i, plan.options, observe)
        records.append({"episode": i, "seed": plan.seed + i, **{k: metrics[k] for k in EPISODE_FIELDS}})
        if reports is not None and i < reports.episodes:
            reports.texts[i] = env.unwrapped.incident_report()
    return records


#: Episodes a batched chunk plays at once, as rows of one vector env.
BATCH_ROWS = 64


def batchable(agent: Agent) -> bool:
    """An agent that reads only observations and keeps one memory per row (a rule-based agent)
    can play many episodes at once on the vector env; the oracle reads its env, models may not."""
    from agents.rule import RuleAgent

    return isinstance(agent, RuleAgent)


def play_batched(agent: Agent, plan: EpisodePlan, indices: Iterable[int], rows: int = BATCH_ROWS) -> list[Record]:
    """``play`` on the vector env (``supportgym.vector``): up to ``rows`` episodes at once, each row
    reset with its episode's seed when it starts one, so the records equal ``play``'s. The agent
    gets a batch of observations and its per-row memories back (``RuleAgent.predict``)."""
    indices = list(indices)
    if not indices:
        return []
    pending = iter(indices)
    n = min(rows, len(indices))
    env = cached_vector_env(plan.suite, plan.max_services, n)
    episode: list[int | None] = [next(pending) for _ in range(n)]
    obs, info = env.reset(seed=[plan.seed + i for i in episode], options=plan.options)
    state, starts = None, np.ones(n, dtype=bool)
    records: dict[int, Record] = {}
    while len(records) < len(indices):
        actions, state = agent.predict(obs, state=state, episode_start=starts, deterministic=True,
                                       action_masks=info["action_mask"])
        obs, _, terminated, truncated, info = env.step(np.asarray(actions, dtype=np.int64))
        starts = terminated | truncated
        if not starts.any():
            continue
        seeds: list[int | None] = [None] * n
        for row in np.flatnonzero(starts):
            i = episode[row]
            if i is None:  # this row has played its share: what it does now is not recorded
                continue
            metrics = info["episode_metrics"][row]
            records[i] = {"episode": i, "seed": plan.seed + i, **{k: metrics[k] for k in EPISODE_FIELDS}}
            episode[row] = next(pending, None)
            if episode[row] is not None:
                seeds[row] = plan.seed + episode[row]
        again = np.array([s is not None for s in seeds])
        if again.any():  # the row autoreset from its own generator: start the plan's episode instead
            obs, info = env.reset(seed=seeds, options={"reset_mask": again, **(plan.options or {})})
    return [records[i] for i in indices]


# --- processes -------------------------------------------------------------------------------
_CACHE: dict[tuple, Any] = {}  # per process: environments and agents, built once and reused


def cached_env(suite: str, max_services: int) -> gym.Env:
    key = ("env", suite, max_services)
    if key not in _CACHE:
        _CACHE[key] = make_env(suite, max_services)
    return _CACHE[key]


def cached_vector_env(suite: str, max_services: int, rows: int) -> Any:
    from supportgym.vector import IncidentVectorEnv

    key = ("vector", suite, max_services, rows)
    if key not in _CACHE:
        _CACHE[key] = IncidentVectorEnv(num_envs=rows, suite=suite, max_services=max_services)
    return _CACHE[key]


def cached_agent(spec: str, suite: str, max_services: int) -> Agent:
    """The agent named ``spec`` (see ``agents.registry``) for this process's environment."""
    from agents.registry import make_agent

    key = ("agent", spec, suite, max_services)
    if key not in _CACHE:
        _CACHE[key] = make_agent(spec, cached_env(suite, max_services))
    return _CACHE[key]


def single_thread_torch() -> None:
    """One torch thread per process: workers do not fight over cores, and a policy computes
    the same numbers in any process."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


T = TypeVar("T")
R = TypeVar("R")
#: How tasks run: ``in_processes`` here, or ``evaluation.ray_backend.in_ray_tasks``.
Runner = Callable[[Callable[[T], R], list[T], int], Iterator[R]]


def in_processes(fn: Callable[[T], R], tasks: list[T], workers: int) -> Iterator[R]:
    """``fn`` over ``tasks``, in this process (``workers == 1``) or in ``workers`` spawned
    processes; results come in order of completion. ``fn`` must be importable by name."""
    if workers == 1:
        yield from map(fn, tasks)
        return
    with mp.get_context("spawn").Pool(workers, initializer=single_thread_torch) as pool:
        yield from pool.imap_unordered(fn, tasks)


def _play_chunk(task: tuple[str, EpisodePlan, range, int]) -> tuple[str, list[Record], dict[int, str]]:
    spec, plan, indices, report_episodes = task
    env, agent = cached_env(plan.suite, plan.max_services), cached_agent(spec, plan.suite, plan.max_services)
    reports = IncidentReports(report_episodes)
    if batchable(agent) and not any(i < report_episodes for i in indices):  # reports need the single env
        return spec, play_batched(agent, plan, indices), reports.texts
    return spec, play(env, agent, plan, indices, reports=reports), reports.texts


def play_agents(specs: list[str], plan: EpisodePlan, workers: int = 1, progress: bool = False,
                reports: ReportRequest | None = None, runner: Runner = in_processes) -> dict[str, list[Record]]:
    """Every agent on every episode of the plan; per agent, records in episode order. Torch runs
    one thread here as in the workers, so a policy's numbers do not depend on ``workers`` (nor
    on the ``runner`` that spreads the chunks).
    ``reports``: incident reports to collect, handed to its sink as their chunks finish."""
    from tqdm import tqdm

    single_thread_torch()
    wanted = {spec: reports.episodes if reports is not None and spec in reports.agents else 0 for spec in specs}
    tasks = [(spec, plan, chunk, wanted[spec]) for spec in specs for chunk in plan.chunks(workers)]
    results: dict[str, list[Record]] = defaultdict(list)
    with tqdm(total=plan.episodes * len(specs), desc="episodes", unit="ep", disable=not progress,
              file=sys.stderr) as bar:
        for spec, records, texts in runner(_play_chunk, tasks, workers):
            results[spec] += records
            for record in records:
                if record["episode"] in texts:
                    reports.sink(spec, record, texts[record["episode"]])
            bar.update(len(records))
    return {spec: sorted(results[spec], key=lambda r: r["episode"]) for spec in specs}
