"""What a park manager wants to see after the month, asked of the services themselves
(their RPCs), and the checks that the month did what the scenario says it did."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time
from typing import Any

from rich.console import Console
from rich.table import Table

from demo.scenario import PARK, Month
from demo.world import DemoWorld


def gather(world: DemoWorld, month: Month) -> dict[str, Any]:
    rpc = world.rpc
    since = datetime.combine(month.started, time(), tzinfo=UTC)
    until = datetime.combine(month.ended, time(), tzinfo=UTC)
    units = rpc("onboarding").query_units(PARK)
    by_building: dict[str, Counter] = {}
    for unit in units["units"]:
        by_building.setdefault(unit["building"], Counter())[unit["status"]] += 1
    observed = world.observed
    return {
        "park": PARK,
        "period": [month.started.isoformat(), month.ended.isoformat()],
        "occupancy": {
            "occupancy_bp": units["occupancy_bp"],
            "by_status": units["by_status"],
            "by_building": {
                building: dict(counts)
                for building, counts in sorted(by_building.items())
                if counts.get("sold") or counts.get("leased") or counts.get("reserved")
            },
        },
        "revenue": {str(year): rpc("billing").revenue(PARK, year) for year in (2026, 2027)},
        "aging": rpc("billing").aging_report(PARK, month.ended.isoformat()),
        "trial_balance": rpc("billing").trial_balance(),
        "firms": rpc("ticketing").firm_figures(PARK, _utc(since), _utc(until)),
        "exposure": rpc("buyback").exposure_report(PARK, month.ended.isoformat()),
        "claim": rpc("buyback").claim_history(month.claim_id),
        "counts": {
            "applications": month.applications,
            "admitted": len(observed.of("onboarding", "enterprise_admitted")),
            "rejected": len(observed.of("onboarding", "application_rejected")),
            "accepted_with_deficiencies": len(
                observed.of("onboarding", "application_accepted_with_deficiencies")
            ),
            "tickets_resolved": len(observed.of("ticketing", "ticket_resolved")),
            "sla_breached": len(observed.of("ticketing", "sla_breached")),
            "escalated": len(observed.of("ticketing", "ticket_escalated")),
            "meter_readings": month.readings,
            "invoices_issued": len(observed.of("billing", "invoice_issued")),
            "payments_applied": len(observed.of("billing", "payment_applied")),
            "payments_unmatched": len(observed.of("billing", "payment_unmatched")),
            "late_fees": len(observed.of("billing", "late_fee_charged")),
            "claims_closed": len(observed.of("buyback", "claim_closed")),
        },
        "dead_letters": world.dead_letters(),
        # who played which part, to find them with park trace or the RPCs
        "scenario": {
            "refused_application": month.rejected_application,
            "deficient_application": month.deficient_application,
            "breached_ticket": month.breached_ticket,
            "late_payer": month.late_payer,
            "unmatched_payment": month.unmatched_txn,
            "claim": month.claim_id,
            "tickets_worked": month.tickets_resolved,
            "december_invoices": [i["number"] for i in month.invoices],
        },
    }


def _utc(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def fen(amount: int | None) -> str:
    if amount is None:
        return "—"
    sign = "-" if amount < 0 else ""
    yuan, cents = divmod(abs(amount), 100)
    return f"{sign}¥{yuan:,}.{cents:02d}"


def render(summary: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    console.rule(f"[bold]{summary['park']}: {summary['period'][0]} → {summary['period'][1]}")

    occupancy = summary["occupancy"]
    table = Table(title=f"Occupancy {occupancy['occupancy_bp'] / 100:.2f} % of the area")
    for column in ("building", "sold", "leased", "reserved", "available"):
        table.add_column(column, justify="right" if column != "building" else "left")
    for building, counts in occupancy["by_building"].items():
        table.add_row(
            building, *(str(counts.get(s, 0)) for s in ("sold", "leased", "reserved", "available"))
        )
    console.print(table)

    table = Table(title="Revenue by category and month (net of VAT, after credit notes)")
    table.add_column("category")
    months = sorted(
        {m for year in summary["revenue"].values() for c in year["by_category"].values() for m in c}
    )
    for month in months:
        table.add_column(month, justify="right")
    categories = sorted({c for year in summary["revenue"].values() for c in year["by_category"]})
    for category in categories:
        cells = {}
        for year in summary["revenue"].values():
            cells.update(year["by_category"].get(category, {}))
        table.add_row(category, *(fen(cells.get(m, 0)) for m in months))
    console.print(table)

    aging = summary["aging"]
    table = Table(title=f"Receivables aging as of {summary['period'][1]}")
    for bucket in aging["buckets"]:
        table.add_column(f"{bucket} days", justify="right")
    table.add_column("total", justify="right")
    table.add_row(*(fen(v) for v in aging["buckets"].values()), fen(aging["total_fen"]))
    console.print(table)

    table = Table(title="Resident firms: SLA compliance and satisfaction")
    for column in ("firm", "tickets", "SLA %", "mean rating", "declines"):
        table.add_column(column, justify="left" if column == "firm" else "right")
    for row in summary["firms"]:
        table.add_row(
            row["firm_id"],
            str(row["tickets"]),
            "—" if row["sla_compliance_percent"] is None else f"{row['sla_compliance_percent']}",
            "—" if row["mean_rating"] is None else f"{row['mean_rating']}",
            str(row["declines"]),
        )
    console.print(table)

    exposure = summary["exposure"]
    table = Table(
        title=f"Buyback exposure: {fen(exposure['total_fen'])} on {exposure['units']} units "
        "still inside their ten years"
    )
    for column in ("by", "", "units", "original prices"):
        table.add_column(
            column, justify="right" if column in ("units", "original prices") else "left"
        )
    for row in exposure["by_year_of_expiry"]:
        table.add_row("year of expiry", str(row["year"]), str(row["units"]), fen(row["total_fen"]))
    for row in exposure["by_building"]:
        table.add_row("building", row["building"], str(row["units"]), fen(row["total_fen"]))
    console.print(table)

    counts = summary["counts"]
    console.print(
        "Month: " + ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in counts.items())
    )
    letters = summary["dead_letters"]
    console.print(f"Dead letters: {letters or 'none'}")


def problems(summary: dict[str, Any], month: Month) -> list[str]:
    """What the month should have produced and did not: the demo's own check (CI runs it)."""
    counts, found = summary["counts"], []

    def expect(condition: bool, what: str) -> None:
        if not condition:
            found.append(what)

    admitted = len(month.admitted)
    expect(counts["admitted"] == admitted, f"{admitted} enterprises admitted")
    expect(counts["rejected"] == 1, "exactly one application refused (the mistyped USCC)")
    expect(counts["accepted_with_deficiencies"] == 1, "one application with a deficiency")
    expect(counts["sla_breached"] >= 1 and counts["escalated"] >= 1, "an SLA breach, escalated")
    expect(counts["payments_unmatched"] == 1, "one payment in suspense")
    expect(counts["late_fees"] >= 1, "a 违约金 for the late payer")
    expect(counts["claims_closed"] == 1, "the buyback claim closed")
    expect(summary["occupancy"]["occupancy_bp"] > 0, "some of the park occupied")
    expect(not summary["dead_letters"], f"no dead letters (found {summary['dead_letters']})")
    expect(summary["trial_balance"]["total_fen"] == 0, "a trial balance of zero")
    return found
