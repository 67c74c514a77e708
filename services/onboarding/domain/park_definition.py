"""Load and validate park definition files (``deploy/parks/*.yaml``).

One park per file. Every problem is collected, not just the first, and each names the
file, the line and the field (``aux-shangjie.yaml:14: buildings[0].floors: …``), so an
operator fixes a file in one pass. The file's top level is split by
:mod:`shared.park_file`: the park's own description (``park``, ``prices_fen_per_m2``,
``buildings``, ``custom_units``), which every service may read and onboarding turns into
its unit inventory, then one section per service; onboarding's rules (一园一策) are its
``onboarding:`` section, which this module alone validates. The format::

    park:                       # all ids and names are strings
      id: aux-shangjie          # lower-case letters, digits, hyphens
      name: 奥克斯智造产业城
      district: 上街区
    prices_fen_per_m2:          # strict integers in fen (1 CNY = 100 fen); 12.5 or "12" fail
      purchase: 320000          # purchase price per m²            (≥ 1)
      monthly_rent: 1500        # rent per m² per month            (≥ 1)
      monthly_property_fee: 150 # property fee per m² per month    (≥ 0)
    buildings:                  # standard buildings, unit ids B07-2F-03
      - ids: B01..B18           # a range, or `id: B19` for one building
        floors: 4               # uniform: floors × rooms_per_floor rooms of room_area_m2 …
        rooms_per_floor: 6
        room_area_m2: 300
      - id: B19                 # … or explicit: one list of room areas per floor, 1F first
        rooms_by_floor: [[500, 500], [300, 300, 400]]
    custom_units:               # optional: custom single-storey factories, unit ids S01
      - ids: S01..S08
        area_m2: 1000
    onboarding:                 # onboarding's policy (一园一策)
      industries: {allow: [C], deny: [C2511]}   # GB/T 4754 prefixes; deny wins
      environmental_review: [C26, C33]          # optional: prefixes that need 环评
      required_documents: [营业执照, 法人身份证]
      deficiency_deadline_business_days: 10     # 容缺 deadline (≥ 1)
      review_time_limit_business_days: 20       # optional: 审批时限 (≥ 1), default 20
      lease_terms_months: [12, 24, 36, 60]      # optional: strictly increasing, default as shown
      departments:                              # joint review (联审), at least one
        - {id: market_regulation, name: 市场监管}
      chief_service_officers:                   # at least one
        - {id: cso-01, name: 王敏}
    # ticketing:, billing:, buyback: are accepted (see shared.park_file) and not read here.

Unknown keys are errors (a misspelt optional key would otherwise vanish silently), and so
are repeated keys, which PyYAML would otherwise let the last one win. Building ids are
``B`` + two digits, custom unit ids ``S`` + two digits, each unique within the park.

Every string fits where it is stored (``services/onboarding/orm.py``): the park id and the
chief service officers' ids at most :data:`ID_MAX_LENGTH` (64) characters — the
``String(64)`` of ``park_id``, ``chief_service_officer`` and ``officer_id`` — and the park
name at most :data:`NAME_MAX_LENGTH` (200), the ``String(200)`` of ``parks.name``. The
strings with no column of their own (department ids, the district, department and
officer names, document names: kept in the stored park file and in JSON documents) take
the same bounds, ids 64 and names 200. Unit ids (``B07-2F-03``, at most ten characters)
and building ids are bounded by their form (two digits each) well within their
``String(32)`` and ``String(16)``. A longer value is a problem with its line and field,
never a database error at ``parks load`` (PostgreSQL) or a silent store (SQLite).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml

from services.onboarding.domain.industries import (
    IndustryPrefixes,
    IndustryRules,
    UnknownIndustryCode,
)
from services.onboarding.domain.park import (
    AdmissionPolicy,
    Building,
    ChiefServiceOfficer,
    CustomUnit,
    Department,
    ParkDefinition,
    Prices,
    normalise_document_name,
)
from shared.limits import MAX_UNIT_AREA_M2
from shared.park_file import read_park_file
from shared.yaml_nodes import NodeReader, YamlFileError, compose

__all__ = [
    "SECTION",
    "ParkDefinitionError",
    "load_park_definition",
    "load_park_definitions",
    "parse_park_definition",
]

SECTION = "onboarding"  # this service's section of the park file (shared.park_file)
_PARK_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_ENTRY_ID = re.compile(r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?")
_MAX_FLOORS = _MAX_ROOMS = 99  # unit ids spell floors and rooms with at most two digits
ID_MAX_LENGTH = 64  # park id, officer and department ids: the String(64) id columns
NAME_MAX_LENGTH = 200  # park name (parks.name String(200)), other names, document names
_UNIFORM = ("floors", "rooms_per_floor", "room_area_m2")
_POLICY_KEYS = (
    "industries",
    "required_documents",
    "departments",
    "deficiency_deadline_business_days",
    "chief_service_officers",
)

_OPTIONAL_POLICY_KEYS = (
    "environmental_review",
    "review_time_limit_business_days",
    "lease_terms_months",
)

Entry = TypeVar("Entry", Department, ChiefServiceOfficer)


class ParkDefinitionError(YamlFileError):
    """A park file is invalid; ``problems`` lists every fault with its line and field."""


def load_park_definition(path: str | Path) -> ParkDefinition:
    """Read, validate and return the park defined in the file at ``path``."""
    path = Path(path)
    return parse_park_definition(path.read_text(encoding="utf-8"), source=str(path))


def load_park_definitions(directory: str | Path) -> dict[str, ParkDefinition]:
    """Load every ``*.yaml`` park file in ``directory``, keyed by park id.

    Raises ``ValueError`` listing the faults of every bad file together; two files that
    define the same park id is itself a fault, reported against the later file, and so is
    a directory with no park file at all.
    """
    paths = sorted(Path(directory).glob("*.yaml"))
    if not paths:  # a wrong PARKS_DIR must not "load" nothing and succeed
        raise ValueError(f"{directory}: no park files (*.yaml) there")
    parks: dict[str, ParkDefinition] = {}
    errors: list[str] = []
    for path in paths:
        try:
            park = load_park_definition(path)
        except ParkDefinitionError as error:
            errors.append(str(error))
            continue
        if park.id in parks:
            errors.append(
                f"{path}: park id {park.id!r} is already defined in {parks[park.id].source}"
            )
        else:
            parks[park.id] = park
    if errors:
        raise ValueError("\n".join(errors))
    return parks


def parse_park_definition(text: str, source: str = "<park file>") -> ParkDefinition:
    """Validate the YAML ``text`` of one park file; ``source`` names it in messages."""
    reader = _ParkReader()
    park = reader.park(compose(text, source, ParkDefinitionError), source)
    if reader.problems or park is None:
        raise ParkDefinitionError(source, reader.problems)
    return park


class _ParkReader(NodeReader):
    """The park file's sections; each returns ``None`` when it recorded a fault."""

    def park(self, root: yaml.Node, source: str) -> ParkDefinition | None:
        park_file = read_park_file(self, root)
        if park_file is None:
            return None
        top = park_file.description
        if park_file.section(SECTION) is None:
            self.problem(root, SECTION, "is required")
        header = (
            self.mapping(top["park"], "park", ["id", "name", "district"]) if "park" in top else {}
        )
        park_id = self._optional(header, "id", lambda n: self.id(n, "park.id", _PARK_ID))
        name = self._optional(header, "name", lambda n: self.name(n, "park.name"))
        district = self._optional(header, "district", lambda n: self.name(n, "park.district"))
        prices = self._optional(top, "prices_fen_per_m2", self.prices)
        buildings = self._optional(top, "buildings", self.buildings)
        custom_units = self._optional(top, "custom_units", self.custom_units) or ()
        policy = self._optional(park_file.sections, SECTION, self.policy)
        if self.problems:
            return None
        return ParkDefinition(
            id=park_id,
            name=name,
            district=district,
            buildings=buildings,
            custom_units=custom_units,
            prices=prices,
            policy=policy,
            source=source,
        )

    def area(self, node: yaml.Node, field: str) -> int | None:
        """A unit's area in m², from 1 to :data:`~shared.limits.MAX_UNIT_AREA_M2`."""
        return self.integer(node, field, 1, MAX_UNIT_AREA_M2)

    def id(self, node: yaml.Node, field: str, pattern: re.Pattern[str]) -> str | None:
        return self.fits(node, field, self.string(node, field, pattern), ID_MAX_LENGTH)

    def name(self, node: yaml.Node, field: str) -> str | None:
        return self.fits(node, field, self.string(node, field), NAME_MAX_LENGTH)

    def fits(self, node: yaml.Node, field: str, value: str | None, limit: int) -> str | None:
        """``value`` if it is at most ``limit`` characters long (a column's width)."""
        if value is not None and len(value) > limit:
            self.problem(node, field, f"must be at most {limit} characters, not {len(value)}")
            return None
        return value

    @staticmethod
    def _optional(keys: dict[str, yaml.Node] | None, key: str, read: Callable[[yaml.Node], object]):
        # A missing required key was already reported by `mapping`; skip it here.
        return read(keys[key]) if keys and key in keys else None

    def prices(self, node: yaml.Node) -> Prices | None:
        field = "prices_fen_per_m2"
        before = len(self.problems)
        keys = self.mapping(node, field, ["purchase", "monthly_rent", "monthly_property_fee"])
        if keys is None or self.faults_since(before):
            return None
        purchase = self.integer(keys["purchase"], f"{field}.purchase", 1)
        rent = self.integer(keys["monthly_rent"], f"{field}.monthly_rent", 1)
        fee = self.integer(keys["monthly_property_fee"], f"{field}.monthly_property_fee", 0)
        return None if self.faults_since(before) else Prices(purchase, rent, fee)

    def ids(self, entry: dict[str, yaml.Node], node: yaml.Node, field: str, letter: str):
        """The ids of a building or custom-unit entry: ``id: B07`` or ``ids: B01..B18``."""
        if ("id" in entry) == ("ids" in entry):
            self.problem(
                node, field, f"needs exactly one of id ({letter}07) or ids ({letter}01..{letter}08)"
            )
            return []
        if "id" in entry:
            value = self.string(entry["id"], f"{field}.id", re.compile(rf"{letter}[0-9]{{2}}"))
            return [(entry["id"], value)] if value else []
        text = self.string(entry["ids"], f"{field}.ids")
        if text is None:
            return []
        bounds = re.fullmatch(rf"{letter}([0-9]{{2}})\.\.{letter}([0-9]{{2}})", text)
        if not bounds or not 0 < int(bounds[1]) <= int(bounds[2]):
            self.problem(
                entry["ids"], f"{field}.ids", f"{text!r} is not a range like {letter}01..{letter}08"
            )
            return []
        numbers = range(int(bounds[1]), int(bounds[2]) + 1)
        return [(entry["ids"], f"{letter}{number:02d}") for number in numbers]

    def buildings(self, node: yaml.Node) -> tuple[Building, ...]:
        buildings: list[Building] = []
        all_ids: list[tuple[yaml.Node, str]] = []
        for index, item in enumerate(self.sequence(node, "buildings", min_items=1)):
            field = f"buildings[{index}]"
            entry = self.mapping(item, field, [], ["id", "ids", "rooms_by_floor", *_UNIFORM])
            if entry is None:
                continue
            ids = self.ids(entry, item, field, "B")
            all_ids += ids
            rooms_by_floor = self.building_rooms(entry, item, field)
            if rooms_by_floor is not None:
                buildings += [Building(building_id, rooms_by_floor) for _, building_id in ids]
        self.unique(all_ids, "buildings")
        return tuple(buildings)

    def building_rooms(self, entry: dict[str, yaml.Node], node: yaml.Node, field: str):
        """Room areas per floor, from the uniform keys or an explicit ``rooms_by_floor``."""
        uniform = [key for key in _UNIFORM if key in entry]
        if "rooms_by_floor" in entry:
            if uniform:
                self.problem(node, field, f"give rooms_by_floor or {', '.join(_UNIFORM)}, not both")
                return None
            return self.rooms_by_floor(entry["rooms_by_floor"], f"{field}.rooms_by_floor")
        if len(uniform) < len(_UNIFORM):
            self.problem(node, field, f"needs {', '.join(_UNIFORM)} (or rooms_by_floor)")
            return None
        before = len(self.problems)
        floors = self.integer(entry["floors"], f"{field}.floors", 1, _MAX_FLOORS)
        rooms = self.integer(entry["rooms_per_floor"], f"{field}.rooms_per_floor", 1, _MAX_ROOMS)
        area = self.area(entry["room_area_m2"], f"{field}.room_area_m2")
        if self.faults_since(before):
            return None
        return Building.uniform("", floors, rooms, area).rooms_by_floor

    def rooms_by_floor(self, node: yaml.Node, field: str) -> tuple[tuple[int, ...], ...] | None:
        before = len(self.problems)
        floors = []
        floor_nodes = self.sequence(node, field, min_items=1)
        if len(floor_nodes) > _MAX_FLOORS:
            self.problem(node, field, f"at most {_MAX_FLOORS} floors")
        for number, floor_node in enumerate(floor_nodes):
            room_nodes = self.sequence(floor_node, f"{field}[{number}]", min_items=1)
            if len(room_nodes) > _MAX_ROOMS:
                self.problem(floor_node, f"{field}[{number}]", f"at most {_MAX_ROOMS} rooms")
            areas = [
                self.area(room, f"{field}[{number}][{index}]")
                for index, room in enumerate(room_nodes)
            ]
            floors.append(tuple(areas))
        return None if self.faults_since(before) else tuple(floors)

    def custom_units(self, node: yaml.Node) -> tuple[CustomUnit, ...]:
        units: list[CustomUnit] = []
        all_ids: list[tuple[yaml.Node, str]] = []
        for index, item in enumerate(self.sequence(node, "custom_units")):
            field = f"custom_units[{index}]"
            entry = self.mapping(item, field, ["area_m2"], ["id", "ids"])
            if entry is None:
                continue
            ids = self.ids(entry, item, field, "S")
            all_ids += ids
            area = self._optional(entry, "area_m2", lambda n, f=field: self.area(n, f"{f}.area_m2"))
            if area is not None:
                units += [CustomUnit(unit_id, area) for _, unit_id in ids]
        self.unique(all_ids, "custom_units")
        return tuple(units)

    def policy(self, node: yaml.Node) -> AdmissionPolicy | None:
        before = len(self.problems)
        keys = self.mapping(node, SECTION, _POLICY_KEYS, _OPTIONAL_POLICY_KEYS)
        if keys is None:
            return None
        industries = self._optional(keys, "industries", self.industry_rules)
        review = self.prefixes(keys.get("environmental_review"), f"{SECTION}.environmental_review")
        documents = self._optional(keys, "required_documents", self.documents) or ()
        days = self._optional(
            keys,
            "deficiency_deadline_business_days",
            lambda n: self.integer(n, f"{SECTION}.deficiency_deadline_business_days", 1),
        )
        departments = self._optional(
            keys, "departments", lambda n: self.roster(n, f"{SECTION}.departments", Department)
        )
        officers = self._optional(
            keys,
            "chief_service_officers",
            lambda n: self.roster(n, f"{SECTION}.chief_service_officers", ChiefServiceOfficer),
        )
        time_limit = self._optional(
            keys,
            "review_time_limit_business_days",
            lambda n: self.integer(n, f"{SECTION}.review_time_limit_business_days", 1),
        )
        terms = self._optional(keys, "lease_terms_months", self.lease_terms)
        if self.faults_since(before):
            return None
        defaults = {}
        if time_limit is not None:
            defaults["review_time_limit_business_days"] = time_limit
        if terms is not None:
            defaults["lease_terms_months"] = terms
        return AdmissionPolicy(
            industries=industries,
            required_documents=documents,
            departments=departments,
            deficiency_deadline_business_days=days,
            environmental_review=review,
            chief_service_officers=officers,
            **defaults,
        )

    def lease_terms(self, node: yaml.Node) -> tuple[int, ...] | None:
        """Lease terms in months: positive integers, at least one, strictly increasing."""
        field = f"{SECTION}.lease_terms_months"
        before = len(self.problems)
        items = self.sequence(node, field, min_items=1)
        terms = [self.integer(item, f"{field}[{i}]", 1) for i, item in enumerate(items)]
        for index in range(1, len(terms)):
            previous, term = terms[index - 1], terms[index]
            if previous is not None and term is not None and term <= previous:
                self.problem(
                    items[index], f"{field}[{index}]", f"must be more than {previous} (terms rise)"
                )
        return None if self.faults_since(before) else tuple(terms)

    def documents(self, node: yaml.Node) -> tuple[str, ...]:
        field = f"{SECTION}.required_documents"
        items = [
            (item, value)
            for index, (item, value) in enumerate(self.strings(node, field))
            if self.fits(item, f"{field}[{index}]", value, NAME_MAX_LENGTH) is not None
        ]
        # Compared as the domain compares them, so 身份证（正反面） and 身份证(正反面) clash here.
        self.unique(items, f"{SECTION}.required_documents", normalise_document_name)
        return tuple(value for _, value in items)

    def industry_rules(self, node: yaml.Node) -> IndustryRules | None:
        before = len(self.problems)
        keys = self.mapping(node, f"{SECTION}.industries", ["allow"], ["deny"])
        if keys is None or "allow" not in keys:
            return None
        allow = self.prefixes(keys["allow"], f"{SECTION}.industries.allow", min_items=1)
        deny = self.prefixes(keys.get("deny"), f"{SECTION}.industries.deny")
        return None if self.faults_since(before) else IndustryRules(allow.prefixes, deny.prefixes)

    def prefixes(
        self, node: yaml.Node | None, field: str, *, min_items: int = 0
    ) -> IndustryPrefixes | None:
        if node is None:
            return IndustryPrefixes()
        before = len(self.problems)
        items = self.strings(node, field, min_items=min_items)
        for index, (item_node, text) in enumerate(items):
            try:
                IndustryPrefixes((text,))
            except UnknownIndustryCode as error:
                self.problem(item_node, f"{field}[{index}]", str(error))
        self.unique(items, field)
        return None if self.faults_since(before) else IndustryPrefixes(tuple(t for _, t in items))

    def roster(self, node: yaml.Node, field: str, kind: Callable[[str, str], Entry]):
        """A list of ``{id, name}`` entries: departments or chief service officers."""
        before = len(self.problems)
        entries: list[Entry] = []
        ids: list[tuple[yaml.Node, str]] = []
        for index, item in enumerate(self.sequence(node, field, min_items=1)):
            keys = self.mapping(item, f"{field}[{index}]", ["id", "name"])
            if keys is None or len(keys) < 2:
                continue
            entry_id = self.id(keys["id"], f"{field}[{index}].id", _ENTRY_ID)
            name = self.name(keys["name"], f"{field}[{index}].name")
            if entry_id and name:
                entries.append(kind(entry_id, name))
                ids.append((keys["id"], entry_id))
        self.unique(ids, field)
        return None if self.faults_since(before) else tuple(entries)
