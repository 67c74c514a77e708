"""Broker identities (DESIGN §6): the declare step gives every service, ingress system and
the operator CLI its own least-privilege user, and a consumer of an ingress exchange
refuses an event whose verified sender is not that system (nor a service or the CLI)."""

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import amqp
import nameko
import pytest
from nameko.standalone.rpc import ClusterRpcClient
from typer.testing import CliRunner

from services.ticketing.service import TicketingService
from shared.contract import build
from shared.contract.fields import utc_iso
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher, OutgoingMessage
from shared.messaging.consumer import handle_event
from shared.messaging.dead_letters import LetterQueue, ReplayRules
from shared.messaging.declare import declare_topology
from shared.messaging.errors import PermanentFailure, PublishFailed
from shared.messaging.identities import park_identities, provision_identities
from shared.messaging.management import ManagementClient
from shared.messaging.publisher import EventPublisher, message_for
from shared.messaging.topology import PARK_SUBSCRIPTIONS, build_topology
from shared.tooling.cli import app
from shared.tooling.migrate import upgrade
from tests.services.recorder import Alpha, Beta
from tests.support.broker import as_user, get_messages, queue_depth, wait_for

ROOT = Path(__file__).resolve().parents[2]
received: list[tuple[str, str | None]] = []  # (event_id, sender) the gate service handled
refuse_next: list[str] = []  # application ids the gate refuses once (a permanent failure)


class Gate:
    """A consumer of an ingress exchange (portal.events), recording who sent what."""

    name = "gate"

    @handle_event("portal", "documents_supplied")
    def on_documents_supplied(self, event):
        if event.payload["application_id"] in refuse_next:
            refuse_next.remove(event.payload["application_id"])
            raise PermanentFailure("refused once, for the replay test")
        received.append((event.event_id, event.sender))


GATE_TOPOLOGY = build_topology(
    [("gate", "portal", "documents_supplied")],
    services=("gate",),
    sources=("portal", "gov"),
    retry_delays=(1, 2),
)


@pytest.fixture
def gate(rabbit_config, container_factory):
    amqp_uri = nameko.config["AMQP_URI"]
    declare_topology(GATE_TOPOLOGY, amqp_uri)
    received.clear()
    refuse_next.clear()
    # gate runs as its own user: as guest, a guest-signed event would look like its own copy.
    settings = {"AMQP_URI": as_user(amqp_uri, "gate"), "RETRY_DELAYS": [1, 2]}
    with nameko.config.patch({**settings, "LOG_LEVEL": "WARNING"}):
        container = container_factory(Gate)
        container.start()
        yield amqp_uri


def documents_supplied(source="portal"):
    payload = {"application_id": str(uuid.uuid4()), "documents": ["营业执照"]}
    return build(source, "documents_supplied", payload, occurred_at=datetime.now(UTC))


def channel_of(uri):
    connection = BrokerAddress.from_uri(uri).connect()
    return connection, connection.channel()


def dead_letters(amqp_uri, queue="gate.dlq"):
    return get_messages(amqp_uri, queue)


# -- the consumer's sender rule ------------------------------------------------------------


def test_the_portal_publishing_as_itself_is_believed(gate):
    with EventPublisher(as_user(gate, "portal"), "portal") as portal:
        envelope = portal.publish(
            "documents_supplied", {"application_id": str(uuid.uuid4()), "documents": ["x"]}
        )

    wait_for(lambda: received, message="the portal's event")
    assert received == [(envelope["event_id"], "portal")]


def test_another_ingress_user_cannot_publish_on_the_portal_exchange_at_all(gate):
    envelope = documents_supplied()
    publisher = ConfirmingPublisher(BrokerAddress.from_uri(as_user(gate, "gov")))

    with pytest.raises(PublishFailed, match="ACCESS_REFUSED"):
        publisher.publish([message_for(envelope, user_id="gov")])
    publisher.close()


