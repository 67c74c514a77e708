"""The resident firms of a park: ``deploy/firms/<park>.yaml``, and its check against the
catalogue.

A firm does the work of the catalogue services of its kind whose skills it has. Its id
names its broker identity (user ``firm-<firm_id>``, queue ``firm.<firm_id>.work``,
routing key ``<firm_id>``), so it is short, lower-case and unique. Problems are collected,
each naming file, line and field. The format::

    park: aux-shangjie                  # the park these firms serve
    firms:
      - firm_id: zhengheng-law          # [a-z0-9-], ≤ 40 characters, starts and ends
                                        # with a letter or digit; unique
        name: 郑州上街正衡律师事务所      # unique
        kind: legal                     # legal | finance | accounting |
                                        # environmental_review | commerce | park
        skills: [labour_law, contract_review]   # at least one, each a skill tag
        capacity: 30                    # most open tickets at once, 1..10000
        contact:
          person: 周正
          phone: "0371-6812-0101"       # quoted: digits, spaces, hyphens, a leading +
          email: office@zhengheng-law.example   # optional

:func:`check_coverage` tells whether a directory can serve a catalogue: an active service
no firm of its kind can take (no firm has all its skills) is an error — its tickets would
wait unassigned for ever; a service only one firm can take is a warning — a decline
leaves nobody to reroute to. The park's own service centre (kind ``park``) is one firm
by design and never warned about.

:func:`load_firm_directories` reads every park's file of a directory; a firm id is
global (its broker user is), so the same id in two parks' files is an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

from services.ticketing.domain.catalogue import SKILL, Catalogue, CatalogueEntry, FirmKind
from shared.yaml_nodes import NodeReader, YamlFileError, compose

__all__ = [
    "MAX_CAPACITY",
    "Contact",
    "CoverageGap",
    "Firm",
    "FirmDirectory",
    "FirmDirectoryError",
    "FirmId",
    "Severity",
    "check_coverage",
    "load_firm_directories",
    "load_firm_directory",
    "parse_firm_directory",
]

_FIRM_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
_PARK_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_PHONE = re.compile(r"\+?[0-9][0-9 -]{4,23}[0-9]")
_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
MAX_CAPACITY = 10_000
_FIRM_KEYS = ("firm_id", "name", "kind", "skills", "capacity", "contact")


@dataclass(frozen=True, order=True)
class FirmId:
    """A firm's id, and the broker names derived from it."""

    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not _FIRM_ID.fullmatch(self.value):
            raise ValueError(
                f"firm id {self.value!r} must be 1-40 of [a-z0-9-], "
                "starting and ending with a letter or digit"
            )

    def __str__(self) -> str:
        return self.value

    @property
    def broker_user(self) -> str:
        return f"firm-{self.value}"

    @property
    def work_queue(self) -> str:
        return f"firm.{self.value}.work"

    @property
    def routing_key(self) -> str:
        return self.value


@dataclass(frozen=True)
class Contact:
    """Who at the firm the park and enterprises talk to."""

    person: str
    phone: str
    email: str | None = None


@dataclass(frozen=True)
class Firm:
    """A resident firm (or the park's service centre): what it can do and how much."""

    firm_id: FirmId
    name: str
    kind: FirmKind
    skills: frozenset[str]
    capacity: int
    contact: Contact

    def __post_init__(self) -> None:
        if not self.skills:
            raise ValueError(f"{self.firm_id}: a firm needs at least one skill")
        for skill in self.skills:
            if not SKILL.fullmatch(skill):
                raise ValueError(f"{self.firm_id}: skill {skill!r} does not match {SKILL.pattern}")
        if type(self.capacity) is not int or not 1 <= self.capacity <= MAX_CAPACITY:
            raise ValueError(f"{self.firm_id}: capacity must be in 1..{MAX_CAPACITY}")

    def can_take(self, entry: CatalogueEntry) -> bool:
        """Whether this firm is of the service's kind and has every skill it requires."""
        return self.kind is entry.firm_kind and self.skills.issuperset(entry.skills)


