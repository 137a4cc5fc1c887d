"""Post-incident reports: an episode's journal read back into Markdown, with the root cause revealed.

``incident_report`` turns a :class:`~supportgym.journal.Journal` into the report an on-call team
writes after an incident: summary, timeline of signals and actions, the evidence and what it
pointed to, remedies, validation, user impact, the root cause and the mistakes. It is how a user
sees *why* a policy scored what it did.

What an action found is decoded from the observations before and after it, by feature name:
:data:`READERS` holds one reader per action kind, and an action kind without one (a new action)
is described by the features it changed, so it reaches the report with no change here. What the
agent could not see (the root cause, the user impact, which actions were harmful) is shown only
once the episode has ended: before that, the report holds only what the agent saw.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from supportgym.contract.actions import ActionTable
from supportgym.contract.observation import (
    ALERTS,
    CUSTOMER_ANSWERS,
    G_CATEGORY,
    G_CUSTOMER,
    G_ROUTED,
    G_TICKET,
    G_TIER,
    G_VALIDATION,
    GF,
    GLOBAL_FEATURES,
    KB,
    LOGS,
    M_DISK,
    M_ERROR_RATE,
    M_LATENCY,
    M_MEMORY,
    M_MEMORY_TREND,
    M_POOL,
    M_REQUEST_RATE,
    M_RESOURCE_TREND,
    M_UTILISATION,
    METRIC,
    SERVICE_FEATURES,
    SF,
    TEAMS,
    ObservationLayout,
    decode_latency,
    decode_recency,
    decode_request_rate,
    decode_trend,
    decode_utilisation,
    one_hot_index,
)
from supportgym.contract.vocabulary import (
    ALERT_ERRORS,
    ALERT_KINDS,
    ALERT_LATENCY,
    ALERT_THRESHOLDS,
    ESCALATION_MINUTES,
    FILE_ACTIONS,
    INTERVENTIONS,
    KB_REMEDIES,
    SATURATED,
    TIERS,
    ActionKind,
    LogClass,
    Ticket,
    remedy_name,
    true_severity,
)
from supportgym.journal import Journal, StepRecord
from supportgym.metrics import episode_metrics
from supportgym.render import VALIDATION_WORDS, age_text
from supportgym.reward import N_WEIGHTS, W_SEVERITY_MISMATCH, end_reward
from supportgym.suite import Scenario
from supportgym.world.faults import FAULT_NAMES, FAULTS, FaultSpec
from supportgym.world.mechanisms import (
    ACC_OWN_LOG,
    DEFECT_CALLER_LOG,
    DEFECT_OWN_LOG,
    Accumulator,
    Defect,
)
from supportgym.world.state import State

#: A change at most this old is a suspect (bad changes bite within minutes; quiet services
#: last changed days ago).
RECENT_CHANGE_MINUTES = 120.0
#: A request rate below LOW_TRAFFIC or above HIGH_TRAFFIC times healthy is worth a line:
#: requests not arriving (a failing handshake) or a surge.
LOW_TRAFFIC, HIGH_TRAFFIC = 0.5, 2.0
#: Features that move with the clock or are shown elsewhere (alerts are signals): a generic
#: reader of a new action ignores them.
NOT_FINDINGS = frozenset({"metrics_fresh", "logs_fresh", "traces_fresh", "changes_fresh", "elapsed",
                          "validation_fresh", "alerts_firing", "last_action_invalid",
                          *(f"alert_{k}" for k in ALERT_KINDS)})
WITHHELD = "_Revealed when the episode ends._"
CHANGE_WORDS = {"deploy": "a deploy", "config": "a config push"}


def _label(name: str) -> str:
    return name.lower().replace("_", " ")


def _own_signature(spec: FaultSpec) -> int | None:
    """The log signature a fault writes in its own service's logs (None: nothing specific)."""
    if spec.defect is not None:
        own = int(DEFECT_OWN_LOG[spec.defect])
    elif spec.accumulator is not None:
        own = int(ACC_OWN_LOG[spec.accumulator])
    else:
        return None
    return None if own == LogClass.NORMAL else own


def _faults_by(signature: Callable[[FaultSpec], int | None]) -> dict[int, tuple[str, ...]]:
    out: dict[int, tuple[str, ...]] = {}
    for spec in FAULTS.values():
        if (cls := signature(spec)) is not None:
            out[cls] = (*out.get(cls, ()), spec.name)
    return out


