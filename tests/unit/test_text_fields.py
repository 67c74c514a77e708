"""Invalid text (NUL characters, lone surrogates) is malformed input: the contract refuses
it at parse time, wherever it sits, instead of letting it fail later as "transient"."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contract import build, encode, parse, validate_outgoing
from shared.contract.fields import TEXT_MAX_LENGTH, text_problem
from shared.messaging.errors import ContractViolation, MalformedMessage

NOW = datetime(2026, 11, 27, 5, 40, tzinfo=UTC)
BAD_TEXT = {"a NUL character": "Acme\x00 Ltd", "a lone surrogate": "Acme \ud800 Ltd"}


def payment_envelope() -> dict:
    payload = {
        "bank_txn_id": "T-1",
        "payer_uscc": "91410100MA44XXXX1X",
        "amount_fen": 1250,
        "received_at": NOW,
        "reference": "INV-2026-0001",
    }
    return json.loads(encode(build("bank", "payment_received", payload, occurred_at=NOW)))


def wire(document: dict) -> bytes:
    """JSON as a sender may write it: escapes such as \\u0000 and \\ud800 are legal JSON."""
    return json.dumps(document).encode()


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_a_payload_string_field_with_invalid_text_is_malformed(text):
    document = payment_envelope()
    document["payload"]["reference"] = text  # a plain fields.String in the schema

    with pytest.raises(MalformedMessage, match=r"payload\.reference: Must"):
        parse(wire(document))


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_an_envelope_text_field_with_invalid_text_is_malformed(text):
    document = payment_envelope()
    document["park_id"] = text

    with pytest.raises(MalformedMessage, match=r"park_id: Must"):
        parse(wire(document))


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_invalid_text_in_an_unknown_payload_field_is_malformed_too(text):
    document = payment_envelope()
    document["payload"]["remark"] = {"lines": ["fine", text]}

    with pytest.raises(MalformedMessage, match=r"payload\.remark\.lines\.1: Must"):
        parse(wire(document))


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_invalid_text_in_a_mapping_key_is_malformed(text):
    document = payment_envelope()
    document["payload"]["extra"] = {text: 1}

    with pytest.raises(MalformedMessage, match=r"payload\.extra\..*Key: Must"):
        parse(wire(document))


def test_the_reason_for_invalid_text_is_itself_valid_text():
    document = payment_envelope()
    document["payload"]["extra"] = {"\ud800\x00": 1}

    with pytest.raises(MalformedMessage) as caught:
        parse(wire(document))

    assert text_problem(caught.value.reason) is None
    caught.value.reason.encode("utf-8")  # publishable as a header


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_publishing_invalid_text_is_a_contract_violation(text):
    payload = {
        "bank_txn_id": "T-1",
        "payer_uscc": "91410100MA44XXXX1X",
        "amount_fen": 1250,
        "received_at": NOW,
        "reference": text,
    }
    with pytest.raises(ContractViolation, match="reference"):
        validate_outgoing("bank", "payment_received", payload)


def test_a_text_field_longer_than_its_bound_is_malformed():
    document = payment_envelope()
    document["park_id"] = "p" * (TEXT_MAX_LENGTH + 1)

    with pytest.raises(MalformedMessage, match=r"park_id: Longer than"):
        parse(wire(document))


def test_ordinary_chinese_text_and_emoji_are_valid():
    document = payment_envelope()
    document["park_id"] = "上街产业园 🏭"

    assert parse(wire(document)).park_id == "上街产业园 🏭"


@settings(max_examples=300, deadline=None, database=None)
@given(st.text())
def test_any_string_is_either_valid_text_or_refused_with_a_reason(text):
    document = payment_envelope()
    document["payload"]["reference"] = text
    try:
        event = parse(wire(document))
    except MalformedMessage as error:
        assert "\x00" in text or any("\ud800" <= c <= "\udfff" for c in text)
        error.reason.encode("utf-8")
    else:
        event.payload["reference"].encode("utf-8")  # storable and publishable
