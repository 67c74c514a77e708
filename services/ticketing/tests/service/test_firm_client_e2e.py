"""The firms' client end to end against the running ticketing service (real broker,
PostgreSQL): the firm side is driven only through ``clients.firm`` — :class:`FirmClient`
as a library and the ``firm`` CLI — as firms provisioned the way ticketing provisions
them (``firm-<id>``, its own queue, write only to ``firms.events``)."""

import uuid

import pytest
from typer.testing import CliRunner

from clients.firm import (
    BrokerUnavailable,
    ConfigurationError,
    FirmClient,
    ItemStatus,
    TicketNotOpen,
    UnknownTicket,
)
from clients.firm.cli import app
from services.ticketing import handlers
from services.ticketing.tests.service.conftest import PARK, SECURITY, park_error
from services.ticketing.tests.service.test_sla_and_reviews import review_request
from tests.support.broker import wait_for

QUOTED_LEGAL = "LEGAL-05"  # 股权架构设计: fee quoted by the firm
LEGAL_SKILLS = ("labour_law", "mediation", "corporate_law")


@pytest.fixture
def clients(ticketing, tmp_path):
    """``clients(firm)``: a :class:`FirmClient` for a provisioned firm, its store in
    ``tmp_path``; all closed at teardown."""
    opened: list[FirmClient] = []

    def client_for(firm) -> FirmClient:
        client = FirmClient(
            firm.firm_id,
            firm.amqp_uri,
            tmp_path / f"firm-{firm.firm_id}.sqlite",
            clock=ticketing.clock,
        )
        opened.append(client)
        return client

    yield client_for
    for client in opened:
        client.close()


def fetched(client: FirmClient, ticket_id: str, status: ItemStatus = ItemStatus.NEW):
    """Fetch until the store holds ``ticket_id`` in ``status`` (polling, with a deadline)."""

    def look():
        client.fetch()
        item = client.store.item(ticket_id)
        return item if item is not None and item.status is status else None

    return wait_for(look, message=f"{ticket_id} {status.value} in {client.store.path}")


def cli(client: FirmClient, *args: str):
    """Run ``firm work <args>`` as the client's firm, on the client's store."""
    result = CliRunner().invoke(
        app,
        [
            "work",
            *args,
            "--firm-id",
            client.firm_id,
            "--amqp-uri",
            client.amqp_uri,
            "--store",
            str(client.store.path),
        ],
    )
    return result


def test_a_quoted_service_fetched_worked_paused_completed_rated_and_closed(ticketing, clients):
    ticketing.start()
    firm = ticketing.add_firm("law", skills=LEGAL_SKILLS)
    client = clients(firm)
    enterprise_id = ticketing.admit()
    request = ticketing.request(enterprise_id, QUOTED_LEGAL, description="设计员工持股平台")
    ticket_id = ticketing.ticket_of_request(request["request_id"])

    # fetch (through the CLI): the work item is in the store with what the firm needs
    result = wait_for(
        lambda: (
            (run := cli(client, "fetch")).exit_code == 0
            and client.store.item(ticket_id) is not None
            and run
        ),
        message=f"{ticket_id} fetched by the CLI",
    )
    assert "1 new" in result.output, result.output
    item = client.item(ticket_id)
    assert item.status is ItemStatus.NEW
    assert item.payload["firm_id"] == firm.firm_id
    assert item.payload["service_code"] == QUOTED_LEGAL
    assert item.payload["fee_policy"] == "quoted" and item.payload["fee_fen"] is None
    assert item.payload["description"] == "设计员工持股平台"
    assert item.payload["request_id"] == request["request_id"]
    assert item.payload["enterprise"] == {
        "enterprise_id": enterprise_id,
        "name": "郑州恒达精密机械有限公司",
        "uscc": "91410100000000019L",
        "legal_representative": "王建国",
        "contact_phone": "13803710000",
    }
    assert item.payload["first_response_due_at"] and item.payload["resolution_due_at"]
    listed = cli(client, "list")
    assert listed.exit_code == 0 and ticket_id in listed.output, listed.output

    ticketing.clock.advance(hours=1)
    accepted = cli(client, "accept", ticket_id, "--note", "已安排律师对接")
    assert accepted.exit_code == 0, accepted.output
    [event] = ticketing.wait_for_event("ticket_accepted", ticket_id=ticket_id)
    assert event["payload"]["firm_id"] == firm.firm_id

    assert client.progress(ticket_id, "请提供公司章程", waiting_on_enterprise=True).sent
    ticketing.wait_for_event("ticket_waiting", ticket_id=ticket_id)
    assert client.item(ticket_id).status is ItemStatus.WAITING
    view = ticketing.rpc("ticket", ticket_id)
    assert view["status"] == "waiting_on_enterprise", view
    assert view["first_response"]["met"] and not view["resolution"]["running"]
    ticketing.portal.publish(
        "ticket_replied", {"ticket_id": ticket_id, "message": "章程已上传"}, park_id=PARK
    )
    [resumed] = ticketing.wait_for_event("ticket_resumed", ticket_id=ticket_id)
    assert resumed["payload"]["by"] == "enterprise"
    assert ticketing.rpc("ticket", ticket_id)["resolution"]["running"]

    ticketing.clock.advance(hours=2)
    assert client.complete(ticket_id, "done", "方案已交付", fee_fen=1_200_000).sent
    [resolved] = ticketing.wait_for_event("ticket_resolved", ticket_id=ticket_id)
    assert resolved["payload"]["outcome"] == "done"
    assert resolved["payload"]["fee_fen"] == 1_200_000
    assert resolved["payload"]["firm_id"] == firm.firm_id
    view = ticketing.rpc("ticket", ticket_id)
    assert view["status"] == "resolved" and view["firm_id"] == firm.firm_id
    assert (view["outcome"], view["fee_fen"], view["resolved_by"]) == (
        "done",
        1_200_000,
        firm.firm_id,
    )
    shown = cli(client, "show", ticket_id)
    assert shown.exit_code == 0 and '"completed"' in shown.output, shown.output
    assert client.item(ticket_id).status is ItemStatus.COMPLETED
    assert [r.status for r in client.store.reports(ticket_id)] == ["sent"] * 3

    ticketing.portal.publish(
        "ticket_rated", {"ticket_id": ticket_id, "score": 5, "comment": "专业"}, park_id=PARK
    )
    [closed] = ticketing.wait_for_event("ticket_closed", ticket_id=ticket_id)
    assert closed["payload"]["why"] == "rated"
    assert ticketing.rpc("ticket", ticket_id)["status"] == "closed"
    assert ticketing.dead_letters() == []
    assert client.store.quarantined() == []


