"""A ticket's life against the real broker and PostgreSQL: request → routed → work item on
the firm's queue → the firm's reports (as its own broker user) → resolved → rated →
closed; and the ways there: waiting unassigned until a firm is added, a request that
comes before its enterprise's admission, an environmental review opened by admission."""

import uuid
from datetime import UTC, datetime, timedelta

import nameko
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from services.ticketing import orm
from services.ticketing.tests.service.conftest import PARK
from shared.contract import build
from shared.contract.fields import utc_iso
from shared.messaging.publisher import message_for
from tests.support.broker import wait_for


@pytest.mark.parametrize("ticketing", ["postgresql", "sqlite"], indirect=True)
def test_a_request_is_routed_worked_resolved_rated_and_closed(ticketing, clock):
    ticketing.start()
    firm = ticketing.add_firm("law", skills=("labour_law", "mediation"))
    enterprise_id = ticketing.admit()
    request = ticketing.request(enterprise_id)
    ticket_id = ticketing.ticket_of_request(request["request_id"])

    [assigned] = ticketing.wait_for_event("ticket_assigned", ticket_id=ticket_id)
    assert assigned["payload"]["firm_id"] == firm.firm_id
    item = ticketing.wait_for_work(firm, "work_assigned", ticket_id)
    assert item["payload"]["enterprise"] == {
        "enterprise_id": enterprise_id,
        "name": "郑州恒达精密机械有限公司",
        "uscc": "91410100000000019L",
        "legal_representative": "王建国",
        "contact_phone": "13803710000",
    }
    assert item["payload"]["service_code"] == "LEGAL-03"
    assert item["payload"]["first_response_due_at"] is not None

    clock.advance(hours=1)
    firm.report("work_accepted", ticket_id)
    ticketing.wait_for_event("ticket_accepted", ticket_id=ticket_id)
    firm.report("work_progressed", ticket_id, note="请补充劳动合同", waiting_on_enterprise=True)
    ticketing.wait_for_event("ticket_waiting", ticket_id=ticket_id)
    ticketing.portal.publish(
        "ticket_replied", {"ticket_id": ticket_id, "message": "已上传"}, park_id=PARK
    )
    [resumed] = ticketing.wait_for_event("ticket_resumed", ticket_id=ticket_id)
    assert resumed["payload"]["by"] == "enterprise"
    clock.advance(hours=2)
    firm.report("work_completed", ticket_id, outcome="done", note="调解完成")
    [resolved] = ticketing.wait_for_event("ticket_resolved", ticket_id=ticket_id)
    assert resolved["payload"]["outcome"] == "done" and resolved["payload"]["fee_fen"] is None

    ticketing.portal.publish(
        "ticket_rated", {"ticket_id": ticket_id, "score": 5, "comment": "及时"}, park_id=PARK
    )
    [closed] = ticketing.wait_for_event("ticket_closed", ticket_id=ticket_id)
    assert closed["payload"]["why"] == "rated"
    view = ticketing.rpc("ticket", ticket_id)
    assert view["status"] == "closed" and view["rating"] == 5

    since, until = clock() - timedelta(days=1), clock() + timedelta(days=1)
    [figures] = ticketing.rpc("firm_figures", PARK, utc_iso(since), utc_iso(until))
    assert figures["firm_id"] == firm.firm_id and figures["tickets"] == 1
    assert figures["median_first_response_hours"] == 1.0
    assert figures["mean_rating"] == 5 and figures["sla_compliance_percent"] == 100.0
    [by_service] = ticketing.rpc("service_figures", PARK, utc_iso(since), utc_iso(until))
    assert by_service["service_code"] == "LEGAL-03"
    assert ticketing.dead_letters() == []


def test_a_ticket_waits_unassigned_until_a_firm_is_added(ticketing):
    ticketing.start()
    enterprise_id = ticketing.admit()
    request = ticketing.request(enterprise_id)
    ticket_id = ticketing.ticket_of_request(request["request_id"])
    assert ticketing.rpc("ticket", ticket_id)["status"] == "open"
    assert ticketing.events_where("ticket_assigned", ticket_id=ticket_id) == []

    firm = ticketing.add_firm("late", skills=("labour_law", "mediation"))

    [assigned] = ticketing.wait_for_event("ticket_assigned", ticket_id=ticket_id)
    assert assigned["payload"]["firm_id"] == firm.firm_id
    ticketing.wait_for_work(firm, "work_assigned", ticket_id)


def test_a_request_before_its_enterprise_is_admitted_waits_for_the_admission(ticketing):
    ticketing.start()
    ticketing.add_firm("law", skills=("labour_law", "mediation"))
    enterprise_id = "ent-early-bird"
    request = ticketing.request(enterprise_id)
    ticketing.admit(enterprise_id, wait=False)
    ticketing.ticket_of_request(request["request_id"])
    assert ticketing.events_where("service_request_rejected") == []


def retried(queue: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "park_events_consumed_total",
            {"service": "ticketing", "queue": queue, "outcome": "retried"},
        )
        or 0
    )


