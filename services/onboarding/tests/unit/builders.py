"""Test builders and fakes for the onboarding domain: a small park, its units, a valid
submission, a fake clock value, a counting id factory and a fake business calendar."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.onboarding.domain.admission import AdmissionContext
from services.onboarding.domain.applications import Application, Decision
from services.onboarding.domain.industries import IndustryPrefixes, IndustryRules
from services.onboarding.domain.park import (
    AdmissionPolicy,
    Building,
    ChiefServiceOfficer,
    CustomUnit,
    Department,
    ParkDefinition,
    Prices,
)
from services.onboarding.domain.submissions import EnterpriseDetails, Submission
from services.onboarding.domain.units import Tenure, Unit
from services.onboarding.domain.uscc import build_uscc

REPO = Path(__file__).resolve().parents[4]
PARKS_DIR = REPO / "deploy" / "parks"

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 in Zhengzhou, a Friday
REQUIRED_DOCUMENTS = ("营业执照", "法定代表人身份证", "环评承诺书")
DEPARTMENTS = ("market_regulation", "ecology_environment")


def valid_uscc(serial: int = 1) -> str:
    """A USCC of an enterprise (91) registered in Zhengzhou's Shangjie district (410106)."""
    return build_uscc("91410106", f"MA{serial:06d}")


class CountingIds:
    """A fake id factory: ``id-1``, ``id-2``, … in call order."""

    def __init__(self) -> None:
        self.issued: list[str] = []

    def __call__(self) -> str:
        self.issued.append(f"id-{len(self.issued) + 1}")
        return self.issued[-1]


def calendar_days_deadline(now: datetime, business_days: int) -> datetime:
    """A fake business calendar in which every day is a business day."""
    return now + timedelta(days=business_days)


def make_policy(**overrides) -> AdmissionPolicy:
    policy = AdmissionPolicy(
        industries=IndustryRules(allow=("C",)),
        required_documents=REQUIRED_DOCUMENTS,
        departments=tuple(Department(d, d.replace("_", " ")) for d in DEPARTMENTS),
        deficiency_deadline_business_days=10,
        environmental_review=IndustryPrefixes(("C26", "C336")),
        chief_service_officers=(
            ChiefServiceOfficer("cso-01", "张伟"),
            ChiefServiceOfficer("cso-02", "李娜"),
        ),
    )
    return replace(policy, **overrides)


def make_park(**policy_overrides) -> ParkDefinition:
    """Park ``test-park``: B01 with 2 floors of 3 rooms of 300 m², and S01 of 1,000 m²."""
    return ParkDefinition(
        id="test-park",
        name="测试园区",
        district="上街区",
        buildings=(Building.uniform("B01", floors=2, rooms_per_floor=3, room_area_m2=300),),
        custom_units=(CustomUnit("S01", 1000),),
        prices=Prices(
            purchase_per_m2_fen=320_000,
            monthly_rent_per_m2_fen=1_500,
            monthly_property_fee_per_m2_fen=150,
        ),
        policy=make_policy(**policy_overrides),
    )


def units_of(park: ParkDefinition) -> dict[str, Unit]:
    """Fresh, available units of ``park`` by unit id (what the repository would load)."""
    return {spec.unit_id: Unit.from_spec(spec) for spec in park.units}


def make_submission(**overrides) -> Submission:
    enterprise_fields = {
        key: overrides.pop(key) for key in ("uscc", "industry_code", "name") if key in overrides
    }
    enterprise = EnterpriseDetails(
        name="郑州精工机械有限公司",
        uscc=valid_uscc(),
        legal_representative="赵强",
        contact_phone="13800000000",
        industry_code="C3464",
        employees=25,
    )
    fields = {
        "application_id": "app-1",
        "park_id": "test-park",
        "enterprise": replace(enterprise, **enterprise_fields),
        "tenure": Tenure.PURCHASE,
        "requested_units": ("B01-1F-01", "B01-1F-02"),
        "documents": REQUIRED_DOCUMENTS,
        "supply_chain_partner": True,
    }
    return Submission(**{**fields, **overrides})


def receive(
    park: ParkDefinition | None = None, units: dict[str, Unit] | None = None, **overrides
) -> Application:
    """An application received by ``park`` (default: a fresh :func:`make_park`)."""
    park = park if park is not None else make_park()
    units = units if units is not None else units_of(park)
    return Application.receive(
        make_submission(**overrides), park, units, NOW, calendar_days_deadline
    )


def admission(park: ParkDefinition, load: dict[str, int] | None = None, ids=None):
    return AdmissionContext(park.policy, load or {}, ids or CountingIds())


def approve_all(application: Application, park: ParkDefinition, units, **context):
    """Every requested department approves; returns the admitted enterprise."""
    enterprise = None
    for department in application.review_departments:
        enterprise = application.record_decision(
            department,
            Decision.APPROVE,
            "符合准入标准",
            NOW,
            units=units,
            admission=admission(park, **context),
        )
    return enterprise
