from alembic import context

from services.buyback.orm import metadata
from shared.tooling.migrate import run_migrations

run_migrations(context, metadata)