#: Log signature -> the faults that write it in their own service's logs, and in their callers'
#: (read from the world's tables: one fact in one place).
OWN_SIGNATURES = _faults_by(_own_signature)
CALLER_SIGNATURES = _faults_by(lambda spec: None if spec.defect is None else int(DEFECT_CALLER_LOG[spec.defect]))
#: Signatures no single fault writes: what they say.
SIGNAL_SIGNATURES = {LogClass.HIGH_LOAD: "overloaded: more traffic than capacity",
                     LogClass.PROCESS_DOWN: "the process is down"}


@dataclass(frozen=True)
class Finding:
    """What one action found: text for the timeline, the services it implicates, what it suggests."""

    text: str
    suspects: tuple[int, ...] = ()
    hint: str = ""
    evidence: bool = True  # a diagnostic finding (listed under Evidence), not a desk change


@dataclass(frozen=True)
class Reading:
    """One step's observations before and after, per service (N, features) and global."""

    before: np.ndarray
    after: np.ndarray
    g_before: np.ndarray
    g_after: np.ndarray
    target: int
    names: tuple[str, ...]
    callees: tuple[tuple[int, ...], ...]

    def col(self, feature: str) -> float:
        """A per-service feature of the target after the step."""
        return float(self.after[self.target, SF[feature]])

    @property
    def name(self) -> str:
        return self.names[self.target]


def _logs(r: Reading) -> Finding:
    cls = LogClass(int(np.argmax(r.after[r.target, LOGS])))
    text = _label(cls.name)
    if cls == LogClass.NORMAL:
        return Finding(text + ": nothing here")
    own, caller = OWN_SIGNATURES.get(cls, ()), CALLER_SIGNATURES.get(cls, ())
    hints, suspects = [], []
    if own:
        hints.append(f"{' or '.join(own)} on {r.name}")
        suspects.append(r.target)
    if caller or cls == LogClass.DEPENDENCY_ERRORS:
        below = ", ".join(r.names[j] for j in r.callees[r.target]) or "none"
        hints.append(f"{' or '.join(caller) if caller else 'trouble'} in a dependency ({below})")
        suspects += r.callees[r.target]
    if cls in SIGNAL_SIGNATURES:
        hints.append(f"{r.name} {SIGNAL_SIGNATURES[cls]}")
        suspects.append(r.target)
    return Finding(text, tuple(suspects), "; or ".join(hints))


def _metrics(r: Reading) -> Finding:
    m = r.after[r.target, METRIC]
    symptoms, own = [], []
    if m[M_ERROR_RATE] >= ALERT_THRESHOLDS[ALERT_ERRORS]:
        symptoms.append(f"errors {m[M_ERROR_RATE]:.0%}")
    if decode_latency(m[M_LATENCY]) >= ALERT_THRESHOLDS[ALERT_LATENCY]:
        symptoms.append(f"latency ×{decode_latency(m[M_LATENCY]):.1f}")
    if decode_utilisation(m[M_UTILISATION]) >= SATURATED:
        own.append(f"utilisation {decode_utilisation(m[M_UTILISATION]):.0%}")
    for label, column in (("memory", M_MEMORY), ("connection pool", M_POOL), ("disk", M_DISK)):
        if m[column] >= SATURATED:
            own.append(f"{label} {m[column]:.0%}")
    for label, column in (("memory", M_MEMORY_TREND), ("pool/disk", M_RESOURCE_TREND)):
        if m[column] > 0:
            own.append(f"{label} rising {decode_trend(m[column]):.1%}/min")
    rate = decode_request_rate(m[M_REQUEST_RATE])
    if not LOW_TRAFFIC <= rate <= HIGH_TRAFFIC:
        own.append(f"requests ×{rate:.1f} of healthy")
    if not symptoms + own:
        return Finding("all normal")
    if own:
        return Finding(", ".join(own + symptoms), (r.target,), f"trouble in {r.name} itself")
    return Finding(", ".join(symptoms), hint=f"symptoms on {r.name} (its own, or a dependency's)")


def _traces(r: Reading) -> Finding:
    points = SF["trace_points_here"]
    new = tuple(int(j) for j in np.flatnonzero(r.after[:, points] > r.before[:, points]))
    if new:
        blamed = ", ".join(r.names[j] for j in new)
        return Finding(f"trouble comes from {blamed}", new, f"{blamed} (or further down)")
    if r.col("trace_origin_here"):
        return Finding("trouble starts here", (r.target,), r.name)
    earlier = [r.names[j] for j in r.callees[r.target] if r.after[j, points]]
    if earlier:
        return Finding(f"no new lead (earlier traces blame {', '.join(earlier)})")
    return Finding("no trouble seen")


