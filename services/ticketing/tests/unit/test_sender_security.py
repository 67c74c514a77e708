"""A report refused by the shared sender check (``shared.messaging.senders``) before
ticketing's handler runs is logged as a ``security_event`` of the handler's shape:
``missing_sender`` is what that check refuses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from shared.messaging.errors import MalformedMessage
from shared.messaging.senders import FIRM_USER, check_sender


@pytest.mark.parametrize("sender", [None, "guest", "ticketing", "portal", "firm-", "FIRM-a"])
def test_a_refused_sender_on_firms_events_is_a_security_event(sender):
    with capture_logs() as logs, pytest.raises(MalformedMessage, match=r"firms\.events"):
        check_sender("firms", sender, own_user="ticketing")
    [security] = [entry for entry in logs if entry["event"] == "security_event"]
    assert security["log_level"] == "warning" and security["security_event"] is True
    assert security["code"] == "missing_sender"
    assert security["sender"] == sender and security["source"] == "firms"
    assert "may not publish on firms.events" in security["message"]


def test_a_firms_user_is_accepted_without_a_security_event():
    with capture_logs() as logs:
        check_sender("firms", "firm-law-01", own_user="ticketing")
    assert [entry for entry in logs if entry["event"] == "security_event"] == []


@settings(max_examples=200, deadline=None, database=None)
@given(sender=st.none() | st.text(max_size=60))
def test_any_sender_is_accepted_or_logged_as_a_security_event(sender):
    with capture_logs() as logs:
        try:
            check_sender("firms", sender, own_user="ticketing")
            refused = False
        except MalformedMessage:
            refused = True
    events = [entry for entry in logs if entry["event"] == "security_event"]
    assert refused == (sender is None or FIRM_USER.fullmatch(sender) is None)
    assert len(events) == (1 if refused else 0)
