"""Applications: one row per application with its whole state as a JSON document, plus
the columns the queries need (status, USCC, the next deadline)."""

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from services.onboarding import orm
from services.onboarding.domain.applications import (
    Application,
    ApplicationStatus,
    Decision,
    ReviewDecision,
)
from services.onboarding.domain.deficiencies import DeficiencyItem
from services.onboarding.domain.reasons import Reason, ReasonCode
from services.onboarding.domain.submissions import EnterpriseDetails, Submission
from shared.contract.fields import utc_iso


class AbstractApplicationRepository(ABC):
    """Applications, whole aggregates; ``due`` finds those the deadline timer must visit."""

    @abstractmethod
    def get(
        self, application_id: str, *, lock: bool = False, skip_locked: bool = False
    ) -> Application | None: ...

    @abstractmethod
    def add(self, application: Application, correlation_id: str | None) -> None: ...

    @abstractmethod
    def save(self, application: Application) -> None: ...

    @abstractmethod
    def correlation_id(self, application_id: str) -> str | None: ...

    @abstractmethod
    def search(
        self,
        *,
        status: str | None = None,
        park_id: str | None = None,
        overdue_at: datetime | None = None,
        limit: int = 200,
    ) -> list[Application]:
        """Applications by status and park, oldest first; with ``overdue_at``, only
        those under review past a deadline then."""

    @abstractmethod
    def pending(self, park_id: str, uscc: str) -> list[str]:
        """The applications of ``uscc`` to the park still under review. Serialises the
        transactions asking about one ``(park_id, uscc)`` until they end, so two racing
        applications of one enterprise cannot both find none."""

    @abstractmethod
    def due(self, now: datetime, limit: int = 100, exclude: Collection[str] = ()) -> list[str]:
        """Up to ``limit`` applications whose next deadline has passed, earliest first,
        leaving out ``exclude``."""


class ApplicationRepository(AbstractApplicationRepository):
    def __init__(self, session: Session):
        self.session = session

    def get(
        self, application_id: str, *, lock: bool = False, skip_locked: bool = False
    ) -> Application | None:
        query = select(orm.applications.c.document).where(
            orm.applications.c.application_id == application_id
        )
        if lock:
            query = query.with_for_update(skip_locked=skip_locked)
        document = self.session.scalar(query)
        return _application(document) if document is not None else None

    def add(self, application: Application, correlation_id: str | None) -> None:
        row = _application_row(application) | {"correlation_id": correlation_id}
        self.session.execute(insert(orm.applications).values(**row))

    def search(
        self,
        *,
        status: str | None = None,
        park_id: str | None = None,
        overdue_at: datetime | None = None,
        limit: int = 200,
    ) -> list[Application]:
        table = orm.applications
        query = select(table.c.document)
        if status:
            query = query.where(table.c.status == status)
        if park_id:
            query = query.where(table.c.park_id == park_id)
        if overdue_at is not None:
            query = query.where(
                table.c.status == str(ApplicationStatus.UNDER_REVIEW),
                (table.c.review_due_at <= overdue_at) | (table.c.next_deadline_at <= overdue_at),
            )
        query = query.order_by(table.c.received_at, table.c.application_id).limit(limit)
        return [_application(document) for document in self.session.scalars(query)]

    def pending(self, park_id: str, uscc: str) -> list[str]:
        connection = self.session.connection()
        if connection.dialect.name == "postgresql":
            # No row to lock yet: a transaction-scoped advisory lock on the pair, released
            # at commit or rollback. (SQLite serialises writers anyway.)
            digest = hashlib.blake2b(f"{park_id}\0{uscc}".encode(), digest_size=8).digest()
            key = int.from_bytes(digest, "big", signed=True)
            connection.execute(select(func.pg_advisory_xact_lock(key)))
        return list(
            self.session.scalars(
                select(orm.applications.c.application_id)
                .where(
                    orm.applications.c.uscc == uscc,
                    orm.applications.c.park_id == park_id,
                    orm.applications.c.status == str(ApplicationStatus.UNDER_REVIEW),
                )
                .order_by(orm.applications.c.application_id)
            )
        )

    def correlation_id(self, application_id: str) -> str | None:
        return self.session.scalar(
            select(orm.applications.c.correlation_id).where(
                orm.applications.c.application_id == application_id
            )
        )

    def save(self, application: Application) -> None:
        self.session.execute(
            update(orm.applications)
            .where(orm.applications.c.application_id == application.application_id)
            .values(**_application_row(application))
        )

    def due(self, now: datetime, limit: int = 100, exclude: Collection[str] = ()) -> list[str]:
        """Applications whose next deadline has passed (suspension or escalation due)."""
        query = select(orm.applications.c.application_id).where(
            orm.applications.c.next_deadline_at <= now
        )
        if exclude:
            query = query.where(orm.applications.c.application_id.not_in(sorted(exclude)))
        return list(
            self.session.scalars(
                query.order_by(
                    orm.applications.c.next_deadline_at, orm.applications.c.application_id
                ).limit(limit)
            )
        )


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _iso(moment: datetime | None) -> str | None:
    return utc_iso(moment) if moment else None


