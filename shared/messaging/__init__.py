"""The messaging core: topology and its declare step, the consumer entrypoint, the unit
of work, the outbox and its relay, dead letters, the publisher, the AMQP and management
clients."""
