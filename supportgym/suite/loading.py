"""Load scenario-suite files: safe YAML, schema validation, cross-checks, frozen scenarios.

Every error is a :class:`SuiteError` that names the file and the field, e.g.
``scenarios/hard.yaml: scenarios[2].faults[0].service: service 'foo' is not in topology 'shop'``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import ValidationError

from supportgym import builtin_suite_dir, builtin_suites
from supportgym.contract.vocabulary import REMEDY_NAMES, ActionKind, ServiceKind
from supportgym.suite.generator import expand, generator_spec, scenario_data, suite_data
from supportgym.suite.schema import (
    FaultEntry,
    GeneratorSpec,
    KnownIssue,
    NoiseSpec,
    RewardWeights,
    ScenarioSpec,
    SuiteSpec,
    TopologySpec,
)
from supportgym.world.faults import FAULT_CATEGORIES, FAULTS
from supportgym.world.topology import Topology, find_cycle, unreachable


#: Limits on a suite file, far above any real suite (the built-in ones are under 10 kB and 8 levels
#: deep), so that a hostile or broken file fails fast with a SuiteError instead of a slow load, a
#: RecursionError or a huge generation.
MAX_SUITE_BYTES = 2_000_000
MAX_NESTING = 24
#: Services all generator entries of a suite may generate together (``count`` times most
#: ``services``, summed): about a second of generation per 20 000. The built-in ``train`` suite
#: asks for 56 000.
MAX_GENERATED_SERVICES = 200_000


class SuiteError(ValueError):
    """A suite file is missing, unreadable or invalid. The message names the file and field."""

    def __init__(self, source: str, field: str, message: str):
        self.source, self.field = source, field
        super().__init__(f"{source}: {field}: {message}" if field else f"{source}: {message}")


@dataclass(frozen=True, eq=False)
class Scenario:
    """One incident template, fully resolved (defaults applied, references checked)."""

    name: str
    description: str
    suite: str
    topology: Topology
    faults: tuple[FaultEntry, ...]
    noise: NoiseSpec
    start_tier: int
    time_limit_minutes: float
    post_resolution_minutes: float
    validate_minutes: float
    weight: float
    daily_traffic_amplitude: float
    start_hour: float
    known_issues: tuple[KnownIssue, ...]
    reward: RewardWeights


@dataclass(frozen=True, eq=False)
class Suite:
    name: str
    description: str
    source: str
    scenarios: tuple[Scenario, ...]
    reward: RewardWeights
    heldout: bool = False
    """For evaluation only: training must never sample it."""

    @property
    def weights(self) -> np.ndarray:
        w = np.array([s.weight for s in self.scenarios])
        return w / w.sum()

    @property
    def max_services(self) -> int:
        return max(s.topology.n for s in self.scenarios)

    def scenario(self, name: str) -> Scenario:
        for s in self.scenarios:
            if s.name == name:
                return s
        raise KeyError(f"suite {self.name!r} has no scenario {name!r}; it has: {', '.join(self.scenario_names)}")

    @property
    def scenario_names(self) -> list[str]:
        return [s.name for s in self.scenarios]




def resolve_suite_path(suite: str | Path) -> Path:
    """A built-in suite name (``"standard"``) or a path to a suite file."""
    text = str(suite)
    if text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text:
        return Path(text)
    path = builtin_suite_dir() / f"{text}.yaml"
    if not path.exists():
        raise SuiteError(text, "", f"no built-in suite of that name (built-in: {', '.join(builtin_suites())}); "
                                   "pass a path ending in .yaml for your own suite")
    return path


@lru_cache(maxsize=64)
def _load_cached(path: str, mtime: float, max_services: int | None) -> Suite:
    return parse_suite(read_text(path, "suite"), source=path, max_services=max_services)


def load_suite(suite: str | Path, max_services: int | None = None) -> Suite:
    """Load and validate a suite by built-in name or path. Cached per file and modification time.

    With ``max_services`` (the environment's), a generator entry that could make a larger
    topology is refused before anything is generated."""
    path = resolve_suite_path(suite)
    return _load_cached(str(path), file_mtime(path, "suite"), max_services)


def file_mtime(path: Path, kind: str) -> float:
    """``path``'s modification time, the load caches' key; a file that cannot be read is a
    ``SuiteError`` ("cannot read ``kind`` file")."""
    try:
        return path.stat().st_mtime
    except OSError as e:
        raise SuiteError(str(path), "", f"cannot read {kind} file ({e.strerror})") from None


def read_text(path: str, kind: str) -> str:
    """The UTF-8 text of a suite or shift file of at most ``MAX_SUITE_BYTES`` bytes."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SUITE_BYTES + 1)
    except OSError as e:
        raise SuiteError(path, "", f"cannot read {kind} file ({e.strerror})") from None
    if len(data) > MAX_SUITE_BYTES:
        raise SuiteError(path, "", f"the file is larger than {MAX_SUITE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SuiteError(path, "", f"not UTF-8 text (byte {e.start})") from None


def read_yaml(text: str, source: str) -> Any:
    """YAML ``text``, loaded safely (``_SuiteLoader``); a syntax error names ``source`` and the line."""
    loader = _SuiteLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f"line {where.line + 1}" if where else ""
        raise SuiteError(source, line, f"not valid YAML ({getattr(e, 'problem', e)})") from None
    finally:
        loader.dispose()


class _SuiteLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys and nesting deeper than ``MAX_NESTING``
    (which would otherwise end in a RecursionError)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_NESTING} levels",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *base`` may be overridden on purpose
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable: the base class says so
                break
            if duplicate:
                raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                        f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse_suite(text: str, source: str = "<string>", max_services: int | None = None) -> Suite:
    """Parse suite YAML text. ``source`` is the file name used in error messages; ``max_services``
    as in :func:`load_suite`."""
    if len(text) > MAX_SUITE_BYTES:
        raise SuiteError(source, "", f"the file is larger than {MAX_SUITE_BYTES} bytes")
    raw = read_yaml(text, source)
    if raw is None:
        raise SuiteError(source, "", "the file is empty")
    return build_suite(raw, source, max_services)


def build_suite(raw: Any, source: str = "<data>", max_services: int | None = None) -> Suite:
    """Validate and build a suite from suite-file data (the mapping a suite file's YAML holds)."""
    if not isinstance(raw, dict):
        raise SuiteError(source, "", f"the top level must be a mapping, not {type(raw).__name__}")
    spec = _validate(SuiteSpec, _expand_generators(raw, source, max_services), source, ())
    return _build(spec, source)


def _check_generators(specs: list[GeneratorSpec], source: str, max_services: int | None) -> None:
    """The cheap bounds on generator entries, checked before any of them generates."""
    total = 0
    for i, spec in enumerate(specs):
        most = spec.services[1]
        if max_services is not None and most > max_services:
            raise SuiteError(source, f"generators[{i}].services",
                             f"generated topologies may have {most} services but the environment allows at most "
                             f"max_services={max_services}; lower services to at most {max_services} "
                             f"or pass max_services>={most}")
        total += spec.count * most
        if total > MAX_GENERATED_SERVICES:
            raise SuiteError(source, f"generators[{i}].count",
                             f"the generator entries could make {total} services in all (count times the most "
                             f"services, summed); the limit is {MAX_GENERATED_SERVICES}")


def _expand_generators(raw: dict, source: str, max_services: int | None = None) -> dict:
    """Suite data with each ``generators`` entry's scenarios and topologies appended to its own."""
    entries = raw.get("generators") or []
    if not isinstance(entries, list):
        raise SuiteError(source, "generators", "must be a list of generator entries")
    if not entries:
        return raw
    topologies = dict(raw.get("topologies") or {}) if isinstance(raw.get("topologies") or {}, dict) else None
    scenarios = list(raw.get("scenarios") or []) if isinstance(raw.get("scenarios") or [], list) else None
    if topologies is None or scenarios is None:
        return raw  # malformed: the schema check names the field
    names = {s.get("name") for s in scenarios if isinstance(s, dict) and isinstance(s.get("name"), str)}
    names |= set(topologies)
    specs = [_validate(GeneratorSpec, entry, source, ("generators", i)) for i, entry in enumerate(entries)]
    _check_generators(specs, source, max_services)
    for i, spec in enumerate(specs):
        try:
            new_topologies, new_scenarios = expand(spec)
        except ValueError as e:
            raise SuiteError(source, f"generators[{i}]", str(e)) from None
        clash = sorted(names & ({s["name"] for s in new_scenarios} | set(new_topologies)))
        if clash:
            raise SuiteError(source, f"generators[{i}].name",
                             f"generated name {clash[0]!r} is already taken; give the entry another name or seed")
        names |= {s["name"] for s in new_scenarios} | set(new_topologies)
        topologies |= new_topologies
        scenarios += new_scenarios
    return {**raw, "topologies": topologies, "scenarios": scenarios}


def _validate(model: type, data: Any, source: str, prefix: tuple) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        # pydantic names union branches in the location ("float", "list[...]"): drop them
        loc = prefix + tuple(p for p in first["loc"] if isinstance(p, int) or not any(c in str(p) for c in "[]()")
                             and p not in ("float", "int", "str", "bool", "constrained-float", "constrained-str"))
        more = f" (and {len(e.errors()) - 1} more problems)" if len(e.errors()) > 1 else ""
        raise SuiteError(source, format_loc(loc), first["msg"] + more) from None


def format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _build(spec: SuiteSpec, source: str) -> Suite:
    topologies = {name: _build_topology(name, t, source) for name, t in spec.topologies.items()}
    names_seen: set[str] = set()
    for i, ki in enumerate(spec.known_issues):
        if ki.service is not None and not any(ki.service in t.names for t in topologies.values()):
            raise SuiteError(source, f"known_issues[{i}].service", f"service {ki.service!r} is in no topology")
    scenarios = []
    for i, sc in enumerate(spec.scenarios):
        where = f"scenarios[{i}]"
        if sc.name in names_seen:
            raise SuiteError(source, f"{where}.name", f"duplicate scenario name {sc.name!r}")
        names_seen.add(sc.name)
        if sc.topology not in topologies:
            raise SuiteError(source, f"{where}.topology",
                             f"unknown topology {sc.topology!r} (defined: {', '.join(topologies)})")
        topo = topologies[sc.topology]
        for j, fault in enumerate(sc.faults):
            _check_fault(fault, topo, source, f"{where}.faults[{j}]")
        noise = _validate(NoiseSpec, {**spec.defaults.noise.model_dump(), **sc.noise}, source,
                          ("scenarios", i, "noise"))
        scenarios.append(_scenario(sc, spec, topo, noise))
    return Suite(spec.name, spec.description, source, tuple(scenarios), spec.reward, spec.heldout)


def _scenario(sc: ScenarioSpec, spec: SuiteSpec, topo: Topology, noise: NoiseSpec) -> Scenario:
    d = spec.defaults
    return Scenario(
        name=sc.name,
        description=sc.description,
        suite=spec.name,
        topology=topo,
        faults=tuple(sc.faults),
        noise=noise,
        start_tier=sc.start_tier or d.start_tier,
        time_limit_minutes=sc.time_limit_minutes or d.time_limit_minutes,
        post_resolution_minutes=d.post_resolution_minutes,
        validate_minutes=d.validate_minutes,
        weight=sc.weight,
        daily_traffic_amplitude=sc.daily_traffic_amplitude,
        start_hour=sc.start_hour,
        known_issues=tuple(spec.known_issues),
        reward=spec.reward,
    )


def _check_fault(fault: FaultEntry, topo: Topology, source: str, where: str) -> None:
    spec = FAULTS[fault.type]
    services = [fault.service] if isinstance(fault.service, str) else fault.service
    for name in services:
        if name not in topo.names:
            raise SuiteError(source, f"{where}.service", f"service {name!r} is not in topology {topo.name!r}")
        kind = ServiceKind(topo.kinds[topo.index(name)])
        if kind not in spec.kinds:
            allowed = ", ".join(k.name.lower() for k in spec.kinds)
            raise SuiteError(source, f"{where}.service",
                             f"fault {fault.type!r} cannot sit on {name!r} (a {kind.name.lower()}); "
                             f"it needs a service of kind: {allowed}")
    if isinstance(fault.onset_minutes, list) and fault.onset_minutes[0] > fault.onset_minutes[1]:
        raise SuiteError(source, f"{where}.onset_minutes", "the range must be [low, high]")
    if fault.change is not None and spec.change is None and spec.accumulator is None:
        raise SuiteError(source, f"{where}.change", f"fault {fault.type!r} cannot be brought by a change")
    if fault.latent and (fault.change is not None or spec.change is None):
        raise SuiteError(source, f"{where}.latent", f"fault {fault.type!r} "
                         + ("cannot be latent and brought by a recent change at once" if fault.change is not None
                            else "comes with no change, so it is latent anyway"))
    if fault.latent and fault.type == "bad_deploy":
        raise SuiteError(source, f"{where}.latent", "a bad deploy that shipped long ago is the fault type latent_bug")
    if fault.category is not None and fault.category not in FAULT_CATEGORIES[fault.type]:
        raise SuiteError(source, f"{where}.category", f"fault {fault.type!r} cannot be filed as {fault.category!r}; "
                                                      f"allowed: {', '.join(FAULT_CATEGORIES[fault.type])}")


def change_of(fault: FaultEntry) -> str | None:
    """The recent change ("deploy" or "config") that brought a fault entry, which a rollback
    reverts; None for a fault that came with none, or shipped long ago (``latent``)."""
    return None if fault.latent else fault.change or FAULTS[fault.type].change


def category_of(fault: FaultEntry) -> str:
    """The root-cause category (Ghosh et al.) a fault entry is filed under."""
    return fault.category or FAULTS[fault.type].category


def _build_topology(name: str, spec: TopologySpec, source: str) -> Topology:
    where = f"topologies.{name}"
    names = [s.name for s in spec.services]
    index = {n: i for i, n in enumerate(names)}
    for i, n in enumerate(names):
        if names.index(n) != i:
            raise SuiteError(source, f"{where}.services[{i}].name", f"duplicate service name {n!r}")
    n = len(names)
    calls = np.zeros((n, n))
    edges = []
    for i, c in enumerate(spec.calls):
        for field, svc in (("from", c.caller), ("to", c.callee)):
            if svc not in index:
                raise SuiteError(source, f"{where}.calls[{i}].{field}", f"unknown service {svc!r}")
        if c.caller == c.callee:
            raise SuiteError(source, f"{where}.calls[{i}]", f"service {c.caller!r} cannot call itself")
        calls[index[c.caller], index[c.callee]] = c.weight
        edges.append((index[c.caller], index[c.callee]))
    if cycle := find_cycle(n, edges):
        raise SuiteError(source, f"{where}.calls", "calls form a cycle: " + " -> ".join(names[i] for i in cycle))
    kinds = np.array([ServiceKind[s.kind.upper()] for s in spec.services])
    entry = np.array([s.entry_traffic for s in spec.services])
    if entry.sum() <= 0:
        raise SuiteError(source, f"{where}.services", "no service has entry_traffic > 0 (where users arrive)")
    if lost := unreachable(n, edges, [int(i) for i in np.flatnonzero(entry > 0)]):
        raise SuiteError(source, f"{where}.services[{lost[0]}]",
                         f"service {names[lost[0]]!r} is not reachable from any entry service")
    redirect = np.zeros((n, n))
    for i, s in enumerate(spec.services):
        if s.backs is None:
            continue
        if kinds[i] != ServiceKind.CACHE:
            raise SuiteError(source, f"{where}.services[{i}].backs", "only a cache can back a database")
        if s.backs not in index or kinds[index[s.backs]] != ServiceKind.DATABASE:
            raise SuiteError(source, f"{where}.services[{i}].backs", f"{s.backs!r} is not a database of this topology")
        redirect[i, index[s.backs]] = s.cache_hit_rate
    for i, s in enumerate(spec.services):
        if s.failover and kinds[i] != ServiceKind.EXTERNAL:
            raise SuiteError(source, f"{where}.services[{i}].failover", "only an external provider has a failover")
    return Topology(
        name=name,
        names=tuple(names),
        kinds=kinds,
        replicas=np.array([s.replicas for s in spec.services], dtype=float),
        headroom=np.array([s.capacity for s in spec.services]),
        entry=entry / entry.sum(),
        failover=np.array([s.failover for s in spec.services]),
        calls=calls,
        redirect=redirect,
        slo_latency_factor=spec.slo_latency_factor,
    )


def known_fix(scenario: Scenario, fault: str, service: str) -> ActionKind | None:
    """The fix the knowledge base suggests for a fault on a service, if a known issue matches."""
    for ki in scenario.known_issues:
        if ki.fault == fault and ki.service in (None, service):
            return REMEDY_NAMES[ki.fix]
    return None


# --- generated suites (the generator makes suite-file data; loading validates it) ----------


def generate_suite(seed: int = 0, count: int = 10, name: str = "generated", **settings: Any) -> Suite:
    """A validated :class:`Suite` of ``count`` generated scenarios (``generator.suite_data``)."""
    return build_suite(suite_data(seed, count, name, **settings), source=f"<generator seed {seed}>")


def generate_scenario(seed: int = 0, index: int = 0, **settings: Any) -> Scenario:
    """Generated scenario ``index`` of ``seed`` as a validated :class:`Scenario`."""
    spec = generator_spec(seed, count=index + 1, **settings)
    name, topology, scenario = scenario_data(spec, index)
    data = {"name": "generated", "topologies": {name: topology}, "scenarios": [scenario]}
    return build_suite(data, source=f"<generator seed {seed}>").scenarios[0]
