"""Text view of an episode: what the on-call engineer has on screen (never the hidden fault)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from supportgym.contract.observation import (
    ALERTS,
    CUSTOMER_ANSWERS,
    G_CUSTOMER,
    G_VALIDATION,
    LOGS,
    M_DISK,
    M_ERROR_RATE,
    M_LATENCY,
    M_MEMORY,
    M_POOL,
    M_UTILISATION,
    METRIC,
    SF,
    decode_latency,
    decode_utilisation,
)
from supportgym.contract.vocabulary import ALERT_KINDS, LogClass, Team, Ticket
from supportgym.world.state import State

#: How a person reads the last validation result, by ``VALIDATION_RESULTS`` index (render, picture, report).
VALIDATION_WORDS = ("not validated", "healthy", "UNHEALTHY")


def render_ansi(s: State | None, scenario: str | None, names: Sequence[str],
                timeline: Sequence[tuple[float, str, str]]) -> str:
    """Row 0 of ``s`` as text: desk, alerts and evidence per service of ``names``, the recent timeline.
    ``scenario`` is None while the episode runs: names say the fault."""
    if s is None:
        return "(no episode: call reset())\n"
    svc, g = s.svc_obs[0], s.glob_obs[0]
    declared = int(s.declared[0])
    lines = [
        f"=== supportgym incident{f' · scenario {scenario}' if scenario else ''} · t+{s.time[0]:.0f} min ===",
        f"tier L{int(s.tier[0])} · severity {'SEV' + str(declared) if declared else 'undeclared'} · "
        f"ticket: {Ticket(int(s.ticket[0])).name.lower().replace('_', ' ')} · "
        f"with team {Team(int(s.routed[0])).name} · "
        f"filed as {Team(int(s.category[0])).name if s.category[0] >= 0 else '-'} · "
        f"validation: {VALIDATION_WORDS[int(np.argmax(g[G_VALIDATION]))]} · "
        f"customer: {CUSTOMER_ANSWERS[int(np.argmax(g[G_CUSTOMER]))]}",
        "",
        f"{'service':<14}{'alerts':<28}{'evidence'}",
    ]
    for i, name in enumerate(names):
        o = svc[i]
        alerts = ",".join(k for k, on in zip(ALERT_KINDS, o[ALERTS]) if on) or "-"
        evidence = []
        if o[SF["metrics_fresh"]] > 0:
            m = o[METRIC]
            evidence.append(f"metrics err={m[M_ERROR_RATE]:.0%} lat×{decode_latency(m[M_LATENCY]):.1f} "
                            f"cpu={decode_utilisation(m[M_UTILISATION]):.0%} "
                            f"mem={m[M_MEMORY]:.0%} pool={m[M_POOL]:.0%} disk={m[M_DISK]:.0%}")
        if o[SF["logs_fresh"]] > 0:
            evidence.append("logs " + LogClass(int(np.argmax(o[LOGS]))).name.lower())
        if o[SF["traces_fresh"]] > 0:
            evidence.append("traces: starts here" if o[SF["trace_origin_here"]] else "traces: downstream")
        if o[SF["trace_points_here"]]:
            evidence.append("a trace points here")
        if o[SF["changes_fresh"]] > 0:
            evidence.append(f"deploy {age_text(s.time[0] - s.deploy_time[0, i])} ago, "
                            f"config {age_text(s.time[0] - s.config_time[0, i])} ago")
        if o[SF["reproduce_fresh"]] > 0:
            evidence.append(f"reproduced: {o[SF['repro_failed']]:.0%} of requests fail")
        if o[SF["repro_hop"]]:
            evidence.append("a reproduction fails here")
        if o[SF["internal_report"]]:
            evidence.append("reported by another team")
        lines.append(f"{name:<14}{alerts:<28}{'; '.join(evidence)}")
    if timeline:
        lines += ["", "timeline:"]
        lines += [f"  t+{t:>4.0f}  {what}{'  (' + note + ')' if note else ''}" for t, what, note in timeline[-12:]]
    return "\n".join(lines) + "\n"


def age_text(minutes: float) -> str:
    """Minutes as a short age: ``42m``, ``5h``, ``3d``."""
    if minutes < 120:
        return f"{minutes:.0f}m"
    return f"{minutes / 60:.0f}h" if minutes < 2880 else f"{minutes / 1440:.0f}d"
