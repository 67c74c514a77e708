"""The consumer's pure parts: decoding hostile content headers, which headers are
believed, and what a retried or dead-lettered copy carries — all without a broker."""

from datetime import datetime
from decimal import Decimal
from struct import pack

import pytest
from amqp import serialization
from amqp.basic_message import Message
from amqp.channel import Channel
from amqp.spec import Basic
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contract import parse
from shared.messaging import amqp_decoding
from shared.messaging.amqp_client import OutgoingMessage
from shared.messaging.amqp_decoding import UNDECODABLE, decode_basic_properties
from shared.messaging.delivery import (
    ATTEMPTS,
    ERROR,
    ORIGINAL_EXCHANGE,
    ORIGINAL_QUEUE,
    ORIGINAL_ROUTING_KEY,
    SENDER,
    attempts_so_far,
    check_route,
    copy_properties,
    property_problems,
    verified_sender,
)
from shared.messaging.errors import MalformedMessage
from shared.messaging.topology import Subscription
from tests.support.raw_amqp import (
    content_header,
    item_array,
    item_int,
    item_string,
    item_table,
    item_timestamp,
    nested_headers,
    table,
)
from tests.unit.test_consumer_parsing import valid_body

OWN = "alpha"
QUEUE = "alpha.probe.thing_happened"
FIRST_RECEIPT = {"exchange": "probe.events", "routing_key": "thing_happened"}
FROM_RETRY_QUEUE = {"exchange": "", "routing_key": QUEUE}


def decoded(header: bytes) -> dict:
    properties, _ = decode_basic_properties(header, 0)
    return properties


def encodable(properties: dict) -> bytes:
    """What py-amqp would put on the wire for these properties (raises if it cannot)."""
    message = OutgoingMessage("", "q", b"{}", properties).to_amqp()
    return message._serialize_properties()


# -- decoding ----------------------------------------------------------------------------


def test_well_formed_properties_decode_exactly_as_py_amqp_decodes_them():
    header = Message(
        b"",
        content_type="application/json",
        message_id="m-1",
        correlation_id="c-1",
        timestamp=1_764_222_000,
        type="thing_happened",
        app_id="probe",
        user_id="guest",
        delivery_mode=2,
        application_headers={"a": 1, "b": "text", "c": [1, "x"], "d": {"e": True}},
    )._serialize_properties()

    assert decoded(header) == serialization.decode_properties_basic(header, 0)[0]


@pytest.mark.parametrize("name", ["message_id", "type", "app_id", "correlation_id"])
def test_a_property_that_is_not_utf8_is_left_out_with_a_reason(name):
    properties = decoded(content_header(**{name: b"id-\xff\xfe", "content_type": "x"}))

    assert name not in properties
    assert properties["content_type"] == "x"
    assert properties[UNDECODABLE] == (f"property {name} is not valid UTF-8",)


def test_py_amqp_itself_raises_on_a_property_that_is_not_utf8():
    with pytest.raises(UnicodeDecodeError):
        serialization.decode_properties_basic(content_header(message_id=b"\xff"), 0)


def test_an_encoded_surrogate_in_a_property_is_not_valid_utf8():
    properties = decoded(content_header(message_id="\ud800"))

    assert properties[UNDECODABLE] == ("property message_id is not valid UTF-8",)


@pytest.mark.parametrize("seconds", [2**62, 2**40, 2**64 - 1])
def test_a_header_timestamp_out_of_range_is_left_out_with_a_reason(seconds):
    header = content_header(headers=table(("when", item_timestamp(seconds)), ("ok", item_int(1))))

    properties = decoded(header)

    assert properties["application_headers"] == {"ok": 1}
    assert properties[UNDECODABLE] == (f"headers.when: timestamp {seconds} is out of range",)


def test_a_header_timestamp_in_range_still_decodes():
    header = content_header(headers=table(("when", item_timestamp(1_764_222_000))))

    assert decoded(header)["application_headers"] == {"when": datetime(2025, 11, 27, 5, 40)}


def test_headers_nested_too_deep_are_cut_with_a_reason_not_a_recursion_error():
    properties = decoded(content_header(headers=nested_headers(5000), message_id="m-1"))

    assert properties["message_id"] == "m-1"
    assert any("nested deeper" in reason for reason in properties[UNDECODABLE])


def test_an_unknown_field_type_in_the_headers_is_a_reason():
    header = content_header(headers=table(("a", item_int(1)), ("b", b"?junk")), type="t")

    properties = decoded(header)

    assert properties["type"] == "t"
    assert properties[UNDECODABLE] == ("headers: cannot be decoded",)


