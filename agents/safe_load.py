"""Load stable-baselines3 model files without running code from them.

An SB3 ``.zip`` holds a JSON ``data`` entry in which some values are pickled (the policy class,
``policy_kwargs`` with classes in it, the spaces, schedules), PyTorch state dicts (``*.pth``),
and beside it a run may keep pickled ``VecNormalize`` statistics. Unpickling can call anything,
so every pickle here goes through :class:`RestrictedUnpickler`, which admits only the names a
policy needs (the allow-list below: edit it in this one place to admit your own policy classes),
and the ``*.pth`` entries go through ``torch.load(weights_only=True)``. SB3's own loader then
receives every pickled value ready-made (``custom_objects``), so it unpickles nothing itself.

Anything else in a file is refused with :class:`ModelLoadError`, naming the file, the entry and
the refused name.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import io
import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

# --- the allow-list ----------------------------------------------------------------------------
#: Exact (module, name) pairs a pickle in a model file may use: array and RNG reconstruction,
#: containers, SB3's schedules and small types.
ALLOWED_NAMES: frozenset[tuple[str, str]] = frozenset({
    *((numpy_core, name) for numpy_core in ("numpy._core.multiarray", "numpy.core.multiarray")
      for name in ("_reconstruct", "scalar")),
    *((numpy_core, "_frombuffer") for numpy_core in ("numpy._core.numeric", "numpy.core.numeric")),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    *(("numpy.dtypes", f"{kind}DType") for kind in ("Float32", "Float64", "Int8", "Int32", "Int64", "Bool",
                                                    "UInt8")),
    ("numpy.random._pickle", "__generator_ctor"), ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pcg64", "PCG64"), ("numpy.random._mt19937", "MT19937"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"), ("numpy.random.bit_generator", "SeedSequence"),
    ("collections", "deque"), ("collections", "OrderedDict"),
    ("stable_baselines3.common.utils", "ConstantSchedule"), ("stable_baselines3.common.utils", "FloatSchedule"),
    ("stable_baselines3.common.utils", "LinearSchedule"),
    ("stable_baselines3.common.type_aliases", "TrainFreq"),
    ("stable_baselines3.common.type_aliases", "TrainFrequencyUnit"),
})
#: Families of classes: any class defined in a module under one of the prefixes that subclasses
#: the base (given as "module:Class"). Add your own package here to load its policies.
ALLOWED_CLASSES: tuple[tuple[tuple[str, ...], str], ...] = (
    # policies and feature extractors: SB3's, sb3-contrib's and this project's (agents.*)
    (("stable_baselines3.", "sb3_contrib.", "agents."), "torch.nn:Module"),
    (("stable_baselines3.", "sb3_contrib."), "stable_baselines3.common.buffers:BaseBuffer"),
    (("torch.nn.modules.activation",), "torch.nn:Module"),  # activation_fn in policy_kwargs
    (("torch.optim.",), "torch.optim:Optimizer"),  # optimizer_class in policy_kwargs
    (("gymnasium.spaces.",), "gymnasium.spaces:Space"),
)
#: Also admitted in a VecNormalize statistics file (and only there).
STATS_NAMES: frozenset[tuple[str, str]] = frozenset({
    ("stable_baselines3.common.vec_env.vec_normalize", "VecNormalize"),
    ("stable_baselines3.common.running_mean_std", "RunningMeanStd"),
})
#: Entries of an SB3 zip; PyTorch state files are read with torch.load(weights_only=True).
ZIP_ENTRIES = frozenset({"data", "_stable_baselines3_version", "system_info.txt"})
STATE_FILES = frozenset({"policy.pth", "policy.optimizer.pth", "pytorch_variables.pth"})
#: The JSON metadata of a real model is kilobytes; a bigger one is not a model (or a zip bomb).
MAX_DATA_BYTES = 64 * 2**20
# -----------------------------------------------------------------------------------------------


class ModelLoadError(ValueError):
    """A model file cannot be used: missing, corrupt, of an unknown algorithm, holding names a
    model may not use, or trained on other spaces. The message says which and what to do."""


class RefusedName(pickle.UnpicklingError):
    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.qualified = f"{module}.{name}"


def _module_allowed(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p.rstrip(".") or (p.endswith(".") and module.startswith(p)) for p in prefixes)


def _resolve(dotted: str) -> Any:
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allow-listed names; anything else raises :class:`RefusedName`
    before it is imported, so a refused name never runs."""

    def __init__(self, file: io.BytesIO, extra: frozenset[tuple[str, str]] = frozenset()):
        super().__init__(file)
        self.extra = extra

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_NAMES or (module, name) in self.extra:
            return getattr(importlib.import_module(module), name)
        if "." not in name and not name.startswith("_"):  # no attribute chains to reach other objects
            for prefixes, base in ALLOWED_CLASSES:
                if _module_allowed(module, prefixes):
                    obj = getattr(importlib.import_module(module), name, None)
                    # the class must be defined where it is looked up, not just imported there
                    if isinstance(obj, type) and _module_allowed(obj.__module__, prefixes) \
                            and issubclass(obj, _resolve(base)):
                        return obj
        raise RefusedName(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def restricted_loads(raw: bytes, extra: frozenset[tuple[str, str]] = frozenset()) -> Any:
    return RestrictedUnpickler(io.BytesIO(raw), extra).load()


def _refusal(path: Path, entry: str, refused: str) -> ModelLoadError:
    return ModelLoadError(f"{path}: refused to load entry {entry!r}: it uses {refused}, which a model file may not "
                          f"contain (allowed names: agents/safe_load.py)")


def read_model_file(path: Path, replace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check ``path`` and return every pickled value of its ``data`` entry, unpickled safely
    (then overridden by ``replace``), ready to pass to SB3's ``load(custom_objects=...)``."""
    if not path.is_file():
        raise ModelLoadError(f"model file {path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            unexpected = sorted(set(names) - ZIP_ENTRIES - STATE_FILES)
            if unexpected:
                expected = ", ".join(sorted(ZIP_ENTRIES | STATE_FILES))
                raise ModelLoadError(f"{path}: refused to load: unexpected entry {unexpected[0]!r} "
                                     f"(a stable-baselines3 model holds {expected})")
            if archive.getinfo("data").file_size > MAX_DATA_BYTES:
                raise ModelLoadError(f"{path}: its 'data' entry is larger than {MAX_DATA_BYTES >> 20} MiB: not a model")
            data = json.loads(archive.read("data"))
            if not isinstance(data, dict):
                raise ModelLoadError(f"{path}: its 'data' entry is not a JSON object")
            for state_file in sorted(set(names) & STATE_FILES):
                _check_state_file(path, state_file, archive.read(state_file))
    except ModelLoadError:
        raise
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, EOFError, OSError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{path} is not a readable stable-baselines3 model (.zip saved by model.save): "
                             f"{type(e).__name__}: {e}") from None
    # Every pickled value is read, even one that ``replace`` overrides: a refused name anywhere
    # marks a tampered file.
    objects = {key: _unpickle_entry(path, key, value[":serialized:"]) for key, value in data.items()
               if isinstance(value, dict) and ":serialized:" in value}
    return {**objects, **(replace or {})}


def _unpickle_entry(path: Path, key: str, encoded: Any) -> Any:
    try:
        raw = base64.b64decode(str(encoded), validate=True)
        return restricted_loads(raw)
    except RefusedName as refused:
        raise _refusal(path, key, refused.qualified) from None
    except (binascii.Error, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError) as e:
        raise ModelLoadError(f"{path}: entry {key!r} is corrupt: {type(e).__name__}: {e}") from None


def _check_state_file(path: Path, entry: str, raw: bytes) -> None:
    """A PyTorch state file must hold only tensors and plain containers (weights_only), and the
    PyTorch variables must name plain attributes (SB3 sets them on the model by name)."""
    import torch

    try:
        loaded = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        raise _refusal(path, entry, found.group(1) if found else "a name outside torch's weights-only set") from None
    except Exception as e:  # noqa: BLE001  a truncated or foreign file fails in many ways inside torch
        raise ModelLoadError(f"{path}: entry {entry!r} is corrupt: {type(e).__name__}: {e}") from None
    if entry == "pytorch_variables.pth":
        names = loaded if isinstance(loaded, dict) else {None: None}
        for name in names:
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z]\w*(\.[A-Za-z]\w*)*", name):
                raise ModelLoadError(f"{path}: refused to load entry {entry!r}: variable name {name!r} is not a "
                                     "plain attribute path")


def read_metadata(path: Path) -> dict[str, Any]:
    """The plain-JSON ``data`` entry of an SB3 zip, unpickling nothing."""
    if not path.is_file():
        raise ModelLoadError(f"model file {path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            if archive.getinfo("data").file_size > MAX_DATA_BYTES:
                raise ModelLoadError(f"{path}: its 'data' entry is larger than {MAX_DATA_BYTES >> 20} MiB: not a model")
            data = json.loads(archive.read("data"))
            archive.testzip()
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, EOFError, OSError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{path} is not a readable stable-baselines3 model (.zip saved by model.save): "
                             f"{type(e).__name__}: {e}") from None
    if not isinstance(data, dict) or "policy_class" not in data:
        raise ModelLoadError(f"{path} is not a stable-baselines3 model: its 'data' entry has no policy_class")
    return data


def load_model(cls: type, path: Path, env: Any = None, replace: dict[str, Any] | None = None,
               device: str = "cpu") -> Any:
    """``cls.load(path, env)`` with nothing unpickled by SB3 (see the module docstring)."""
    objects = read_model_file(path, replace)
    try:
        return cls.load(path, env=env, device=device, custom_objects=objects)
    except ModelLoadError:
        raise
    except Exception as e:  # noqa: BLE001  a foreign file fails in many ways inside SB3 and torch
        raise ModelLoadError(f"{path} could not be loaded as {cls.__name__}: {type(e).__name__}: {e}") from None


def load_vec_normalize(path: Path) -> Any:
    """A ``VecNormalize`` saved with its ``save`` (a pickle), unpickled safely; call ``set_venv``
    before stepping it, or use only its ``normalize_obs``."""
    from stable_baselines3.common.vec_env import VecNormalize

    try:
        stats = restricted_loads(path.read_bytes(), STATS_NAMES)
    except OSError as e:
        raise ModelLoadError(f"cannot read VecNormalize statistics {path}: {e.strerror}") from None
    except RefusedName as refused:
        raise _refusal(path, "VecNormalize statistics", refused.qualified) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError,
            KeyError) as e:
        raise ModelLoadError(f"{path}: VecNormalize statistics are corrupt: {type(e).__name__}: {e}") from None
    if not isinstance(stats, VecNormalize):
        raise ModelLoadError(f"{path} does not hold VecNormalize statistics (found {type(stats).__name__})")
    return stats
