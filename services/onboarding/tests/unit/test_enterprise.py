from datetime import date, timedelta

import pytest

from services.onboarding.domain.errors import (
    InvalidDate,
    LeaseNotHeld,
    ProductionAlreadyStarted,
    UnknownServiceOfficer,
)
from services.onboarding.domain.events import (
    ChiefServiceOfficerReassigned,
    ProductionStarted,
    ServiceVisitLogged,
    UnitsReleased,
)
from services.onboarding.domain.park import ChiefServiceOfficer
from services.onboarding.domain.units import Tenure, UnitStatus
from services.onboarding.tests.unit.builders import NOW, approve_all, make_park, receive, units_of

TODAY = date(2026, 11, 27)  # NOW in park time
LATER = NOW + timedelta(days=30)
ROSTER = (ChiefServiceOfficer("cso-01", "张伟"), ChiefServiceOfficer("cso-02", "李娜"))


def _admitted(tenure=Tenure.LEASE):
    park = make_park()
    units = units_of(park)
    application = receive(park, units, tenure=tenure)
    return approve_all(application, park, units), units


def test_production_start_is_recorded_with_its_date():
    enterprise, _ = _admitted()
    enterprise.record_production_start(TODAY + timedelta(days=20), LATER)
    started = enterprise.events[-1]
    assert isinstance(started, ProductionStarted)
    assert started.started_on == date(2026, 12, 17)
    assert started.application_id == enterprise.application_id


def test_recording_the_same_production_start_again_has_no_effect():
    enterprise, _ = _admitted()
    enterprise.record_production_start(TODAY, LATER)
    enterprise.record_production_start(TODAY, LATER)
    assert len(enterprise.events) == 1


def test_a_second_different_production_start_is_refused():
    enterprise, _ = _admitted()
    enterprise.record_production_start(TODAY, LATER)
    with pytest.raises(ProductionAlreadyStarted):
        enterprise.record_production_start(TODAY + timedelta(days=1), LATER)


def test_a_production_start_in_the_future_is_refused():
    enterprise, _ = _admitted()
    with pytest.raises(InvalidDate, match="in the future"):
        enterprise.record_production_start(TODAY + timedelta(days=1), NOW)


def test_a_production_start_before_admission_is_refused():
    enterprise, _ = _admitted()
    with pytest.raises(InvalidDate, match="before admission"):
        enterprise.record_production_start(TODAY - timedelta(days=1), LATER)


def test_ending_a_lease_releases_the_units_and_lists_them():
    enterprise, units = _admitted(Tenure.LEASE)
    released = enterprise.end_lease([units["B01-1F-01"], units["B01-1F-02"]], LATER)
    assert released == ("B01-1F-01", "B01-1F-02")
    assert units["B01-1F-01"].status is UnitStatus.AVAILABLE
    event = enterprise.events[-1]
    assert isinstance(event, UnitsReleased)
    assert (event.reason, event.enterprise_id) == ("lease_ended", enterprise.enterprise_id)


def test_a_lease_cannot_be_ended_on_purchased_units():
    enterprise, units = _admitted(Tenure.PURCHASE)
    with pytest.raises(LeaseNotHeld, match="does not lease B01-1F-01"):
        enterprise.end_lease([units["B01-1F-01"]], LATER)


def test_a_lease_end_including_a_unit_of_someone_else_changes_nothing():
    enterprise, units = _admitted(Tenure.LEASE)
    with pytest.raises(LeaseNotHeld, match="S01"):
        enterprise.end_lease([units["B01-1F-01"], units["S01"]], LATER)
    assert units["B01-1F-01"].status is UnitStatus.LEASED


def test_a_lease_end_needs_at_least_one_unit():
    enterprise, _ = _admitted()
    with pytest.raises(LeaseNotHeld):
        enterprise.end_lease([], LATER)


def test_the_chief_service_officer_can_be_reassigned_within_the_roster():
    enterprise, _ = _admitted()
    enterprise.reassign_chief_service_officer("cso-02", ROSTER, LATER)
    event = enterprise.events[-1]
    assert isinstance(event, ChiefServiceOfficerReassigned)
    assert (event.previous, event.chief_service_officer) == ("cso-01", "cso-02")
    assert enterprise.chief_service_officer == "cso-02"


def test_reassigning_to_the_current_officer_has_no_effect():
    enterprise, _ = _admitted()
    enterprise.reassign_chief_service_officer("cso-01", ROSTER, LATER)
    assert enterprise.events == []


def test_an_officer_off_the_roster_cannot_be_assigned():
    enterprise, _ = _admitted()
    with pytest.raises(UnknownServiceOfficer):
        enterprise.reassign_chief_service_officer("cso-99", ROSTER, LATER)


def test_a_service_visit_is_logged():
    enterprise, _ = _admitted()
    enterprise.log_service_visit("visit-1", "cso-01", TODAY, "了解设备安装进度", LATER)
    assert isinstance(enterprise.events[-1], ServiceVisitLogged)
    assert [v.visit_id for v in enterprise.visits] == ["visit-1"]


def test_a_service_visit_logged_twice_is_kept_once():
    enterprise, _ = _admitted()
    enterprise.log_service_visit("visit-1", "cso-01", TODAY, "", LATER)
    enterprise.log_service_visit("visit-1", "cso-01", TODAY, "", LATER)
    assert len(enterprise.visits) == len(enterprise.events) == 1


def test_a_service_visit_in_the_future_is_refused():
    enterprise, _ = _admitted()
    with pytest.raises(InvalidDate):
        enterprise.log_service_visit("visit-1", "cso-01", TODAY + timedelta(days=60), "", LATER)
