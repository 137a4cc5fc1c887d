"""Stage 4, action: what the chosen action is, how long it takes, and what remedies do.

``decode`` turns flat action indices into (kind, target, minutes), a masked action into a no-op
that costs a minute. A remedy acts on mechanisms, never on a fault label:

* **restart**: the service is down while it restarts (``CAPACITY_DURING``); then filled
  resources (memory, connection pool) return to their baseline, a disk loses only its temporary
  files, and a crashed cache comes back. A leak keeps leaking, so its symptoms return.
* **rollback**: reverts the service's latest change (deploy or config, whichever is newer).
  If that change brought a defect or a leak, they go; otherwise (an unrelated change, or the
  old deploy of a latent bug that shipped long ago) it is a risky change for nothing. A
  rolled-back service has nothing more to revert.
* **hotfix** (L3): removes every defect and leak of the service and cleans up its resources;
  it cannot fix a third-party provider or add capacity.
* **scale out**: doubles the service's capacity; never harmful, only time.
* **failover**: switches a provider with a configured secondary away from its outage.

Whether that fixes the incident, relieves it for a while, or only does harm follows from which
mechanism is really behind the symptoms. An action is *harmful* when it had nothing to act on:
a restart with nothing to relieve, a rollback of an innocent change, a hotfix of a healthy
service, a failover away from a healthy provider.
"""

from __future__ import annotations

import numpy as np

from supportgym.compiled import kernel, stamp_cache
from supportgym.contract.observation import DONE_FEATURE, DONE_STEP
from supportgym.contract.vocabulary import (
    ACTION_MINUTES,
    CAPACITY_DURING,
    ESCALATION_MINUTES,
    INTERVENTIONS,
    INVALID_ACTION_MINUTES,
    MISFILED_MINUTES,
    MISROUTE_MINUTES,
    SCALE_OUT_FACTOR,
    ActionKind,
)
from supportgym.threads import row_ranges, run_ranges, splits
from supportgym.world.mechanisms import ACC_BASELINE, ACC_RESTART_RELIEF, CONFIG, DEPLOY, NO_CHANGE, Defect
from supportgym.world.params import Params
from supportgym.world.state import State


def by_kind(kinds: frozenset[int]) -> np.ndarray:
    """Per action kind, whether it is one of ``kinds``, for compiled lookups; the last entry is a
    masked action's (NOOP, -1)."""
    return np.array([k in kinds for k in range(len(ActionKind))] + [False])


# Plain ints: compiled code sees them as constants.
RESTART, ROLLBACK, SCALE_OUT = int(ActionKind.RESTART), int(ActionKind.ROLLBACK), int(ActionKind.SCALE_OUT)
HOTFIX, FAILOVER = int(ActionKind.HOTFIX), int(ActionKind.FAILOVER)
ESCALATE, VALIDATE = int(ActionKind.ESCALATE), int(ActionKind.VALIDATE)
NOOP = -1  # the kind of a masked action: it does nothing but cost a minute
PROVIDER_OUTAGE = int(Defect.PROVIDER_OUTAGE)
#: The action kinds that change the world when they complete.
KINDS = frozenset(int(k) for k in INTERVENTIONS)
#: Indexed by kind (NOOP = -1 reads the last entry, False): whether it is one of ``KINDS``.
INTERVENES = by_kind(KINDS)
#: Kinds that take capacity from their target while they run (a restart takes it down).
DISRUPTIVE = frozenset(int(k) for k in ActionKind if CAPACITY_DURING[k] < 1.0)
#: The observation's done_* column of each action kind, -1 for non-remedies.
DONE_COLUMN = np.full(len(ActionKind), -1)
for _kind, _column in DONE_FEATURE.items():
    DONE_COLUMN[_kind] = _column
#: Intensity above which a hotfix or failover has a defect to remove (else it is harmful).
ACTS_ON = 0.02
#: Level above its baseline from which a restart has a filled resource to relieve.
RELIEVABLE = 0.1


#: Rows of masks worth a thread (a row is ~0.1 µs of work; a handoff ~100 µs: ``supportgym.threads``).
MASK_ROWS_PER_THREAD = 2048


def allowed(p: Params, s: State, threads: int = 1) -> np.ndarray:
    """(B, A) bool: each row's ``Params.mask_table`` entry at its tier and declared severity (a
    large batch in ranges of rows on up to ``threads`` threads)."""
    out = np.empty((len(s.tier), p.mask_table.shape[-1]), dtype=np.bool_)
    if splits(len(out), threads, MASK_ROWS_PER_THREAD):
        run_ranges(lambda start, stop: allowed_range(p, s, start, stop, out),
                   row_ranges(len(out), threads, MASK_ROWS_PER_THREAD))
    else:
        allowed_range(p, s, 0, len(out), out)
    return out


def allowed_range(p: Params, s: State, start: int, stop: int, out: np.ndarray) -> None:
    """``allowed`` of rows ``start:stop``, written to those rows of ``out`` (B, A)."""
    if start == 0 and stop == len(out):  # (a small batch's every step: no slices)
        _allowed_kernel(p.mask_table, s.param_row, s.tier, s.declared, out)
        return
    part = slice(start, stop)
    _allowed_kernel(p.mask_table, s.param_row[part], s.tier[part], s.declared[part], out[part])


