from alembic import context

from services.ticketing.orm import metadata
from shared.migrate import run_migrations

run_migrations(context, metadata)
