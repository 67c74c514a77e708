"""The use cases on the real repositories (PostgreSQL and SQLite), without a broker."""

import json
import uuid
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from services.onboarding import handlers
from services.onboarding.domain.park_definition import load_park_definitions
from services.onboarding.orm import messaging
from services.onboarding.tests.service.conftest import (
    DEMO_PARK,
    DEPARTMENTS,
    PARKS,
    ROOT,
    FakeClock,
    application,
)
from services.onboarding.tests.unit.builders import NOW, calendar_days_deadline
from services.onboarding.unit_of_work import OnboardingUnitOfWork
from shared.db import Database
from shared.tooling.migrate import upgrade


class Calendar:
    add_business_days = staticmethod(calendar_days_deadline)


class Store:
    """The onboarding database of one test, with the shipped parks loaded."""

    def __init__(self, url: str):
        self.database = Database(url)
        self.clock = FakeClock(NOW)

    def uow(self) -> OnboardingUnitOfWork:
        return OnboardingUnitOfWork(
            self.database, messaging, source="onboarding", clock=lambda: self.clock()
        )

    def admit(self, **fields) -> str:
        payload = application(**fields)
        handlers.receive_application(payload, DEMO_PARK, self.uow(), Calendar())
        for department in DEPARTMENTS:
            handlers.decide_review(
                {
                    "application_id": payload["application_id"],
                    "department": department,
                    "decision": "approve",
                    "reason": "",
                },
                self.uow(),
            )
        with self.uow() as uow:
            return uow.applications.get(payload["application_id"]).enterprise_id

    def outbox_payloads(self, event_type: str) -> list[dict]:
        """The payloads of the ``event_type`` events staged in the outbox, in order."""
        outbox = messaging.outbox
        with self.database.engine.connect() as connection:
            bodies = connection.execute(
                select(outbox.c.body).where(outbox.c.event_type == event_type).order_by(outbox.c.id)
            ).scalars()
            return [json.loads(body)["payload"] for body in bodies]

    def officer_load(self) -> dict[str, int]:
        with self.uow() as uow:
            return uow.enterprises.active_per_officer(DEMO_PARK)


@pytest.fixture
def store(backend, make_database_url):
    url = make_database_url("onboarding", backend)
    upgrade(url, ROOT / "services" / "onboarding" / "migrations")
    world = Store(url)
    handlers.load_parks(
        [
            (park, Path(park.source).read_text("utf-8"))
            for park in load_park_definitions(PARKS).values()
        ],
        world.uow(),
    )
    yield world
    world.database.dispose()


@pytest.mark.parametrize("action", ["production start", "reassignment", "visit"])
def test_saving_an_enterprise_whose_lease_ended_keeps_it_off_the_active_count(store, action):
    enterprise_id = store.admit(units=("B01-1F-01",), tenure="lease")
    officer = store.officer_load()
    assert sum(officer.values()) == 1
    handlers.end_lease(enterprise_id, ["B01-1F-01"], store.uow())
    assert store.officer_load() == {}

    if action == "production start":
        handlers.record_production_start(enterprise_id, date(2026, 11, 27), store.uow())
    elif action == "reassignment":
        (current,) = officer
        with store.uow() as uow:
            roster = uow.parks.get(DEMO_PARK).policy.chief_service_officers
        other = next(o.id for o in roster if o.id != current)
        handlers.reassign_chief_service_officer(enterprise_id, other, store.uow())
    else:
        (current,) = officer
        handlers.log_service_visit(
            enterprise_id, current, date(2026, 11, 27), "走访", str(uuid.uuid4()), store.uow()
        )
    assert store.officer_load() == {}


def test_a_unit_bought_back_is_refused_to_another_claim_but_not_to_its_own(store):
    enterprise_id = store.admit(units=("S01", "S02"))
    claim = {"claim_id": str(uuid.uuid4()), "enterprise_id": enterprise_id, "units": ["S01"]}
    handlers.settle_buyback(claim, store.uow())
    handlers.settle_buyback(claim, store.uow())  # the same claim again: no effect

    other = {"claim_id": str(uuid.uuid4()), "enterprise_id": enterprise_id, "units": ["S01", "S02"]}
    handlers.settle_buyback(other, store.uow())  # refused: release_refused, in the outbox
    with store.uow() as uow:
        assert [u.unit_id for u in uow.units.held_by(enterprise_id)] == ["S02"]
    [refused] = store.outbox_payloads("release_refused")
    assert refused["claim_id"] == other["claim_id"]
    assert "S01 (available now" in refused["reasons"][0]["message"]


# -- the longest valid values fit the columns (PostgreSQL enforces widths, SQLite does not) --