def test_a_forgery_by_another_ingress_user_is_dead_lettered_at_once_with_the_reason(gate):
    # The broker is misconfigured (gov may write to portal.events): the consumer still
    # refuses a portal event that gov sent.
    address = BrokerAddress.from_uri(gate)
    ManagementClient.for_broker(None, address).set_permissions(
        address.vhost, "gov", configure="^$", write=r"^(gov|portal)\.events$", read="^$"
    )
    envelope = documents_supplied()
    ConfirmingPublisher(BrokerAddress.from_uri(as_user(gate, "gov"))).publish(
        [message_for(envelope, user_id="gov")]
    )

    [letter] = wait_for(lambda: dead_letters(gate), message="the dead letter")
    assert letter.properties["message_id"] == envelope["event_id"]
    assert letter.headers["park-error"] == "sender gov may not publish on portal.events"
    assert letter.headers["park-attempts"] == 1  # at once, no retry ladder
    assert received == []


def test_an_ingress_event_from_guest_or_without_user_id_is_refused(gate):
    signed, unsigned = documents_supplied(), documents_supplied()
    publisher = ConfirmingPublisher(BrokerAddress.from_uri(gate))  # guest
    publisher.publish([message_for(signed, user_id="guest"), message_for(unsigned)])
    publisher.close()

    letters = wait_for(
        lambda: (found := dead_letters(gate)) and len(found) == 2 and found, message="2 letters"
    )
    errors = {m.properties["message_id"]: m.headers["park-error"] for m in letters}
    assert errors == {
        signed["event_id"]: "sender guest may not publish on portal.events",
        unsigned["event_id"]: "sender (none: no user_id) may not publish on portal.events",
    }
    assert received == []


def test_the_operator_cli_may_publish_on_an_ingress_exchange(gate):
    envelope = documents_supplied()
    with EventPublisher(as_user(gate, "park-cli"), "portal") as cli:
        envelope = cli.publish("documents_supplied", envelope["payload"])

    wait_for(lambda: received, message="the operator's event")
    assert received == [(envelope["event_id"], "park-cli")]


def test_a_replay_with_the_services_credentials_keeps_the_original_sender(gate):
    with EventPublisher(as_user(gate, "portal"), "portal") as portal:
        application_id = str(uuid.uuid4())
        refuse_next.append(application_id)
        envelope = portal.publish(
            "documents_supplied", {"application_id": application_id, "documents": ["x"]}
        )
    wait_for(lambda: queue_depth(gate, "gate.dlq"), message="the dead letter")
    as_gate = BrokerAddress.from_uri(as_user(gate, "gate"))
    publisher = ConfirmingPublisher(as_gate)
    rules = ReplayRules(
        work_queues=["gate.portal.documents_supplied"],
        service_users={"gate"},
        window=timedelta(days=30),
    )

    outcome = LetterQueue(as_gate, "gate.dlq").replay(
        lambda letter: True, rules=rules, now=lambda: datetime.now(UTC), publisher=publisher
    )
    publisher.close()

    assert len(outcome.replayed) == 1, outcome.refused
    wait_for(lambda: received, message="the replayed event")
    assert received == [(envelope["event_id"], "portal")]


# -- least privilege -----------------------------------------------------------------------


@pytest.fixture
def park_vhost(rabbit_config):
    """The park's whole topology on this test's vhost (the declare step provisions users)."""
    amqp_uri = nameko.config["AMQP_URI"]
    declare_topology(build_topology(PARK_SUBSCRIPTIONS, retry_delays=(1, 2)), amqp_uri)
    return amqp_uri


def refused(action) -> bool:
    try:
        action()
    except amqp.exceptions.AccessRefused:
        return True
    return False


def test_an_ingress_system_may_write_its_own_exchange_and_nothing_else(park_vhost):
    connection, channel = channel_of(as_user(park_vhost, "portal"))
    try:
        assert refused(lambda: connection.channel().basic_get("onboarding.dlq"))
        assert refused(lambda: connection.channel().queue_declare("portal.rogue", durable=True))
        # The broker refuses a user_id that is not the connection's own.
        with pytest.raises(amqp.exceptions.PreconditionFailed):
            forged = message_for(documents_supplied(), user_id="gov").to_amqp()
            channel.basic_publish(forged, exchange="portal.events", routing_key="x")
            connection.drain_events(timeout=2)
    finally:
        connection.collect()


