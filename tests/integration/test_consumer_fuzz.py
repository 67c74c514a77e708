"""Property-based: random bodies, properties and headers thrown at a running consumer.

Each example is one raw message — any bytes in the body and in the short-string
properties (non-UTF-8, encoded surrogates), any 64-bit timestamp in the properties and
in the headers, deep nesting in both, NULs and lone surrogates in the JSON, forged
``park-*`` headers — published with a hand-built content header on ``probe.events``
on the real broker, under alpha's routing key or, one time in four, a random one (any
bytes: non-UTF-8, encoded surrogates). Afterwards: the container lives, every message
under alpha's key ended either applied (its effect is recorded) or in ``alpha.dlq`` with
a reason, every other one is in ``park.unrouted`` (readable: a routing key that is not
UTF-8 is a reason on the letter, not an exception), and the work queue holds nothing,
ready or unacked (management API).
"""

import json
import uuid
from collections import Counter
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.contract import build, encode
from shared.messaging import amqp_decoding
from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.amqp_decoding import UNDECODABLE
from shared.messaging.management import ManagementClient
from tests.services.recorder import Alpha, effects
from tests.support.broker import wait_for
from tests.support.raw_amqp import (
    RawPublisher,
    content_header,
    item_array,
    item_int,
    item_string,
    item_table,
    item_timestamp,
    nested_headers,
    table,
)

EXAMPLES = 2000
WORK_QUEUE = "alpha.probe.thing_happened"
ROUTING_KEY = b"thing_happened"  # alpha's binding on probe.events
PARK_HEADERS = (
    "park-attempts",
    "park-sender",
    "park-error",
    "park-original-queue",
    "park-original-exchange",
    "park-original-routing-key",
    "park-failed-at",
    "park-replayed-at",
    "compression",
    "x-death",
)

# -- bodies ------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=12)  # lone surrogates and NULs included
    | st.sampled_from(["\x00", "\ud800", "a\udfffb", "", " "]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children)
    ),
    max_leaves=10,
)
ENVELOPE_FIELDS = ["event_id", "type", "source", "version", "occurred_at", "correlation_id"]
PAYLOAD_FIELDS = ["thing_id", "amount_fen", "happened_at", "extra"]

BODIES = st.one_of(
    st.tuples(st.just("valid"), st.just({}), st.just({})),
    st.tuples(
        st.just("changed"),
        st.dictionaries(st.sampled_from([*ENVELOPE_FIELDS, "park_id", "unknown"]), JSON_VALUES),
        st.dictionaries(st.sampled_from(PAYLOAD_FIELDS), JSON_VALUES),
    ),
    st.tuples(st.just("bytes"), st.binary(max_size=120), st.just({})),
    st.tuples(st.just("nested"), st.integers(1, 3000), st.just({})),
)

# -- properties and headers --------------------------------------------------------------

SHORT_STRING = st.none() | st.binary(max_size=24) | st.text(max_size=12)
STAMP = st.integers(0, 2**64 - 1) | st.sampled_from([2**62, 2**40, 0, 2**64 - 1])
HEADER_ITEMS = st.recursive(
    st.builds(item_string, st.binary(max_size=12) | st.text(max_size=8))
    | st.builds(item_int, st.integers(-(2**63), 2**63 - 1))
    | st.builds(item_timestamp, STAMP),
    lambda children: (
        st.lists(st.tuples(st.binary(max_size=6), children), max_size=3).map(
            lambda pairs: item_table(*pairs)
        )
        | st.lists(children, max_size=3).map(lambda items: item_array(*items))
    ),
    max_leaves=8,
)
HEADER_KEYS = st.sampled_from(PARK_HEADERS) | st.binary(max_size=8)
HEADERS = (
    st.none()
    | st.lists(st.tuples(HEADER_KEYS, HEADER_ITEMS), max_size=5).map(lambda pairs: table(*pairs))
    | st.integers(17, 2000).map(nested_headers)
)
# alpha's key three times in four; otherwise any bytes (unrouted unless they are its key).
ROUTING_KEYS = st.sampled_from([ROUTING_KEY] * 3 + [None]).flatmap(
    lambda key: st.just(key) if key else st.binary(max_size=40)
)
PROPERTIES = st.fixed_dictionaries(
    {},
    optional={
        "content_type": SHORT_STRING,
        "message_id": SHORT_STRING,
        "correlation_id": SHORT_STRING,
        "type": SHORT_STRING,
        "app_id": SHORT_STRING,
        "timestamp": STAMP,
        "headers": HEADERS,
        # The service's own user (guest in the tests): park-* headers are then believed,
        # whatever their types.
        "user_id": st.just("guest"),
    },
)