def test_an_enterprise_with_a_very_long_name_is_admitted(store):
    name = "郑州" + "精" * 2000 + "有限公司"  # the contract bounds no name
    payload = application(units=("S03",))
    payload["enterprise"]["name"] = name
    handlers.receive_application(payload, DEMO_PARK, store.uow(), Calendar())
    for department in DEPARTMENTS:
        handlers.decide_review(
            {
                "application_id": payload["application_id"],
                "department": department,
                "decision": "approve",
                "reason": "",
            },
            store.uow(),
        )
    with store.uow() as uow:
        enterprise_id = uow.applications.get(payload["application_id"]).enterprise_id
        assert uow.enterprises.get(enterprise_id).name == name


def test_an_application_to_a_very_long_unknown_park_id_is_rejected_and_kept(store):
    park_id = "p" * 1000  # the envelope bounds no park id
    payload = application()
    handlers.receive_application(payload, park_id, store.uow(), Calendar())
    with store.uow() as uow:
        rejected = uow.applications.get(payload["application_id"])
    assert rejected.park_id == park_id
    assert rejected.rejection_reasons[0].code == "park_not_found"


def test_a_visit_id_of_the_longest_valid_length_is_stored(store):
    from services.onboarding import schemas

    enterprise_id = store.admit(units=("S04",))
    (officer,) = store.officer_load()
    args = schemas.load(
        schemas.ServiceVisit,
        enterprise_id=enterprise_id,
        officer_id=officer,
        visited_on="2026-11-27",
        note="走访",
        visit_id="v" * schemas.VISIT_ID_MAX,
    )
    assert handlers.log_service_visit(**args, uow=store.uow()) == "v" * schemas.VISIT_ID_MAX


def test_the_migrations_build_the_tables_the_code_maps(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from services.onboarding.orm import metadata

    with store.database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_a_second_application_of_the_same_uscc_joins_the_enterprise_on_the_database(store):
    first = store.admit(units=("S05",), seed=42)
    pending = application(units=("S06",), seed=42)
    handlers.receive_application(pending, DEMO_PARK, store.uow(), Calendar())
    meanwhile = application(units=("S07",), seed=42)
    handlers.receive_application(meanwhile, DEMO_PARK, store.uow(), Calendar())
    with store.uow() as uow:
        refused = uow.applications.get(meanwhile["application_id"])
        assert [r.code for r in refused.rejection_reasons] == ["application_pending"]

    for department in DEPARTMENTS:
        handlers.decide_review(
            {
                "application_id": pending["application_id"],
                "department": department,
                "decision": "approve",
                "reason": "",
            },
            store.uow(),
        )
    with store.uow() as uow:
        assert uow.applications.get(pending["application_id"]).enterprise_id == first
        assert uow.enterprises.get(first).unit_ids == ("S05", "S06")


def test_a_lease_ends_on_its_own_at_its_end_date_on_the_database(store):

    payload = application(units=("S08",), tenure="lease", seed=43)
    payload["lease_term_months"] = 12
    handlers.receive_application(payload, DEMO_PARK, store.uow(), Calendar())
    for department in DEPARTMENTS:
        handlers.decide_review(
            {
                "application_id": payload["application_id"],
                "department": department,
                "decision": "approve",
                "reason": "",
            },
            store.uow(),
        )
    with store.uow() as uow:
        assert uow.units.get_many(DEMO_PARK, ["S08"])["S08"].lease_ends_on == date(2027, 11, 27)

    store.clock.advance(days=364)
    assert handlers.process_deadlines(store.uow()).changed == 0
    store.clock.advance(days=1)
    assert handlers.process_deadlines(store.uow()).changed == 1
    with store.uow() as uow:
        unit = uow.units.get_many(DEMO_PARK, ["S08"])["S08"]
        assert (str(unit.status), unit.lease_ends_on, unit.holder) == ("available", None, None)
    assert store.officer_load() == {}


def test_operators_list_overdue_applications_and_officer_workloads_on_the_database(store):
    late = application(units=("S01",), seed=50)
    handlers.receive_application(late, DEMO_PARK, store.uow(), Calendar())
    unknown_park = application(seed=51)
    handlers.receive_application(unknown_park, "elsewhere", store.uow(), Calendar())
    enterprise_id = store.admit(units=("S02",), seed=52, tenure="lease")
    handlers.end_lease(enterprise_id, ["S02"], store.uow())
    store.admit(units=("S03",), seed=53)

    listed = handlers.list_applications(None, None, False, store.uow())
    assert {a["application_id"]: a["status"] for a in listed}[late["application_id"]] == (
        "under_review"
    )
    assert [
        a["application_id"]
        for a in handlers.list_applications(None, "elsewhere", False, store.uow())
    ] == [unknown_park["application_id"]]
    assert handlers.list_applications(None, None, True, store.uow()) == []

    store.clock.advance(days=20)
    [overdue] = handlers.list_applications("under_review", DEMO_PARK, True, store.uow())
    assert overdue["application_id"] == late["application_id"]

    officers = handlers.officer_workload(DEMO_PARK, store.uow())["officers"]
    assert sum(o["total"] for o in officers) == 2
    assert sum(o["active"] for o in officers) == 1
