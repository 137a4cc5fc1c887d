"""The network: a shared per-service encoder, message passing over the call graph, attention, the heads."""

from __future__ import annotations

import math

import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from agents.graph.layout import GraphLayout


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
