"""The service catalogue (the park's "580" system): ``deploy/catalogue.yaml``.

Every service an enterprise may ask for, which centre of the park offers it, which kind
of resident firm does the work with which skills, its SLA in business hours and its fee.
Problems are collected, not just the first, each naming file, line and field
(``catalogue.yaml:41: services[3].sla.resolution_hours: …``). The format::

    services:
      - code: LEGAL-01              # stable: upper-case prefix, hyphen, two digits; unique
        name_zh: 劳动合同审查
        name_en: Employment contract review
        centre: enterprise_service  # commercial | enterprise_service | exhibition |
                                    # conference | investment_promotion
        firm_kind: legal            # legal | finance | accounting | environmental_review |
                                    # commerce | park (the park's own service centre)
        skills: [labour_law]        # at least one; a firm needs all of them to take it
        sla: {first_response_hours: 4, resolution_hours: 24}  # business hours, ≥ 1,
                                    # first response ≤ resolution
        fee: free                   # free | quoted (the firm quotes it) | {fee_fen: 50000}
        opened_by: buyback_legal_review   # optional: a flow, not an enterprise, opens it
        active: true                # optional, default true

``opened_by`` marks the services other flows open, so the ticketing service finds them
by role and never by code: ``buyback_legal_review`` and ``buyback_finance_review`` (a
buyback claim's reviews, free to the enterprise, done by a legal and a finance firm) and
``admission_environmental_review`` (环评 after admission, done by an environmental-review
firm). Each role is on exactly one entry, which must be active.

Unknown and repeated keys are errors, as in the park files. This module reads YAML
through :mod:`shared.yaml_nodes` and is otherwise standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

from shared.yaml_nodes import NodeReader, YamlFileError, compose

__all__ = [
    "MAX_SLA_HOURS",
    "Catalogue",
    "CatalogueEntry",
    "CatalogueError",
    "Centre",
    "Fee",
    "FeePolicy",
    "FirmKind",
    "OpenedBy",
    "Sla",
    "load_catalogue",
    "parse_catalogue",
]

CODE = re.compile(r"[A-Z]{2,8}-[0-9]{2}")
SKILL = re.compile(r"[a-z][a-z0-9_]{0,39}")
#: 250 working days of 8 hours: beyond that an SLA is a typo, not a promise.
MAX_SLA_HOURS = 2000
_ENTRY_KEYS = ("code", "name_zh", "name_en", "centre", "firm_kind", "skills", "sla", "fee")
_OPTIONAL_ENTRY_KEYS = ("opened_by", "active")


class Centre(StrEnum):
    """The five centres of the park that offer services (the "5" of "580")."""

    COMMERCIAL = "commercial"
    ENTERPRISE_SERVICE = "enterprise_service"
    EXHIBITION = "exhibition"
    CONFERENCE = "conference"
    INVESTMENT_PROMOTION = "investment_promotion"

    @property
    def name_zh(self) -> str:
        return _CENTRE_NAMES_ZH[self]


_CENTRE_NAMES_ZH = {
    Centre.COMMERCIAL: "商务中心",
    Centre.ENTERPRISE_SERVICE: "企业服务中心",
    Centre.EXHIBITION: "展示中心",
    Centre.CONFERENCE: "会议中心",
    Centre.INVESTMENT_PROMOTION: "招商中心",
}


class FirmKind(StrEnum):
    """Who does the work: a kind of resident firm, or the park's own service centre."""

    LEGAL = "legal"
    FINANCE = "finance"
    ACCOUNTING = "accounting"
    ENVIRONMENTAL_REVIEW = "environmental_review"
    COMMERCE = "commerce"
    PARK = "park"


