"""The RPC argument schemas bound what the tables bound."""

import pytest

from services.onboarding import schemas
from services.onboarding.exceptions import InvalidRequest


def visit(**changes):
    arguments = {
        "enterprise_id": "ent-1",
        "officer_id": "cso-01",
        "visited_on": "2026-11-27",
        "note": "走访",
        "visit_id": None,
    }
    return schemas.load(schemas.ServiceVisit, **{**arguments, **changes})


def test_a_visit_id_longer_than_its_column_is_refused_by_name():
    assert visit(visit_id="v" * 64)["visit_id"] == "v" * 64
    with pytest.raises(InvalidRequest, match="visit_id"):
        visit(visit_id="v" * 65)