def test_a_service_reads_its_own_queues_only_and_declares_nothing(park_vhost):
    connection, _ = channel_of(as_user(park_vhost, "onboarding"))
    try:
        own = connection.channel()
        own.queue_declare("onboarding.portal.application_submitted", passive=True)
        assert own.basic_get("onboarding.dlq") is None  # allowed: just empty
        assert refused(lambda: connection.channel().basic_get("ticketing.dlq"))
        assert refused(lambda: connection.channel().queue_declare("onboarding.new", durable=True))
        assert refused(
            lambda: connection.channel().exchange_declare("onboarding.other", "topic", durable=True)
        )
    finally:
        connection.collect()


def test_a_service_publishes_on_its_own_exchanges_only(park_vhost):
    publisher = ConfirmingPublisher(BrokerAddress.from_uri(as_user(park_vhost, "onboarding")))
    try:  # the bodies do not matter to the broker
        own = OutgoingMessage("onboarding.events", "x", b"{}", {"user_id": "onboarding"})
        retry = OutgoingMessage("onboarding.retry.1s", "x", b"{}", {"user_id": "onboarding"})
        dead_letter = OutgoingMessage("", "onboarding.dlq", b"{}", {"user_id": "onboarding"})
        publisher.publish([own, retry, dead_letter])
        for foreign in ("billing.events", "portal.events", "ticketing.work"):
            with pytest.raises(PublishFailed, match="ACCESS_REFUSED"):
                publisher.publish([OutgoingMessage(foreign, "x", b"{}", {})])
    finally:
        publisher.close()


def test_the_cli_may_not_write_to_the_default_exchange(park_vhost):
    """Replay publishes as the service: park-cli has no use for amq.default, which would
    let it drop a letter (or an event) into any queue."""
    publisher = ConfirmingPublisher(BrokerAddress.from_uri(as_user(park_vhost, "park-cli")))
    try:
        letter = OutgoingMessage("", "ticketing.dlq", b"{}", {"user_id": "park-cli"})
        with pytest.raises(PublishFailed, match="ACCESS_REFUSED"):
            publisher.publish([letter])
        publisher.publish([OutgoingMessage("gov.events", "x", b"{}", {"user_id": "park-cli"})])
    finally:
        publisher.close()
    assert queue_depth(park_vhost, "ticketing.dlq") == 0


def test_the_cli_reads_dead_letters_but_not_work_queues(park_vhost):
    connection, channel = channel_of(as_user(park_vhost, "park-cli"))
    try:
        assert channel.basic_get("onboarding.dlq") is None
        assert refused(
            lambda: connection.channel().basic_get("onboarding.portal.application_submitted")
        )
    finally:
        connection.collect()


def test_provisioning_again_is_idempotent_and_guest_stays_usable(park_vhost):
    address = BrokerAddress.from_uri(park_vhost)
    topology = build_topology(PARK_SUBSCRIPTIONS, retry_delays=(1, 2))
    management = ManagementClient.for_broker(None, address)

    provisioned = provision_identities(topology, management, address.vhost)

    users = {identity.user for identity in provisioned}
    assert users == {
        "onboarding", "ticketing", "billing", "buyback",
        "portal", "gov", "bank", "meters", "park-cli",
    }  # fmt: skip
    assert {i.user for i in park_identities(topology)} == users
    connection, channel = channel_of(park_vhost)  # guest: local tooling
    channel.queue_declare("onboarding.dlq", passive=True)
    connection.collect()


