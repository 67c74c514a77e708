"""The longest values a park file may hold load into onboarding's tables on PostgreSQL
(which, unlike SQLite, refuses a value wider than its column), and the validator's
bounds are the columns' widths."""

import uuid
from datetime import date

import pytest

from services.onboarding import handlers, orm
from services.onboarding.domain.park_definition import (
    ID_MAX_LENGTH,
    NAME_MAX_LENGTH,
    parse_park_definition,
)
from services.onboarding.orm import messaging
from services.onboarding.tests.service.conftest import ROOT, FakeClock, application
from services.onboarding.tests.unit.builders import NOW, calendar_days_deadline
from services.onboarding.unit_of_work import OnboardingUnitOfWork
from shared.db import Database
from shared.tooling.migrate import upgrade

PARK_ID = "p" + "-0" * 31 + "9"  # 64 characters, park-id form
DEPARTMENT = "d" * ID_MAX_LENGTH
OFFICER = "c" * ID_MAX_LENGTH
DOCUMENT = "证" * NAME_MAX_LENGTH
# Building B99 reaches floor 99, room 99: the longest unit id the form allows.
ROOMS_BY_FLOOR = [[100]] * 98 + [[100] * 99]

LONGEST = f"""\
park:
  id: {PARK_ID}
  name: {"园" * NAME_MAX_LENGTH}
  district: {"区" * NAME_MAX_LENGTH}
prices_fen_per_m2:
  purchase: 320000
  monthly_rent: 1500
  monthly_property_fee: 150
buildings:
  - id: B01
    floors: 1
    rooms_per_floor: 2
    room_area_m2: 300
  - id: B99
    rooms_by_floor: {ROOMS_BY_FLOOR}
custom_units:
  - id: S99
    area_m2: 1000
onboarding:
  industries: {{allow: [C]}}
  required_documents: [{DOCUMENT}]
  deficiency_deadline_business_days: 10
  departments: [{{id: {DEPARTMENT}, name: {"监" * NAME_MAX_LENGTH}}}]
  chief_service_officers: [{{id: {OFFICER}, name: {"伟" * NAME_MAX_LENGTH}}}]
"""


class Calendar:
    add_business_days = staticmethod(calendar_days_deadline)


def test_the_validators_bounds_are_the_widths_of_the_columns():
    assert len(PARK_ID) == ID_MAX_LENGTH
    for column in (
        orm.parks.c.park_id,
        orm.units.c.park_id,
        orm.enterprises.c.park_id,
        orm.enterprises.c.chief_service_officer,
        orm.service_visits.c.officer_id,
    ):
        assert column.type.length == ID_MAX_LENGTH, column
    assert orm.parks.c.name.type.length == NAME_MAX_LENGTH
    park = parse_park_definition(LONGEST)
    assert max(len(unit.unit_id) for unit in park.units) <= orm.units.c.unit_id.type.length
    assert max(len(unit.building) for unit in park.units) <= orm.units.c.building.type.length


@pytest.fixture
def uow_factory(make_database_url):
    url = make_database_url("onboarding", "postgresql")
    upgrade(url, ROOT / "services" / "onboarding" / "migrations")
    database = Database(url)
    clock = FakeClock(NOW)
    yield lambda: OnboardingUnitOfWork(database, messaging, source="onboarding", clock=clock)
    database.dispose()


def test_the_longest_valid_values_load_and_admit_on_postgresql(uow_factory):
    park = parse_park_definition(LONGEST, "longest.yaml")

    handlers.load_parks([(park, LONGEST)], uow_factory())
    payload = application(["B99-99F-99"], documents=[DOCUMENT])
    handlers.receive_application(payload, PARK_ID, uow_factory(), Calendar())
    decision = {"department": DEPARTMENT, "decision": "approve", "reason": ""}
    handlers.decide_review({"application_id": payload["application_id"], **decision}, uow_factory())
    with uow_factory() as uow:
        enterprise_id = uow.applications.get(payload["application_id"]).enterprise_id
    assert enterprise_id, "the application was not admitted"
    handlers.log_service_visit(
        enterprise_id, OFFICER, date(2026, 11, 27), "首次走访", str(uuid.uuid4()), uow_factory()
    )

    with uow_factory() as uow:
        stored = uow.parks.get(PARK_ID)
        enterprise = uow.enterprises.get(enterprise_id)
    assert (stored.id, stored.name) == (PARK_ID, "园" * NAME_MAX_LENGTH)
    assert enterprise.chief_service_officer == OFFICER
