"""Loading a model file runs no code from it: crafted zips with a payload in every pickled entry."""

from __future__ import annotations

import base64
import io
import json
import pickle
import re
import zipfile
from pathlib import Path

import gymnasium as gym
import pytest
import torch

import supportgym  # noqa: F401  (registers the environment)
from agents.registry import make_agent
from agents.safe_load import ModelLoadError, load_model, load_vec_normalize, restricted_loads
from agents.trained import load_trained

#: How the payload's callable, ``open``, is named in a pickle.
OPEN = re.compile(r"\b(io|builtins)\.open\b")
ALGOS = ("ppo", "maskable_ppo", "recurrent_ppo", "dqn")


def make_env() -> gym.Env:
    return gym.make("supportgym/Incident-v1", suite="tutorial")


def _model(algo: str):
    from sb3_contrib import MaskablePPO, RecurrentPPO
    from stable_baselines3 import DQN, PPO

    env = make_env()
    # classes in policy_kwargs make SB3 pickle them: the loader must accept what a real model holds
    kwargs = {"activation_fn": torch.nn.ReLU, "optimizer_class": torch.optim.Adam}
    if algo == "dqn":
        return DQN("MlpPolicy", env, learning_starts=20, buffer_size=200, seed=0, policy_kwargs=kwargs)
    if algo == "recurrent_ppo":
        return RecurrentPPO("MlpLstmPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0,
                            policy_kwargs={**kwargs, "lstm_hidden_size": 8, "net_arch": [16]})
    cls = MaskablePPO if algo == "maskable_ppo" else PPO
    return cls("MlpPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0,
               policy_kwargs={**kwargs, "net_arch": [16]})


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for algo in ALGOS:
        model = _model(algo)
        model.learn(64)
        paths[algo] = folder / f"{algo}.zip"
        model.save(paths[algo])
    return paths


