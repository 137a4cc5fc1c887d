"""Which support team owns an incident: the ground truth that L1's category and routing are judged by.

A fault belongs to the team that owns its service (``vocabulary.KIND_TEAM``: the database team
owns a slow query, the UI team a bad frontend deploy), except the faults that belong to a team
whatever service they hit: an authentication failure is the auth team's, and the platform's
own troubles (capacity, disks, certificates, crashed caches, network blips) are infra's.
"""

from __future__ import annotations

from supportgym.contract.vocabulary import KIND_TEAM, ServiceKind, Team

#: Fault types owned by one team wherever they sit; every other fault goes to its service's owner.
FAULT_TEAM: dict[str, Team] = {
    "auth_failure": Team.AUTH,
    "expired_cert": Team.INFRA,
    "traffic_spike": Team.INFRA,
    "disk_full": Team.INFRA,
    "cache_failure": Team.INFRA,
    "transient_blip": Team.INFRA,
}


def team_of(fault_type: str, kind: ServiceKind | int) -> Team:
    """The team that owns a fault of ``fault_type`` on a service of ``kind``."""
    return FAULT_TEAM.get(fault_type, KIND_TEAM[ServiceKind(kind)])
