"""A topology-agnostic actor-critic policy over service slots and the call graph (issue 12).

The slot MLP of ``hyperparams.yml`` learns one weight per (slot, feature): it memorises the
topologies it trained on. This policy treats slots as a *set* of services connected by a
weighted call graph, so its weights do not depend on ``max_services`` and it is
permutation-equivariant over slots:

* a shared per-service encoder (every slot's features, plus the global features);
* message passing over the call graph, callers and callees as separate directions, weighted by
  the share of requests on each call;
* self-attention across the services that are present, plus a global token;
* a pooled context that gives the value and the logits of the global actions, and one shared
  head that gives the logits of each service's actions, flattened as index ``s * 9 + k``.

It reads the flat observation through a :class:`GraphLayout` (per-slot feature count, global
count, which feature says "present", whether an adjacency block follows the globals), derived
from the environment by :func:`native_layout`. Until the native observation carries the call
graph, :class:`CallGraphObservation` appends it. Used by SB3 ``PPO`` (:class:`GraphPolicy`) and
sb3-contrib ``MaskablePPO`` (:class:`MaskableGraphPolicy`)::

    env = CallGraphObservation(gym.make("supportgym/Incident-v0", suite="scenarios/train.yaml", max_services=24))
    model = MaskablePPO(MaskableGraphPolicy, env)

A model trained at one ``max_services`` plays another through :func:`load_graph_policy`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy, BaseModel
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

# --- the observation layout ----------------------------------------------------------------------


@dataclass(frozen=True)
class GraphLayout:
    """How a flat observation splits into slots, globals and the call graph, and how the flat
    action index splits into per-slot and global actions.

    The observation is ``N`` blocks of ``service_features``, then ``global_features``, then (if
    ``adjacency``) ``N * N`` call weights, row = caller, column = callee. ``N`` follows from the
    observation size, so one layout serves every ``max_services``. Actions: ``N * service_actions``
    per-slot actions (index ``s * service_actions + k``), then ``global_actions``.
    """

    service_features: int
    global_features: int
    present_feature: int
    service_actions: int
    global_actions: int
    adjacency: bool = True

    def __post_init__(self) -> None:
        if min(self.service_features, self.service_actions) < 1 or min(self.global_features, self.global_actions) < 0:
            raise ValueError(f"a graph layout needs positive feature and action counts, not {self}")
        if not 0 <= self.present_feature < self.service_features:
            raise ValueError(f"present_feature {self.present_feature} is not one of {self.service_features} features")

    def observation_size(self, max_services: int) -> int:
        n = max_services
        return n * self.service_features + self.global_features + (n * n if self.adjacency else 0)

    def n_actions(self, max_services: int) -> int:
        return max_services * self.service_actions + self.global_actions

    def max_services(self, observation_size: int) -> int:
        """The slot count ``N`` of an observation of this size; ``ValueError`` if none fits."""
        rest = observation_size - self.global_features
        if self.adjacency:  # N^2 + F N - rest = 0
            n = int(round((-self.service_features + math.sqrt(self.service_features ** 2 + 4 * max(rest, 0))) / 2))
        else:
            n = rest // self.service_features
        if n < 1 or self.observation_size(n) != observation_size:
            graph = "with" if self.adjacency else "without"
            hint = " (wrap the env in CallGraphObservation)" if self.adjacency else ""
            raise ValueError(f"an observation of size {observation_size} is not N slots of {self.service_features} "
                             f"features + {self.global_features} globals {graph} an N x N call graph{hint}")
        return n

    def check_spaces(self, observation_space: gym.Space, action_space: gym.Space) -> int:
        """``N`` for these spaces; ``ValueError`` with the reason if they do not fit the layout."""
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f"the graph policy reads a flat Box observation, not {observation_space}")
        n = self.max_services(int(observation_space.shape[0]))
        if not isinstance(action_space, spaces.Discrete) or int(action_space.n) != self.n_actions(n):
            raise ValueError(f"with {n} slots the graph policy needs Discrete({self.n_actions(n)}) actions, "
                             f"not {action_space}")
        return n

    def split(self, obs: th.Tensor, n: int) -> tuple[th.Tensor, th.Tensor, th.Tensor | None]:
        """(services (B, N, F), globals (B, G), call weights (B, N, N) or None)."""
        end_services = n * self.service_features
        end_globals = end_services + self.global_features
        services = obs[:, :end_services].reshape(-1, n, self.service_features)
        globals_ = obs[:, end_services:end_globals]
        calls = obs[:, end_globals:].reshape(-1, n, n) if self.adjacency else None
        return services, globals_, calls


def native_layout(adjacency: bool = True) -> GraphLayout:
    """The layout of supportgym's observation and action space (with the call graph appended by
    :class:`CallGraphObservation` when ``adjacency``). The one place this module reads the
    environment's encoding: when the native observation gains the call graph, only this changes."""
    from supportgym.contract.observation import GF, SF
    from supportgym.contract.vocabulary import N_SERVICE_ACTIONS, ActionKind

    return GraphLayout(service_features=len(SF), global_features=len(GF), present_feature=SF["present"],
                       service_actions=N_SERVICE_ACTIONS, global_actions=len(ActionKind) - N_SERVICE_ACTIONS,
                       adjacency=adjacency)