class Payload:
    """Creates ``marker`` when unpickled: proof that loading ran code from the file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def crafted_global(module: str, name: str, *args: object) -> bytes:
    """A pickle that calls ``module.name(*args)``, written opcode by opcode (so that no pickler
    normalises the name)."""
    call_args = pickle.dumps(args, protocol=2)[2:-1]  # without the protocol header and STOP
    return f"c{module}\n{name}\n".encode() + call_args + b"R."


def rewrite(source: Path, target: Path, entry: str, payload: bytes) -> Path:
    """A copy of ``source`` with ``payload`` in ``entry``: a pickled value of ``data``, or a file."""
    with zipfile.ZipFile(source) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    if entry in files or entry.endswith(".pth"):
        files[entry] = payload
    else:
        data = json.loads(files["data"])
        # keep the entry's plain-JSON description (an attacker would): only the pickle changes
        data[entry] = {**data.get(entry, {}), ":serialized:": base64.b64encode(payload).decode()}
        files["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return target


def pickled_entries(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        data = json.loads(archive.read("data"))
    return [key for key, value in data.items() if isinstance(value, dict) and ":serialized:" in value]


def state_files(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return [name for name in archive.namelist() if name.endswith(".pth")]


def torch_payload(marker: Path) -> bytes:
    buffer = io.BytesIO()
    torch.save({"weight": torch.zeros(2), "evil": Payload(marker)}, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("algo", ALGOS)
def test_real_models_load_without_sb3_unpickling_anything(models, algo, monkeypatch):
    import stable_baselines3.common.save_util as save_util

    def refuse(*args, **kwargs):
        raise AssertionError("SB3 unpickled a value itself")

    monkeypatch.setattr(save_util.cloudpickle, "loads", refuse)
    agent = load_trained(f"{models[algo]}:{algo}", make_env())
    assert agent.algo == algo
    assert "policy_kwargs" in pickled_entries(models[algo])  # the classes in it were read safely
    assert agent.model.policy_kwargs["activation_fn"] is torch.nn.ReLU


@pytest.mark.parametrize("algo", ALGOS)
def test_a_payload_in_any_entry_never_runs(models, algo, tmp_path):
    marker = tmp_path / "pwned"
    entries = pickled_entries(models[algo]) + state_files(models[algo])
    assert {"policy_class", "policy_kwargs", "observation_space", "lr_schedule", "policy.pth"} <= set(entries)
    for entry in entries:
        payload = torch_payload(marker) if entry.endswith(".pth") else pickle.dumps(Payload(marker))
        crafted = rewrite(models[algo], tmp_path / f"crafted-{entry}.zip", entry, payload)
        for spec in (str(crafted), f"{crafted}:{algo}"):
            with pytest.raises(ModelLoadError) as caught:
                make_agent(spec, make_env())  # what evaluate.py --agents does
            message = str(caught.value)
            assert str(crafted) in message and repr(entry) in message and OPEN.search(message), message
            assert "\n" not in message
        assert not marker.exists(), entry


def test_resume_loading_refuses_a_payload_too(models, tmp_path):
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.env_util import make_vec_env

    marker = tmp_path / "pwned"
    venv = make_vec_env("supportgym/Incident-v1", n_envs=1, env_kwargs={"suite": "tutorial", "render_mode": None})
    assert load_model(MaskablePPO, models["maskable_ppo"], env=venv).num_timesteps >= 64
    for entry in ("policy_kwargs", "clip_range", "policy.optimizer.pth"):
        payload = torch_payload(marker) if entry.endswith(".pth") else pickle.dumps(Payload(marker))
        crafted = rewrite(models["maskable_ppo"], tmp_path / "c.zip", entry, payload)
        with pytest.raises(ModelLoadError, match=OPEN):
            load_model(MaskablePPO, crafted, env=venv)
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [
    ("os", "system"),
    ("agents.trained", "importlib.import_module"),  # an attribute chain through an admitted module
    ("stable_baselines3.common.policies", "th"),  # not a class
    ("torch.nn.modules.activation", "Module"),  # a class imported into an admitted module, not defined there
    ("stable_baselines3.common.save_util", "load_from_zip_file"),  # a function of an admitted package
    ("numpy", "load"),
])
def test_names_outside_the_allow_list_are_refused(models, tmp_path, module, name):
    marker = tmp_path / "pwned"
    payload = crafted_global(module, name, f"touch {marker}")
    with pytest.raises(pickle.UnpicklingError, match=module):
        restricted_loads(payload)
    crafted = rewrite(models["ppo"], tmp_path / "c.zip", "policy_kwargs", payload)
    with pytest.raises(ModelLoadError, match=f"refused to load entry 'policy_kwargs': it uses {module}"):
        load_trained(str(crafted), make_env())
    assert not marker.exists()


def test_unexpected_zip_entries_and_bad_variable_names_are_refused(models, tmp_path):
    crafted = rewrite(models["ppo"], tmp_path / "extra.zip", "actor.pth", torch_payload(tmp_path / "m"))
    with pytest.raises(ModelLoadError, match="unexpected entry 'actor.pth'"):
        load_trained(str(crafted), make_env())
    buffer = io.BytesIO()
    torch.save({"policy.__class__": torch.zeros(1)}, buffer)
    crafted = rewrite(models["ppo"], tmp_path / "vars.zip", "pytorch_variables.pth", buffer.getvalue())
    with pytest.raises(ModelLoadError, match="not a plain attribute path"):
        load_trained(str(crafted), make_env())


def test_vec_normalize_statistics_load_safely(tmp_path):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    venv = VecNormalize(make_vec_env("supportgym/Incident-v1", n_envs=1,
                                     env_kwargs={"suite": "tutorial", "render_mode": None}))
    venv.reset()
    venv.step([0])
    path = tmp_path / "model_vecnormalize.pkl"
    venv.save(str(path))
    loaded = load_vec_normalize(path)
    assert (loaded.obs_rms.mean == venv.obs_rms.mean).all()
    marker = tmp_path / "pwned"
    path.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ModelLoadError, match=r"model_vecnormalize.pkl.*(io|builtins)\.open"):
        load_vec_normalize(path)
    assert not marker.exists()
