"""What a rule-based agent may know: one observation read by feature name, and the action table.

Rule-based agents are built from :class:`Desk` (the observation layout and the static action
table), never from an environment, so they cannot reach the hidden state. :class:`View` reads one
flat observation through :class:`~supportgym.contract.observation.ObservationLayout`'s feature
names and decodes scaled readings with the contract's ``decode_*`` functions. This module imports
only the public contract (``supportgym.contract``); ``tests/test_imports.py`` checks it.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from supportgym.contract.actions import ActionTable, severity_gate, tier_masks
from supportgym.contract.observation import (
    ALERTS,
    DONE_BLOCK,
    G_CATEGORY,
    G_CUSTOMER,
    G_DECLARED,
    G_ROUTED,
    G_TIER,
    G_VALIDATION,
    GF,
    KB,
    KIND,
    LOGS,
    METRIC,
    SF,
    ObservationLayout,
    decode_latency,
    decode_recency,
    decode_utilisation,
    one_hot_index,
)
from supportgym.contract.vocabulary import TIERS, ActionKind, LogClass, Team


@dataclass(frozen=True)
class Desk:
    """The public, static facts an agent works with: how to read observations, how to name actions."""

    layout: ObservationLayout
    table: ActionTable

    @classmethod
    def of(cls, env: gym.Env) -> Desk:
        """The desk of an environment: only its max_services; nothing of its state."""
        max_services = int(env.unwrapped.table.max_services)
        return cls(ObservationLayout(max_services), ActionTable.build(max_services))

    @property
    def n_actions(self) -> int:
        return self.table.n

    def act(self, kind: ActionKind, service: int = 0) -> int:
        return self.table.index(kind, service)

    def batch(self, observation: np.ndarray, action_masks: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, bool]:
        """One observation or a batch, as (observations (n, size), masks (n, A), was_single). The
        masks are the caller's, or rebuilt from the observations when none are given."""
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        batch = obs[None] if single else obs
        if action_masks is None:
            masks = np.stack([self.mask_from_observation(o) for o in batch])
        else:
            masks = np.asarray(action_masks, dtype=bool).reshape(len(batch), -1)
        return batch, masks, single

    def mask_from_observation(self, obs: np.ndarray) -> np.ndarray:
        """The allowed actions, rebuilt from the observation alone (tier, present services,
        providers, entry services, configured failovers, the severity already declared). Equal to the env's
        ``action_masks()``; used when a caller does not pass ``action_masks``."""
        view = View(self.layout, obs)
        masks = tier_masks(self.table, view.present[None], view.kind[None], view.col("failover_configured")[None] > 0.5,
                           view.col("entry_traffic")[None])
        return severity_gate(masks[:, view.tier - 1], np.array([view.declared]), self.table)[0]


class View:
    """Named, read-only access to one flat observation (shape ``(layout.size,)``)."""

    __slots__ = ("s", "g", "calls", "present", "kind")

    def __init__(self, layout: ObservationLayout, obs: np.ndarray):
        self.s = layout.services(obs)  # (N, n_service_features)
        self.g = layout.globals(obs)
        self.calls = layout.calls(obs)  # (N, N) call weights, row = caller
        self.present = self.s[:, SF["present"]] > 0.5
        self.kind = np.where(self.present, np.argmax(self.s[:, KIND], axis=1), -1)

    def col(self, feature: str) -> np.ndarray:
        """One per-service feature for every slot."""
        return self.s[:, SF[feature]]

    def glob(self, feature: str) -> float:
        return float(self.g[GF[feature]])

    @property
    def services(self) -> np.ndarray:
        return np.flatnonzero(self.present)

    @property
    def tier(self) -> int:
        return TIERS[int(one_hot_index(self.g, G_TIER))]

    @property
    def declared(self) -> int:
        """0 none, 1..3 SEV1..SEV3."""
        return int(one_hot_index(self.g, G_DECLARED))

    @property
    def routed(self) -> Team:
        """The team the ticket sits with."""
        return Team(int(one_hot_index(self.g, G_ROUTED)))

    @property
    def category(self) -> Team | None:
        """The category the ticket is filed under, None if unfiled."""
        index = int(one_hot_index(self.g, G_CATEGORY))
        return None if index == 0 else Team(index - 1)

    @property
    def customer(self) -> int:
        """The customer's last answer (``contract.observation.CUSTOMER_ANSWERS``)."""
        return int(one_hot_index(self.g, G_CUSTOMER))

    @property
    def validation(self) -> int:
        """0 none, 1 healthy, 2 unhealthy (the last validation's result)."""
        return int(one_hot_index(self.g, G_VALIDATION))

    @property
    def alerts(self) -> np.ndarray:
        """(N, 4) bool: errors, latency, saturation, down alerts firing."""
        return self.s[:, ALERTS] > 0.5

    @property
    def alerting(self) -> np.ndarray:
        """(N,) bool: any alert firing on the service."""
        return self.alerts.any(axis=1) & self.present

    @property
    def metrics(self) -> np.ndarray:
        """(N, 9) the last metric reading per service (see ``contract.observation.METRICS``)."""
        return self.s[:, METRIC]

    def metric(self, name: str) -> np.ndarray:
        """(N,) one metric as read (scaled to [0, 1]); see the decoded readings below."""
        return self.s[:, SF["metric_" + name]]

    @property
    def latency_ratio(self) -> np.ndarray:
        """(N,) last latency reading as a multiple of healthy latency."""
        return decode_latency(self.metric("latency"))

    @property
    def utilisation(self) -> np.ndarray:
        """(N,) last utilisation reading (load / capacity)."""
        return decode_utilisation(self.metric("utilisation"))

    def change_age(self, change: str) -> np.ndarray:
        """(N,) minutes since the last ``"deploy"`` or ``"config"`` change, as of the last check."""
        with np.errstate(divide="ignore"):
            return decode_recency(self.col(f"{change}_recent"))

    def log_class(self, service: int) -> LogClass | None:
        """The signature of the service's last log check, None if never checked."""
        if self.s[service, SF["logs_fresh"]] <= 0.0:
            return None
        return LogClass(int(np.argmax(self.s[service, LOGS])))

    @property
    def kb(self) -> np.ndarray:
        """(N, 6) the knowledge base's suggestion per service (see ``contract.vocabulary.KB_REMEDIES``)."""
        return self.s[:, KB]

    @property
    def done(self) -> np.ndarray:
        """(N, 5) remedies applied so far, counting in thirds (see ``contract.vocabulary.DONE``)."""
        return self.s[:, DONE_BLOCK]
