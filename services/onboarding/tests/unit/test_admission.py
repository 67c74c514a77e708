import pytest

from services.onboarding.domain.enterprises import assign_chief_service_officer
from services.onboarding.domain.errors import NoServiceOfficers
from services.onboarding.domain.events import EnterpriseAdmitted, UnitsAllocated
from services.onboarding.domain.park import ChiefServiceOfficer
from services.onboarding.domain.units import Tenure, UnitStatus
from services.onboarding.tests.unit.builders import (
    NOW,
    CountingIds,
    approve_all,
    make_park,
    receive,
    units_of,
)

ROSTER = (
    ChiefServiceOfficer("cso-03", "王敏"),
    ChiefServiceOfficer("cso-01", "张伟"),
    ChiefServiceOfficer("cso-02", "李娜"),
)


def test_the_officer_with_fewest_active_enterprises_is_assigned():
    officer = assign_chief_service_officer(ROSTER, {"cso-01": 5, "cso-02": 2, "cso-03": 4})
    assert officer.id == "cso-02"


def test_a_tie_goes_to_the_lowest_officer_id():
    officer = assign_chief_service_officer(ROSTER, {"cso-01": 3, "cso-02": 3, "cso-03": 3})
    assert officer.id == "cso-01"


def test_an_officer_missing_from_the_counts_serves_no_one_yet():
    officer = assign_chief_service_officer(ROSTER, {"cso-01": 1, "cso-02": 1})
    assert officer.id == "cso-03"


def test_an_empty_roster_cannot_assign_an_officer():
    with pytest.raises(NoServiceOfficers):
        assign_chief_service_officer((), {})


def _admit(tenure=Tenure.PURCHASE, industry_code="C3464", **context):
    park = make_park()
    units = units_of(park)
    application = receive(park, units, tenure=tenure, industry_code=industry_code)
    enterprise = approve_all(application, park, units, **context)
    admitted = next(e for e in application.events if isinstance(e, EnterpriseAdmitted))
    allocated = next(e for e in application.events if isinstance(e, UnitsAllocated))
    return application, enterprise, admitted, allocated, units


def test_admission_takes_the_enterprise_and_contract_ids_from_the_factory():
    ids = CountingIds()
    _, enterprise, admitted, allocated, _ = _admit(ids=ids)
    assert enterprise.enterprise_id == admitted.enterprise_id == "id-1"
    assert allocated.contract_id == "id-2"


def test_admission_carries_the_supply_chain_flag_and_the_enterprise_identity():
    _, enterprise, admitted, _, _ = _admit()
    assert admitted.supply_chain_partner is True
    assert (admitted.uscc, admitted.industry_code) == (enterprise.uscc, "C3464")


def test_admission_assigns_the_least_loaded_officer():
    _, enterprise, admitted, _, _ = _admit(load={"cso-01": 7, "cso-02": 6})
    assert enterprise.chief_service_officer == admitted.chief_service_officer == "cso-02"


def test_an_industry_under_a_review_prefix_requires_an_environmental_review():
    _, enterprise, admitted, _, _ = _admit(industry_code="C2614")
    assert admitted.environmental_review_required
    assert enterprise.environmental_review_required


def test_an_industry_outside_the_review_prefixes_needs_no_environmental_review():
    _, _, admitted, _, _ = _admit(industry_code="C3464")
    assert not admitted.environmental_review_required


def test_a_purchase_sells_the_units_at_area_times_price_in_fen():
    _, _, _, allocated, units = _admit(Tenure.PURCHASE)
    assert [(u.unit_id, u.area_m2, u.price_fen, u.monthly_rent_fen) for u in allocated.units] == [
        ("B01-1F-01", 300, 96_000_000, None),
        ("B01-1F-02", 300, 96_000_000, None),
    ]
    assert units["B01-1F-01"].status is UnitStatus.SOLD


def test_a_lease_lets_the_units_at_area_times_monthly_rent_in_fen():
    _, _, _, allocated, units = _admit(Tenure.LEASE)
    assert [
        (u.price_fen, u.monthly_rent_fen, u.monthly_property_fee_fen) for u in allocated.units
    ] == [
        (None, 450_000, 45_000),
        (None, 450_000, 45_000),
    ]
    assert units["B01-1F-02"].status is UnitStatus.LEASED


def test_every_allocated_unit_carries_the_contract_and_the_holder():
    _, enterprise, _, allocated, units = _admit()
    assert {u.contract_id for u in allocated.units} == {allocated.contract_id}
    assert units["B01-1F-01"].holder == enterprise.enterprise_id


def test_the_enterprise_is_admitted_at_the_time_of_the_last_approval():
    _, enterprise, admitted, _, _ = _admit()
    assert enterprise.admitted_at == admitted.occurred_at == NOW


def test_a_tenure_given_as_plain_text_is_read_as_that_tenure():
    _, _, _, allocated, units = _admit("lease")
    assert allocated.units[0].monthly_rent_fen == 450_000
    assert units["B01-1F-01"].status is UnitStatus.LEASED


def test_a_month_later_keeps_the_day_or_takes_the_month_s_last():
    from datetime import date

    from services.onboarding.domain.admission import add_months

    assert add_months(date(2026, 11, 27), 12) == date(2027, 11, 27)
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2027, 12, 31), 2) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 30), 60) == date(2031, 11, 30)


def test_admission_carries_the_legal_representative_and_contact_for_ticketing():
    application, _, admitted, _, _ = _admit()
    details = application.submission.enterprise
    assert admitted.legal_representative == details.legal_representative
    assert admitted.contact_phone == details.contact_phone
