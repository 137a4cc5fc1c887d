"""The schema of a scenario-suite file, as pydantic models (shape, types and ranges only).

Cross-references between sections (a fault on a service the topology lacks, a call to an
unknown service, ...) are checked in ``loading.py``, which also names the file in every error.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from supportgym.contract.vocabulary import DEFAULT_MAX_SERVICES, DEFAULT_SLO_LATENCY_FACTOR, REMEDY_NAMES, ServiceKind
from supportgym.suite.topology_gen import FAMILIES, VOCABULARIES
from supportgym.world.faults import FAULT_NAMES, ROOT_CAUSE_CATEGORIES

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
# Upper bounds on weights: a finite but huge value (1e308) overflows sums and reward ranges to
# inf just as ``.inf`` would. They sit far above any sensible suite.
MAX_DRAW_WEIGHT = 1e6
MAX_REWARD_WEIGHT = 1e4
DrawWeight = Annotated[float, Field(gt=0.0, le=MAX_DRAW_WEIGHT)]
RewardWeight = Annotated[float, Field(ge=0.0, le=MAX_REWARD_WEIGHT)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=40)]
KindName = Literal[tuple(k.name.lower() for k in ServiceKind)]  # type: ignore[valid-type]
FaultName = Literal[FAULT_NAMES]  # type: ignore[valid-type]
RemedyName = Literal[tuple(REMEDY_NAMES)]  # type: ignore[valid-type]

CategoryName = Literal[ROOT_CAUSE_CATEGORIES]  # type: ignore[valid-type]


class Strict(BaseModel):
    # strict: no coercion (a boolean is not a number, "3" is not an int); no inf or nan anywhere
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False, populate_by_name=True)


class ServiceSpec(Strict):
    name: Name
    kind: KindName
    replicas: Annotated[int, Field(ge=1, le=1000)] = 2
    capacity: Annotated[float, Field(gt=1.0, le=100.0)] = 2.5
    """Capacity as a multiple of the service's healthy peak load (its headroom)."""
    entry_traffic: Probability = 0.0
    """Share of user traffic that enters the system at this service (edge services)."""
    failover: bool = False
    """A secondary is configured (external providers): ``failover`` switches to it."""
    cache_hit_rate: Probability = 0.9
    backs: Name | None = None
    """For a cache: the database it fronts, which takes its load when the cache is down."""


class CallSpec(Strict):
    caller: Name = Field(alias="from")
    callee: Name = Field(alias="to")
    weight: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    """Share of the caller's requests that call the callee (and so depend on it)."""


class TopologySpec(Strict):
    services: Annotated[list[ServiceSpec], Field(min_length=2)]
    calls: list[CallSpec] = []
    slo_latency_factor: Annotated[float, Field(gt=1.0)] = DEFAULT_SLO_LATENCY_FACTOR
    """Edge latency SLO as a multiple of the healthy edge latency."""


class NoiseSpec(Strict):
    alert_delay_minutes: Annotated[float, Field(ge=0.0, le=60.0)] = 2.0
    false_alarm_rate: Probability = 0.0
    """Chance, per service and alert kind, of a spurious alert at the start."""
    missed_alert_rate: Probability = 0.0
    """Chance, per service and alert kind, that the alert rule is broken and never fires."""
    metric_noise: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    """Relative standard deviation of metric readings."""
    log_noise: Probability = 0.0
    """Chance, per service, that its logs carry a misleading signature all episode (noisy but
    harmless errors), so reading them again does not clear it up."""
    trace_noise: Probability = 0.0
    """Chance, per service, that its traces blame the wrong called service all episode
    (mis-instrumented spans)."""
    ticket_mislead: Probability = 0.0
    """Chance the customer ticket's category points at the wrong place."""
    misroute: Probability = 0.0
    """Chance the ticket arrives with a team other than the one that owns the root cause."""
    internal_report_rate: Probability = 0.0
    """Chance another team reports a service (which may not be the culprit)."""
    red_herrings: Annotated[int, Field(ge=0, le=20)] = 0
    """Unrelated recent changes on healthy services."""


class FaultEntry(Strict):
    type: FaultName
    service: Name | Annotated[list[Name], Field(min_length=1)]
    """One service, or a list to draw from uniformly."""
    onset_minutes: (
        Annotated[float, Field(ge=0.0, le=120.0)]
        | Annotated[list[Annotated[float, Field(ge=0.0, le=120.0)]], Field(min_length=2, max_length=2)]
    ) = [5.0, 15.0]
    """Minutes the fault has been running when the incident opens (value or [low, high])."""
    change: Literal["deploy", "config"] | None = None
    """Override the change that brought the fault (e.g. a memory leak shipped by a deploy)."""
    latent: bool = False
    """The change that brought the fault shipped long ago (a config bug or slow query that bites
    only now): nothing recent for a rollback to revert. Only for fault types that come with a
    change; a bad deploy that shipped long ago is the fault type ``latent_bug``."""
    category: CategoryName | None = None
    """Root-cause category, if not the fault type's own (one of ``world.faults.FAULT_CATEGORIES[type]``)."""


