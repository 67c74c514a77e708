"""A firm's broker identity against the real broker (services/ticketing/provisioning.py):
what a provisioned firm may and may not do, that provisioning twice changes nothing, that
revoking shuts the firm out, the order of the steps, and the password rules.

Broker users are global: every firm id here is unique to the run, and the users are
deleted at teardown.
"""

import uuid
from pathlib import Path

import amqp
import nameko
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ticketing.domain.catalogue import FirmKind
from services.ticketing.domain.firm_directory import Contact, Firm, FirmId
from services.ticketing.provisioning import (
    Applied,
    FirmBroker,
    add_firm,
    disable_firm,
    firm_dev_password,
    firm_password,
    password_matches,
)
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher, OutgoingMessage
from shared.messaging.declare import declare_topology
from shared.messaging.errors import PublishFailed, TopologyMissing
from shared.messaging.identities import MissingPassword, amqp_uri_as, firm_permissions
from shared.messaging.management import ManagementClient
from shared.messaging.topology import PARK_SUBSCRIPTIONS, build_topology, park_topology
from shared.settings import load_config_file
from tests.support.broker import get_messages, wait_for

ROOT = Path(__file__).resolve().parents[4]
TOPOLOGY = build_topology(PARK_SUBSCRIPTIONS, retry_delays=(1, 2))
FIRM_IDS = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?", fullmatch=True)


@pytest.fixture
def new_firm_id():
    """``new_firm_id()`` → a firm id unique to this run; its user is deleted at teardown."""
    made: list[FirmId] = []

    def make() -> FirmId:
        made.append(FirmId(f"t-{uuid.uuid4().hex[:16]}"))
        return made[-1]

    yield make
    management = ManagementClient.for_broker(
        None, BrokerAddress.from_uri(nameko.config["AMQP_URI"])
    )
    for firm_id in made:
        management._call_optional("DELETE", f"users/{firm_id.broker_user}")


@pytest.fixture
def broker(rabbit_config) -> FirmBroker:
    """The park's topology on this test's vhost, and a FirmBroker on it (as guest)."""
    amqp_uri = nameko.config["AMQP_URI"]
    declare_topology(TOPOLOGY, amqp_uri)
    return FirmBroker.connect(TOPOLOGY, amqp_uri)


def uri_of(broker: FirmBroker, firm_id: FirmId, password: str | None = None) -> str:
    guest = nameko.config["AMQP_URI"]
    return amqp_uri_as(guest, firm_id.broker_user, password or firm_dev_password(firm_id))


def connect_as(broker, firm_id, password=None) -> amqp.Connection:
    return BrokerAddress.from_uri(uri_of(broker, firm_id, password)).connect()


def refused(action) -> bool:
    try:
        action()
    except amqp.exceptions.AccessRefused:
        return True
    return False


def publish_work_item(firm_id: FirmId, body: bytes = b"{}") -> None:
    """What ticketing's relay does: ticketing.work, routing key = the firm id, mandatory."""
    publisher = ConfirmingPublisher(BrokerAddress.from_uri(nameko.config["AMQP_URI"]))
    try:
        publisher.publish([OutgoingMessage("ticketing.work", firm_id.routing_key, body, {})])
    finally:
        publisher.close()


def a_firm(firm_id: FirmId) -> Firm:
    return Firm(
        firm_id, f"测试律师事务所 {firm_id}", FirmKind.LEGAL, frozenset({"labour_law"}), 5,
        Contact("周正", "0371-6812-0101"),
    )  # fmt: skip


# -- what a provisioned firm may do ------------------------------------------------------


