"""Billing's migrations build exactly the tables ``orm.py`` describes, on both backends,
and come down again."""

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from services.billing import orm
from shared.db import normalise_url
from shared.tooling.migrate import alembic_config, upgrade

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_the_migrated_schema_is_the_orms(make_database_url, backend):
    url = make_database_url("billing_schema", backend)
    upgrade(url, MIGRATIONS)
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), orm.metadata) == []
        command.downgrade(alembic_config(url, MIGRATIONS), "0002")
        assert "invoices" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