def test_a_truncated_header_is_a_reason_not_an_exception():
    properties = decoded(content_header(message_id="m-1", headers=table(("a", item_int(1))))[:-3])

    assert UNDECODABLE in properties


def test_install_replaces_py_amqps_decoder():
    amqp_decoding.install()

    assert serialization.PROPERTY_CLASSES[60] is decode_basic_properties


PROPERTY_BYTES = st.binary(max_size=40)
ITEMS = st.recursive(
    st.builds(item_string, st.binary(max_size=10))
    | st.builds(item_int, st.integers(-(2**63), 2**63 - 1))
    | st.builds(item_timestamp, st.integers(0, 2**64 - 1)),
    lambda children: (
        st.lists(st.tuples(st.binary(max_size=8), children), max_size=3).map(
            lambda pairs: item_table(*pairs)
        )
        | st.lists(children, max_size=3).map(lambda items: item_array(*items))
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None, database=None)
@given(
    message_id=PROPERTY_BYTES,
    type_=PROPERTY_BYTES,
    app_id=PROPERTY_BYTES,
    timestamp=st.integers(0, 2**64 - 1),
    headers=st.lists(st.tuples(st.binary(max_size=8), ITEMS), max_size=4),
    cut=st.integers(0, 3),
)
def test_any_content_header_decodes_and_its_copy_is_publishable(
    message_id, type_, app_id, timestamp, headers, cut
):
    header = content_header(
        message_id=message_id,
        type=type_,
        app_id=app_id,
        timestamp=timestamp,
        headers=table(*headers),
        user_id="someone",
    )
    properties = decoded(header[: len(header) - cut])  # never raises

    copy = copy_properties(
        properties,
        properties.get("application_headers") or {},
        FIRST_RECEIPT,
        queue=QUEUE,
        own_user=OWN,
        extra_headers={ERROR: "; ".join(property_problems(properties))},
    )
    encodable(copy)


# -- trust -------------------------------------------------------------------------------


def test_attempts_are_believed_only_on_our_own_copies():
    forged = {ATTEMPTS: 99}

    assert attempts_so_far({"user_id": "portal"}, forged, OWN) == 0
    assert attempts_so_far({}, forged, OWN) == 0
    assert attempts_so_far({"user_id": OWN}, forged, OWN) == 99


@pytest.mark.parametrize("value", [-1, "3", True, 2.5, None])
def test_attempts_that_are_not_a_count_are_zero(value):
    assert attempts_so_far({"user_id": OWN}, {ATTEMPTS: value}, OWN) == 0


def test_the_sender_is_the_verified_user_unless_the_copy_is_our_own():
    assert verified_sender({"user_id": "firm-1"}, {SENDER: "firm-2"}, OWN) == "firm-1"
    assert verified_sender({"user_id": OWN}, {SENDER: "firm-2"}, OWN) == "firm-2"
    assert verified_sender({"user_id": OWN}, {}, OWN) is None
    assert verified_sender({}, {SENDER: "firm-2"}, OWN) is None


def test_a_message_of_another_type_on_a_work_queue_is_malformed():

    event = parse(valid_body())  # bank/payment_received

    with pytest.raises(MalformedMessage, match=r"arrived on alpha\.probe\.thing_happened"):
        check_route(event, Subscription("alpha", "probe", "thing_happened"))
    check_route(event, Subscription("billing", "bank", "payment_received"))


def test_property_problems_name_undecodable_and_invalid_text_properties():
    problems = property_problems(
        {UNDECODABLE: ("property app_id is not valid UTF-8",), "type": "a\x00b"}
    )

    assert problems == ["property app_id is not valid UTF-8", "property type is not valid text"]


# -- the copy ----------------------------------------------------------------------------


FORGED = {
    ATTEMPTS: 99,
    ORIGINAL_QUEUE: "onboarding.gov.review_decided",
    ORIGINAL_EXCHANGE: "gov.events",
    ORIGINAL_ROUTING_KEY: "review_decided",
    ERROR: "forged",
    "park-replayed-at": "2026-11-27T05:40:00Z",
    "Park-Error": "forged too",
    SENDER: "firm-other",
    "trace": "kept",
}


def test_a_copy_of_a_foreign_message_carries_only_our_park_headers():
    copy = copy_properties(
        {"user_id": "portal", "message_id": "m-1"},
        FORGED,
        FIRST_RECEIPT,
        queue=QUEUE,
        own_user=OWN,
        extra_headers={ATTEMPTS: 1},
    )

    assert copy["headers"] == {
        "trace": "kept",
        ORIGINAL_QUEUE: QUEUE,
        ORIGINAL_EXCHANGE: "probe.events",
        ORIGINAL_ROUTING_KEY: "thing_happened",
        SENDER: "portal",
        ATTEMPTS: 1,
    }
    assert copy["user_id"] == OWN
    assert copy["message_id"] == "m-1"


def test_our_own_copy_back_from_the_retry_queue_keeps_where_it_first_came_from():
    recorded = {
        ATTEMPTS: 1,
        ORIGINAL_QUEUE: QUEUE,
        ORIGINAL_EXCHANGE: "probe.events",
        ORIGINAL_ROUTING_KEY: "thing_happened",
        SENDER: "firm-1",
        "x-death": [{"queue": "alpha.retry.1s"}],
    }

    copy = copy_properties(
        {"user_id": OWN},
        recorded,
        FROM_RETRY_QUEUE,
        queue=QUEUE,
        own_user=OWN,
        extra_headers={ATTEMPTS: 2},
    )

    assert copy["headers"] == {
        ATTEMPTS: 2,
        ORIGINAL_QUEUE: QUEUE,
        ORIGINAL_EXCHANGE: "probe.events",
        ORIGINAL_ROUTING_KEY: "thing_happened",
        SENDER: "firm-1",
    }


def test_the_original_queue_is_always_the_queue_read_from_even_on_our_own_copy():
    copy = copy_properties(
        {"user_id": OWN},
        {ORIGINAL_QUEUE: "elsewhere"},
        FROM_RETRY_QUEUE,
        queue=QUEUE,
        own_user=OWN,
        extra_headers={},
    )

    assert copy["headers"][ORIGINAL_QUEUE] == QUEUE


def test_foreign_headers_that_cannot_be_published_again_are_dropped():
    headers = {
        "bytes": b"\xff\xfe",
        "surrogate": "\ud800",
        "nul": "a\x00",
        "decimal": Decimal("1.5"),
        "deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}},
        b"\xff": "bytes key",
        "old": datetime(1960, 1, 1),
        "fine": ["a", 1, {"b": None}],
    }

    copy = copy_properties({}, headers, FIRST_RECEIPT, queue=QUEUE, own_user=OWN, extra_headers={})

    assert {k for k in copy["headers"] if not k.startswith("park-")} == {"fine"}
    encodable(copy)


def test_a_copy_never_carries_an_unreadable_property():
    copy = copy_properties(
        {"message_id": "\ud800", "type": "t", "timestamp": 2**64 - 1, "app_id": "a" * 300},
        {},
        FIRST_RECEIPT,
        queue=QUEUE,
        own_user=OWN,
        extra_headers={},
    )

    assert "message_id" not in copy and "timestamp" not in copy and "app_id" not in copy
    assert copy["type"] == "t"
    encodable(copy)


# -- method arguments (basic.deliver, basic.get-ok, basic.return) ------------------------

DELIVER_ARGS = ("sLbss", ("consumer_tag", "delivery_tag", "redelivered", "exchange", "routing_key"))
METHODS = {
    Basic.Deliver: DELIVER_ARGS,
    Basic.GetOk: ("Lbssl", ("delivery_tag", "redelivered", "exchange", "routing_key", "count")),
    Basic.Return: ("Bsss", ("reply_code", "reply_text", "exchange", "routing_key")),
}


def dispatched(method_sig, values: dict, properties: dict | None = None) -> tuple[dict, dict]:
    """Hand py-amqp's channel one method frame whose short strings are raw bytes, as the
    broker would send it; returns (the arguments the listener got, the message's
    properties)."""
    amqp_decoding.install()
    fmt, names = METHODS[method_sig]
    channel = Channel.__new__(Channel)  # no connection: dispatch reads only these
    channel.is_closing, channel.auto_decode, channel._pending = False, False, {}
    received = []
    channel._callbacks = {method_sig: lambda *args: received.append(args)}
    content = Message(b"{}")
    content.properties = dict(properties or {})
    payload = pack(">HH", *method_sig) + serialization.dumps(fmt, [values[n] for n in names])

    channel.dispatch_method(method_sig, payload, content)

    [args] = received
    assert args[-1] is content
    return dict(zip(names, args[:-1], strict=True)), content.properties


def deliver(routing_key: bytes, **others) -> dict:
    return {
        "consumer_tag": b"None1",
        "delivery_tag": 7,
        "redelivered": False,
        "exchange": b"portal.events",
        "routing_key": routing_key,
        **others,
    }


def test_py_amqp_itself_raises_on_a_routing_key_that_is_not_utf8():
    with pytest.raises(UnicodeDecodeError):
        payload = serialization.dumps("sLbss", list(deliver(b"\xff").values()))
        serialization.loads("sLbss", payload, 0)


def test_a_delivery_with_a_routing_key_that_is_not_utf8_is_a_reason_not_an_exception():
    args, properties = dispatched(Basic.Deliver, deliver(b"\xff-key"), {"message_id": "m-1"})

    assert args["routing_key"] == "\\xff-key"  # the marker: readable, and publishable
    assert args["exchange"] == "portal.events"
    assert args["delivery_tag"] == 7
    assert properties["message_id"] == "m-1"
    assert properties[UNDECODABLE] == ("routing_key is not valid UTF-8",)
    assert property_problems(properties) == ["routing_key is not valid UTF-8"]  # dead-lettered


def test_an_encoded_surrogate_in_a_routing_key_is_not_valid_utf8():
    args, properties = dispatched(Basic.Deliver, deliver("\ud800".encode("utf-8", "surrogatepass")))

    assert args["routing_key"] == "\\xed\\xa0\\x80"
    assert properties[UNDECODABLE] == ("routing_key is not valid UTF-8",)


def test_an_undecodable_routing_key_adds_to_the_content_headers_own_reasons():
    _, properties = dispatched(
        Basic.Deliver, deliver(b"\xfe"), {UNDECODABLE: ("property type is not valid UTF-8",)}
    )

    assert properties[UNDECODABLE] == (
        "property type is not valid UTF-8",
        "routing_key is not valid UTF-8",
    )


def test_a_get_ok_and_a_return_with_undecodable_arguments_are_reasons_too():
    get_ok = {
        "delivery_tag": 1,
        "redelivered": True,
        "exchange": b"\xc3",
        "routing_key": b"\xff" * 255,
        "count": 0,
    }
    args, properties = dispatched(Basic.GetOk, get_ok)

    assert args["redelivered"] is True and args["count"] == 0
    assert len(args["routing_key"].encode()) <= 255  # a marker still fits a short string
    assert properties[UNDECODABLE] == (
        "exchange is not valid UTF-8",
        "routing_key is not valid UTF-8",
    )

    returned = {
        "reply_code": 312,
        "reply_text": b"NO_ROUTE",
        "exchange": b"",
        "routing_key": b"\x80",
    }
    args, properties = dispatched(Basic.Return, returned)

    assert (args["reply_code"], args["reply_text"], args["exchange"]) == (312, "NO_ROUTE", "")
    assert properties[UNDECODABLE] == ("routing_key is not valid UTF-8",)


def test_well_formed_arguments_dispatch_exactly_as_py_amqp_decodes_them():
    values = deliver("thing_happened.é".encode())

    args, properties = dispatched(Basic.Deliver, values)

    fmt, names = DELIVER_ARGS
    expected, _ = serialization.loads(fmt, serialization.dumps(fmt, list(values.values())), 0)
    assert args == dict(zip(names, expected, strict=True))
    assert UNDECODABLE not in properties


def test_install_wraps_the_method_dispatch_once():
    amqp_decoding.install()
    wrapped = Channel.dispatch_method
    amqp_decoding.install()

    assert Channel.dispatch_method is wrapped


@settings(max_examples=400, deadline=None, database=None)
@given(
    method_sig=st.sampled_from(sorted(METHODS)),
    strings=st.lists(st.binary(max_size=255), min_size=4, max_size=4),
)
def test_any_short_string_arguments_dispatch_to_text_a_copy_can_carry(method_sig, strings):
    fmt, names = METHODS[method_sig]
    numbers = iter((5, True, 0))
    short = iter(strings)
    values = {
        name: next(short) if kind == "s" else next(numbers)
        for name, kind in zip(names, fmt, strict=True)
    }

    args, properties = dispatched(method_sig, values)  # never raises

    for name, kind in zip(names, fmt, strict=True):
        if kind == "s":
            text = args[name]
            assert len(text.encode("utf-8")) <= 255  # strict: no lone surrogate either
            try:
                assert text == values[name].decode("utf-8")
            except UnicodeDecodeError:
                assert f"{name} is not valid UTF-8" in properties[UNDECODABLE]


def test_a_marker_keeps_the_readable_characters_and_escapes_the_rest():
    assert amqp_decoding.undecodable_marker("é-".encode() + b"\xff") == "é-\\xff"
    long = amqp_decoding.undecodable_marker("é".encode() * 120 + b"\xff" * 9)
    assert long.startswith("é" * 120 + "\\xff") and len(long.encode()) <= 255
