"""Reports of an evaluation: the console and Markdown tables, ``results.json`` and the CSVs.

``results.json``: suite, episodes, seed, max_services, bootstrap_resamples, references,
requested and per agent its summary (``evaluation.summary``); ``results.csv``: one row per
agent; ``episodes.csv``: one row per agent and episode; ``results.md``: the Markdown tables.
Agents run only as references (not requested) are marked so in the tables.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from evaluation.play import EPISODE_FIELDS, EpisodePlan, Record
from evaluation.statistics import REFERENCES
from evaluation.summary import FLAT_KEYS, Summary, flat

HEADER = ["agent", "score", "95% CI", "IQM", "IQM 95% CI", "resolved+held", "time to resolve", "impact min",
          "harmful", "escalations", "wrong closures", "return"]
FILES = ("results.json", "results.csv", "episodes.csv", "results.md")


def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def summary_rows(summary: dict[str, Summary], shown: list[str], requested: list[str]) -> list[list[str]]:
    """One table row per agent shown."""
    rows = []
    for spec in shown:
        s = summary[spec]
        label = spec if spec in requested else f"{spec} (reference)"
        rows.append([label, _fmt(s["score"]), f"[{_fmt(s['score_ci'][0])}, {_fmt(s['score_ci'][1])}]",
                     _fmt(s["iqm"]), f"[{_fmt(s['iqm_ci'][0])}, {_fmt(s['iqm_ci'][1])}]",
                     _fmt(100 * s["resolve_rate"], ".0f") + "%", _fmt(s["mean_time_to_resolve"]),
                     _fmt(s["impact_minutes"]), _fmt(s["harmful_actions"], ".2f"), _fmt(s["escalations"], ".2f"),
                     _fmt(s["wrong_closures"], ".2f"), _fmt(s["mean_return"], ".2f")])
    return rows


def scenario_rows(summary: dict[str, Summary], shown: list[str]) -> tuple[list[str], list[list[str]]]:
    """The per-scenario score table: its header and rows."""
    scenarios = list(summary[shown[0]]["per_scenario"])
    header = ["scenario", "episodes", *shown]
    rows = [[c, str(summary[shown[0]]["per_scenario"][c]["episodes"]),
             *(_fmt(summary[s]["per_scenario"][c]["score"]) for s in shown)] for c in scenarios]
    return header, rows


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    align = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"
    return "\n".join(["| " + " | ".join(header) + " |", align, *("| " + " | ".join(r) + " |" for r in rows)])


def console(plan: EpisodePlan, summary: dict[str, Summary], shown: list[str], requested: list[str]) -> str:
    """What the command line prints: the agents' table and the per-scenario table."""
    last = plan.seed + plan.episodes - 1
    return "\n".join([f"suite {plan.suite}: {plan.episodes} episodes per agent, seeds {plan.seed}..{last}; "
                      "normalised score 0 = random, 100 = oracle; 95% stratified-bootstrap CIs",
                      text_table(HEADER, summary_rows(summary, shown, requested)), "",
                      text_table(*scenario_rows(summary, shown))])


def cannot_write(out: Path) -> str | None:
    """Why reports cannot go to the directory ``out``, or None if they can (checked before any
    episode runs, so that a bad ``--out`` costs nothing)."""
    existing = next(d for d in (out, *out.absolute().parents) if d.exists())
    if not existing.is_dir():
        return "is a file, not a directory" if existing == out else f"{existing} is a file, not a directory"
    return None if os.access(existing, os.W_OK) else f"{existing} is not writable"


def write_reports(out: Path, plan: EpisodePlan, reps: int, requested: list[str], shown: list[str],
                  results: dict[str, list[Record]], summary: dict[str, Summary]) -> None:
    """``FILES`` in the directory ``out`` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"suite": plan.suite, "episodes": plan.episodes, "seed": plan.seed,
                           "max_services": plan.max_services, "bootstrap_resamples": reps,
                           "references": list(REFERENCES), "requested": requested,
                           "agents": {s: summary[s] for s in shown}}
    (out / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["agent", *FLAT_KEYS])
        for s in shown:
            w.writerow([s, *("" if v is None else v for v in flat(summary[s]).values())])
    with open(out / "episodes.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["agent", "episode", "seed", *EPISODE_FIELDS])
        for s in shown:
            for r in results[s]:
                w.writerow([s, r["episode"], r["seed"], *(r[k] for k in EPISODE_FIELDS)])
    md = [f"# supportgym evaluation: suite `{plan.suite}`", "",
          f"{plan.episodes} episodes (seeds {plan.seed}..{plan.seed + plan.episodes - 1}); normalised score: "
          "0 = random, 100 = oracle (per scenario); 95% CIs from a stratified bootstrap over episodes "
          f"({reps} resamples).", "", markdown_table(HEADER, summary_rows(summary, shown, requested)), "",
          "## Normalised score per scenario", "", markdown_table(*scenario_rows(summary, shown)), ""]
    (out / "results.md").write_text("\n".join(md))
