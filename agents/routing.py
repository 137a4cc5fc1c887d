"""Which team an L1 engineer files a ticket under, from what L1 can see.

Two readings of the same desk: the runbook's (the customer's complaint names the team) and the
expert's (the routing stands unless the complaint and the alerts clearly name another team).
Both read the observation only.
"""

from __future__ import annotations

from agents.view import View
from supportgym.contract.observation import G_TICKET, one_hot_index
from supportgym.contract.vocabulary import ALERT_DOWN, ServiceKind, Team, Ticket

#: The runbook's routing table: the team each kind of complaint goes to.
TICKET_TEAM: dict[Ticket, Team] = {
    Ticket.NONE: Team.API,
    Ticket.APP_SLOW: Team.INFRA,
    Ticket.ERRORS: Team.API,
    Ticket.LOGIN_FAILS: Team.AUTH,
    Ticket.PAYMENT_ERRORS: Team.API,
}


def ticket(view: View) -> Ticket:
    return Ticket(int(one_hot_index(view.g, G_TICKET)))


def team_by_ticket(view: View) -> Team:
    """The runbook's reading: the complaint names the team."""
    return TICKET_TEAM[ticket(view)]


def team_by_alerts(view: View) -> Team:
    """The expert's reading: the routing is right more often than not, so it stands unless the
    desk clearly says otherwise. Logins failing are auth's; a cache that is down is the
    platform's (infra); a payment provider's errors are the API team's, which owns the
    integration."""
    complaint = ticket(view)
    if complaint == Ticket.LOGIN_FAILS:
        return Team.AUTH
    caches_down = view.alerts[:, ALERT_DOWN] & (view.kind == ServiceKind.CACHE)
    if caches_down.any():
        return Team.INFRA
    providers = view.alerting & (view.kind == ServiceKind.EXTERNAL)
    if complaint == Ticket.PAYMENT_ERRORS and providers.any():
        return Team.API
    return view.routed
