"""Graph-policy model files as first-class models: loaded safely, played by evaluate.py at any
max_services (agents/trained.py routes them through the graph loader)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import gymnasium as gym
import pytest

th = pytest.importorskip("torch")  # the training extra: supportgym[train]
pytest.importorskip("sb3_contrib")

from sb3_contrib import MaskablePPO  # noqa: E402

import supportgym  # noqa: E402, F401  (registers the environment)
from agents.graph import (  # noqa: E402
    GraphPolicyAgent,
    MaskableGraphPolicy,
    load_graph_policy,
)
from agents.registry import make_agent  # noqa: E402
from agents.safe_load import ModelLoadError  # noqa: E402
from tests.test_evaluate import evaluate  # noqa: E402
from tests.test_model_safety import OPEN, Payload, pickled_entries, rewrite  # noqa: E402


@pytest.fixture(scope="module")
def graph24(tmp_path_factory) -> Path:
    """An untrained MaskablePPO graph model saved at 24 slots (weights do not depend on it)."""
    th.set_num_threads(1)
    env = gym.make("supportgym/Incident-v1", suite="tutorial", max_services=24, disable_env_checker=True)
    path = tmp_path_factory.mktemp("graph") / "graph24.zip"
    MaskablePPO(MaskableGraphPolicy, env, n_steps=32, batch_size=32, seed=0, device="cpu",
                policy_kwargs={"dim": 16, "message_rounds": 1, "activation_fn": th.nn.ReLU}).save(path)
    return path


@pytest.mark.parametrize("max_services", [16, 32])
def test_make_agent_plays_a_graph_model_at_another_max_services(graph24, max_services):
    env = gym.make("supportgym/Incident-v1", suite="tutorial", max_services=max_services, disable_env_checker=True)
    agent = make_agent(str(graph24), env)
    assert isinstance(agent, GraphPolicyAgent) and agent.max_services == max_services
    obs, info = env.reset(seed=0)
    action, _ = agent.predict(obs, action_masks=info["action_mask"])
    assert info["action_mask"][int(action)]


@pytest.mark.parametrize("max_services", [None, "32"])
def test_evaluate_plays_a_graph_model_saved_at_24_slots(graph24, tmp_path, max_services):
    extra = ["--max-services", max_services] if max_services else []
    run = evaluate("--suite", "tutorial", "--agents", f"random,oracle,{graph24}", "--episodes", "3", "--reps", "100",
                   "--out", str(tmp_path / "out"), *extra)
    assert run.returncode == 0, run.stderr[-2000:]
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert str(graph24) in doc["agents"]


def test_a_payload_in_any_entry_of_a_graph_model_never_runs(graph24, tmp_path):
    marker = tmp_path / "pwned"
    entries = pickled_entries(graph24)
    assert {"policy_class", "policy_kwargs"} <= set(entries)
    env = gym.make("supportgym/Incident-v1", suite="tutorial", disable_env_checker=True)
    for entry in entries:
        crafted = rewrite(graph24, tmp_path / f"crafted-{entry}.zip", entry, pickle.dumps(Payload(marker)))
        with pytest.raises(ModelLoadError) as caught:
            load_graph_policy(crafted, env)
        assert repr(entry) in str(caught.value) and OPEN.search(str(caught.value)), caught.value
        with pytest.raises(ModelLoadError):
            make_agent(str(crafted), env.env)  # what evaluate.py --agents does
        assert not marker.exists(), entry


def test_models_saved_before_the_split_still_name_an_admitted_class():
    """Files saved when the policies lived in agents/graph_policy.py pickle that module's name."""
    from agents.safe_load import restricted_loads

    assert restricted_loads(b"cagents.graph_policy\nMaskableGraphPolicy\n.") is MaskableGraphPolicy
