"""Billing's pure domain: the money rules and the events, standard library only; dates,
times and ids are injected. There is no aggregate object: the use cases
(``services.billing.handlers``, plain functions over the unit of work) load the rows a
rule needs, apply the rule and store its result, so each rule is written once, here.

One idea per module:

- :mod:`.terms` — :class:`~.terms.BillingTerms`, the park policy values the model needs
  (the service adapts the park file's ``billing:`` section to it).
- :mod:`.vat` — charge categories and the VAT split of tax-inclusive totals.
- :mod:`.proration` — calendar months and by-day proration.
- :mod:`.charges` — what is owed: purchase schedule, rent, property fees, utilities
  (meter readings), paid services.
- :mod:`.invoices` — invoices, their numbers and states, credit lines.
- :mod:`.payments` — where a payment goes (allocation).
- :mod:`.late_fees` — 违约金 accrual, cap and waivers.
- :mod:`.ledger` — the accounts and balanced double-entry postings.
- :mod:`.buyback_netting` — what the park offsets against a buyback's gross price.
- :mod:`.events` — the domain events, and :func:`~.events.event_payload`.
- :mod:`.errors` — the domain's errors.
"""
