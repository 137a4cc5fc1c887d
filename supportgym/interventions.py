"""What each remedial action does to the hidden world when it completes.

A remedy acts on mechanisms, never on a fault label: a restart frees filled resources and
revives a crashed process, a rollback removes what the last change brought, a hotfix removes
the defects of a service, a scale-out adds capacity, a failover routes around a provider.
Whether that fixes the incident, relieves it for a while, or only does harm follows from
which mechanism is really behind the symptoms.
"""

from __future__ import annotations

import numpy as np

from supportgym.catalog import ACC_BASELINE, ACC_RESTART_RELIEF, SCALE_OUT_FACTOR, ActionKind, Defect
from supportgym.dynamics import restart_relieves
from supportgym.layout import DONE_BLOCK, SF
from supportgym.state import CONFIG, DEPLOY, NO_CHANGE, State

_DONE_STEP = 1.0 / 3.0  # a done_* feature counts up to three times
_DONE_COLUMN = {
    ActionKind.RESTART: SF["done_restarted"],
    ActionKind.ROLLBACK: SF["done_rolled_back"],
    ActionKind.SCALE_OUT: SF["done_scaled_out"],
    ActionKind.HOTFIX: SF["done_hotfixed"],
    ActionKind.FAILOVER: SF["done_failed_over"],
}
_FIXABLE_DEFECTS = np.array([d != Defect.PROVIDER_OUTAGE for d in Defect])
assert DONE_BLOCK.stop - DONE_BLOCK.start == len(_DONE_COLUMN)


def apply(s: State, kind: np.ndarray, target: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Complete the remedial actions of a step. Returns (B,) whether each action was harmful."""
    harmful = np.zeros(len(kind), dtype=bool)
    for action, effect in _EFFECTS.items():
        sel = valid & (kind == action)
        if sel.any():
            rows = np.flatnonzero(sel)
            services = target[rows]
            harmful[rows] = effect(s, rows, services)
            done = s.svc_obs[rows, services, _DONE_COLUMN[action]]
            s.svc_obs[rows, services, _DONE_COLUMN[action]] = np.minimum(done + _DONE_STEP, 1.0)
    return harmful


def _restart(s: State, rows: np.ndarray, services: np.ndarray) -> np.ndarray:
    helps = restart_relieves(s, rows, services)
    level = s.acc_level[rows, services]
    s.acc_level[rows, services] = np.maximum(level - ACC_RESTART_RELIEF, ACC_BASELINE)
    s.cache_down[rows, services] = 0.0
    return ~helps


def _rollback(s: State, rows: np.ndarray, services: np.ndarray) -> np.ndarray:
    latest = np.where(s.deploy_time[rows, services] >= s.config_time[rows, services], DEPLOY, CONFIG)
    fixes = ~s.reverted[rows, services] & (s.culprit_change[rows, services] == latest)
    fixed_rows, fixed_services = rows[fixes], services[fixes]
    s.defect[fixed_rows, fixed_services] *= ~s.culprit_defect[fixed_rows, fixed_services]
    leak = s.culprit_acc[fixed_rows, fixed_services]
    s.acc_rate[fixed_rows, fixed_services] *= ~leak
    s.acc_level[fixed_rows, fixed_services] = np.where(leak, ACC_BASELINE, s.acc_level[fixed_rows, fixed_services])
    s.culprit_change[fixed_rows, fixed_services] = NO_CHANGE
    # The rollback is itself a change, and leaves nothing further to revert.
    now = s.time[rows]
    is_deploy = latest == DEPLOY
    s.deploy_time[rows, services] = np.where(is_deploy, now, s.deploy_time[rows, services])
    s.config_time[rows, services] = np.where(is_deploy, s.config_time[rows, services], now)
    s.version[rows, services] -= is_deploy
    s.reverted[rows, services] = True
    return ~fixes


def _scale_out(s: State, rows: np.ndarray, services: np.ndarray) -> np.ndarray:
    s.scale[rows, services] *= SCALE_OUT_FACTOR
    return np.zeros(len(rows), dtype=bool)  # costs time, never hurts users


def _hotfix(s: State, rows: np.ndarray, services: np.ndarray) -> np.ndarray:
    defect = s.defect[rows, services]
    helps = ((defect > 0.02) & _FIXABLE_DEFECTS).any(axis=-1) | (s.acc_rate[rows, services] > 0).any(axis=-1)
    helps |= restart_relieves(s, rows, services)
    s.defect[rows, services] = np.where(_FIXABLE_DEFECTS, 0.0, defect)
    s.acc_rate[rows, services] = 0.0
    s.acc_level[rows, services] = np.minimum(s.acc_level[rows, services], ACC_BASELINE)
    s.cache_down[rows, services] = 0.0
    s.culprit_change[rows, services] = NO_CHANGE
    s.version[rows, services] += 1
    s.deploy_time[rows, services] = s.time[rows]
    s.reverted[rows, services] = False
    return ~helps


def _failover(s: State, rows: np.ndarray, services: np.ndarray) -> np.ndarray:
    helps = s.defect[rows, services, Defect.PROVIDER_OUTAGE] > 0.02
    s.defect[rows, services, Defect.PROVIDER_OUTAGE] = 0.0
    return ~helps


_EFFECTS = {
    ActionKind.RESTART: _restart,
    ActionKind.ROLLBACK: _rollback,
    ActionKind.SCALE_OUT: _scale_out,
    ActionKind.HOTFIX: _hotfix,
    ActionKind.FAILOVER: _failover,
}