def test_a_provisioned_firm_consumes_its_own_queue_and_reports_on_firms_events(broker, new_firm_id):
    firm_id = new_firm_id()

    changes = broker.provision(firm_id, firm_dev_password(firm_id))

    assert changes == [
        f"queue firm.{firm_id}.work declared",
        f"firm.{firm_id}.work bound to ticketing.work [{firm_id}]",
        f"user firm-{firm_id} created",
        f"permissions of firm-{firm_id} on vhost {broker.vhost!r} set",
    ]
    publish_work_item(firm_id, b'{"work": 1}')
    [item] = get_messages(uri_of(broker, firm_id), firm_id.work_queue)  # as the firm
    assert item.body == b'{"work": 1}'
    report = OutgoingMessage(
        "firms.events", "work_accepted", b"{}", {"user_id": firm_id.broker_user}
    )
    as_firm = ConfirmingPublisher(BrokerAddress.from_uri(uri_of(broker, firm_id)))
    try:
        as_firm.publish([report])  # confirmed (it goes to park.unrouted: nobody subscribes)
    finally:
        as_firm.close()
    assert broker.state(firm_id).complete


def test_a_firm_is_refused_anything_else(broker, new_firm_id):
    mine, other = new_firm_id(), new_firm_id()
    for firm_id in (mine, other):
        broker.provision(firm_id, firm_dev_password(firm_id))
    connection = connect_as(broker, mine)
    try:
        assert refused(lambda: connection.channel().basic_get(other.work_queue))
        assert refused(lambda: connection.channel().basic_get("ticketing.dlq"))
        assert refused(lambda: connection.channel().queue_declare("firm.rogue", durable=True))
        assert refused(
            lambda: connection.channel().queue_bind(mine.work_queue, "ticketing.work", "x")
        )
        # Reporting as another firm: the broker refuses a user_id not the connection's own.
        with pytest.raises(amqp.exceptions.PreconditionFailed):
            channel = connection.channel()
            forged = amqp.Message(b"{}", user_id=other.broker_user)
            channel.basic_publish(forged, exchange="firms.events", routing_key="work_accepted")
            connection.drain_events(timeout=2)
    finally:
        connection.collect()
    as_firm = ConfirmingPublisher(BrokerAddress.from_uri(uri_of(broker, mine)))
    try:
        for foreign in ("portal.events", "ticketing.events", "ticketing.work", ""):
            with pytest.raises(PublishFailed, match="ACCESS_REFUSED"):
                as_firm.publish(
                    [OutgoingMessage(foreign, "x", b"{}", {"user_id": mine.broker_user})]
                )
    finally:
        as_firm.close()


def test_provisioning_again_changes_nothing_and_says_so(broker, new_firm_id):
    firm_id = new_firm_id()
    broker.provision(firm_id, "first-password")
    before = broker.management.get_user(firm_id.broker_user)

    assert broker.provision(firm_id, "first-password") == []
    assert broker.management.get_user(firm_id.broker_user) == before  # not even re-hashed


def test_provisioning_with_another_password_changes_only_the_password(broker, new_firm_id):
    firm_id = new_firm_id()
    broker.provision(firm_id, "first-password")

    assert broker.provision(firm_id, "second-password") == [
        f"user firm-{firm_id}: password changed"
    ]
    connect_as(broker, firm_id, "second-password").collect()
    with pytest.raises(amqp.exceptions.AccessRefused):
        connect_as(broker, firm_id, "first-password")


def test_provisioning_puts_back_permissions_someone_widened(broker, new_firm_id):
    firm_id = new_firm_id()
    broker.provision(firm_id, "pw")
    broker.management.set_permissions(broker.vhost, firm_id.broker_user, ".*", ".*", ".*")

    assert broker.provision(firm_id, "pw") == [
        f"permissions of firm-{firm_id} on vhost {broker.vhost!r} set"
    ]
    granted = broker.management.permissions(broker.vhost, firm_id.broker_user)
    assert granted["read"] == firm_permissions(str(firm_id)).read


@pytest.mark.parametrize("password", ["pw", "dev-zhengheng-law", "密码 with spaces", "x" * 200])
def test_password_matches_reads_the_brokers_salted_hash(broker, new_firm_id, password):
    firm_id = new_firm_id()
    broker.provision(firm_id, password)
    stored = broker.management.get_user(firm_id.broker_user)

    assert password_matches(stored, password)
    assert not password_matches(stored, password + "x")
    assert not password_matches(
        {**stored, "hashing_algorithm": "rabbit_password_hashing_md5"}, password
    )


