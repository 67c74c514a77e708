"""Routing and firms' reports against the real broker: kind, skills and load with fair
ties; reroute on decline (never back); a report about another firm's ticket, or from no
firm at all, is dead-lettered and changes nothing; duplicate and out-of-order reports
(each pair delivered in reverse) take effect once."""

import uuid
from collections import Counter

from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from services.ticketing.tests.service.conftest import PARK, SECURITY, park_error
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher
from shared.messaging.publisher import message_for
from tests.support.broker import wait_for


def handled(queue: str) -> float:
    """Messages of ``queue`` the consumer settled so far, any outcome."""
    return sum(
        REGISTRY.get_sample_value(
            "park_events_consumed_total",
            {"service": "ticketing", "queue": queue, "outcome": outcome},
        )
        or 0
        for outcome in ("applied", "duplicate", "retried", "dead_lettered")
    )


def wait_handled(queue: str, before: float, count: int = 1) -> None:
    wait_for(lambda: handled(queue) - before >= count, message=f"{count} handled on {queue}")


def open_ticket(ticketing, enterprise_id, code="LEGAL-03") -> str:
    request = ticketing.request(enterprise_id, code)
    ticket_id = ticketing.ticket_of_request(request["request_id"])
    return ticket_id


def test_routing_by_kind_skill_and_load_with_fair_ties(ticketing):
    ticketing.start()
    a = ticketing.add_firm("a", skills=("labour_law", "mediation"))
    b = ticketing.add_firm("b", skills=("labour_law", "mediation", "ip_law"))
    no_skill = ticketing.add_firm("noskill", skills=("labour_law",))
    wrong_kind = ticketing.add_firm("acct", kind="accounting", skills=("labour_law", "mediation"))
    enterprise_id = ticketing.admit()
    tickets = [open_ticket(ticketing, enterprise_id) for _ in range(4)]
    owners = [
        ticketing.wait_for_event("ticket_assigned", ticket_id=t)[0]["payload"]["firm_id"]
        for t in tickets
    ]
    assert Counter(owners) == {a.firm_id: 2, b.firm_id: 2}
    # fair ties: never the same firm twice in a row while loads are equal
    assert owners[0] != owners[1] and owners[2] != owners[3]
    assert ticketing.work_for(no_skill) == [] and ticketing.work_for(wrong_kind) == []


def test_a_declined_ticket_goes_to_another_firm_and_never_back(ticketing):
    ticketing.start()
    first = ticketing.add_firm("first")
    second = ticketing.add_firm("second")
    firms = {first.firm_id: first, second.firm_id: second}
    enterprise_id = ticketing.admit()
    ticket_id = open_ticket(ticketing, enterprise_id)
    [assigned] = ticketing.wait_for_event("ticket_assigned", ticket_id=ticket_id)
    holder = firms.pop(assigned["payload"]["firm_id"])
    [other] = firms.values()

    holder.report("work_declined", ticket_id, note="利益冲突")
    [moved] = ticketing.wait_for_event("ticket_reassigned", ticket_id=ticket_id)
    assert moved["payload"]["from_firm_id"] == holder.firm_id
    assert moved["payload"]["to_firm_id"] == other.firm_id
    assert moved["payload"]["why"] == "declined"
    ticketing.wait_for_work(other, "work_assigned", ticket_id)

    other.report("work_declined", ticket_id, note="人手不足")
    [_, back] = ticketing.wait_for_event("ticket_reassigned", 2, ticket_id=ticket_id)
    assert back["payload"]["to_firm_id"] is None  # waits unassigned: both declined
    assert ticketing.rpc("ticket", ticket_id)["status"] == "open"


def test_a_report_about_another_firms_ticket_is_refused_and_changes_nothing(ticketing):
    ticketing.start()
    owner = ticketing.add_firm("owner")
    intruder = ticketing.add_firm("intruder", skills=("ip_law",))  # never gets LEGAL-03
    enterprise_id = ticketing.admit()
    ticket_id = open_ticket(ticketing, enterprise_id)
    ticketing.wait_for_work(owner, "work_assigned", ticket_id)

    intruder.report("work_completed", ticket_id, outcome="done")
    [letter] = wait_for(ticketing.dead_letters, message="the refused report")
    assert "not_assignee" in park_error(letter)
    assert ticketing.rpc("ticket", ticket_id)["status"] == "assigned"
    assert ticketing.events_where("ticket_resolved", ticket_id=ticket_id) == []


