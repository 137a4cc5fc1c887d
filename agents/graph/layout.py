"""How the flat observation and action index split into service slots, globals and the call graph."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import torch as th
from gymnasium import spaces


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
            hint = " (a supportgym observation before Incident-v1?)" if self.adjacency else ""
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
    """The layout of supportgym's observation and action space (the call graph follows the
    globals; ``adjacency=False`` describes an observation without it). The one place this
    package reads the environment's encoding."""
    from supportgym.contract.observation import GF, SF
    from supportgym.contract.vocabulary import N_SERVICE_ACTIONS, ActionKind

    return GraphLayout(service_features=len(SF), global_features=len(GF), present_feature=SF["present"],
                       service_actions=N_SERVICE_ACTIONS, global_actions=len(ActionKind) - N_SERVICE_ACTIONS,
                       adjacency=adjacency)


def _as_layout(layout: GraphLayout | dict[str, Any] | None) -> GraphLayout:
    if layout is None:
        return native_layout()
    return layout if isinstance(layout, GraphLayout) else GraphLayout(**layout)
