"""SQLite is the default deployment: a commit that was acked must survive a power loss."""

from shared.db import Database

SYNCHRONOUS_FULL = 2  # PRAGMA synchronous reads back 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def test_every_sqlite_connection_commits_with_synchronous_full(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'durable.sqlite'}")
    try:
        for _ in range(2):  # a fresh connection each time, not just the first
            with database.engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == SYNCHRONOUS_FULL
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            database.engine.dispose()
    finally:
        database.dispose()
