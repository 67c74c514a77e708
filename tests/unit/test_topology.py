import ast
import re
from pathlib import Path

import pytest

from shared.messaging.topology import (
    PARK_SUBSCRIPTIONS,
    build_topology,
    park_topology,
)

ROOT = Path(__file__).resolve().parents[2]


def test_every_subscription_has_a_quorum_work_queue_bound_by_type():
    topology = build_topology([("billing", "bank", "payment_received")])

    [queue] = [q for q in topology.queues() if q.name == "billing.bank.payment_received"]
    assert queue.arguments == {"x-queue-type": "quorum"}
    assert any(
        b.queue == queue.name
        and b.exchange == "bank.events"
        and b.routing_key == "payment_received"
        for b in topology.bindings()
    )


def test_retry_queues_dead_letter_back_through_the_default_exchange_without_dropping():
    topology = build_topology([], retry_delays=(1, 10))

    retry = {q.name: q.arguments for q in topology.queues() if ".retry." in q.name}
    assert retry["billing.retry.10s"] == {
        "x-queue-type": "quorum",
        "x-message-ttl": 10_000,
        "x-dead-letter-exchange": "",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert all(
        any(b.queue == name and b.exchange == name for b in topology.bindings()) for name in retry
    )
    assert {e.name: e.type for e in topology.exchanges()}["billing.retry.1s"] == "fanout"


def test_classic_retry_queues_need_no_quorum_arguments():
    topology = build_topology([], retry_delays=(5,), queue_type="classic")
    retry = {q.name: q.arguments for q in topology.queues()}["buyback.retry.5s"]
    assert retry == {"x-queue-type": "classic", "x-message-ttl": 5000, "x-dead-letter-exchange": ""}


def test_every_service_has_a_dead_letter_queue_and_every_source_an_events_exchange():
    topology = park_topology()
    names = {q.name for q in topology.queues()}
    exchanges = {e.name: e.type for e in topology.exchanges()}

    assert {
        "onboarding.dlq",
        "ticketing.dlq",
        "billing.dlq",
        "buyback.dlq",
        "park.unrouted",
    } <= names
    for source in ("portal", "gov", "bank", "meters", "firms", "onboarding", "billing"):
        assert exchanges[f"{source}.events"] == "topic"
    assert exchanges["park.unrouted"] == "fanout"
    assert exchanges["ticketing.work"] == "direct"


def test_a_retry_ladder_must_increase():
    with pytest.raises(ValueError):
        build_topology([], retry_delays=(10, 1))


def test_a_firm_gets_a_work_queue_bound_by_its_id():
    queue, binding = park_topology().firm_work("law-01")
    assert queue.name == "firm.law-01.work"
    assert (binding.exchange, binding.routing_key) == ("ticketing.work", "law-01")


def handlers_in_services() -> set[tuple[str, str, str]]:
    """Every @handle_event("source", "type") in services/*/service.py, by service name
    (and every batched one, @handle_events("source", "type", batch=N))."""
    found = set()
    for path in ROOT.glob("services/*/service.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) in ("handle_event", "handle_events")
                and len(node.args) == 2
            ):
                source, type_ = (arg.value for arg in node.args)
                found.add((path.parent.name, source, type_))
    return found


def test_the_park_topology_subscribes_exactly_the_handlers_the_services_have():
    assert set(PARK_SUBSCRIPTIONS) == handlers_in_services()


def work_queue_policy(topology, service):
    [policy] = [p for p in topology.policies() if p.name == f"park-work-queues-{service}"]
    return policy


def test_each_service_gets_a_policy_dead_lettering_its_work_queues_to_its_dlq():
    policy = work_queue_policy(park_topology(), "billing")

    assert policy.apply_to == "queues"
    assert policy.definition == {
        "delivery-limit": 20,
        "dead-letter-exchange": "",
        "dead-letter-routing-key": "billing.dlq",
        "dead-letter-strategy": "at-least-once",
        "overflow": "reject-publish",
    }


@pytest.mark.parametrize(
    ("queue", "matches"),
    [
        ("billing.bank.payment_received", True),
        ("billing.onboarding.units_allocated", True),
        ("billing.retry.10s", False),
        ("billing.dlq", False),
        ("billing.dlq.old", False),
        ("ticketing.bank.payment_received", False),
        ("firm.billing.work", False),
        ("park.unrouted", False),
        ("xbilling.bank.payment_received", False),
        ("billing.bank.payment_received.x", False),
    ],
)
def test_the_work_queue_policy_matches_that_services_work_queues_only(queue, matches):
    policy = work_queue_policy(park_topology(), "billing")

    assert bool(re.search(policy.pattern, queue)) is matches


def test_the_delivery_limit_is_configurable_and_must_be_positive():
    topology = build_topology([], delivery_limit=5)
    assert work_queue_policy(topology, "onboarding").definition["delivery-limit"] == 5

    with pytest.raises(ValueError):
        build_topology([], delivery_limit=0)


def test_the_alternate_exchange_is_a_policy_on_events_exchanges_only():
    [policy] = [p for p in park_topology().policies() if p.apply_to == "exchanges"]

    assert policy.definition == {"alternate-exchange": "park.unrouted"}
    assert re.search(policy.pattern, "portal.events")
    assert not re.search(policy.pattern, "ticketing.work")


def test_the_work_queues_of_a_service_are_its_subscriptions_queues():
    topology = build_topology(
        [("billing", "bank", "payment_received"), ("ticketing", "portal", "service_requested")]
    )

    assert topology.work_queues("billing") == {"billing.bank.payment_received"}
    assert topology.work_queues("buyback") == set()


def test_on_rabbitmq_3_no_policy_touches_a_dlq():
    dlq_policies = [
        p for p in park_topology().policies(broker_major=3) if re.search(p.pattern, "billing.dlq")
    ]

    assert dlq_policies == []  # 3.10 has no default limit, and refuses -1


def test_on_rabbitmq_4_dlqs_get_no_delivery_limit_instead_of_the_default_20():
    [policy] = [
        p for p in park_topology().policies(broker_major=4) if re.search(p.pattern, "billing.dlq")
    ]

    assert policy.apply_to == "queues"
    assert policy.definition == {"delivery-limit": -1}
    assert not re.search(policy.pattern, "billing.bank.payment_received")


def test_on_rabbitmq_4_park_unrouted_gets_no_delivery_limit_either():
    policies = park_topology().policies(broker_major=4)

    assert [p.definition for p in policies if re.search(p.pattern, "park.unrouted")] == [
        {"delivery-limit": -1}
    ]
    assert not [p for p in park_topology().policies() if re.search(p.pattern, "park.unrouted")]


@pytest.mark.parametrize("firm_id", ["acme", "a", "zz-cleaning-42", "a" + "-b" * 19 + "c"])
def test_on_rabbitmq_4_firm_work_queues_get_no_delivery_limit_instead_of_the_default_20(firm_id):
    topology = park_topology()
    queue, _ = topology.firm_work(firm_id)  # as ticketing's provisioning declares it

    matching = [p for p in topology.policies(broker_major=4) if re.search(p.pattern, queue.name)]

    assert [(p.apply_to, p.definition) for p in matching] == [("queues", {"delivery-limit": -1})]
    assert not [p for p in topology.policies(broker_major=3) if re.search(p.pattern, queue.name)]


def test_the_firm_queue_policy_matches_firm_work_queues_only():
    [policy] = [p for p in park_topology().policies(broker_major=4) if "firm" in p.name]

    for other in ("billing.dlq", "ticketing.firms.work_accepted", "park.unrouted", "firm.work"):
        assert not re.search(policy.pattern, other), other
