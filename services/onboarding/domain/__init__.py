"""The onboarding domain model: pure — no nameko, no SQLAlchemy, no broker client.

It imports the standard library, PyYAML (for the park file, :mod:`.park_definition`),
``shared``'s pure modules (``shared.park_file`` and ``shared.yaml_nodes`` to read the
park file, ``shared.payloads`` for event payloads) and itself — never the layers above
it (handlers, repository, orm, service, unit of work); see ``services/README.md``,
checked by ``tests/unit/test_layering.py``. Time arrives as an aware UTC ``now``
argument, ids from an injected factory, and the business calendar as a
``deadline_for(now, business_days)`` callable, so tests control all three. Aggregates
record what happened in their ``events`` list; the service layer writes those to the
outbox in the same transaction.

The model lives in one module per idea (import each from its own module):

- :mod:`.units` — :class:`Unit` (available → reserved → sold/leased), all-or-nothing
  :func:`reserve_units`;
- :mod:`.submissions` — :class:`Submission` and :func:`check_submission`, the value rules;
- :mod:`.applications` — :class:`Application`: receipt, joint review,
  accept-with-deficiencies deadlines, admission; with :mod:`.deficiencies` (the items
  owed) and :mod:`.admission` (enterprise creation, officer, unit allocation);
- :mod:`.enterprises` — :class:`Enterprise` after admission, and
  :func:`assign_chief_service_officer`;
- :mod:`.events`, :mod:`.reasons`, :mod:`.errors` — what the model records, the reason
  codes it gives, and the errors it raises.
"""