class OpenedBy(StrEnum):
    """A flow that opens tickets for a catalogue service itself (not an enterprise)."""

    BUYBACK_LEGAL_REVIEW = "buyback_legal_review"
    BUYBACK_FINANCE_REVIEW = "buyback_finance_review"
    ADMISSION_ENVIRONMENTAL_REVIEW = "admission_environmental_review"

    @property
    def firm_kind(self) -> FirmKind:
        """The kind of firm the flow needs: a legal review goes to a law firm, and so on."""
        return _ROLE_KINDS[self]

    @property
    def free(self) -> bool:
        """Buyback reviews are free to the enterprise (the park asks for them)."""
        return self in (OpenedBy.BUYBACK_LEGAL_REVIEW, OpenedBy.BUYBACK_FINANCE_REVIEW)


_ROLE_KINDS = {
    OpenedBy.BUYBACK_LEGAL_REVIEW: FirmKind.LEGAL,
    OpenedBy.BUYBACK_FINANCE_REVIEW: FirmKind.FINANCE,
    OpenedBy.ADMISSION_ENVIRONMENTAL_REVIEW: FirmKind.ENVIRONMENTAL_REVIEW,
}


class FeePolicy(StrEnum):
    """How a service is charged: not at all, a fixed amount, or as the firm quotes."""

    FREE = "free"
    FIXED = "fixed"
    QUOTED = "quoted"


@dataclass(frozen=True)
class Fee:
    """A service's fee: ``fee_fen`` (strictly positive fen) is set for a fixed fee only."""

    policy: FeePolicy
    fee_fen: int | None = None

    def __post_init__(self) -> None:
        if self.policy is FeePolicy.FIXED:
            if type(self.fee_fen) is not int or self.fee_fen < 1:
                raise ValueError(f"a fixed fee needs fee_fen ≥ 1, not {self.fee_fen!r}")
        elif self.fee_fen is not None:
            raise ValueError(f"a {self.policy} fee has no fee_fen")

    @classmethod
    def free(cls) -> Fee:
        return cls(FeePolicy.FREE)

    @classmethod
    def quoted(cls) -> Fee:
        return cls(FeePolicy.QUOTED)

    @classmethod
    def fixed(cls, fee_fen: int) -> Fee:
        return cls(FeePolicy.FIXED, fee_fen)


@dataclass(frozen=True)
class Sla:
    """First-response and resolution targets, in business hours from the ticket's opening."""

    first_response_hours: int
    resolution_hours: int

    def __post_init__(self) -> None:
        for name in ("first_response_hours", "resolution_hours"):
            hours = getattr(self, name)
            if type(hours) is not int or not 1 <= hours <= MAX_SLA_HOURS:
                raise ValueError(f"{name} must be an integer in 1..{MAX_SLA_HOURS}, not {hours!r}")
        if self.first_response_hours > self.resolution_hours:
            raise ValueError("the first response cannot be due after the resolution")


@dataclass(frozen=True)
class CatalogueEntry:
    """One service of the catalogue."""

    code: str
    name_zh: str
    name_en: str
    centre: Centre
    firm_kind: FirmKind
    skills: tuple[str, ...]
    sla: Sla
    fee: Fee
    opened_by: OpenedBy | None = None
    active: bool = True

    def __post_init__(self) -> None:
        if not CODE.fullmatch(self.code):
            raise ValueError(f"service code {self.code!r} does not match {CODE.pattern}")
        if not self.skills:
            raise ValueError(f"{self.code}: a service needs at least one skill")
        for skill in self.skills:
            if not SKILL.fullmatch(skill):
                raise ValueError(f"{self.code}: skill {skill!r} does not match {SKILL.pattern}")
        if len(set(self.skills)) != len(self.skills):
            raise ValueError(f"{self.code}: a skill is listed twice")
        if self.opened_by is not None:
            problem = _role_problem(self.opened_by, self.firm_kind, self.fee, self.active)
            if problem:
                raise ValueError(f"{self.code}: {problem}")


def _role_problem(role: OpenedBy, kind: FirmKind, fee: Fee, active: bool) -> str | None:
    """Why an entry cannot carry ``role``, or ``None`` when it can."""
    if kind is not role.firm_kind:
        return f"{role} is done by a {role.firm_kind} firm, not {kind}"
    if role.free and fee.policy is not FeePolicy.FREE:
        return f"{role} is free to the enterprise: fee must be free"
    if not active:
        return f"{role} is opened by a flow and cannot be inactive"
    return None