def test_a_ticket_declined_through_the_client_reaches_the_other_firms_client(ticketing, clients):
    ticketing.start()
    first, second = ticketing.add_firm("first"), ticketing.add_firm("second")
    by_id = {first.firm_id: clients(first), second.firm_id: clients(second)}
    enterprise_id = ticketing.admit()
    request = ticketing.request(enterprise_id)
    ticket_id = ticketing.ticket_of_request(request["request_id"])
    [assigned] = ticketing.wait_for_event("ticket_assigned", ticket_id=ticket_id)
    holder = by_id.pop(assigned["payload"]["firm_id"])
    [other] = by_id.values()

    fetched(holder, ticket_id)
    declined = cli(holder, "decline", ticket_id, "--note", "利益冲突")
    assert declined.exit_code == 0, declined.output
    [moved] = ticketing.wait_for_event("ticket_reassigned", ticket_id=ticket_id)
    assert moved["payload"]["from_firm_id"] == holder.firm_id
    assert moved["payload"]["to_firm_id"] == other.firm_id

    item = fetched(other, ticket_id)
    assert item.payload["firm_id"] == other.firm_id
    assert other.accept(ticket_id).sent
    ticketing.wait_for_event("ticket_accepted", ticket_id=ticket_id)
    assert holder.item(ticket_id).status is ItemStatus.DECLINED
    assert ticketing.rpc("ticket", ticket_id)["declined_firms"] == [holder.firm_id]
    with pytest.raises(TicketNotOpen):
        holder.accept(ticket_id)
    assert ticketing.dead_letters() == []


def test_a_withdrawn_claim_marks_the_review_withdrawn_in_the_store(ticketing, clients):
    ticketing.start()
    lawyer = ticketing.add_firm("law", skills=("buyback_review",))
    client = clients(lawyer)
    enterprise_id = ticketing.admit()
    claim_id = str(uuid.uuid4())
    request = {**review_request(claim_id, enterprise_id), "reviews": ["legal"]}
    ticketing.buyback.publish("claim_review_requested", request, park_id=PARK)
    [opened] = ticketing.wait_for_event("ticket_opened", claim_id=claim_id)
    ticket_id = opened["payload"]["ticket_id"]
    item = fetched(client, ticket_id)
    assert item.is_review and item.payload["claim_id"] == claim_id
    assert client.accept(ticket_id, "开始审查").sent
    ticketing.wait_for_event("ticket_accepted", ticket_id=ticket_id)

    ticketing.buyback.publish(
        "claim_withdrawn",
        {"claim_id": claim_id, "enterprise_id": enterprise_id, "reason": "已获银行续贷"},
        park_id=PARK,
    )
    ticketing.wait_for_event("ticket_cancelled", ticket_id=ticket_id)
    item = fetched(client, ticket_id, ItemStatus.WITHDRAWN)
    assert item.withdrawn_reason == "ticket_cancelled"
    assert item.payload["claim_id"] == claim_id  # what the work was is kept
    with pytest.raises(TicketNotOpen, match="withdrawn"):
        client.complete(ticket_id, "approve")
    assert ticketing.rpc("ticket", ticket_id)["status"] == "cancelled"


