"""What each remedial action does to the hidden world when it completes.

A remedy acts on mechanisms, never on a fault label:

* **restart**: the service is down while it restarts (``CAPACITY_DURING``); then filled
  resources (memory, connection pool) return to their baseline, a disk loses only its temporary
  files, and a crashed cache comes back. A leak keeps leaking, so its symptoms return.
* **rollback**: reverts the service's latest change (deploy or config, whichever is newer).
  If that change brought a defect or a leak, they go; otherwise it is a risky change for
  nothing. A rolled-back service has nothing more to revert.
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

from supportgym.kernels import interventions_kernel
from supportgym.state import State


def apply(s: State, kind: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Complete the remedial actions among ``kind`` (B,) on ``target`` (B,). Returns (B,) harmful."""
    harmful = np.zeros(len(kind), dtype=bool)
    interventions_kernel(kind, target, s.time, s.acc_level, s.acc_rate, s.defect, s.cache_down, s.scale,
                         s.deploy_time, s.config_time, s.version, s.reverted, s.culprit_change, s.culprit_defect,
                         s.culprit_acc, s.svc_obs, s.validated, harmful)
    return harmful
