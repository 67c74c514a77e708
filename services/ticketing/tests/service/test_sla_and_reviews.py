"""The SLA timer with two instances on PostgreSQL (``FOR UPDATE SKIP LOCKED``: every
warning once, never twice; a scan skips a row another transaction holds, promptly, and
takes it once released; the due query is served by ``ix_tickets_next_sla_due_at``);
warning → breach → escalation and the automatic close with an injected clock; buyback
reviews opened, resolved and cancelled; a disabled firm's tickets rerouted and its work
withdrawn."""

import json
import re
import time
import uuid
from collections import Counter

import eventlet
from sqlalchemy import event, func, select

from services.ticketing import handlers, orm
from services.ticketing.orm import messaging
from services.ticketing.tests.service.conftest import PARK
from tests.support.broker import wait_for


def admitted(enterprise_id: str) -> dict:
    return {
        "application_id": str(uuid.uuid4()),
        "enterprise_id": enterprise_id,
        "enterprise_name": "郑州恒达精密机械有限公司",
        "uscc": "91410100000000019L",
        "industry_code": "C3464",
        "tenure": "purchase",
        "supply_chain_partner": True,
        "environmental_review_required": False,
        "chief_service_officer": "cso-02",
    }


def open_directly(ticketing, enterprise_id: str, count: int) -> list[str]:
    """Tickets opened through the use case itself (fast: no broker round trip each)."""
    ids = []
    for _ in range(count):
        payload = {
            "request_id": str(uuid.uuid4()),
            "enterprise_id": enterprise_id,
            "service_code": "LEGAL-03",
            "description": "劳动争议需要调解",
            "priority": "normal",
        }
        ids.append(handlers.request_service(payload, PARK, ticketing.uow()).ticket_id)
    return ids


def outbox_rows(ticketing) -> int:
    with ticketing.database.transaction() as session:
        return session.execute(select(func.count()).select_from(messaging.outbox)).scalar()


def outbox_sent(ticketing) -> int:
    table = messaging.outbox
    with ticketing.database.transaction() as session:
        return session.execute(
            select(func.count()).select_from(table).where(table.c.sent_at.is_not(None))
        ).scalar()


def test_two_sla_scanners_warn_each_ticket_once(ticketing, clock):
    first, second = ticketing.start(), ticketing.start()
    handlers.admit_enterprise(admitted("ent-sla"), PARK, ticketing.uow())
    tickets = open_directly(ticketing, "ent-sla", 40)
    clock.advance(hours=4, minutes=30)  # Friday 14:30: 3.5 of the 4 first-response hours

    scans = [
        eventlet.spawn(ticketing.rpc, "scan_sla", container=container)
        for container in (first, second)
    ]
    results = [scan.wait() for scan in scans]

    assert sum(r["checked"] for r in results) == 40, results
    assert ticketing.rpc("scan_sla", container=second)["checked"] == 0  # nothing left due
    ticketing.wait_for_event("sla_warning", 40)
    assert wait_for(lambda: outbox_sent(ticketing) == outbox_rows(ticketing), message="relay")
    warnings = ticketing.events_where("sla_warning")
    assert Counter(w["payload"]["ticket_id"] for w in warnings) == dict.fromkeys(tickets, 1)
    assert {w["payload"]["clock"] for w in warnings} == {"first_response"}


def test_warning_breach_escalation_then_auto_close(ticketing, clock):
    ticketing.start()
    firm = ticketing.add_firm("slow")
    handlers.admit_enterprise(admitted("ent-late"), PARK, ticketing.uow())
    [ticket_id] = open_directly(ticketing, "ent-late", 1)

    clock.advance(hours=4, minutes=30)
    ticketing.rpc("scan_sla")
    ticketing.wait_for_event("sla_warning", ticket_id=ticket_id)
    clock.advance(hours=1)  # Friday 15:30: 4.5 business hours
    ticketing.rpc("scan_sla")
    [breach] = ticketing.wait_for_event("sla_breached", ticket_id=ticket_id)
    [escalation] = ticketing.wait_for_event("ticket_escalated", ticket_id=ticket_id)
    assert breach["payload"]["clock"] == "first_response"
    assert escalation["payload"]["chief_service_officer"] == "cso-02"
    assert escalation["payload"]["firm_id"] == firm.firm_id

    firm.report("work_completed", ticket_id, outcome="done")
    ticketing.wait_for_event("ticket_resolved", ticket_id=ticket_id)
    clock.advance(days=5)  # Wednesday: the 3rd business day (Mon, Tue, Wed) is not over
    assert ticketing.rpc("scan_sla")["checked"] == 0
    clock.advance(days=1)  # Thursday: closed at the end of Wednesday
    assert ticketing.rpc("scan_sla")["checked"] == 1
    [closed] = ticketing.wait_for_event("ticket_closed", ticket_id=ticket_id)
    assert closed["payload"]["why"] == "auto_closed"
    assert len(ticketing.events_where("ticket_closed", ticket_id=ticket_id)) == 1


def review_request(claim_id: str, enterprise_id: str) -> dict:
    return {
        "claim_id": claim_id,
        "enterprise_id": enterprise_id,
        "reviews": ["legal", "finance"],
        "reason": "订单骤减，经营困难",
        "evidence": ["2026年财务报表.pdf"],
    }