def test_a_review_rejected_through_the_cli_gives_buyback_the_reasons(ticketing, clients):
    ticketing.start()
    auditor = ticketing.add_firm("fin", kind="finance", skills=("buyback_review",))
    client = clients(auditor)
    enterprise_id = ticketing.admit()
    claim_id = str(uuid.uuid4())
    request = {**review_request(claim_id, enterprise_id), "reviews": ["finance"]}
    ticketing.buyback.publish("claim_review_requested", request, park_id=PARK)
    [opened] = ticketing.wait_for_event("ticket_opened", claim_id=claim_id)
    ticket_id = opened["payload"]["ticket_id"]
    fetched(client, ticket_id)

    done = cli(client, "complete", ticket_id, "--outcome", "done")
    assert done.exit_code == 2 and "approve or reject" in done.output  # nothing written
    assert client.store.reports(ticket_id) == []
    rejected = cli(
        client,
        "complete",
        ticket_id,
        "--outcome",
        "reject",
        "--reason",
        "近三年营收稳定，不属经营困难",
        "--reason",
        "财务报表未经审计",
    )
    assert rejected.exit_code == 0, rejected.output
    [resolved] = ticketing.wait_for_event("ticket_resolved", ticket_id=ticket_id)
    assert (resolved["payload"]["review"], resolved["payload"]["outcome"]) == (
        "finance",
        "reject",
    )
    assert resolved["payload"]["claim_id"] == claim_id
    assert resolved["payload"]["reasons"] == ["近三年营收稳定，不属经营困难", "财务报表未经审计"]
    assert resolved["payload"]["fee_fen"] is None  # free to the enterprise
    assert ticketing.dead_letters() == []


def test_firm_a_cannot_report_on_firm_bs_ticket(ticketing, clients):
    ticketing.start()
    a = ticketing.add_firm("a")
    a_client = clients(a)
    enterprise_id = ticketing.admit()
    first = ticketing.ticket_of_request(ticketing.request(enterprise_id)["request_id"])
    fetched(a_client, first)
    b = ticketing.add_firm("b")
    b_client = clients(b)
    second = ticketing.ticket_of_request(ticketing.request(enterprise_id)["request_id"])
    [assigned] = ticketing.wait_for_event("ticket_assigned", ticket_id=second)
    assert assigned["payload"]["firm_id"] == b.firm_id  # the least loaded
    b_item = fetched(b_client, second)

    # A ticket A never received: its client refuses before anything is written or sent.
    with pytest.raises(UnknownTicket):
        a_client.accept(second)
    assert a_client.store.reports(second) == []

    # B's work item in A's store (copied from B): A's report goes out as firm-A, and
    # ticketing dead-letters it as a security event; B's ticket is unchanged.
    a_client.store.record(
        event_id=str(uuid.uuid4()),
        type_="work_assigned",
        occurred_at=ticketing.clock(),
        payload=dict(b_item.payload),
        correlation_id=b_item.correlation_id,
        park_id=b_item.park_id,
        now=ticketing.clock(),
    )
    assert a_client.accept(second, "抢单").sent  # the broker took it …
    [letter] = wait_for(ticketing.dead_letters, message="A's report on B's ticket")
    assert "not_assignee" in park_error(letter), park_error(letter)  # … ticketing refused it
    assert SECURITY.search(park_error(letter))
    view = ticketing.rpc("ticket", second)
    assert view["status"] == "assigned" and view["firm_id"] == b.firm_id
    assert ticketing.events_where("ticket_accepted", ticket_id=second) == []

    # The ticket A held goes to B (A disabled) before A's client fetched the withdrawal:
    # A reports on a stale item, and that report is refused too.
    handlers.disable_firm(ticketing.uow(), a.firm_id, "执业许可暂停", ticketing.clock())
    [moved] = ticketing.wait_for_event("ticket_reassigned", ticket_id=first)
    assert moved["payload"]["to_firm_id"] == b.firm_id
    fetched(b_client, first)
    assert a_client.complete(first, "done", "已处理").sent
    [letter] = wait_for(ticketing.dead_letters, message="A's stale report")
    assert "no_longer_assigned" in park_error(letter), park_error(letter)
    view = ticketing.rpc("ticket", first)
    assert view["status"] == "assigned" and view["firm_id"] == b.firm_id
    assert ticketing.events_where("ticket_resolved", ticket_id=first) == []
    assert fetched(a_client, first, ItemStatus.WITHDRAWN).withdrawn_reason == "firm_disabled"


