"""The benchmark of the messaging core (``make bench``, ``python -m bench``).

The same one-hop workload — read an event, forward one event — runs through three
forwarders, each in its own OS process, on the same broker in one run:

* ``raw-pika``: pika alone, prefetch, persistent publishes with asynchronous publisher
  confirms, each input acked only after its output was confirmed;
* ``plain-nameko``: ``@event_handler`` + ``EventDispatcher``, no database;
* ``project-*``: ``@handle_event`` → inbox claim + one state row + outbox row in one
  transaction → the relay publishes with batched confirms (PostgreSQL and SQLite,
  classic queues; PostgreSQL on quorum queues; PostgreSQL with a 1M-row history).

See ``docs/performance.md`` for the method and the numbers.
"""
