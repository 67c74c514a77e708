"""Eligibility: each reason code, with readable messages, at the window's boundary."""

from datetime import date

from services.buyback.domain.eligibility import awaiting_onboarding, check_eligibility
from services.buyback.domain.holdings import HeldUnit
from services.buyback.tests.unit.builders import holding


def codes(reasons):
    return [r.code for r in reasons]


def test_an_enterprise_with_purchased_units_inside_its_window_is_eligible():
    assert check_eligibility("ent-1", holding(), date(2026, 11, 27), None) == []


def test_an_unknown_enterprise_is_the_only_reason_given():
    [reason] = check_eligibility("ent-x", None, date(2026, 11, 27), "other-claim")
    assert reason.code == "unknown_enterprise"
    assert "ent-x" in reason.message


def test_leased_units_only_give_no_purchased_units_naming_them():
    leased = holding(units=(HeldUnit("B01-1F-01", "lease", None, "c-9"),))
    [reason] = check_eligibility("ent-1", leased, date(2026, 11, 27), None)
    assert reason.code == "no_purchased_units"
    assert "B01-1F-01" in reason.message


def test_no_production_start_gives_production_not_started():
    reasons = check_eligibility("ent-1", holding(started_on=None), date(2026, 11, 27), None)
    assert codes(reasons) == ["production_not_started"]


def test_a_production_start_after_the_receipt_date_has_not_started_yet():
    reasons = check_eligibility(
        "ent-1", holding(started_on=date(2026, 12, 1)), date(2026, 11, 27), None
    )
    assert codes(reasons) == ["production_not_started"]


def test_the_day_before_the_tenth_anniversary_is_eligible_and_the_anniversary_is_not():
    started = holding(started_on=date(2016, 11, 27))
    assert check_eligibility("ent-1", started, date(2026, 11, 26), None) == []
    [reason] = check_eligibility("ent-1", started, date(2026, 11, 27), None)
    assert reason.code == "window_expired"
    assert "2026-11-26" in reason.message and "2016-11-27" in reason.message


def test_a_29_february_start_expires_on_28_february():
    started = holding(started_on=date(2016, 2, 29))
    assert check_eligibility("ent-1", started, date(2026, 2, 27), None) == []
    assert codes(check_eligibility("ent-1", started, date(2026, 2, 28), None)) == ["window_expired"]


def test_another_open_claim_gives_claim_open_naming_it():
    [reason] = check_eligibility("ent-1", holding(), date(2026, 11, 27), "claim-7")
    assert reason.code == "claim_open"
    assert "claim-7" in reason.message


def test_every_reason_found_is_given_together():
    leased = holding(started_on=None, units=(HeldUnit("B01-1F-01", "lease", None, "c"),))
    reasons = check_eligibility("ent-1", leased, date(2026, 11, 27), "claim-7")
    assert codes(reasons) == ["no_purchased_units", "production_not_started", "claim_open"]


def answer_waits(held, received_on=date(2026, 11, 27), open_claim=None, claimed_park=None):
    reasons = check_eligibility("ent-1", held, received_on, open_claim, claimed_park=claimed_park)
    return awaiting_onboarding(held, reasons)


def test_what_an_onboarding_event_in_flight_could_lift_is_not_final():
    leased = holding(units=(HeldUnit("B01-1F-01", "lease", None, "c"),))
    assert answer_waits(None)  # enterprise_admitted in flight
    assert answer_waits(leased)  # a purchase's units_allocated in flight
    assert answer_waits(holding(started_on=None))  # production_started in flight
    assert answer_waits(
        holding(started_on=None, units=(HeldUnit("B01-1F-01", "lease", None, "c"),))
    )


def test_an_eligible_claim_and_every_final_reason_are_answered_at_once():
    assert not answer_waits(holding())  # eligible: nothing to wait for
    assert not answer_waits(holding(started_on=date(2026, 12, 1)))  # starts after the claim
    assert not answer_waits(holding(started_on=date(2016, 11, 27)))  # window expired
    assert not answer_waits(holding(), open_claim="claim-7")
    assert not answer_waits(holding(), claimed_park="another-park")  # known elsewhere


def test_one_final_reason_makes_the_whole_answer_final():
    leased = holding(started_on=None, units=(HeldUnit("B01-1F-01", "lease", None, "c"),))
    assert not answer_waits(leased, open_claim="claim-7")
    expired_lease = holding(
        started_on=date(2010, 1, 4), units=(HeldUnit("B01-1F-01", "lease", None, "c"),)
    )
    assert not answer_waits(expired_lease)
