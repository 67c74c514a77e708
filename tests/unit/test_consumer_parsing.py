"""Parsing a message body never raises anything but MalformedMessage, whatever the bytes."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contract import build, encode, parse
from shared.contract.envelope import MAX_BODY_BYTES, MAX_NESTING
from shared.messaging.errors import MalformedMessage

NOW = datetime(2026, 11, 27, 5, 40, tzinfo=UTC)


def valid_body() -> bytes:
    payload = {
        "bank_txn_id": "T-1",
        "payer_uscc": "91410100MA44XXXX1X",
        "amount_fen": 1250,
        "received_at": NOW,
        "reference": "",
    }
    return encode(build("bank", "payment_received", payload, occurred_at=NOW))


def test_a_thousand_open_brackets_are_malformed_not_a_recursion_error():
    with pytest.raises(MalformedMessage, match="nested deeper"):
        parse(b"[" * 1000)


def test_a_deeply_nested_payload_inside_a_valid_envelope_is_malformed():
    document = json.loads(valid_body())
    document["payload"]["extra"] = json.loads("[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1))

    with pytest.raises(MalformedMessage, match="nested deeper"):
        parse(json.dumps(document).encode())


def test_a_body_over_the_size_limit_is_malformed_before_it_is_read():
    document = json.loads(valid_body())
    document["payload"]["padding"] = "x" * MAX_BODY_BYTES

    with pytest.raises(MalformedMessage, match="more than the"):
        parse(json.dumps(document).encode())


def test_a_body_that_is_not_utf8_is_malformed():
    with pytest.raises(MalformedMessage, match="not valid JSON"):
        parse(b'{"event_id": "\xff"}')


def test_a_huge_integer_is_malformed_not_a_crash():
    with pytest.raises(MalformedMessage):
        parse(b'{"version": ' + b"9" * 5000 + b"}")


def test_a_valid_body_still_parses():
    assert parse(valid_body()).payload["amount_fen"] == 1250


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, database=None)
@given(st.binary(max_size=300))
def test_random_bytes_are_parsed_or_refused_as_malformed(body):
    try:
        parse(body)
    except MalformedMessage as error:
        error.reason.encode("utf-8")


@settings(max_examples=200, deadline=None, database=None)
@given(st.dictionaries(st.sampled_from(sorted(json.loads(valid_body()))), JSON))
def test_random_values_in_a_valid_envelope_are_parsed_or_refused_as_malformed(changes):
    document = json.loads(valid_body()) | changes
    try:
        parse(json.dumps(document).encode())
    except MalformedMessage as error:
        error.reason.encode("utf-8")
