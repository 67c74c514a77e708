"""Alembic, per service: each service folder has ``migrations/`` whose ``env.py`` calls
:func:`run_migrations` with the service's metadata; :func:`upgrade` runs them."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

from shared.db import make_engine


def alembic_config(database_url: str, script_location: str | Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    # Passed as an attribute, not an option: configparser would choke on '%' in a URL.
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, script_location: str | Path, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url, script_location), revision)


def run_migrations(context, metadata: MetaData) -> None:
    """The body of every service's ``migrations/env.py``."""
    url = context.config.attributes["database_url"]
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=engine.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        engine.dispose()