def test_without_ticketing_work_the_queue_is_not_bound_and_nothing_else_happens(
    rabbit_config, new_firm_id
):
    amqp_uri = nameko.config["AMQP_URI"]  # a vhost where nothing was declared
    broker = FirmBroker.connect(TOPOLOGY, amqp_uri)
    firm_id = new_firm_id()

    with pytest.raises(TopologyMissing, match="park topology declare"):
        broker.provision(firm_id, "pw")
    assert broker.management.get_user(firm_id.broker_user) is None


# -- no delivery limit on a firm's queue ---------------------------------------------------


@settings(max_examples=300, deadline=None, database=None)
@given(firm_id=FIRM_IDS, major=st.sampled_from([3, 4]))
def test_no_queue_policy_of_the_park_limits_deliveries_on_a_firm_queue(firm_id, major):
    # On 3.x no queue policy matches a firm's queue; on 4.x (default limit 20) exactly
    # one does, and it lifts the limit (issue 9: firm queues get no delivery limit).
    import re

    queue, _ = park_topology().firm_work(firm_id)
    matching = [
        policy.definition
        for policy in park_topology().policies(broker_major=major)
        if policy.apply_to == "queues" and re.search(policy.pattern, queue.name)
    ]
    assert matching == ([] if major == 3 else [{"delivery-limit": -1}])
    assert "x-delivery-limit" not in queue.arguments


def test_a_firm_queue_on_the_broker_has_no_policy_and_no_delivery_limit(broker, new_firm_id):
    firm_id = new_firm_id()
    broker.provision(firm_id, "pw")

    queue = broker.management.queue(broker.vhost, firm_id.work_queue)

    assert queue["arguments"] == {"x-queue-type": "quorum"}
    assert not queue.get("policy")
    assert not queue.get("effective_policy_definition")


# -- revoking ------------------------------------------------------------------------------


def test_a_revoked_firm_cannot_connect_and_its_open_connection_is_closed(broker, new_firm_id):
    firm_id = new_firm_id()
    broker.provision(firm_id, firm_dev_password(firm_id))
    connection = connect_as(broker, firm_id)
    channel = connection.channel()
    wait_for(
        lambda: broker.management.user_connections(firm_id.broker_user),
        message="the firm's connection in the management API",
    )

    changes = broker.revoke(firm_id)

    assert changes == [
        f"permissions of firm-{firm_id} on vhost {broker.vhost!r} cleared",
        f"1 open connection(s) of firm-{firm_id} closed",
        f"user firm-{firm_id} deleted",
    ]

    def closed() -> bool:
        try:
            channel.basic_get(firm_id.work_queue)
            connection.drain_events(timeout=0.2)
        except (OSError, amqp.exceptions.AMQPError, amqp.exceptions.ConnectionForced):
            return True
        except TimeoutError:
            return False
        return False

    wait_for(closed, message="the firm's connection closed")
    connection.collect()
    with pytest.raises(amqp.exceptions.AccessRefused):
        connect_as(broker, firm_id)
    assert broker.state(firm_id).describe() == "revoked"  # the queue stays


def test_revoking_twice_changes_nothing_the_second_time(broker, new_firm_id):
    firm_id = new_firm_id()
    broker.provision(firm_id, "pw")
    broker.revoke(firm_id)

    assert broker.revoke(firm_id) == []