class ScenarioSpec(Strict):
    name: Name
    description: str = ""
    topology: Name
    weight: DrawWeight = 1.0
    faults: Annotated[list[FaultEntry], Field(min_length=1, max_length=2)]
    noise: dict[str, object] = {}
    """Overrides of the suite's default noise, same fields as ``defaults.noise``."""
    start_tier: Annotated[int, Field(ge=1, le=3)] | None = None
    time_limit_minutes: Annotated[float, Field(gt=0.0, le=2000.0)] | None = None
    daily_traffic_amplitude: Annotated[float, Field(ge=0.0, le=0.9)] = 0.0
    start_hour: Annotated[float, Field(ge=0.0, lt=24.0)] = 10.0


class KnownIssue(Strict):
    fault: FaultName
    service: Name | None = None
    """The service it is known on; omitted means any service."""
    fix: RemedyName


class RewardWeights(Strict):
    impact: RewardWeight = 0.1
    """Per user-impact minute (one minute with every user request failing)."""
    engineer_per_minute: Annotated[list[RewardWeight], Field(min_length=3, max_length=3)] = [
        0.01,
        0.02,
        0.04,
    ]
    """Engineer-time cost per minute at L1, L2, L3."""
    sev1_cost_multiplier: Annotated[float, Field(ge=1.0, le=100.0)] = 2.0
    harm: RewardWeight = 1.0
    """Per harmful action (a needless restart, an unrelated rollback, ...)."""
    invalid_action: RewardWeight = 0.1
    resolve_bonus: RewardWeight = 5.0
    reopen_penalty: RewardWeight = 5.0
    timeout_penalty: RewardWeight = 3.0
    severity_mismatch: RewardWeight = 0.5
    """At the end, if the declared severity differs from the true one (or none was declared)."""
    unconfirmed_close: RewardWeight = 1.0
    """On resolve, if a customer reported the incident and was never asked whether it works again."""


class Defaults(Strict):
    noise: NoiseSpec = NoiseSpec()
    start_tier: Annotated[int, Field(ge=1, le=3)] = 1
    time_limit_minutes: Annotated[float, Field(gt=0.0, le=2000.0)] = 240.0
    post_resolution_minutes: Annotated[float, Field(gt=0.0, le=600.0)] = 60.0
    validate_minutes: Annotated[float, Field(gt=0.0, le=120.0)] = 10.0


Range = Annotated[list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(min_length=2, max_length=2)]


class GeneratorSpec(Strict):
    """A generator entry: ``count`` random scenarios, each on its own random topology, made at load
    time by ``supportgym.suite.generator`` and then validated like hand-written ones. Scenario ``i`` is
    named ``<name>-<i>`` and depends only on (``seed``, ``i``) and the settings, not on ``count``."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=32)] | None = None
    """Prefix of the generated scenario and topology names (default ``gen-<seed>``)."""
    seed: Annotated[int, Field(ge=0)]
    count: Annotated[int, Field(ge=1, le=1000)] = 10
    weight: DrawWeight = 1.0
    """Weight of the entry as a whole, shared equally by its scenarios."""
    family: Literal[FAMILIES] = "tiered"  # type: ignore[valid-type]
    """Topology shape family (see ``topology_gen``); ``federated`` is reserved for the held-out suite."""
    vocabulary: Literal[tuple(VOCABULARIES)] = "commerce"  # type: ignore[valid-type]
    """Service-name vocabulary; ``logistics`` is reserved for the held-out suite."""
    services: Annotated[list[Annotated[int, Field(ge=4, le=256)]], Field(min_length=2, max_length=2)] = [
        4, DEFAULT_MAX_SERVICES]
    """[fewest, most] services per topology; the environment's ``max_services`` must cover the most
    (the default fits the environment's default)."""
    mix: Literal["ghosh", "uniform"] | dict[FaultName, Annotated[float, Field(ge=0.0, le=MAX_DRAW_WEIGHT)]] = "ghosh"
    """Fault-type weights: ``ghosh`` (calibrated to Ghosh et al.), ``uniform``, or a mapping."""
    concurrent: Probability = 0.15
    """Chance that a scenario has two faults at once."""
    noise: Range = [0.0, 1.0]
    """[low, high] noise level per scenario: 0 is none, 1 as heavy as the hard suite."""
    red_herrings: Annotated[list[Annotated[int, Field(ge=0, le=20)]], Field(min_length=2, max_length=2)] = [0, 3]
    """[fewest, most] unrelated recent changes per scenario."""


class SuiteSpec(Strict):
    name: Name
    description: str = ""
    version: int = 1
    heldout: bool = False
    """A held-out suite: for evaluation only, never for training."""
    generators: list[GeneratorSpec] = []
    """Generator entries, expanded into ``scenarios`` (and ``topologies``) when the file is loaded."""
    defaults: Defaults = Defaults()
    reward: RewardWeights = RewardWeights()
    topologies: Annotated[dict[Name, TopologySpec], Field(min_length=1)]
    known_issues: list[KnownIssue] = []
    scenarios: Annotated[list[ScenarioSpec], Field(min_length=1)]
