"""evaluate.py --backend ray: the same results as the local backend, its usage errors, and a real
two-node Ray cluster on this machine (slow) running an evaluation and a two-trial sweep.

The tests that run Ray skip when the ``ray`` extra is not installed (pip install -e ".[ray]")."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_evaluate import evaluate

ROOT = Path(__file__).resolve().parent.parent
SMALL = ("--suite", "standard", "--episodes", "12", "--seed", "7", "--reps", "200")
OUTPUTS = ("results.json", "episodes.csv", "results.csv", "results.md")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A MaskablePPO trained for a few steps: a policy must give the same numbers in a Ray worker."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from sb3_contrib import MaskablePPO

    from evaluation.play import make_env  # the environment evaluate.py plays

    path = tmp_path_factory.mktemp("model") / "tiny.zip"
    model = MaskablePPO("MlpPolicy", make_env("standard", 16), n_steps=64, batch_size=32, n_epochs=1, seed=0)
    model.learn(128)
    model.save(path)
    return path


def same_outputs(a: Path, b: Path) -> None:
    """results.json has no timing fields: every output file must be byte for byte the same."""
    assert "time" not in json.dumps(sorted(json.loads((a / "results.json").read_text())))
    for name in OUTPUTS:
        assert (a / name).read_text() == (b / name).read_text(), name


# --- usage errors (no Ray needed) -------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (("--address", "127.0.0.1:6379"), "--address needs --backend ray"),
    (("--backend", "dask"), "invalid choice: 'dask'"),
])
def test_bad_backend_arguments_exit_2_with_one_line(args, message):
    run = evaluate("--agents", "naive", "--episodes", "2", *args)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [run.stderr.strip()] and message in run.stderr


def test_backend_ray_without_ray_says_how_to_install_it():
    """Ray made unimportable in the child, as in an install without the extra."""
    code = ("import runpy, sys; sys.modules['ray'] = None; "
            "sys.argv = ['evaluate.py', '--backend', 'ray', '--agents', 'naive', '--episodes', '2']; "
            "runpy.run_path('evaluate.py', run_name='__main__')")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip() == 'evaluate.py: error: --backend ray: Ray is not installed: pip install -e ".[ray]" ' \
                                 "(see --help)"


# --- with Ray ---------------------------------------------------------------------------------
def test_ray_backend_gives_identical_results_to_the_local_backend(tmp_path, tiny_model):
    pytest.importorskip("ray")
    args = (*SMALL, "--agents", f"runbook,expert,{tiny_model}")
    local = evaluate(*args, "--workers", "2", "--out", str(tmp_path / "local"))
    ray = evaluate(*args, "--backend", "ray", "--workers", "2", "--out", str(tmp_path / "ray"))
    assert local.returncode == 0 and ray.returncode == 0, local.stderr[-2000:] + ray.stderr[-2000:]
    same_outputs(tmp_path / "local", tmp_path / "ray")
    assert local.stdout.replace("local", "ray") == ray.stdout


@pytest.mark.parametrize("address, message", [
    ("127.0.0.1:1", "cannot connect to the Ray cluster at 127.0.0.1:1"),
    ("nonsense", "expected HOST:PORT"),
])
def test_an_address_without_a_cluster_is_a_one_line_error(address, message):
    pytest.importorskip("ray")
    run = evaluate("--agents", "naive", "--episodes", "2", "--backend", "ray", "--address", address, timeout=60)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [run.stderr.strip()] and message in run.stderr


# --- a real cluster: two nodes, each its own raylet process -----------------------------------
@pytest.fixture(scope="module")
def two_node_cluster() -> Iterator[str]:
    """A head node and a worker node of one CPU each (Ray's own cluster utilities start them as
    separate processes, in a temporary directory); shut down, only they, at the end."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    cluster = Cluster(initialize_head=True, connect=False,
                      head_node_args={"num_cpus": 1, "include_dashboard": False, "temp_dir": temp_dir})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        assert len(cluster.list_all_nodes()) == 2
        yield cluster.address
    finally:
        cluster.shutdown()


@pytest.mark.slow
def test_evaluation_on_a_two_node_cluster_matches_the_local_backend(tmp_path, two_node_cluster):
    args = (*SMALL, "--agents", "runbook,expert")
    local = evaluate(*args, "--out", str(tmp_path / "local"))
    ray = evaluate(*args, "--backend", "ray", "--address", two_node_cluster, "--out", str(tmp_path / "ray"))
    assert local.returncode == 0 and ray.returncode == 0, local.stderr[-2000:] + ray.stderr[-2000:]
    same_outputs(tmp_path / "local", tmp_path / "ray")


@pytest.mark.slow
def test_a_two_trial_sweep_on_a_two_node_cluster(tmp_path, two_node_cluster):
    from test_sweep import TINY, check_trial_run, sweep

    run = sweep(tmp_path, "--samples", "2", "--address", two_node_cluster, *TINY)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert [r["trial"] for r in rows] == ["trial_00", "trial_01"]
    for row in rows:
        check_trial_run(tmp_path / "s" / row["trial"], finished=row["status"] == "finished")
    assert (tmp_path / "s" / "best.yml").is_file()
