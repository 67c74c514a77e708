"""The firm client's local store: a delivery is kept once whatever the duplicates and
the order (a crash between commit and ack redelivers; a requeue reorders), and reports
stay pending until marked sent."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clients.firm.store import FirmStore, ItemStatus, Recorded

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def assigned(ticket_id, at, event_id=None, description="审查合同"):
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "type_": "work_assigned",
        "occurred_at": at,
        "payload": {"ticket_id": ticket_id, "description": description, "origin": "admission"},
        "correlation_id": str(uuid.uuid4()),
    }


def withdrawn(ticket_id, at, event_id=None):
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "type_": "work_withdrawn",
        "occurred_at": at,
        "payload": {"ticket_id": ticket_id, "firm_id": "law-1", "reason": "ticket_cancelled"},
    }


@pytest.fixture
def store(tmp_path):
    with FirmStore(tmp_path / "firm.sqlite") as store:
        yield store


def test_a_work_item_is_stored_once_by_event_and_by_ticket(store):
    first = assigned("T-1", T0)
    assert store.record(**first, now=NOW) is Recorded.STORED
    assert store.record(**first, now=NOW) is Recorded.DUPLICATE  # redelivered
    # the same work again under another event id (republished): still one item
    again = assigned("T-1", T0, description="another copy")
    assert store.record(**again, now=NOW) is Recorded.DUPLICATE
    [item] = store.items()
    assert (item.ticket_id, item.status) == ("T-1", ItemStatus.NEW)
    assert item.event_id == first["event_id"]
    assert item.payload["description"] == "审查合同"


def test_the_store_survives_reopening(tmp_path):
    path = tmp_path / "firm.sqlite"
    event = assigned("T-1", T0)
    with FirmStore(path) as store:
        store.record(**event, now=NOW)
    with FirmStore(path) as store:
        assert store.record(**event, now=NOW) is Recorded.DUPLICATE
        assert [i.ticket_id for i in store.items()] == ["T-1"]


def test_a_withdrawal_marks_the_item_and_a_late_older_assignment_does_not_revive_it(store):
    store.record(**withdrawn("T-1", T0 + timedelta(hours=1)), now=NOW)
    assert store.item("T-1").status is ItemStatus.WITHDRAWN
    assert store.record(**assigned("T-1", T0), now=NOW) is Recorded.DUPLICATE
    item = store.item("T-1")
    assert item.status is ItemStatus.WITHDRAWN
    assert item.payload["description"] == "审查合同"  # what the withdrawn work was
    assert item.withdrawn_reason == "ticket_cancelled"


def test_a_ticket_that_comes_back_after_a_withdrawal_is_live_again(store):
    store.record(**assigned("T-1", T0), now=NOW)
    store.record(**withdrawn("T-1", T0 + timedelta(hours=1)), now=NOW)
    back = assigned("T-1", T0 + timedelta(hours=2), description="再次分派")
    assert store.record(**back, now=NOW) is Recorded.STORED
    item = store.item("T-1")
    assert (item.status, item.payload["description"]) == (ItemStatus.NEW, "再次分派")


def test_a_report_is_pending_until_marked_sent_and_moves_its_item(store):
    store.record(**assigned("T-1", T0), now=NOW)
    envelope = {"event_id": str(uuid.uuid4()), "type": "work_accepted", "payload": {}}
    expected = {ItemStatus.NEW}
    assert store.add_report(
        envelope, ticket_id="T-1", new_status=ItemStatus.ACCEPTED, expected=expected, now=NOW
    )
    assert store.item("T-1").status is ItemStatus.ACCEPTED
    assert [r.event_id for r in store.pending_reports()] == [envelope["event_id"]]
    # not expected any more: refused, nothing written
    assert not store.add_report(
        envelope | {"event_id": "x"},
        ticket_id="T-1",
        new_status=ItemStatus.ACCEPTED,
        expected=expected,
        now=NOW,
    )
    store.mark_failed([envelope["event_id"]], "broker down")
    [pending] = store.pending_reports()
    assert (pending.attempts, pending.last_error) == (1, "broker down")
    store.mark_sent([envelope["event_id"]], now=NOW)
    assert store.pending_reports() == []
    assert store.reports("T-1")[0].status == "sent"


def test_a_report_on_an_unknown_ticket_is_refused(store):
    envelope = {"event_id": str(uuid.uuid4()), "type": "work_accepted"}
    expected = {ItemStatus.NEW}
    assert not store.add_report(
        envelope, ticket_id="T-9", new_status=ItemStatus.ACCEPTED, expected=expected, now=NOW
    )
    assert store.reports() == []


# -- any interleaving of duplicate deliveries ----------------------------------------------


@st.composite
def histories(draw):
    """Per ticket a history of assignments and withdrawals at distinct times; then every
    delivery one to three times, in any order."""
    tickets = draw(st.integers(min_value=1, max_value=4))
    events = []
    minutes = iter(draw(st.permutations(range(40))))
    for number in range(tickets):
        kinds = draw(st.lists(st.sampled_from(["assigned", "withdrawn"]), min_size=1, max_size=4))
        for kind in kinds:
            at = T0 + timedelta(minutes=next(minutes))
            if kind == "assigned":
                events.append(assigned(f"T-{number}", at, description=f"at {at}"))
            else:
                events.append(withdrawn(f"T-{number}", at))
    copies = draw(st.lists(st.integers(1, 3), min_size=len(events), max_size=len(events)))
    deliveries = [event for event, n in zip(events, copies, strict=True) for _ in range(n)]
    return events, draw(st.permutations(deliveries))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(history=histories())
def test_any_interleaving_of_duplicates_stores_each_item_once_with_the_same_outcome(
    tmp_path_factory, history
):
    events, deliveries = history
    path = tmp_path_factory.mktemp("store") / "firm.sqlite"
    with FirmStore(path) as store:
        results = [store.record(**delivery, now=NOW) for delivery in deliveries]
        # each event is taken at most once; every other copy is a duplicate
        assert store.deliveries_seen() == len(events)
        assert len(results) - results.count(Recorded.DUPLICATE) <= len(events)
        by_ticket = {}
        for event in events:
            by_ticket.setdefault(event["payload"]["ticket_id"], []).append(event)
        items = {item.ticket_id: item for item in store.items()}
        assert set(items) == set(by_ticket)  # one row per ticket
        for ticket_id, history_of_ticket in by_ticket.items():
            latest = max(history_of_ticket, key=lambda e: e["occurred_at"])
            item = items[ticket_id]
            # the latest event decides, whatever the order the copies came in
            if latest["type_"] == "work_withdrawn":
                assert item.status is ItemStatus.WITHDRAWN
            else:
                assert item.status is ItemStatus.NEW
                assert item.event_id == latest["event_id"]
            assignments = [e for e in history_of_ticket if e["type_"] == "work_assigned"]
            if assignments:
                newest = max(assignments, key=lambda e: e["occurred_at"])
                assert item.payload == newest["payload"]
            else:
                assert item.payload is None