def test_revoking_on_one_vhost_leaves_the_firm_working_on_another(broker, new_firm_id):
    firm_id = new_firm_id()
    broker.provision(firm_id, "pw")
    management = broker.management
    other_vhost = f"park_test_{uuid.uuid4().hex[:10]}"
    management.create_vhost(other_vhost)
    management.set_permissions(other_vhost, "guest", ".*", ".*", ".*")
    try:
        other_uri = nameko.config["AMQP_URI"].rsplit("/", 1)[0] + f"/{other_vhost}"
        declare_topology(TOPOLOGY, other_uri)
        other = FirmBroker.connect(TOPOLOGY, other_uri)
        other.provision(firm_id, "pw")

        assert broker.revoke(firm_id) == [
            f"permissions of firm-{firm_id} on vhost {broker.vhost!r} cleared"
        ]  # the user stays: it still works on the other vhost
        with pytest.raises(amqp.exceptions.NotAllowed, match="access to vhost"):
            connect_as(broker, firm_id, "pw")
        connection = BrokerAddress.from_uri(amqp_uri_as(other_uri, firm_id.broker_user, "pw"))
        with connection.connect() as live:
            assert live.channel().basic_get(firm_id.work_queue) is None
    finally:
        management.delete_vhost(other_vhost)


# -- the order of the steps ----------------------------------------------------------------


def test_add_provisions_the_broker_before_the_firm_becomes_routable(broker, new_firm_id):
    firm_id = new_firm_id()
    seen = []

    def register(firm):
        seen.append(broker.state(firm.firm_id))
        return f"firm {firm.firm_id} registered"

    applied = add_firm(a_firm(firm_id), "pw", broker, register)

    assert seen == [broker.state(firm_id)] and seen[0].complete
    assert applied.database == f"firm {firm_id} registered"
    assert applied.changed


def test_a_failed_registration_is_completed_by_adding_again(broker, new_firm_id):
    firm_id = new_firm_id()

    def failing(firm):
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        add_firm(a_firm(firm_id), "pw", broker, failing)
    applied = add_firm(a_firm(firm_id), "pw", broker, lambda firm: "registered")

    assert applied == Applied(firm_id, [], "registered")  # the broker part was all there


def test_disable_changes_the_database_before_revoking_the_user(broker, new_firm_id):
    firm_id = new_firm_id()
    broker.provision(firm_id, "pw")
    seen = []

    def disable(firm_id):
        seen.append(broker.state(firm_id))
        return "disabled"

    applied = disable_firm(firm_id, broker, disable)

    assert seen[0].complete  # the firm could still read while its tickets were reassigned
    assert applied.database == "disabled"
    assert broker.management.get_user(firm_id.broker_user) is None


def test_a_failed_database_step_leaves_the_broker_identity_alone(broker, new_firm_id):
    firm_id = new_firm_id()
    broker.provision(firm_id, "pw")

    def failing(firm_id):
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        disable_firm(firm_id, broker, failing)
    assert broker.state(firm_id).complete


# -- passwords -----------------------------------------------------------------------------


def test_a_config_without_firm_passwords_gives_the_development_password():
    assert firm_password(FirmId("zhengheng-law"), {}) == "dev-zhengheng-law"


@pytest.mark.parametrize("name", ["development.yaml", "postgresql.yaml"])
def test_the_development_configs_default_to_dev_firm_id_and_take_a_configured_one(
    name, monkeypatch
):
    monkeypatch.delenv("FIRM_PASSWORDS", raising=False)
    config = load_config_file(ROOT / "config" / name)
    assert firm_password(FIRM_ID, config) == "dev-zhengheng-law"

    monkeypatch.setenv("FIRM_PASSWORDS", "{zhengheng-law: s3cret}")
    config = load_config_file(ROOT / "config" / name)
    assert firm_password(FIRM_ID, config) == "s3cret"
    assert firm_password(FirmId("mingli-law"), config) == "dev-mingli-law"


def test_the_production_config_has_no_default(monkeypatch):
    monkeypatch.delenv("FIRM_PASSWORDS", raising=False)
    config = load_config_file(ROOT / "config" / "production.yaml")
    with pytest.raises(MissingPassword, match=r"FIRM_PASSWORDS\.zhengheng-law"):
        firm_password(FIRM_ID, config)

    monkeypatch.setenv("FIRM_PASSWORDS", "{zhengheng-law: s3cret}")
    config = load_config_file(ROOT / "config" / "production.yaml")
    assert firm_password(FIRM_ID, config) == "s3cret"
    with pytest.raises(MissingPassword, match=r"FIRM_PASSWORDS\.mingli-law"):
        firm_password(FirmId("mingli-law"), config)


