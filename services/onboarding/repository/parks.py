"""Park definitions as loaded from park files (the stored text, parsed once per
version)."""

from abc import ABC, abstractmethod
from datetime import datetime
from functools import lru_cache

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from services.onboarding import orm
from services.onboarding.domain.park import ParkDefinition
from services.onboarding.domain.park_definition import parse_park_definition


class AbstractParkRepository(ABC):
    """Park definitions as loaded from park files."""

    @abstractmethod
    def get(self, park_id: str) -> ParkDefinition | None: ...


@lru_cache(maxsize=64)
def _parse_park(definition: str, source: str) -> ParkDefinition:
    return parse_park_definition(definition, source)


class ParkRepository(AbstractParkRepository):
    def __init__(self, session: Session):
        self.session = session

    def get(self, park_id: str) -> ParkDefinition | None:
        row = self.session.execute(
            select(orm.parks.c.definition, orm.parks.c.source).where(orm.parks.c.park_id == park_id)
        ).first()
        return _parse_park(row.definition, row.source) if row else None

    def save(self, park: ParkDefinition, definition: str, now: datetime) -> bool:
        """Store the park's definition; returns True if it was new."""
        values = {
            "name": park.name,
            "definition": definition,
            "source": park.source,
            "loaded_at": now,
        }
        found = self.session.execute(
            update(orm.parks).where(orm.parks.c.park_id == park.id).values(**values)
        ).rowcount
        if not found:
            self.session.execute(insert(orm.parks).values(park_id=park.id, **values))
        return not found

    def ids(self) -> list[str]:
        return list(self.session.scalars(select(orm.parks.c.park_id).order_by("park_id")))
