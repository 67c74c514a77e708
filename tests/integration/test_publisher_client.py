"""The publisher library for ingress systems (``clients/publisher/``) against the real
broker, publishing as the system's own least-privilege user (``portal``, ``gov``, …, as
the declare step provisions them): confirmed events arrive with the envelope and AMQP
properties of DESIGN §3; an invalid payload is refused before anything is sent; a
return, a refusal and an unreachable broker each raise their own error.

The last section fuzzes the payload validation (no broker needed).
"""

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import nameko
import pika
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clients.publisher import (
    BrokerUnavailable,
    InvalidEvent,
    Publisher,
    Refused,
    Unroutable,
    ingress_specs,
    validate_payload,
)
from clients.publisher.cli import main as publisher_cli
from shared.contract import parse
from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.declare import declare_topology
from shared.messaging.management import ManagementClient
from shared.messaging.topology import PARK_SUBSCRIPTIONS, UNROUTED, build_topology
from tests.support.broker import as_user, get_messages, queue_depth, wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
T0 = datetime(2026, 11, 27, 5, 40, tzinfo=UTC)
PARK = "aux-shangjie"


def example(system: str, name: str) -> dict:
    return json.loads((EXAMPLES / system / f"{name}.json").read_text("utf-8"))


def example_files() -> list[tuple[str, str, Path]]:
    """(system, type, file) of every sample payload in examples/."""
    return [
        (path.parent.name, path.name.split(".", 1)[0], path)
        for path in sorted(EXAMPLES.glob("*/*.json"))
    ]


@pytest.fixture
def park(rabbit_config):
    """A vhost with the park's topology and its users (development passwords)."""
    amqp_uri = nameko.config["AMQP_URI"]
    declare_topology(build_topology(PARK_SUBSCRIPTIONS, retry_delays=(1, 2)), amqp_uri)
    return amqp_uri


def publisher(amqp_uri: str, system: str, **options) -> Publisher:
    options.setdefault("clock", lambda: T0)
    return Publisher(as_user(amqp_uri, system), system, park_id=PARK, **options)


# -- sending -----------------------------------------------------------------------------


def test_a_confirmed_event_arrives_with_its_envelope_and_properties(park):
    payload = example("portal", "application_submitted")

    with publisher(park, "portal") as portal:
        sent = portal.publish("application_submitted", payload)

    [message] = get_messages(park, "onboarding.portal.application_submitted")
    envelope = json.loads(message.body)
    assert envelope == dict(sent.envelope)
    assert envelope["payload"] == payload
    assert envelope["source"] == "portal" and envelope["type"] == "application_submitted"
    assert envelope["occurred_at"] == "2026-11-27T05:40:00Z"
    assert envelope["park_id"] == PARK and envelope["causation_id"] is None
    uuid.UUID(envelope["event_id"]), uuid.UUID(envelope["correlation_id"])
    properties = message.properties
    assert properties["delivery_mode"] == 2
    assert properties["content_type"] == "application/json"
    assert properties["message_id"] == sent.event_id
    assert properties["correlation_id"] == sent.correlation_id
    assert properties["app_id"] == "portal"
    assert properties["user_id"] == "portal"  # verified by the broker
    assert properties["type"] == "application_submitted"
    assert properties["timestamp"] == int(T0.timestamp())
    assert parse(message.body, sender=properties["user_id"]).payload["tenure"] == "purchase"


def test_a_given_correlation_id_is_kept_and_each_flow_gets_a_new_one_otherwise(park):
    flow = str(uuid.uuid4())
    decision = example("gov", "review_decided.market_regulation")

    with publisher(park, "gov") as gov:
        joined = gov.publish("review_decided", decision, correlation_id=flow)
        first = gov.publish("review_decided", decision)
        second = gov.publish("review_decided", decision)

    assert joined.correlation_id == flow
    assert len({flow, first.correlation_id, second.correlation_id}) == 3
    messages = get_messages(park, "onboarding.gov.review_decided")
    assert [m.properties["correlation_id"] for m in messages] == [
        flow,
        first.correlation_id,
        second.correlation_id,
    ]


def test_an_invalid_payload_is_refused_before_anything_is_sent(park):
    payment = example("bank", "payment_received") | {"amount_fen": "12"}

    with publisher(park, "bank") as bank, pytest.raises(InvalidEvent) as refused:
        bank.publish("payment_received", payment)

    assert refused.value.fields == ("payload.amount_fen",)
    assert "payload.amount_fen" in str(refused.value)
    assert bank._connection is None  # it never even connected
    assert queue_depth(park, "billing.bank.payment_received") == 0
    assert queue_depth(park, UNROUTED) == 0