class FirmDirectory:
    """The firms of one park, in file order; firm ids and names are unique."""

    def __init__(self, park_id: str, firms: tuple[Firm, ...] | list[Firm]) -> None:
        self.park_id = park_id
        self._firms = tuple(firms)
        self._by_id: dict[FirmId, Firm] = {}
        for firm in self._firms:
            if firm.firm_id in self._by_id:
                raise ValueError(f"firm id {firm.firm_id} appears more than once")
            self._by_id[firm.firm_id] = firm

    def __iter__(self) -> Iterator[Firm]:
        return iter(self._firms)

    def __len__(self) -> int:
        return len(self._firms)

    def get(self, firm_id: FirmId | str) -> Firm | None:
        key = firm_id if isinstance(firm_id, FirmId) else _maybe_firm_id(firm_id)
        return self._by_id.get(key) if key is not None else None

    def of_kind(self, kind: FirmKind) -> tuple[Firm, ...]:
        return tuple(firm for firm in self._firms if firm.kind is kind)

    def able_to_take(self, entry: CatalogueEntry) -> tuple[Firm, ...]:
        """The firms that could take a ticket for ``entry`` (ignoring their load)."""
        return tuple(firm for firm in self._firms if firm.can_take(entry))


def _maybe_firm_id(text: str) -> FirmId | None:
    try:
        return FirmId(text)
    except ValueError:
        return None


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class CoverageGap:
    """A catalogue service the directory serves badly: nobody (error) or one firm (warning)."""

    severity: Severity
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.code}: {self.message}"


def check_coverage(catalogue: Catalogue, directory: FirmDirectory) -> list[CoverageGap]:
    """Every active service that no firm, or only one firm, of its kind can take."""
    gaps: list[CoverageGap] = []
    for entry in catalogue.active():
        able = directory.able_to_take(entry)
        if not able:
            of_kind = directory.of_kind(entry.firm_kind)
            offered = set().union(*(firm.skills for firm in of_kind))
            missing = sorted(set(entry.skills) - offered)
            if not of_kind:
                why = f"no {entry.firm_kind} firm in park {directory.park_id}"
            elif missing:
                why = f"no {entry.firm_kind} firm offers {', '.join(missing)}"
            else:
                why = f"no single {entry.firm_kind} firm offers all of {', '.join(entry.skills)}"
            gaps.append(CoverageGap(Severity.ERROR, entry.code, f"{why}: tickets would wait"))
        elif len(able) == 1 and entry.firm_kind is not FirmKind.PARK:
            gaps.append(
                CoverageGap(
                    Severity.WARNING,
                    entry.code,
                    f"only {able[0].firm_id} can take it: a decline leaves nobody to reroute to",
                )
            )
    return gaps


class FirmDirectoryError(YamlFileError):
    """A firms file is invalid; ``problems`` lists every fault with its line and field."""


def load_firm_directory(path: str | Path) -> FirmDirectory:
    """Read, validate and return the firms in the file at ``path``."""
    path = Path(path)
    return parse_firm_directory(path.read_text(encoding="utf-8"), source=str(path))


def load_firm_directories(directory: str | Path) -> dict[str, FirmDirectory]:
    """Every park's firms file in ``directory`` (``<park>.yaml``), keyed by park id.

    Raises ``ValueError`` listing the faults of every bad file together. So are: a
    directory without firms files; a file whose name is not its park's id; and a firm id
    used in two files — broker users are global, so a firm id names one firm everywhere.
    """
    paths = sorted(Path(directory).glob("*.yaml"))
    if not paths:  # a wrong FIRMS_DIR must not "load" nobody and succeed
        raise ValueError(f"{directory}: no firms files (*.yaml) there")
    directories: dict[str, FirmDirectory] = {}
    owners: dict[FirmId, Path] = {}
    errors: list[str] = []
    for path in paths:
        try:
            firms = load_firm_directory(path)
        except FirmDirectoryError as error:
            errors.append(str(error))
            continue
        if firms.park_id != path.stem:
            errors.append(
                f"{path}: serves park {firms.park_id!r}: name the file {firms.park_id}.yaml"
            )
            continue
        for firm in firms:
            if firm.firm_id in owners:
                errors.append(
                    f"{path}: firm id {firm.firm_id} is already used in {owners[firm.firm_id]} "
                    "(a firm id is its broker user: one firm everywhere)"
                )
            owners.setdefault(firm.firm_id, path)
        directories[firms.park_id] = firms
    if errors:
        raise ValueError("\n".join(errors))
    return directories


