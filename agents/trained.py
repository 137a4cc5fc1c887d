"""Trained policies from stable-baselines3 / sb3-contrib, acting with action masks.

``load_trained("runs/x/model.zip", env)`` loads a model saved by PPO, MaskablePPO, RecurrentPPO
or DQN and wraps it as an agent with the shared ``predict`` protocol. The algorithm is read from
the file's metadata, or given after the path: ``"runs/x/model.zip:maskable_ppo"``.

Masks: every algorithm acts only among allowed actions. MaskablePPO was trained with them; for
PPO and RecurrentPPO the masked actions' logits are set to -inf, for DQN their Q-values.

Safety: loading runs no code from the file (agents/safe_load.py): every pickled value is read
with an unpickler that admits only what a policy needs, and the weights with
``torch.load(weights_only=True)``. The spaces are checked from the file's plain-JSON description
and then supplied from the environment.

VecNormalize: a model trained under it (``train.py`` with ``normalize: true``) is saved with its
statistics beside it, ``NAME_vecnormalize.pkl`` (or rl-zoo3's ``NAME/vecnormalize.pkl``); they
are loaded with the model and applied to every observation. A model that says it was trained
under VecNormalize but has no statistics beside it is refused.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.safe_load import ModelLoadError, load_model, load_vec_normalize, read_metadata
from agents.base import Agent
from agents.view import Desk

__all__ = ["ALGORITHMS", "ModelLoadError", "TrainedAgent", "load_trained", "model_agent", "parse_model_spec",
           "vec_normalize_path"]

#: Algorithm name -> (module, class).
ALGORITHMS = {
    "ppo": ("stable_baselines3", "PPO"),
    "maskable_ppo": ("sb3_contrib", "MaskablePPO"),
    "recurrent_ppo": ("sb3_contrib", "RecurrentPPO"),
    "dqn": ("stable_baselines3", "DQN"),
}
#: The module of a saved policy class tells the algorithm family.
_POLICY_MODULES = {
    "sb3_contrib.common.maskable.policies": "maskable_ppo",
    "sb3_contrib.common.recurrent.policies": "recurrent_ppo",
    "stable_baselines3.dqn.policies": "dqn",
    "stable_baselines3.common.policies": "ppo",
}
#: The attribute train.py sets on a model trained under VecNormalize (saved in its JSON data).
VECNORMALIZE_MARKER = "trained_under_vecnormalize"


def parse_model_spec(spec: str) -> tuple[Path, str | None]:
    """``"path.zip"`` or ``"path.zip:algo"`` -> (path, algo or None)."""
    head, sep, tail = spec.rpartition(":")
    if sep and tail.lower() in ALGORITHMS:
        return Path(head), tail.lower()
    return Path(spec), None


def detect_algorithm(data: dict[str, Any], path: Path) -> str:
    module = data["policy_class"].get("__module__") if isinstance(data["policy_class"], dict) else None
    algo = _POLICY_MODULES.get(module or "")
    if algo == "ppo" and "clip_range" not in data:
        algo = None  # an actor-critic policy without PPO's clipping: A2C or another algorithm
    if algo is None:
        raise ModelLoadError(f"cannot tell which algorithm saved {path} (policy from {module!r}); name it after "
                             f"the path, e.g. {path}:ppo (one of: {', '.join(ALGORITHMS)})")
    return algo


def _space_summary(entry: Any) -> tuple[str, tuple[int, ...] | None, int | None]:
    """(space class name, shape, n) from a saved space's JSON description."""
    if not isinstance(entry, dict):
        return type(entry).__name__, None, None
    kind = re.sub(r".*\.([A-Za-z]+)'>$", r"\1", entry.get(":type:", "?"))
    try:
        shape = entry.get("_shape")
        shape = tuple(int(x) for x in (json.loads(shape) if isinstance(shape, str) else shape)) if shape is not None \
            else None
        n = int(entry["n"]) if "n" in entry else None
    except (TypeError, ValueError):
        return kind, None, None
    return kind, shape, n


def check_spaces(data: dict[str, Any], env: gym.Env, path: Path) -> None:
    obs_kind, obs_shape, _ = _space_summary(data.get("observation_space"))
    act_kind, _, n = _space_summary(data.get("action_space"))
    want_obs, want_n = env.observation_space.shape, int(env.action_space.n)
    if obs_kind != "Box" or obs_shape != want_obs or act_kind != "Discrete" or n != want_n:
        u = env.unwrapped
        raise ModelLoadError(
            f"{path} was trained on {obs_kind} observations of shape {obs_shape} and {act_kind}({n}) actions, "
            f"but suite {u.suite.name!r} with max_services={u.table.max_services} gives Box {want_obs} and "
            f"Discrete({want_n}); evaluate it with the max_services it was trained with")


