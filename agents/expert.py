"""The expert agent: a hypothesis-driven on-call engineer who reads only the observation.

It works the incident the way a good engineer's runbook reads, one stage after another, going
back to diagnosis when a validation fails:

1. **Triage** (L1): read the metrics of the alerting entry services to size the user impact,
   declare the matching severity (a correct severity also makes hand-offs fast), search the
   knowledge base.
2. **Validate**: after a change, validate; unhealthy means the hypothesis was wrong or
   incomplete, so every piece of evidence gathered before the change is dropped. An incident
   with no user impact and no known issue is validated first: it may be a false alarm or a
   blip that already passed.
3. **Close** once healthy, but first check a fixed leak's memory trend, and watch a fading
   blip for one more window.
4. **Diagnose** (L2): a known issue names its service; otherwise follow traces from the deepest
   alerting service downstream until a trace says the trouble starts *here* (a hop that turns
   out clean was a wrong trace: trace its caller again). Then read the root's logs and look the
   signature up in :data:`PLAYBOOK`: the check that corroborates it and the remedy it calls for.
5. **Act**: escalate as far as the remedy needs and apply it; or wait out a provider outage or a
   transient blip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, IntEnum

import numpy as np

from agents.rule import RuleAgent
from agents.view import View
from supportgym.catalog import MIN_TIER, REMEDY_NAMES, ActionKind, LogClass, ServiceKind
from supportgym.layout import KB_REMEDIES

A = ActionKind
L = LogClass
#: A change is the likely culprit if it came within three hours.
RECENT_MINUTES = 180.0
#: Readings that corroborate a log signature.
HIGH_LEVEL = 0.8  # memory / pool / disk level (a share of the limit)
HIGH_UTILISATION = 0.84  # load / capacity: saturated
BUSY_UTILISATION = 0.6  # queueing visibly slows a service from here on
NO_REQUESTS = 0.08  # metric_request_rate of a service its callers cannot reach (healthy ~ 0.33)
CERT_ERRORS = 0.3  # error rate of a service failing every handshake
#: User impact (share of requests hurt at the edge) below which nobody is really hurt.
NO_IMPACT = 0.02
MAX_READS = 3  # reads of one service's logs per epoch
STILL_LEAKING = 0.05  # memory or resource trend after a leak fix that means it did not last


# --- decoding the observation's encodings (one helper each, so a shared decoder can replace them)
def changed_within(recency: np.ndarray, minutes: float) -> np.ndarray:
    """Whether a change came within ``minutes``, from ``*_recent`` = exp(-age / 60 min)."""
    return recency > float(np.exp(-minutes / 60.0))


def utilisation(view: View) -> np.ndarray:
    """Load / capacity per service, from ``metric_utilisation`` = utilisation / 2."""
    return view.metric("utilisation") * 2.0


def latency_ratio(view: View) -> np.ndarray:
    """Latency as a multiple of healthy, from ``metric_latency`` = log2(ratio) / 5."""
    return 2.0 ** (5.0 * view.metric("latency"))


def severity(impact: float) -> int:
    """SEV1 above 50% of users hurt, SEV2 above 10%, else SEV3 (the spec's thresholds)."""
    return 1 if impact > 0.5 else 2 if impact > 0.1 else 3


# --- modes and notes ---------------------------------------------------------------------------
class Stage(Enum):
    """The stage of the incident loop that chose the expert's last action."""

    TRIAGE = "triage"
    VALIDATE = "validate"
    CLOSE = "close"
    DIAGNOSE = "diagnose"
    ACT = "act"


class Outwait(Enum):
    """What is being waited out, and how many 5-minute waits before giving up on it."""

    OUTAGE = 16  # a provider outage lasts up to about 70 minutes
    BLIP = 5  # a blip fades within half an hour


class Trace(IntEnum):
    """A trace check's result on a service when it names no next hop."""

    ORIGIN = -2  # the trouble starts here
    CLEAN = -1  # nothing wrong here: the trace that led here was wrong


@dataclass
class Epoch:
    """Evidence gathered since the last remedy or failed validation; dropped after either."""

    traces: dict[int, int] = field(default_factory=dict)  # service -> Trace or the next hop
    trace_reads: dict[int, int] = field(default_factory=dict)
    pointed_by: dict[int, int] = field(default_factory=dict)  # hop -> the service whose trace named it
    logs: dict[int, list[LogClass]] = field(default_factory=dict)
    metrics_read: set[int] = field(default_factory=set)


@dataclass
class Watch:
    """A provider outage or a blip being waited out on ``service``."""

    service: int
    what: Outwait
    waits: int = 0


@dataclass
class Casebook:
    """The expert's notes on the current incident."""

    stage: Stage = Stage.TRIAGE
    last: tuple[int, int] | None = None  # (kind, service) of the previous action
    points_before: np.ndarray | None = None  # trace pointers before the previous trace check
    # triage
    peak_impact: float = 0.0  # highest user impact estimated from entry metrics
    entries_read: set[int] = field(default_factory=set)
    kb_searched: bool = False
    kb_used: bool = False
    triage_validated: bool = False
    # diagnosis
    seen: Epoch = field(default_factory=Epoch)
    changes_read: set[int] = field(default_factory=set)  # changes do not go stale with a remedy
    unexplained: set[int] = field(default_factory=set)  # roots whose evidence gave no fix
    # action
    remedies: list[tuple[int, int]] = field(default_factory=list)  # (kind, service) applied
    diagnosis: dict[int, LogClass] = field(default_factory=dict)  # service -> what was fixed there
    watch: Watch | None = None
    # validation
    to_validate: bool = False
    validated_healthy: bool = False
    healthy_streak: int = 0  # healthy validations in a row
    self_healing: bool = False  # the trouble is thought to pass by itself: watch it stay away
    trend_checked: bool = False

    def new_epoch(self) -> None:
        self.seen = Epoch()
        self.validated_healthy = False


# --- the playbook: log signature -> (corroborating check, remedy) -----------------------------
class Evidence:
    """What the casebook and the observation say about one suspected root service."""

    def __init__(self, view: View, book: Casebook, root: int):
        self.view, self.book, self.root = view, book, root
        self.kind = int(view.kind[root])
        logs = book.seen.logs[root]
        self.signature, self.reads = logs[-1], len(logs)

    def _recent(self, feature: str) -> bool:
        reverted = self.view.col("change_reverted")[self.root] > 0.5
        return bool(changed_within(self.view.col(feature), RECENT_MINUTES)[self.root]) and not reverted

    @property
    def deploy(self) -> bool:
        """A recent deploy, not reverted."""
        return self._recent("deploy_recent")

    @property
    def config(self) -> bool:
        return self._recent("config_recent")

    @property
    def rolled_back(self) -> bool:
        return (A.ROLLBACK, self.root) in self.book.remedies

    def metric(self, name: str) -> float:
        return self.view.metric(name)[self.root]

    @property
    def utilisation(self) -> float:
        return utilisation(self.view)[self.root]

    @property
    def busy(self) -> bool:
        return self.utilisation > BUSY_UTILISATION


#: A predicate on the evidence.
When = Callable[[Evidence], bool]


class Look(Enum):
    """A playbook line that gathers more evidence on the root instead of acting."""

    REREAD = "read the logs again"  # unless read MAX_READS times this epoch: then the next line applies
    CHECK_CHANGES = "check the recent changes"  # a second corroborating channel


@dataclass(frozen=True)
class Line:
    """One line of a playbook page: when ``when`` holds, do ``then`` — a remedy (``why`` it is
    applied: the diagnosis, the signature by default), a :class:`Look` at more evidence, or
    waiting out a blip (``Outwait.BLIP``)."""

    when: When
    then: ActionKind | Look | Outwait
    why: LogClass | None = None


@dataclass(frozen=True)
class Page:
    """What a log signature at the root calls for: the channel that corroborates it (read first)
    and the lines to follow, top to bottom. No line applying means the evidence explains nothing."""

    check: ActionKind | None
    lines: tuple[Line, ...]


def _always(e: Evidence) -> bool:
    return True


def _first_reads(e: Evidence) -> bool:
    return e.reads < 2


def _change_page(recent: When, fits: When = _always) -> Page:
    """A defect a change brings: roll the change back if it is recent, else hotfix."""
    return Page(A.CHECK_CHANGES, (
        Line(lambda e: not fits(e) or (not recent(e) and not (e.deploy or e.config) and e.reads < 2), Look.REREAD),
        Line(lambda e: recent(e) and not e.rolled_back, A.ROLLBACK),
        Line(_always, A.HOTFIX),
    ))


def _resource_page(level: str, shipped_by_deploy: bool) -> Page:
    """A filled resource: confirm its level; a leak a deploy shipped is rolled back, else hotfixed."""
    undo = (Line(lambda e: e.root not in e.book.changes_read, Look.CHECK_CHANGES),
            Line(lambda e: e.deploy and not e.rolled_back, A.ROLLBACK)) if shipped_by_deploy else ()
    return Page(A.CHECK_METRICS, (Line(lambda e: e.metric(level) < HIGH_LEVEL and e.reads < 2, Look.REREAD), *undo,
                                  Line(_always, A.HOTFIX)))


PLAYBOOK: dict[LogClass, Page] = {
    L.DEPLOY_EXCEPTION: _change_page(lambda e: e.deploy),
    L.CONFIG_ERROR: _change_page(lambda e: e.config),
    L.AUTH_DENIED: _change_page(lambda e: e.deploy or e.config),  # a rotated secret: either change
    L.SLOW_QUERY: _change_page(lambda e: e.deploy, fits=lambda e: e.kind == ServiceKind.DATABASE),
    L.OOM_KILLED: _resource_page("memory", shipped_by_deploy=True),
    L.POOL_EXHAUSTED: _resource_page("pool", shipped_by_deploy=True),
    L.NO_SPACE: _resource_page("disk", shipped_by_deploy=False),
    L.HIGH_LOAD: Page(A.CHECK_METRICS, (
        Line(lambda e: e.utilisation < HIGH_UTILISATION and e.reads < 2, Look.REREAD),
        Line(_always, A.SCALE_OUT),
    )),
    L.PROCESS_DOWN: Page(None, (
        Line(lambda e: bool(e.view.alerts[e.root, 3]) or e.kind == ServiceKind.CACHE or e.reads >= 2, A.RESTART),
        Line(_always, Look.REREAD),
    )),
    # Logs clean at the origin: a certificate fails the handshake before the app logs anything,
    # and its callers stop reaching it; or the service is busy, not broken; or it already passed.
    L.NORMAL: Page(A.CHECK_METRICS, (
        Line(lambda e: e.metric("error_rate") > CERT_ERRORS and e.metric("request_rate") < NO_REQUESTS, A.HOTFIX,
             L.TLS_HANDSHAKE),
        Line(lambda e: e.busy, A.SCALE_OUT, L.HIGH_LOAD),
        Line(_first_reads, Look.REREAD),
    )),
    # Timeouts with the trouble starting here: a queue backing up under load, a transient blip,
    # or a misleading read.
    L.DEPENDENCY_ERRORS: Page(A.CHECK_METRICS, (
        Line(lambda e: e.busy, A.SCALE_OUT, L.HIGH_LOAD),
        Line(_first_reads, Look.REREAD),
        Line(_always, Outwait.BLIP),
    )),
    # At an origin, these contradict the trace: look again, then look elsewhere.
    L.TLS_HANDSHAKE: Page(None, (Line(_always, Look.REREAD),)),
    L.PROVIDER_5XX: Page(None, (Line(_always, Look.REREAD),)),
}
#: What a known issue's fix says was wrong (a diagnosis noted with the remedy).
KB_DIAGNOSIS = {A.RESTART: L.PROCESS_DOWN, A.FAILOVER: L.PROVIDER_5XX, A.SCALE_OUT: L.HIGH_LOAD}


class ExpertAgent(RuleAgent):
    name = "expert"

    def new_memory(self, obs: np.ndarray) -> Casebook:
        return Casebook()

    def act(self, view: View, mask: np.ndarray, book: Casebook) -> int:
        self._read_result(view, book)
        action = self._decide(view, book)
        if not mask[action]:  # never expected: fall back to something always allowed
            action = self.desk.act(A.WAIT)
        kind = int(self.desk.table.kind[action])
        service = int(self.desk.table.service[action])
        book.last = (kind, service)
        book.points_before = view.col("trace_points_here").copy() if kind == A.CHECK_TRACES else None
        return action

    def _decide(self, view: View, book: Casebook) -> int:
        entries = [int(e) for e in np.flatnonzero(view.present & (view.col("entry_traffic") > 0))]
        entries.sort(key=lambda e: -view.col("entry_traffic")[e])
        # Each stage decides or passes; close and act, called from within, note themselves.
        book.stage = Stage.TRIAGE
        action = self.triage(view, book, entries)
        if action is None:
            book.stage = Stage.VALIDATE
            action = self.validate(view, book, entries)
        if action is None:
            book.stage = Stage.DIAGNOSE
            action = self.diagnose(view, book)
        return action

    # --- reading what the last action revealed -------------------------------------------
    def _read_result(self, view: View, book: Casebook) -> None:
        if book.last is None:
            return
        kind, service = book.last
        seen = book.seen
        if kind == A.CHECK_TRACES:
            seen.trace_reads[service] = seen.trace_reads.get(service, 0) + 1
            points = view.col("trace_points_here") > 0.5
            new = np.flatnonzero(points & (book.points_before < 0.5))
            if view.col("trace_origin_here")[service] > 0.5:
                seen.traces[service] = Trace.ORIGIN
            elif len(new):
                hop = int(new[0])
                seen.traces[service] = hop
                seen.pointed_by.setdefault(hop, service)
            else:
                # No new pointer: it points at a service marked before, or nowhere (clean).
                marked = [int(j) for j in np.flatnonzero(points)
                          if view.col("depth")[j] > view.col("depth")[service] and j not in seen.traces]
                seen.traces[service] = marked[0] if len(marked) == 1 else Trace.CLEAN
                if len(marked) == 1:
                    seen.pointed_by.setdefault(marked[0], service)
        elif kind == A.CHECK_LOGS:
            cls = view.log_class(service)
            if cls is not None:
                seen.logs.setdefault(service, []).append(cls)
        elif kind == A.CHECK_METRICS:
            seen.metrics_read.add(service)
            if view.col("entry_traffic")[service] > 0:
                book.entries_read.add(service)
                book.peak_impact = max(book.peak_impact, self._entry_impact(view, book))
        elif kind == A.CHECK_CHANGES:
            book.changes_read.add(service)
        elif kind == A.SEARCH_KB:
            book.kb_searched = True
        elif kind in (A.RESTART, A.ROLLBACK, A.SCALE_OUT, A.HOTFIX, A.FAILOVER):
            book.remedies.append((kind, service))
            book.to_validate = True
            book.self_healing = False
            book.trend_checked = False
            book.unexplained.clear()
            book.new_epoch()
        elif kind == A.VALIDATE:
            book.to_validate = False
            book.validated_healthy = view.validation == 1
            book.healthy_streak = book.healthy_streak + 1 if book.validated_healthy else 0
            if not book.validated_healthy:
                book.new_epoch()

    @staticmethod
    def _entry_impact(view: View, book: Casebook) -> float:
        """Share of users hurt, from the entry services' error rate and latency (SLO: 3x healthy)."""
        err = view.metric("error_rate")
        breach = np.clip(latency_ratio(view) / 3.0 - 1.0, 0.0, 1.0)
        hurt = err + (1.0 - err) * breach
        return float(sum(view.col("entry_traffic")[e] * hurt[e] for e in book.entries_read))

    # --- 1. triage -------------------------------------------------------------------------
    def triage(self, view: View, book: Casebook, entries: list[int]) -> int | None:
        """Size the impact from the entry services, declare the severity, search the knowledge base."""
        unread = [e for e in entries if e not in book.entries_read and (view.alerting[e] or not book.entries_read)]
        if unread and not book.remedies:
            return self.desk.act(A.CHECK_METRICS, unread[0])
        sev = severity(book.peak_impact)
        if view.declared != sev:
            return self.desk.act(A.DECLARE_SEV1 + sev - 1)
        if not book.kb_searched:
            return self.desk.act(A.SEARCH_KB)
        return None

    # --- 2. validate ---------------------------------------------------------------------------
    def validate(self, view: View, book: Casebook, entries: list[int]) -> int | None:
        """Wait out what heals by itself, validate after a change, close once healthy; validate
        first an incident with no impact and no known issue (cheaper than a hand-off)."""
        if book.watch is not None:
            return self._wait_out(view, book, entries)
        if book.to_validate:
            return self.desk.act(A.VALIDATE)
        if book.validated_healthy:
            return self.close(view, book)
        if (not book.remedies and not book.triage_validated and book.peak_impact < NO_IMPACT
                and not (view.kb > 0.5).any()):
            book.triage_validated = True
            book.self_healing = True
            return self.desk.act(A.VALIDATE)
        return None

    def _wait_out(self, view: View, book: Casebook, entries: list[int]) -> int:
        """Wait for a provider outage or a blip to end: until its alerts and the entry services'
        error alerts clear, then validate."""
        watch = book.watch
        if watch.waits < watch.what.value and view.alerts[[watch.service, *entries], :2].any():
            watch.waits += 1
            return self.desk.act(A.WAIT)
        book.watch = None
        book.to_validate = True
        return self.desk.act(A.VALIDATE)

    # --- 3. close ----------------------------------------------------------------------------
    def close(self, view: View, book: Casebook) -> int:
        """Resolve, after one more window for a fading blip and a trend check for a fixed leak."""
        book.stage = Stage.CLOSE
        if book.self_healing and book.healthy_streak < 2:
            return self.desk.act(A.VALIDATE)  # a fading blip can look healthy before it is gone
        leaks = [s for s, d in book.diagnosis.items() if d in (L.OOM_KILLED, L.POOL_EXHAUSTED)]
        if leaks and not book.trend_checked:
            service = leaks[-1]
            if service not in book.seen.metrics_read:
                return self.desk.act(A.CHECK_METRICS, service)
            book.trend_checked = True
            if max(view.metric("memory_trend")[service], view.metric("resource_trend")[service]) > STILL_LEAKING:
                book.validated_healthy = False  # still leaking: the fix did not last
                return self.fix(view, book, A.HOTFIX, service, book.diagnosis[service])
        return self.desk.act(A.RESOLVE)

    # --- 4. diagnose ---------------------------------------------------------------------------
    def diagnose(self, view: View, book: Casebook) -> int:
        """A known issue's lasting fix; else localise the root by traces and read it by the playbook."""
        if not book.kb_used and (step := self._known_issue(view, book)) is not None:
            return step
        if view.tier < 2:  # logs, traces and changes need L2
            return self.desk.act(A.ESCALATE)
        while True:
            root = self._root(view, book)
            if isinstance(root, tuple):  # an evidence-gathering action
                return self.desk.act(*root)
            if root is None:  # nothing unexplained is abnormal: it healed, or it was a false alarm
                if book.validated_healthy is False and book.last is not None and book.last[0] == A.VALIDATE:
                    book.unexplained.clear()  # still unhealthy and out of leads: give it time, look again
                    book.new_epoch()
                    return self.desk.act(A.WAIT)
                book.to_validate = True
                book.self_healing = True
                return self.desk.act(A.VALIDATE)
            step = self._treat(view, book, root)
            if step is not None:
                return step
            book.unexplained.add(root)

    def _known_issue(self, view: View, book: Casebook) -> int | None:
        """The knowledge base names the service; its fix is trusted unless it is a stopgap."""
        suggestion = np.argwhere(view.kb > 0.5)
        if not len(suggestion):
            return None
        service, remedy = (int(x) for x in suggestion[0])
        kind = REMEDY_NAMES[KB_REMEDIES[remedy]]
        if kind == A.RESTART and view.kind[service] != ServiceKind.CACHE:
            # A restart "fixes" a leak for a while; find the lasting fix instead.
            book.kb_used = True
            book.seen.logs.setdefault(service, []).append(L.OOM_KILLED)
            book.seen.traces[service] = Trace.ORIGIN
            return None
        book.kb_used = view.tier >= MIN_TIER[kind]  # once the fix itself is under way
        if kind == A.WAIT:
            book.kb_used = True
            return self.wait(book, service, Outwait.OUTAGE)
        return self.fix(view, book, kind, service, KB_DIAGNOSIS.get(kind, L.NORMAL))

    def _root(self, view: View, book: Casebook) -> int | tuple | None:
        """The service the trouble starts at, or the trace check that gets closer to it."""
        seen, depth = book.seen, view.col("depth")
        origins = [s for s, r in seen.traces.items() if r == Trace.ORIGIN and s not in book.unexplained]
        if origins:
            return max(origins, key=lambda s: depth[s])
        # A hop that traced clean was a wrong trace: trace its caller again.
        for hop, caller in list(seen.pointed_by.items()):
            if seen.traces.get(hop) == Trace.CLEAN and seen.trace_reads.get(caller, 0) < 2:
                del seen.traces[caller]
                del seen.pointed_by[hop]
        pointed = [r for r in seen.traces.values() if r >= 0 and r not in seen.traces]
        if pointed:
            return (A.CHECK_TRACES, max(pointed, key=lambda s: depth[s]))
        alerting = [int(s) for s in np.flatnonzero(view.alerting) if int(s) not in seen.traces
                    and int(s) not in book.unexplained]
        if alerting:
            down = view.alerts[:, 3]
            return (A.CHECK_TRACES, max(alerting, key=lambda s: (down[s], depth[s])))
        entries = [int(e) for e in np.flatnonzero(view.present & (view.col("entry_traffic") > 0))
                   if int(e) not in seen.traces]
        if entries:
            return (A.CHECK_TRACES, entries[0])
        return None

    def _treat(self, view: View, book: Casebook, root: int) -> int | None:
        """Read the root's logs and follow the playbook's page for the signature: corroborate,
        then remedy. None when the evidence explains nothing (look elsewhere)."""
        if view.kind[root] == ServiceKind.EXTERNAL:  # a provider: its callers see 5xx
            if view.col("failover_configured")[root] > 0.5:
                return self.fix(view, book, A.FAILOVER, root, L.PROVIDER_5XX)
            return self.wait(book, root, Outwait.OUTAGE)
        if not book.seen.logs.get(root):
            return self.desk.act(A.CHECK_LOGS, root)
        e = Evidence(view, book, root)
        page = PLAYBOOK[e.signature]
        read = {A.CHECK_METRICS: book.seen.metrics_read, A.CHECK_CHANGES: book.changes_read}
        if page.check is not None and root not in read[page.check]:
            return self.desk.act(page.check, root)
        for line in page.lines:
            if not line.when(e):
                continue
            if line.then is Look.REREAD:
                if e.reads < MAX_READS:
                    return self.desk.act(A.CHECK_LOGS, root)
            elif line.then is Look.CHECK_CHANGES:
                return self.desk.act(A.CHECK_CHANGES, root)
            elif isinstance(line.then, Outwait):
                return self.wait(book, root, line.then)
            else:
                return self.fix(view, book, line.then, root, line.why or e.signature)
        return None

    # --- 5. act --------------------------------------------------------------------------------
    def fix(self, view: View, book: Casebook, kind: ActionKind, service: int, why: LogClass) -> int:
        """Escalate as far as the remedy needs, then apply it (noting the diagnosis)."""
        book.stage = Stage.ACT
        if view.tier < MIN_TIER[kind]:
            return self.desk.act(A.ESCALATE)
        book.diagnosis[service] = why
        return self.desk.act(kind, service)

    def wait(self, book: Casebook, service: int, what: Outwait) -> int:
        """Start waiting out an outage or a blip (a blip is expected to pass by itself)."""
        book.stage = Stage.ACT
        book.watch = Watch(service, what)
        book.self_healing = what == Outwait.BLIP
        return self.desk.act(A.WAIT)
