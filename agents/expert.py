"""The expert agent: a hypothesis-driven on-call engineer who reads only the observation.

Its loop is the one a good engineer runs — observe, hypothesise, test, act, validate, and back
to observing when the test fails:

1. **Triage** (L1): read the metrics of the alerting entry services to size the user impact,
   declare the matching severity (a correct severity also makes hand-offs fast), search the
   knowledge base.
2. **Localise** (L2): a known issue names its service; otherwise follow traces from the deepest
   alerting service downstream until a trace says the trouble starts *here*. A hop that turns
   out clean was a wrong trace: trace its caller again. False alarms trace clean and are dropped.
3. **Diagnose**: read the root's logs and test the signature against a second channel
   (changes for a deploy/config/secret, resource levels for OOM/pool/disk, load for overload,
   request rate for a certificate that fails before the app logs anything). A signature that
   does not corroborate is read again.
4. **Remedy**: roll back a recent change that brought the defect, else hotfix (escalating to
   L3 with the severity declared); scale out an overload; restart a crashed cache; fail a
   provider over, or wait out its outage; wait out a transient blip. The knowledge base's
   restart for a memory leak is a stopgap that relapses: the expert uses the lasting fix.
5. **Validate**: after a change, validate; unhealthy means the hypothesis was wrong or
   incomplete, so every piece of evidence gathered before the change is dropped and the loop
   starts again. Healthy after a leak fix: check the memory trend before closing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agents.rule import RuleAgent
from agents.view import View
from supportgym.catalog import MIN_TIER, REMEDY_NAMES, ActionKind, LogClass, ServiceKind
from supportgym.layout import KB_REMEDIES

A = ActionKind
L = LogClass
#: Trace outcomes noted per service.
ORIGIN, CLEAN = -2, -1
#: A change counts as recent (the likely culprit) within three hours: ``*_recent`` = exp(-age / 60).
RECENT = float(np.exp(-3.0))
#: Readings that corroborate a log signature (metrics are scaled to [0, 1]; see observe.py).
HIGH_LEVEL = 0.8  # memory / pool / disk level
HIGH_UTILISATION = 0.42  # metric_utilisation = utilisation / 2
BUSY_UTILISATION = 0.3  # queueing visibly slows a service from here on
NO_REQUESTS = 0.08  # metric_request_rate of a service its callers cannot reach (healthy ~ 0.33)
#: User impact (share of requests hurt at the edge) below which nobody is really hurt.
NO_IMPACT = 0.02
#: Waits (5 minutes each) before giving up on something healing by itself: a provider outage
#: lasts up to about 70 minutes, a blip fades within half an hour.
MAX_WAITS = {"outage": 16, "blip": 5}
MAX_READS = 3  # reads of one channel on one service per epoch


@dataclass
class Casebook:
    """The expert's notes on the current incident."""

    last: tuple[int, int] | None = None  # (kind, service) of the previous action
    points_before: np.ndarray | None = None  # trace pointers before the previous trace check
    peak_impact: float = 0.0  # highest user impact estimated from entry metrics
    entries_read: set[int] = field(default_factory=set)
    kb_searched: bool = False
    kb_used: bool = False
    epoch: int = 0  # bumped by every remedy: evidence from an earlier epoch is stale
    traces: dict[int, int] = field(default_factory=dict)  # service -> ORIGIN / CLEAN / hop
    trace_reads: dict[int, int] = field(default_factory=dict)
    pointed_by: dict[int, int] = field(default_factory=dict)
    logs: dict[int, list[LogClass]] = field(default_factory=dict)
    metrics_read: set[int] = field(default_factory=set)
    changes_read: set[int] = field(default_factory=set)
    remedies: list[tuple[int, int]] = field(default_factory=list)  # (kind, service) applied
    unexplained: set[int] = field(default_factory=set)  # roots whose evidence gave no fix
    diagnosis: dict[int, LogClass] = field(default_factory=dict)  # service -> what was fixed there
    to_validate: bool = False
    validated_healthy: bool = False
    healthy_streak: int = 0  # healthy validations in a row
    self_healing: bool = False  # the trouble is thought to pass by itself: watch it stay away
    trend_checked: bool = False
    triage_validated: bool = False
    waiting: int | None = None  # service whose trouble is being waited out
    wait_for: str = "outage"
    waits: int = 0

    def new_epoch(self) -> None:
        self.epoch += 1
        self.traces.clear()
        self.trace_reads.clear()
        self.pointed_by.clear()
        self.logs.clear()
        self.metrics_read.clear()
        self.validated_healthy = False


