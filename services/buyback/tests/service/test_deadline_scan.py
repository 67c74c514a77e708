"""The deadline timer on PostgreSQL: a scan skips a claim another transaction holds
(``FOR UPDATE SKIP LOCKED``), promptly, and takes it once released, acting once; after a
crash mid-scan the next pass resumes; the due query is served by ``ix_claims_next_due_at``."""

import re
import time
import uuid

import eventlet
from sqlalchemy import event, select

from services.buyback import handlers, orm
from services.buyback.handlers import deadlines
from services.buyback.tests.service.conftest import PARK

APPROVE = ("legal", "finance")


def filed_directly(buyback, count: int) -> list[str]:
    """Claims filed through the use cases themselves (no broker round trip each)."""
    uow = buyback.uow
    claims = []
    for n in range(count):
        enterprise_id = f"ent-scan-{n}-{uuid.uuid4().hex[:6]}"
        handlers.admit_enterprise({"enterprise_id": enterprise_id}, PARK, uow())
        handlers.allocate_units(
            {
                "enterprise_id": enterprise_id,
                "units": [
                    {
                        "unit_id": f"B0{n + 1}-1F-01",
                        "tenure": "purchase",
                        "price_fen": 96_000_000,
                        "contract_id": "ct",
                    }
                ],
            },
            PARK,
            uow(),
        )
        handlers.start_production(
            {"enterprise_id": enterprise_id, "started_on": buyback.clock().date()}, PARK, uow()
        )
        claim_id = str(uuid.uuid4())
        handlers.request_claim(
            {"claim_id": claim_id, "enterprise_id": enterprise_id, "reason": "r", "evidence": []},
            PARK,
            uow(),
            occurred_at=buyback.clock(),
        )
        claims.append(claim_id)
    return claims


def escalations(buyback, claim_id: str) -> int:
    return sum(1 for s in steps(buyback, claim_id) if s["step"] == "claim_escalated")


def steps(buyback, claim_id):
    with buyback.uow() as uow:
        return uow.history.of(claim_id)


def test_a_scan_skips_a_claim_locked_elsewhere_then_acts_on_it_once_released(buyback, clock):
    claims = filed_directly(buyback, 3)
    held = claims[1]
    clock.advance(days=30)  # every review deadline has passed
    table = orm.claims
    with buyback.database.engine.connect() as other, other.begin():
        other.execute(select(table.c.claim_id).where(table.c.claim_id == held).with_for_update())
        started = time.monotonic()
        with eventlet.Timeout(10):  # a scan that waited for the lock would never return
            scan = handlers.scan_deadlines(buyback.uow())
        assert time.monotonic() - started < 5
        assert (scan.checked, scan.acted, scan.failed) == (2, 2, [])
        assert escalations(buyback, held) == 0
    scan = handlers.scan_deadlines(buyback.uow())
    assert (scan.checked, scan.acted) == (1, 1)
    assert handlers.scan_deadlines(buyback.uow()).checked == 0
    assert [escalations(buyback, c) for c in claims] == [1, 1, 1]


def test_a_scan_that_crashed_mid_batch_left_nothing_half_done_and_the_next_resumes(
    buyback, clock, monkeypatch
):
    claims = filed_directly(buyback, 2)
    clock.advance(days=30)
    real_store = deadlines.store
    calls = []

    def crashing_store(uow, claim, *, new=False):
        calls.append(claim.claim_id)
        if len(calls) == 2:
            raise RuntimeError("the process died here")
        real_store(uow, claim, new=new)

    monkeypatch.setattr(deadlines, "store", crashing_store)
    scan = handlers.scan_deadlines(buyback.uow())
    # the batch with the failure rolled back; the other claim was done again, alone
    assert scan.failed == [calls[1]] and scan.acted == 1
    assert [escalations(buyback, c) for c in claims].count(1) == 1
    monkeypatch.setattr(deadlines, "store", real_store)
    assert handlers.scan_deadlines(buyback.uow()).acted == 1
    assert [escalations(buyback, c) for c in claims] == [1, 1]


def test_the_due_query_uses_the_next_due_at_index(buyback, clock):
    filed_directly(buyback, 1)
    captured = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "next_due_at" in statement and "SKIP LOCKED" in statement:
            captured.append((statement, parameters))

    engine = buyback.database.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        with buyback.uow() as uow:
            uow.claims.due(clock(), 50)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [(statement, parameters)] = captured
    with engine.connect() as connection, connection.begin():
        cursor = connection.connection.cursor()
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + statement, parameters)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert re.search(r"Index (Only )?Scan.* on ix_claims_next_due_at", plan), plan
    assert re.search(r"Index Cond: \(next_due_at <= ", plan), plan