def test_a_correlation_id_that_is_not_a_uuid_is_refused_naming_it(park):
    with publisher(park, "meters") as meters, pytest.raises(InvalidEvent) as refused:
        meters.publish(
            "reading_recorded", example("meters", "reading_recorded"), correlation_id="flow-1"
        )

    assert refused.value.fields == ("correlation_id",)
    assert queue_depth(park, "billing.meters.reading_recorded") == 0


def test_publishing_on_another_systems_exchange_is_refused_by_the_broker(park):
    # The portal's user may write only portal.events: as "gov" it is refused (403).
    with (
        Publisher(as_user(park, "portal"), "gov") as impostor,
        pytest.raises(Refused, match=r"gov\.events"),
    ):
        impostor.publish("review_decided", example("gov", "review_decided.market_regulation"))

    assert queue_depth(park, "onboarding.gov.review_decided") == 0


def test_a_user_id_that_is_not_the_connections_user_is_refused_by_the_broker(park):
    # The library always sends its own user; forced otherwise, the broker says no (406).
    with publisher(park, "portal") as portal:
        portal.user = "gov"
        with pytest.raises(Refused, match="user_id property set to 'gov'"):
            portal.publish("documents_supplied", example("portal", "documents_supplied"))

    assert queue_depth(park, "onboarding.portal.documents_supplied") == 0


def test_wrong_credentials_are_refused_at_once_not_retried(park):
    waits = []
    uri = park.replace("guest:guest@", "portal:not-its-password@")
    with (
        Publisher(uri, "portal", sleep=waits.append) as portal,
        pytest.raises(Refused, match="refused the connection as 'portal'"),
    ):
        portal.publish("application_submitted", example("portal", "application_submitted"))

    assert waits == []


@pytest.fixture
def bare_vhost(rabbit_config):
    """A vhost with ``portal.events`` declared by hand: no alternate exchange, no queue;
    the portal's user may write it. (The park's topology never makes this: its policy
    gives every ``<source>.events`` the alternate exchange park.unrouted.)"""
    address = BrokerAddress.from_uri(nameko.config["AMQP_URI"])
    declare_topology(build_topology(PARK_SUBSCRIPTIONS, retry_delays=(1, 2)), address_uri(address))
    management = ManagementClient.for_broker(None, address)
    vhost = f"publisher-bare-{uuid.uuid4().hex[:8]}"
    management.create_vhost(vhost)
    management.set_permissions(vhost, "guest", ".*", ".*", ".*")
    management.set_permissions(vhost, "portal", "^$", r"^portal\.events$", "^$")
    bare = address_uri(address, vhost)
    connection = BrokerAddress.from_uri(bare).connect()
    try:
        connection.channel().exchange_declare("portal.events", "topic", durable=True)
    finally:
        connection.close()
    yield bare
    management.delete_vhost(vhost)


def address_uri(address: BrokerAddress, vhost: str | None = None) -> str:
    from urllib.parse import quote

    vhost = address.vhost if vhost is None else vhost
    return f"amqp://guest:guest@{address.host}:{address.port}/{quote(vhost, safe='')}"


def test_an_event_returned_by_the_broker_raises_unroutable(bare_vhost):
    with publisher(bare_vhost, "portal") as portal, pytest.raises(Unroutable, match="returned"):
        portal.publish("application_submitted", example("portal", "application_submitted"))


def test_an_exchange_that_does_not_exist_raises_unroutable_naming_it(bare_vhost):
    address = BrokerAddress.from_uri(bare_vhost)
    connection = address.connect()
    try:
        connection.channel().exchange_delete("portal.events")
    finally:
        connection.close()

    with (
        publisher(bare_vhost, "portal") as portal,
        pytest.raises(Unroutable, match=r"'portal\.events' does not exist"),
    ):
        portal.publish("application_submitted", example("portal", "application_submitted"))


def test_an_unreachable_broker_raises_broker_unavailable_after_the_back_off():
    waits: list[float] = []
    unreachable = "amqp://portal:dev-portal@127.0.0.1:1/"  # nothing listens on port 1
    portal = Publisher(
        unreachable, "portal", retries=4, backoff=0.1, max_backoff=0.5, sleep=waits.append
    )

    with pytest.raises(BrokerUnavailable, match="unavailable on 5 attempts"):
        portal.publish("application_submitted", example("portal", "application_submitted"))

    assert waits == [0.1, 0.2, 0.4, 0.5]  # doubled each time, bounded