def _changes(r: Reading) -> Finding:
    with np.errstate(divide="ignore"):
        ages = {change: float(decode_recency(r.col(f"{change}_recent"))) for change in ("deploy", "config")}
    text = ", ".join(f"{change} {age_text(age)} ago" if math.isfinite(age) else f"{change} long ago"
                     for change, age in ages.items())
    if r.col("change_reverted"):
        return Finding(text + ", last change rolled back")
    recent = [change for change, age in ages.items() if age <= RECENT_CHANGE_MINUTES]
    if recent:
        return Finding(text, (r.target,), f"a recent {' and '.join(recent)} on {r.name}")
    return Finding(text)


def _knowledge_base(r: Reading) -> Finding:
    if not r.g_after[GF["kb_matched"]]:
        return Finding("no known issue matches")
    found = [(i, KB_REMEDIES[int(k)]) for i, k in zip(*np.nonzero(r.after[:, KB]))]
    suggestions = ", ".join(f"{_label(fix)} on {r.names[i]}" for i, fix in found)
    return Finding(f"matched: suggests {suggestions}", tuple(int(i) for i, _ in found), suggestions)


def _validation(r: Reading) -> Finding:
    return Finding(VALIDATION_WORDS[int(one_hot_index(r.g_after, G_VALIDATION))], evidence=False)


def _tier(r: Reading) -> Finding:
    return Finding(f"now at L{TIERS[int(one_hot_index(r.g_after, G_TIER))]}", evidence=False)


def _reproduction(r: Reading) -> Finding:
    failing = r.col("repro_failed")
    hops = [int(j) for j in np.flatnonzero(r.after[:, SF["repro_hop"]] > 0.5)]
    text = f"{failing:.0%} of synthetic requests through {r.name} fail"
    if hops:
        where = ", ".join(r.names[j] for j in hops)
        return Finding(f"{text}; the failure starts at {where}", tuple(hops), where)
    return Finding(text + ("" if failing else "; users are fine there"))


def _routing(r: Reading) -> Finding:
    routed = TEAMS[int(one_hot_index(r.g_after, G_ROUTED))]
    category = int(one_hot_index(r.g_after, G_CATEGORY))
    filed = "unfiled" if category == 0 else f"filed as {TEAMS[category - 1].upper()}"
    return Finding(f"{filed}, with team {routed.upper()}", evidence=False)


def _customer(r: Reading) -> Finding:
    answer = CUSTOMER_ANSWERS[int(one_hot_index(r.g_after, G_CUSTOMER))]
    said = {"works": "it works again", "broken": "it is still broken", "silent": "no answer"}
    return Finding(said.get(answer, answer))


def _nothing(r: Reading) -> Finding:
    return Finding("", evidence=False)


def _changed_features(r: Reading) -> Finding:
    """A reader for an action kind without one: the features it changed, by name."""
    changed = [f"{SERVICE_FEATURES[c]} on {r.names[i]} {r.before[i, c]:.2g}→{r.after[i, c]:.2g}"
               for i, c in zip(*np.nonzero(r.after != r.before)) if SERVICE_FEATURES[c] not in NOT_FINDINGS]
    changed += [f"{GLOBAL_FEATURES[c]} {r.g_before[c]:.2g}→{r.g_after[c]:.2g}"
                for c in np.flatnonzero(r.g_after != r.g_before) if GLOBAL_FEATURES[c] not in NOT_FINDINGS]
    return Finding("; ".join(changed), evidence=bool(changed))


Reader = Callable[[Reading], Finding]
#: What each action kind found, read from the observation: the one table to extend for a new
#: action (one without a reader is shown by the features it changed).
READERS: dict[int, Reader] = {
    ActionKind.CHECK_LOGS: _logs,
    ActionKind.CHECK_METRICS: _metrics,
    ActionKind.CHECK_TRACES: _traces,
    ActionKind.CHECK_CHANGES: _changes,
    ActionKind.SEARCH_KB: _knowledge_base,
    ActionKind.VALIDATE: _validation,
    ActionKind.ESCALATE: _tier,
    ActionKind.REPRODUCE: _reproduction,
    ActionKind.REASSIGN: _routing,
    **{kind: _routing for kind in FILE_ACTIONS},
    ActionKind.ASK_CUSTOMER: _customer,
    ActionKind.DECLARE_SEV1: _nothing,
    ActionKind.DECLARE_SEV2: _nothing,
    ActionKind.DECLARE_SEV3: _nothing,
    ActionKind.WAIT: _nothing,
    ActionKind.RESOLVE: _nothing,
    **{kind: _nothing for kind in INTERVENTIONS},  # remedies are judged against the revealed cause
}

