"""Render modes: ``rgb_array`` (a picture of what the agent sees), ``human`` and ``ansi``."""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import supportgym  # noqa: F401  (registers the ids)
from supportgym.contract.observation import ObservationLayout
from supportgym.contract.vocabulary import ActionKind
from supportgym.picture import FRAME_SIZE, INSTALL_HINT, render_rgb

SHAPE = (FRAME_SIZE[1], FRAME_SIZE[0], 3)


def _checks(env: gym.Env, n: int = 4):
    """Take ``n`` evidence-gathering steps on the first services; yield each step's result."""
    u = env.unwrapped
    for i in range(n):
        kind = ActionKind.CHECK_METRICS if i % 2 == 0 else ActionKind.CHECK_TRACES
        yield env.step(u.table.index(kind, i // 2 % u.scenario.topology.n))


def test_metadata_lists_the_three_modes_and_the_checker_accepts_each():
    env = gym.make("supportgym/Incident-Tutorial-v1", render_mode="rgb_array")
    assert set(env.metadata["render_modes"]) == {"ansi", "human", "rgb_array"}
    check_env(env.unwrapped)  # with a spec, it also makes and renders the env in every mode


def test_rgb_array_is_a_fixed_size_frame_before_and_during_an_episode():
    env = gym.make("supportgym/Incident-Hard-v1", render_mode="rgb_array")
    before = env.unwrapped.render()  # gym.make forbids it before reset; the env itself allows it
    assert before.shape == SHAPE and before.dtype == np.uint8
    env.reset(seed=0)
    first = env.render()
    *_, = _checks(env)
    later = env.render()
    assert first.shape == later.shape == SHAPE and later.dtype == np.uint8
    assert not np.array_equal(first, later)  # the evidence and the timeline appeared
    assert len(np.unique(later.reshape(-1, 3), axis=0)) > 20  # a picture, not a blank


def test_the_picture_is_drawn_from_the_observation_alone():
    """What the agent was given (the observation), the service map and the actions taken are
    enough to redraw the frame exactly: nothing hidden goes into it."""
    env = gym.make("supportgym/Incident-Standard-v1", render_mode="rgb_array")
    u = env.unwrapped
    obs, _ = env.reset(seed=1)
    for obs, *_ in _checks(env, 6):
        pass
    layout = ObservationLayout(u.layout.max_services)
    services = layout.services(obs[None])[0]
    glob = layout.globals(obs[None])[0]
    topology = u.scenario.topology
    redrawn = render_rgb(services, glob, float(u.state.time[0]), topology.names, topology.calls, u.timeline)
    assert np.array_equal(env.render(), redrawn)


def test_alerts_colour_the_nodes():
    env = gym.make("supportgym/Incident-Standard-v1", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    red = (frame[..., 0] > 200) & (frame[..., 1] < 100) & (frame[..., 2] < 100)
    assert red.sum() > 1000  # the incident has opened: some service is alerting on errors


def test_human_prints_the_text_view_at_every_step(capsys):
    env = gym.make("supportgym/Incident-Tutorial-v1", render_mode="human")
    env.reset(seed=0)
    assert "tier L" in capsys.readouterr().out
    next(_checks(env, 1))
    out = capsys.readouterr().out
    assert "timeline:" in out and "check metrics" in out
    assert env.render() is None


def test_a_missing_pillow_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    env = gym.make("supportgym/Incident-Tutorial-v1", render_mode="rgb_array")  # making it needs nothing
    env.reset(seed=0)
    with pytest.raises(ImportError, match="supportgym\\[eval\\]"):
        env.render()
    assert "pip install" in INSTALL_HINT


def test_sb3_make_vec_env_with_default_arguments_renders():
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env("supportgym/Incident-Tutorial-v1", n_envs=2, seed=0)  # asks for rgb_array
    venv.reset()
    venv.step(np.zeros(2, dtype=int))
    frames = venv.get_images()
    assert len(frames) == 2 and all(f.shape == SHAPE for f in frames)
    venv.close()


def test_record_video_writes_a_video(tmp_path):
    pytest.importorskip("moviepy")
    env = gym.wrappers.RecordVideo(gym.make("supportgym/Incident-Tutorial-v1", render_mode="rgb_array"),
                                   str(tmp_path / "videos"), episode_trigger=lambda episode: True, disable_logger=True)
    obs, info = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(6):
        obs, _, terminated, truncated, info = env.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
        if terminated or truncated:
            break
    env.close()
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000


def test_the_readme_picture_is_current(tmp_path, capsys):
    """``python -m supportgym.picture --out docs/render.png`` redraws it; redraw after a change."""
    from PIL import Image

    from supportgym.picture import main

    assert main(["--out", str(tmp_path / "render.png"), "--frames", "2"]) == 0
    assert "median" in capsys.readouterr().out
    new = np.asarray(Image.open(tmp_path / "render.png"), dtype=float)
    shipped = np.asarray(Image.open(Path(__file__).resolve().parent.parent / "docs" / "render.png"), dtype=float)
    assert new.shape == shipped.shape == SHAPE
    assert np.abs(new - shipped).mean() < 1.0, \
        "docs/render.png is stale: python -m supportgym.picture --out docs/render.png"
