"""Shift files: an on-call shift's system, its recurring weaknesses and the cost of closure work.

A shift file does not describe incidents itself: it names a built-in (or file) incident suite and
picks, per *system* (one topology), a few of that suite's one-fault scenarios pinned to one
service as the system's latent **weaknesses**, each with a recurrence rate (the chance, per
incident slot of the shift, that it fires again until it is fixed for good). The rest of each
slot's chance is a one-off incident (a scenario of the same topology, drawn by the suite's
weights) or a quiet slot. It is validated with pydantic like the incident suites (same ``Strict``
models, safe YAML loader), and every error is a :class:`~supportgym.suite.SuiteError` naming the
file and field, e.g. ``shifts/standard.yaml: systems[0].weaknesses[1].service: ...``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from supportgym import builtin_suite_dir
from supportgym.suite.loading import (
    Scenario,
    Suite,
    SuiteError,
    _validate,
    file_mtime,
    load_suite,
    read_text,
    read_yaml,
)
from supportgym.suite.schema import DrawWeight, Name, NoiseSpec, Probability, RewardWeights, Strict

#: Where the built-in shift files live (a subdirectory, so the incident suites' ``*.yaml`` glob
#: and their ids do not pick them up).
SHIFT_DIR = "shifts"
Minutes = Annotated[float, Field(gt=0.0, le=2000.0)]
Tier = Annotated[int, Field(ge=1, le=3)]


class WorkSpec(Strict):
    """One kind of closure work: how long it takes and at which tier (whose rate it is paid)."""

    minutes: Minutes
    tier: Tier


class ClosureSpec(Strict):
    rca: WorkSpec = WorkSpec(minutes=30.0, tier=2)
    """Write an RCA: name the service and the fix; the knowledge base then suggests it there."""
    automate: WorkSpec = WorkSpec(minutes=60.0, tier=2)
    """Automate the knowledge base's fix on a service: it runs by itself when the incident opens."""
    permanent_fix: WorkSpec = WorkSpec(minutes=180.0, tier=3)
    """L3 fixes why the system allowed it: the weaknesses on the service stop recurring."""
    tune_alert: WorkSpec = WorkSpec(minutes=20.0, tier=1)
    """Fix a service's alert rules: no missed alerts or false alarms there from now on."""
    max_actions: Annotated[int, Field(ge=1, le=50)] = 6
    """Closure actions allowed between two incidents (then only "next incident")."""


class WeaknessSpec(Strict):
    scenario: Name
    """A one-fault scenario of the incident suite: its fault type, change, onset and noise."""
    service: Name | Annotated[list[Name], Field(min_length=1)]
    """The service it sits on (one of the scenario's fault services), or a list to draw one from
    per shift (uniformly), so that a policy cannot learn where the weakness is, only notice it."""
    rate: Probability
    """Chance per incident slot that it recurs (until fixed for good)."""


class SystemSpec(Strict):
    name: Name
    topology: Name
    weight: DrawWeight = 1.0
    weaknesses: Annotated[list[WeaknessSpec], Field(min_length=1, max_length=8)]
    one_off_rate: Probability = 0.1
    """Chance per slot of a one-off incident (a scenario of the topology, by the suite's weights)."""


class ShiftSuiteSpec(Strict):
    name: Name
    description: str = ""
    version: int = 1
    incident_suite: str
    """The incident suite (built-in name or path) whose scenarios, noise, known issues and reward
    weights the shift's incidents use."""
    incidents: Annotated[int, Field(ge=1, le=50)] = 12
    """Incident slots per shift (a slot whose draw is quiet has no incident)."""
    noise: dict[str, object] = {}
    """Overrides of the incident suite's noise for every incident of the shift."""
    reward: dict[str, object] = {}
    """Overrides of the incident suite's reward weights for the shift's incidents (same fields as a
    suite's ``reward``); the standard shift sets ``resolve_bonus: 0``, so that what a shift adds up
    is user impact and engineer time, not a prize per incident (which would make incidents pay)."""
    closure: ClosureSpec = ClosureSpec()
    max_steps: Annotated[int, Field(ge=10, le=100_000)] = 5000
    """Steps after which the shift is truncated (a guard against a policy that never moves on)."""
    systems: Annotated[list[SystemSpec], Field(min_length=1)]


@dataclass(frozen=True)
class Weakness:
    """A latent weakness: per service it may sit on, its incident template pinned there."""

    name: str
    scenarios: dict[str, Scenario]
    fault: str
    rate: float

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(self.scenarios)


@dataclass(frozen=True)
class ShiftSystem:
    name: str
    weight: float
    topology: str
    weaknesses: tuple[Weakness, ...]
    one_offs: tuple[Scenario, ...]
    one_off_rate: float


@dataclass(frozen=True)
class ShiftSuite:
    name: str
    description: str
    source: str
    incident_suite: Suite
    reward: RewardWeights
    incidents: int
    closure: ClosureSpec
    max_steps: int
    systems: tuple[ShiftSystem, ...]

    @property
    def scenarios(self) -> tuple[Scenario, ...]:
        """Every incident template a shift of this suite may open (weaknesses, then one-offs)."""
        seen: dict[str, Scenario] = {}
        for system in self.systems:
            for sc in (*(s for w in system.weaknesses for s in w.scenarios.values()), *system.one_offs):
                seen.setdefault(sc.name, sc)
        return tuple(seen.values())


def builtin_shift_suites() -> list[str]:
    return sorted(p.stem for p in (builtin_suite_dir() / SHIFT_DIR).glob("*.y?ml"))


