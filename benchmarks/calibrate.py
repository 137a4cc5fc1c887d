"""Calibration: a suite's root-cause mix and the oracle's remedies beside Ghosh et al. (SoCC 2022).

    python benchmarks/calibrate.py                          # standard: 20,000 draws, oracle on 2,000
    python benchmarks/calibrate.py --suite hard --episodes 50000 --oracle-episodes 5000

**Root causes.** It resets the environment with seeds ``seed .. seed + episodes - 1`` (the suite's
weighted draw, as in training) and reads each episode's hidden faults (a calibration script may;
agents may not). Each fault counts under its root-cause category: the fault type's own
(``supportgym/world/faults.py``) unless its suite entry files it under another allowed one
(``category:``, see ``world.faults.FAULT_CATEGORIES``); the table printed first states the
mapping. An episode with two faults counts half under each. The mix is printed beside the
152 Microsoft Teams incidents of Ghosh et al.; the exit status is 1 if a category is more than
``--tolerance`` percentage points away.

**Remedies.** The oracle (which reads the hidden fault and applies the cheapest lasting remedy)
plays ``--oracle-episodes`` of those episodes. An episode's mitigation is the set of remedies it
applied (each of k counts 1/k); none means the trouble was waited out. Mapped to the paper's
mitigation classes: a rollback is a *rollback*; a scale-out, a failover (the paper counts traffic
failover here) and a restart of infrastructure (a cache, database or queue) are an
*infrastructure change*; a hotfix is a *code or config fix*; a restart of an application service
and waiting are neither. The paper's figures are given for rollback (22.4%) and infrastructure
change (21.1%); the exit status is also 1 if either is more than ``--remedy-tolerance`` points
away. Which faults a recent change brought (so a rollback fixes them) and which shipped long ago
(``latent_bug``, ``latent: true``) is what sets the rollback share.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

import gymnasium as gym

import supportgym  # registers the environment
from agents.oracle import OracleAgent
from supportgym.contract.vocabulary import DEFAULT_MAX_SERVICES, INTERVENTIONS, ActionKind, ServiceKind
from supportgym.suite import Suite, category_of
from supportgym.suite.generator import GHOSH_MITIGATIONS, GHOSH_ROOT_CAUSES
from supportgym.world.faults import FAULT_CATEGORIES, FAULT_NAMES

#: Kinds whose restart is an infrastructure change rather than an application restart.
INFRASTRUCTURE = (ServiceKind.DATABASE, ServiceKind.CACHE, ServiceKind.QUEUE)
#: Remedy label -> the paper's mitigation class.
MITIGATION_OF = {
    "rollback": "rollback",
    "scale out": "infrastructure change",
    "failover": "infrastructure change",
    "restart (infrastructure)": "infrastructure change",
    "hotfix": "code or config fix",
    "restart (application)": "application restart",
    "none (waited out)": "none (self-healed or provider fixed)",
}


def make_env(suite: str) -> gym.Env:
    slots = max(DEFAULT_MAX_SERVICES, supportgym.load_suite(suite).max_services)
    return gym.make("supportgym/Incident-v1", suite=suite, max_services=slots)


def root_cause_mix(suite: str, episodes: int, seed: int = 0) -> dict[str, float]:
    """Share (%) of each root-cause category over ``episodes`` weighted draws of the suite."""
    env = make_env(suite)
    counts: Counter[str] = Counter()
    for i in range(episodes):
        env.reset(seed=seed + i)
        u = env.unwrapped
        active = [k for k in range(u.state.fault_type.shape[1]) if u.state.fault_type[0, k] >= 0]
        for k in active:
            entry = u.scenario.faults[k]
            assert FAULT_NAMES[u.state.fault_type[0, k]] == entry.type  # fault k is the scenario's entry k
            counts[category_of(entry)] += 1.0 / len(active)
    return {c: 100.0 * counts[c] / episodes for c in GHOSH_ROOT_CAUSES}


def expected_mix(suite: Suite) -> dict[str, float]:
    """The root-cause mix (%) the suite's scenario weights imply."""
    counts: Counter[str] = Counter()
    for scenario, weight in zip(suite.scenarios, suite.weights):
        for entry in scenario.faults:
            counts[category_of(entry)] += 100.0 * weight / len(scenario.faults)
    return {c: counts[c] for c in GHOSH_ROOT_CAUSES}


