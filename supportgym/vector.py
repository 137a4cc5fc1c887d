"""``IncidentVectorEnv``: a native batched ``gymnasium.vector.VectorEnv`` over ``core.step``.

The single env (``env.IncidentEnv``) steps one row through ``core.step``; this steps ``num_envs``
rows through the same call at once, so there is one copy of the dynamics. Row *i* is exactly a
single env reset with seed ``seed + i`` (gymnasium's ``SyncVectorEnv`` convention) and given the
same actions, across its autoresets: each row has its own random stream (``supportgym.rng``: the
state of the generator a single env seeded like it would hold, drawn from in compiled code), and a
row draws its scenario and episode the way ``IncidentEnv.reset`` does.

* Rows may run different scenarios: ``params`` stacks the parameters (reward weights included)
  of the scenarios the rows run, each once, and row b reads its scenario's at
  ``state.param_row[b]``, so 4,096 rows of a 32-scenario suite share 32 parameter rows (cache
  and memory). A parameter row no row runs any more is reused for the next new scenario, so
  there are never more than ``num_envs`` of them, whatever the suite's size.
* Autoreset mode is ``AutoresetMode.SAME_STEP`` (``metadata["autoreset_mode"]``), the one SB3
  expects: the step that ends a row returns its reward and ``terminated``/``truncated``, the
  *new* episode's first observation and mask, and the ended episode's last observation in
  ``infos["final_obs"]`` and its metrics in ``infos["episode_metrics"]`` (object arrays, set where
  ``infos["_final_obs"]`` / ``infos["_episode_metrics"]`` are true); ``infos["final_info"]`` has the
  ended episode's last mask and metrics, laid out as ``SyncVectorEnv`` lays out ``final_info``.
  ``infos["minutes"]`` and ``infos["invalid_action"]`` are those of the step just taken in every row.
* Masks: ``action_masks()`` (B, A) and ``infos["action_mask"]``.
* For training aids (``training/``): ``start_tiers`` (B,) opens a row's next episodes at another
  tier (0: the scenario's own; it draws nothing, so the row's trajectories are a single env's with
  that ``start_tier``), and ``step_end_hooks`` are called with the state each step reached,
  before the rows that ended are reset (how a reward wrapper reads an ended episode's last state).
* Resets of the rows that end run as one batch: the rows draw their scenarios and episodes in
  compiled code, each from its own stream (``episode.choose``, ``episode.draw_episodes``), open
  at once (``episode.open_episodes``: warm-up to time 0, first alerts and observation) and are
  copied into the state, one assignment per field.

``gym.make_vec("supportgym/Incident-v1", num_envs=N)`` builds one (every Incident id registers it as its
``vector_entry_point``, the default mode of ``make_vec``; ``vectorization_mode="sync"`` still gives a
``SyncVectorEnv`` of single envs), as does ``IncidentVectorEnv(num_envs=N, suite=...)``. Keyword arguments
are those of ``IncidentEnv`` (``suite``, ``max_services``, ``scenario``, ``start_tier``) plus ``copy``
(return a copy of the observation buffer, default) and ``max_episode_steps`` (truncate a row after that
many steps of its episode, as ``gym.make(..., max_episode_steps=N)``'s ``TimeLimit`` truncates a single env,
metrics included) and ``threads``: how many threads a step may use (default: every core this
process may run on; a batch steps in ranges of at least ``threads.MIN_ROWS_PER_THREAD`` rows, so
small batches use one; results are the same for any number). Each range's thread also reads its
rows' masks and copies their observations once they have stepped (``core.step``'s ``after``), so a
step hands work to another thread once; the rows that ended and were reset are read again after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from supportgym import core
from supportgym.contract.vocabulary import DEFAULT_MAX_SERVICES
from supportgym.env import IncidentEnv, InvalidActionError
from supportgym.episode import choose, draw_episodes, open_episodes
from supportgym.metrics import rows_metrics
from supportgym.rng import STREAM_WORDS, read_streams
from supportgym.stages.action import allowed_range, allowed_rows
from supportgym.suite import Scenario
from supportgym.threads import available_cores, row_ranges, run_ranges, splits
from supportgym.world.params import PARAM_ARRAY_NAMES, Params
from supportgym.world.state import State


#: Rows of observations worth a thread of their own to copy, outside a step (a row is ~0.3 µs of
#: copying; a handoff ~100 µs: ``supportgym.threads``). A step copies them on its own threads.
COPY_ROWS_PER_THREAD = 1024


class IncidentVectorEnv(VectorEnv):
    """``num_envs`` independent incidents stepped together; see the module docstring."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, suite: str | Path = "standard", max_services: int = DEFAULT_MAX_SERVICES,
                 scenario: str | None = None, start_tier: int | None = None, copy: bool = True,
                 render_mode: str | None = None, max_episode_steps: int | None = None, threads: int | None = None):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be at least 1, not {num_envs!r}")
        if max_episode_steps is not None and (not isinstance(max_episode_steps, int) or max_episode_steps < 1):
            raise ValueError(f"max_episode_steps must be a positive int or None, not {max_episode_steps!r}")
        self.max_episode_steps = max_episode_steps
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive int or None (every available core), not {threads!r}")
        #: Threads a step may use (ranges of at least ``threads.MIN_ROWS_PER_THREAD`` rows each).
        self.threads = available_cores() if threads is None else threads
        if render_mode is not None:
            raise ValueError("IncidentVectorEnv does not render; use IncidentEnv(render_mode=...) for one episode")
        # The single env is the template: it loads and checks the suite, builds the action table
        # and spaces, and caches each scenario's parameters; its own episode is never used.
        self._single = IncidentEnv(suite, max_services, scenario=scenario, start_tier=start_tier)
        self.num_envs = int(num_envs)
        self.copy = copy
        self.render_mode = None
        self.suite = self._single.suite
        self.table = self._single.table
        self.layout = self._single.layout
        self.single_observation_space = self._single.observation_space
        self.single_action_space = self._single.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

        first = self._single.scenario
        B = self.num_envs
        self.scenarios: list[Scenario] = [first] * B
        # Parameter row k holds the scenario ``self._held[k]`` (a suite index, -1 none), and
        # ``self._row_of[index]`` maps back (-1: not held); the writable buffers behind ``params`` (read-only views of
        # them) grow by doubling, up to num_envs rows.
        self._param_buffers: dict[str, np.ndarray] = {}
        self._held = np.zeros(0, dtype=np.int64)
        self._row_of = np.full(len(self._single.suite.scenarios), -1, dtype=np.int64)
        self._grow_params(1)
        self._load(0, self._single.scenario_index(first))
        self.state = State.empty(B, self.table.max_services)
        # Row i's random stream (``supportgym.rng``): the state of the generator a single env seeded
        # like row i would hold, drawn from in compiled code (steps and resets).
        self._streams = np.zeros((B, STREAM_WORDS), dtype=np.uint64)
        self._seeded = np.zeros(B, dtype=bool)
        self._started = False
        self._ones = np.ones(B, dtype=bool)
        self._ones.setflags(write=False)
        #: Per row, the tier its next episodes open at, 0 for the scenario's own (a training
        #: curriculum sets it; it draws nothing, so a row's trajectories stay its seed's otherwise).
        self.start_tiers = np.zeros(B, dtype=np.int64)
        #: Called after every step with the state the step reached, before the rows that ended
        #: are reset: what a training wrapper needs to read an ended episode's last state.
        self.step_end_hooks: list[Callable[[State], None]] = []

    # --- the VectorEnv API ---------------------------------------------------------------------

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every row (or the rows of ``options["reset_mask"]``). ``seed``: an int seeds row
        *i* with ``seed + i``, a list seeds each row, ``None`` keeps each row's generator (seeded
        from entropy on first use). ``options["scenario"]`` fixes the scenario of the reset rows."""
        B = self.num_envs
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        scenario = options.pop("scenario", None)
        if options:
            raise ValueError(f"unknown reset option(s) {sorted(options)}; supported: 'scenario', 'reset_mask'")
        if mask is None:
            rows = np.arange(B)
        else:
            mask = np.asarray(mask)
            if mask.shape != (B,) or mask.dtype != np.bool_ or not mask.any():
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({B},) with a True value")
            if not self._started and not mask.all():
                raise RuntimeError("the first reset() must reset every row")
            rows = np.flatnonzero(mask)
        if seed is None:
            seeds: list[int | None] = [None] * B
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(B)]
        else:
            seeds = list(seed)
            if len(seeds) != B:
                raise ValueError(f"seed must be an int, None or a list of {B} seeds, not {len(seeds)}")
        for i in rows:
            if seeds[i] is not None or not self._seeded[i]:
                self._streams[i] = read_streams([seeding.np_random(seeds[i])[0]])[0]
                self._seeded[i] = True
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        self._reset_rows(rows, None if scenario is None else self.suite.scenario(scenario))
        self._started = True
        return self._observations(), {"action_mask": self.action_masks(), "_action_mask": self._ones}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every row by its action (B,); rows that end are reset in the same step (SAME_STEP)."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        actions = self._check_actions(actions)
        state = self.state
        masks = np.empty((self.num_envs, self.table.n), dtype=bool)
        obs = np.empty_like(state.obs) if self.copy else state.obs

        def read_out(start: int, stop: int) -> None:  # on the thread that stepped these rows
            allowed_range(self.params, state, start, stop, masks)
            if self.copy:
                part = slice(start, stop)
                np.copyto(obs[part], state.obs[part])

        res = core.step(self.params, state, self.table, actions, self._streams, self.threads, after=read_out)
        if self.max_episode_steps is not None:  # as a TimeLimit around a single env: its steps since reset
            res.truncated |= state.steps >= self.max_episode_steps
        ended = res.terminated | res.truncated
        for hook in self.step_end_hooks:
            hook(state)
        infos: dict[str, Any] = {"minutes": res.minutes, "_minutes": self._ones,
                                 "invalid_action": res.invalid, "_invalid_action": self._ones}
        if ended.any():
            rows = np.flatnonzero(ended)
            final_obs = np.full(self.num_envs, None, dtype=object)
            metrics = np.full(self.num_envs, None, dtype=object)
            ended_obs = state.obs[rows]  # one copy of them all; each row's is a view of it
            for j, (i, ended_metrics) in enumerate(zip(rows.tolist(), self.rows_metrics(rows))):
                final_obs[i] = ended_obs[j]
                metrics[i] = ended_metrics
            final_masks = np.zeros((self.num_envs, self.table.n), dtype=bool)
            final_masks[rows] = allowed_rows(self.params, state, rows)
            infos.update(final_obs=final_obs, _final_obs=ended, episode_metrics=metrics, _episode_metrics=ended,
                         final_info={"action_mask": final_masks, "_action_mask": ended,
                                     "episode_metrics": metrics, "_episode_metrics": ended})
            self._reset_rows(rows, None)
            masks[rows] = allowed_rows(self.params, state, rows)  # their new episodes'
            if self.copy:
                obs[rows] = state.obs[rows]
        infos["action_mask"], infos["_action_mask"] = masks, self._ones
        return obs, res.reward, res.terminated, res.truncated, infos

    def action_masks(self) -> np.ndarray:
        """(B, A) bool: the actions each row may take now, as MaskablePPO expects."""
        return core.action_mask(self.params, self.state, self.threads)

    def episode_metrics(self, row: int) -> dict[str, Any]:
        """Row ``row``'s episode metrics as they stand (they name the hidden fault)."""
        return self.rows_metrics(np.array([row]))[0]

    def rows_metrics(self, rows: np.ndarray) -> list[dict[str, Any]]:
        """``episode_metrics`` of each of ``rows`` (read at once)."""
        scenarios = [self.scenarios[i] for i in rows]
        return rows_metrics(self.state, rows, [sc.topology.names for sc in scenarios], [sc.name for sc in scenarios])

    # --- internals -----------------------------------------------------------------------------

    def _observations(self) -> np.ndarray:
        """The observation buffer, or a copy of it (``copy``; a large one copied on threads)."""
        obs = self.state.obs
        if not self.copy:
            return obs
        if not splits(len(obs), self.threads, COPY_ROWS_PER_THREAD):
            return obs.copy()
        out = np.empty_like(obs)
        run_ranges(lambda start, stop: np.copyto(out[start:stop], obs[start:stop]),
                   row_ranges(len(obs), self.threads, COPY_ROWS_PER_THREAD))
        return out

    def _check_actions(self, actions: Any) -> np.ndarray:
        """(B,) int64 actions, or ``InvalidActionError`` (as the single env's ``action_index``)."""
        a = np.asarray(actions)
        if a.shape != (self.num_envs,) or a.dtype.kind not in "iu":
            raise InvalidActionError(f"actions must be {self.num_envs} integer indices of Discrete({self.table.n}), "
                                     f"not an array of shape {a.shape} and dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= self.table.n):
            raise InvalidActionError(f"actions must lie in Discrete({self.table.n}); got {a.min()}..{a.max()}")
        return a.astype(np.int64, copy=False)

    def _reset_rows(self, rows: np.ndarray, scenario: Scenario | None) -> None:
        """New episodes in ``rows``: each row draws its scenario and episode from its own stream,
        exactly as ``IncidentEnv.reset`` does, all rows in one batch (``episode.choose`` and
        ``episode.draw_episodes``), which then opens at once and is copied into the state."""
        single = self._single
        fixed = np.full(len(rows), single.scenario_index(scenario))
        chosen = choose(single._cdf, fixed, self._streams, rows)
        scenarios = single.suite.scenarios
        for i, index in zip(rows, chosen):
            self.scenarios[i] = scenarios[index]
        # The rows open together: one batch of the resetting rows, on their scenarios' parameter rows.
        opening = State.empty(len(rows), self.table.max_services)
        opening.param_row[:] = self._param_rows(rows, chosen)
        draw_episodes(single.plans, self.params, opening, chosen, self._streams, rows)
        tiers = self.start_tiers[rows]
        opening.tier[tiers > 0] = tiers[tiers > 0]
        open_episodes(self.params, opening)
        self.state.put(rows, opening)

    def _param_rows(self, rows: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        """The parameter row of each scenario ``chosen`` (suite indices) that ``rows`` reset into:
        the row already holding it, else one that no other row runs and no scenario of ``chosen``
        holds (an empty one first; ``params`` grows when there is none), loaded with it."""
        out = self._row_of[chosen]
        missing = np.flatnonzero(out < 0)
        if len(missing) == 0:  # (most resets: every scenario drawn is held already)
            return out
        slots = len(self._held)
        resetting = np.bincount(self.state.param_row[rows], minlength=slots)
        others = np.bincount(self.state.param_row, minlength=slots) - resetting  # the rows that run on
        taken = (others > 0) | np.isin(self._held, chosen)
        for m in missing.tolist():
            index = int(chosen[m])
            k = int(self._row_of[index])
            if k < 0:  # (else an earlier row of this reset loaded it)
                free = np.flatnonzero(~taken)
                if len(free) == 0:  # (never with num_envs rows: at most num_envs - 1 others are taken)
                    self._grow_params(min(2 * len(self._held), self.num_envs))
                    taken = np.concatenate([taken, np.zeros(len(self._held) - len(taken), bool)])
                    free = np.flatnonzero(~taken)
                empty = free[self._held[free] < 0]
                k = int(empty[0] if len(empty) else free[0])
                self._load(k, index)
                taken[k] = True
            out[m] = k
        return out

    def _load(self, k: int, index: int) -> None:
        """Write scenario ``index``'s parameters into parameter row ``k`` (replacing its scenario's)."""
        p = self._single._params_at(index)
        for buffer, value in zip(self._param_buffers.values(), p.arrays()):  # (in PARAM_ARRAY_NAMES order)
            buffer[k] = value[0]
        if self._held[k] >= 0:
            self._row_of[self._held[k]] = -1
        self._held[k] = index
        self._row_of[index] = k

    def _grow_params(self, size: int) -> None:
        """Room for ``size`` parameter rows (the rows held so far kept in place)."""
        held = len(self._held)
        for name, value in zip(PARAM_ARRAY_NAMES, self._single.params.arrays()):  # (one row each)
            grown = np.zeros((size, *value.shape[1:]), dtype=value.dtype)
            if held:
                grown[:held] = self._param_buffers[name]
            self._param_buffers[name] = grown
        self._held = np.concatenate([self._held, np.full(size - held, -1, dtype=np.int64)])
        self.params = Params(**{name: buffer.view() for name, buffer in self._param_buffers.items()})

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release: no subprocesses, no files."""
