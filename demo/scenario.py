"""A month in the park, compressed: what the demo's ingress systems, firms and operator do,
day by day, through the real ingress events and the real services.

Each step moves the clock file (every process reads it), publishes what the park's
neighbours would publish that day, then waits for the services' answers on the observer
queue — so the summary is built from what the services did, never from what the demo
assumed. Sizes: ``small`` (CI) and ``full``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from demo.world import DemoFailed, DemoWorld
from services.onboarding.domain.uscc import build_uscc

PARK = "aux-shangjie"
SHANGHAI = ZoneInfo("Asia/Shanghai")
DOCUMENTS = [
    "入园申请表",
    "营业执照",
    "法定代表人身份证",
    "项目可行性研究报告",
    "环评承诺书",
    "安全生产承诺书",
]
DEPARTMENTS = [
    "market_regulation",
    "ecology_environment",
    "emergency_management",
    "natural_resources",
]

# Manufacturers of the kind the park admits without an environmental review (C34, C35,
# C38, C39, C40: machinery, special equipment, electrical, electronics, instruments).
COMPANIES = [
    ("河南奥新精密机械有限公司", "C3484", "purchase", 2),
    ("郑州上街恒力电气有限公司", "C3823", "lease", 1),
    ("郑州智联电子科技有限公司", "C3981", "purchase", 1),
    ("河南中创仪器仪表有限公司", "C4014", "lease", 2),
    ("郑州鑫达专用设备有限公司", "C3599", "purchase", 1),
    ("河南华瑞电机制造有限公司", "C3811", "lease", 1),
    ("郑州博远数控机床有限公司", "C3421", "purchase", 6),
    ("河南明德光电科技有限公司", "C3976", "lease", 1),
    ("郑州金凯传感器有限公司", "C3983", "purchase", 1),
    ("河南豫工起重设备有限公司", "C3431", "lease", 2),
]
SIZES = {"small": 4, "full": len(COMPANIES)}

# Services the enterprises ask for: (code, what they write). Fixed fee, quoted and free.
REQUESTS = [
    ("COM-01", "变更注册地址至园区"),
    ("COM-03", "两项实用新型专利申请"),
    ("LEGAL-01", "审查劳动合同模板"),
    ("ACCT-01", "月度代理记账"),
    ("PARK-01", "车间照明线路故障报修"),
]


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """Park-local wall time on ``day`` as aware UTC (Zhengzhou is UTC+8)."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


@dataclass
class Enterprise:
    name: str
    industry: str
    tenure: str
    units: list[str]
    uscc: str
    application_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    enterprise_id: str | None = None


@dataclass
class Month:
    """What happened: the summary's checks and its `scenario` part (who played which role)."""

    applications: int = 0
    admitted: list[Enterprise] = field(default_factory=list)
    rejected_application: str | None = None
    deficient_application: str | None = None
    tickets_resolved: int = 0
    breached_ticket: str | None = None
    readings: int = 0
    invoices: list[dict[str, Any]] = field(default_factory=list)
    unmatched_txn: str | None = None
    late_payer: str | None = None
    claim_id: str | None = None
    started: date = date(2026, 11, 2)
    ended: date | None = None