def test_claim_reviews_are_opened_resolved_and_cancelled(ticketing):
    ticketing.start()
    lawyer = ticketing.add_firm("law", skills=("buyback_review",))
    finance = ticketing.add_firm("fin", kind="finance", skills=("buyback_review",))
    enterprise_id = ticketing.admit()
    claim_id = str(uuid.uuid4())
    ticketing.buyback.publish(
        "claim_review_requested", review_request(claim_id, enterprise_id), park_id=PARK
    )
    opened = ticketing.wait_for_event("ticket_opened", 2, claim_id=claim_id)
    by_review = {e["payload"]["review"]: e["payload"]["ticket_id"] for e in opened}
    assert {e["payload"]["origin"] for e in opened} == {"buyback_review"}
    assert {e["payload"]["fee_policy"] for e in opened} == {"free"}
    ticketing.wait_for_work(lawyer, "work_assigned", by_review["legal"])
    ticketing.wait_for_work(finance, "work_assigned", by_review["finance"])

    lawyer.report("work_completed", by_review["legal"], outcome="approve", note="产权清晰")
    [resolved] = ticketing.wait_for_event("ticket_resolved", claim_id=claim_id)
    assert (resolved["payload"]["review"], resolved["payload"]["outcome"]) == ("legal", "approve")

    ticketing.buyback.publish(
        "claim_withdrawn",
        {"claim_id": claim_id, "enterprise_id": enterprise_id, "reason": "已获银行续贷"},
        park_id=PARK,
    )
    [cancelled] = ticketing.wait_for_event("ticket_cancelled", claim_id=claim_id)
    assert cancelled["payload"]["ticket_id"] == by_review["finance"]
    assert cancelled["payload"]["firm_id"] == finance.firm_id
    withdrawn = ticketing.wait_for_work(finance, "work_withdrawn", by_review["finance"])
    assert withdrawn["payload"]["reason"] == "ticket_cancelled"
    assert ticketing.rpc("ticket", by_review["legal"])["status"] == "resolved"


def test_a_disabled_firms_tickets_are_rerouted_and_its_work_withdrawn(ticketing):
    ticketing.start()
    going = ticketing.add_firm("going")
    enterprise_id = ticketing.admit()
    request = ticketing.request(enterprise_id)
    ticket_id = ticketing.ticket_of_request(request["request_id"])
    ticketing.wait_for_work(going, "work_assigned", ticket_id)
    staying = ticketing.add_firm("staying")

    handlers.disable_firm(ticketing.uow(), going.firm_id, "执业许可暂停", ticketing.clock())

    [moved] = ticketing.wait_for_event("ticket_reassigned", ticket_id=ticket_id)
    assert moved["payload"]["why"] == "firm_disabled"
    assert moved["payload"]["to_firm_id"] == staying.firm_id
    ticketing.wait_for_work(staying, "work_assigned", ticket_id)
    withdrawn = ticketing.wait_for_work(going, "work_withdrawn", ticket_id)
    assert withdrawn["payload"]["reason"] == "firm_disabled"
    firms = {f["firm_id"]: f for f in ticketing.rpc("list_firms")}
    assert firms[going.firm_id]["active"] is False
    wait_for(lambda: ticketing.rpc("health"), message="health")


def warned(ticketing, ticket_id: str):
    with ticketing.uow() as uow:
        return uow.tickets.get(ticket_id).first_response.warned_at


def test_a_scan_skips_a_ticket_locked_elsewhere_then_handles_it_once_released(ticketing, clock):
    handlers.admit_enterprise(admitted("ent-lock"), PARK, ticketing.uow())
    tickets = open_directly(ticketing, "ent-lock", 3)
    held = tickets[1]
    clock.advance(hours=4, minutes=30)  # every first-response clock is past its warning
    table = orm.tickets
    with ticketing.database.engine.connect() as other, other.begin():
        # another transaction (another scanner, a report) holds the row of one due ticket
        other.execute(select(table.c.ticket_id).where(table.c.ticket_id == held).with_for_update())
        started = time.monotonic()
        with eventlet.Timeout(10):  # a scan that waited for the lock would never return
            scan = handlers.scan_sla(ticketing.uow())
        assert time.monotonic() - started < 5
        assert scan.checked == 2 and scan.failed == []
        assert warned(ticketing, held) is None
        assert all(warned(ticketing, t) is not None for t in tickets if t != held)
    # released: the next scan takes it, and only it
    scan = handlers.scan_sla(ticketing.uow())
    assert scan.checked == 1 and warned(ticketing, held) is not None
    assert handlers.scan_sla(ticketing.uow()).checked == 0
    table = messaging.outbox
    with ticketing.database.transaction() as session:
        bodies = (
            session.execute(select(table.c.body).where(table.c.event_type == "sla_warning"))
            .scalars()
            .all()
        )
    warnings = [json.loads(body) for body in bodies]
    assert Counter(w["payload"]["ticket_id"] for w in warnings) == dict.fromkeys(tickets, 1)


def test_the_due_query_uses_the_next_sla_due_at_index(ticketing, clock):
    handlers.admit_enterprise(admitted("ent-explain"), PARK, ticketing.uow())
    open_directly(ticketing, "ent-explain", 3)
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "next_sla_due_at" in statement and "SKIP LOCKED" in statement:
            captured.append((statement, parameters))

    engine = ticketing.database.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        with ticketing.uow() as uow:
            uow.tickets.due(clock(), 500)  # the repository's own query, as the scan runs it
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [(statement, parameters)] = captured
    assert "SKIP LOCKED" in statement
    with engine.connect() as connection, connection.begin():
        cursor = connection.connection.cursor()
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + statement, parameters)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # the index serves the due condition itself, not just the ordering
    assert re.search(r"Index (Only )?Scan.* on ix_tickets_next_sla_due_at", plan), plan
    assert re.search(r"Index Cond: \(next_sla_due_at <= ", plan), plan
