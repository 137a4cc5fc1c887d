"""The expert's playbook: what a log signature at the root calls for.

Each :class:`Page` names the channel that corroborates a signature (read first) and lines read
top to bottom, like a runbook page: the first line whose condition holds on the evidence says
what to do — a remedy, a further look, or waiting out a blip. No line applying means the
evidence explains nothing, and the expert looks elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from agents.casebook import Casebook, Outwait
from agents.view import View
from supportgym.contract.observation import encode_recency
from supportgym.contract.vocabulary import BUSY_UTILISATION, ActionKind, LogClass, ServiceKind

A = ActionKind
L = LogClass
#: A change is the likely culprit if it came within three hours.
RECENT_MINUTES = 180.0
#: Readings that corroborate a log signature.
HIGH_LEVEL = 0.8  # memory / pool / disk level (a share of the limit)
HIGH_UTILISATION = 0.84  # load / capacity: saturated
NO_REQUESTS = 0.08  # metric_request_rate of a service its callers cannot reach (healthy ~ 0.33)
CERT_ERRORS = 0.3  # error rate of a service failing every handshake
MAX_READS = 3  # reads of one service's logs per epoch


class Evidence:
    """What the casebook and the observation say about one suspected root service."""

    def __init__(self, view: View, book: Casebook, root: int):
        self.view, self.book, self.root = view, book, root
        self.kind = int(view.kind[root])
        logs = book.seen.logs[root]
        self.signature, self.reads = logs[-1], len(logs)

    def _recent(self, feature: str) -> bool:
        reverted = self.view.col("change_reverted")[self.root] > 0.5
        return bool(self.view.col(feature)[self.root] > encode_recency(RECENT_MINUTES)) and not reverted

    @property
    def deploy(self) -> bool:
        """A recent deploy, not reverted."""
        return self._recent("deploy_recent")

    @property
    def config(self) -> bool:
        return self._recent("config_recent")

    @property
    def changed(self) -> bool:
        """A recent deploy or config change, not reverted."""
        return self.deploy or self.config

    @property
    def rolled_back(self) -> bool:
        return (A.ROLLBACK, self.root) in self.book.remedies

    def metric(self, name: str) -> float:
        return self.view.metric(name)[self.root]

    @property
    def utilisation(self) -> float:
        return self.view.utilisation[self.root]

    @property
    def busy(self) -> bool:
        return self.utilisation > BUSY_UTILISATION

    @property
    def down(self) -> bool:
        """Its down alert fires."""
        return bool(self.view.alerts[self.root, 3])

    @property
    def read_once(self) -> bool:
        """Its logs were read once this epoch: the signature may be a misleading read."""
        return self.reads < 2


#: A predicate on the evidence.
When = Callable[[Evidence], bool]


class Look(Enum):
    """A playbook line that gathers more evidence on the root instead of acting."""

    REREAD = "read the logs again"  # unless read MAX_READS times this epoch: then the next line applies
    CHECK_CHANGES = "check the recent changes"  # a second corroborating channel


@dataclass(frozen=True)
class Line:
    """One line of a playbook page: when ``when`` holds, do ``then`` — a remedy (``why`` it is
    applied: the diagnosis, the signature by default), a :class:`Look` at more evidence, or
    waiting out a blip (``Outwait.BLIP``)."""

    when: When
    then: ActionKind | Look | Outwait
    why: LogClass | None = None


@dataclass(frozen=True)
class Page:
    """What a log signature at the root calls for: the channel that corroborates it (read first)
    and the lines to follow, top to bottom. No line applying means the evidence explains nothing."""

    check: ActionKind | None
    lines: tuple[Line, ...]

    def line_for(self, e: Evidence) -> Line | None:
        """The first line that applies (a reread only while the logs were read fewer than
        ``MAX_READS`` times this epoch)."""
        for line in self.lines:
            if line.when(e) and not (line.then is Look.REREAD and e.reads >= MAX_READS):
                return line
        return None


def _always(e: Evidence) -> bool:
    return True


def _read_once(e: Evidence) -> bool:
    return e.read_once


def _change_page(recent: When, fits: When = _always) -> Page:
    """A defect a change may have brought: roll the change back if it is recent; with no recent
    change it shipped long ago (a latent bug: the same signature), and only a hotfix lasts. A
    signature that does not fit the service, or a first read with no change at all (it may be a
    misleading one), is read again."""
    return Page(A.CHECK_CHANGES, (
        Line(lambda e: not fits(e) or (not e.changed and e.read_once), Look.REREAD),
        Line(lambda e: recent(e) and not e.rolled_back, A.ROLLBACK),
        Line(_always, A.HOTFIX),
    ))


def _resource_page(level: str, shipped_by_deploy: bool) -> Page:
    """A filled resource: confirm its level; a leak a deploy shipped is rolled back, else hotfixed."""
    undo = (Line(lambda e: e.root not in e.book.changes_read, Look.CHECK_CHANGES),
            Line(lambda e: e.deploy and not e.rolled_back, A.ROLLBACK)) if shipped_by_deploy else ()
    return Page(A.CHECK_METRICS, (Line(lambda e: e.metric(level) < HIGH_LEVEL and e.read_once, Look.REREAD), *undo,
                                  Line(_always, A.HOTFIX)))


PLAYBOOK: dict[LogClass, Page] = {
    L.DEPLOY_EXCEPTION: _change_page(lambda e: e.deploy),  # a bad deploy, or a latent bug if none is recent
    L.CONFIG_ERROR: _change_page(lambda e: e.config),
    L.AUTH_DENIED: _change_page(lambda e: e.deploy or e.config),  # a rotated secret: either change
    L.SLOW_QUERY: _change_page(lambda e: e.deploy, fits=lambda e: e.kind == ServiceKind.DATABASE),
    L.OOM_KILLED: _resource_page("memory", shipped_by_deploy=True),
    L.POOL_EXHAUSTED: _resource_page("pool", shipped_by_deploy=True),
    L.NO_SPACE: _resource_page("disk", shipped_by_deploy=False),
    L.HIGH_LOAD: Page(A.CHECK_METRICS, (
        Line(lambda e: e.utilisation < HIGH_UTILISATION and e.read_once, Look.REREAD),
        Line(_always, A.SCALE_OUT),
    )),
    L.PROCESS_DOWN: Page(None, (
        Line(lambda e: e.down or e.kind == ServiceKind.CACHE or not e.read_once, A.RESTART),
        Line(_always, Look.REREAD),
    )),
    # Logs clean at the origin: a certificate fails the handshake before the app logs anything,
    # and its callers stop reaching it; or the service is busy, not broken; or it already passed.
    L.NORMAL: Page(A.CHECK_METRICS, (
        Line(lambda e: e.metric("error_rate") > CERT_ERRORS and e.metric("request_rate") < NO_REQUESTS, A.HOTFIX,
             L.TLS_HANDSHAKE),
        Line(lambda e: e.busy, A.SCALE_OUT, L.HIGH_LOAD),
        Line(_read_once, Look.REREAD),
    )),
    # Timeouts with the trouble starting here: a queue backing up under load, a transient blip,
    # or a misleading read.
    L.DEPENDENCY_ERRORS: Page(A.CHECK_METRICS, (
        Line(lambda e: e.busy, A.SCALE_OUT, L.HIGH_LOAD),
        Line(_read_once, Look.REREAD),
        Line(_always, Outwait.BLIP),
    )),
    # At an origin, these contradict the trace: look again, then look elsewhere.
    L.TLS_HANDSHAKE: Page(None, (Line(_always, Look.REREAD),)),
    L.PROVIDER_5XX: Page(None, (Line(_always, Look.REREAD),)),
}
#: What a known issue's fix says was wrong (a diagnosis noted with the remedy).
KB_DIAGNOSIS = {A.RESTART: L.PROCESS_DOWN, A.FAILOVER: L.PROVIDER_5XX, A.SCALE_OUT: L.HIGH_LOAD}