def _application_row(application: Application) -> dict:
    return {
        "application_id": application.application_id,
        "park_id": application.park_id,
        "status": str(application.status),
        "uscc": application.submission.enterprise.uscc,
        "enterprise_id": application.enterprise_id,
        "received_at": application.received_at,
        "closed_at": application.closed_at,
        "next_deadline_at": application.next_deadline,
        "review_due_at": application.review_due_at,
        "document": _application_document(application),
    }


def _application_document(application: Application) -> dict:
    submission = application.submission
    return {
        "submission": {
            "application_id": submission.application_id,
            "park_id": submission.park_id,
            "enterprise": asdict(submission.enterprise),
            "tenure": str(submission.tenure),
            "requested_units": list(submission.requested_units),
            "documents": list(submission.documents),
            "supply_chain_partner": submission.supply_chain_partner,
            "lease_term_months": submission.lease_term_months,
        },
        "received_at": _iso(application.received_at),
        "status": str(application.status),
        "unit_ids": list(application.unit_ids),
        "review_departments": list(application.review_departments),
        "decisions": {
            department: {
                "decision": str(d.decision),
                "reason": d.reason,
                "decided_at": _iso(d.decided_at),
            }
            for department, d in application.decisions.items()
        },
        "deficiencies": [
            {
                "document": i.document,
                "due_at": _iso(i.due_at),
                "supplied_at": _iso(i.supplied_at),
                "escalated_at": _iso(i.escalated_at),
            }
            for i in application.deficiencies
        ],
        "documents_on_file": list(application.documents_on_file),
        "rejection_reasons": [
            {"code": str(r.code), "message": r.message, "field": r.field}
            for r in application.rejection_reasons
        ],
        "enterprise_id": application.enterprise_id,
        "closed_at": _iso(application.closed_at),
        "review_due_at": _iso(application.review_due_at),
        "review_overdue_at": _iso(application.review_overdue_at),
    }


def _application(document: dict) -> Application:
    raw = document["submission"]
    submission = Submission(
        application_id=raw["application_id"],
        park_id=raw["park_id"],
        enterprise=EnterpriseDetails(**raw["enterprise"]),
        tenure=raw["tenure"],
        requested_units=raw["requested_units"],
        documents=raw["documents"],
        supply_chain_partner=raw["supply_chain_partner"],
        lease_term_months=raw.get("lease_term_months"),  # absent before revision 0004
    )
    return Application(
        submission=submission,
        received_at=_time(document["received_at"]),
        status=ApplicationStatus(document["status"]),
        unit_ids=tuple(document["unit_ids"]),
        review_departments=tuple(document["review_departments"]),
        decisions={
            department: ReviewDecision(
                department, Decision(d["decision"]), d["reason"], _time(d["decided_at"])
            )
            for department, d in document["decisions"].items()
        },
        deficiencies=[
            DeficiencyItem(
                i["document"], _time(i["due_at"]), _time(i["supplied_at"]), _time(i["escalated_at"])
            )
            for i in document["deficiencies"]
        ],
        documents_on_file=list(document["documents_on_file"]),
        rejection_reasons=tuple(
            Reason(ReasonCode(r["code"]), r["message"], r["field"])
            for r in document["rejection_reasons"]
        ),
        enterprise_id=document["enterprise_id"],
        closed_at=_time(document["closed_at"]),
        # Absent from applications stored before revision 0004: no review time limit.
        review_due_at=_time(document.get("review_due_at")),
        review_overdue_at=_time(document.get("review_overdue_at")),
    )
