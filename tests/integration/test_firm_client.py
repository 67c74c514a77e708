"""The firms' client against the real broker (no ticketing service needed): a firm user
provisioned the way ticketing provisions one, work items published to ``ticketing.work``
by the test, and the client fetching them into its store and reporting on
``firms.events``."""

import dataclasses
import re
import uuid
from datetime import UTC, datetime, timedelta

import amqp
import nameko
import pytest
from typer.testing import CliRunner

from clients.firm import (
    BrokerUnavailable,
    ConfigurationError,
    FirmClient,
    InvalidReport,
    ItemStatus,
    TicketNotOpen,
    UnknownTicket,
)
from clients.firm.cli import BAD_ARGUMENTS, BROKER, NOT_OPEN, PENDING, app
from shared.contract import build, parse
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher, OutgoingMessage
from shared.messaging.declare import declare_topology
from shared.messaging.errors import PublishFailed
from shared.messaging.identities import amqp_uri_as
from shared.messaging.management import ManagementClient
from shared.messaging.publisher import message_for
from shared.messaging.topology import WORK_EXCHANGE, build_topology, firm_work_queue
from tests.support.broker import as_user, get_messages, queue_depth, wait_for

REPORTS = "test.firms.reports"  # a test queue bound to firms.events
TOPOLOGY = build_topology([], services=("ticketing",), sources=("firms",), retry_delays=(1,))
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


class Firms:
    """Two firms, A and B, provisioned on the test's vhost; users deleted at teardown."""

    def __init__(self, amqp_uri: str, tmp_path):
        self.amqp_uri = amqp_uri
        self.tmp_path = tmp_path
        run = uuid.uuid4().hex[:8]  # broker users are global: unique to the run
        self.a, self.b = f"law-a{run}", f"law-b{run}"
        declare_topology(TOPOLOGY, amqp_uri)
        address = BrokerAddress.from_uri(amqp_uri)
        self.management = ManagementClient.for_broker(None, address)
        connection = address.connect()
        try:
            channel = connection.channel()
            channel.queue_declare(REPORTS, durable=True, auto_delete=False)
            channel.queue_bind(REPORTS, "firms.events", "#")
            for firm_id in (self.a, self.b):
                queue, binding = TOPOLOGY.firm_work(firm_id)
                channel.queue_declare(
                    queue.name, durable=True, auto_delete=False, arguments=queue.arguments
                )
                channel.queue_bind(binding.queue, binding.exchange, binding.routing_key)
        finally:
            connection.close()
        self.users = []
        for firm_id in (self.a, self.b):
            user = f"firm-{firm_id}"
            self.management.put_user(user, f"dev-{firm_id}")
            self.users.append(user)
            self.management.set_permissions(
                address.vhost,
                user,
                configure="^$",
                write=r"^firms\.events$",
                read=rf"^firm\.{re.escape(firm_id)}\.work$",
            )
        self.ticketing = ConfirmingPublisher(BrokerAddress.from_uri(as_user(amqp_uri, "ticketing")))

    def uri(self, firm_id: str, password: str | None = None) -> str:
        return amqp_uri_as(self.amqp_uri, f"firm-{firm_id}", password or f"dev-{firm_id}")

    def client(self, firm_id: str, password: str | None = None, **kwargs) -> FirmClient:
        store = self.tmp_path / f"firm-{firm_id}.sqlite"
        return FirmClient(firm_id, self.uri(firm_id, password), store, **kwargs)

    def send_work(self, firm_id: str, type_: str, payload: dict, *, at: datetime = T0) -> dict:
        """Publish a work message to the firm's queue as the ticketing service does."""
        envelope = build("ticketing", type_, payload, occurred_at=at, park_id="aux-shangjie")
        message = message_for(envelope, exchange=WORK_EXCHANGE, user_id="ticketing")
        self.ticketing.publish([dataclasses.replace(message, routing_key=firm_id)])
        return envelope

    def assign(self, firm_id: str, ticket_id: str, **changes) -> dict:
        return self.send_work(firm_id, "work_assigned", work_item(firm_id, ticket_id, **changes))

    def reports(self) -> list[amqp.Message]:
        return get_messages(self.amqp_uri, REPORTS)

    def close(self):
        self.ticketing.close()
        for user in self.users:
            self.management.delete_user(user)


