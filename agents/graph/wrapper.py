"""The call graph in the observation, until the environment carries it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.graph.layout import GraphLayout, native_layout


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