def test_a_report_from_no_firm_user_is_dead_lettered(ticketing):
    ticketing.start()
    owner = ticketing.add_firm("owner")
    enterprise_id = ticketing.admit()
    ticket_id = open_ticket(ticketing, enterprise_id)
    ticketing.wait_for_work(owner, "work_assigned", ticket_id)
    # Only a firm's user may publish on firms.events (senders.py): guest is refused by
    # the shared consumer before ticketing's handler runs, and logged as a security event.
    envelope = owner.report_envelope("work_completed", ticket_id, outcome="done")
    with capture_logs() as logs:
        publisher = ConfirmingPublisher(BrokerAddress.from_uri(ticketing.amqp_uri))  # guest
        publisher.publish([message_for(envelope, user_id="guest")])
        publisher.close()
        [letter] = wait_for(ticketing.dead_letters, message="the refused report")
    assert SECURITY.search(park_error(letter))
    [security] = [entry for entry in logs if entry["event"] == "security_event"]
    assert security["security_event"] is True and security["code"] == "missing_sender"
    assert security["sender"] == "guest" and security["source"] == "firms"
    assert security["log_level"] == "warning"
    assert ticketing.rpc("ticket", ticket_id)["status"] == "assigned"


def test_completion_before_acceptance_and_a_duplicate_take_effect_once(ticketing):
    ticketing.start()
    firm = ticketing.add_firm("solo")
    enterprise_id = ticketing.admit()
    ticket_id = open_ticket(ticketing, enterprise_id)
    ticketing.wait_for_work(firm, "work_assigned", ticket_id)

    completed = firm.report_envelope("work_completed", ticket_id, outcome="done")
    accepted = firm.report_envelope("work_accepted", ticket_id)
    before = handled("ticketing.firms.work_completed")
    firm.send(completed)
    firm.send(completed)  # the same event twice: the inbox applies it once
    wait_handled("ticketing.firms.work_completed", before, 2)
    before = handled("ticketing.firms.work_accepted")
    firm.send(accepted)
    wait_handled("ticketing.firms.work_accepted", before)

    assert len(ticketing.wait_for_event("ticket_resolved", ticket_id=ticket_id)) == 1
    assert len(ticketing.events_where("ticket_accepted", ticket_id=ticket_id)) == 1
    assert len(ticketing.events_where("ticket_resolved", ticket_id=ticket_id)) == 1
    assert ticketing.dead_letters() == []


def test_progress_before_acceptance_and_a_rating_before_completion(ticketing):
    ticketing.start()
    firm = ticketing.add_firm("solo")
    enterprise_id = ticketing.admit()
    ticket_id = open_ticket(ticketing, enterprise_id)
    ticketing.wait_for_work(firm, "work_assigned", ticket_id)

    progressed = firm.report_envelope("work_progressed", ticket_id, note="已联系企业")
    accepted = firm.report_envelope("work_accepted", ticket_id)
    before = handled("ticketing.firms.work_progressed")
    firm.send(progressed)
    wait_handled("ticketing.firms.work_progressed", before)
    firm.send(accepted)
    ticketing.wait_for_event("ticket_progressed", ticket_id=ticket_id)

    # the rating arrives before the completion it rates: retried, then applied
    ticketing.portal.publish(
        "ticket_rated", {"ticket_id": ticket_id, "score": 4, "comment": "好"}, park_id=None
    )
    firm.report("work_completed", ticket_id, outcome="done")
    [closed] = ticketing.wait_for_event("ticket_closed", ticket_id=ticket_id)
    assert closed["payload"]["why"] == "rated"
    assert len(ticketing.events_where("ticket_accepted", ticket_id=ticket_id)) == 1
    assert ticketing.dead_letters() == []


def test_fair_ties_rotate_across_firms_between_transactions(ticketing):
    """Equal loads every time (each ticket completed before the next is opened): only the
    stored round-robin position (record_sequences, read back by lock_board) can make the
    assignments rotate; "fewest open, then smallest id" alone would pick one firm."""
    ticketing.start()
    firms = {f.firm_id: f for f in (ticketing.add_firm(label) for label in ("x", "y", "z"))}
    enterprise_id = ticketing.admit()
    owners = []
    for _ in range(6):
        ticket_id = open_ticket(ticketing, enterprise_id)
        [assigned] = ticketing.wait_for_event("ticket_assigned", ticket_id=ticket_id)
        owner = assigned["payload"]["firm_id"]
        owners.append(owner)
        firms[owner].report("work_completed", ticket_id, outcome="done")
        ticketing.wait_for_event("ticket_resolved", ticket_id=ticket_id)
        wait_for(
            lambda: all(row["open_tickets"] == 0 for row in ticketing.rpc("list_firms")),
            message="every firm's load back to 0",
        )
    assert set(owners[:3]) == set(firms)  # each firm once in the first round
    assert owners[3:] == owners[:3]  # and the same rotation again
    assert ticketing.dead_letters() == []


