"""Bounds on numbers that the contract and the services' pure domains both check.

Standard library only, so a ``domain/`` package may import it (tests/unit/test_layering.py).
"""

#: The largest unit (m²) a park file or an event may give: a square kilometre, far beyond
#: any room or hall of a park, and within the 32-bit columns that keep a unit's area.
MAX_UNIT_AREA_M2 = 1_000_000