#: Episode metrics that count mistakes: (what to call them, what they are). A new one
#: (misrouting, say) shows up in every report once it is listed here.
MISTAKES: dict[str, tuple[str, str]] = {
    "harmful_actions": ("harmful actions", "a remedy with nothing to act on"),
    "invalid_actions": ("masked actions", "no-ops that cost a minute each"),
    "wrong_closures": ("wrong closures", "resolved while a fault was still at work, so the incident reopened"),
    "misrouted_handoffs": ("misrouted hand-offs", "escalated while the ticket sat with a team that does not own "
                                                  "the root cause, which bounced it: 20 minutes lost"),
}
#: For the mistakes a step's own record shows, which steps they are.
MISTAKE_STEPS: dict[str, Callable[[StepRecord, int], bool]] = {
    "harmful_actions": lambda rec, kind: rec.harmful,
    "invalid_actions": lambda rec, kind: rec.invalid,
    "wrong_closures": lambda rec, kind: kind == ActionKind.RESOLVE and not rec.invalid,
    "misrouted_handoffs": lambda rec, kind: kind == ActionKind.ESCALATE and rec.minutes > ESCALATION_MINUTES.max(),
}


@dataclass(frozen=True)
class RootCause:
    slot: int  # service slot
    service: str
    spec: FaultSpec
    change: str | None  # "deploy" or "config": the change that brought it

    def describe(self) -> str:
        """The fault in words, from its definition in ``world.faults``."""
        if self.spec.defect is not None:
            mechanism = _label(Defect(self.spec.defect).name)
        elif self.spec.accumulator is not None:
            mechanism = f"{_label(Accumulator(self.spec.accumulator).name)} filling up"
        else:
            mechanism = "crashed cache" if self.spec.cache_down else "injected traffic"
        brought = "" if self.change is None else f", brought by {CHANGE_WORDS[self.change]}"
        fixes = " or ".join(_label(remedy_name(k)) for k in self.spec.lasting_fixes)
        return (f"**{self.spec.name}** on **{self.service}** ({self.spec.category}): {mechanism}{brought}; "
                f"lasting fix: {fixes}")


def root_causes(s: State, scenario: Scenario) -> list[RootCause]:
    """The episode's faults (one, or concurrent ones): fault slot k is the scenario's k-th fault
    (``episode.new_episode``), placed on the service the hidden state says."""
    causes = []
    for k, (f, svc) in enumerate(zip(s.fault_type[0], s.fault_service[0])):
        if f >= 0:
            spec = FAULTS[FAULT_NAMES[f]]
            causes.append(RootCause(int(svc), scenario.topology.names[svc], spec,
                                    scenario.faults[k].change or spec.change))
    return causes


@dataclass(frozen=True)
class Step:
    """One journal step, decoded."""

    index: int
    record: StepRecord
    name: str
    kind: int
    target: int | None  # service slot of a per-service action
    finding: Finding
    alerts: str  # alerts that fired or cleared during it
    impact_before: float


def _minutes(t: float) -> str:
    return f"{t:.1f}".rstrip("0").rstrip(".")


def _alert_changes(before: np.ndarray, after: np.ndarray, names: tuple[str, ...]) -> str:
    a, b = before[:len(names), ALERTS] > 0.5, after[:len(names), ALERTS] > 0.5
    fired = [f"+{ALERT_KINDS[k]} {names[i]}" for i, k in zip(*np.nonzero(b & ~a))]
    cleared = [f"−{ALERT_KINDS[k]} {names[i]}" for i, k in zip(*np.nonzero(a & ~b))]
    return " ".join(fired + cleared)