def build_body(kind: str, first, second) -> tuple[bytes, str | None]:
    """(body, thing_id of a message that should be applied, or None)."""
    if kind == "bytes":
        return first, None
    if kind == "nested":
        return b"[" * first + b"]" * first, None
    thing_id = str(uuid.uuid4())
    payload = {"thing_id": thing_id, "amount_fen": 100, "happened_at": datetime.now(UTC)}
    document = json.loads(encode(build("probe", "thing_happened", payload, occurred_at=now())))
    document.update(first)
    document["payload"].update(second)
    return json.dumps(document).encode(), thing_id


def now() -> datetime:
    return datetime.now(UTC)


def applied_bodies(world, bodies_by_thing: dict[str, bytes]) -> Counter:
    with world.engine("alpha").connect() as connection:
        applied = connection.scalars(effects.select().with_only_columns(effects.c.thing_id)).all()
    return Counter(bodies_by_thing[thing_id] for thing_id in applied)


def take_letters(world, queue: str = "alpha.dlq") -> list:
    """Every letter in ``queue``, bodies as bytes (not decoded by content_encoding)."""
    amqp_decoding.install()  # as every reader of letters does
    connection = BrokerAddress.from_uri(world.amqp_uri).connect()
    try:
        channel = connection.channel()
        channel.auto_decode = False
        letters = []
        while (letter := channel.basic_get(queue)) is not None:
            channel.basic_ack(letter.delivery_tag)
            letters.append(letter)
        return letters
    finally:
        connection.close()


def work_queue_settled(world) -> bool:
    address = BrokerAddress.from_uri(world.amqp_uri)
    info = ManagementClient.for_broker(None, address).queue(address.vhost, WORK_QUEUE)
    return info.get("messages_ready") == 0 and info.get("messages_unacknowledged") == 0


def test_whatever_arrives_is_applied_or_dead_lettered_with_a_reason_and_the_consumer_lives(
    world,
):
    world.start(Alpha)
    published: Counter = Counter()  # under alpha's key
    unrouted: Counter = Counter()  # under any other
    undecodable_keys = 0
    bodies_by_thing: dict[str, bytes] = {}
    publisher = RawPublisher(world.amqp_uri)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=BODIES, properties=PROPERTIES, routing_key=ROUTING_KEYS)
    def send(body, properties, routing_key):
        nonlocal undecodable_keys
        data, thing_id = build_body(*body)
        header = content_header(delivery_mode=2, **properties)
        publisher.publish("probe.events", routing_key, data, header)
        if routing_key != ROUTING_KEY:
            unrouted[data] += 1
            try:
                routing_key.decode("utf-8")
            except UnicodeDecodeError:
                undecodable_keys += 1
            return
        published[data] += 1
        if thing_id is not None:
            bodies_by_thing[thing_id] = data

    try:
        send()
    finally:
        publisher.close()

    letters: list = []
    missing: Counter = Counter()

    def everything_accounted_for() -> bool:
        letters.extend(take_letters(world))
        ended = applied_bodies(world, bodies_by_thing) + Counter(m.body or b"" for m in letters)
        missing.clear()
        missing.update(published - ended)
        missing.update({("UNEXPECTED", body): n for body, n in (ended - published).items()})
        return not missing

    # A valid message may fail transiently (an amount the column cannot hold) and climb
    # the test ladder (1 s, 2 s) before its dead letter.
    try:
        wait_for(everything_accounted_for, timeout=60, interval=0.5, message="all ended")
    except AssertionError as error:
        unended = list(missing.items())[:5]
        sent = sum(published.values())
        raise AssertionError(f"{sent} sent; not ended: {unended}") from error
    assert all(letter.headers.get("park-error") for letter in letters)

    # Whatever its routing key, an unrouted message is in park.unrouted and readable.
    kept = take_letters(world, "park.unrouted")
    assert Counter(m.body or b"" for m in kept) == unrouted
    named = [
        m for m in kept if "routing_key is not valid UTF-8" in m.properties.get(UNDECODABLE, ())
    ]
    assert len(named) == undecodable_keys
    wait_for(lambda: work_queue_settled(world), timeout=20, message="an empty, acked queue")

    # The container still consumes.
    thing_id = str(uuid.uuid4())
    payload = {"thing_id": thing_id, "amount_fen": 1, "happened_at": now()}
    world.publisher.publish("thing_happened", payload)
    wait_for(lambda: world.effects("alpha").get(thing_id), message="a valid event afterwards")
