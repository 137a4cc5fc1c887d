"""The graph policies for SB3 ``PPO`` and sb3-contrib ``MaskablePPO``."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy, BaseModel
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from agents.graph.layout import GraphLayout, _as_layout
from agents.graph.network import GraphActionHead, GraphEncoder, GraphValueHead, _Latents


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


# Each class defines its own ``__init__`` rather than the mixin: SB3's saved metadata names the
# policy class only through ``policy_class.__init__``, and agents.graph.loading recognises a graph
# model (without unpickling anything) by that name.
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
