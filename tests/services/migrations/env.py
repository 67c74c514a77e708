from alembic import context

from shared.tooling.migrate import run_migrations
from tests.services.recorder import metadata

run_migrations(context, metadata)