def resolve_shift_path(suite: str | Path) -> Path:
    text = str(suite)
    if text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text:
        return Path(text)
    path = builtin_suite_dir() / SHIFT_DIR / f"{text}.yaml"
    if not path.exists():
        raise SuiteError(text, "", f"no built-in shift suite of that name (built-in: "
                                   f"{', '.join(builtin_shift_suites())}); pass a path ending in .yaml for your own")
    return path


def load_shift_suite(suite: str | Path, max_services: int | None = None) -> ShiftSuite:
    """Load and validate a shift file by built-in name (``scenarios/shifts/<name>.yaml``) or path."""
    path = resolve_shift_path(suite)
    return _load_cached(str(path), file_mtime(path, "shift"), max_services)


@lru_cache(maxsize=16)
def _load_cached(path: str, mtime: float, max_services: int | None) -> ShiftSuite:
    return parse_shift_suite(read_text(path, "shift"), path, max_services)


def parse_shift_suite(text: str, source: str = "<string>", max_services: int | None = None) -> ShiftSuite:
    return build_shift_suite(read_yaml(text, source), source, max_services)


def build_shift_suite(raw: Any, source: str = "<data>", max_services: int | None = None) -> ShiftSuite:
    """Validate shift-file data and resolve it against its incident suite."""
    if not isinstance(raw, dict):
        raise SuiteError(source, "", "the top level must be a mapping" + ("" if raw is None else
                                                                         f", not {type(raw).__name__}"))
    spec: ShiftSuiteSpec = _validate(ShiftSuiteSpec, raw, source, ())
    base_path = spec.incident_suite
    if ("/" in base_path or "\\" in base_path) and not Path(base_path).is_absolute() and source[:1] != "<":
        base_path = str(Path(source).parent / base_path)
    try:
        base = load_suite(base_path, max_services)
    except SuiteError as e:
        raise SuiteError(source, "incident_suite", str(e)) from None

    reward = _validate(RewardWeights, {**base.reward.model_dump(), **spec.reward}, source, ("reward",))

    def with_noise(sc: Scenario) -> Scenario:
        """The template with the shift's noise and reward overrides."""
        noise = sc.noise if not spec.noise else _validate(NoiseSpec, {**sc.noise.model_dump(), **spec.noise}, source,
                                                         ("noise",))
        return replace(sc, noise=noise, reward=reward)

    systems, names = [], set()
    for i, sys_spec in enumerate(spec.systems):
        where = f"systems[{i}]"
        if sys_spec.name in names:
            raise SuiteError(source, f"{where}.name", f"duplicate system name {sys_spec.name!r}")
        names.add(sys_spec.name)
        on_topology = [sc for sc in base.scenarios if sc.topology.name == sys_spec.topology]
        if not on_topology:
            topologies = sorted({sc.topology.name for sc in base.scenarios})
            raise SuiteError(source, f"{where}.topology",
                             f"no scenario of {base.name!r} is on topology {sys_spec.topology!r} "
                             f"(its topologies: {', '.join(topologies)})")
        total = sys_spec.one_off_rate + sum(w.rate for w in sys_spec.weaknesses)
        if total > 1.0 + 1e-9:
            raise SuiteError(source, f"{where}.weaknesses", f"the rates and one_off_rate add up to {total:g}; "
                                                            "they are chances per slot and must add up to at most 1")
        weaknesses, seen = [], set()
        for j, w in enumerate(sys_spec.weaknesses):
            wh = f"{where}.weaknesses[{j}]"
            try:
                sc = base.scenario(w.scenario)
            except KeyError:
                raise SuiteError(source, f"{wh}.scenario", f"suite {base.name!r} has no scenario {w.scenario!r}") \
                    from None
            if sc.topology.name != sys_spec.topology:
                raise SuiteError(source, f"{wh}.scenario", f"scenario {w.scenario!r} is on topology "
                                                           f"{sc.topology.name!r}, not {sys_spec.topology!r}")
            if len(sc.faults) != 1:
                raise SuiteError(source, f"{wh}.scenario", f"scenario {w.scenario!r} has {len(sc.faults)} faults; "
                                                           "a weakness needs a one-fault scenario")
            entry = sc.faults[0]
            allowed = [entry.service] if isinstance(entry.service, str) else list(entry.service)
            services = [w.service] if isinstance(w.service, str) else list(w.service)
            for service in services:
                if service not in allowed:
                    raise SuiteError(source, f"{wh}.service", f"scenario {w.scenario!r} puts its fault on "
                                                              f"{', '.join(allowed)}, not {service!r}")
            if len(set(services)) != len(services):
                raise SuiteError(source, f"{wh}.service", "a service is listed twice")
            if w.scenario in seen:
                raise SuiteError(source, f"{wh}.scenario", f"scenario {w.scenario!r} is a weakness twice")
            seen.add(w.scenario)
            name = f"{sys_spec.name}:{w.scenario}"
            pinned = {s: replace(with_noise(sc), name=f"{name}@{s}", weight=1.0,
                                 faults=(entry.model_copy(update={"service": s}),)) for s in services}
            weaknesses.append(Weakness(name, pinned, entry.type, w.rate))
        one_offs = tuple(with_noise(sc) for sc in on_topology)
        systems.append(ShiftSystem(sys_spec.name, sys_spec.weight, sys_spec.topology, tuple(weaknesses), one_offs,
                                   sys_spec.one_off_rate))
    return ShiftSuite(spec.name, spec.description, source, base, reward, spec.incidents, spec.closure, spec.max_steps,
                      tuple(systems))