class Catalogue:
    """The services, in file order: look up by code or by the flow that opens them."""

    def __init__(self, entries: tuple[CatalogueEntry, ...] | list[CatalogueEntry]) -> None:
        self._entries = tuple(entries)
        self._by_code: dict[str, CatalogueEntry] = {}
        self._by_role: dict[OpenedBy, CatalogueEntry] = {}
        for entry in self._entries:
            if entry.code in self._by_code:
                raise ValueError(f"service code {entry.code} appears more than once")
            self._by_code[entry.code] = entry
            if entry.opened_by is not None:
                if entry.opened_by in self._by_role:
                    raise ValueError(f"opened_by {entry.opened_by} is on more than one service")
                self._by_role[entry.opened_by] = entry
        missing = [role.value for role in OpenedBy if role not in self._by_role]
        if missing:
            raise ValueError(f"no service is opened by {', '.join(missing)}")

    def __iter__(self) -> Iterator[CatalogueEntry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def get(self, code: str) -> CatalogueEntry | None:
        """The service with ``code``, or ``None`` (an unknown code is a reason, not a crash)."""
        return self._by_code.get(code)

    def __getitem__(self, code: str) -> CatalogueEntry:
        return self._by_code[code]

    def for_role(self, role: OpenedBy) -> CatalogueEntry:
        """The one service a flow opens (every role has exactly one, checked on load)."""
        return self._by_role[role]

    def active(self) -> tuple[CatalogueEntry, ...]:
        return tuple(entry for entry in self._entries if entry.active)


class CatalogueError(YamlFileError):
    """The catalogue file is invalid; ``problems`` lists every fault with its line and field."""


def load_catalogue(path: str | Path) -> Catalogue:
    """Read, validate and return the catalogue in the file at ``path``."""
    path = Path(path)
    return parse_catalogue(path.read_text(encoding="utf-8"), source=str(path))


def parse_catalogue(text: str, source: str = "<catalogue>") -> Catalogue:
    """Validate the YAML ``text`` of a catalogue file; ``source`` names it in messages."""
    reader = _CatalogueReader()
    entries = reader.catalogue(compose(text, source, CatalogueError))
    if reader.problems or entries is None:
        raise CatalogueError(source, reader.problems)
    return Catalogue(entries)


def _choice(reader: NodeReader, node: yaml.Node, field: str, kind: type[StrEnum]):
    text = reader.string(node, field)
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        reader.problem(node, field, f"{text!r} is not one of {', '.join(k.value for k in kind)}")
        return None


class _CatalogueReader(NodeReader):
    """The catalogue file; each method returns ``None`` when it recorded a fault."""

    def catalogue(self, root: yaml.Node) -> list[CatalogueEntry] | None:
        keys = self.mapping(root, "", ["services"])
        if not keys or "services" not in keys:
            return None
        items = self.sequence(keys["services"], "services", min_items=1)
        entries = [self.entry(item, f"services[{index}]") for index, item in enumerate(items)]
        codes: dict[str, CatalogueEntry] = {}
        roles: dict[OpenedBy, CatalogueEntry] = {}
        for index, (item, entry) in enumerate(zip(items, entries, strict=True)):
            if entry is None:
                continue
            if entry.code in codes:
                self.problem(
                    item, f"services[{index}].code", f"{entry.code} appears more than once"
                )
            codes.setdefault(entry.code, entry)
            if entry.opened_by in roles:
                self.problem(
                    item,
                    f"services[{index}].opened_by",
                    f"{entry.opened_by} is already on {roles[entry.opened_by].code}: "
                    "exactly one service per role",
                )
            if entry.opened_by is not None:
                roles.setdefault(entry.opened_by, entry)
        for role in OpenedBy:
            # An entry that failed to read may be the one with the role: say nothing then.
            if role not in roles and entries and all(entries):
                self.problem(keys["services"], "services", f"no service has opened_by: {role}")
        return None if self.problems else [entry for entry in entries if entry]

    def entry(self, node: yaml.Node, field: str) -> CatalogueEntry | None:
        before = len(self.problems)
        keys = self.mapping(node, field, _ENTRY_KEYS, _OPTIONAL_ENTRY_KEYS)
        if keys is None or self.faults_since(before):
            return None
        code = self.string(keys["code"], f"{field}.code", CODE)
        name_zh = self.string(keys["name_zh"], f"{field}.name_zh")
        name_en = self.string(keys["name_en"], f"{field}.name_en")
        centre = _choice(self, keys["centre"], f"{field}.centre", Centre)
        kind = _choice(self, keys["firm_kind"], f"{field}.firm_kind", FirmKind)
        skills = self.skills(keys["skills"], f"{field}.skills")
        sla = self.sla(keys["sla"], f"{field}.sla")
        fee = self.fee(keys["fee"], f"{field}.fee")
        role = active = None
        if "opened_by" in keys:
            role = _choice(self, keys["opened_by"], f"{field}.opened_by", OpenedBy)
        active = self.boolean(keys["active"], f"{field}.active") if "active" in keys else True
        if self.faults_since(before):
            return None
        if role is not None:
            problem = _role_problem(role, kind, fee, active)
            if problem:
                self.problem(keys["opened_by"], f"{field}.opened_by", problem)
                return None
        return CatalogueEntry(code, name_zh, name_en, centre, kind, skills, sla, fee, role, active)

    def skills(self, node: yaml.Node, field: str) -> tuple[str, ...] | None:
        before = len(self.problems)
        items = self.strings(node, field, min_items=1)
        for index, (item, skill) in enumerate(items):
            if not SKILL.fullmatch(skill):
                self.problem(item, f"{field}[{index}]", f"{skill!r} does not match {SKILL.pattern}")
        self.unique(items, field)
        return None if self.faults_since(before) else tuple(skill for _, skill in items)

    def sla(self, node: yaml.Node, field: str) -> Sla | None:
        before = len(self.problems)
        keys = self.mapping(node, field, ["first_response_hours", "resolution_hours"])
        if keys is None or self.faults_since(before):
            return None
        first = self.integer(
            keys["first_response_hours"], f"{field}.first_response_hours", 1, MAX_SLA_HOURS
        )
        resolution = self.integer(
            keys["resolution_hours"], f"{field}.resolution_hours", 1, MAX_SLA_HOURS
        )
        if self.faults_since(before):
            return None
        if first > resolution:
            self.problem(
                keys["first_response_hours"],
                f"{field}.first_response_hours",
                f"{first} is after the resolution is due ({resolution}): must be ≤ it",
            )
            return None
        return Sla(first, resolution)

    def fee(self, node: yaml.Node, field: str) -> Fee | None:
        if isinstance(node, yaml.MappingNode):
            keys = self.mapping(
                node, field, ["fee_fen"], unknown="a fixed fee is {fee_fen: <fen ≥ 1>}"
            )
            if not keys or "fee_fen" not in keys:
                return None
            fee_fen = self.integer(keys["fee_fen"], f"{field}.fee_fen", 1)
            return None if fee_fen is None else Fee.fixed(fee_fen)
        text = self.string(node, field)
        if text in (FeePolicy.FREE, FeePolicy.QUOTED):
            return Fee(FeePolicy(text))
        if text is not None:
            self.problem(node, field, f"{text!r} is not free, quoted or {{fee_fen: <fen ≥ 1>}}")
        return None

    def boolean(self, node: yaml.Node, field: str) -> bool | None:
        # Only true/false: YAML 1.1 would also read yes/no/on/off, which hide typos.
        if (
            isinstance(node, yaml.ScalarNode)
            and node.tag == "tag:yaml.org,2002:bool"
            and node.value in ("true", "false")
        ):
            return node.value == "true"
        self.problem(node, field, "must be true or false")
        return None
