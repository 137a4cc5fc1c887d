"""Hyperparameters: the YAML file keyed like rl-zoo3, plus ``key=value`` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A bad hyperparameter file or override; the message says which."""


def load_hyperparams(path: Path, algo: str, suite: str) -> dict[str, Any]:
    """``default`` for the algorithm, updated with the suite's own entry (if any)."""
    try:
        table = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read hyperparameters ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if algo not in table:
        raise ConfigError(f"{path}: no entry for algorithm {algo!r} (has: {', '.join(table)})")
    entry = table[algo]
    if not isinstance(entry, dict) or not isinstance(entry.get("default", {}), dict):
        raise ConfigError(f"{path}: {algo} must map 'default' and suite names to mappings")
    suite_key = Path(suite).stem
    return {**entry.get("default", {}), **(entry.get(suite_key) or {})}


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
