"""The park file (``deploy/parks/*.yaml``): the park's own description, then one section
per service (DESIGN §5, 一园一策), each validated by the service that owns it.

A park file's top level holds two kinds of key:

- the park's own description, shared by every service: ``park`` (id, name, district),
  ``prices_fen_per_m2``, ``buildings`` and the optional ``custom_units``; a service that
  needs them (onboarding, for its unit inventory) reads them with the rules it owns;
- one section per service, named after it: ``onboarding:`` and so on. This reader
  checks only that the section is a mapping and hands it to its owner, which validates
  it and alone reads it.

A top-level key that is neither is an error (a section nobody owns would otherwise be
ignored silently), as are repeated keys, each named with its file and line.

Section owners are named here, never imported: ``shared/`` knows no service. A service
that reads its section is listed in :data:`READ_SECTIONS`; :data:`DECLARED_SECTIONS`
holds the sections of services not built yet (none now): a park file
may already carry them, they are checked to be mappings, and nobody reads them yet. A
new service moves its name from the one to the other when it starts reading its section.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from shared.yaml_nodes import NodeReader

PARK_KEYS = ("park", "prices_fen_per_m2", "buildings")
OPTIONAL_PARK_KEYS = ("custom_units",)
READ_SECTIONS = ("onboarding", "ticketing", "billing", "buyback")
DECLARED_SECTIONS: tuple[str, ...] = ()
SECTIONS = READ_SECTIONS + DECLARED_SECTIONS
PARK_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


@dataclass(frozen=True)
class ParkFile:
    """A park file's top level, split into the park's description and service sections.

    Values are the YAML nodes, unvalidated: each reader checks what it owns, recording
    problems against the same lines.
    """

    description: Mapping[str, yaml.Node]
    sections: Mapping[str, yaml.Node]

    def section(self, service: str) -> yaml.Node | None:
        """The section ``service`` owns, or ``None`` when the file has none."""
        if service not in SECTIONS:
            raise KeyError(f"no park-file section is declared for {service!r}")
        return self.sections.get(service)


def read_park_file(reader: NodeReader, root: yaml.Node) -> ParkFile | None:
    """Split a park file's node tree; faults go to ``reader.problems``.

    Returns ``None`` when the top level is not a mapping. Missing park keys are reported
    here; whether a service's section is required is for that service to say.
    """
    keys = reader.mapping(
        root,
        "",
        PARK_KEYS,
        OPTIONAL_PARK_KEYS + SECTIONS,
        unknown=(
            "unknown section: no service owns it. The park's own keys are "
            f"{', '.join(PARK_KEYS + OPTIONAL_PARK_KEYS)}; each service reads the section "
            f"named after it ({', '.join(SECTIONS)})"
        ),
    )
    if keys is None:
        return None
    sections = {name: node for name, node in keys.items() if name in SECTIONS}
    for name in DECLARED_SECTIONS:  # nobody reads these yet: check their shape at least
        if name in sections and not isinstance(sections[name], yaml.MappingNode):
            reader.problem(sections[name], name, "must be a mapping")
    description = {key: node for key, node in keys.items() if key not in SECTIONS}
    return ParkFile(description=description, sections=sections)


@dataclass(frozen=True)
class ServiceSection:
    """What a service's reader starts from: the park id and its own section (or None)."""

    park_id: str | None
    node: yaml.Node | None


def read_service_section(
    reader: NodeReader, root: yaml.Node, service: str
) -> ServiceSection | None:
    """The park id and ``service``'s section of a park file; faults go to ``reader.problems``.

    Returns ``None`` when the file has no usable top level or no ``park:`` description;
    the park id is ``None`` when it is missing or invalid (already reported).
    """
    park_file = read_park_file(reader, root)
    if park_file is None or "park" not in park_file.description:
        return None
    header = reader.mapping(park_file.description["park"], "park", ["id"], ["name", "district"])
    park_id = reader.string(header["id"], "park.id", PARK_ID) if header and "id" in header else None
    return ServiceSection(park_id, park_file.section(service))