def test_a_fixed_fee_service_is_resolved_with_the_catalogues_fee(ticketing, clients):
    ticketing.start()
    firm = ticketing.add_firm("law", skills=LEGAL_SKILLS)
    client = clients(firm)
    enterprise_id = ticketing.admit()
    request = ticketing.request(enterprise_id, "LEGAL-01", description="审查劳动合同范本")
    ticket_id = ticketing.ticket_of_request(request["request_id"])
    item = fetched(client, ticket_id)
    assert (item.payload["fee_policy"], item.payload["fee_fen"]) == ("fixed", 50_000)

    assert client.accept(ticket_id).sent
    assert client.complete(ticket_id, "done", "已出具审查意见").sent
    [resolved] = ticketing.wait_for_event("ticket_resolved", ticket_id=ticket_id)
    assert resolved["payload"]["fee_fen"] == 50_000
    assert resolved["correlation_id"] == item.correlation_id  # one trace, park to firm
    assert ticketing.dead_letters() == []


def test_a_report_that_could_not_be_sent_is_sent_later_and_applied_once(ticketing, clients):
    ticketing.start()
    firm = ticketing.add_firm("law", skills=LEGAL_SKILLS)
    client = clients(firm)
    enterprise_id = ticketing.admit()
    ticket_id = ticketing.ticket_of_request(ticketing.request(enterprise_id)["request_id"])
    fetched(client, ticket_id)

    # The broker refuses the connection (a wrong password): the report stays pending.
    refused_uri = client.amqp_uri.replace(":pw-", ":wrong-", 1)
    assert refused_uri != client.amqp_uri
    offline = FirmClient(firm.firm_id, refused_uri, client.store.path, clock=ticketing.clock)
    try:
        result = offline.accept(ticket_id, "已安排律师")
    finally:
        offline.close()
    assert not result.sent and result.error
    [pending] = client.store.pending_reports()
    assert pending.event_id == result.event_id
    assert ticketing.events_where("ticket_accepted", ticket_id=ticket_id) == []

    sent = cli(client, "send")
    assert sent.exit_code == 0, sent.output
    [accepted] = ticketing.wait_for_event("ticket_accepted", ticket_id=ticket_id)
    assert accepted["causation_id"] == result.event_id

    # Sent again with the same event id (a confirm that was lost): applied once.
    client.store._db.execute("UPDATE reports SET status = 'pending'")
    assert client.send_pending().sent == [result.event_id]
    assert client.complete(ticket_id, "done", "调解完成").sent
    ticketing.wait_for_event("ticket_resolved", ticket_id=ticket_id)
    assert len(ticketing.events_where("ticket_accepted", ticket_id=ticket_id)) == 1
    assert ticketing.dead_letters() == []


def test_firm_a_cannot_read_firm_bs_work(ticketing, clients, tmp_path):
    ticketing.start()
    a, b = ticketing.add_firm("a"), ticketing.add_firm("b")
    a_client, b_client = clients(a), clients(b)
    enterprise_id = ticketing.admit()
    ticket_id = ticketing.ticket_of_request(ticketing.request(enterprise_id)["request_id"])
    [assigned] = ticketing.wait_for_event("ticket_assigned", ticket_id=ticket_id)
    by_id = {a.firm_id: a_client, b.firm_id: b_client}
    owner = by_id.pop(assigned["payload"]["firm_id"])
    [other] = by_id.values()

    # As the other firm's id with its own credentials: refused before connecting.
    with pytest.raises(ConfigurationError):
        FirmClient(owner.firm_id, other.amqp_uri, tmp_path / "x.sqlite")
    # Its own client pointed at the owner's queue: the broker refuses the read.
    other.queue = owner.queue
    with pytest.raises(BrokerUnavailable, match=r"ACCESS_REFUSED|AccessRefused"):
        other.fetch()
    assert other.store.items() == []
    assert fetched(owner, ticket_id).payload["firm_id"] == owner.firm_id