def test_services_run_with_their_own_least_privilege_users(world):
    """alpha consumes, retries, dead-letters and relays; ticketing answers RPC."""
    for service in ("alpha", "beta"):
        with nameko.config.patch({"AMQP_URI": as_user(world.amqp_uri, service)}):
            world.start(Alpha if service == "alpha" else Beta)
    thing_id = str(uuid.uuid4())
    with EventPublisher(world.amqp_uri, "probe") as probe:
        probe.publish("flaky_thing", {"thing_id": thing_id, "fail_times": 1})  # one retry
        forwarded = str(uuid.uuid4())
        probe.publish(
            "thing_happened",
            {"thing_id": forwarded, "amount_fen": 3, "happened_at": "2026-11-27T02:00:00Z"},
        )
        probe.publish_raw("probe.events", "thing_happened", b"not json")  # dead-lettered

    wait_for(lambda: world.effects("alpha").get(thing_id), timeout=20, message="the retry")
    wait_for(lambda: world.effects("beta").get(forwarded), message="the relayed event")
    [letter] = wait_for(lambda: get_messages(world.amqp_uri, "alpha.dlq"), message="the letter")
    assert "JSON" in letter.headers["park-error"] or "json" in letter.headers["park-error"]


def test_a_service_with_rpc_runs_as_its_own_user(
    rabbit_config, make_database_url, container_factory
):
    amqp_uri = nameko.config["AMQP_URI"]
    declare_topology(build_topology(PARK_SUBSCRIPTIONS, retry_delays=(1, 2)), amqp_uri)
    url = make_database_url("ticketing")
    upgrade(url, ROOT / "services" / "ticketing" / "migrations")
    settings = {
        "AMQP_URI": as_user(amqp_uri, "ticketing"),
        "DATABASES": {"ticketing": url},
        "RETRY_DELAYS": [1, 2],
        "LOG_LEVEL": "WARNING",
    }
    with nameko.config.patch(settings):
        container_factory(TicketingService).start()
    with ClusterRpcClient(uri=amqp_uri) as cluster:  # the caller: guest
        assert cluster.ticketing.health()["service"] == "ticketing"


def test_park_dlq_replay_publishes_as_the_service_when_the_config_has_its_password(
    park_vhost, tmp_path
):
    envelope = documents_supplied()
    genuine = message_for(envelope, user_id="onboarding")
    headers = {
        "park-error": "refused once",
        "park-attempts": 1,
        "park-original-queue": "onboarding.portal.documents_supplied",
        "park-original-exchange": "portal.events",
        "park-original-routing-key": "documents_supplied",
        "park-failed-at": utc_iso(datetime.now(UTC)),
        "park-sender": "portal",
    }
    letter = OutgoingMessage(
        "", "onboarding.dlq", genuine.body, {**genuine.properties, "headers": headers}
    )
    as_onboarding = ConfirmingPublisher(BrokerAddress.from_uri(as_user(park_vhost, "onboarding")))
    as_onboarding.publish([letter])  # as onboarding's consumer dead-letters it
    as_onboarding.close()
    config = tmp_path / "park.yaml"
    config.write_text(
        json.dumps(
            {
                "AMQP_URI": park_vhost,
                "BROKER_PASSWORDS": {"onboarding": "dev-onboarding", "park-cli": "dev-park-cli"},
            }
        ),
        "utf-8",
    )

    result = CliRunner().invoke(
        app, ["dlq", "replay", "onboarding", "--all", "--config", str(config)]
    )

    assert result.exit_code == 0, result.output
    [copy] = get_messages(park_vhost, "onboarding.portal.documents_supplied")
    # The consumer (running as onboarding) believes park-sender on its own user's copy.
    assert copy.properties["user_id"] == "onboarding"
    assert copy.properties["application_headers"]["park-sender"] == "portal"


# -- a service posing as an ingress system or as another service ---------------------------

posed: list[tuple[str, str, str | None]] = []  # (queue, event_id, sender) the stand-ins handled


class OnboardingStandIn:
    """Consumes gov/review_decided on onboarding's own work queue, as onboarding's consumer
    does (the sender rule is the consumer's, whatever the handler)."""

    name = "onboarding"

    @handle_event("gov", "review_decided")
    def on_review_decided(self, event):
        posed.append(("onboarding.gov.review_decided", event.event_id, event.sender))