class MonthInThePark:
    def __init__(self, world: DemoWorld, size: str, say=print):
        self.world = world
        self.say = say
        self.month = Month()
        count = SIZES[size]
        self.cast = self._cast(count)

    # -- the cast ---------------------------------------------------------------------------

    def _cast(self, count: int) -> list[Enterprise]:
        cast = []
        for serial, (name, industry, tenure, rooms) in enumerate(COMPANIES[:count], start=1):
            building = 3 + serial  # B04, B05, …: one building each, rooms from the ground
            units = [f"B{building:02d}-{1 + r // 6}F-{1 + r % 6:02d}" for r in range(rooms)]
            cast.append(
                Enterprise(name, industry, tenure, units, build_uscc("91410106", f"MA{serial:06d}"))
            )
        return cast

    def submission(self, enterprise: Enterprise, documents: list[str] | None = None) -> dict:
        return {
            "application_id": enterprise.application_id,
            "enterprise": {
                "name": enterprise.name,
                "uscc": enterprise.uscc,
                "legal_representative": "王建国",
                "contact_phone": "13903710000",
                "industry_code": enterprise.industry,
                "employees": 60,
            },
            "tenure": enterprise.tenure,
            "requested_units": enterprise.units,
            "documents": DOCUMENTS if documents is None else documents,
            "supply_chain_partner": enterprise.industry.startswith("C38"),
            **({"lease_term_months": 36} if enterprise.tenure == "lease" else {}),
        }

    # -- the month --------------------------------------------------------------------------

    def play(self) -> Month:
        self.applications()
        self.joint_reviews()
        self.production_starts()
        self.down_payments()
        self.service_requests()
        self.sla_breach()
        self.meter_readings()
        self.billing_and_payments()
        self.buyback()
        return self.month

    def applications(self) -> None:
        """Day 1: applications arrive from the portal — one with a document missing
        (accepted with deficiencies), one with a mistyped USCC (rejected)."""
        w, day = self.world, self.month.started
        w.set_time(local(day, 9, 30))
        deficient = self.cast[-1]
        for enterprise in self.cast:
            documents = DOCUMENTS[:-1] if enterprise is deficient else None
            w.publish("portal", "application_submitted", self.submission(enterprise, documents))
        typo = Enterprise("郑州错号五金有限公司", "C3311", "lease", ["B15-1F-01"], "")
        good = build_uscc("91410106", "MA009999")
        typo.uscc = good[:-1] + ("0" if good[-1] != "0" else "1")
        w.publish("portal", "application_submitted", self.submission(typo))
        self.month.applications = len(self.cast) + 1
        w.wait_for_events(
            "onboarding",
            "application_rejected",
            1,
            "the mistyped USCC refused",
            application_id=typo.application_id,
        )
        self.month.rejected_application = typo.application_id
        w.wait_for_events(
            "onboarding",
            "application_accepted_with_deficiencies",
            1,
            "the missing document noticed",
            application_id=deficient.application_id,
        )
        self.month.deficient_application = deficient.application_id
        self.say(f"  {len(self.cast) + 1} applications: 1 refused (USCC), 1 with a deficiency")
        w.set_time(local(day + timedelta(days=1), 10))
        w.publish(
            "portal",
            "documents_supplied",
            {"application_id": deficient.application_id, "documents": DOCUMENTS[-1:]},
        )

    def joint_reviews(self) -> None:
        """Days 2–3: the four departments of the joint review approve each application."""
        w = self.world
        for enterprise in self.cast:
            review = w.wait_for_events(
                "onboarding",
                "review_requested",
                1,
                f"the joint review of {enterprise.name}",
                application_id=enterprise.application_id,
            )[0]
            for department in review["payload"]["departments"]:
                w.publish(
                    "gov",
                    "review_decided",
                    {
                        "application_id": enterprise.application_id,
                        "department": department,
                        "decision": "approve",
                        "reason": "材料齐全，符合入园条件",
                    },
                )
        w.set_time(local(self.month.started + timedelta(days=2), 16))
        for enterprise in self.cast:
            admitted = w.wait_for_events(
                "onboarding",
                "enterprise_admitted",
                1,
                f"{enterprise.name} admitted",
                application_id=enterprise.application_id,
            )[0]
            enterprise.enterprise_id = admitted["payload"]["enterprise_id"]
            w.wait_for_events(
                "onboarding",
                "units_allocated",
                1,
                f"{enterprise.name}'s units",
                enterprise_id=enterprise.enterprise_id,
            )
            self.month.admitted.append(enterprise)
        self.say(f"  {len(self.cast)} enterprises admitted, units allocated")

    def production_starts(self) -> None:
        """Day 5: the buyers start production (the day the ten-year buyback window opens)."""
        w = self.world
        day = self.month.started + timedelta(days=4)
        w.set_time(local(day, 9))
        for enterprise in self.purchasers():
            w.rpc("onboarding").record_production_start(enterprise.enterprise_id, day.isoformat())
            w.wait_for_events(
                "onboarding",
                "production_started",
                1,
                f"{enterprise.name} in production",
                enterprise_id=enterprise.enterprise_id,
            )

    def down_payments(self) -> None:
        """Day 5: the buyers pay the down payment invoiced when their units were allocated,
        by bank transfer quoting the invoice number."""
        w = self.world
        w.set_time(local(self.month.started + timedelta(days=4), 14))
        for enterprise in self.purchasers():
            invoice = w.wait_for_events(
                "billing",
                "invoice_issued",
                1,
                f"{enterprise.name}'s down payment invoice",
                enterprise_id=enterprise.enterprise_id,
            )[0]["payload"]
            self._pay(invoice)
            w.wait_for_events(
                "billing",
                "invoice_paid",
                1,
                f"{enterprise.name}'s down payment paid",
                invoice_id=invoice["invoice_id"],
            )
        self.say(f"  {len(self.purchasers())} down payments paid")

    def purchasers(self) -> list[Enterprise]:
        return [e for e in self.month.admitted if e.tenure == "purchase"]

    def service_requests(self) -> None:
        """Days 5–12: service requests, worked by the resident firms through their client;
        the enterprises rate what was done."""
        w = self.world
        day = self.month.started + timedelta(days=4)
        w.set_time(local(day, 10))
        requests: list[str] = []
        for index, enterprise in enumerate(self.month.admitted):
            for code, description in (
                REQUESTS[index % len(REQUESTS)],
                REQUESTS[(index + 1) % len(REQUESTS)],
            ):
                request_id = str(uuid.uuid4())
                w.publish(
                    "portal",
                    "service_requested",
                    {
                        "request_id": request_id,
                        "enterprise_id": enterprise.enterprise_id,
                        "service_code": code,
                        "description": description,
                        "priority": "normal",
                    },
                )
                requests.append(request_id)
        # The last request is the one no firm answers in time (sla_breach below).
        *worked, self._ignored_request = requests
        assigned = {}
        for request_id in requests:
            event = w.wait_for_events(
                "ticketing", "ticket_assigned", 1, "a firm assigned", request_id=request_id
            )[0]
            assigned[request_id] = event["payload"]
        w.set_time(local(day, 11))
        for request_id in worked:
            ticket = assigned[request_id]
            firm = w.firm(ticket["firm_id"])
            w.wait(lambda f=firm, t=ticket: _fetched(f, t["ticket_id"]), "work fetched")
            firm.accept(ticket["ticket_id"], "已受理，今日安排专人对接")
        w.set_time(local(day + timedelta(days=3), 15))
        for request_id in worked:
            ticket = assigned[request_id]
            firm = w.firm(ticket["firm_id"])
            item = firm.item(ticket["ticket_id"])
            quoted = (item.payload or {}).get("fee_policy") == "quoted"
            firm.complete(
                ticket["ticket_id"],
                "done",
                "办理完成，材料已交付企业",
                fee_fen=120_000 if quoted else None,
            )
        resolved = [
            w.wait_for_events(
                "ticketing",
                "ticket_resolved",
                1,
                "the work resolved",
                ticket_id=assigned[r]["ticket_id"],
            )[0]
            for r in worked
        ]
        for number, event in enumerate(resolved):
            w.publish(
                "portal",
                "ticket_rated",
                {
                    "ticket_id": event["payload"]["ticket_id"],
                    "score": 5 - number % 3,
                    "comment": "响应及时" if number % 3 == 0 else "",
                },
            )
        self.month.tickets_resolved = len(resolved)
        self._ignored_ticket = assigned[self._ignored_request]["ticket_id"]
        self._ignored_firm = assigned[self._ignored_request]["firm_id"]
        self.say(f"  {len(requests)} service requests, {len(resolved)} worked and rated")

    def sla_breach(self) -> None:
        """One ticket nobody answers: the SLA timer warns, breaches and escalates it to the
        enterprise's chief service officer (the scan runs every 30 s of real time)."""
        w = self.world
        w.set_time(local(self.month.started + timedelta(days=11), 17))
        w.wait_for_events(
            "ticketing",
            "sla_breached",
            1,
            "the SLA breach",
            timeout=120,
            ticket_id=self._ignored_ticket,
        )
        w.wait_for_events(
            "ticketing",
            "ticket_escalated",
            1,
            "the escalation",
            timeout=60,
            ticket_id=self._ignored_ticket,
        )
        self.month.breached_ticket = self._ignored_ticket
        # The chief service officer chases it up: the firm finally does the work, late.
        firm = w.firm(self._ignored_firm)
        w.wait(lambda: _fetched(firm, self._ignored_ticket), "the late work fetched")
        firm.accept(self._ignored_ticket, "抱歉延误，今日上门")
        firm.complete(self._ignored_ticket, "done", "线路已修复")
        w.wait_for_events(
            "ticketing",
            "ticket_resolved",
            1,
            "the late work resolved",
            ticket_id=self._ignored_ticket,
        )
        self.say("  1 ticket breached its SLA, was escalated, then done late")

    def meter_readings(self) -> None:
        """Every unit's water and electricity meters, read through the month."""
        w = self.world
        days = [self.month.started + timedelta(days=d) for d in (3, 10, 17, 24, 28)]
        for number, day in enumerate(days):
            w.set_time(local(day, 23, 50))
            for enterprise in self.month.admitted:
                for unit in enterprise.units:
                    for kind, per_day in (
                        ("water", Decimal("1.8")),
                        ("electricity", Decimal("95.5")),
                    ):
                        w.publish(
                            "meters",
                            "reading_recorded",
                            {
                                "meter_id": f"{kind[0].upper()}-{unit}",
                                "unit_id": unit,
                                "kind": kind,
                                "reading": str(per_day * 7 * number),
                                "read_at": local(day, 23, 45).strftime("%Y-%m-%dT%H:%M:%SZ"),
                            },
                        )
                        self.month.readings += 1
        w.quiet()
        self.say(f"  {self.month.readings} meter readings")

    def billing_and_payments(self) -> None:
        """1 December: the billing cycle; the bank reports payments — one from a payer the
        park does not know, one enterprise late — and on 1 January the 违约金."""
        w = self.world
        december = date(2026, 12, 1)
        w.set_time(local(december, 8))
        issued = self._cycle(december)
        if not issued:
            raise DemoFailed("the billing cycle issued no invoice")
        late = self.month.admitted[0]
        self.month.late_payer = late.enterprise_id
        w.set_time(local(date(2026, 12, 4), 11))
        self._pay_all([i for i in issued if i["enterprise_id"] != late.enterprise_id])
        self.month.unmatched_txn = f"ICBC-{uuid.uuid4().hex[:12].upper()}"
        w.publish(
            "bank",
            "payment_received",
            {
                "bank_txn_id": self.month.unmatched_txn,
                "payer_uscc": build_uscc("91410100", "MA777777"),
                "amount_fen": 88_000,
                "received_at": local(date(2026, 12, 4), 10).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "reference": "",
            },
        )
        w.wait_for_events(
            "billing",
            "payment_unmatched",
            1,
            "the unknown payer in suspense",
            bank_txn_id=self.month.unmatched_txn,
        )
        w.set_time(local(date(2026, 12, 28), 10))  # twelve days after the due date
        self._pay_all([i for i in issued if i["enterprise_id"] == late.enterprise_id])
        self.month.invoices = issued
        january = date(2027, 1, 1)
        w.set_time(local(january, 8))
        self._cycle(january)
        w.wait_for_events(
            "billing",
            "late_fee_charged",
            1,
            "the late payer's 违约金",
            enterprise_id=late.enterprise_id,
        )
        w.quiet()
        self.say(
            f"  {len(issued)} invoices in December, all paid (one enterprise late), "
            "1 unknown payer in suspense, a 违约金 in January"
        )

    def _cycle(self, on: date) -> list[dict[str, Any]]:
        """Run the monthly billing cycle (the timer would, on its own; the demo does not
        wait for it) and wait for its invoices: the payloads of those it issued."""
        result = self.world.rpc("billing").run_billing_cycle(on.isoformat())
        if result["failed"]:
            raise DemoFailed(f"the billing cycle of {on} failed for {result['failed']}")
        numbers = set(result["issued"])
        if not numbers:
            return []
        return self.world.wait(
            lambda: (
                (
                    seen := [
                        e["payload"]
                        for e in self.world.observed.of("billing", "invoice_issued")
                        if e["payload"]["invoice_id"] in numbers
                        or e["payload"]["number"] in numbers
                    ]
                )
                and len(seen) >= len(numbers)
                and seen
            ),
            f"the {len(numbers)} invoices of the {on} cycle",
        )

    def _pay_all(self, invoices: list[dict[str, Any]]) -> None:
        for invoice in invoices:
            self._pay(invoice)
        for invoice in invoices:
            self.world.wait_for_events(
                "billing",
                "invoice_paid",
                1,
                f"invoice {invoice['number']} paid",
                invoice_id=invoice["invoice_id"],
            )

    def _pay(self, invoice: dict[str, Any]) -> None:
        self.world.publish(
            "bank",
            "payment_received",
            {
                "bank_txn_id": f"ICBC-{uuid.uuid4().hex[:12].upper()}",
                "payer_uscc": invoice["uscc"],
                "amount_fen": invoice["total_fen"],
                "received_at": self.world.clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "reference": invoice["number"],
            },
        )

    def buyback(self) -> None:
        """January: a buyer in difficulty claims the ten-year buyback; a legal and a finance
        firm review it, billing nets its debts, the units return to the park."""
        w = self.world
        claimant = self.purchasers()[-1]
        w.set_time(local(date(2027, 1, 4), 10))
        claim_id = str(uuid.uuid4())
        w.publish(
            "portal",
            "buyback_requested",
            {
                "claim_id": claim_id,
                "enterprise_id": claimant.enterprise_id,
                "reason": "主要客户破产，订单锐减，无力继续经营",
                "evidence": ["2026年四季度财务报表", "主要客户破产裁定书"],
            },
        )
        w.wait_for_events("buyback", "claim_filed", 1, "the claim filed", claim_id=claim_id)
        reviews = {}
        for review in ("legal", "finance"):
            event = w.wait_for_events(
                "ticketing",
                "ticket_assigned",
                1,
                f"the {review} review assigned",
                claim_id=claim_id,
                review=review,
            )[0]
            reviews[review] = event["payload"]
        w.set_time(local(date(2027, 1, 4), 11))
        for ticket in reviews.values():
            firm = w.firm(ticket["firm_id"])
            w.wait(lambda f=firm, t=ticket: _fetched(f, t["ticket_id"]), "review fetched")
            firm.accept(ticket["ticket_id"], "已受理回购审查")
        w.set_time(local(date(2027, 1, 6), 15))
        for review, ticket in reviews.items():
            note = {"legal": "产权清晰，回购条件成立", "finance": "经营困难属实，财务资料完整"}
            w.firm(ticket["firm_id"]).complete(ticket["ticket_id"], "approve", note[review])
        w.wait_for_events(
            "buyback",
            "claim_closed",
            1,
            "the claim closed (units back in inventory)",
            timeout=120,
            claim_id=claim_id,
        )
        self.month.claim_id = claim_id
        self.month.ended = date(2027, 1, 8)
        w.set_time(local(self.month.ended, 10))
        self.say(f"  buyback claim of {claimant.name} settled and closed")


def _fetched(firm, ticket_id: str) -> bool:
    """Fetch the firm's new work; whether ``ticket_id`` is among what it holds."""
    firm.fetch()
    return any(item.ticket_id == ticket_id for item in firm.items())