def work_item(firm_id: str, ticket_id: str, **changes) -> dict:
    return {
        "ticket_id": ticket_id,
        "firm_id": firm_id,
        "service_code": "LEGAL-01",
        "service_name": "劳动合同审查",
        "origin": "service_request",
        "request_id": str(uuid.uuid4()),
        "claim_id": None,
        "review": None,
        "priority": "normal",
        "description": "三份劳动合同待审",
        "fee_policy": "quoted",
        "fee_fen": None,
        "enterprise": {
            "enterprise_id": "ent-0001",
            "name": "郑州恒达精密机械有限公司",
            "uscc": "91410100MA9G4XY144",
            "legal_representative": "王建国",
            "contact_phone": "13803710000",
        },
        "first_response_due_at": "2026-11-27T06:00:00Z",
        "resolution_due_at": "2026-12-03T06:00:00Z",
        **changes,
    }


@pytest.fixture
def firms(rabbit_config, tmp_path):
    world = Firms(nameko.config["AMQP_URI"], tmp_path)
    yield world
    world.close()


def depth(firms, firm_id):
    return queue_depth(firms.amqp_uri, firm_work_queue(firm_id))


# -- fetch -----------------------------------------------------------------------------------


def test_fetch_stores_each_work_item_then_acks_it(firms):
    firms.assign(firms.a, "T-1")
    firms.assign(firms.a, "T-2")
    wait_for(lambda: depth(firms, firms.a) == 2, message="two work items queued")
    with firms.client(firms.a) as client:
        result = client.fetch()
        assert (result.stored, result.duplicates, result.quarantined) == (2, 0, 0)
        assert [i.ticket_id for i in client.items()] == ["T-1", "T-2"]
        item = client.item("T-1")
        assert item.status is ItemStatus.NEW
        assert item.payload["enterprise"]["name"] == "郑州恒达精密机械有限公司"
        assert depth(firms, firms.a) == 0  # acked: the connection is closed, nothing requeued
        assert client.fetch().total == 0


def test_a_crash_between_store_and_ack_gives_a_redelivery_the_store_ignores(firms):
    envelope = firms.assign(firms.a, "T-1")
    wait_for(lambda: depth(firms, firms.a) == 1, message="the work item queued")

    class Crash(Exception):
        pass

    with firms.client(firms.a) as client:

        def crash_before_ack(channel, delivery_tag):
            channel.connection.collect()  # the process dies: no ack, no close handshake
            raise Crash

        client._ack = crash_before_ack
        with pytest.raises(Crash):
            client.fetch()
        assert client.item("T-1").event_id == envelope["event_id"]  # stored before the crash
        wait_for(lambda: depth(firms, firms.a) == 1, message="the unacked item back on the queue")

    with firms.client(firms.a) as client:  # the next run
        result = client.fetch()
        assert (result.stored, result.duplicates) == (0, 1)
        assert len(client.items()) == 1
        assert client.store.deliveries_seen() == 1
        assert depth(firms, firms.a) == 0


def test_a_withdrawn_item_is_marked_and_takes_no_more_reports(firms):
    firms.assign(firms.a, "T-1")
    firms.send_work(
        firms.a,
        "work_withdrawn",
        {"ticket_id": "T-1", "firm_id": firms.a, "reason": "ticket_cancelled"},
        at=T0 + timedelta(minutes=5),
    )
    wait_for(lambda: depth(firms, firms.a) == 2, message="both messages queued")
    with firms.client(firms.a) as client:
        result = client.fetch()
        assert (result.stored, result.withdrawn) == (1, 1)
        item = client.item("T-1")
        assert (item.status, item.withdrawn_reason) == (ItemStatus.WITHDRAWN, "ticket_cancelled")
        with pytest.raises(TicketNotOpen, match="withdrawn"):
            client.accept("T-1", "")
        assert client.items([ItemStatus.NEW]) == []
    assert firms.reports() == []


def test_a_work_message_for_another_firm_or_off_contract_is_quarantined_not_lost(firms):
    firms.send_work(firms.a, "work_assigned", work_item(firms.b, "T-9"))  # misrouted
    message = OutgoingMessage(WORK_EXCHANGE, firms.a, b'{"not": "an envelope"}', {})
    firms.ticketing.publish([message])
    wait_for(lambda: depth(firms, firms.a) == 2, message="both messages queued")
    with firms.client(firms.a) as client:
        assert client.fetch().quarantined == 2
        assert client.items() == []
        reasons = [reason for _, reason, _ in client.store.quarantined()]
        assert any("is not us" in r for r in reasons)
        assert depth(firms, firms.a) == 0


