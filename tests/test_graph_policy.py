"""The topology-agnostic graph policy (agents/graph): the call-graph wrapper, the
layout, permutation equivariance, another max_services at load, save and load."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

th = pytest.importorskip("torch")  # the training extra: supportgym[train]
pytest.importorskip("sb3_contrib")

from sb3_contrib import MaskablePPO  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402

import supportgym  # noqa: E402, F401  (registers the environment)
from agents.graph import (  # noqa: E402
    GraphLayout,
    GraphPolicy,
    MaskableGraphPolicy,
    load_graph_agent,
    load_graph_policy,
    native_layout,
)
from agents.registry import make_agent  # noqa: E402
from supportgym.contract.vocabulary import N_SERVICE_ACTIONS, ActionKind  # noqa: E402
from evaluation.play import run_episode  # noqa: E402

LAYOUT = native_layout()
K = N_SERVICE_ACTIONS


def _env(max_services: int = 16, suite: str = "standard", **kwargs) -> gym.Env:
    return gym.make("supportgym/Incident-v1", suite=suite, max_services=max_services, disable_env_checker=True,
                    **kwargs)


def _model(env: gym.Env, algorithm=MaskablePPO, policy=MaskableGraphPolicy, seed: int = 0):
    return algorithm(policy, env, n_steps=32, batch_size=32, n_epochs=1, seed=seed, device="cpu")


def _outputs(policy, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unnormalised logits, values) of a batch of observations."""
    obs_t, _ = policy.obs_to_tensor(obs)
    with th.no_grad():
        features = policy.extract_features(obs_t, policy.pi_features_extractor)
        logits = policy.action_net(policy.mlp_extractor.forward_actor(features))
        values = policy.predict_values(obs_t)
    return logits.numpy(), values.numpy()[:, 0]


def _observations(env: gym.Env, seeds: range, steps: int = 3) -> np.ndarray:
    """Observations from a few seeded episodes, a few random allowed actions in."""
    out = []
    rng = np.random.default_rng(0)
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        for _ in range(steps):
            out.append(obs)
            obs, _, terminated, truncated, info = env.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
            if terminated or truncated:
                break
    return np.array(out)


# --- the call graph in the observation ----------------------------------------------------------


def test_the_observation_carries_the_weighted_call_graph_and_passes_check_env():
    env = _env(16, scenario=None)
    assert LAYOUT.max_services(env.observation_space.shape[0]) == 16
    obs, _ = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    topology = env.unwrapped.scenario.topology
    graph = env.unwrapped.layout.calls(obs)
    assert np.allclose(graph[:topology.n, :topology.n], topology.calls) and not graph[topology.n:].any()
    assert np.allclose(obs[-16 * 16:].reshape(16, 16), graph)  # the layout the graph policy reads
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning is a failure
        check_env(env.unwrapped)


def test_the_call_graph_follows_the_topology_across_resets():
    env = _env(24, suite="hard")
    seen = set()
    for seed in range(4):
        obs, _ = env.reset(seed=seed)
        n = env.unwrapped.scenario.topology.n
        graph = obs[-24 * 24:].reshape(24, 24)
        assert np.allclose(graph[:n, :n], env.unwrapped.scenario.topology.calls)
        seen.add(graph.tobytes())
    obs, *_ = env.step(int(np.flatnonzero(env.unwrapped.action_masks())[0]))
    assert np.allclose(obs[-24 * 24:].reshape(24, 24)[:n, :n], env.unwrapped.scenario.topology.calls)


def test_layout_derives_the_slot_count_and_rejects_what_does_not_fit():
    for n in (1, 6, 16, 24, 32, 64):
        assert LAYOUT.max_services(LAYOUT.observation_size(n)) == n
        plain = native_layout(adjacency=False)
        assert plain.max_services(plain.observation_size(n)) == n
    with pytest.raises(ValueError, match="before Incident-v1"):
        LAYOUT.max_services(native_layout(adjacency=False).observation_size(16))
    with pytest.raises(ValueError, match="present_feature"):
        GraphLayout(service_features=4, global_features=2, present_feature=4, service_actions=9, global_actions=8)
    with pytest.raises(ValueError, match="is not N slots"):
        _model(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="builds its own network"):
        MaskablePPO(MaskableGraphPolicy, _env(), policy_kwargs={"net_arch": [64, 64]})


def test_weights_do_not_depend_on_max_services():
    small, large = _model(_env(16)).policy, _model(_env(32)).policy
    assert {k: v.shape for k, v in small.state_dict().items()} == {k: v.shape for k, v in large.state_dict().items()}


