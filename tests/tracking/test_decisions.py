"""Champion decisions one at a time on what the store guarantees (tickets: versions of ``<name>.decisions``):
in ticket order, a dead holder's ticket expired after the lease, a holder past its lease moves nothing."""
import threading

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import fresh_store
from trainlab.pipeline.tracking import decisions


class Clock:
    """Seconds that pass only when a test says so: the lease is decided without waiting for it."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", fresh_store(tmp_path))  # which set_tracking_uri exports: taken back
    mlflow.set_tracking_uri(fresh_store(tmp_path))
    return MlflowClient()


def state(client, name: str, version: int) -> str:
    return client.get_model_version(decisions.ledger_name(name), str(version)).tags[decisions.STATE_TAG]


def test_tickets_are_served_in_order_and_each_is_closed_with_what_was_decided(client):
    order, inside = [], threading.Event()
    with decisions.decision("m", "run-a") as first:
        assert first.version == 1 and first.valid() and state(client, "m", 1) == "pending"

        def second():
            with decisions.decision("m", "run-b") as ticket:
                order.append(ticket.version)
                inside.set()
        waiting = threading.Thread(target=second)
        waiting.start()
        assert not inside.wait(1.0)  # ticket 2 waits while ticket 1 is held
        order.append(first.version)
        first.close("version 1 champion")
    waiting.join(10)
    assert order == [1, 2] and state(client, "m", 1) == "decided: version 1 champion"
    assert state(client, "m", 2) == "decided: nothing moved"  # closed by the context when its holder did not
    assert client.get_model_version("m.decisions", "2").tags["trainlab.run_id"] == "run-b"


def test_a_dead_holders_ticket_expires_after_the_lease_and_the_queue_goes_on(client, monkeypatch):
    client.create_registered_model("m.decisions")
    client.create_model_version("m.decisions", decisions.SOURCE,
                                tags={decisions.STATE_TAG: "pending"})  # its holder died
    clock = Clock()
    monkeypatch.setattr(decisions.time, "sleep", lambda seconds: setattr(clock, "now", clock.now + 1.0))
    with decisions.decision("m", "run-b", lease=5.0, clock=clock) as ticket:
        assert ticket.version == 2 and clock.now == 5.0  # five polls of one (counted) second each
        assert state(client, "m", 1) == "expired"


def test_a_holder_past_its_lease_or_expired_by_a_waiter_holds_nothing(client):
    clock = Clock()
    with decisions.decision("m", "run-a", lease=5.0, clock=clock) as ticket:
        clock.now = 4.4
        assert ticket.valid()
        clock.now = 4.5  # a tenth of the lease kept for moving the alias
        assert not ticket.valid()
        clock.now = 1.0
        client.set_model_version_tag("m.decisions", "1", decisions.STATE_TAG, "expired")  # a waiter gave up on it
        assert not ticket.valid()
    assert state(client, "m", 1) == "expired"  # not overwritten as decided
