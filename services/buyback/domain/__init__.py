"""The buyback domain (十年回购): pure model, standard library only.

* :mod:`.window` — the ten-year window and park-local dates;
* :mod:`.reasons` — reason codes of a claim found ineligible or refused;
* :mod:`.holdings` — the projection of an enterprise's units and production start;
* :mod:`.eligibility` — whether a claim may be filed;
* :mod:`.claims` — the claim, a process manager: its states, steps and deadlines;
* :mod:`.claim_document` — a claim as the JSON document stored and shown;
* :mod:`.events` — the events a claim causes;
* :mod:`.exposure` — the park's potential buyback liability;
* :mod:`.policy` — the park file's ``buyback:`` section.
"""