def test_a_decline_delivered_before_the_acceptance_it_followed(ticketing):
    ticketing.start()
    first, second = ticketing.add_firm("first"), ticketing.add_firm("second")
    firms = {first.firm_id: first, second.firm_id: second}
    enterprise_id = ticketing.admit()
    ticket_id = open_ticket(ticketing, enterprise_id)
    [assigned] = ticketing.wait_for_event("ticket_assigned", ticket_id=ticket_id)
    holder = firms.pop(assigned["payload"]["firm_id"])
    [other] = firms.values()
    ticketing.wait_for_work(holder, "work_assigned", ticket_id)

    # the firm accepted, then declined; the broker delivers the decline first
    accepted = holder.report_envelope("work_accepted", ticket_id)
    declined = holder.report_envelope("work_declined", ticket_id, note="利益冲突")
    with capture_logs() as logs:
        before = handled("ticketing.firms.work_declined")
        holder.send(declined)
        wait_handled("ticketing.firms.work_declined", before)
        before = handled("ticketing.firms.work_accepted")
        holder.send(accepted)
        wait_handled("ticketing.firms.work_accepted", before)

    [moved] = ticketing.wait_for_event("ticket_reassigned", ticket_id=ticket_id)
    assert moved["payload"]["to_firm_id"] == other.firm_id
    # the late acceptance cannot apply any more: the ticket is another firm's now
    [letter] = wait_for(ticketing.dead_letters, message="the stale acceptance")
    assert "firm_declined" in park_error(letter)
    [security] = [e for e in logs if e["event"] == "security_event"]
    assert security["stale_report_from_former_assignee"] is True
    view = ticketing.rpc("ticket", ticket_id)
    assert (view["status"], view["firm_id"]) == ("assigned", other.firm_id)
    assert ticketing.events_where("ticket_accepted", ticket_id=ticket_id) == []


def test_a_completion_delivered_before_the_waiting_progress_it_followed(ticketing):
    ticketing.start()
    firm = ticketing.add_firm("solo")
    enterprise_id = ticketing.admit()
    ticket_id = open_ticket(ticketing, enterprise_id)
    ticketing.wait_for_work(firm, "work_assigned", ticket_id)
    firm.report("work_accepted", ticket_id)
    ticketing.wait_for_event("ticket_accepted", ticket_id=ticket_id)

    waiting = firm.report_envelope(
        "work_progressed", ticket_id, note="请补充材料", waiting_on_enterprise=True
    )
    completed = firm.report_envelope("work_completed", ticket_id, outcome="done")
    before = handled("ticketing.firms.work_completed")
    firm.send(completed)
    wait_handled("ticketing.firms.work_completed", before)
    before = handled("ticketing.firms.work_progressed")
    firm.send(waiting)
    wait_handled("ticketing.firms.work_progressed", before)

    assert len(ticketing.wait_for_event("ticket_resolved", ticket_id=ticket_id)) == 1
    # the earlier progress is absorbed: the resolved ticket does not wait on anyone
    assert ticketing.events_where("ticket_waiting", ticket_id=ticket_id) == []
    view = ticketing.rpc("ticket", ticket_id)
    assert view["status"] == "resolved"
    assert not view["first_response"]["running"] and not view["resolution"]["running"]
    assert ticketing.dead_letters() == []


def test_a_claim_withdrawn_before_its_review_request_opens_nothing(ticketing):
    ticketing.start()
    lawyer = ticketing.add_firm("law", skills=("buyback_review",))
    enterprise_id = ticketing.admit()
    claim_id = str(uuid.uuid4())
    before = handled("ticketing.buyback.claim_withdrawn")
    ticketing.buyback.publish(
        "claim_withdrawn",
        {"claim_id": claim_id, "enterprise_id": enterprise_id, "reason": "已获银行续贷"},
        park_id=PARK,
    )
    wait_handled("ticketing.buyback.claim_withdrawn", before)
    before = handled("ticketing.buyback.claim_review_requested")
    ticketing.buyback.publish(
        "claim_review_requested",
        {
            "claim_id": claim_id,
            "enterprise_id": enterprise_id,
            "reviews": ["legal"],
            "reason": "订单骤减，经营困难",
            "evidence": [],
        },
        park_id=PARK,
    )
    wait_handled("ticketing.buyback.claim_review_requested", before)

    assert ticketing.events_where("ticket_opened", claim_id=claim_id) == []
    tickets = ticketing.rpc("list_tickets", enterprise_id=enterprise_id)
    assert [t for t in tickets if t["claim_id"] == claim_id] == []
    assert ticketing.work_for(lawyer) == []
    assert ticketing.dead_letters() == []