def remedy_mix(suite: str, episodes: int, seed: int = 0) -> tuple[dict[str, float], float]:
    """Share (%) of each remedy in the oracle's mitigations, and the share of resolutions that held."""
    env = make_env(suite)
    oracle = OracleAgent(env)
    counts: Counter[str] = Counter()
    held = 0
    for i in range(episodes):
        env.reset(seed=seed + i)
        u = env.unwrapped
        used: set[str] = set()
        while True:
            action = oracle.next_action()
            kind, service = ActionKind(int(u.table.kind[action])), int(u.table.service[action])
            if kind in INTERVENTIONS:
                used.add(_remedy_label(kind, ServiceKind(int(u.scenario.topology.kinds[service]))))
            _, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                held += bool(info["episode_metrics"]["resolved_and_held"])
                break
        used = used or {"none (waited out)"}
        for label in used:
            counts[label] += 1.0 / len(used)
    return {label: 100.0 * counts[label] / episodes for label in MITIGATION_OF}, 100.0 * held / episodes


def _remedy_label(kind: ActionKind, target: ServiceKind) -> str:
    if kind == ActionKind.RESTART:
        return "restart (infrastructure)" if target in INFRASTRUCTURE else "restart (application)"
    return {ActionKind.ROLLBACK: "rollback", ActionKind.SCALE_OUT: "scale out", ActionKind.HOTFIX: "hotfix",
            ActionKind.FAILOVER: "failover"}[kind]


def mitigation_mix(remedies: dict[str, float]) -> dict[str, float]:
    out: Counter[str] = Counter()
    for label, share in remedies.items():
        out[MITIGATION_OF[label]] += share
    return dict(out)


def _mapping_table() -> list[str]:
    lines = [f"{'fault type':<17} {'category':<20} also allowed with `category:`", "-" * 72]
    for fault, categories in FAULT_CATEGORIES.items():
        lines.append(f"{fault:<17} {categories[0]:<20} {', '.join(categories[1:]) or '-'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="standard", help="built-in suite name or suite file (default standard)")
    parser.add_argument("--episodes", type=int, default=20_000, help="weighted draws for the root-cause mix")
    parser.add_argument("--oracle-episodes", type=int, default=2_000, help="oracle episodes for the remedy mix")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--tolerance", type=float, default=2.0, help="allowed gap per category, in points")
    parser.add_argument("--remedy-tolerance", type=float, default=5.0,
                        help="allowed gap per mitigation class the paper gives, in points")
    args = parser.parse_args(argv)

    suite = supportgym.load_suite(args.suite)
    print("\n".join(_mapping_table()))

    sampled = root_cause_mix(args.suite, args.episodes, args.seed)
    expected = expected_mix(suite)
    print(f"\nRoot causes of suite {suite.name!r}: {args.episodes:,} episodes (seeds {args.seed}.."
          f"{args.seed + args.episodes - 1}) beside Ghosh et al., SoCC 2022 (152 incidents)")
    print(f"{'category':<20}{'weights %':>10}{'sampled %':>11}{'Ghosh %':>9}{'gap':>7}")
    worst = 0.0
    for category, paper in GHOSH_ROOT_CAUSES.items():
        gap = sampled[category] - paper
        worst = max(worst, abs(gap))
        flag = "" if abs(gap) <= args.tolerance else "  <- off"
        print(f"{category:<20}{expected[category]:>10.1f}{sampled[category]:>11.1f}{paper:>9.1f}{gap:>+7.1f}{flag}")
    print(f"largest gap {worst:.2f} points (tolerance {args.tolerance:g})")

    remedies, held = remedy_mix(args.suite, args.oracle_episodes, args.seed)
    mitigations = mitigation_mix(remedies)
    print(f"\nOracle remedies on {args.oracle_episodes:,} of those episodes ({held:.1f}% resolved and held)")
    print(f"{'remedy':<26}{'oracle %':>9}   paper's mitigation class")
    for label, share in remedies.items():
        print(f"{label:<26}{share:>9.1f}   {MITIGATION_OF[label]}")
    print(f"\n{'mitigation class':<38}{'oracle %':>9}{'Ghosh %':>9}{'gap':>7}")
    for cls, share in mitigations.items():
        paper = GHOSH_MITIGATIONS.get(cls)
        if paper is None:
            print(f"{cls:<38}{share:>9.1f}{'-':>9}")
            continue
        flag = "" if abs(share - paper) <= args.remedy_tolerance else "  <- off"
        print(f"{cls:<38}{share:>9.1f}{paper:>9.1f}{share - paper:>+7.1f}{flag}")
    worst_remedy = remedy_gap(mitigations)
    print(f"largest gap {worst_remedy:.2f} points (tolerance {args.remedy_tolerance:g})")
    return 0 if worst <= args.tolerance and worst_remedy <= args.remedy_tolerance else 1


def remedy_gap(mitigations: dict[str, float]) -> float:
    """The largest gap (points) between the oracle's mitigation mix and the paper's, over the
    classes the paper gives (GHOSH_MITIGATIONS)."""
    return max(abs(mitigations.get(cls, 0.0) - paper) for cls, paper in GHOSH_MITIGATIONS.items())


if __name__ == "__main__":
    sys.exit(main())
