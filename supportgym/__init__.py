"""supportgym: a Gymnasium environment for production incident response.

``import supportgym`` registers ``supportgym/Incident-v0`` and nothing else: the names below
load on first use, so a module that imports only ``supportgym.contract`` (the agents do) never
loads the simulator.
"""

from __future__ import annotations

import importlib
from typing import Any

from gymnasium.envs.registration import WrapperSpec, register

__version__ = "0.1.0"
#: Public names, by the module that defines them.
_PUBLIC = {
    "EpisodeMetricsOnTruncation": "supportgym.env",
    "IncidentEnv": "supportgym.env",
    "InvalidActionError": "supportgym.env",
    "Suite": "supportgym.suite",
    "SuiteError": "supportgym.suite",
    "builtin_suites": "supportgym.suite",
    "load_suite": "supportgym.suite",
}
__all__ = list(_PUBLIC)

#: Applied by gym.make after its TimeLimit, so a truncated episode still reports its metrics.
_WRAPPERS = (WrapperSpec("EpisodeMetricsOnTruncation", "supportgym.env:EpisodeMetricsOnTruncation", {}),)

register(id="supportgym/Incident-v0", entry_point="supportgym.env:IncidentEnv", additional_wrappers=_WRAPPERS)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'supportgym' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
