"""Frozen per-episode parameters as arrays with a leading batch axis, padded to ``max_services``.

Built once per scenario and cached.
Nothing here changes during an episode (that is ``state.py``'s job).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from supportgym.catalog import MIN_TIER, N_SERVICE_ACTIONS, PROVIDER_BLOCKED, ActionKind, ServiceKind
from supportgym.reward import weight_array
from supportgym.suite import Scenario
from supportgym.suite_schema import RewardWeights


@dataclass(frozen=True, eq=False)
class ActionTable:
    """Decoding of flat action indices: index = service * N_SERVICE_ACTIONS + kind, then globals."""

    max_services: int
    kind: np.ndarray  # (A,) ActionKind of each index
    service: np.ndarray  # (A,) target service slot, 0 for global actions (unused there)
    is_service_action: np.ndarray  # (A,) bool
    min_tier: np.ndarray  # (A,)

    @classmethod
    def build(cls, max_services: int) -> ActionTable:
        per_service = [(k, s) for s in range(max_services) for k in range(N_SERVICE_ACTIONS)]
        globals_ = [(k, 0) for k in range(N_SERVICE_ACTIONS, len(ActionKind))]
        kind = np.array([k for k, _ in per_service + globals_])
        service = np.array([s for _, s in per_service + globals_])
        return cls(max_services, kind, service, kind < N_SERVICE_ACTIONS, MIN_TIER[kind])

    @property
    def n(self) -> int:
        return len(self.kind)

    def index(self, kind: ActionKind, service: int = 0) -> int:
        if kind < N_SERVICE_ACTIONS:
            return service * N_SERVICE_ACTIONS + int(kind)
        return self.max_services * N_SERVICE_ACTIONS + int(kind) - N_SERVICE_ACTIONS

    def names(self, service_names: list[str]) -> list[str]:
        from supportgym.catalog import ACTION_LABELS

        out = []
        for k, s, per in zip(self.kind, self.service, self.is_service_action):
            label = ACTION_LABELS[ActionKind(k)]
            if per:
                label += f" {service_names[s]}" if s < len(service_names) else f" <empty slot {s}>"
            out.append(label)
        return out


@dataclass(frozen=True, eq=False)
class Params:
    """Frozen arrays of a batch of B episodes over N service slots (read-only)."""

    present: np.ndarray  # (B, N) bool
    kind: np.ndarray  # (B, N) int, -1 for empty slots
    service_table: np.ndarray  # (B, 6, N): the rows named by SERVICE_ROWS (see the properties)
    load_matrix: np.ndarray  # (B, N, N)
    upward_calls: np.ndarray  # (B, N, N) call weights errors and latency flow up through
    callees_first: np.ndarray  # (B, N) service order with every service after all it calls
    redirect: np.ndarray  # (B, N, N)
    calls: np.ndarray  # (B, N, N) call weights; > 0 is an edge
    depth: np.ndarray  # (B, N)
    failover: np.ndarray  # (B, N) bool
    mask_table: np.ndarray  # (B, 3, 4, A) bool: actions allowed at tier L1..L3 with severity none, 1, 2, 3
    traffic_table: np.ndarray  # (B, 2): start hour of day, daily traffic amplitude
    time_limit: np.ndarray  # (B,)
    post_resolution: np.ndarray  # (B,)
    validate_minutes: np.ndarray  # (B,)
    alert_delay: np.ndarray  # (B,)
    metric_noise: np.ndarray  # (B,)
    reward: RewardWeights  # one suite per batch
    reward_weights: np.ndarray  # the step weights of ``reward`` as an array (layout in reward.py)

    # Per-service vectors live in one array so the compiled kernels take one argument for them.
    @property
    def entry(self) -> np.ndarray:
        """(B, N) share of user traffic entering at each service."""
        return self.service_table[:, 0]

    @property
    def base_load(self) -> np.ndarray:
        """(B, N) healthy load."""
        return self.service_table[:, 1]

    @property
    def capacity(self) -> np.ndarray:
        """(B, N) load a service can take at its initial replica count."""
        return self.service_table[:, 2]

    @property
    def base_latency(self) -> np.ndarray:
        """(B, N) own healthy latency, ms."""
        return self.service_table[:, 3]

    @property
    def slo_latency(self) -> np.ndarray:
        """(B, N) latency SLO at entry services (inf elsewhere)."""
        return self.service_table[:, 4]

    @property
    def healthy_latency(self) -> np.ndarray:
        """(B, N) latency including dependencies when all is well."""
        return self.service_table[:, 5]

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value.setflags(write=False)


def tier_masks(table: ActionTable, present: np.ndarray, kind: np.ndarray, failover: np.ndarray) -> np.ndarray:
    """(B, 3, A) bool: the actions allowed at L1, L2, L3 by topology and tier, before the
    severity rule (``severity_gate``). Inputs are (B, N): all of them are in the observation too,
    so an agent can rebuild its mask from what it sees."""
    service = table.service
    allowed = np.where(table.is_service_action, present[:, service], True)
    # A third-party provider takes none of PROVIDER_BLOCKED; failover needs a configured secondary.
    allowed &= ~((kind[:, service] == ServiceKind.EXTERNAL) & np.isin(table.kind, PROVIDER_BLOCKED))
    allowed &= np.where(table.kind == ActionKind.FAILOVER, failover[:, service] & table.is_service_action, True)
    tiers = np.arange(1, 4)[:, None]
    mask = allowed[:, None, :] & (table.min_tier <= tiers)
    mask[:, :, table.index(ActionKind.ESCALATE)] = tiers[:, 0] < 3  # nobody above L3
    return mask


def severity_gate(mask: np.ndarray, declared: np.ndarray, table: ActionTable) -> np.ndarray:
    """Apply, in place, the rule that a severity can only be raised once declared (re-declaring
    would be a cheap way to let time pass for nothing). ``mask`` (B, A), ``declared`` (B,)."""
    sev1 = table.index(ActionKind.DECLARE_SEV1)
    for level in (1, 2, 3):
        mask[:, sev1 + level - 1] &= (declared == 0) | (level < declared)
    return mask


def mask_table(tier_mask: np.ndarray, table: ActionTable) -> np.ndarray:
    """(B, 3, 4, A): ``tier_masks`` with ``severity_gate`` applied for each declared level, so
    the mask of a state is one lookup (the env hands one out every step)."""
    out = np.repeat(tier_mask[:, :, None, :], 4, axis=2)
    for declared in range(4):
        for tier in range(3):
            severity_gate(out[:, tier, declared], np.full(len(out), declared), table)
    return out


def scenario_params(scenario: Scenario, actions: ActionTable) -> Params:
    """The parameter row (B = 1) of one scenario, padded to ``actions.max_services``."""
    topo = scenario.topology
    n, N = topo.n, actions.max_services
    if n > N:
        raise ValueError(f"{scenario.suite}: scenario {scenario.name!r} has {n} services but the "
                         f"environment allows at most max_services={N}; pass a larger max_services")

    def pad(values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        out = np.full((1, N), fill, dtype=np.asarray(values).dtype if np.asarray(values).dtype == bool else float)
        out[0, :n] = values
        return out

    def pad2(m: np.ndarray) -> np.ndarray:
        out = np.zeros((1, N, N))
        out[0, :n, :n] = m
        return out

    callees_first = np.arange(N)[None].copy()
    callees_first[0, :n] = topo.callees_first
    load_matrix = np.eye(N)[None].copy()
    load_matrix[0, :n, :n] = topo.load_matrix
    healthy_latency = topo.base_latency @ topo.propagation_matrix
    entry_slo = np.where(topo.entry > 0, topo.slo_latency_factor * healthy_latency, np.inf)

    present = pad(np.ones(n, dtype=bool), False).astype(bool)
    kinds = np.full((1, N), -1)
    kinds[0, :n] = topo.kinds
    failover_ok = np.zeros(N, dtype=bool)
    failover_ok[:n] = topo.failover
    tier_mask = tier_masks(actions, present, kinds, failover_ok[None])
    noise = scenario.noise
    return Params(
        present=present,
        kind=kinds,
        service_table=np.stack([pad(topo.entry), pad(topo.base_load, 1.0), pad(topo.base_load * topo.headroom, 1.0),
                                pad(topo.base_latency, 1.0), pad(entry_slo, np.inf), pad(healthy_latency, 1.0)], axis=1),
        load_matrix=load_matrix,
        upward_calls=pad2(topo.upward_calls),
        callees_first=callees_first,
        redirect=pad2(topo.redirect),
        calls=pad2(topo.calls),
        depth=pad(topo.depth),
        failover=failover_ok[None],
        mask_table=mask_table(tier_mask, actions),
        traffic_table=np.array([[scenario.start_hour, scenario.daily_traffic_amplitude]]),
        time_limit=np.array([scenario.time_limit_minutes]),
        post_resolution=np.array([scenario.post_resolution_minutes]),
        validate_minutes=np.array([scenario.validate_minutes]),
        alert_delay=np.array([noise.alert_delay_minutes]),
        metric_noise=np.array([noise.metric_noise]),
        reward=scenario.reward,
        reward_weights=weight_array(scenario.reward),
    )