def decode_steps(journal: Journal, table: ActionTable, action_names: list[str], names: tuple[str, ...],
                 callees: tuple[tuple[int, ...], ...]) -> list[Step]:
    """Every step of the journal with what it found."""
    layout = ObservationLayout(table.max_services)
    steps = []
    for k, rec in enumerate(journal.steps):
        before = journal.observation_before(k)
        kind, per_service = int(table.kind[rec.action]), bool(table.is_service_action[rec.action])
        target = int(table.service[rec.action]) if per_service else None
        after = journal.observation_after(k)
        sb, sa = layout.services(before), layout.services(after)
        reading = Reading(sb, sa, layout.globals(before), layout.globals(after), target or 0, names, callees)
        read = READERS.get(kind, _changed_features)
        finding = Finding("masked: no-op", evidence=False) if rec.invalid else read(reading)
        impact_before = journal.opening_impact if k == 0 else journal.steps[k - 1].impact
        steps.append(Step(k, rec, action_names[rec.action], kind, target, finding, _alert_changes(sb, sa, names),
                          impact_before))
    return steps


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(row) + " |" for row in rows)]


def _bullets(items: list[str], empty: str) -> list[str]:
    return [f"- {item}" for item in items] or [empty]


class _Report:
    """The report's sections, each from the decoded steps, the final state and (once revealed) the truth."""

    def __init__(self, journal: Journal, s: State, scenario: Scenario, table: ActionTable, action_names: list[str],
                 ended: bool):
        topo = scenario.topology
        self.journal, self.s, self.scenario, self.ended = journal, s, scenario, ended
        self.layout = ObservationLayout(table.max_services)
        self.names = topo.names
        self.steps = decode_steps(journal, table, action_names, topo.names,
                                  tuple(tuple(topo.callees(i)) for i in range(topo.n)))
        self.metrics = episode_metrics(s, 0, topo.names, scenario.name)
        self.causes = root_causes(s, scenario) if ended else []
        self.cause_slots = {c.slot for c in self.causes}

    # --- helpers ------------------------------------------------------------------------
    def _on_cause(self, suspects: tuple[int, ...]) -> str:
        if not suspects or not self.ended:
            return ""
        return " ✓ the root cause" if self.cause_slots & set(suspects) else " ✗ not the root cause"

    def _remedy_verdict(self, step: Step) -> str:
        if step.record.harmful:
            return "**harmful**: nothing to act on"
        causes = [c for c in self.causes if c.slot == step.target]
        if not causes:
            return "not on a root-cause service"
        lasting = [c.spec.name for c in causes if step.kind in c.spec.lasting_fixes]
        if lasting:
            return f"a lasting fix for {' and '.join(lasting)}"
        return f"relief at best: not a lasting fix for {' and '.join(c.spec.name for c in causes)}"

    def _result(self, step: Step) -> str:
        parts = [step.finding.text] if step.finding.text else []
        if self.ended:
            if step.kind in INTERVENTIONS and not step.record.invalid:
                parts.append(self._remedy_verdict(step))
            elif step.record.harmful:
                parts.append("**harmful**")
            if step.kind == ActionKind.RESOLVE and not step.record.invalid:
                parts.append("held" if self.metrics["resolved_and_held"] else "**reopened**")
        if step.alerts:
            parts.append(f"alerts {step.alerts}")
        return "; ".join(parts) or "-"

    def _outcome(self) -> str:
        m, now = self.metrics, float(self.s.time[0])
        if m["resolved_and_held"]:
            return f"resolved at t+{_minutes(self.s.resolved_at[0])} min, and the resolution held"
        if m["wrong_closures"]:
            return f"resolved at t+{_minutes(self.s.resolved_at[0])} min, but it did not hold: **reopened**"
        if not self.ended:
            return f"**in progress** at t+{_minutes(now)} min"
        if now >= self.scenario.time_limit_minutes:
            return f"**timed out**: unresolved at the {_minutes(self.scenario.time_limit_minutes)}-minute limit"
        return f"ended unresolved at t+{_minutes(now)} min (stopped by the harness)"

    def _severity(self) -> tuple[str, bool]:
        """The declared severity against the true one, and whether it was misjudged (by the reward's rule)."""
        declared, peak = int(self.s.declared[0]), int(self.s.declared_peak[0])
        true = int(true_severity(self.s.peak_impact[0]))
        weights = np.zeros(N_WEIGHTS)
        weights[W_SEVERITY_MISMATCH] = 1.0
        wrong = bool(end_reward(weights, np.ones(1, bool), np.zeros(1, bool), self.s.declared, self.s.declared_peak,
                                self.s.peak_impact)[0] < 0)
        said = f"SEV{declared}" if declared else "none"
        if peak and peak != declared:
            said += f" (SEV{peak} on the way)"
        return f"declared {said}, true SEV{true}", wrong

    # --- sections -------------------------------------------------------------------------
    def summary(self) -> list[str]:
        m, sc = self.metrics, self.scenario
        seed = "continued from an earlier reset" if self.journal.seed is None else str(self.journal.seed)
        lines = ["## Summary", ""]
        if self.ended:
            about = f": {sc.description.strip()}" if sc.description.strip() else ""
            lines.append(f"- **Scenario:** `{sc.name}` (suite `{sc.suite}`), seed {seed}{about}")
        else:
            lines.append(f"- **Suite:** `{sc.suite}`, seed {seed} (the scenario's name is withheld: "
                         "it names the fault)")
        lines += [f"- **Outcome:** {self._outcome()}",
                  f"- **Steps:** {len(self.steps)}, escalations {m['escalations']}, "
                  f"{'final tier' if self.ended else 'tier now'} L{int(self.s.tier[0])}"]
        if self.ended:
            ttm, ttr = m["time_to_mitigate"], m["time_to_resolve"]
            severity, wrong = self._severity()
            lines += [f"- **Time to mitigate:** {'never' if math.isnan(ttm) else f'{_minutes(ttm)} min'}; "
                      f"**time to resolve:** {'-' if math.isnan(ttr) else f'{_minutes(ttr)} min'}",
                      f"- **Return:** {m['return']:.2f}",
                      f"- **Severity:** {severity}{' ✗' if wrong else ' ✓'}",
                      "- **Root cause:** " + "; ".join(f"{c.spec.name} on {c.service}" for c in self.causes)]
        else:
            lines.append(f"- **Return so far:** {sum(st.record.reward for st in self.steps):.2f}")
        return lines

    def timeline(self) -> list[str]:
        services, g = self.layout.services(self.journal.opening), self.layout.globals(self.journal.opening)
        firing = [f"{', '.join(k for k, on in zip(ALERT_KINDS, services[i, ALERTS]) if on > 0.5)} on {name}"
                  for i, name in enumerate(self.names) if services[i, ALERTS].any()]
        reported = [name for i, name in enumerate(self.names) if services[i, SF["internal_report"]]]
        ticket = Ticket(int(one_hot_index(g, G_TICKET)))
        opening = [f"alerts firing: {'; '.join(firing) or 'none'}", f"customer ticket: {_label(ticket.name)}"]
        if reported:
            opening.append(f"another team reports {', '.join(reported)}")
        if self.ended:
            causes = [c for c in self.causes if c.spec.ticket == ticket]
            opening[1] += " (matches the root cause)" if causes else " (misleading)"
            opening.append(f"users hurt: {self.journal.opening_impact:.0%}")
        header = ["t+ min", "action", "min", "result", "reward"] + (["users hurt after"] if self.ended else [])
        rows = [[_minutes(st.record.started), st.name, _minutes(st.record.minutes), self._result(st),
                 f"{st.record.reward:.2f}"] + ([f"{st.record.impact:.0%}"] if self.ended else [])
                for st in self.steps]
        return ["## Timeline", "", f"**t+0, the incident opens:** {' · '.join(opening)}.", "",
                *_table(header, rows), "",
                f"Simulated clock {'at the end' if self.ended else 'now'}: t+{_minutes(float(self.s.time[0]))} min"
                + (" (a resolution runs the post-resolution window)." if any(
                    st.kind == ActionKind.RESOLVE and not st.record.invalid for st in self.steps) else ".")]

    def evidence(self) -> list[str]:
        items = []
        for st in self.steps:
            f = st.finding
            if not f.evidence:
                continue
            where = f"t+{_minutes(st.record.started)} · {st.name}"
            pointed = f" → {'points to ' if f.suspects else ''}{f.hint}{self._on_cause(f.suspects)}" if f.hint else ""
            items.append(f"{where}: {f.text}{pointed}")
        return ["## Evidence", "", *_bullets(items, "No evidence was gathered.")]

    def remedies(self) -> list[str]:
        rows = []
        for st in self.steps:
            if st.kind not in INTERVENTIONS or st.record.invalid:
                continue
            row = [_minutes(st.record.started), st.name]
            if self.ended:
                row += [self._remedy_verdict(st), f"{st.impact_before:.0%} → {st.record.impact:.0%}"]
            rows.append(row)
        header = ["t+ min", "remedy"] + (["verdict", "users hurt"] if self.ended else [])
        return ["## Remedies", "", *(_table(header, rows) if rows else ["No remedy was applied."])]

    def validation(self) -> list[str]:
        items = [f"t+{_minutes(st.record.started)}: validation {st.finding.text}" for st in self.steps
                 if st.kind == ActionKind.VALIDATE and not st.record.invalid]
        resolved = [st for st in self.steps if st.kind == ActionKind.RESOLVE and not st.record.invalid]
        for st in resolved:
            window = _minutes(self.scenario.post_resolution_minutes)
            outcome = ("it held" if self.metrics["resolved_and_held"] else "it did **not** hold: reopened")
            items.append(f"t+{_minutes(st.record.started)}: resolved; over the {window}-minute window after, {outcome}")
        if resolved and not self.metrics["validated"]:
            items.append("closed without a healthy validation just before")
        return ["## Validation", "", *_bullets(items, "No validation and no resolution.")]

    def impact(self) -> list[str]:
        if not self.ended:
            return ["## Impact", "", WITHHELD]
        m = self.metrics
        last = self.steps[-1].record.impact if self.steps else self.journal.opening_impact
        ttm = m["time_to_mitigate"]
        return ["## Impact", "",
                f"- User-impact minutes: {m['impact_minutes']:.1f} (share of requests hurt × minutes, "
                "the post-resolution window included)",
                f"- Peak share of requests hurt: {float(self.s.peak_impact[0]):.0%} "
                f"(true severity SEV{m['true_severity']})",
                f"- At the open: {self.journal.opening_impact:.0%}; at the end: {last:.0%}",
                f"- Mitigated (impact under the mitigation level) at: "
                f"{'never' if math.isnan(ttm) else f't+{_minutes(ttm)} min'}"]

    def root_cause(self) -> list[str]:
        if not self.ended:
            return ["## Root cause", "", WITHHELD]
        items = []
        for c in self.causes:
            first = next((st for st in self.steps if c.slot in st.finding.suspects and st.finding.evidence), None)
            fixed = next((st for st in self.steps if st.target == c.slot and st.kind in c.spec.lasting_fixes
                          and not st.record.invalid), None)
            seen = f"first implicated by {first.name} at t+{_minutes(first.record.started)}" if first else \
                "no evidence pointed to it"
            done = f"lasting fix applied: {fixed.name} at t+{_minutes(fixed.record.started)}" if fixed else \
                "no lasting fix applied"
            items.append(f"{c.describe()}. {seen[0].upper() + seen[1:]}; {done}.")
        return ["## Root cause (revealed)", "", *_bullets(items, "No fault.")]

    def mistakes(self) -> list[str]:
        items = []
        for key, (label, meaning) in MISTAKES.items():
            count = self.metrics.get(key, 0)
            if not count or (not self.ended and key != "invalid_actions"):
                continue
            which = MISTAKE_STEPS.get(key)
            at = [f"{st.name} at t+{_minutes(st.record.started)}" for st in self.steps
                  if which is not None and which(st.record, st.kind)]
            items.append(f"**{label}: {int(count)}** ({meaning})" + (f": {'; '.join(at)}" if at else ""))
        if self.ended:
            severity, wrong = self._severity()
            if wrong:
                items.append(f"**severity misjudged**: {severity}")
            if not self.metrics["resolved_and_held"] and not self.metrics["wrong_closures"]:
                items.append("**never resolved**")
        lines = _bullets(items, "None.")
        return ["## Mistakes", "", *lines] + ([] if self.ended else ["", "_Harmful actions, wrong closures and the "
                                                                      "severity are revealed when the episode ends._"])

    def markdown(self) -> str:
        title = f"# Incident report: `{self.scenario.name}`" if self.ended else "# Incident report (in progress)"
        sections = [[title], self.summary(), self.timeline(), self.evidence(), self.remedies(), self.validation(),
                    self.impact(), self.root_cause(), self.mistakes()]
        return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def incident_report(journal: Journal, s: State, scenario: Scenario, table: ActionTable, action_names: list[str],
                    ended: bool) -> str:
    """The post-incident report of the episode ``journal`` recorded (state ``s``, batch row 0), in
    Markdown. ``ended``: reveal the root cause, impact and harm (only once the episode is over)."""
    return _Report(journal, s, scenario, table, action_names, ended).markdown()