class TicketingStandIn:
    """Consumes onboarding/enterprise_admitted on ticketing's own work queue."""

    name = "ticketing"

    @handle_event("onboarding", "enterprise_admitted")
    def on_enterprise_admitted(self, event):
        posed.append(("ticketing.onboarding.enterprise_admitted", event.event_id, event.sender))


def review_decided():
    payload = {
        "application_id": str(uuid.uuid4()),
        "department": "market_regulation",
        "decision": "approve",
        "reason": "",
    }
    return build("gov", "review_decided", payload, occurred_at=datetime.now(UTC))


def enterprise_admitted():
    payload = {
        "application_id": str(uuid.uuid4()),
        "enterprise_id": f"ent-{uuid.uuid4().hex[:8]}",
        "enterprise_name": "郑州恒达精密机械有限公司",
        "uscc": "91410100000000019L",
        "industry_code": "C3464",
        "tenure": "purchase",
        "supply_chain_partner": True,
        "environmental_review_required": False,
        "chief_service_officer": "cso-02",
        "legal_representative": "王建国",
        "contact_phone": "13803710000",
    }
    return build(
        "onboarding", "enterprise_admitted", payload, occurred_at=datetime.now(UTC),
        park_id="aux-shangjie",
    )  # fmt: skip


@pytest.fixture
def stand_ins(park_vhost, container_factory):
    """onboarding and ticketing consumers on the park's topology, each as its own user."""
    posed.clear()
    for service_cls in (OnboardingStandIn, TicketingStandIn):
        settings = {"AMQP_URI": as_user(park_vhost, service_cls.name), "RETRY_DELAYS": [1, 2]}
        with nameko.config.patch({**settings, "LOG_LEVEL": "WARNING"}):
            container_factory(service_cls).start()
    return park_vhost


def publish_as(amqp_uri, user, exchange, routing_key, envelope):
    message = message_for(envelope, user_id=user)
    publisher = ConfirmingPublisher(BrokerAddress.from_uri(as_user(amqp_uri, user)))
    try:
        publisher.publish([replace(message, exchange=exchange, routing_key=routing_key)])
    finally:
        publisher.close()


def test_buyback_cannot_pose_as_gov_through_the_default_exchange(stand_ins):
    envelope = review_decided()

    # buyback's real permissions let it write amq.default, which reaches any queue.
    publish_as(stand_ins, "buyback", "", "onboarding.gov.review_decided", envelope)

    [letter] = wait_for(lambda: get_messages(stand_ins, "onboarding.dlq"), message="the letter")
    assert letter.properties["message_id"] == envelope["event_id"]
    assert letter.headers["park-error"] == "sender buyback may not publish on gov.events"
    assert letter.headers["park-attempts"] == 1
    assert posed == []


def test_buyback_cannot_pose_as_onboarding_to_another_service(stand_ins):
    envelope = enterprise_admitted()

    publish_as(stand_ins, "buyback", "", "ticketing.onboarding.enterprise_admitted", envelope)

    [letter] = wait_for(lambda: get_messages(stand_ins, "ticketing.dlq"), message="the letter")
    assert letter.properties["message_id"] == envelope["event_id"]
    assert letter.headers["park-error"] == "sender buyback may not publish on onboarding.events"
    assert posed == []


