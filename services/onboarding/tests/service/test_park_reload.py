"""Reloading park files (``park parks load`` after an edit) against a real database."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.onboarding import handlers
from services.onboarding.domain.errors import ParkReloadRefused
from services.onboarding.domain.park_definition import load_park_definition
from services.onboarding.domain.units import Tenure
from services.onboarding.orm import messaging
from services.onboarding.tests.service.conftest import PARKS, FakeClock, application
from services.onboarding.unit_of_work import OnboardingUnitOfWork
from shared.db import Database
from shared.tooling.migrate import upgrade

ROOT = Path(__file__).resolve().parents[4]
DEMO = (PARKS / "aux-shangjie.yaml").read_text("utf-8")


class Inventory:
    """onboarding's database with the demo park loaded; reloads edited copies of its file."""

    def __init__(self, url: str, directory: Path, clock: FakeClock):
        self.database = Database(url)
        self.directory = directory
        self.clock = clock
        self.reload(DEMO)

    def uow(self) -> OnboardingUnitOfWork:
        return OnboardingUnitOfWork(self.database, messaging, source="onboarding", clock=self.clock)

    def reload(self, text: str):
        path = self.directory / "aux-shangjie.yaml"
        path.write_text(text, "utf-8")
        park = load_park_definition(path)
        return handlers.load_parks([(park, text)], self.uow())["aux-shangjie"]

    def units(self, *unit_ids: str):
        with self.uow() as uow:
            return uow.units.get_many("aux-shangjie", unit_ids)

    def hold(self, unit_id: str, status: str) -> None:
        """Put a unit in ``status`` (reserved, sold, leased) as the flows would."""
        with self.uow() as uow:
            [unit] = uow.units.get_many("aux-shangjie", [unit_id], lock=True).values()
            unit.reserve("application-1")
            if status != "reserved":
                tenure = Tenure.PURCHASE if status == "sold" else Tenure.LEASE
                unit.allocate("application-1", tenure, "enterprise-1", "contract-1")
            uow.units.save([unit])
            uow.commit()

    def close(self):
        self.database.dispose()


@pytest.fixture
def inventory(make_database_url, tmp_path):
    url = make_database_url("onboarding")
    upgrade(url, ROOT / "services" / "onboarding" / "migrations")
    clock = FakeClock(datetime(2026, 11, 27, 2, 0, tzinfo=UTC))
    world = Inventory(url, tmp_path, clock)
    yield world
    world.close()


NEW_PRICES = DEMO.replace("purchase: 320000", "purchase: 350000").replace(
    "monthly_rent: 1500", "monthly_rent: 1600"
)
BIGGER_S01 = DEMO.replace(
    "  - ids: S01..S08\n    area_m2: 1000\n",
    "  - id: S01\n    area_m2: 1200\n  - ids: S02..S08\n    area_m2: 1000\n",
)
WITHOUT_S08 = DEMO.replace("ids: S01..S08", "ids: S01..S07")
WITH_S09 = DEMO.replace("ids: S01..S08", "ids: S01..S09")


def test_a_reload_applies_new_prices_to_available_units(inventory):
    inventory.reload(NEW_PRICES)

    unit = inventory.units("B01-1F-01")["B01-1F-01"]
    assert (unit.purchase_price_per_m2_fen, unit.monthly_rent_per_m2_fen) == (350_000, 1_600)


def test_a_reload_applies_a_new_area_to_an_available_unit(inventory):
    inventory.reload(BIGGER_S01)

    assert inventory.units("S01")["S01"].area_m2 == 1200


def test_a_unit_removed_from_the_file_is_removed_from_the_inventory(inventory):
    inventory.reload(WITHOUT_S08)

    assert inventory.units("S07", "S08").keys() == {"S07"}


def test_a_reload_reports_what_it_added_changed_and_removed(inventory):
    inventory.reload(WITH_S09)

    report = inventory.reload(BIGGER_S01.replace("ids: S02..S08", "ids: S02..S07"))

    assert [unit.unit_id for unit in report.added] == []
    assert [(unit_id, [str(c) for c in changes]) for unit_id, changes in report.changed] == [
        ("S01", ["area_m2 1000 → 1200"])
    ]
    assert report.removed == ("S08", "S09")
    assert report.summary() == "aux-shangjie: 439 units; 0 added, 1 changed, 2 removed"


def test_reloading_the_same_file_changes_nothing(inventory):
    report = inventory.reload(DEMO)

    assert (report.added, report.changed, report.removed, report.kept) == ((), (), (), ())


@pytest.mark.parametrize("status", ["reserved", "sold", "leased"])
def test_a_reload_that_would_change_the_area_of_a_held_unit_is_refused_whole(inventory, status):
    inventory.hold("S01", status)

    with pytest.raises(ParkReloadRefused, match=rf"S01 is {status}: the file changes its area_m2"):
        inventory.reload(BIGGER_S01.replace("purchase: 320000", "purchase: 350000"))

    assert inventory.units("S01")["S01"].area_m2 == 1000
    assert inventory.units("B01-1F-01")["B01-1F-01"].purchase_price_per_m2_fen == 320_000


@pytest.mark.parametrize("status", ["reserved", "sold", "leased"])
def test_a_reload_that_would_remove_a_held_unit_is_refused(inventory, status):
    inventory.hold("S08", status)

    with pytest.raises(ParkReloadRefused, match=rf"S08 is {status}: the file no longer lists it"):
        inventory.reload(WITHOUT_S08)

    assert inventory.units("S08")["S08"].status == status


def test_a_held_unit_keeps_the_prices_of_its_contract_while_available_ones_change(inventory):
    inventory.hold("S01", "sold")

    report = inventory.reload(NEW_PRICES)

    assert report.kept == ("S01",)
    assert inventory.units("S01")["S01"].purchase_price_per_m2_fen == 320_000
    assert inventory.units("S02")["S02"].purchase_price_per_m2_fen == 350_000


def test_an_application_for_a_unit_removed_from_the_file_is_rejected(onboarding, tmp_path):
    path = tmp_path / "aux-shangjie.yaml"
    path.write_text(WITHOUT_S08, "utf-8")
    handlers.load_parks([(load_park_definition(path), WITHOUT_S08)], onboarding.uow())
    onboarding.start()

    sent = onboarding.submit(application(["S08"]))

    [rejected] = onboarding.wait_for_event(sent["application_id"], "application_rejected")
    assert [r["code"] for r in rejected["payload"]["reasons"]] == ["unknown_unit"]
