"""Exposure is one park's (both parks number their units B01…); claims are listed newest
first, a page at a time; the portal's ``occurred_at`` is believed at most 30 days back."""

from datetime import date, timedelta

import pytest

from services.buyback import handlers, schemas
from services.buyback.exceptions import InvalidRequest, NotFound
from services.buyback.tests.unit.fakes import NOW, FakeUnitOfWork
from services.buyback.tests.unit.test_handlers import (
    CLAIM,
    PARK,
    claim_payload,
    computed,
    resolved,
    unit,
)

OTHER_PARK = "shangjie-equipment"


@pytest.fixture
def uow():
    return FakeUnitOfWork()


def enterprise(uow, enterprise_id, park, units, started_on=date(2020, 3, 1)):
    handlers.admit_enterprise({"enterprise_id": enterprise_id}, park, uow)
    handlers.allocate_units(
        {"enterprise_id": enterprise_id, "units": [unit(u) for u in units]}, park, uow
    )
    handlers.start_production({"enterprise_id": enterprise_id, "started_on": started_on}, park, uow)


def test_exposure_counts_only_the_parks_own_holdings(uow):
    enterprise(uow, "ent-1", PARK, ["B01-1F-01", "B01-1F-02"])
    enterprise(uow, "ent-2", OTHER_PARK, ["B01-1F-01"])
    mine = handlers.exposure(PARK, None, uow)
    theirs = handlers.exposure(OTHER_PARK, None, uow)
    assert (mine["park_id"], mine["total_fen"], mine["units"]) == (PARK, 192_000_000, 2)
    assert (theirs["park_id"], theirs["total_fen"], theirs["units"]) == (OTHER_PARK, 96_000_000, 1)


def test_a_settled_unit_hides_only_its_own_parks_unit_of_the_same_id(uow):
    enterprise(uow, "ent-1", PARK, ["B01-1F-01", "B01-1F-02"])
    enterprise(uow, "ent-2", OTHER_PARK, ["B01-1F-01"])
    handlers.request_claim(claim_payload(), PARK, uow, occurred_at=NOW)
    for review in ("legal", "finance"):
        handlers.resolve_review(resolved(review), uow, sender="ticketing")
    handlers.record_settlement(computed(), uow, sender="billing")
    assert uow.store.claims[CLAIM]["state"] == "awaiting_release"
    assert handlers.exposure(PARK, None, uow)["total_fen"] == 0
    assert handlers.exposure(OTHER_PARK, None, uow)["total_fen"] == 96_000_000


def test_the_older_call_shape_reports_the_one_park_and_refuses_when_there_are_two(uow):
    enterprise(uow, "ent-1", PARK, ["B01-1F-01"])
    args = schemas.exposure_arguments("2026-11-27", None)  # exposure_report(as_of)
    assert args == {"park_id": None, "as_of": date(2026, 11, 27)}
    report = handlers.exposure(args["park_id"], args["as_of"], uow)
    assert (report["park_id"], report["as_of"], report["total_fen"]) == (
        PARK,
        "2026-11-27",
        96_000_000,
    )
    enterprise(uow, "ent-2", OTHER_PARK, ["B01-1F-01"])
    with pytest.raises(InvalidRequest, match=r"park_id: required.*aux-shangjie, shangjie-equip"):
        handlers.exposure(None, date(2026, 11, 27), uow)


def test_the_park_first_call_shape_and_an_unknown_park(uow):
    assert schemas.exposure_arguments(PARK, "2026-11-27") == {
        "park_id": PARK,
        "as_of": date(2026, 11, 27),
    }
    with pytest.raises(NotFound, match=r"\[unknown_park\]"):
        handlers.exposure("no-such-park", None, uow)


# -- claims, newest first, by page --------------------------------------------------------


def claims_filed_hours_apart(uow, count):
    ids = []
    for n in range(count):
        enterprise_id = f"ent-{n}"
        enterprise(uow, enterprise_id, PARK, [f"B0{n}-1F-01"])
        claim_id = f"00000000-0000-4000-8000-{n:012d}"
        uow.now = NOW + timedelta(hours=n)
        handlers.request_claim(
            claim_payload(claim_id, enterprise_id), PARK, uow, occurred_at=uow.now
        )
        ids.append(claim_id)
    return ids


def test_claims_are_listed_newest_first_a_page_at_a_time(uow):
    ids = claims_filed_hours_apart(uow, 5)
    first = [c["claim_id"] for c in handlers.list_claims(None, uow, limit=2)]
    assert first == [ids[4], ids[3]]
    second = [c["claim_id"] for c in handlers.list_claims(None, uow, limit=2, before=first[-1])]
    assert second == [ids[2], ids[1]]
    last = [c["claim_id"] for c in handlers.list_claims(None, uow, limit=2, before=second[-1])]
    assert last == [ids[0]]


def test_paging_after_an_unknown_claim_is_not_found(uow):
    with pytest.raises(NotFound):
        handlers.list_claims(None, uow, before=CLAIM)


# -- how far back the portal's occurred_at is believed ------------------------------------


def test_an_occurred_at_within_30_days_counts(uow):
    enterprise(uow, "ent-1", PARK, ["B07-2F-03"], started_on=date(2016, 11, 1))
    # The window's last day was 2026-10-31; the portal says it was sent on 2026-10-30.
    uow.now = NOW  # 2026-11-27
    sent = NOW - timedelta(days=28)
    handlers.request_claim(claim_payload(), PARK, uow, occurred_at=sent)
    assert uow.types()[0] == "claim_filed"


def test_an_occurred_at_more_than_30_days_back_is_not_believed(uow):
    enterprise(uow, "ent-1", PARK, ["B07-2F-03"], started_on=date(2016, 11, 1))
    sent = NOW - timedelta(days=31)  # 2026-10-27: inside the window, if it were true
    handlers.request_claim(claim_payload(), PARK, uow, occurred_at=sent)
    [ineligible] = uow.events("claim_ineligible")
    assert ineligible["payload"]["reasons"][0]["code"] == "window_expired"
    assert uow.store.claims[CLAIM]["received_on"] == "2026-11-27"  # the receipt
