"""What a nameko user writes today when a handler has a database (the nameko-examples /
nameko-sqlalchemy pattern): a SQLAlchemy session per worker, the state row, commit, then
``EventDispatcher``. No inbox, no outbox.

    nameko run --config bench.yaml bench.forwarders.nameko_db:NamekoDbForwarder

What it guarantees, and what it does not (``bench_items`` has no unique key on
``item_id``, as in project-pg, whose inbox makes one unnecessary):

* killed between the commit and the dispatch: the input was not acked yet, so the broker
  redelivers it and the row is **inserted twice** (then the event is dispatched once);
* a dispatch that fails after the commit (broker away, a publish error): the handler
  raises and nameko's ``event_handler`` acks the input anyway — the row is committed and
  the event is **lost**; ``EventDispatcher`` also publishes with ``mandatory=False``, so
  an event no queue is bound for vanishes without an error.

:class:`DatabaseSession` is nameko-sqlalchemy's (1.5.0) ``DatabaseSession`` (the same code),
rather than the package itself: the package installs with nameko 3.0.0rc11 and SQLAlchemy
2.1, but it registers a pytest plugin (``pytest11``) that every test run of this tree would
load — importing SQLAlchemy's ORM before the root ``conftest.py`` patches eventlet and
warning about ``pytest.yield_fixture`` in every run. One line is added, the
``psycogreen`` patch a nameko user on PostgreSQL needs (without it psycopg2 blocks every
greenthread of the process while it waits for the server).
"""

from datetime import UTC, datetime
from weakref import WeakKeyDictionary

from nameko.events import EventDispatcher, event_handler
from nameko.extensions import DependencyProvider
from sqlalchemy import create_engine, insert
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from bench.contract import GENERATOR_SOURCE, INPUT_TYPE, OUTPUT_TYPE
from bench.items import items_table
from bench.messages import forwarded_envelope

SERVICE = "namekodbfwd"
DB_URIS_KEY = "DB_URIS"  # nameko-sqlalchemy's config key: {"<service>:<Base>": url}


class Base(DeclarativeBase):
    """The service's declarative base (nameko-sqlalchemy keys its database URI by it)."""


items = items_table(Base.metadata)
RECORD_ITEM = insert(items)  # the same statement, with its values as parameters, as project-pg


class DatabaseSession(DependencyProvider):
    """A SQLAlchemy session per worker, closed when the worker ends (nameko-sqlalchemy)."""

    def __init__(self, declarative_base, session_options=None, engine_options=None):
        self.declarative_base = declarative_base
        self.sessions = WeakKeyDictionary()
        self.session_options = session_options or {}
        self.engine_options = engine_options or {}

    def setup(self):
        from psycogreen.eventlet import patch_psycopg  # the one line nameko-sqlalchemy lacks

        patch_psycopg()
        service_name = self.container.service_name
        decl_base_name = self.declarative_base.__name__
        uri_key = f"{service_name}:{decl_base_name}"
        db_uris = self.container.config[DB_URIS_KEY]
        self.db_uri = db_uris[uri_key].format(
            {"service_name": service_name, "declarative_base_name": decl_base_name}
        )
        self.engine = create_engine(self.db_uri, **self.engine_options)
        self.Session = sessionmaker(bind=self.engine, **self.session_options)

    def stop(self):
        self.engine.dispose()
        del self.engine

    def kill(self):
        self.engine.dispose()
        del self.engine

    def get_dependency(self, worker_ctx):
        session = self.Session()
        self.sessions[worker_ctx] = session
        return session

    def worker_teardown(self, worker_ctx):
        session = self.sessions.pop(worker_ctx)
        session.close()


class NamekoDbForwarder:
    """Records every ``benchgen`` ``work_requested``, commits, then dispatches it on."""

    name = SERVICE
    # A pool as large as nameko's 10 workers (SQLAlchemy's default is 5 + 10 overflow,
    # and an overflow connection is closed on return: a reconnect per event under load).
    db = DatabaseSession(Base, engine_options={"pool_size": 10})
    dispatch = EventDispatcher()

    @event_handler(GENERATOR_SOURCE, INPUT_TYPE)
    def on_work_requested(self, envelope):
        payload = envelope["payload"]
        self.db.execute(
            RECORD_ITEM,
            {
                "item_id": payload["item_id"],
                "seq": payload["seq"],
                "amount_fen": payload["amount_fen"],
                "recorded_at": datetime.now(UTC),
            },
        )
        self.db.commit()
        self.dispatch(OUTPUT_TYPE, forwarded_envelope(SERVICE, envelope))


INPUT_QUEUE = f"evt-{GENERATOR_SOURCE}-{INPUT_TYPE}--{SERVICE}.on_work_requested"
"""The queue nameko's ``event_handler`` declares for the handler above."""
