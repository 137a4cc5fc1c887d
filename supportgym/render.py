"""Text view of an episode: what the on-call engineer has on screen (never the hidden fault)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from supportgym.catalog import LogClass, Ticket
from supportgym.layout import ALERT_KINDS, GF, LOGS, METRIC, SF

if TYPE_CHECKING:
    from supportgym.env import IncidentEnv

_VALIDATION = {0: "not validated", 1: "healthy", 2: "UNHEALTHY"}


def render_ansi(env: IncidentEnv) -> str:
    s, names = env.state, env.scenario.topology.names
    if s is None:
        return "(no episode: call reset())\n"
    svc, g = s.svc_obs[0], s.glob_obs[0]
    declared = int(s.declared[0])
    lines = [
        f"=== supportgym incident · scenario {env.scenario.name} · t+{s.time[0]:.0f} min ===",
        f"tier L{int(s.tier[0])} · severity {'SEV' + str(declared) if declared else 'undeclared'} · "
        f"ticket: {Ticket(int(s.ticket[0])).name.lower().replace('_', ' ')} · "
        f"validation: {_VALIDATION[int(np.argmax(g[GF['validation_none']:GF['validation_none'] + 3]))]}",
        "",
        f"{'service':<14}{'alerts':<28}{'evidence'}",
    ]
    for i, name in enumerate(names):
        o = svc[i]
        alerts = ",".join(k for k, on in zip(ALERT_KINDS, o[SF["alert_errors"]:SF["alert_errors"] + 4]) if on) or "-"
        evidence = []
        if o[SF["metrics_fresh"]] > 0:
            m = o[METRIC]
            evidence.append(f"metrics err={m[0]:.0%} lat×{2 ** (m[1] * 5):.1f} cpu={m[2] * 2:.0%} "
                            f"mem={m[3]:.0%} pool={m[4]:.0%} disk={m[5]:.0%}")
        if o[SF["logs_fresh"]] > 0:
            evidence.append("logs " + LogClass(int(np.argmax(o[LOGS]))).name.lower())
        if o[SF["traces_fresh"]] > 0:
            evidence.append("traces: starts here" if o[SF["trace_origin_here"]] else "traces: downstream")
        if o[SF["trace_points_here"]]:
            evidence.append("a trace points here")
        if o[SF["changes_fresh"]] > 0:
            evidence.append(f"deploy {_age(s.time[0] - s.deploy_time[0, i])} ago, "
                            f"config {_age(s.time[0] - s.config_time[0, i])} ago")
        if o[SF["internal_report"]]:
            evidence.append("reported by another team")
        lines.append(f"{name:<14}{alerts:<28}{'; '.join(evidence)}")
    if env.timeline:
        lines += ["", "timeline:"]
        lines += [f"  t+{t:>4.0f}  {what}{'  (' + note + ')' if note else ''}" for t, what, note in env.timeline[-12:]]
    return "\n".join(lines) + "\n"


def _age(minutes: float) -> str:
    return f"{minutes:.0f}m" if minutes < 120 else f"{minutes / 60:.0f}h" if minutes < 2880 else f"{minutes / 1440:.0f}d"
