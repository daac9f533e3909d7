"""One champion decision at a time for every client of a store, on what the store itself guarantees.

The read-compare-move of the `champion` alias must not interleave: two registrations that both read the
old champion could each move the alias, and the worse one could end up champion. A file lock covers
only the processes of one machine (and one spelling of the store's URI); a tracking server has clients
on many machines.

What every MLflow store guarantees is that the versions of one registered model get unique, increasing
numbers (the database allocates them in a transaction, whichever client asks). So a decision takes a
**ticket**: a new version of the registered model ``<name>.decisions``, created with the tag
``trainlab.decision = pending`` in the same call. Tickets are served in version order, like a bakery's:
the holder of ticket *n* decides once every lower ticket is ``decided`` (its holder tagged it when done)
or has stayed pending for the lease (:func:`lease_seconds`) of this client's own clock (its holder died mid-decision:
the ticket is tagged ``expired`` and the queue moves on). A holder moves the alias only while its own
lease runs: less than 90% of it since its ticket was created, on its own clock, so no
waiter (who starts counting only after seeing the ticket) can have taken it for dead. Clocks are never compared
across machines, only their rates.

Tickets are kept, tagged with what was decided: the ``.decisions`` model's versions are the log of every
champion decision (run, host, ``decided: version 7 champion``). Writing a ticket needs EDIT on that model,
as registering needs it on the model itself.
"""
from __future__ import annotations

import contextlib
import os
import socket
import time
from typing import Callable, Iterator

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ..errors import TrackingError, one_line

STATE_TAG = "trainlab.decision"        # pending | decided: <what> | expired
LEASE_SECONDS = 300.0                  # a decision's longest time; TRAINLAB_DECISION_LEASE sets another
POLL_SECONDS = 0.2
SOURCE = "trainlab-decision:/ticket"  # no model behind a ticket: a non-file URI with an absolute path, as servers ask


def lease_seconds() -> float:
    """How long a decision may hold the queue: ``TRAINLAB_DECISION_LEASE`` seconds, else :data:`LEASE_SECONDS`."""
    return float(os.environ.get("TRAINLAB_DECISION_LEASE") or LEASE_SECONDS)


def ledger_name(name: str) -> str:
    """The registered model whose versions are the tickets of ``name``'s decisions."""
    return f"{name}.decisions"


class Ticket:
    """A place in the queue of ``name``'s champion decisions (see the module docstring)."""

    def __init__(self, client: MlflowClient, name: str, version: int, taken: float,
                 lease: float, clock: Callable[[], float]):
        self.client, self.name, self.version, self.taken, self.lease, self.clock = \
            client, name, version, taken, lease, clock
        self.closed = False

    def valid(self) -> bool:
        """Whether this holder's lease still runs, with a tenth of it to spare for the move that follows, and
        its ticket is still its own (not expired by a waiter)."""
        if self.clock() - self.taken >= self.lease * 0.9:
            return False
        tags = self.client.get_model_version(self.name, str(self.version)).tags
        return tags.get(STATE_TAG) == "pending"

    def close(self, outcome: str) -> None:
        """Tag the ticket ``decided: <outcome>`` (what was decided): the next in the queue goes on."""
        self.client.set_model_version_tag(self.name, str(self.version), STATE_TAG, f"decided: {outcome}")
        self.closed = True


@contextlib.contextmanager
def decision(name: str, run_id: str, lease: float | None = None,
             clock: Callable[[], float] = time.monotonic) -> Iterator[Ticket]:
    """Hold ``name``'s champion decision: wait for every earlier ticket, yield this one, close it after.

    Raises:
        TrackingError: the store refuses the ticket (no EDIT permission on the ``.decisions`` model).
    """
    client, lease = MlflowClient(), lease_seconds() if lease is None else lease
    ticket = _take(client, ledger_name(name), run_id, lease, clock)
    try:
        _wait_for_earlier(ticket)
        yield ticket
    finally:
        if not ticket.closed:
            with contextlib.suppress(MlflowException):  # a store gone now: the ticket expires for the others
                if client.get_model_version(ticket.name, str(ticket.version)).tags.get(STATE_TAG) == "pending":
                    ticket.close("nothing moved")


def _take(client: MlflowClient, ledger: str, run_id: str, lease: float, clock) -> Ticket:
    with contextlib.suppress(MlflowException):  # created once; several clients may race to create it
        client.create_registered_model(ledger, description="trainlab's champion decisions, one version each "
                                                            "(pipeline/tracking/decisions.py)")
    tags = {STATE_TAG: "pending", "trainlab.run_id": run_id, "trainlab.host": socket.gethostname(),
            "trainlab.pid": str(os.getpid())}
    try:
        version = client.create_model_version(ledger, SOURCE, tags=tags)
    except MlflowException as e:
        raise TrackingError(f"cannot take a place in the champion decisions ({ledger}): {one_line(e)}") from None
    return Ticket(client, ledger, int(version.version), clock(), lease, clock)


def _wait_for_earlier(ticket: Ticket) -> None:
    """Until every lower ticket is decided or expired; one pending longer than the lease is marked expired."""
    first_seen: dict[int, float] = {}
    while True:
        pending = [int(v.version) for v in _pending(ticket.client, ticket.name) if int(v.version) < ticket.version]
        if not pending:
            return
        now = ticket.clock()
        expired = [v for v in pending if now - first_seen.setdefault(v, now) >= ticket.lease]
        for version in expired:
            ticket.client.set_model_version_tag(ticket.name, str(version), STATE_TAG, "expired")
        if len(expired) < len(pending):
            time.sleep(POLL_SECONDS)


def _pending(client: MlflowClient, ledger: str) -> list:
    try:
        return list(client.search_model_versions(f"name = '{ledger}' and tags.`{STATE_TAG}` = 'pending'"))
    except MlflowException:  # a store that cannot filter on tags: read them all
        return [v for v in client.search_model_versions(f"name = '{ledger}'") if v.tags.get(STATE_TAG) == "pending"]
