"""Billing's policy for one park (一园一策): the park file's ``billing:`` section.

The park file (``deploy/parks/*.yaml``) is split by :mod:`shared.park_file`; this module
alone validates and reads its ``billing:`` section. Every key is optional, and a park
file without the section gets the defaults (shown). Rates, ratios and tariffs are
decimals: write them quoted (``"0.09"``) or plain (``0.09``) — either way the text is
read as an exact decimal, never through a float; exponents (``9e-2``), percentages and
leading zeros (``012``) are refused. The format::

    billing:
      vat_rates:                  # VAT per charge category, each in [0, 1); China's
        purchase: "0.09"          # general-taxpayer rates: sale of real estate 9 %,
        rent: "0.09"              # lease of real estate 9 %, property management 6 %,
        property_fee: "0.06"      # water 9 %, electricity 13 %, legal / accounting /
        water: "0.09"             # consulting services 6 %. A category left out keeps
        electricity: "0.13"       # its default. (A late fee is taxed at its overdue
        service: "0.06"           # invoice's rate: services/billing/domain/vat.py.)
      purchase:
        down_payment_ratio: "0.30"       # share of a unit's price invoiced on allocation,
                                         # in (0, 1]
        instalments: 6                   # the balance in this many instalments (1..120)
        instalment_interval_months: 1    # one every this many months (1..12)
      payment_due_days: 30        # an invoice is due this many days after issue (0..180)
      late_fee:
        daily_rate: "0.0005"      # 违约金 per day on the overdue principal, in [0, 1)
        cap_ratio: "1"            # late fees on an invoice never exceed this share of
                                  # its principal, in (0, 1]
      utility_tariffs_fen:        # fen per m³ of water and per kWh of electricity,
        water: "450"              # ≥ 0, up to 4 decimal places: a line is
        electricity: "85"         # round_half_up(consumption × tariff), once per meter
                                  # per cycle
      service_commission_rate: "0.10"  # the park's share of a firm's fee, in [0, 1)
      invoice_prefix: AUX         # invoice numbers AUX-2026-000123: A-Z then A-Z / 0-9,
                                  # at most 12; default: the park id's first word in
                                  # capitals (aux-shangjie → AUX)
      billing_day: 1              # the day of the month the billing cycle runs (1..28,
                                  # so that every month has it)

Problems are collected and name file, line and field, as in the rest of the park file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import yaml

from services.billing.domain.vat import DEFAULT_VAT_RATES, Category
from shared.park_file import read_service_section
from shared.yaml_nodes import NodeReader, YamlFileError, compose

__all__ = [
    "DEFAULT_VAT_RATES",
    "INVOICE_PREFIX",
    "SECTION",
    "BillingPolicy",
    "BillingPolicyError",
    "load_billing_policies",
    "load_billing_policy",
    "parse_billing_policy",
]

SECTION = "billing"  # this service's section of the park file (shared.park_file)
INVOICE_PREFIX = re.compile(r"[A-Z][A-Z0-9]{0,11}")
TAXED = tuple(category for category in Category if category is not Category.LATE_FEE)
MAX_INSTALMENTS = 120
MAX_INSTALMENT_INTERVAL_MONTHS = 12
MAX_PAYMENT_DUE_DAYS = 180
MAX_BILLING_DAY = 28
MAX_TARIFF_FEN = Decimal(1_000_000)  # 10,000 CNY per unit: far above any real tariff
RATE_PLACES = 6  # 0.000001: finer than any contract clause
TARIFF_PLACES = 4  # 0.0001 fen, finer than the 0.0001 CNY of a published tariff
METER_KINDS = (Category.WATER, Category.ELECTRICITY)

_KEYS = (
    "vat_rates",
    "purchase",
    "payment_due_days",
    "late_fee",
    "utility_tariffs_fen",
    "service_commission_rate",
    "invoice_prefix",
    "billing_day",
)
_DECIMAL = re.compile(r"(0|[1-9][0-9]{0,8})(\.[0-9]+)?")
_SCALAR_TAGS = ("str", "int", "float")


def default_prefix(park_id: str) -> str:
    """The park id's first word in capitals, if that is a valid prefix: ``aux-shangjie`` →
    ``AUX``; otherwise ``INV``."""
    candidate = park_id.split("-", 1)[0].upper()[:12]
    return candidate if INVOICE_PREFIX.fullmatch(candidate) else "INV"


def _rate_problem(name: str, value: Decimal, *, zero: bool, one: bool) -> str | None:
    """Why ``value`` is not a valid ``name``: [0, 1) or (0, 1] as ``zero`` / ``one`` say."""
    if not isinstance(value, Decimal) or not value.is_finite():
        return f"{name} must be a finite Decimal, not {value!r}"
    low_ok = value >= 0 if zero else value > 0
    high_ok = value <= 1 if one else value < 1
    if not (low_ok and high_ok):
        interval = ("[0" if zero else "(0") + ", " + ("1]" if one else "1)")
        return f"{name} must be in {interval}, not {value}"
    return None


@dataclass(frozen=True, kw_only=True)
class BillingPolicy:
    """How one park bills (一园一策). Rates and tariffs are :class:`~decimal.Decimal`.

    ``vat_rates`` has a rate for every category but ``late_fee``;
    ``utility_tariffs_fen`` is fen per m³ (water) and per kWh (electricity).
    """

    park_id: str
    vat_rates: Mapping[Category, Decimal] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_VAT_RATES))
    )
    down_payment_ratio: Decimal = Decimal("0.30")
    instalment_count: int = 6
    instalment_interval_months: int = 1
    payment_due_days: int = 30
    late_fee_daily_rate: Decimal = Decimal("0.0005")
    late_fee_cap_ratio: Decimal = Decimal("1")
    utility_tariffs_fen: Mapping[Category, Decimal] = field(
        default_factory=lambda: MappingProxyType(
            {Category.WATER: Decimal("450"), Category.ELECTRICITY: Decimal("85")}
        )
    )
    service_commission_rate: Decimal = Decimal("0.10")
    invoice_prefix: str = ""  # "" → default_prefix(park_id)
    billing_day: int = 1
    #: The park's own description (``park: name``, ``district``), for the statement's
    #: header; onboarding validates it, billing only shows it ("" when absent).
    park_name: str = field(default="", compare=False)
    park_district: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.invoice_prefix:
            object.__setattr__(self, "invoice_prefix", default_prefix(self.park_id))
        object.__setattr__(self, "vat_rates", MappingProxyType(dict(self.vat_rates)))
        object.__setattr__(
            self, "utility_tariffs_fen", MappingProxyType(dict(self.utility_tariffs_fen))
        )
        problem = self._problem()
        if problem:
            raise ValueError(problem)

    def _problem(self) -> str | None:
        if set(self.vat_rates) != set(TAXED):
            return f"vat_rates must name exactly {[c.value for c in TAXED]}"
        checks = [
            *((f"vat_rates.{c.value}", self.vat_rates[c], True, False) for c in TAXED),
            ("down_payment_ratio", self.down_payment_ratio, False, True),
            ("late_fee_daily_rate", self.late_fee_daily_rate, True, False),
            ("late_fee_cap_ratio", self.late_fee_cap_ratio, False, True),
            ("service_commission_rate", self.service_commission_rate, True, False),
        ]
        for name, value, zero, one in checks:
            if problem := _rate_problem(name, value, zero=zero, one=one):
                return problem
        counts = [
            ("instalment_count", self.instalment_count, 1, MAX_INSTALMENTS),
            (
                "instalment_interval_months",
                self.instalment_interval_months,
                1,
                MAX_INSTALMENT_INTERVAL_MONTHS,
            ),
            ("payment_due_days", self.payment_due_days, 0, MAX_PAYMENT_DUE_DAYS),
            ("billing_day", self.billing_day, 1, MAX_BILLING_DAY),
        ]
        for name, value, low, high in counts:
            if type(value) is not int or not low <= value <= high:
                return f"{name} must be an int in {low}..{high}, not {value!r}"
        if set(self.utility_tariffs_fen) != set(METER_KINDS):
            return "utility_tariffs_fen must name exactly water and electricity"
        for kind, tariff in self.utility_tariffs_fen.items():
            if not isinstance(tariff, Decimal) or not 0 <= tariff <= MAX_TARIFF_FEN:
                return f"utility_tariffs_fen.{kind.value} must be in 0..{MAX_TARIFF_FEN}"
        if not INVOICE_PREFIX.fullmatch(self.invoice_prefix):
            return f"invoice_prefix {self.invoice_prefix!r} does not match {INVOICE_PREFIX.pattern}"
        return None

    def vat_rate(self, category: Category) -> Decimal:
        """The VAT rate of ``category`` (not ``late_fee``: taxed at its invoice's rate)."""
        return self.vat_rates[Category(category)]

    def tariff_fen(self, kind: Category) -> Decimal:
        """Fen per m³ (water) or per kWh (electricity)."""
        return self.utility_tariffs_fen[Category(kind)]


class BillingPolicyError(YamlFileError):
    """A park file's ``billing:`` section is invalid; ``problems`` lists every fault."""


def load_billing_policy(path: str | Path) -> BillingPolicy:
    """The billing policy of the park file at ``path``."""
    path = Path(path)
    return parse_billing_policy(path.read_text(encoding="utf-8"), source=str(path))


def load_billing_policies(directory: str | Path) -> dict[str, BillingPolicy]:
    """The billing policy of every ``*.yaml`` park file in ``directory``, by park id.

    Raises ``ValueError`` listing the faults of every bad file together; so is a
    directory without park files, a park id defined twice, and two parks with the same
    invoice prefix (a bank reference ``AUX-2026-000123`` must name one invoice).
    """
    paths = sorted(Path(directory).glob("*.yaml"))
    if not paths:
        raise ValueError(f"{directory}: no park files (*.yaml) there")
    policies: dict[str, BillingPolicy] = {}
    sources: dict[str, Path] = {}
    prefixes: dict[str, Path] = {}
    errors: list[str] = []
    for path in paths:
        try:
            policy = load_billing_policy(path)
        except BillingPolicyError as error:
            errors.append(str(error))
            continue
        if policy.park_id in policies:
            first = sources[policy.park_id]
            errors.append(f"{path}: park id {policy.park_id!r} is already defined in {first}")
        elif policy.invoice_prefix in prefixes:
            first = prefixes[policy.invoice_prefix]
            errors.append(
                f"{path}: billing.invoice_prefix {policy.invoice_prefix!r} is already the "
                f"prefix of {first}: each park numbers its own invoices"
            )
        else:
            policies[policy.park_id], sources[policy.park_id] = policy, path
            prefixes[policy.invoice_prefix] = path
    if errors:
        raise ValueError("\n".join(errors))
    return policies


def parse_billing_policy(text: str, source: str = "<park file>") -> BillingPolicy:
    """Validate the ``billing:`` section (and the park id) of a park file's ``text``.

    The rest of the park file belongs to others (onboarding validates the park's
    description); only the structure ``shared.park_file`` checks is checked here.
    """
    reader = _PolicyReader()
    policy = reader.policy(compose(text, source, BillingPolicyError))
    if reader.problems or policy is None:
        raise BillingPolicyError(source, reader.problems)
    return policy


MAX_DESCRIPTION = 200


def _park_description(root: yaml.Node) -> dict[str, str]:
    """The park's ``name`` and ``district`` (plain strings, each cut to 200 characters)
    from the file's ``park:`` mapping — shown on statements, validated by onboarding,
    so anything else there is simply not shown."""
    found: dict[str, str] = {}
    for key, value in root.value if isinstance(root, yaml.MappingNode) else ():
        if getattr(key, "value", None) != "park" or not isinstance(value, yaml.MappingNode):
            continue
        for field_node, text in value.value:
            name = getattr(field_node, "value", None)
            if name in ("name", "district") and isinstance(text, yaml.ScalarNode):
                found[f"park_{name}"] = str(text.value)[:MAX_DESCRIPTION]
    return found


class _PolicyReader(NodeReader):
    def policy(self, root: yaml.Node) -> BillingPolicy | None:
        found = read_service_section(self, root, SECTION)
        if found is None:
            return None
        park_id, section = found.park_id, found.node
        described = _park_description(root)
        if section is None:
            if self.problems or park_id is None:
                return None
            return BillingPolicy(park_id=park_id, **described)
        keys = self.mapping(section, SECTION, [], _KEYS)
        if keys is None:
            return None
        settings: dict[str, object] = {}
        if "vat_rates" in keys:
            settings["vat_rates"] = self.vat_rates(keys["vat_rates"])
        if "purchase" in keys:
            settings.update(self.purchase(keys["purchase"]))
        if "payment_due_days" in keys:
            settings["payment_due_days"] = self.integer(
                keys["payment_due_days"], f"{SECTION}.payment_due_days", 0, MAX_PAYMENT_DUE_DAYS
            )
        if "late_fee" in keys:
            settings.update(self.late_fee(keys["late_fee"]))
        if "utility_tariffs_fen" in keys:
            settings["utility_tariffs_fen"] = self.tariffs(keys["utility_tariffs_fen"])
        if "service_commission_rate" in keys:
            settings["service_commission_rate"] = self.rate(
                keys["service_commission_rate"], f"{SECTION}.service_commission_rate"
            )
        if "invoice_prefix" in keys:
            settings["invoice_prefix"] = self.string(
                keys["invoice_prefix"], f"{SECTION}.invoice_prefix", INVOICE_PREFIX
            )
        if "billing_day" in keys:
            settings["billing_day"] = self.integer(
                keys["billing_day"], f"{SECTION}.billing_day", 1, MAX_BILLING_DAY
            )
        if self.problems or park_id is None:
            return None
        return BillingPolicy(park_id=park_id, **settings, **described)

    # --- the sub-sections ---------------------------------------------------------------

    def vat_rates(self, node: yaml.Node) -> Mapping[Category, Decimal]:
        where = f"{SECTION}.vat_rates"
        keys = self.mapping(node, where, [], [c.value for c in TAXED]) or {}
        rates = dict(DEFAULT_VAT_RATES)
        for name, value in keys.items():
            rates[Category(name)] = self.rate(value, f"{where}.{name}")
        return rates

    def purchase(self, node: yaml.Node) -> dict[str, object]:
        where = f"{SECTION}.purchase"
        keys = self.mapping(
            node, where, [], ["down_payment_ratio", "instalments", "instalment_interval_months"]
        )
        settings: dict[str, object] = {}
        if not keys:
            return settings
        if "down_payment_ratio" in keys:
            settings["down_payment_ratio"] = self.rate(
                keys["down_payment_ratio"], f"{where}.down_payment_ratio", zero=False, one=True
            )
        if "instalments" in keys:
            settings["instalment_count"] = self.integer(
                keys["instalments"], f"{where}.instalments", 1, MAX_INSTALMENTS
            )
        if "instalment_interval_months" in keys:
            settings["instalment_interval_months"] = self.integer(
                keys["instalment_interval_months"],
                f"{where}.instalment_interval_months",
                1,
                MAX_INSTALMENT_INTERVAL_MONTHS,
            )
        return settings

    def late_fee(self, node: yaml.Node) -> dict[str, object]:
        where = f"{SECTION}.late_fee"
        keys = self.mapping(node, where, [], ["daily_rate", "cap_ratio"])
        settings: dict[str, object] = {}
        if not keys:
            return settings
        if "daily_rate" in keys:
            settings["late_fee_daily_rate"] = self.rate(keys["daily_rate"], f"{where}.daily_rate")
        if "cap_ratio" in keys:
            settings["late_fee_cap_ratio"] = self.rate(
                keys["cap_ratio"], f"{where}.cap_ratio", zero=False, one=True
            )
        return settings

    def tariffs(self, node: yaml.Node) -> Mapping[Category, Decimal]:
        where = f"{SECTION}.utility_tariffs_fen"
        keys = self.mapping(node, where, [], [kind.value for kind in METER_KINDS]) or {}
        tariffs = dict(BillingPolicy.__dataclass_fields__["utility_tariffs_fen"].default_factory())
        for name, value in keys.items():
            tariff = self.decimal(value, f"{where}.{name}", TARIFF_PLACES)
            if tariff is not None and tariff > MAX_TARIFF_FEN:
                self.problem(value, f"{where}.{name}", f"must be at most {MAX_TARIFF_FEN} fen")
                tariff = None
            tariffs[Category(name)] = tariff
        return tariffs

    # --- scalars --------------------------------------------------------------------------

    def decimal(self, node: yaml.Node, field: str, places: int) -> Decimal | None:
        """A non-negative decimal written plainly (``0.09``) or quoted (``"0.09"``)."""
        text = node.value if isinstance(node, yaml.ScalarNode) else None
        tag = node.tag.rsplit(":", 1)[-1] if isinstance(node, yaml.ScalarNode) else None
        if tag not in _SCALAR_TAGS or not _DECIMAL.fullmatch(text or ""):
            shown = repr(text) if text is not None else "a list or mapping"
            self.problem(node, field, f'must be a decimal like "0.09" or 12.5, not {shown}')
            return None
        value = Decimal(text)
        if -value.as_tuple().exponent > places:
            self.problem(node, field, f"at most {places} decimal places, not {text}")
            return None
        return value

    def rate(
        self, node: yaml.Node, field: str, *, zero: bool = True, one: bool = False
    ) -> Decimal | None:
        """A rate in [0, 1) (default) or a ratio in (0, 1] (``zero=False, one=True``)."""
        value = self.decimal(node, field, RATE_PLACES)
        if value is None:
            return None
        problem = _rate_problem(field, value, zero=zero, one=one)
        if problem:
            self.problem(node, field, problem.removeprefix(f"{field} "))
            return None
        return value
