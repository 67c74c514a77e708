"""Event ids for the bench's inputs: random (UUID 4, what ``shared`` makes today) or
time-ordered (UUID 7), to measure what the id scheme does to a long history's indexes."""

import os
import time
import uuid
from collections.abc import Callable


def uuid4() -> str:
    return str(uuid.uuid4())


def uuid7() -> str:
    """RFC 9562 version 7: 48 bits of Unix milliseconds, then random bits. Ids made later
    sort later, so B-tree inserts land on the index's right edge instead of anywhere."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 4122 variant
    return str(uuid.UUID(int=value))


ID_SCHEMES: dict[str, Callable[[], str]] = {"uuid4": uuid4, "uuid7": uuid7}

# The same in SQL, for the history rows: a UUID 7 for the instant ``t``.
UUID7_SQL = (
    "(lpad(to_hex((extract(epoch FROM {t}) * 1000)::bigint), 12, '0') "
    "|| '7' || substr(md5(random()::text), 1, 3) "
    "|| substr('89ab', 1 + floor(random() * 4)::int, 1) || substr(md5(random()::text), 1, 15))"
)


def uuid7_sql(instant: str) -> str:
    """SQL text of a UUID 7 (canonical form) for the timestamp expression ``instant``."""
    hex32 = UUID7_SQL.format(t=instant)
    return (
        f"(substr({hex32}, 1, 8) || '-' || substr({hex32}, 9, 4) || '-' || "
        f"substr({hex32}, 13, 4) || '-' || substr({hex32}, 17, 4) || '-' || "
        f"substr({hex32}, 21, 12))"
    )