@pytest.mark.parametrize("empty", ["", None])
def test_an_empty_configured_password_is_an_error_not_a_default(empty):
    config = {"FIRM_PASSWORDS": {"zhengheng-law": empty}, "FIRM_DEV_PASSWORDS": True}
    with pytest.raises(MissingPassword, match="empty"):
        firm_password(FIRM_ID, config)


def test_firm_passwords_that_are_not_a_mapping_are_refused():
    with pytest.raises(ValueError, match="must map"):
        firm_password(FIRM_ID, {"FIRM_PASSWORDS": "s3cret"})


FIRM_ID = FirmId("zhengheng-law")


@pytest.mark.parametrize("value", [["a", "b"], {"nested": "x"}, True])
def test_a_password_that_is_not_text_is_refused(value):
    config = {"FIRM_PASSWORDS": {"zhengheng-law": value}, "FIRM_DEV_PASSWORDS": True}
    with pytest.raises(MissingPassword, match="not a text"):
        firm_password(FIRM_ID, config)


CONFIG_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.lists(st.text(max_size=3))
)


@settings(max_examples=400, deadline=None, database=None)
@given(
    config=st.dictionaries(
        st.sampled_from(["FIRM_PASSWORDS", "FIRM_DEV_PASSWORDS", "OTHER"]),
        st.one_of(
            CONFIG_VALUES,
            st.dictionaries(st.sampled_from(["zhengheng-law", "other"]), CONFIG_VALUES),
        ),
    )
)
def test_any_config_gives_a_non_empty_password_or_a_clear_refusal(config):
    try:
        password = firm_password(FIRM_ID, config)
    except (MissingPassword, ValueError) as refusal:
        assert "FIRM_PASSWORDS" in str(refusal)
        return
    assert isinstance(password, str) and password
    listed = (config.get("FIRM_PASSWORDS") or {}).get("zhengheng-law")
    if listed is None or listed == "":
        assert password == "dev-zhengheng-law"  # only the development default
        assert config.get("FIRM_DEV_PASSWORDS") is True or not (
            "FIRM_PASSWORDS" in config or "FIRM_DEV_PASSWORDS" in config
        )


def rabbit_hash(password: str, salt: bytes) -> dict:
    """A management-API user record as RabbitMQ stores it (rabbit_password_hashing_sha256)."""
    import base64
    import hashlib

    digest = hashlib.sha256(salt + password.encode("utf-8")).digest()
    return {
        "password_hash": base64.b64encode(salt + digest).decode(),
        "hashing_algorithm": "rabbit_password_hashing_sha256",
    }


@settings(max_examples=300, deadline=None, database=None)
@given(
    password=st.text(min_size=1), other=st.text(min_size=1), salt=st.binary(min_size=4, max_size=4)
)
def test_password_matches_only_the_password_it_was_hashed_from(password, other, salt):
    stored = rabbit_hash(password, salt)
    assert password_matches(stored, password)
    assert password_matches(stored, other) == (other == password)


@settings(max_examples=300, deadline=None, database=None)
@given(
    user=st.fixed_dictionaries(
        {},
        optional={
            "password_hash": st.one_of(
                st.none(), st.text(), st.integers(), st.lists(st.integers()), st.binary()
            ),
            "hashing_algorithm": st.one_of(
                st.sampled_from(
                    ["rabbit_password_hashing_sha256", "rabbit_password_hashing_sha512"]
                ),
                st.none(),
                st.text(),
                st.integers(),
            ),
        },
    ),
    password=st.text(),
)
def test_password_matches_never_raises_on_a_strange_user_record(user, password):
    assert password_matches(user, password) in (True, False)