# --- permutation equivariance ----------------------------------------------------------------------


def _permute(obs: np.ndarray, perm: np.ndarray, n: int) -> np.ndarray:
    """Observations with slot ``perm[s]`` moved to slot ``s``: features, call-graph rows and columns."""
    f, g = LAYOUT.service_features, LAYOUT.global_features
    services = obs[:, :n * f].reshape(-1, n, f)[:, perm]
    globals_ = obs[:, n * f:n * f + g]
    graph = obs[:, n * f + g:].reshape(-1, n, n)[:, perm][:, :, perm]
    return np.concatenate([services.reshape(len(obs), -1), globals_, graph.reshape(len(obs), -1)], axis=1)


def _pad(obs: np.ndarray, n: int, to: int) -> np.ndarray:
    """Observations of ``n`` slots as observations of ``to`` slots, the extra slots empty."""
    f, g = LAYOUT.service_features, LAYOUT.global_features
    services = np.zeros((len(obs), to, f), np.float32)
    services[:, :n] = obs[:, :n * f].reshape(-1, n, f)
    graph = np.zeros((len(obs), to, to), np.float32)
    graph[:, :n, :n] = obs[:, n * f + g:].reshape(-1, n, n)
    return np.concatenate([services.reshape(len(obs), -1), obs[:, n * f:n * f + g], graph.reshape(len(obs), -1)], 1)


@pytest.mark.parametrize("algorithm,policy,share", [
    (MaskablePPO, MaskableGraphPolicy, False), (MaskablePPO, MaskableGraphPolicy, True), (PPO, GraphPolicy, False)])
def test_per_service_logits_permute_with_the_slots_and_the_rest_does_not_change(algorithm, policy, share):
    n = 16
    env = _env(n)
    model = algorithm(policy, env, n_steps=32, batch_size=32, policy_kwargs={"share_features_extractor": share})
    th.manual_seed(1)
    with th.no_grad():  # larger output weights than the near-zero initial ones, so differences show
        for head in (model.policy.action_net.service, model.policy.action_net.globals):
            head[-1].weight.normal_()
    obs = _observations(env, range(3))
    perm = np.random.default_rng(0).permutation(n)
    logits, values = _outputs(model.policy, obs)
    p_logits, p_values = _outputs(model.policy, _permute(obs, perm, n))
    per_service, k = logits[:, :n * K].reshape(-1, n, K), n * K
    assert np.allclose(p_logits[:, :k].reshape(-1, n, K), per_service[:, perm], atol=1e-5)
    assert np.allclose(p_logits[:, k:], logits[:, k:], atol=1e-5)
    assert np.allclose(p_values, values, atol=1e-5)
    assert np.ptp(per_service[:, :11], axis=1).max() > 1e-3  # the check is not vacuous: slots differ


def test_the_call_graph_and_its_direction_matter():
    env = _env(16)
    policy = _model(env).policy
    obs = _observations(env, range(2))
    f, g, n = LAYOUT.service_features, LAYOUT.global_features, 16
    graph = obs[:, n * f + g:].reshape(-1, n, n)
    reversed_ = np.concatenate([obs[:, :n * f + g], graph.transpose(0, 2, 1).reshape(len(obs), -1)], axis=1)
    embeddings = [policy.extract_features(policy.obs_to_tensor(o)[0], policy.pi_features_extractor).detach().numpy()
                  for o in (obs, reversed_)]
    assert np.abs(embeddings[0] - embeddings[1]).max() > 1e-4


# --- saving, loading, another max_services --------------------------------------------------------


def test_save_load_gives_identical_actions(tmp_path):
    env = _env(16)
    model = _model(env)
    model.learn(64)
    model.save(tmp_path / "graph.zip")
    loaded = load_graph_policy(tmp_path / "graph.zip", env)
    obs = _observations(env, range(4))
    masks = np.array([env.unwrapped.action_masks()] * len(obs))
    a, _ = model.predict(obs, deterministic=True, action_masks=masks)
    b, _ = loaded.predict(obs, deterministic=True, action_masks=masks)
    assert np.array_equal(a, b)
    assert np.allclose(_outputs(model.policy, obs)[0], _outputs(loaded.policy, obs)[0])


