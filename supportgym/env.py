"""The ``supportgym/Incident-v1`` Gymnasium environment: a thin shell over ``core.step``."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit

from supportgym import core
from supportgym.contract.actions import ActionTable
from supportgym.contract.observation import ObservationLayout
from supportgym.contract.vocabulary import DEFAULT_MAX_SERVICES, check_fits
from supportgym.episode import EpisodePlans, cumulative_weights, new_episode, scenario_params
from supportgym.journal import Journal, StepRecord
from supportgym.metrics import episode_metrics
from supportgym.render import render_ansi
from supportgym.report import incident_report
from supportgym.reward import reward_bounds
from supportgym.stages.action import allowed_rows
from supportgym.suite import Scenario, Suite, load_suite
from supportgym.world.params import Params


class InvalidActionError(ValueError):
    """An action that is not an index of the action space (wrong type, shape or range)."""


def action_index(action: Any, n: int) -> int:
    """The index ``action`` names in ``Discrete(n)``, or :class:`InvalidActionError`.

    Accepted: a Python ``int`` or numpy integer scalar, and a 0-d or shape-(1,) integer array (a
    vector env's slice). Refused: booleans, floats (even ``2.0``), strings, ``None``, lists,
    other shapes, and indices outside ``0 .. n-1``.
    """
    value = action
    if isinstance(value, np.ndarray):
        if value.shape not in ((), (1,)):
            raise InvalidActionError(f"action must be one integer index of Discrete({n}), "
                                     f"not an array of shape {value.shape}")
        value = value.reshape(())[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise InvalidActionError(f"action must be an integer index of Discrete({n}), "
                                 f"not {type(value).__name__} {shown}")
    if not 0 <= value < n:
        raise InvalidActionError(f"action {int(value)} is outside Discrete({n})")
    return int(value)


class IncidentEnv(gym.Env):
    """Respond to a production incident as an L1 → L2 → L3 support engineer.

    ## Description
    A simulated production system (services in a dependency graph, with traffic, replicas and
    golden signals) has one or two hidden faults: a bad deploy, a memory leak, a cache crash, an
    expired certificate, ... (thirteen types). Errors and latency propagate *up* the call graph,
    so the loudest alert is often on a healthy caller; load propagates *down*, so a dead cache
    overloads its database. The agent sees alerts (delayed, sometimes false or missing), a
    customer ticket, and whatever evidence its checks gather; it must find the root cause,
    apply a remedy that lasts, validate, and close. Every action costs simulated minutes while
    the world moves on. Scenarios come from a suite file (``scenarios/*.yaml``).

    ## Action space
    ``Discrete(max_services * 10 + 15)``. Index ``s * 10 + k`` is per-service action ``k`` on
    service slot ``s``: 0 check logs, 1 check metrics, 2 check traces, 3 check changes, 4 restart,
    5 rollback, 6 scale out, 7 hotfix, 8 failover, 9 reproduce (a synthetic request through an
    entry service). Then fifteen global actions: declare SEV1, SEV2, SEV3; file the ticket as API,
    DB, AUTH, UI, INFRA; reassign it to the filed category's team; search knowledge base;
    escalate; ask the customer; wait; validate; resolve. ``action_names`` gives a readable name
    per index for the current episode. Actions are gated by tier (L1: metrics, restart, knowledge
    base, severity, category, reassign, escalate, ask the customer, wait, validate, resolve; L2
    adds logs, traces, changes, reproduce, rollback, scale out, failover; L3 adds hotfix) and by
    topology (empty slots, third-party providers, entry services for reproduce).
    ``action_masks()`` and ``info["action_mask"]`` give the allowed set; a masked action is a
    no-op that costs a minute and ``invalid_action`` reward. An action is a Python or numpy
    integer, or a 0-d or shape-(1,) integer array (as vector envs pass them); anything else (a
    float, even ``2.0``, a bool, ``None``, a string, a list, another shape, an index outside the
    space) raises ``supportgym.InvalidActionError``, a ``ValueError``.

    ## Observation space
    ``Box(0, 1, (max_services * 61 + 38 + max_services ** 2,), float32)``: per service slot,
    topology facts (present, kind, entry traffic, depth, failover), firing alerts (errors,
    latency, saturation, down), an internal report flag, the last metric reading, log
    signature, trace result, change recency and reproduction result with their freshness, the
    knowledge base's suggestion and the remedies done so far; then the tier, declared severity,
    elapsed time, last validation result, knowledge-base status, ticket category, the team the
    ticket is routed to and the category it is filed under, the customer's last answer, and
    alert load; then the call graph, ``max_services x max_services`` call weights (row = caller,
    column = callee). ``supportgym.contract.observation.ObservationLayout`` reads it by feature
    name. The hidden fault (and the team that owns it) is never in the observation, nor in
    ``info`` before the end.

    ## Rewards
    Per step: minus user-impact minutes (weight ``impact``), minus engineer time (by tier, more
    under a declared SEV1), minus ``harm`` per harmful action (a needless restart, an unrelated
    rollback, a hotfix of a healthy service). An escalation takes longer while the ticket sits
    with the wrong team (20 minutes more: that team bounces it) or is filed under the wrong
    category or none (5 more). On ``resolve``: the simulator runs a post-resolution window;
    ``+resolve_bonus`` if no fault is left and users stay unhurt, else ``-reopen_penalty``; the
    window's impact is charged, and ``-unconfirmed_close`` if the reporting customer was never
    asked whether it works again (or last said it did not). At the end: ``-timeout_penalty`` on truncation and
    ``-severity_mismatch`` if the declared severity is wrong. Weights are per suite;
    ``reward_bounds`` gives the per-step range.

    ## Starting state
    A scenario is drawn by weight (or chosen with ``options={"scenario": NAME}``); the fault
    service, onset, intensity, noise draws, red-herring changes and the ticket's routing (with
    chance ``misroute``, a team that does not own the fault) are drawn from the seed. The
    world has run from the fault's onset to the moment the incident opens, so alerts are firing.
    Every draw comes from ``np_random``: compiled code draws what numpy would from its state
    (``supportgym.rng``) and hands the state back, so ``np_random`` must be a ``PCG64``
    generator (gymnasium's and numpy's default); another bit generator raises ``TypeError``.

    ## Episode end
    Terminated on ``resolve`` (``info["episode_metrics"]["resolved_and_held"]`` says whether the
    resolution held). Truncated when the scenario's time limit (simulated minutes) is reached.
    When a gymnasium ``TimeLimit`` truncates instead (``gym.make(..., max_episode_steps=N)``, or
    your own ``TimeLimit(env, N)``), the env fills ``info["episode_metrics"]`` on its N-th step
    all the same (``outer_step_limit``); under another truncating wrapper, apply
    ``EpisodeMetricsOnTruncation`` after it or read ``env.unwrapped.episode_metrics()``.

    ## Arguments
    ``gym.make("supportgym/Incident-v1", suite="standard", max_services=16, render_mode=None)``:
    ``suite`` is a built-in suite name (``tutorial``, ``standard``, ``hard``) or a path to a suite
    file; ``max_services`` pads the observation and action space; ``render_mode="ansi"`` returns
    a text view of alerts, evidence and the timeline, ``"human"`` prints it at every step, and
    ``"rgb_array"`` returns a picture of the same, drawn from the observation only (a
    ``(576, 1024, 3) uint8`` frame: the service graph coloured by observed alerts, the evidence,
    the remedies, a timeline strip; needs pillow); ``scenario`` fixes one scenario of the suite
    (``reset(options={"scenario": ...})`` still overrides it for one episode); ``start_tier``
    overrides the suite's starting tier (1-3), e.g. for a training curriculum.

    ## Incident report
    ``env.unwrapped.incident_report()`` returns the episode's post-incident report in Markdown
    (``supportgym.report``): summary, timeline of signals and actions on the simulated clock,
    evidence and what it pointed to, remedies, validation, impact, the root cause and the
    mistakes. The root cause, the impact and the harmful actions appear only once the episode has
    ended (mid-episode it shows what the agent saw); it raises before the first ``reset``.

    ## Ids
    ``supportgym/Incident-v1`` is the standard suite; ``supportgym/Incident-<Suite>-v1`` (e.g.
    ``supportgym/Incident-Tutorial-v1``) is each built-in suite, for clients that take only an id.
    ``gym.make_vec(id, num_envs=N)`` builds each id's native vector env (its ``vector_entry_point``,
    ``supportgym.vector.IncidentVectorEnv``); ``vectorization_mode="sync"`` or ``"async"`` gives
    gymnasium's vector envs of single envs.

    ## Version history
    * v1: the call graph in the observation; L1 triage files a category and reassigns a misrouted
      ticket (misrouting slows escalations); L2 reproduces through an entry service; the customer
      can be asked whether it works again (``unconfirmed_close`` reward weight). Both spaces grew,
      so v0 models do not load.
    * v0: initial release.
    """

    metadata = {"render_modes": ["ansi", "human", "rgb_array"], "render_fps": 4}

    def __init__(self, suite: str | Path = "standard", max_services: int = DEFAULT_MAX_SERVICES,
                 render_mode: str | None = None, scenario: str | None = None, start_tier: int | None = None):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, not {render_mode!r}")
        self.suite = load_suite(suite, max_services)  # refuses a too-large generator entry before generating
        if start_tier is not None:  # e.g. a curriculum that first trains from L2
            if start_tier not in (1, 2, 3):
                raise ValueError(f"start_tier must be 1, 2 or 3, not {start_tier!r}")
            self.suite = replace(self.suite, scenarios=tuple(replace(sc, start_tier=start_tier)
                                                             for sc in self.suite.scenarios))
        check_fits(self.suite.max_services, max_services, f"{self.suite.source}: a topology")
        self.render_mode = render_mode
        self.table = ActionTable.build(max_services)
        self.layout = ObservationLayout(max_services)
        self._use_suite(self.suite)
        self.observation_space = spaces.Box(0.0, 1.0, (self.layout.size,), np.float32)
        self.action_space = spaces.Discrete(self.table.n)
        self.fixed_scenario = None if scenario is None else self.suite.scenario(scenario)
        first = self.fixed_scenario or self.suite.scenarios[0]
        self.scenario: Scenario = first
        self.params: Params = self._params_of(first)
        self.reward_bounds = reward_bounds(self.params.reward_weights, first.post_resolution_minutes,
                                           first.validate_minutes)
        self.state = None
        self._names: dict[str, list[str]] = {}
        self.action_names: list[str] = self._action_names(first)
        self.journal: Journal | None = None  # the current episode's record (``incident_report``)
        self._done = False
        self._step_limit: int | None = None  # of a TimeLimit around this env (``outer_step_limit``)
        # every step's action and result, read at once (no arrays made per step)
        self._action, self._result = np.zeros(1, dtype=np.int64), core.StepResult.empty(1)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"scenario"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}; supported: 'scenario'")
        chosen = options.get("scenario")
        fixed = self.scenario_index(None if chosen is None else self.suite.scenario(chosen))
        index, self.params, self.state = new_episode(self.plans, self._cdf, fixed, self._params_at, self.np_random)
        self.scenario = self.suite.scenarios[index]
        self.action_names = self._action_names(self.scenario)
        self.journal = Journal.start(seed, self.state.obs[0], float(self.state.impact_now[0]), self.journal)
        self._done = False
        self._step_limit = outer_step_limit(self)
        if self.render_mode == "human":
            self.render()
        # No scenario name here: names say the fault. It is in ``episode_metrics`` at the end.
        return self.state.obs[0].copy(), {"action_mask": self.action_masks()}

    def step(self, action):
        if self.state is None or self._done:
            why = "the episode has ended" if self._done else "no episode"
            raise RuntimeError(f"call reset() before step(): {why}")
        a = action_index(action, self.table.n)
        started = float(self.state.time[0])
        self._action[0] = a
        res = core.step(self.params, self.state, self.table, self._action, self.np_random, out=self._result)
        terminated, truncated = bool(res.terminated[0]), bool(res.truncated[0])
        self._done = terminated or truncated
        info: dict[str, Any] = {"action_mask": self.action_masks(), "minutes": float(res.minutes[0]),
                                "invalid_action": bool(res.invalid[0])}
        s = self.state
        self.journal.record(StepRecord(started, float(s.time[0]), a, info["minutes"], float(res.reward[0]),
                                       info["invalid_action"], bool(res.harmful[0]), float(s.impact_now[0]),
                                       float(s.impact_minutes[0])), s.obs[0])
        if self._done or (self._step_limit is not None and s.steps[0] >= self._step_limit):
            info["episode_metrics"] = self.episode_metrics()  # the end, or the TimeLimit around us truncates
        if self.render_mode == "human":
            self.render()
        return self.state.obs[0].copy(), float(res.reward[0]), terminated, truncated, info

    def episode_metrics(self) -> dict[str, Any]:
        """The current episode's metrics as they stand (at its end, ``info["episode_metrics"]``).

        For a harness whose own wrapper ends episodes (a ``TimeLimit``): they name the hidden
        fault, so an agent must not read them before the end.
        """
        if self.state is None:
            raise RuntimeError("call reset() before episode_metrics(): no episode")
        return episode_metrics(self.state, 0, self.scenario.topology.names, self.scenario.name)

    def incident_report(self, ended: bool | None = None) -> str:
        """The current episode's post-incident report, in Markdown (``supportgym.report``).

        Once the episode has ended it reveals the root cause, the user impact and the harmful
        actions; while it runs, it shows only what the agent has seen and says so. ``ended``
        overrides whether it has ended, for a harness whose own wrapper (a ``TimeLimit``) ended it.
        """
        if self.journal is None:
            raise RuntimeError("call reset() before incident_report(): no episode")
        return incident_report(self.journal, self.state, self.scenario, self.table, self.action_names,
                               self._done if ended is None else ended)

    @property
    def timeline(self) -> list[tuple[float, str, str]]:
        """(start minute, action name, note) of each step so far: the journal as ``render`` shows it."""
        steps = [] if self.journal is None else self.journal.steps
        return [(r.started, self.action_names[r.action], "masked: no-op" if r.invalid else "") for r in steps]

    def scenario_index(self, chosen: Scenario | None = None) -> int:
        """The index in the suite of a new episode's scenario: ``chosen`` (a reset option), else the
        fixed one, else -1: drawn by weight (``episode.choose``, as ``rng.choice(len(w), p=w)``)."""
        scenario = chosen if chosen is not None else self.fixed_scenario
        return -1 if scenario is None else self._scenario_index[scenario.name]

    def _use_suite(self, suite: Suite) -> None:
        """Draw episodes from ``suite`` (the shift env swaps in its own templates); a scenario's
        parameters and draw plan are built on its first reset (a generated suite has thousands)."""
        self.suite = suite
        self._params: dict[str, Params] = {}
        self._cdf = cumulative_weights(suite.weights)
        self._scenario_index = {scenario.name: i for i, scenario in enumerate(suite.scenarios)}
        self.plans = EpisodePlans(suite.scenarios, self.table.max_services)

    def _params_of(self, scenario: Scenario) -> Params:
        if scenario.name not in self._params:
            self._params[scenario.name] = scenario_params(scenario, self.table)
        return self._params[scenario.name]

    def _params_at(self, index: int) -> Params:
        return self._params_of(self.suite.scenarios[index])

    def _action_names(self, scenario: Scenario) -> list[str]:
        if scenario.name not in self._names:
            self._names[scenario.name] = self.table.names(list(scenario.topology.names))
        return self._names[scenario.name]

    def action_masks(self) -> np.ndarray:
        """Allowed actions now, as sb3-contrib's MaskablePPO expects."""
        if self.state is None:
            return self.params.mask_table[0, self.scenario.start_tier - 1, 0].copy()
        return allowed_rows(self.params, self.state, 0).copy()

    def render(self):
        if self.render_mode in ("ansi", "human"):
            scenario = self.scenario.name if self._done else None  # names say the fault
            text = render_ansi(self.state, scenario, self.scenario.topology.names, self.timeline)
            if self.render_mode == "ansi":
                return text
            print(text, flush=True)
        elif self.render_mode == "rgb_array":
            from supportgym.picture import render_rgb  # pillow loads only when a picture is asked for

            topology, s = self.scenario.topology, self.state
            return render_rgb(None if s is None else s.svc_obs[0], None if s is None else s.glob_obs[0],
                              0.0 if s is None else float(s.time[0]), topology.names, topology.calls, self.timeline)
        return None


def outer_step_limit(env: gym.Env) -> int | None:
    """The smallest ``max_episode_steps`` of the gymnasium ``TimeLimit`` wrappers around ``env``
    that are resetting it now, or None; ``IncidentEnv.reset`` asks, once per episode.

    ``gym.make(id, max_episode_steps=N)`` puts its ``TimeLimit`` outside the env and tells it
    nothing (it sets the unwrapped spec's ``max_episode_steps`` to None), and the only hook that
    could add a reporting wrapper after it, the spec's ``additional_wrappers``, makes gymnasium
    refuse the ids' ``vector_entry_point``. A wrapper's ``reset`` calls down the chain to the
    env's, so the wrappers around ``env`` are the callers just above it on the stack: this reads
    them, and stops at the first caller that is not one (a vector env, the user's code).
    """
    limits = []
    frame = sys._getframe(1)
    while frame is not None:
        local = frame.f_locals
        caller = local.get("self", local.get("env"))  # a wrapper's method, or gymnasium's passive checker
        if not isinstance(caller, gym.Env) or caller.unwrapped is not env:
            break
        limit = getattr(caller, "_max_episode_steps", None) if isinstance(caller, TimeLimit) else None
        if limit is not None:  # (a gymnasium that renamed it fails tests/test_copy_and_info.py, not here)
            limits.append(limit)
        frame = frame.f_back
    return min(limits, default=None)


class EpisodeMetricsOnTruncation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Puts ``info["episode_metrics"]`` on an episode ended by an inner wrapper, which
    ``IncidentEnv`` cannot see coming. Not needed under gymnasium's ``TimeLimit`` (the env finds
    it, ``outer_step_limit``); kept for other truncating wrappers and for older code."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if (terminated or truncated) and "episode_metrics" not in info:
            info = {**info, "episode_metrics": self.env.unwrapped.episode_metrics()}
        return obs, reward, terminated, truncated, info