def _as_layout(layout: GraphLayout | dict[str, Any] | None) -> GraphLayout:
    if layout is None:
        return native_layout()
    return layout if isinstance(layout, GraphLayout) else GraphLayout(**layout)


# --- the call graph in the observation (until the environment carries it) -----------------------


def call_weights(env: gym.Env) -> np.ndarray:
    """The current scenario's call weights ``(n, n)``: row = caller, column = callee, in [0, 1].
    Public knowledge to an engineer (the service map), not hidden fault state."""
    return np.asarray(env.unwrapped.scenario.topology.calls, dtype=np.float32)


def padded_call_graph(env: gym.Env, max_services: int) -> np.ndarray:
    """:func:`call_weights` padded with zeros to ``(max_services, max_services)``, flattened."""
    calls = call_weights(env)
    n = len(calls)
    if n > max_services:
        raise ValueError(f"the topology has {n} services but the observation has {max_services} slots")
    out = np.zeros((max_services, max_services), dtype=np.float32)
    out[:n, :n] = np.clip(calls, 0.0, 1.0)
    return out.reshape(-1)


def with_call_graph(observation: np.ndarray, env: gym.Env, max_services: int) -> np.ndarray:
    """One plain observation of ``env`` with its current call graph appended: what
    :class:`CallGraphObservation` gives (for code that reads the plain env, e.g. a teacher)."""
    return np.concatenate([np.asarray(observation, dtype=np.float32).reshape(-1),
                           padded_call_graph(env, max_services)])


class CallGraphObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Appends the current scenario's weighted call graph (``max_services`` x ``max_services``,
    row = caller, column = callee) to supportgym's flat observation."""

    def __init__(self, env: gym.Env, layout: GraphLayout | None = None):
        gym.utils.RecordConstructorArgs.__init__(self, layout=layout)
        gym.ObservationWrapper.__init__(self, env)
        self.layout = layout or native_layout(adjacency=False)
        if self.layout.adjacency:
            raise ValueError("CallGraphObservation wraps an observation that has no call graph yet")
        self.max_services = self.layout.check_spaces(env.observation_space, env.action_space)
        size = self.layout.observation_size(self.max_services) + self.max_services ** 2
        self.observation_space = spaces.Box(0.0, 1.0, (size,), np.float32)
        self._graphs: dict[int, np.ndarray] = {}  # per topology object: it changes only on reset

    def observation(self, observation: np.ndarray) -> np.ndarray:
        topology = self.env.unwrapped.scenario.topology
        graph = self._graphs.get(id(topology))
        if graph is None:
            graph = self._graphs[id(topology)] = padded_call_graph(self.env, self.max_services)
        return np.concatenate([np.asarray(observation, dtype=np.float32), graph])

    def action_masks(self) -> np.ndarray:
        """The inner env's mask (MaskablePPO asks the outermost env)."""
        return self.env.unwrapped.action_masks()


# --- the network ------------------------------------------------------------------------------------


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class CallGraphLayer(nn.Module):
    """One round of message passing: each service hears its callers and its callees separately,
    each weighted by the call weight, and updates its state residually."""

    def __init__(self, dim: int):
        super().__init__()
        self.from_callers = nn.Linear(dim, dim, bias=False)
        self.from_callees = nn.Linear(dim, dim, bias=False)
        self.update = nn.Linear(3 * dim, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, h: th.Tensor, calls: th.Tensor, present: th.Tensor) -> th.Tensor:
        callers = calls.transpose(1, 2) @ self.from_callers(h)  # node j: sum_i w[i, j] h_i
        callees = calls @ self.from_callees(h)  # node i: sum_j w[i, j] h_j
        h = self.norm(h + th.relu(self.update(th.cat([h, callers, callees], dim=-1))))
        return h * present