def test_a_model_trained_at_16_slots_plays_a_32_slot_env(tmp_path):
    small = _env(16)
    model = _model(small)
    model.learn(64)
    model.save(tmp_path / "graph16.zip")
    with pytest.raises(ValueError, match="spaces"):
        MaskablePPO.load(tmp_path / "graph16.zip", env=_env(32))  # what SB3 alone says
    large = _env(32)
    loaded = load_graph_policy(tmp_path / "graph16.zip", large)
    assert loaded.policy.max_services == 32 and loaded.action_space.n == 32 * K + len(ActionKind) - K
    # the same services in the first slots, the rest empty: the same decisions, the same value
    obs16 = _observations(small, range(3))
    obs32 = _pad(obs16, 16, 32)
    assert large.observation_space.contains(obs32[0])
    logits16, values16 = _outputs(model.policy, obs16)
    logits32, values32 = _outputs(loaded.policy, obs32)
    assert np.allclose(logits32[:, :16 * K], logits16[:, :16 * K], atol=1e-5)
    assert np.allclose(logits32[:, 32 * K:], logits16[:, 16 * K:], atol=1e-5)
    assert np.allclose(values32, values16, atol=1e-5)
    # and it plays whole episodes on a 32-slot env of larger generated systems
    agent = load_graph_agent(tmp_path / "graph16.zip", gym.make("supportgym/Incident-v1", suite="validation",
                                                                  max_services=32, disable_env_checker=True))
    metrics = run_episode(agent.env, agent, seed=0)
    assert metrics["scenario"].startswith("val-")


def test_graph_agent_plays_the_unwrapped_env_like_the_model_plays_the_wrapped_one(tmp_path):
    env = _env(16)
    model = _model(env)
    model.learn(64)
    model.save(tmp_path / "graph.zip")
    plain = gym.make("supportgym/Incident-v1", suite="standard", max_services=16, disable_env_checker=True)
    agent = load_graph_agent(tmp_path / "graph.zip", plain)
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        raw, raw_info = plain.reset(seed=seed)
        action, _ = agent.predict(raw, action_masks=raw_info["action_mask"])
        expected, _ = model.predict(obs, deterministic=True, action_masks=info["action_mask"])
        assert int(action) == int(expected)
    assert make_agent("expert", plain) is not None  # the rule-based agents still read the plain env


def test_load_rejects_what_is_not_a_graph_model(tmp_path):
    env = gym.make("supportgym/Incident-v1", suite="tutorial", disable_env_checker=True)
    MaskablePPO("MlpPolicy", env, n_steps=32, batch_size=32).save(tmp_path / "mlp.zip")
    with pytest.raises(ValueError, match="not trained with a graph policy"):
        load_graph_policy(tmp_path / "mlp.zip", _env())
    (tmp_path / "junk.zip").write_text("not a zip")
    with pytest.raises(ValueError, match="not a readable stable-baselines3 model"):
        load_graph_policy(tmp_path / "junk.zip", _env())
    with pytest.raises(ValueError, match="does not exist"):
        load_graph_policy(tmp_path / "missing.zip", _env())


@pytest.mark.parametrize("share", [False, True])
def test_behaviour_cloning_trains_the_actor_alone(share):
    """training/warmstart.behaviour_clone works on the graph policy unchanged, with or without an
    encoder shared with the critic; without, the critic's encoder is left alone."""
    from training.warmstart import behaviour_clone, collect_demonstrations

    env = _env(16)
    policy = MaskablePPO(MaskableGraphPolicy, env, policy_kwargs={"share_features_extractor": share}).policy
    critic = {k: v.clone() for k, v in policy.vf_features_extractor.state_dict().items()}
    actor = {k: v.clone() for k, v in policy.pi_features_extractor.state_dict().items()}
    behaviour_clone(policy, *collect_demonstrations("standard", "expert", 3, seed=0, max_services=16), epochs=1)
    changed = [not th.equal(v, policy.pi_features_extractor.state_dict()[k]) for k, v in actor.items()]
    unchanged = [th.equal(v, policy.vf_features_extractor.state_dict()[k]) for k, v in critic.items()]
    assert any(changed) and all(unchanged) == (not share)


@pytest.mark.slow
def test_behaviour_cloning_the_expert_into_the_graph_policy_learns_its_choices():
    from training.warmstart import behaviour_clone, collect_demonstrations

    demonstrations = collect_demonstrations("standard", "expert", 150, seed=0, max_services=16)
    fit = behaviour_clone(_model(_env(16)).policy, *demonstrations, epochs=25, batch_size=128)
    assert fit["accuracy"] > 0.8, fit
