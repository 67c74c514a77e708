from pathlib import Path

import nameko
import pytest
from sqlalchemy import create_engine

from shared.db import normalise_url
from shared.messaging.declare import declare_topology
from shared.messaging.publisher import EventPublisher
from shared.messaging.topology import build_topology
from shared.tooling.migrate import upgrade
from tests.services import recorder

MIGRATIONS = Path(__file__).parents[1] / "services" / "migrations"
TEST_RETRY_DELAYS = (1, 2)


class RecorderWorld:
    """The alpha and beta test services on a fresh vhost and fresh databases.

    The services run as ``guest`` (nameko's ``rabbit_config`` user on this vhost); the
    declare step also provisions the broker users ``alpha``, ``beta``, ``probe`` and
    ``park-cli`` here, and ``test_identities.py`` runs the services as their own users.
    """

    def __init__(self, amqp_uri, make_database_url, container_factory, backend):
        self.amqp_uri = amqp_uri
        self.container_factory = container_factory
        self.topology = build_topology(
            recorder.SUBSCRIPTIONS,
            services=("alpha", "beta"),
            sources=("probe",),
            retry_delays=TEST_RETRY_DELAYS,
        )
        declare_topology(self.topology, amqp_uri)
        self.database_urls = {name: make_database_url(name, backend) for name in ("alpha", "beta")}
        for url in self.database_urls.values():
            upgrade(url, MIGRATIONS)
        self.config = {
            "DATABASES": self.database_urls,
            "RETRY_DELAYS": list(TEST_RETRY_DELAYS),
            "OUTBOX": {"poll_interval": 0.5},
            "LOG_LEVEL": "WARNING",
            # The broker user each test service runs as (nameko's rabbit_config user):
            # replay trusts only the letters that user wrote.
            "SERVICE_USERS": {"alpha": "guest", "beta": "guest"},
        }
        self.publisher = EventPublisher(amqp_uri, "probe")
        self._engines = {}

    def start(self, service_cls):
        container = self.container_factory(service_cls)
        container.start()
        return container

    def engine(self, service: str):
        if service not in self._engines:
            self._engines[service] = create_engine(normalise_url(self.database_urls[service]))
        return self._engines[service]

    def effects(self, service: str) -> dict[str, int]:
        with self.engine(service).connect() as connection:
            return recorder.effect_counts(connection)

    def close(self):
        self.publisher.close()
        for engine in self._engines.values():
            engine.dispose()


@pytest.fixture
def world(rabbit_config, make_database_url, container_factory, request):
    backend = getattr(request, "param", "postgresql")
    world = RecorderWorld(nameko.config["AMQP_URI"], make_database_url, container_factory, backend)
    recorder.failures.clear()
    with nameko.config.patch(world.config):
        yield world
    world.close()
