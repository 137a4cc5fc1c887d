"""Run directories: a safe place per run, atomic saves, finding the latest checkpoint."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

CHECKPOINT = re.compile(r"^checkpoint_(\d+)_steps\.zip$")


class RunDirError(ValueError):
    """A run directory that cannot be used as asked; the message says why."""


def resolve_run_dir(name: str, runs_root: Path, force: bool) -> Path:
    """``runs_root/name``, which must stay inside ``runs_root`` and not already hold a run
    (unless ``force``, which clears it)."""
    root = runs_root.resolve()
    path = (root / name).resolve()
    if path == root or root not in path.parents:
        raise RunDirError(f"run name {name!r} must name a directory inside {runs_root}/")
    if path.exists() and any(path.iterdir()):
        if not force:
            raise RunDirError(f"{path} already holds a run: pass --force to overwrite it, "
                              f"or --resume {path} to continue it")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_save(model, path: Path) -> None:
    """Save an SB3 model so that a crash mid-save leaves the previous file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".zip")
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def latest_checkpoint(run_dir: Path) -> tuple[Path, int] | None:
    """The checkpoint with the most steps, or None."""
    found = [(int(m.group(1)), p) for p in (run_dir / "checkpoints").glob("*.zip")
             if (m := CHECKPOINT.match(p.name))]
    if not found:
        return None
    steps, path = max(found)
    return path, steps