def test_the_legitimate_senders_are_still_believed(stand_ins):
    decided, admitted, corrected = review_decided(), enterprise_admitted(), enterprise_admitted()

    publish_as(stand_ins, "gov", "gov.events", "review_decided", decided)
    publish_as(stand_ins, "onboarding", "onboarding.events", "enterprise_admitted", admitted)
    # The operator's manual correction (logged as such), and onboarding through the
    # default exchange to its own queue: its own user (no park-sender: the handler sees
    # no sender, the rule believes the service itself).
    publish_as(stand_ins, "park-cli", "onboarding.events", "enterprise_admitted", corrected)
    own = review_decided()
    publish_as(stand_ins, "onboarding", "", "onboarding.gov.review_decided", own)

    wait_for(lambda: len(posed) == 4, message="four events handled")
    assert sorted(posed) == sorted(
        [
            ("onboarding.gov.review_decided", decided["event_id"], "gov"),
            ("ticketing.onboarding.enterprise_admitted", admitted["event_id"], "onboarding"),
            ("ticketing.onboarding.enterprise_admitted", corrected["event_id"], "park-cli"),
            ("onboarding.gov.review_decided", own["event_id"], None),
        ]
    )
    assert queue_depth(stand_ins, "onboarding.dlq") == queue_depth(stand_ins, "ticketing.dlq") == 0


# -- replay trusts the service's own user only; the CLI connects as park-cli ---------------


def park_cli(config_path, *args):
    return CliRunner().invoke(app, [*args, "--config", str(config_path)])


def write_config(tmp_path, document) -> Path:
    config = tmp_path / "park.yaml"
    config.write_text(json.dumps(document), "utf-8")
    return config


def a_letter(envelope, user, *, sender="onboarding"):
    """A letter in ticketing.dlq as ``user`` writes it (the consumer's own, or a forgery)."""
    message = message_for(envelope, user_id=user)
    headers = {
        "park-error": "simulated",
        "park-attempts": 1,
        "park-original-queue": "ticketing.onboarding.enterprise_admitted",
        "park-failed-at": utc_iso(datetime.now(UTC)),
        "park-sender": sender,
    }
    return OutgoingMessage(
        "", "ticketing.dlq", message.body, {**message.properties, "headers": headers}
    )


def put(amqp_uri, *messages):
    publisher = ConfirmingPublisher(BrokerAddress.from_uri(amqp_uri))
    try:
        publisher.publish(list(messages))
    finally:
        publisher.close()


DEV_PASSWORDS = {"ticketing": "dev-ticketing", "park-cli": "dev-park-cli"}


@pytest.mark.parametrize("operator", ["park-cli", "guest"])
def test_a_letter_the_operators_own_user_forged_is_refused_and_kept(park_vhost, tmp_path, operator):
    # The operator's user drops a letter into ticketing.dlq that names a ticketing work
    # queue and claims a firm sent it. park-cli may no longer write amq.default (below):
    # here it may, as the declare step of issue 8 granted it.
    operator_uri = park_vhost if operator == "guest" else as_user(park_vhost, operator)
    if operator == "park-cli":
        address = BrokerAddress.from_uri(park_vhost)
        ManagementClient.for_broker(None, address).set_permissions(
            address.vhost, "park-cli", configure="^$", write=".*", read=r"^.*\.dlq$"
        )
    envelope = enterprise_admitted()
    put(operator_uri, a_letter(envelope, operator, sender="firm-acme"))
    config = write_config(tmp_path, {"AMQP_URI": operator_uri, "BROKER_PASSWORDS": DEV_PASSWORDS})

    result = park_cli(config, "dlq", "replay", "ticketing", "--all")

    assert result.exit_code == 1, result.output
    assert f"published by {operator}, neither by the service" in result.output
    assert queue_depth(park_vhost, "ticketing.onboarding.enterprise_admitted") == 0
    [kept] = get_messages(park_vhost, "ticketing.dlq")
    assert kept.properties["message_id"] == envelope["event_id"]


def test_a_replay_without_the_services_password_is_refused_not_done_as_another_user(
    park_vhost, tmp_path
):
    envelope = enterprise_admitted()
    put(as_user(park_vhost, "ticketing"), a_letter(envelope, "ticketing"))
    config = write_config(
        tmp_path, {"AMQP_URI": park_vhost, "BROKER_PASSWORDS": {"park-cli": "dev-park-cli"}}
    )

    result = park_cli(config, "dlq", "replay", "ticketing", "--all")

    assert result.exit_code == 1
    assert "no broker password for 'ticketing'" in result.output
    assert "nothing replayed" in result.output
    assert queue_depth(park_vhost, "ticketing.onboarding.enterprise_admitted") == 0
    assert queue_depth(park_vhost, "ticketing.dlq") == 1


