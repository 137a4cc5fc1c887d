"""A service dependency graph and the matrices the dynamics use to propagate through it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from supportgym.contract.vocabulary import ServiceKind
from supportgym.world.mechanisms import BASE_LATENCY_MS


@dataclass(frozen=True, eq=False)
class Topology:
    """A validated topology of ``n`` services (unpadded). Arrays are read-only.

    ``calls[i, j]`` is the share of service i's requests that call service j. Load flows down
    the calls, errors and latency flow up them, except from caches (a caller falls back to the
    database a cache fronts, so a cache's failure shows as load on that database instead) and
    through queues (the consumers behind a queue work asynchronously).
    """

    name: str
    names: tuple[str, ...]
    kinds: np.ndarray  # (n,) ServiceKind values
    replicas: np.ndarray  # (n,)
    headroom: np.ndarray  # (n,) capacity as a multiple of healthy load
    entry: np.ndarray  # (n,) share of user traffic entering at each service, sums to 1
    failover: np.ndarray  # (n,) bool
    calls: np.ndarray  # (n, n)
    redirect: np.ndarray  # (n, n): redirect[c, d] = share of cache c's load that lands on d when c is down
    slo_latency_factor: float

    @property
    def n(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    @cached_property
    def load_matrix(self) -> np.ndarray:
        """Row-vector form: ``load = entry_load @ load_matrix``: each service's load from the entry load."""
        return _frozen(np.linalg.inv(np.eye(self.n) - self.calls))

    @cached_property
    def upward_calls(self) -> np.ndarray:
        """The call weights through which errors and latency flow up to callers."""
        upward = self.calls.copy()
        upward[:, self.kinds == ServiceKind.CACHE] = 0.0  # callers fall back to the database
        upward[self.kinds == ServiceKind.QUEUE, :] = 0.0  # consumers behind a queue are asynchronous
        return _frozen(upward)

    @cached_property
    def propagation_matrix(self) -> np.ndarray:
        """Row-vector form: ``effective = own @ propagation_matrix`` when no cache is down."""
        return _frozen(np.linalg.inv(np.eye(self.n) - self.upward_calls).T)

    @cached_property
    def callees_first(self) -> np.ndarray:
        """Service indices ordered so that every service comes after all it calls."""
        order: list[int] = []
        placed = np.zeros(self.n, dtype=bool)
        while len(order) < self.n:
            for i in range(self.n):
                if not placed[i] and placed[self.calls[i] > 0].all():
                    order.append(i)
                    placed[i] = True
        return _frozen(np.array(order))

    @cached_property
    def base_load(self) -> np.ndarray:
        return self.entry @ self.load_matrix

    @cached_property
    def base_latency(self) -> np.ndarray:
        return BASE_LATENCY_MS[self.kinds]

    @cached_property
    def depth(self) -> np.ndarray:
        """Longest call chain from an entry service to each service."""
        depth = np.zeros(self.n)
        for _ in range(self.n):
            depth = np.maximum(depth, np.where(self.calls > 0, depth[:, None] + 1, 0).max(axis=0))
        return depth

    def callees(self, i: int) -> list[int]:
        return [int(j) for j in np.flatnonzero(self.calls[i] > 0)]

    def callers(self, i: int) -> list[int]:
        return [int(j) for j in np.flatnonzero(self.calls[:, i] > 0)]


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def find_cycle(n: int, edges: list[tuple[int, int]]) -> list[int] | None:
    """A cycle in a directed graph as a list of nodes, or None."""
    children: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        children[a].append(b)
    state = [0] * n  # 0 new, 1 on stack, 2 done
    stack: list[int] = []

    def visit(u: int) -> list[int] | None:
        state[u] = 1
        stack.append(u)
        for v in children[u]:
            if state[v] == 1:
                return stack[stack.index(v):] + [v]
            if state[v] == 0 and (cycle := visit(v)):
                return cycle
        stack.pop()
        state[u] = 2
        return None

    for u in range(n):
        if state[u] == 0 and (cycle := visit(u)):
            return cycle
    return None


def unreachable(n: int, edges: list[tuple[int, int]], entries: list[int]) -> list[int]:
    """Services no user request can reach from the entry services."""
    children: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        children[a].append(b)
    seen = set(entries)
    frontier = list(entries)
    while frontier:
        for v in children[frontier.pop()]:
            if v not in seen:
                seen.add(v)
                frontier.append(v)
    return [i for i in range(n) if i not in seen]
