"""``IncidentSB3VecEnv``: stable-baselines3's ``VecEnv`` over the native ``IncidentVectorEnv``.

SB3 trains on its own ``VecEnv`` API (auto-reset, ``terminal_observation`` in a list of per-env
infos, seeds set by ``seed()`` and used at the next ``reset()``). ``DummyVecEnv`` gets it by
stepping ``num_envs`` single envs in a Python loop; this gets it from one batched step, with
the same trajectories for the same seeds and actions (``tests/test_sb3_vecenv.py``).
``env_method("action_masks")`` returns each row's mask, which is how sb3-contrib's MaskablePPO
reads them (``sb3_contrib.common.maskable.utils.get_action_masks``).

Not SB3's ``Monitor``: wrap it in ``VecMonitor`` for ``info["episode"]`` statistics.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from supportgym.vector import IncidentVectorEnv


class IncidentSB3VecEnv(VecEnv):
    """SB3's ``VecEnv`` API over ``venv`` (its rows are SB3's envs)."""

    def __init__(self, venv: IncidentVectorEnv):
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None

    # --- stepping ------------------------------------------------------------------------------

    def reset(self) -> VecEnvObs:
        """Reset every row, with the seeds of ``seed()`` and the options of ``set_options()`` if any
        (then forgotten, as in ``DummyVecEnv``); rows sharing options reset together."""
        groups: dict[str, list[int]] = {}
        for i, options in enumerate(self._options):
            groups.setdefault(repr(sorted((options or {}).items())), []).append(i)
        obs = None
        for k, rows in enumerate(groups.values()):
            options = dict(self._options[rows[0]] or {})
            # The vector env's first reset covers every row: the first group's options go to all
            # rows, and the other groups' rows reset again with theirs.
            if len(rows) < self.num_envs and (k > 0 or self.venv._started):
                mask = np.zeros(self.num_envs, dtype=bool)
                mask[rows] = True
                options["reset_mask"] = mask
            obs, infos = self.venv.reset(seed=list(self._seeds), options=options or None)
        assert obs is not None
        for i in range(self.num_envs):
            self.reset_infos[i] = {"action_mask": infos["action_mask"][i]}
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        """One batched step; infos as ``DummyVecEnv`` builds them from single envs."""
        assert self._actions is not None, "step_async() first"
        obs, reward, terminated, truncated, info = self.venv.step(self._actions.reshape(self.num_envs))
        self._actions = None
        dones = terminated | truncated
        masks = info["action_mask"]
        infos: list[dict[str, Any]] = []
        for i in range(self.num_envs):
            row = {"action_mask": masks[i], "minutes": float(info["minutes"][i]),
                   "invalid_action": bool(info["invalid_action"][i]),
                   "TimeLimit.truncated": bool(truncated[i] and not terminated[i])}
            if dones[i]:
                row["action_mask"] = info["final_info"]["action_mask"][i]
                row["episode_metrics"] = info["episode_metrics"][i]
                row["terminal_observation"] = info["final_obs"][i]
                self.reset_infos[i] = {"action_mask": masks[i]}
            infos.append(row)
        return obs, reward.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    # --- attributes and methods ----------------------------------------------------------------

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Per row: its ``scenario``; any other attribute of the vector env, the same for every row."""
        rows = self._get_indices(indices)
        if attr_name == "scenario":
            return [self.venv.scenarios[i] for i in rows]
        value = getattr(self.venv, attr_name)  # AttributeError if it has none, as has_attr expects
        return [value] * len(rows)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the vector env: its rows share it, so only all rows at once."""
        if len(self._get_indices(indices)) != self.num_envs:
            raise ValueError("the rows of IncidentSB3VecEnv share their attributes: set them for all rows")
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """``action_masks`` (each row's mask) and ``episode_metrics`` (each row's, as they stand)."""
        rows = self._get_indices(indices)
        if method_name == "action_masks":
            masks = self.venv.action_masks()
            return [masks[i] for i in rows]
        if method_name == "episode_metrics":
            return self.venv.rows_metrics(np.asarray(rows, dtype=np.int64))
        raise AttributeError(f"IncidentSB3VecEnv rows have no method {method_name!r} "
                             "(supported: 'action_masks', 'episode_metrics')")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """Rows are not gym envs: nothing wraps them."""
        return [False] * len(self._get_indices(indices))

    def get_images(self) -> Sequence[np.ndarray | None]:
        raise NotImplementedError("IncidentSB3VecEnv does not render; use IncidentEnv(render_mode='rgb_array')")

    def _get_indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return [int(i) for i in (indices if isinstance(indices, Iterable) else [indices])]
