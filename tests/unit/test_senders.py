"""The rule "who may publish on which exchange", without a broker."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.messaging.errors import MalformedMessage
from shared.messaging.senders import INGRESS_SYSTEMS, check_sender, sender_refusal
from shared.messaging.topology import SERVICES


@pytest.mark.parametrize("system", INGRESS_SYSTEMS)
def test_an_ingress_system_may_publish_its_own_events(system):
    assert sender_refusal(system, system) is None


def test_another_ingress_system_may_not_pose_as_the_portal():
    assert sender_refusal("portal", "gov") == "sender gov may not publish on portal.events"


@pytest.mark.parametrize("sender", ["guest", "firm-law-01", "park", "Portal", "portal ", ""])
def test_anyone_else_is_refused_on_an_ingress_exchange(sender):
    assert "may not publish on portal.events" in sender_refusal("portal", sender)


def test_an_event_without_a_verified_sender_is_refused_on_an_ingress_exchange():
    assert sender_refusal("bank", None) == (
        "sender (none: no user_id) may not publish on bank.events"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_a_project_service_is_believed_as_a_replay(service):
    assert sender_refusal("gov", service) is None


def test_the_operator_cli_is_believed_as_a_manual_correction():
    assert sender_refusal("meters", "park-cli") is None


def test_a_firm_report_must_come_from_a_firm_user():
    assert sender_refusal("firms", "firm-law-01") is None
    assert sender_refusal("firms", "portal") == "sender portal may not publish on firms.events"
    assert sender_refusal("firms", "park-cli") is not None
    assert sender_refusal("firms", None) is not None
    assert sender_refusal("firms", "firm-") is not None
    assert sender_refusal("firms", "firm-law-") is not None
    assert sender_refusal("firms", "firm-" + "a" * 41) is not None


def test_the_services_own_exchanges_have_no_sender_rule():
    assert sender_refusal("buyback", None) is None
    assert sender_refusal("onboarding", "guest") is None


def test_check_sender_raises_a_malformed_message_naming_the_sender():
    with pytest.raises(MalformedMessage, match=r"sender gov may not publish on portal\.events"):
        check_sender("portal", "gov")
    check_sender("portal", "portal")


@given(source=st.sampled_from([*INGRESS_SYSTEMS, "firms"]), sender=st.none() | st.text())
def test_whatever_the_sender_the_rule_answers_with_a_short_printable_reason_or_none(source, sender):
    refusal = sender_refusal(source, sender)
    allowed = sender in (source, "park-cli", *SERVICES) if source != "firms" else None
    if source != "firms":
        assert (refusal is None) == allowed
    if refusal is not None:
        assert refusal.isprintable() and len(refusal) < 200
        assert refusal.endswith(f"may not publish on {source}.events")