class SetAttention(nn.Module):
    """Multi-head self-attention over tokens, ignoring masked keys. Written out with batched
    matrix products: on CPU with a few dozen tokens it trains several times faster than torch's
    fused kernels."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"the embedding width {dim} must be a multiple of attention_heads {heads}")
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, tokens: th.Tensor, ignore: th.Tensor) -> th.Tensor:
        b, t, d = tokens.shape
        q, k, v = self.qkv(tokens).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)  # (B, heads, T, T)
        scores = scores.masked_fill(ignore[:, None, None, :], float("-inf"))
        mixed = th.softmax(scores, dim=-1) @ v  # (B, heads, T, head_dim)
        return self.out(mixed.transpose(1, 2).reshape(b, t, d))


class GraphEncoder(BaseFeaturesExtractor):
    """Flat observation -> per-slot embeddings and a pooled context, as one vector
    ``(B, N * dim + dim)``: slot ``s`` at ``[s * dim, (s + 1) * dim)``, the context last."""

    def __init__(self, observation_space: spaces.Box, layout: GraphLayout, max_services: int, dim: int = 32,
                 message_rounds: int = 3, attention_heads: int = 4):
        super().__init__(observation_space, features_dim=max_services * dim + dim)
        self.layout, self.max_services, self.dim = layout, max_services, dim
        self.service_in = _mlp([layout.service_features, dim, dim])
        self.global_in = _mlp([layout.global_features, dim, dim])
        self.global_to_service = nn.Linear(dim, dim, bias=False)
        self.rounds = nn.ModuleList(CallGraphLayer(dim) for _ in range(message_rounds if layout.adjacency else 0))
        self.attention = SetAttention(dim, attention_heads)
        self.attention_norm = nn.LayerNorm(dim)
        self.feed_forward = _mlp([dim, 2 * dim, dim])
        self.feed_forward_norm = nn.LayerNorm(dim)
        self.pool = _mlp([2 * dim, dim, dim])

    def forward(self, observations: th.Tensor) -> th.Tensor:
        services, globals_, calls = self.layout.split(observations, self.max_services)
        present = services[..., self.layout.present_feature:self.layout.present_feature + 1]  # (B, N, 1)
        g = self.global_in(globals_)
        h = th.relu(self.service_in(services) + self.global_to_service(g)[:, None, :]) * present
        for layer in self.rounds:
            h = layer(h, calls, present)
        # attention over the present services and a global token (always there: no empty rows)
        tokens = th.cat([g[:, None, :], h], dim=1)
        ignore = th.cat([th.zeros_like(present[:, :1, 0]), present[..., 0]], dim=1) < 0.5
        attended = self.attention(tokens, ignore)
        tokens = self.attention_norm(tokens + attended)
        tokens = self.feed_forward_norm(tokens + self.feed_forward(tokens))
        g, h = tokens[:, 0], tokens[:, 1:] * present
        mean = h.sum(dim=1) / present.sum(dim=1).clamp(min=1.0)
        context = self.pool(th.cat([g, mean], dim=-1))
        return th.cat([h.flatten(1), context], dim=-1)


class _Latents(nn.Module):
    """SB3's ``mlp_extractor`` slot: the encoder's output is already the latent for both heads."""

    def __init__(self, features_dim: int):
        super().__init__()
        self.latent_dim_pi = self.latent_dim_vf = features_dim

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        return features, features

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        return features

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        return features


class GraphActionHead(nn.Module):
    """Latent -> logits ``(B, N * service_actions + global_actions)``: one shared head per slot
    (its embedding and the context), the global actions from the context."""

    def __init__(self, layout: GraphLayout, max_services: int, dim: int):
        super().__init__()
        self.max_services, self.dim = max_services, dim
        self.service = _mlp([2 * dim, dim, layout.service_actions])
        self.globals = _mlp([dim, dim, layout.global_actions])

    def forward(self, latent: th.Tensor) -> th.Tensor:
        h = latent[:, :-self.dim].reshape(-1, self.max_services, self.dim)
        context = latent[:, -self.dim:]
        per_service = self.service(th.cat([h, context[:, None, :].expand_as(h)], dim=-1))
        return th.cat([per_service.flatten(1), self.globals(context)], dim=-1)


class GraphValueHead(nn.Module):
    """Latent -> value, from the pooled context alone."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.net = _mlp([dim, dim, 1])

    def forward(self, latent: th.Tensor) -> th.Tensor:
        return self.net(latent[:, -self.dim:])


