"""The expert agent: a hypothesis-driven on-call engineer who reads only the observation.

It works the incident the way a good engineer's runbook reads, one stage after another, going
back to diagnosis when a validation fails:

1. **Triage** (L1): read the metrics of the alerting entry services to size the user impact,
   declare the matching severity (a correct severity also makes hand-offs fast), search the
   knowledge base, file the ticket under the team its alerts point to
   (:func:`agents.routing.team_by_alerts`) and reassign it there if it sits elsewhere.
2. **Validate**: after a change, validate; unhealthy means the hypothesis was wrong or
   incomplete, so every piece of evidence gathered before the change is dropped. An incident
   with no user impact and no known issue is validated first: it may be a false alarm or a
   blip that already passed.
3. **Close** once healthy, but first check a fixed leak's memory trend, watch a fading blip
   for one more window, and ask the customer (a "still broken" counts as a failed validation).
4. **Diagnose** (L2): a known issue names its service; otherwise follow traces from the deepest
   alerting service downstream until a trace says the trouble starts *here* (a hop that turns
   out clean was a wrong trace: trace its caller again). Then read the root's logs and look the
   signature up in :data:`PLAYBOOK`: the check that corroborates it and the remedy it calls for.
5. **Act**: escalate as far as the remedy needs and apply it; or wait out a provider outage or a
   transient blip.
"""

from __future__ import annotations

import numpy as np

from agents.casebook import Casebook, Outwait, Stage, Trace, Watch
from agents.playbook import KB_DIAGNOSIS, PLAYBOOK, Evidence, Look
from agents.routing import team_by_alerts
from agents.rule import RuleAgent
from agents.view import View
from supportgym.contract.observation import CUSTOMER_BROKEN, CUSTOMER_SILENT, CUSTOMER_WORKS
from supportgym.contract.vocabulary import (
    DEFAULT_SLO_LATENCY_FACTOR,
    FILE_ACTIONS,
    KB_REMEDIES,
    MIN_TIER,
    MITIGATED_IMPACT,
    REMEDY_NAMES,
    ActionKind,
    LogClass,
    ServiceKind,
    true_severity,
)

A = ActionKind
L = LogClass
STILL_LEAKING = 0.05  # memory or resource trend after a leak fix that means it did not last


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
            book.customer_asked = False
            book.unexplained.clear()
            book.new_epoch()
        elif kind == A.ASK_CUSTOMER:
            book.customer_asked = True
            if view.customer == CUSTOMER_BROKEN:  # users still hurt: as good as a failed validation
                book.validated_healthy = False
                book.healthy_streak = 0
                book.new_epoch()
        elif kind == A.VALIDATE:
            book.to_validate = False
            book.validated_healthy = view.validation == 1
            book.healthy_streak = book.healthy_streak + 1 if book.validated_healthy else 0
            if not book.validated_healthy:
                book.new_epoch()

    @staticmethod
    def _entry_impact(view: View, book: Casebook) -> float:
        """Share of users hurt, from the entry services' error rate and latency (the default SLO)."""
        err = view.metric("error_rate")
        breach = np.clip(view.latency_ratio / DEFAULT_SLO_LATENCY_FACTOR - 1.0, 0.0, 1.0)
        hurt = err + (1.0 - err) * breach
        return float(sum(view.col("entry_traffic")[e] * hurt[e] for e in book.entries_read))

    # --- 1. triage -------------------------------------------------------------------------
    def triage(self, view: View, book: Casebook, entries: list[int]) -> int | None:
        """Size the impact from the entry services, declare the severity, search the knowledge base."""
        unread = [e for e in entries if e not in book.entries_read and (view.alerting[e] or not book.entries_read)]
        if unread and not book.remedies:
            return self.desk.act(A.CHECK_METRICS, unread[0])
        sev = int(true_severity(book.peak_impact))
        if view.declared != sev:
            return self.desk.act(A.DECLARE_SEV1 + sev - 1)
        if not book.kb_searched:
            return self.desk.act(A.SEARCH_KB)
        if view.category is None:
            return self.desk.act(FILE_ACTIONS[team_by_alerts(view)])
        if view.routed != view.category:
            return self.desk.act(A.REASSIGN)
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
        if (not book.remedies and not book.triage_validated and book.peak_impact < MITIGATED_IMPACT
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
        if view.customer not in (CUSTOMER_WORKS, CUSTOMER_SILENT) and not book.customer_asked:
            return self.desk.act(A.ASK_CUSTOMER)
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
        line = page.line_for(e)
        if line is None:
            return None
        if line.then is Look.REREAD:
            return self.desk.act(A.CHECK_LOGS, root)
        if line.then is Look.CHECK_CHANGES:
            return self.desk.act(A.CHECK_CHANGES, root)
        if isinstance(line.then, Outwait):
            return self.wait(book, root, line.then)
        return self.fix(view, book, line.then, root, line.why or e.signature)

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