class ExpertAgent(RuleAgent):
    name = "expert"

    def new_memory(self, obs: np.ndarray) -> Casebook:
        return Casebook()

    def act(self, view: View, mask: np.ndarray, book: Casebook) -> int:
        self._read_result(view, book)
        action = self._decide(view, mask, book)
        if not mask[action]:  # never expected: fall back to something always allowed
            action = self.desk.act(A.WAIT)
        kind = int(self.desk.table.kind[action])
        service = int(self.desk.table.service[action])
        book.last = (kind, service)
        book.points_before = view.col("trace_points_here").copy() if kind == A.CHECK_TRACES else None
        return action

    # --- reading what the last action revealed -------------------------------------------
    def _read_result(self, view: View, book: Casebook) -> None:
        if book.last is None:
            return
        kind, service = book.last
        if kind == A.CHECK_TRACES:
            book.trace_reads[service] = book.trace_reads.get(service, 0) + 1
            new = np.flatnonzero((view.col("trace_points_here") > 0.5) & (book.points_before < 0.5))
            if view.col("trace_origin_here")[service] > 0.5:
                book.traces[service] = ORIGIN
            elif len(new):
                hop = int(new[0])
                book.traces[service] = hop
                book.pointed_by.setdefault(hop, service)
            else:
                # No new pointer: it points at a service marked before, or nowhere (clean).
                marked = [int(j) for j in np.flatnonzero(view.col("trace_points_here") > 0.5)
                          if view.col("depth")[j] > view.col("depth")[service] and j not in book.traces]
                book.traces[service] = marked[0] if len(marked) == 1 else CLEAN
                if len(marked) == 1:
                    book.pointed_by.setdefault(marked[0], service)
        elif kind == A.CHECK_LOGS:
            cls = view.log_class(service)
            if cls is not None:
                book.logs.setdefault(service, []).append(cls)
        elif kind == A.CHECK_METRICS:
            book.metrics_read.add(service)
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
        ratio = 2.0 ** (5.0 * view.metric("latency"))
        breach = np.clip(ratio / 3.0 - 1.0, 0.0, 1.0)
        hurt = err + (1.0 - err) * breach
        return float(sum(view.col("entry_traffic")[e] * hurt[e] for e in book.entries_read))

    # --- deciding ------------------------------------------------------------------------
    def _decide(self, view: View, mask: np.ndarray, book: Casebook) -> int:
        act = self.desk.act
        entries = [int(e) for e in np.flatnonzero(view.present & (view.col("entry_traffic") > 0))]
        entries.sort(key=lambda e: -view.col("entry_traffic")[e])
        # 1. Triage: size the impact, declare, search the knowledge base.
        unread = [e for e in entries if e not in book.entries_read and (view.alerting[e] or not book.entries_read)]
        if unread and not book.remedies:
            return act(A.CHECK_METRICS, unread[0])
        severity = _severity(book.peak_impact)
        if view.declared != severity:
            return act(A.DECLARE_SEV1 + severity - 1)
        if not book.kb_searched:
            return act(A.SEARCH_KB)
        # 2. After a change: validate, then close once healthy (and a leak has stopped leaking).
        if book.waiting is not None:
            return self._wait_out(view, book, entries)
        if book.to_validate:
            return act(A.VALIDATE)
        if book.validated_healthy:
            return self._close(view, book)
        # 3. No user impact and no known issue: it may be a false alarm or a blip that already
        # passed. Validating costs less than a hand-off; it is not worth one if unhealthy.
        if (not book.remedies and not book.triage_validated and book.peak_impact < NO_IMPACT
                and not (view.kb > 0.5).any()):
            book.triage_validated = True
            book.self_healing = True
            return self.desk.act(A.VALIDATE)
        # 4. Investigate and fix.
        return self._investigate(view, mask, book)

    def _close(self, view: View, book: Casebook) -> int:
        if book.self_healing and book.healthy_streak < 2:
            # A fading blip can look healthy before it is gone: watch one more window.
            return self.desk.act(A.VALIDATE)
        leaks = [s for s, d in book.diagnosis.items() if d in (L.OOM_KILLED, L.POOL_EXHAUSTED)]
        if leaks and not book.trend_checked:
            service = leaks[-1]
            if service not in book.metrics_read:
                return self.desk.act(A.CHECK_METRICS, service)
            book.trend_checked = True
            if max(view.metric("memory_trend")[service], view.metric("resource_trend")[service]) > 0.05:
                book.validated_healthy = False  # still leaking: the fix did not last
                return self._fix(view, book, A.HOTFIX, service, book.diagnosis[service])
        return self.desk.act(A.RESOLVE)

    def _wait_out(self, view: View, book: Casebook, entries: list[int]) -> int:
        """Wait for a provider outage or a blip to end: until its alerts and the entry services'
        error alerts clear, then validate."""
        watched = [book.waiting, *entries]
        if book.waits < MAX_WAITS[book.wait_for] and view.alerts[watched, :2].any():
            book.waits += 1
            return self.desk.act(A.WAIT)
        book.waiting = None
        book.to_validate = True
        return self.desk.act(A.VALIDATE)

    def _wait(self, book: Casebook, service: int, what: str) -> int:
        book.waiting, book.wait_for, book.waits = service, what, 0
        book.self_healing = what == "blip"
        return self.desk.act(A.WAIT)

    def _escalate_for(self, view: View, tier: int) -> int | None:
        if view.tier >= tier:
            return None
        return self.desk.act(A.ESCALATE)

    def _fix(self, view: View, book: Casebook, kind: ActionKind, service: int, why: LogClass) -> int:
        escalate = self._escalate_for(view, MIN_TIER[kind])
        if escalate is not None:
            return escalate
        book.diagnosis[service] = why
        return self.desk.act(kind, service)

    def _investigate(self, view: View, mask: np.ndarray, book: Casebook) -> int:
        act = self.desk.act
        # A known issue names the service; its fix is trusted unless it is a stopgap.
        if not book.kb_used:
            suggestion = np.argwhere(view.kb > 0.5)
            if len(suggestion):
                service, remedy = (int(x) for x in suggestion[0])
                kind = REMEDY_NAMES[KB_REMEDIES[remedy]]
                if kind == A.RESTART and view.kind[service] != ServiceKind.CACHE:
                    # A restart "fixes" a leak for a while; find the lasting fix instead.
                    book.kb_used = True
                    book.logs.setdefault(service, []).append(L.OOM_KILLED)
                    book.traces[service] = ORIGIN
                else:
                    book.kb_used = view.tier >= MIN_TIER[kind]  # once the fix itself is under way
                    if kind == A.WAIT:
                        book.kb_used = True
                        return self._wait(book, service, "outage")
                    why = {A.RESTART: L.PROCESS_DOWN, A.FAILOVER: L.PROVIDER_5XX,
                           A.SCALE_OUT: L.HIGH_LOAD}.get(kind, L.NORMAL)
                    return self._fix(view, book, kind, service, why)
        escalate = self._escalate_for(view, 2)  # logs, traces and changes need L2
        if escalate is not None:
            return escalate
        while True:
            root = self._root(view, book)
            if isinstance(root, tuple):  # an evidence-gathering action
                return act(*root)
            if root is None:  # nothing unexplained is abnormal: it healed, or it was a false alarm
                if book.validated_healthy is False and book.last is not None and book.last[0] == A.VALIDATE:
                    book.unexplained.clear()  # still unhealthy and out of leads: give it time, look again
                    book.new_epoch()
                    return act(A.WAIT)
                book.to_validate = True
                book.self_healing = True
                return act(A.VALIDATE)
            step = self._treat(view, book, root)
            if step is not None:
                return step
            book.unexplained.add(root)

    def _root(self, view: View, book: Casebook) -> int | tuple | None:
        """The service the trouble starts at, or the trace check that gets closer to it."""
        origins = [s for s, r in book.traces.items() if r == ORIGIN and s not in book.unexplained]
        if origins:
            return max(origins, key=lambda s: view.col("depth")[s])
        # A hop that traced clean was a wrong trace: trace its caller again.
        for hop, caller in list(book.pointed_by.items()):
            if book.traces.get(hop) == CLEAN and book.trace_reads.get(caller, 0) < 2:
                del book.traces[caller]
                del book.pointed_by[hop]
        pointed = [r for r in book.traces.values() if r >= 0 and r not in book.traces]
        if pointed:
            return (A.CHECK_TRACES, max(pointed, key=lambda s: view.col("depth")[s]))
        alerting = [int(s) for s in np.flatnonzero(view.alerting)
                    if int(s) not in book.traces and int(s) not in book.unexplained]
        if alerting:
            down = view.alerts[:, 3]
            best = max(alerting, key=lambda s: (down[s], view.col("depth")[s]))
            return (A.CHECK_TRACES, best)
        entries = [int(e) for e in np.flatnonzero(view.present & (view.col("entry_traffic") > 0))
                   if int(e) not in book.traces]
        if entries:
            return (A.CHECK_TRACES, entries[0])
        return None

    def _treat(self, view: View, book: Casebook, root: int) -> int | None:
        """Diagnose the root from its logs and a corroborating channel, then fix it. None when
        the evidence explains nothing (look elsewhere)."""
        act = self.desk.act
        kind = view.kind[root]
        if kind == ServiceKind.EXTERNAL:  # a provider: its callers see 5xx
            if view.col("failover_configured")[root] > 0.5:
                return self._fix(view, book, A.FAILOVER, root, L.PROVIDER_5XX)
            return self._wait(book, root, "outage")
        logs = book.logs.get(root, [])
        if not logs:
            return act(A.CHECK_LOGS, root)
        sig = logs[-1]
        reads = len(logs)

        def reread() -> int | None:
            return act(A.CHECK_LOGS, root) if reads < MAX_READS else None

        def metrics() -> int | None:
            return None if root in book.metrics_read else act(A.CHECK_METRICS, root)

        def changes() -> int | None:
            return None if root in book.changes_read else act(A.CHECK_CHANGES, root)

        reverted = view.col("change_reverted")[root] > 0.5
        deploy = view.col("deploy_recent")[root] > RECENT and not reverted
        config = view.col("config_recent")[root] > RECENT and not reverted
        if sig in (L.DEPLOY_EXCEPTION, L.CONFIG_ERROR, L.AUTH_DENIED, L.SLOW_QUERY):
            if (step := changes()) is not None:
                return step
            recent = {L.DEPLOY_EXCEPTION: deploy, L.CONFIG_ERROR: config, L.AUTH_DENIED: deploy or config,
                      L.SLOW_QUERY: deploy}[sig]
            fits_kind = sig != L.SLOW_QUERY or kind == ServiceKind.DATABASE
            if not fits_kind or (not recent and not (deploy or config) and reads < 2):
                if (step := reread()) is not None:
                    return step
            if recent and (A.ROLLBACK, root) not in book.remedies:
                return self._fix(view, book, A.ROLLBACK, root, sig)
            return self._fix(view, book, A.HOTFIX, root, sig)
        if sig in (L.OOM_KILLED, L.POOL_EXHAUSTED, L.NO_SPACE):
            if (step := metrics()) is not None:
                return step
            level = {L.OOM_KILLED: "memory", L.POOL_EXHAUSTED: "pool", L.NO_SPACE: "disk"}[sig]
            if view.metric(level)[root] < HIGH_LEVEL and reads < 2:
                if (step := reread()) is not None:
                    return step
            if sig != L.NO_SPACE:
                if (step := changes()) is not None:
                    return step
                if deploy and (A.ROLLBACK, root) not in book.remedies:  # a deploy shipped the leak
                    return self._fix(view, book, A.ROLLBACK, root, sig)
            return self._fix(view, book, A.HOTFIX, root, sig)
        if sig == L.HIGH_LOAD:
            if (step := metrics()) is not None:
                return step
            if view.metric("utilisation")[root] < HIGH_UTILISATION and reads < 2:
                if (step := reread()) is not None:
                    return step
            return self._fix(view, book, A.SCALE_OUT, root, sig)
        if sig == L.PROCESS_DOWN:
            if view.alerts[root, 3] or kind == ServiceKind.CACHE or reads >= 2:
                return self._fix(view, book, A.RESTART, root, sig)
            return reread()
        if sig == L.NORMAL:
            # Logs clean at the origin: a certificate fails the handshake before the app logs
            # anything, and its callers stop reaching it; or the trouble already passed.
            if (step := metrics()) is not None:
                return step
            if view.metric("error_rate")[root] > 0.3 and view.metric("request_rate")[root] < NO_REQUESTS:
                return self._fix(view, book, A.HOTFIX, root, L.TLS_HANDSHAKE)
            if view.metric("utilisation")[root] > BUSY_UTILISATION:  # busy, not broken: add capacity
                return self._fix(view, book, A.SCALE_OUT, root, L.HIGH_LOAD)
            return reread() if reads < 2 else None
        if sig == L.DEPENDENCY_ERRORS:
            # Timeouts with the trouble starting here: a queue backing up under load, a
            # transient blip, or a misleading read.
            if (step := metrics()) is not None:
                return step
            if view.metric("utilisation")[root] > BUSY_UTILISATION:
                return self._fix(view, book, A.SCALE_OUT, root, L.HIGH_LOAD)
            if reads < 2:
                return reread()
            return self._wait(book, root, "blip")
        # TLS / provider 5xx at an origin contradict the trace: look again, then look elsewhere.
        return reread()


def _severity(impact: float) -> int:
    """SEV1 above 50% of users hurt, SEV2 above 10%, else SEV3 (the spec's thresholds)."""
    return 1 if impact > 0.5 else 2 if impact > 0.1 else 3