class _GraphPolicyMixin:
    """What PPO's and MaskablePPO's graph policies share: the encoder and heads replace SB3's
    MLP extractor, action net and value net; every other method of the base policy is unchanged."""

    def _graph_init(self, observation_space: gym.Space, action_space: gym.Space, kwargs: dict[str, Any],
                    layout: GraphLayout | dict[str, Any] | None, dim: int, message_rounds: int,
                    attention_heads: int) -> None:
        self.layout = _as_layout(layout)
        self.max_services = self.layout.check_spaces(observation_space, action_space)
        self.dim, self.message_rounds, self.attention_heads = dim, message_rounds, attention_heads
        for unused in ("net_arch", "features_extractor_class", "features_extractor_kwargs"):
            if kwargs.get(unused) is not None:
                raise ValueError(f"the graph policy builds its own network: drop policy_kwargs {unused!r}")
            kwargs.pop(unused, None)
        kwargs["features_extractor_class"] = GraphEncoder
        kwargs["features_extractor_kwargs"] = {"layout": self.layout, "max_services": self.max_services, "dim": dim,
                                               "message_rounds": message_rounds, "attention_heads": attention_heads}
        kwargs["net_arch"] = []
        # The critic gets an encoder of its own by default, as SB3's MlpPolicy gives it a network
        # of its own: then the value loss never moves the actor's features (after a behaviour-
        # cloning warm start the critic is untrained, and its large early errors would).
        kwargs.setdefault("share_features_extractor", False)

    def extract_features(self, obs: th.Tensor, features_extractor: BaseFeaturesExtractor | None = None):
        """As SB3's, but an encoder asked for by name is used even when actor and critic have their
        own (SB3 ignores it then): behaviour cloning asks for the actor's alone."""
        if features_extractor is not None:
            return BaseModel.extract_features(self, obs, features_extractor)
        return super().extract_features(obs)

    def _build(self, lr_schedule) -> None:
        self.mlp_extractor = _Latents(self.features_dim)
        self.action_net = GraphActionHead(self.layout, self.max_services, self.dim)
        self.value_net = GraphValueHead(self.dim)
        if self.ortho_init:  # SB3's scheme, with the small gains on the output layers only
            for module in (self.pi_features_extractor, self.vf_features_extractor, self.action_net, self.value_net):
                module.apply(partial(self.init_weights, gain=np.sqrt(2)))
            for head in (self.action_net.service, self.action_net.globals):
                self.init_weights(head[-1], gain=0.01)
            self.init_weights(self.value_net.net[-1], gain=1.0)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _graph_constructor_parameters(self, data: dict[str, Any]) -> dict[str, Any]:
        for key in ("net_arch", "features_extractor_class", "features_extractor_kwargs"):
            data.pop(key, None)
        data.update(layout=asdict(self.layout), dim=self.dim, message_rounds=self.message_rounds,
                    attention_heads=self.attention_heads)
        return data


def is_graph_policy(policy: Any) -> bool:
    """Whether ``policy`` is one of this module's graph policies."""
    return isinstance(policy, _GraphPolicyMixin)


class GraphPolicy(_GraphPolicyMixin, ActorCriticPolicy):
    """The graph policy for SB3 ``PPO``. Keyword arguments: ``layout`` (a :class:`GraphLayout` or
    its fields; default :func:`native_layout`), ``dim`` (embedding width), ``message_rounds``,
    ``attention_heads``; plus ActorCriticPolicy's own (``ortho_init``, ``optimizer_kwargs``, ...).
    ``share_features_extractor`` defaults to False here: actor and critic have encoders of their own."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, lr_schedule, *,
                 layout: GraphLayout | dict[str, Any] | None = None, dim: int = 32, message_rounds: int = 3,
                 attention_heads: int = 4, **kwargs: Any):
        self._graph_init(observation_space, action_space, kwargs, layout, dim, message_rounds, attention_heads)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return self._graph_constructor_parameters(super()._get_constructor_parameters())


class MaskableGraphPolicy(_GraphPolicyMixin, MaskableActorCriticPolicy):
    """The graph policy for sb3-contrib ``MaskablePPO`` (same arguments as :class:`GraphPolicy`)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, lr_schedule, *,
                 layout: GraphLayout | dict[str, Any] | None = None, dim: int = 32, message_rounds: int = 3,
                 attention_heads: int = 4, **kwargs: Any):
        self._graph_init(observation_space, action_space, kwargs, layout, dim, message_rounds, attention_heads)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return self._graph_constructor_parameters(super()._get_constructor_parameters())


