"""TEMPORARY (delete after integration): the module paths of the old flat layout, as aliases.

Files owned by other branches still import ``supportgym.catalog``, ``supportgym.layout``,
``supportgym.params``, ``supportgym.suite_schema`` and ``supportgym.topology``. Until the
integrator applies the renames listed in the house report, each old path is an alias module
whose names resolve, on first use, in the new modules listed for it (in that order), so an
agent that imports ``ActionKind`` through ``supportgym.catalog`` still loads only the contract.
Delete this module and its import in ``supportgym/__init__.py`` once nothing uses an old path.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

#: Old module path -> the new modules its names now live in, searched in order.
ALIASES: dict[str, tuple[str, ...]] = {
    "supportgym.catalog": ("supportgym.contract.vocabulary", "supportgym.world.faults", "supportgym.world.mechanisms"),
    "supportgym.layout": ("supportgym.contract.observation", "supportgym.contract.vocabulary"),
    "supportgym.params": ("supportgym.contract.actions", "supportgym.world.params", "supportgym.episode"),
    "supportgym.suite_schema": ("supportgym.suite.schema", "supportgym.world.faults"),
    "supportgym.topology": ("supportgym.world.topology",),
}


class _Alias(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        for new in ALIASES[self.__name__]:
            module = importlib.import_module(new)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"{self.__name__} (now {', '.join(ALIASES[self.__name__])}) has no {name!r}")


for _old, _new in ALIASES.items():
    sys.modules.setdefault(_old, _Alias(_old, f"Alias of {', '.join(_new)} (temporary)."))
