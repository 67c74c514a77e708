"""The ticketing domain model: standard library only, no nameko, no SQLAlchemy.

As in onboarding, time arrives as an aware UTC ``now`` argument, ids from an injected
factory and the business calendar as an injected collaborator, so tests control all
three; aggregates record what happened in their ``events`` list, which the service layer
writes to the outbox in the same transaction. One module per idea (import each from its
own module); the files the operator edits are read here too, through
``shared.yaml_nodes`` (errors name file, line and field), as onboarding reads its park
files:

- :mod:`.catalogue` — the "580" service catalogue (``deploy/catalogue.yaml``):
  :class:`~.catalogue.Catalogue`, :class:`~.catalogue.CatalogueEntry`, centres, firm
  kinds, SLAs, fees, and the services other flows open (``opened_by``);
- :mod:`.firm_directory` — a park's resident firms (``deploy/firms/<park>.yaml``):
  :class:`~.firm_directory.Firm`, :class:`~.firm_directory.FirmId` (and the broker
  names it gives), and :func:`~.firm_directory.check_coverage` against the catalogue;
- :mod:`.park_policy` — the park file's ``ticketing:`` section (business hours,
  auto-close delay, SLA warning ratio): :class:`~.park_policy.TicketingPolicy`;
- the ticket itself, its routing, its SLA clocks, events, reason codes and errors live
  in their own modules (:mod:`.tickets`, :mod:`.routing`, :mod:`.sla`, :mod:`.events`,
  :mod:`.reasons`, :mod:`.errors`).
"""
