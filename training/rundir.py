"""Run directories: a safe place per run, crash-safe saves, finding the latest checkpoint.

Every file of a run is written whole or not at all: into a temporary file beside the target,
flushed to disk (``fsync``), then renamed over it, so a crash, a SIGKILL or a full disk leaves
the previous version intact. Temporary files a killed process left behind are removed when the
run is resumed. Files are created with the process's umask, like any other file.
"""

from __future__ import annotations

import errno
import io
import os
import pickle
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import yaml

CHECKPOINT = re.compile(r"^checkpoint_(\d+)_steps\.zip$")
#: A run directory is recognised by its settings file, written before anything else.
CONFIG = "config.yaml"
#: Everything train.py writes at the top of a run directory (VecNormalize statistics end in _vecnormalize.pkl).
RUN_FILES = frozenset({CONFIG, "command.txt", "tb", "checkpoints", "model.zip", "best_model.zip"})
_TEMPORARY = re.compile(r"^\.tmp-.+$")


class RunDirError(ValueError):
    """A run directory that cannot be used as asked; the message says why."""


class SaveError(RuntimeError):
    """A file of the run could not be written (e.g. the disk is full); the previous version is intact."""


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` holds a run of train.py and nothing else (so that --force may replace it)."""
    if not (path / CONFIG).is_file():
        return False
    return all(p.name in RUN_FILES or p.name.endswith("_vecnormalize.pkl") or _TEMPORARY.match(p.name)
               for p in path.iterdir())


def has_progress(path: Path) -> bool:
    """Whether a run directory holds anything worth keeping: a checkpoint or a model."""
    return latest_checkpoint(path) is not None or (path / "model.zip").exists() or (path / "best_model.zip").exists()


def resolve_run_dir(name: str, runs_root: Path, force: bool) -> Path:
    """``runs_root/name``, which must stay inside ``runs_root``. An existing non-empty directory
    is replaced only if it is a run directory, and only with ``force`` unless it holds no
    progress yet (a run stopped before its first checkpoint)."""
    root = runs_root.resolve()
    path = (root / name).resolve()
    if path == root or root not in path.parents:
        raise RunDirError(f"run name {name!r} must name a directory inside {runs_root}/")
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path} exists and is not a directory")
    if path.exists() and any(path.iterdir()):
        if not is_run_dir(path):
            raise RunDirError(f"{path} is not empty and is not a run directory (no {CONFIG}, or other files in it): "
                              "refusing to replace it; choose another --run-dir")
        if has_progress(path) and not force:
            raise RunDirError(f"{path} already holds a run: pass --force to replace it, "
                              f"or --resume {path} to continue it")
        shutil.rmtree(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # e.g. --runs-root names a file, or a directory we may not write
        raise RunDirError(f"cannot create the run directory {path}: {error.strerror or error}") from None
    return path


def remove_temporary_files(run_dir: Path) -> list[Path]:
    """Delete the temporary files a killed process left in ``run_dir`` (and its checkpoints)."""
    removed = []
    for folder in (run_dir, run_dir / "checkpoints"):
        if folder.is_dir():
            for p in folder.iterdir():
                if _TEMPORARY.match(p.name) and p.is_file():
                    p.unlink(missing_ok=True)
                    removed.append(p)
    return removed


def atomic_write(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` whole or not at all. Raises :class:`SaveError` (one line)
    if it cannot, leaving any previous ``path`` as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}-{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for any file
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        reason = "no space left on device" if error.errno == errno.ENOSPC else (error.strerror or str(error))
        kept = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was written"
        raise SaveError(f"cannot save {path}: {reason}; {kept}") from None


def _fsync_directory(folder: Path) -> None:
    """Make the rename itself durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(model: Any, path: Path) -> None:
    """Save an SB3 model (see :func:`atomic_write`) and, if it trains under VecNormalize, its
    statistics beside it (agents.trained loads them with the model)."""
    from agents.trained import vec_normalize_path

    normalizer = model.get_vec_normalize_env()
    if normalizer is not None:
        atomic_write(vec_normalize_path(path), pickle.dumps(normalizer))  # VecNormalize.save's format
    buffer = io.BytesIO()
    model.save(buffer)
    atomic_write(path, buffer.getvalue())


def save_checkpoint(model: Any, run_dir: Path, keep: int = 3) -> Path:
    """``checkpoints/checkpoint_<steps>_steps.zip``, keeping the newest ``keep`` (and their statistics)."""
    from agents.trained import vec_normalize_path

    folder = run_dir / "checkpoints"
    path = folder / f"checkpoint_{model.num_timesteps}_steps.zip"
    atomic_save(model, path)
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT.match(p.name)))
    for _, stale in found[:-keep]:
        stale.unlink(missing_ok=True)
        vec_normalize_path(stale).unlink(missing_ok=True)
    return path


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    atomic_write(run_dir / CONFIG, yaml.safe_dump(config, sort_keys=False).encode())


def read_config(run_dir: Path) -> dict[str, Any]:
    """The settings of the run in ``run_dir``."""
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir} is not a directory")
    path = run_dir / CONFIG
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{run_dir} has no {CONFIG}: not a run directory") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise RunDirError(f"{path} cannot be read: {error}") from None
    if not isinstance(config, dict) or not isinstance(config.get("args"), dict) \
            or not isinstance(config.get("hyperparams"), dict):
        raise RunDirError(f"{path} is not the settings file of a run (no args and hyperparams)")
    return config


def latest_checkpoint(run_dir: Path) -> tuple[Path, int] | None:
    """The checkpoint with the most steps, or None."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT.match(p.name))]
    if not found:
        return None
    steps, path = max(found)
    return path, steps