# --- loading at another max_services -----------------------------------------------------------------

#: Policy class name -> (algorithm module, class).
GRAPH_ALGORITHMS = {"GraphPolicy": ("stable_baselines3", "PPO"),
                    "MaskableGraphPolicy": ("sb3_contrib", "MaskablePPO")}


def graph_policy_name(data: dict[str, Any]) -> str | None:
    """The graph policy class named by an SB3 zip's plain-JSON ``data`` entry, or None."""
    entry = data.get("policy_class")
    init = entry.get("__init__", "") if isinstance(entry, dict) else ""
    return next((name for name in GRAPH_ALGORITHMS if f"<function {name}.__init__" in str(init)), None)


def load_graph_policy(path: str | Path, env: gym.Env, device: str = "cpu"):
    """Load a PPO / MaskablePPO model with a graph policy for ``env``, whatever ``max_services`` it
    was trained at: the saved spaces are replaced by ``env``'s, the policy is built for them and
    the saved weights (which do not depend on the slot count) are loaded into it.

    ``env`` must give the observation the policy was trained on (e.g. wrapped in
    :class:`CallGraphObservation`). Like every model load, this runs no code from the file
    (agents/safe_load.py); the policy class comes from this module.
    """
    import importlib

    from agents.safe_load import ModelLoadError, load_model, read_metadata

    path = Path(path)
    policy_name = graph_policy_name(read_metadata(path))
    if policy_name is None:
        raise ModelLoadError(f"{path} was not trained with a graph policy ({', '.join(GRAPH_ALGORITHMS)})")
    module, cls_name = GRAPH_ALGORITHMS[policy_name]
    algorithm = getattr(importlib.import_module(module), cls_name)
    return load_model(algorithm, path, device=device,
                      replace={"policy_class": globals()[policy_name], "observation_space": env.observation_space,
                               "action_space": env.action_space})


class GraphPolicyAgent:
    """A graph-policy model behind the agents' ``predict`` protocol, playing an *unwrapped*
    supportgym env: it appends that env's current call graph to each observation itself, so
    ``evaluate.py`` can hand it the same observations as every other agent."""

    def __init__(self, model: Any, env: gym.Env, name: str = "graph"):
        self.model, self.env, self.name = model, env, name
        self.max_services = int(model.policy.max_services)
        self.model.policy.set_training_mode(False)

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True, action_masks: np.ndarray | None = None) -> tuple[np.ndarray, Any]:
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        if not single and len(obs) != 1:
            raise ValueError("GraphPolicyAgent plays one env: it appends that env's call graph to one observation")
        wrapped, _ = self.model.policy.obs_to_tensor(with_call_graph(obs, self.env, self.max_services)[None])
        with th.no_grad():
            logits = self.model.policy.get_distribution(wrapped).distribution.logits
            if action_masks is not None:  # act only among allowed actions, PPO and MaskablePPO alike
                allowed = th.as_tensor(np.asarray(action_masks, dtype=bool).reshape(1, -1), device=logits.device)
                logits = logits.masked_fill(~allowed, -th.inf)
            action = logits.argmax(dim=1) if deterministic else th.distributions.Categorical(logits=logits).sample()
        action = action.cpu().numpy()
        return (np.array(action[0]) if single else action), state


def load_graph_agent(path: str | Path, env: gym.Env, name: str | None = None) -> GraphPolicyAgent:
    """:func:`load_graph_policy` for an unwrapped supportgym ``env``, as an agent (see
    :class:`GraphPolicyAgent`); any ``max_services`` the topologies fit in."""
    model = load_graph_policy(path, CallGraphObservation(env))
    return GraphPolicyAgent(model, env, name or str(path))