# -- reports ---------------------------------------------------------------------------------


def test_reports_reach_firms_events_as_the_firm_with_a_valid_envelope(firms):
    assigned = firms.assign(firms.a, "T-1")
    wait_for(lambda: depth(firms, firms.a) == 1, message="the work item queued")
    with firms.client(firms.a) as client:
        client.fetch()
        assert client.accept("T-1", "已安排律师对接").sent
        waiting = client.progress("T-1", "请上传劳动合同原件", waiting_on_enterprise=True)
        assert waiting.sent
        assert client.item("T-1").status is ItemStatus.WAITING
        assert client.complete("T-1", "done", "合同已审查", fee_fen=80000).sent
        assert client.item("T-1").status is ItemStatus.COMPLETED
        assert client.store.pending_reports() == []

    messages = wait_for(firms.reports, message="the reports on firms.events")
    assert [m.properties["user_id"] for m in messages] == [f"firm-{firms.a}"] * 3
    events = [parse(m.body, sender=m.properties["user_id"]) for m in messages]
    assert [e.type for e in events] == ["work_accepted", "work_progressed", "work_completed"]
    assert all(e.source == "firms" for e in events)
    assert all(e.correlation_id == assigned["correlation_id"] for e in events)
    assert all(e.causation_id == assigned["event_id"] for e in events)
    assert events[1].payload["waiting_on_enterprise"] is True
    assert (events[2].payload["outcome"], events[2].payload["fee_fen"]) == ("done", 80000)


def test_reports_are_checked_before_anything_is_written(firms):
    firms.assign(firms.a, "T-1")  # quoted
    firms.assign(firms.a, "T-2", fee_policy="fixed", fee_fen=50000)
    review = {"origin": "buyback_review", "request_id": None, "review": "legal"}
    firms.assign(
        firms.a, "T-3", **review, claim_id=str(uuid.uuid4()), fee_policy="free", fee_fen=None
    )
    wait_for(lambda: depth(firms, firms.a) == 3, message="three work items queued")
    with firms.client(firms.a) as client:
        client.fetch()
        with pytest.raises(InvalidReport, match="outcome 'resolved'"):
            client.complete("T-1", "resolved")
        with pytest.raises(InvalidReport, match="quoted"):
            client.complete("T-1", "done")
        with pytest.raises(InvalidReport, match="negative"):
            client.complete("T-1", "done", fee_fen=-1)
        with pytest.raises(InvalidReport, match="fixed fee"):
            client.complete("T-2", "done", fee_fen=100)
        with pytest.raises(InvalidReport, match="approve or reject"):
            client.complete("T-3", "done")
        with pytest.raises(InvalidReport, match="reason"):
            client.complete("T-3", "reject")
        with pytest.raises(InvalidReport, match="why you decline"):
            client.decline("T-1", " ")
        with pytest.raises(UnknownTicket, match="fetch"):
            client.accept("T-404")
        assert client.store.reports() == []
        assert client.complete("T-3", "reject", reasons=["房产证载有未解除抵押登记"]).sent
    [message] = firms.reports()
    assert parse(message.body).payload["reasons"] == ["房产证载有未解除抵押登记"]


def test_a_report_the_broker_refuses_stays_pending_and_goes_out_with_the_next_command(firms):
    firms.assign(firms.a, "T-1")
    wait_for(lambda: depth(firms, firms.a) == 1, message="the work item queued")
    with firms.client(firms.a) as client:
        client.fetch()

    with firms.client(firms.a, password="wrong") as refused:  # same store, bad credentials
        with pytest.raises(BrokerUnavailable, match="ACCESS_REFUSED"):
            refused.fetch()
        accepted = refused.accept("T-1", "已安排律师对接")
        assert not accepted.sent
        assert "ACCESS_REFUSED" in accepted.error
        [pending] = refused.store.pending_reports()
        assert (pending.event_id, pending.attempts) == (accepted.event_id, 1)
        assert refused.item("T-1").status is ItemStatus.ACCEPTED  # the firm's intent is kept
    assert firms.reports() == []

    with firms.client(firms.a) as client:  # the next command: progress
        progressed = client.progress("T-1", "已开始审查")
        assert progressed.sent
        assert client.store.pending_reports() == []
    events = [parse(m.body) for m in wait_for(firms.reports, message="both reports")]
    assert [(e.event_id, e.type) for e in events] == [
        (accepted.event_id, "work_accepted"),  # the pending one first, same event id
        (progressed.event_id, "work_progressed"),
    ]


