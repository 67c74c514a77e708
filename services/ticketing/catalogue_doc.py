"""The catalogue table of ``docs/ticketing.md``, generated from ``deploy/catalogue.yaml``.

The table sits between two marker lines in the doc; ``python -m
services.ticketing.catalogue_doc`` rewrites it after an edit of the catalogue, and
``--check`` exits 1 when the doc has drifted (a unit test asserts the same).
"""

from __future__ import annotations

import sys
from pathlib import Path

from services.ticketing.domain.catalogue import Catalogue, CatalogueEntry, FeePolicy, load_catalogue

REPO = Path(__file__).resolve().parents[2]
CATALOGUE_FILE = REPO / "deploy" / "catalogue.yaml"
DOC_FILE = REPO / "docs" / "ticketing.md"
BEGIN = (
    "<!-- catalogue table: generated from deploy/catalogue.yaml by "
    "`python -m services.ticketing.catalogue_doc`; do not edit by hand -->"
)
END = "<!-- end of the catalogue table -->"
_HEADER = (
    "| Code | 中文名 | English name | Centre | Firm kind: skills "
    "| SLA (business hours) | Fee | Notes |\n"
    "|---|---|---|---|---|---|---|---|"
)


def render_table(catalogue: Catalogue) -> str:
    """The markdown table of every service, in file order (active or not)."""
    return "\n".join([_HEADER, *(_row(entry) for entry in catalogue)])


def _row(entry: CatalogueEntry) -> str:
    notes = []
    if entry.opened_by is not None:
        notes.append(f"opened by `{entry.opened_by}`")
    if not entry.active:
        notes.append("inactive")
    cells = [
        f"`{entry.code}`",
        entry.name_zh,
        entry.name_en,
        f"{entry.centre.name_zh} `{entry.centre}`",
        f"`{entry.firm_kind}`: {', '.join(entry.skills)}",
        f"{entry.sla.first_response_hours} / {entry.sla.resolution_hours}",
        _fee(entry),
        "; ".join(notes),
    ]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _fee(entry: CatalogueEntry) -> str:
    if entry.fee.policy is FeePolicy.FIXED:
        yuan, fen = divmod(entry.fee.fee_fen, 100)
        return f"¥{yuan:,}.{fen:02d}"
    return str(entry.fee.policy)


def table_in_doc(doc: str) -> str | None:
    """The text between the markers (without them), or ``None`` when they are missing."""
    start, end = doc.find(BEGIN), doc.find(END)
    if start < 0 or end < start:
        return None
    return doc[start + len(BEGIN) : end].strip("\n")


def with_table(doc: str, table: str) -> str:
    """``doc`` with the text between the markers replaced by ``table``."""
    start, end = doc.find(BEGIN), doc.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the markers of the catalogue table are missing: {BEGIN!r}, {END!r}")
    return doc[: start + len(BEGIN)] + "\n" + table + "\n" + doc[end:]


def main(argv: list[str]) -> int:
    table = render_table(load_catalogue(CATALOGUE_FILE))
    doc = DOC_FILE.read_text(encoding="utf-8")
    if "--check" in argv:
        if table_in_doc(doc) != table:
            print(f"{DOC_FILE}: the catalogue table differs from {CATALOGUE_FILE}", file=sys.stderr)
            return 1
        return 0
    DOC_FILE.write_text(with_table(doc, table), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