def test_a_request_of_an_enterprise_never_admitted_is_rejected_after_the_grace(ticketing, clock):
    queue = "ticketing.portal.service_requested"
    with nameko.config.patch({"UNKNOWN_ENTERPRISE_GRACE": 5}):
        ticketing.start()
        before = retried(queue)
        payload = {
            "request_id": str(uuid.uuid4()),
            "enterprise_id": "ent-never-admitted",
            "service_code": "LEGAL-03",
            "description": "劳动争议需要调解",
            "priority": "normal",
        }
        # occurred_at on the service's clock: within the grace at first, so retried ...
        envelope = build("portal", "service_requested", payload, occurred_at=clock(), park_id=PARK)
        ticketing.portal._publisher.publish([message_for(envelope, user_id="portal")])
        wait_for(lambda: retried(queue) > before, message="a first retry")
        # ... then the service's clock passes the grace: the next retry rejects it.
        clock.advance(seconds=6)
        [rejected] = ticketing.wait_for_event(
            "service_request_rejected", request_id=payload["request_id"]
        )
        codes = [r["code"] for r in rejected["payload"]["reasons"]]
        assert codes == ["enterprise_not_admitted"]
        assert ticketing.events_where("ticket_opened", request_id=payload["request_id"]) == []
        assert ticketing.dead_letters() == []


def test_an_invalid_request_is_rejected_with_its_reasons(ticketing):
    ticketing.start()
    enterprise_id = ticketing.admit()
    request = ticketing.request(enterprise_id, code="NOPE-99")
    [rejected] = ticketing.wait_for_event(
        "service_request_rejected", request_id=request["request_id"]
    )
    assert [r["code"] for r in rejected["payload"]["reasons"]] == ["unknown_service_code"]


def test_admission_of_an_industry_needing_environmental_review_opens_one(ticketing):
    ticketing.start()
    firm = ticketing.add_firm("eia", kind="environmental_review", skills=("eia_report",))
    enterprise_id = ticketing.admit(env=True)
    [opened] = ticketing.wait_for_event("ticket_opened", enterprise_id=enterprise_id)
    assert opened["payload"]["origin"] == "admission"
    ticketing.wait_for_work(firm, "work_assigned", opened["payload"]["ticket_id"])


def test_a_work_item_for_a_firm_without_a_queue_is_quarantined_and_shown_in_health(ticketing):
    with nameko.config.patch({"OUTBOX": {"poll_interval": 0.2, "quarantine_after": 2}}):
        ticketing.start()
    enterprise_id = ticketing.admit()
    firm = ticketing.add_firm("noqueue", register=False)
    ticketing.management._call_optional(
        "DELETE", f"queues/{ticketing.management._q(ticketing.vhost)}/{firm.queue}"
    )
    ticketing.register(firm, skills=("labour_law", "mediation"))
    request = ticketing.request(enterprise_id)
    ticket_id = ticketing.ticket_of_request(request["request_id"])
    ticketing.wait_for_event("ticket_assigned", ticket_id=ticket_id)  # the events go out

    health = wait_for(
        lambda: (report := ticketing.rpc("health"))["outbox_quarantined"] and report,
        message="the work item quarantined",
    )
    assert [(h["type"], h["exchange"]) for h in health["quarantined"]] == [
        ("work_assigned", "ticketing.work")
    ], health


def test_sla_due_times_across_national_day_as_the_running_service_computes_them(ticketing, clock):
    """2026's National Day holiday is 10-01..07 and Saturday 10-10 is a 调休 working day
    (the park's hours 09:00-12:00, 13:00-18:00 Asia/Shanghai; LEGAL-03 answers in 4
    business hours, warning at 80 %)."""
    ticketing.start()
    firm = ticketing.add_firm("law", skills=("labour_law", "mediation"))
    enterprise_id = ticketing.admit()
    expected = [
        # opened Wed 09-30 16:00: 2 h that day, none 10-01..07, 2 h on Thu 10-08
        (datetime(2026, 9, 30, 8, 0, tzinfo=UTC), "2026-10-08T03:00:00Z", "2026-10-08T02:12:00Z"),
        # opened Fri 10-09 16:00: 2 h that day, 2 h on the make-up Saturday 10-10
        (datetime(2026, 10, 9, 8, 0, tzinfo=UTC), "2026-10-10T03:00:00Z", "2026-10-10T02:12:00Z"),
    ]
    for opened_at, first_response_due, warning_due in expected:
        clock.now = opened_at
        request = ticketing.request(enterprise_id)
        ticket_id = ticketing.ticket_of_request(request["request_id"])
        item = ticketing.wait_for_work(firm, "work_assigned", ticket_id)
        assert item["payload"]["first_response_due_at"] == first_response_due
        table = orm.tickets
        with ticketing.database.transaction() as session:
            due = session.execute(
                select(table.c.next_sla_due_at).where(table.c.ticket_id == ticket_id)
            ).scalar_one()
        assert utc_iso(due) == warning_due  # what the SLA scan is indexed on
