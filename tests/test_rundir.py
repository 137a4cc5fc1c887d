"""Run directories: what --force may replace, crash-safe writes, a full disk, the umask, temporary files."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from training.rundir import (RunDirError, SaveError, atomic_write, is_run_dir, remove_temporary_files,
                             resolve_run_dir)

ROOT = Path(__file__).resolve().parent.parent


def make_run(path: Path, progress: bool) -> Path:
    (path / "checkpoints").mkdir(parents=True)
    (path / "config.yaml").write_text("args: {}\nhyperparams: {}\n")
    (path / "command.txt").write_text("python train.py\n")
    if progress:
        (path / "checkpoints" / "checkpoint_200_steps.zip").write_bytes(b"zip")
    return path


def test_force_replaces_only_a_run_directory(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "thesis.tex").write_text("precious")
    with pytest.raises(RunDirError, match="not a run directory"):
        resolve_run_dir("notes", tmp_path, force=True)
    assert (notes / "thesis.tex").read_text() == "precious"

    run = make_run(tmp_path / "run", progress=True)
    (run / "my-analysis.ipynb").write_text("mine")  # a run with someone's file in it is not just a run
    with pytest.raises(RunDirError, match="not a run directory"):
        resolve_run_dir("run", tmp_path, force=True)
    (run / "my-analysis.ipynb").unlink()
    assert is_run_dir(run)
    with pytest.raises(RunDirError, match="--force"):
        resolve_run_dir("run", tmp_path, force=False)
    assert resolve_run_dir("run", tmp_path, force=True) == run.resolve() and not any(run.iterdir())


def test_a_run_stopped_before_its_first_checkpoint_is_simply_rerun(tmp_path):
    make_run(tmp_path / "early", progress=False)
    path = resolve_run_dir("early", tmp_path, force=False)
    assert path.is_dir() and not any(path.iterdir())


def test_a_full_disk_is_one_line_and_the_previous_file_survives(tmp_path, monkeypatch):
    target = tmp_path / "model.zip"
    target.write_bytes(b"last good model")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SaveError) as caught:
        atomic_write(target, b"new model" * 1000)
    message = str(caught.value)
    assert message == f"cannot save {target}: no space left on device; the previous model.zip is intact"
    assert target.read_bytes() == b"last good model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.zip"]  # no temporary file left behind


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_files_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        atomic_write(tmp_path / "config.yaml", b"x")
        atomic_write(tmp_path / "config.yaml", b"y")  # replacing keeps to the umask too
    finally:
        os.umask(previous)
    assert (tmp_path / "config.yaml").stat().st_mode & 0o777 == mode


def test_sigkill_mid_save_leaves_the_old_file_and_a_temporary_one_that_is_cleaned_up(tmp_path):
    run = make_run(tmp_path / "run", progress=True)
    target = run / "checkpoints" / "checkpoint_200_steps.zip"
    # Killed between writing the temporary file and renaming it over the target.
    script = ("import os, signal, sys; from pathlib import Path; from training import rundir; "
              "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL); "
              "rundir.atomic_write(Path(sys.argv[1]), b'new')")
    killed = subprocess.run([sys.executable, "-c", script, str(target)], cwd=ROOT, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    leftovers = [p for p in target.parent.iterdir() if p.name.startswith(".tmp-")]
    assert len(leftovers) == 1 and target.read_bytes() == b"zip"
    assert is_run_dir(run)  # the leftover does not make it unrecognisable
    assert remove_temporary_files(run) == leftovers
    assert sorted(p.name for p in target.parent.iterdir()) == ["checkpoint_200_steps.zip"]


def test_a_runs_root_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "runs").write_text("not a directory")
    with pytest.raises(RunDirError, match="cannot create the run directory"):
        resolve_run_dir("x", tmp_path / "runs", force=False)
