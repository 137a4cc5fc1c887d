"""The recipes of docs/ecosystem.md, run from the page itself on a tiny budget, and the facts the
untested CleanRL recipe relies on."""

from __future__ import annotations

import inspect
import re
import shlex
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import supportgym
from training.config import load_hyperparams, validate_hyperparams
from training.models import ALGORITHM_CLASSES

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "ecosystem.md"
#: train.py's algorithm names and rl-zoo3's, for the algorithms rl-zoo3 has.
ZOO_NAMES = {"ppo": "ppo", "recurrent_ppo": "ppo_lstm", "dqn": "dqn"}


def recipes() -> dict[str, tuple[str, str]]:
    """Each ``<!-- recipe: NAME -->`` block of the page: name -> (language, code)."""
    found = re.findall(r"<!-- recipe: (\S+) -->\n```(\w+)\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    return {name: (language, code) for name, language, code in found}


def tiny(code: str, language: str) -> str:
    """The code on the budget its ``# tests: VALUE`` comments give."""
    out = []
    for line in code.splitlines():
        body, sep, value = line.partition("# tests:")
        if sep and language == "python":
            numbers = list(re.finditer(r"\d[\d_]*", body))
            assert numbers, f"no number to replace in {line!r}"
            last = numbers[-1]
            line = body[:last.start()] + value.strip() + body[last.end():]
        elif sep:
            line = body.rstrip() + " " + value.strip()
        out.append(line)
    return "\n".join(out)


def run_python_recipe(name: str) -> dict:
    language, code = recipes()[name]
    assert language == "python"
    namespace: dict = {"__name__": f"recipe_{name}"}
    exec(compile(tiny(code, language), f"{PAGE}:{name}", "exec"), namespace)
    return namespace


def test_the_page_has_every_recipe():
    assert set(recipes()) == {"gymnasium-vector", "sb3-ppo", "sb3-contrib-maskable-ppo", "rl-zoo3", "torchrl"}


def test_tiny_budget_rewrites_only_marked_lines():
    assert tiny("model.learn(total_timesteps=60_000)  # tests: 256\nx = 5", "python") == \
        "model.learn(total_timesteps=256)  \nx = 5"
    assert tiny("run --a 1  # tests: -n 2", "bash") == "run --a 1 -n 2"


def test_gymnasium_vector_recipe(capsys):
    run_python_recipe("gymnasium-vector")
    out = capsys.readouterr().out
    assert "sync" in out and "async" in out


def test_sb3_ppo_recipe():
    ns = run_python_recipe("sb3-ppo")
    assert ns["model"].num_timesteps >= 256 and ns["actions"].shape == (8,)


def test_sb3_contrib_maskable_ppo_recipe():
    ns = run_python_recipe("sb3-contrib-maskable-ppo")
    assert ns["model"].num_timesteps >= 256 and ns["masks"].shape == (8, ns["venv"].action_space.n)


def test_torchrl_recipe():
    pytest.importorskip("torchrl")
    ns = run_python_recipe("torchrl")
    assert ns["rollout"].shape[0] >= 1


# --- rl-zoo3 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("algo", sorted(ZOO_NAMES))
def test_rl_zoo3_reads_each_file_as_train_py_does(algo, tmp_path, capsys):
    """rl-zoo3's own reader gives the values train.py uses, for every id, and what it passes to
    the algorithm after taking out its own keys is accepted by the algorithm's constructor."""
    exp_manager = pytest.importorskip("rl_zoo3.exp_manager")
    from rl_zoo3.utils import ALGOS

    zoo = ZOO_NAMES[algo]
    accepted = set(inspect.signature(ALGORITHM_CLASSES[algo].__init__).parameters) - {"self"}
    for suite in supportgym.builtin_suites(training_distributions=False):
        env_id = supportgym.suite_id(suite)
        manager = exp_manager.ExperimentManager(Namespace(), zoo, env_id, str(tmp_path), verbose=0,
                                                config=str(ROOT / "hyperparams" / f"{algo}.yml"))
        theirs, _ = manager.read_hyperparameters()
        ours = validate_hyperparams(load_hyperparams(ROOT / "hyperparams", algo, suite), algo, accepted)
        assert theirs == ours, (algo, env_id)
        kwargs, *_ = manager._preprocess_hyperparams(dict(theirs))
        assert manager.n_envs == ours["n_envs"] > 1 and manager.n_timesteps == ours["n_timesteps"]
        assert set(kwargs) <= set(inspect.signature(ALGOS[zoo].__init__).parameters) - {"self", "env"}
    capsys.readouterr()


def test_a_per_id_entry_replaces_default_for_both_readers(tmp_path):
    exp_manager = pytest.importorskip("rl_zoo3.exp_manager")
    conf = tmp_path / "ppo.yml"
    conf.write_text("default: &default\n  n_timesteps: 1000\n  n_envs: 4\n"
                    "supportgym/Incident-Hard-v1:\n  <<: *default\n  n_envs: 2\n")
    for suite, n_envs in (("hard", 2), ("tutorial", 4)):
        manager = exp_manager.ExperimentManager(Namespace(), "ppo", supportgym.suite_id(suite), str(tmp_path),
                                                verbose=0, config=str(conf))
        theirs, _ = manager.read_hyperparameters()
        assert theirs == load_hyperparams(conf, "ppo", suite) == {"n_timesteps": 1000, "n_envs": n_envs}


@pytest.mark.slow
def test_rl_zoo3_recipe_trains_with_the_projects_hyperparameters_then_replays_and_films(tmp_path):
    pytest.importorskip("rl_zoo3")
    language, code = recipes()["rl-zoo3"]
    commands = [shlex.split(line) for line in tiny(code, language).replace("\\\n", " ").splitlines()]
    assert [c[:3] for c in commands] == [["python", "-m", "rl_zoo3.train"], ["python", "-m", "rl_zoo3.enjoy"],
                                         ["python", "-c", commands[2][2]]]
    outputs = []
    for command in commands:
        command[0] = sys.executable
        if "--conf-file" in command:
            conf = command.index("--conf-file") + 1
            command[conf] = str(ROOT / command[conf])
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (command, done.stderr[-2000:])
        outputs.append(done.stdout)
    assert "Using 8 environments" in outputs[0] and "'n_steps', 256" in outputs[0]
    (model,) = (tmp_path / "logs" / "ppo").glob("*/*.zip")
    assert model.stat().st_size > 0
    (video,) = (tmp_path / "videos").rglob("*.mp4")
    assert video.stat().st_size > 1000


# --- the facts behind the CleanRL recipe ---------------------------------------------------------
def test_same_step_autoreset_gives_the_new_episodes_mask_and_final_metrics():
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.wrappers.RecordEpisodeStatistics(gym.make("supportgym/Incident-Tutorial-v1"))] * 2,
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    obs, infos = envs.reset(seed=0)
    resolve = envs.single_action_space.n - 1  # the last global action: resolve
    obs, rewards, terminated, truncated, infos = envs.step(np.array([resolve, 0]))
    assert terminated.tolist() == [True, False]
    now = np.stack(envs.call("action_masks"))
    assert np.array_equal(infos["action_mask"], now)  # env 0 already runs its next episode
    assert not np.array_equal(obs[0], infos["final_obs"][0])  # obs is the new episode's first
    final = infos["final_info"]
    assert final["_episode"].tolist() == [True, False] and final["episode"]["l"][0] == 1
    assert final["_episode_metrics"][0] and "resolved_and_held" in final["episode_metrics"]
    envs.close()
