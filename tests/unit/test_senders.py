"""The rule "who may publish on which exchange", without a broker."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from shared.messaging.errors import MalformedMessage
from shared.messaging.senders import (
    INGRESS_SYSTEMS,
    check_sender,
    is_sender_refusal,
    sender_refusal,
)
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
def test_a_service_is_believed_on_an_ingress_exchange_only_as_the_consumer_itself(service):
    # A replay publishes as the consuming service's own user: that is all it needs.
    assert sender_refusal("gov", service, own_user=service) is None
    others = [other for other in SERVICES if other != service]
    for other in others:
        assert sender_refusal("gov", other, own_user=service) == (
            f"sender {other} may not publish on gov.events"
        )


def test_a_service_may_not_pose_as_an_ingress_system_without_a_consumer_identity():
    assert sender_refusal("gov", "buyback") == "sender buyback may not publish on gov.events"


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


def test_a_services_exchange_takes_the_service_the_consumer_itself_or_the_operator():
    assert sender_refusal("onboarding", "onboarding", own_user="ticketing") is None
    assert sender_refusal("onboarding", "ticketing", own_user="ticketing") is None
    assert sender_refusal("onboarding", "park-cli", own_user="ticketing") is None
    # One user playing every service (guest, in the tests) is the consumer itself.
    assert sender_refusal("onboarding", "guest", own_user="guest") is None


@pytest.mark.parametrize("sender", ["buyback", "billing", "gov", "firm-law-01", "guest", None])
def test_anyone_else_may_not_pose_as_a_service(sender):
    assert sender_refusal("onboarding", sender, own_user="ticketing") == (
        f"sender {sender if sender else '(none: no user_id)'} may not publish on onboarding.events"
    )


def test_a_firm_report_is_not_believed_from_the_consumer_itself():
    assert sender_refusal("firms", "ticketing", own_user="ticketing") is not None


def test_sources_that_are_neither_ingress_nor_services_have_no_rule():
    assert sender_refusal("probe", None, own_user="guest") is None
    assert sender_refusal("alpha", "firm-law-01", own_user="beta") is None


def test_check_sender_raises_a_malformed_message_naming_the_sender():
    with pytest.raises(MalformedMessage, match=r"sender gov may not publish on portal\.events"):
        check_sender("portal", "gov")
    check_sender("portal", "portal")
    with pytest.raises(MalformedMessage, match=r"sender buyback .* onboarding\.events"):
        check_sender("onboarding", "buyback", own_user="ticketing")


def test_check_sender_logs_the_operators_manual_correction_on_a_services_exchange():
    with capture_logs() as logs:
        check_sender("onboarding", "park-cli", own_user="ticketing")
        check_sender("onboarding", "onboarding", own_user="ticketing")
    assert [entry["event"] for entry in logs] == [
        "event published by the operator (park-cli) accepted as a manual correction"
    ]
    assert logs[0]["source"] == "onboarding"


def test_every_refusal_is_recognised_as_one_and_nothing_else_is():
    assert is_sender_refusal(sender_refusal("onboarding", "buyback"))
    assert is_sender_refusal(sender_refusal("firms", "a\nb"))
    assert not is_sender_refusal("failed 3 times; last error: ValueError: boom")
    assert not is_sender_refusal(None)


USERS = st.none() | st.text() | st.sampled_from([*INGRESS_SYSTEMS, *SERVICES, "park-cli", "guest"])


@given(
    source=st.sampled_from([*INGRESS_SYSTEMS, *SERVICES, "firms"]),
    sender=USERS,
    own_user=st.none() | st.sampled_from([*SERVICES, "guest"]),
)
def test_whatever_the_sender_the_rule_answers_with_a_short_printable_reason_or_none(
    source, sender, own_user
):
    refusal = sender_refusal(source, sender, own_user=own_user)
    if source != "firms":
        allowed = sender is not None and sender in (source, "park-cli", own_user)
        assert (refusal is None) == allowed
    if refusal is not None:
        assert refusal.isprintable() and len(refusal) < 200
        assert refusal.endswith(f"may not publish on {source}.events")
        assert is_sender_refusal(refusal)