def test_the_back_off_really_waits():
    portal = Publisher("amqp://portal:p@127.0.0.1:1/", "portal", retries=2, backoff=0.1)
    started = datetime.now(UTC)

    with pytest.raises(BrokerUnavailable):
        portal.publish("application_submitted", example("portal", "application_submitted"))

    assert (datetime.now(UTC) - started).total_seconds() >= 0.3  # 0.1 + 0.2


def test_a_lost_connection_is_replaced_and_the_event_sent(park):
    address = BrokerAddress.from_uri(park)
    management = ManagementClient.for_broker(None, address)
    waits = []
    with publisher(park, "bank", sleep=waits.append) as bank:
        first = bank.publish("payment_received", example("bank", "payment_received"))
        lost = bank._connection
        [connection] = wait_for(
            lambda: [c for c in management.user_connections("bank") if c["vhost"] == address.vhost],
            message="the bank's connection in the management API",
        )

        def closed() -> bool:
            # The API closes a connection only once its statistics are in (≈ 5 s).
            management.close_connection(connection["name"])
            return _noticed_closed(lost)

        wait_for(closed, timeout=30, interval=0.5, message="the broker to close the connection")

        again = bank.publish("payment_received", example("bank", "payment_received"))

        assert bank._connection is not lost and bank._connection.is_open
    messages = get_messages(park, "billing.bank.payment_received")
    assert [m.properties["message_id"] for m in messages] == [first.event_id, again.event_id]
    assert waits == []  # a connection known to be closed is replaced at once


def _noticed_closed(connection) -> bool:
    try:
        connection.process_data_events(0)
    except pika.exceptions.AMQPError:
        return True
    return not connection.is_open


def test_a_broker_that_comes_back_within_the_retries_gets_the_event(park, monkeypatch):
    real = pika.BlockingConnection
    attempts = []

    def down_twice(parameters):
        attempts.append(parameters.port)
        if len(attempts) <= 2:
            raise pika.exceptions.AMQPConnectionError("connection refused (simulated)")
        return real(parameters)

    monkeypatch.setattr(pika, "BlockingConnection", down_twice)
    waits = []
    with publisher(park, "meters", backoff=0.2, sleep=waits.append) as meters:
        sent = meters.publish("reading_recorded", example("meters", "reading_recorded"))

    assert waits == [0.2, 0.4] and len(attempts) == 3
    [message] = get_messages(park, "billing.meters.reading_recorded")
    assert message.properties["message_id"] == sent.event_id


# -- examples/ through the library, and the command line ---------------------------------


def test_every_example_is_published_and_confirmed_as_its_system(park):
    sent = []
    for system, type_, path in example_files():
        with publisher(park, system) as client:
            sent.append(client.publish(type_, json.loads(path.read_text("utf-8"))))

    assert len(sent) == len(example_files()) >= len(ingress_specs())
    # Each event is in every subscriber's work queue, or in park.unrouted if it has none.
    expected: dict[str, int] = {}
    for published in sent:
        where = [
            f"{service}.{source}.{type_}"
            for service, source, type_ in PARK_SUBSCRIPTIONS
            if (source, type_) == (published.envelope["source"], published.envelope["type"])
        ] or [UNROUTED]
        for queue in where:
            expected[queue] = expected.get(queue, 0) + 1
    assert {queue: queue_depth(park, queue) for queue in expected} == expected


