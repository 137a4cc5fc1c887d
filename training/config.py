"""Hyperparameters: one YAML file per algorithm keyed by env id (rl-zoo3's layout),
``key=value`` overrides, and checks of both."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import supportgym


class ConfigError(ValueError):
    """A bad hyperparameter file or override; the message says which."""


def hyperparams_file(path: Path, algo: str) -> Path:
    """``path`` itself, or ``path/<algo>.yml`` if it is a folder (rl-zoo3's layout: one file per algorithm)."""
    return path / f"{algo}.yml" if path.is_dir() else path


def entry_key(suite: str | Path) -> str:
    """The key of a suite's entry: a built-in suite's env id, else the suite's (or file's) name
    (the training distributions, ``train`` and ``validation``, have no id)."""
    text = str(suite)
    with_id = supportgym.builtin_suites(training_distributions=False)
    return supportgym.suite_id(text) if text in with_id else Path(text).stem


def load_hyperparams(path: Path, algo: str, suite: str | Path) -> dict[str, Any]:
    """The entry of the suite's env id (:func:`entry_key`) in the algorithm's file, else its
    ``default``: the rule rl-zoo3 applies to ``--conf-file``, so both read the same values."""
    path = hyperparams_file(path, algo)
    try:
        table = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read hyperparameters ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: expected a mapping of env ids (and 'default') to hyperparameters")
    key = entry_key(suite)
    if key not in table and "default" not in table:
        raise ConfigError(f"{path}: no entry for {key!r} and no 'default' (has: {', '.join(map(str, table))})")
    entry = table.get(key, table.get("default"))
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: {key if key in table else 'default'} must map hyperparameter names to values")
    return dict(entry)


def _number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; a user writing it means the number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def apply_overrides(params: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` overrides; values are read as YAML (``1e-4``, ``[64, 64]``, ``true``)."""
    params = dict(params)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--hp {item!r}: expected key=value, e.g. --hp learning_rate=1e-4")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"--hp {item!r}: cannot read the value {value!r}") from None
        params[key.strip()] = _number(parsed)
    return params


# --- checking values before any work starts --------------------------------------------------
#: Hyperparameters that are not the algorithm's own (train.py reads them).
#: The hyperparameter of ``training.callbacks.CriticWarmup``: RL steps with the actor frozen.
CRITIC_WARMUP_KEY = "critic_warmup_steps"
#: The hyperparameters of ``training.curriculum`` (training aids annealed to nothing).
CURRICULUM_KEYS = ("start_tier_share", "evidence_bonus", "curriculum_fraction")
TRAINER_KEYS = ("n_timesteps", "n_envs", "impact_shaping", "normalize", CRITIC_WARMUP_KEY, *CURRICULUM_KEYS)
#: Set by train.py from its own options; a hyperparameter may not set them.
RESERVED_KEYS = {"env": "use --suite", "seed": "use --seed", "device": "always cpu", "verbose": "always 0",
                 "tensorboard_log": "use --run-dir", "_init_setup_model": "internal"}
#: VecNormalize settings a ``normalize`` mapping may give.
NORMALIZE_KEYS = {"norm_obs": bool, "norm_reward": bool, "clip_obs": float, "clip_reward": float,
                  "gamma": float, "epsilon": float}


@dataclass(frozen=True)
class Number:
    """An int or float hyperparameter and its range (``low``/``high`` inclusive unless ``open_low``)."""
    kind: type
    low: float | None = None
    high: float | None = None
    open_low: bool = False

    def describe(self) -> str:
        name = "an integer" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            return f"{name} in {'(' if self.open_low else '['}{self.low}, {self.high}]"
        if self.low is not None:
            return f"{name} {'>' if self.open_low else '>='} {self.low}"
        return name

    def check(self, value: Any) -> int | float | None:
        """The value as ``kind``, or None if it is not acceptable."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        if self.kind is int:
            if value != int(value):
                return None
            value = int(value)
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return None
        if self.high is not None and value > self.high:
            return None
        return value


#: The known hyperparameters of the four algorithms and of train.py, with their ranges.
KNOWN: dict[str, Number] = {
    "n_timesteps": Number(int, 1), "n_envs": Number(int, 1), CRITIC_WARMUP_KEY: Number(int, 0),
    "n_steps": Number(int, 1), "batch_size": Number(int, 1), "n_epochs": Number(int, 1),
    "learning_rate": Number(float, 0, open_low=True), "gamma": Number(float, 0, 1, open_low=True),
    "gae_lambda": Number(float, 0, 1), "ent_coef": Number(float, 0), "vf_coef": Number(float, 0),
    "clip_range": Number(float, 0, open_low=True), "max_grad_norm": Number(float, 0, open_low=True),
    "buffer_size": Number(int, 1), "learning_starts": Number(int, 0), "train_freq": Number(int, 1),
    "target_update_interval": Number(int, 1), "exploration_fraction": Number(float, 0, 1),
    "exploration_initial_eps": Number(float, 0, 1), "exploration_final_eps": Number(float, 0, 1),
    "tau": Number(float, 0, 1, open_low=True), "impact_shaping": Number(float, 0),
    "start_tier_share": Number(float, 0, 1), "evidence_bonus": Number(float, 0),
    "curriculum_fraction": Number(float, 0, 1, open_low=True),
}


def validate_hyperparams(params: dict[str, Any], algo: str, accepted: set[str]) -> dict[str, Any]:
    """Check every value whose meaning is known, and that every other key is one the algorithm
    accepts (``accepted``: its constructor's parameters). Returns the params with numbers as their
    kind (``n_steps: 2e3`` -> 2000)."""
    checked = dict(params)
    for key, value in params.items():
        where = f"bad hyperparameters for {algo}: {key}={value!r}"
        if key in RESERVED_KEYS:
            raise ConfigError(f"{where}: set by train.py ({RESERVED_KEYS[key]}), not a hyperparameter")
        if key in KNOWN:
            number = KNOWN[key].check(value)
            if number is None:
                raise ConfigError(f"{where}: expected {KNOWN[key].describe()}")
            checked[key] = number
        elif key == "normalize":
            checked[key] = _check_normalize(value, where)
        elif key == "policy_kwargs" and not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, e.g. {{net_arch: [64, 64]}}")
        elif key == "policy" and not isinstance(value, str):
            raise ConfigError(f"{where}: expected a policy name such as MlpPolicy")
        elif key not in accepted and key not in TRAINER_KEYS:
            raise ConfigError(f"bad hyperparameters for {algo}: unknown name {key!r}")
    return checked


def _check_normalize(value: Any, where: str) -> dict[str, Any] | bool:
    if isinstance(value, bool):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected true, false or a mapping of {', '.join(NORMALIZE_KEYS)}")
    for name, setting in value.items():
        kind = NORMALIZE_KEYS.get(name)
        if kind is None:
            raise ConfigError(f"{where}: unknown VecNormalize setting {name!r} (known: {', '.join(NORMALIZE_KEYS)})")
        positive = Number(float, 0, open_low=True)
        valid = isinstance(setting, bool) if kind is bool else positive.check(setting) is not None
        if not valid:
            raise ConfigError(f"{where}: {name} must be {'true or false' if kind is bool else 'a positive number'}")
    return value