def vec_normalize_path(model: Path) -> Path:
    """Where the VecNormalize statistics of ``model`` (``NAME.zip``) are saved: ``NAME_vecnormalize.pkl``."""
    return model.with_name(f"{model.stem}_vecnormalize.pkl")


def find_vec_normalize(model: Path) -> Path | None:
    """The statistics saved beside ``model``: train.py's name, or rl-zoo3's ``NAME/vecnormalize.pkl``."""
    for candidate in (vec_normalize_path(model), model.with_suffix("") / "vecnormalize.pkl"):
        if candidate.is_file():
            return candidate
    return None


class TrainedAgent:
    """An SB3 / sb3-contrib model behind the agent protocol, acting only among allowed actions."""

    def __init__(self, model: Any, algo: str, desk: Desk, name: str, normalizer: Any = None):
        self.model, self.algo, self.desk, self.name = model, algo, desk, name
        self.policy = model.policy
        self.policy.set_training_mode(False)
        # A model being trained under VecNormalize acts on its live statistics.
        self.normalizer = normalizer if normalizer is not None else model.get_vec_normalize_env()

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True, action_masks: np.ndarray | None = None) -> tuple[np.ndarray, Any]:
        import torch as th

        batch, masks, single = self.desk.batch(observation, action_masks)
        n = len(batch)
        if self.normalizer is not None:
            batch = self.normalizer.normalize_obs(batch)
        obs_t, _ = self.policy.obs_to_tensor(batch)
        with th.no_grad():
            if self.algo == "dqn":
                scores = self.policy.q_net(obs_t)
            elif self.algo == "recurrent_ppo":
                if state is None:
                    zeros = np.zeros((self.policy.lstm_actor.num_layers, n, self.policy.lstm_actor.hidden_size))
                    state = (zeros, zeros)
                starts = np.zeros(n) if episode_start is None else np.resize(np.asarray(episode_start, float), n)
                lstm = tuple(th.as_tensor(np.asarray(s), dtype=th.float32, device=self.policy.device) for s in state)
                dist, lstm = self.policy.get_distribution(obs_t, lstm, th.as_tensor(starts, dtype=th.float32,
                                                                                      device=self.policy.device))
                state = (lstm[0].cpu().numpy(), lstm[1].cpu().numpy())
                scores = dist.distribution.logits
            else:
                scores = self.policy.get_distribution(obs_t).distribution.logits
            scores = scores.masked_fill(~th.as_tensor(masks, device=scores.device), -th.inf)
            if deterministic or self.algo == "dqn":
                actions = scores.argmax(dim=1)
            else:
                actions = th.distributions.Categorical(logits=scores).sample()
        actions = actions.cpu().numpy()
        return (np.array(actions[0]) if single else actions), state


def model_agent(model: Any, algo: str, env: gym.Env, name: str) -> Agent:
    """A live model playing ``env`` as an agent; a graph policy appends ``env``'s call graph itself."""
    from agents.graph import GraphPolicyAgent, is_graph_policy

    if is_graph_policy(model.policy):
        return GraphPolicyAgent(model, env, name)
    return TrainedAgent(model, algo, Desk.of(env), name)


def load_trained(spec: str, env: gym.Env) -> Agent:
    """Load ``path.zip`` or ``path.zip:algo`` for ``env``. Raises :class:`ModelLoadError` with a
    clear message on any problem with the file. A graph-policy model (agents/graph) plays
    ``env`` at any ``max_services``."""
    path, algo = parse_model_spec(spec)
    data = read_metadata(path)
    from agents.graph import graph_policy_name, load_graph_agent  # imports torch: only for a model

    if graph_policy_name(data) is not None:  # weights independent of the slot count: any max_services
        if data.get(VECNORMALIZE_MARKER) is True:
            raise ModelLoadError(f"{path}: a graph-policy model trained under VecNormalize is not supported")
        return load_graph_agent(path, env, name=str(path))
    algo = algo or detect_algorithm(data, path)
    check_spaces(data, env, path)
    module, cls_name = ALGORITHMS[algo]
    try:
        cls = getattr(importlib.import_module(module), cls_name)
    except ImportError as e:
        raise ModelLoadError(f"loading {path} needs {module} ({e}); install supportgym[train]") from None
    stats = find_vec_normalize(path)
    if stats is None and data.get(VECNORMALIZE_MARKER) is True:
        raise ModelLoadError(f"{path} was trained under VecNormalize, but its statistics "
                             f"({vec_normalize_path(path).name}) are not beside it: copy them with the model")
    normalizer = load_vec_normalize(stats) if stats is not None else None
    model = load_model(cls, path, replace={"observation_space": env.observation_space,
                                           "action_space": env.action_space})
    return TrainedAgent(model, algo, Desk.of(env), name=str(path), normalizer=normalizer)
