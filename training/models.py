"""The algorithms ``train.py`` offers, by the names used on its command line (and in
``agents.trained``, which loads what they save)."""

from __future__ import annotations

import importlib

from agents.trained import ALGORITHMS

ALGORITHM_CLASSES = {name: getattr(importlib.import_module(module), cls) for name, (module, cls) in ALGORITHMS.items()}