def parse_firm_directory(text: str, source: str = "<firms file>") -> FirmDirectory:
    """Validate the YAML ``text`` of a firms file; ``source`` names it in messages."""
    reader = _FirmsReader()
    directory = reader.directory(compose(text, source, FirmDirectoryError))
    if reader.problems or directory is None:
        raise FirmDirectoryError(source, reader.problems)
    return directory


class _FirmsReader(NodeReader):
    """The firms file; each method returns ``None`` when it recorded a fault."""

    def directory(self, root: yaml.Node) -> FirmDirectory | None:
        keys = self.mapping(root, "", ["park", "firms"])
        if keys is None:
            return None
        park_id = self.string(keys["park"], "park", _PARK_ID) if "park" in keys else None
        items = self.sequence(keys["firms"], "firms", min_items=1) if "firms" in keys else []
        firms = [self.firm(item, f"firms[{index}]") for index, item in enumerate(items)]
        ids: dict[FirmId, int] = {}
        names: dict[str, int] = {}
        for index, (item, firm) in enumerate(zip(items, firms, strict=True)):
            if firm is None:
                continue
            for seen, key, field in ((ids, firm.firm_id, "firm_id"), (names, firm.name, "name")):
                if key in seen:
                    self.problem(
                        item,
                        f"firms[{index}].{field}",
                        f"{key} is already used by firms[{seen[key]}]",
                    )
                seen.setdefault(key, index)
        if self.problems:
            return None
        return FirmDirectory(park_id, [firm for firm in firms if firm])

    def firm(self, node: yaml.Node, field: str) -> Firm | None:
        before = len(self.problems)
        keys = self.mapping(node, field, _FIRM_KEYS)
        if keys is None or self.faults_since(before):
            return None
        firm_id = self.string(keys["firm_id"], f"{field}.firm_id", _FIRM_ID)
        name = self.string(keys["name"], f"{field}.name")
        kind = self.kind(keys["kind"], f"{field}.kind")
        skills = self.skills(keys["skills"], f"{field}.skills")
        capacity = self.integer(keys["capacity"], f"{field}.capacity", 1, MAX_CAPACITY)
        contact = self.contact(keys["contact"], f"{field}.contact")
        if self.faults_since(before):
            return None
        return Firm(FirmId(firm_id), name.strip(), kind, skills, capacity, contact)

    def kind(self, node: yaml.Node, field: str) -> FirmKind | None:
        text = self.string(node, field)
        if text is None:
            return None
        try:
            return FirmKind(text)
        except ValueError:
            kinds = ", ".join(kind.value for kind in FirmKind)
            self.problem(node, field, f"{text!r} is not one of {kinds}")
            return None

    def skills(self, node: yaml.Node, field: str) -> frozenset[str] | None:
        before = len(self.problems)
        items = self.strings(node, field, min_items=1)
        for index, (item, skill) in enumerate(items):
            if not SKILL.fullmatch(skill):
                self.problem(item, f"{field}[{index}]", f"{skill!r} does not match {SKILL.pattern}")
        self.unique(items, field)
        return None if self.faults_since(before) else frozenset(skill for _, skill in items)

    def contact(self, node: yaml.Node, field: str) -> Contact | None:
        before = len(self.problems)
        keys = self.mapping(node, field, ["person", "phone"], ["email"])
        if keys is None or self.faults_since(before):
            return None
        person = self.string(keys["person"], f"{field}.person")
        phone = self.string(keys["phone"], f"{field}.phone", _PHONE)
        email = self.string(keys["email"], f"{field}.email", _EMAIL) if "email" in keys else None
        return None if self.faults_since(before) else Contact(person.strip(), phone, email)
