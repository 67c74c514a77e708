"""Tables of the ticketing service (its own database; no other service reads them)."""

from sqlalchemy import MetaData

from shared.messaging.tables import add_messaging_tables

metadata = MetaData()
messaging = add_messaging_tables(metadata)