def allowed_rows(p: Params, s: State, rows: np.ndarray | int) -> np.ndarray:
    """``allowed`` of ``rows`` only (a read-only view for one row): what a single env's every step
    and a vector env's ended rows need, without a pass over the batch."""
    return p.mask_table[s.param_row[rows], s.tier[rows] - 1, s.declared[rows]]


@kernel
def _allowed_kernel(mask_table, param_row, tier, declared, out):  # pragma: no cover - compiled
    for b in range(out.shape[0]):
        out[b] = mask_table[param_row[b], tier[b] - 1, declared[b]]


@kernel
def decode_kernel(actions, tier, declared, routed, category, true_team, mask_table, table_kind, table_service,
                  validate_minutes, param_row, kind, target, valid, minutes,
                  capacity_during):  # pragma: no cover - compiled
    """Kind (NOOP if masked), target, minutes it takes, and the capacity its target keeps while
    it runs. An escalation's hand-off is slower while the ticket is misrouted or misfiled
    (``stages.triage``). Returns how many were masked."""
    masked = 0
    for b in range(actions.shape[0]):
        a = actions[b]
        ok = mask_table[param_row[b], tier[b] - 1, declared[b], a]
        k = table_kind[a] if ok else NOOP
        valid[b] = ok
        kind[b] = k
        target[b] = table_service[a]
        if not ok:
            masked += 1
            minutes[b] = INVALID_ACTION_MINUTES
            capacity_during[b] = 1.0
            continue
        if k == ESCALATE:
            minutes[b] = ESCALATION_MINUTES[declared[b]]
            if routed[b] != true_team[b]:
                minutes[b] += MISROUTE_MINUTES
            elif category[b] != true_team[b]:
                minutes[b] += MISFILED_MINUTES
        elif k == VALIDATE:
            minutes[b] = validate_minutes[param_row[b]]
        else:
            minutes[b] = ACTION_MINUTES[k]
        capacity_during[b] = CAPACITY_DURING[k]
    return masked


@kernel
def remedies_kernel(
    kind, target, time, acc_level, acc_rate, defect, cache_down, scale, deploy_time, config_time, version,
    reverted, culprit_change, culprit_defect, culprit_acc, svc_obs, validated, harmful,
):  # pragma: no cover - compiled
    """Complete the remedial action of each row; set ``harmful``."""
    for b in range(kind.shape[0]):
        k, i = kind[b], target[b]
        if k < 0 or DONE_COLUMN[k] < 0:
            continue
        validated[b] = False  # a change makes any earlier validation stale
        svc_obs[b, i, DONE_COLUMN[k]] = min(svc_obs[b, i, DONE_COLUMN[k]] + DONE_STEP, 1.0)  # counts to three
        if k == RESTART:
            helps = _restart_relieves(acc_level[b, i], cache_down[b, i])
            for a in range(acc_level.shape[2]):
                acc_level[b, i, a] = max(acc_level[b, i, a] - ACC_RESTART_RELIEF[a], ACC_BASELINE[a])
            cache_down[b, i] = 0.0
            harmful[b] = not helps
        elif k == ROLLBACK:
            latest = DEPLOY if deploy_time[b, i] >= config_time[b, i] else CONFIG
            fixes = not reverted[b, i] and culprit_change[b, i] == latest
            if fixes:
                for d in range(defect.shape[2]):
                    if culprit_defect[b, i, d]:
                        defect[b, i, d] = 0.0
                for a in range(acc_level.shape[2]):
                    if culprit_acc[b, i, a]:
                        acc_rate[b, i, a] = 0.0
                        acc_level[b, i, a] = ACC_BASELINE[a]
                culprit_change[b, i] = NO_CHANGE
            # the rollback is itself a change, and leaves nothing further to revert
            if latest == DEPLOY:
                deploy_time[b, i] = time[b]
                version[b, i] -= 1
            else:
                config_time[b, i] = time[b]
            reverted[b, i] = True
            harmful[b] = not fixes
        elif k == SCALE_OUT:
            scale[b, i] *= SCALE_OUT_FACTOR
            harmful[b] = False  # costs time, never hurts users
        elif k == HOTFIX:
            helps = _restart_relieves(acc_level[b, i], cache_down[b, i])
            for d in range(defect.shape[2]):
                if d != PROVIDER_OUTAGE:
                    helps = helps or defect[b, i, d] > ACTS_ON
                    defect[b, i, d] = 0.0
            for a in range(acc_level.shape[2]):
                helps = helps or acc_rate[b, i, a] > 0.0
                acc_rate[b, i, a] = 0.0
                acc_level[b, i, a] = min(acc_level[b, i, a], ACC_BASELINE[a])
            cache_down[b, i] = 0.0
            culprit_change[b, i] = NO_CHANGE
            version[b, i] += 1
            deploy_time[b, i] = time[b]
            reverted[b, i] = False
            harmful[b] = not helps
        elif k == FAILOVER:
            harmful[b] = not defect[b, i, PROVIDER_OUTAGE] > ACTS_ON
            defect[b, i, PROVIDER_OUTAGE] = 0.0


@kernel
def _restart_relieves(acc_level, cache_down):  # pragma: no cover - compiled
    """A restart has something to relieve: a crashed process or a filled resource."""
    if cache_down > 0.0:
        return True
    for a in range(acc_level.shape[0]):
        if acc_level[a] - ACC_BASELINE[a] > RELIEVABLE:
            return True
    return False


stamp_cache(__file__, globals())