def run_example(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_the_runnable_examples_publish_as_their_systems(park):
    flow = str(uuid.uuid4())
    runs = {
        "portal.py": ["application"],
        "gov.py": ["--correlation-id", flow],
        "bank.py": ["--bank-txn-id", "ICBC-TEST-1", "--amount-fen", "100"],
        "meters.py": ["--reading", "1300.0"],
    }
    for script, args in runs.items():
        system = script.removesuffix(".py")
        result = run_example(script, "--amqp-uri", as_user(park, system), *args)
        assert result.returncode == 0, f"{script}: {result.stderr}"
        assert "correlation_id" in result.stdout

    [application] = get_messages(park, "onboarding.portal.application_submitted")
    decisions = get_messages(park, "onboarding.gov.review_decided")
    [payment] = get_messages(park, "billing.bank.payment_received")
    [reading] = get_messages(park, "billing.meters.reading_recorded")
    assert application.properties["user_id"] == "portal"
    assert {m.properties["correlation_id"] for m in decisions} == {flow}
    assert len(decisions) == 4 and {m.properties["user_id"] for m in decisions} == {"gov"}
    assert json.loads(payment.body)["payload"]["amount_fen"] == 100
    assert json.loads(reading.body)["payload"]["reading"] == "1300.0"
    assert reading.properties["user_id"] == "meters"


def test_a_runnable_example_says_what_to_do_when_the_broker_is_down():
    result = run_example("meters.py", "--amqp-uri", "amqp://meters:x@127.0.0.1:1/")

    assert result.returncode == 5
    assert "try again later" in result.stderr


def test_the_command_line_sends_a_file_and_exits_with_the_documented_codes(park, tmp_path, capsys):
    good = EXAMPLES / "meters" / "reading_recorded.json"
    uri = as_user(park, "meters")

    assert publisher_cli(["send", str(good), "--system", "meters", "--amqp-uri", uri]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["type"] == "reading_recorded" and printed["source"] == "meters"
    [message] = get_messages(park, "billing.meters.reading_recorded")
    assert message.properties["message_id"] == printed["event_id"]

    bad = tmp_path / "reading_recorded.json"
    bad.write_text(json.dumps(example("meters", "reading_recorded") | {"reading": 12.5}))
    assert publisher_cli(["send", str(bad), "--system", "meters", "--amqp-uri", uri]) == 2
    assert "payload.reading" in capsys.readouterr().err
    assert publisher_cli(["send", str(tmp_path / "none.json"), "--system", "meters"]) == 2
    as_gov = ["send", str(good), "--system", "meters", "--amqp-uri", as_user(park, "gov")]
    assert publisher_cli(as_gov) == 4
    down = ["--amqp-uri", "amqp://meters:x@127.0.0.1:1/", "--retries", "0"]
    assert publisher_cli(["send", str(good), "--system", "meters", *down]) == 5
    assert queue_depth(park, "billing.meters.reading_recorded") == 0


# -- the validation edge (no broker) -----------------------------------------------------


def test_python_values_are_sent_in_their_json_form():
    reading = example("meters", "reading_recorded") | {
        "reading": Decimal("1300.25"),
        "read_at": datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
    }

    document = validate_payload("meters", "reading_recorded", reading)

    assert document["reading"] == "1300.25" and document["read_at"] == "2026-11-27T08:00:00Z"


def test_unknown_fields_are_refused_at_every_level():
    application = example("portal", "application_submitted")
    application["enterprise"] = application["enterprise"] | {"nmae": "typo"}

    with pytest.raises(InvalidEvent) as refused:
        validate_payload("portal", "application_submitted", application | {"extra": 1})

    assert refused.value.fields == ("payload.enterprise.nmae", "payload.extra")


def test_an_unknown_event_type_is_refused_naming_the_type():
    with pytest.raises(InvalidEvent) as refused:
        validate_payload("portal", "application_sent", {})

    assert refused.value.fields == ("type",)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
SPECS = ingress_specs()


def sample_for(spec) -> dict:
    """A valid example of the spec's event, from examples/."""
    system, type_ = spec.key.source, spec.key.type
    path = next(p for s, t, p in example_files() if (s, t) == (system, type_))
    return json.loads(path.read_text("utf-8"))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SPECS), st.data(), JSON_VALUES)
def test_one_field_changed_to_anything_is_either_valid_or_refused_naming_that_field(
    spec, data, value
):
    payload = sample_for(spec)
    field = data.draw(st.sampled_from(sorted(payload)))
    payload[field] = value

    try:
        document = validate_payload(spec.key.source, spec.key.type, payload)
    except InvalidEvent as refused:
        assert refused.fields
        assert all(
            f == f"payload.{field}" or f.startswith(f"payload.{field}.") for f in refused.fields
        )
    else:
        # What passes is exactly what a consumer reads.
        spec.schema().load(document)
        assert json.loads(json.dumps(document)) == document


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(SPECS), JSON_VALUES)
def test_any_payload_at_all_is_validated_or_refused_with_named_fields(spec, payload):
    try:
        validate_payload(spec.key.source, spec.key.type, payload)
    except InvalidEvent as refused:
        assert refused.fields
        assert all(f == "payload" or f.startswith("payload.") for f in refused.fields)
