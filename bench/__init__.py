"""The benchmark of the messaging core (``make bench``, ``python -m bench``).

The same one-hop workload — read an event, forward one event — runs through several
forwarders, each in its own OS process, on the same broker in one run:

* ``raw-pika``: pika alone, prefetch, persistent publishes with asynchronous publisher
  confirms, each input acked only after its output was confirmed;
* ``plain-nameko``: ``@event_handler`` + ``EventDispatcher``, no database;
* ``nameko-db``: the same with a SQLAlchemy session per worker, the state row, commit,
  then dispatch (PostgreSQL; no inbox, no outbox);
* ``faststream`` / ``faststream-db``: a FastStream subscriber that publishes, without and
  with the state row through asyncpg (an asyncio process: never imported by nameko code);
* ``project-*``: ``@handle_event`` → inbox claim + one state row + outbox row in one
  transaction → the relay publishes with batched confirms (PostgreSQL and SQLite,
  classic queues; PostgreSQL on quorum queues; PostgreSQL with a 1M-row history).

The rows are entries of ``bench.rows.ROWS``. See ``docs/performance.md`` for the method and
the numbers.
"""