def test_a_letter_refused_for_its_sender_is_never_replayed(park_vhost, tmp_path):
    # ticketing's consumer refused an unsigned "onboarding" event: its own letter has no
    # park-sender. Replayed as ticketing, it would pass for ticketing's own event.
    envelope = enterprise_admitted()
    letter = a_letter(envelope, "ticketing")
    headers = dict(letter.properties["headers"])
    headers["park-error"] = "sender (none: no user_id) may not publish on onboarding.events"
    del headers["park-sender"]
    refused_letter = replace(letter, properties={**letter.properties, "headers": headers})
    put(as_user(park_vhost, "ticketing"), refused_letter)
    config = write_config(tmp_path, {"AMQP_URI": park_vhost, "BROKER_PASSWORDS": DEV_PASSWORDS})

    result = park_cli(config, "dlq", "replay", "ticketing", "--all")

    assert result.exit_code == 1
    assert "refused for its sender" in result.output
    assert queue_depth(park_vhost, "ticketing.onboarding.enterprise_admitted") == 0
    assert queue_depth(park_vhost, "ticketing.dlq") == 1


def test_the_cli_reads_and_purges_dead_letters_as_park_cli(park_vhost, tmp_path):
    # AMQP_URI's user here (gov) may read no queue at all: only park-cli can do this.
    envelope = enterprise_admitted()
    put(as_user(park_vhost, "ticketing"), a_letter(envelope, "ticketing"))
    put(park_vhost, OutgoingMessage("", "park.unrouted", b"{}", {"message_id": "stray"}))
    config = write_config(
        tmp_path,
        {
            "AMQP_URI": as_user(park_vhost, "gov"),
            "MANAGEMENT_URL": "http://guest:guest@127.0.0.1:15672",
            "BROKER_PASSWORDS": {"park-cli": "dev-park-cli"},
        },
    )

    listed = park_cli(config, "dlq", "list", "ticketing")
    unrouted = park_cli(config, "unrouted", "list")
    queues = park_cli(config, "queues")  # the management API, as the management user
    purged = park_cli(config, "dlq", "purge", "ticketing", "--all")
    purged_unrouted = park_cli(config, "unrouted", "purge", "--event-id", "stray")

    assert listed.exit_code == 0, listed.output
    assert envelope["event_id"] in listed.output
    assert unrouted.exit_code == 0, unrouted.output
    assert "stray" in unrouted.output
    assert queues.exit_code == 0, queues.output
    assert "ticketing.dlq" in queues.output
    assert "purged 1" in purged.output and "purged 1" in purged_unrouted.output
    assert queue_depth(park_vhost, "ticketing.dlq") == queue_depth(park_vhost, "park.unrouted") == 0


def test_the_cli_can_be_told_to_use_amqp_uris_own_user(park_vhost, tmp_path):
    put(park_vhost, OutgoingMessage("", "park.unrouted", b"{}", {"message_id": "stray"}))
    # PARK_CLI_USER empty: local tooling as guest, without park-cli's password.
    config = write_config(
        tmp_path, {"AMQP_URI": park_vhost, "BROKER_PASSWORDS": {}, "PARK_CLI_USER": ""}
    )

    result = park_cli(config, "unrouted", "list")

    assert result.exit_code == 0, result.output
    assert "stray" in result.output


def test_without_park_clis_password_the_cli_says_which_is_missing(park_vhost, tmp_path):
    config = write_config(tmp_path, {"AMQP_URI": park_vhost, "BROKER_PASSWORDS": {}})

    result = park_cli(config, "dlq", "list", "ticketing")

    assert result.exit_code == 1
    assert "no broker password for 'park-cli'" in result.output
    assert "PARK_CLI_USER" in result.output
