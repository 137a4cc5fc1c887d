"""The one way this package compiles its inner loops: ``@kernel`` (numba, cached on disk).

At a batch of one, a chain of ~50 small numpy calls costs more than the arithmetic (~80 µs
against ~3 µs compiled), so each stage writes its per-service loops as kernels beside its
Python face. ``cache=True`` stores the compiled code in the module's ``__pycache__``.

Compiled code freezes the module-level constants it reads (tables imported from the world and
contract modules) and the functions it calls, but numba only notices edits to the kernel's
*own* file. Every module with kernels therefore ends with ``stamp_cache(__file__, globals())``,
which drops that module's cached kernels whenever the value of any of its upper-case constants
changes, or the source of a kernel it calls from another module, or of the kernels those call
(the step kernel calls every stage's; the contract's encoders are compiled in diagnosis), or
this file (the compile options of ``kernel``).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit


def kernel(function: Callable) -> Callable:
    """Compile ``function`` with numba in nopython mode, caching the machine code on disk. It
    releases the GIL, so ranges of a batch's rows can run on threads (``supportgym.threads``)."""
    return njit(cache=True, nogil=True)(function)


def stamp_cache(module_file: str, module_globals: dict[str, Any]) -> None:
    """Remove cached kernels of ``module_file`` compiled against other values of its constants.

    The constants are the module's upper-case names bound to numbers or arrays (what compiled
    code can read); their values, and the source files of kernels it compiled from functions
    defined elsewhere, are hashed into ``__pycache__/<module>.constants``.
    """
    source = Path(module_file).resolve()
    constants = {name: value for name, value in sorted(module_globals.items())
                 if name.isupper() and isinstance(value, (int, float, np.ndarray))}
    # this file too: numba's cache index does not notice a change of ``kernel``'s compile options
    borrowed = sorted(_kernel_sources(module_globals, set()) - {source} | {Path(__file__).resolve()})
    stamp = hashlib.sha256(repr([(k, np.asarray(v).tolist()) for k, v in constants.items()]).encode()
                           + b"".join(path.read_bytes() for path in borrowed)).hexdigest()
    cache_dir = source.parent / "__pycache__"
    stamp_file = cache_dir / f"{source.stem}.constants"
    try:
        if stamp_file.read_text() == stamp:
            return
    except OSError:
        pass
    try:
        cache_dir.mkdir(exist_ok=True)
        for cached in cache_dir.glob(f"{source.stem}.*.nb[ic]"):
            cached.unlink(missing_ok=True)
        stamp_file.write_text(stamp)
    except OSError:  # a read-only install: numba keeps its cache elsewhere, keyed on the source file
        pass


def _kernel_sources(module_globals: dict[str, Any], seen: set[Path]) -> set[Path]:
    """The source files of the kernels among ``module_globals``, and of the kernels those files'
    modules import, transitively: a kernel's cached code includes every kernel it calls (the
    step kernel calls the stages', which call the random streams')."""
    for value in list(module_globals.values()):
        function = getattr(value, "py_func", None)
        if function is None:
            continue
        path = Path(function.__code__.co_filename).resolve()
        if path not in seen:
            seen.add(path)
            module = sys.modules.get(function.__module__)
            if module is not None:
                _kernel_sources(vars(module), seen)
    return seen