# -- one firm cannot act as another ----------------------------------------------------------


def test_firm_a_cannot_read_firm_bs_queue_nor_publish_as_firm_b(firms):
    firms.assign(firms.b, "T-B")
    wait_for(lambda: depth(firms, firms.b) == 1, message="B's work item queued")

    connection = BrokerAddress.from_uri(firms.uri(firms.a)).connect()
    try:
        with pytest.raises(amqp.exceptions.AccessRefused, match=firm_work_queue(firms.b)):
            connection.channel().basic_get(firm_work_queue(firms.b))
        with pytest.raises(amqp.exceptions.AccessRefused, match=re.escape(WORK_EXCHANGE)):
            channel = connection.channel()
            channel.basic_publish(amqp.Message(b"{}"), exchange=WORK_EXCHANGE, routing_key=firms.b)
            channel.queue_declare(firm_work_queue(firms.a), passive=True)  # sync: see the close
    finally:
        connection.collect()
    assert depth(firms, firms.b) == 1  # B's work untouched

    # A's credentials with B's user_id: the broker refuses it (PRECONDITION_FAILED).
    forged = build("firms", "work_accepted", {"ticket_id": "T-B", "note": ""}, occurred_at=T0)
    publisher = ConfirmingPublisher(BrokerAddress.from_uri(firms.uri(firms.a)))
    try:
        with pytest.raises(PublishFailed, match=r"PRECONDITION_FAILED.*user_id"):
            publisher.publish([message_for(forged, user_id=f"firm-{firms.b}")])
    finally:
        publisher.close()
    assert firms.reports() == []

    # and the client will not even be configured so
    with pytest.raises(ConfigurationError, match=f"firm-{firms.a}"):
        FirmClient(firms.a, firms.uri(firms.b), firms.tmp_path / "x.sqlite")


# -- the CLI ---------------------------------------------------------------------------------


def test_the_cli_fetches_reports_and_exits_with_the_documented_codes(firms):
    firms.assign(firms.a, "T-1")
    wait_for(lambda: depth(firms, firms.a) == 1, message="the work item queued")
    runner = CliRunner()
    env = {
        "FIRM_ID": firms.a,
        "FIRM_AMQP_URI": firms.uri(firms.a),
        "FIRM_STORE": str(firms.tmp_path / "cli.sqlite"),
    }

    def firm(*args, **extra_env):
        return runner.invoke(app, ["work", *args], env={**env, **extra_env})

    fetched = firm("fetch")
    assert fetched.exit_code == 0, fetched.output
    assert "1 new" in fetched.output
    listed = firm("list")
    assert listed.exit_code == 0 and "T-1" in listed.output
    assert firm("show", "T-1").exit_code == 0
    assert firm("complete", "T-1", "--outcome", "resolved").exit_code == BAD_ARGUMENTS
    assert firm("complete", "T-1", "--outcome", "done").exit_code == BAD_ARGUMENTS  # quoted
    assert firm("accept", "T-404").exit_code == NOT_OPEN
    wrong = firms.uri(firms.a, password="wrong")
    assert firm("fetch", FIRM_AMQP_URI=wrong).exit_code == BROKER
    assert firm("accept", "T-1", "--note", "好的", FIRM_AMQP_URI=wrong).exit_code == PENDING
    assert firm("accept", "T-1").exit_code == NOT_OPEN  # already accepted (pending)
    assert firm("send").exit_code == 0
    accepted = firm("list", "--status", "accepted")
    assert accepted.exit_code == 0 and "T-1" in accepted.output
    assert "T-1" not in firm("list", "--status", "new").output
    assert firm("show", "T-404").exit_code == NOT_OPEN
    done = firm("complete", "T-1", "--outcome", "done", "--fee-fen", "80000", "--note", "完成")
    assert done.exit_code == 0, done.output
    assert [parse(m.body).type for m in firms.reports()] == ["work_accepted", "work_completed"]
    other = firm("fetch", FIRM_AMQP_URI=firms.uri(firms.b))
    assert other.exit_code == BAD_ARGUMENTS  # B's credentials for firm A
