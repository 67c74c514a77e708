"""The park file's ``billing:`` section: defaults, every rule, errors that name file, line
and field, and hostile input that is a policy or a reported error, never a crash."""

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.billing.domain.park_policy import (
    DEFAULT_VAT_RATES,
    SECTION,
    BillingPolicy,
    BillingPolicyError,
    load_billing_policies,
    load_billing_policy,
    parse_billing_policy,
)
from services.billing.domain.vat import Category
from shared.park_file import DECLARED_SECTIONS, READ_SECTIONS
from tests.support.yaml_errors import FileErrors, hostile_values, with_value

REPO = Path(__file__).resolve().parents[4]
PARKS_DIR = REPO / "deploy" / "parks"

PARK = """\
park:
  id: mini
  name: 小园
  district: 上街区
prices_fen_per_m2: {purchase: 320000, monthly_rent: 1500, monthly_property_fee: 150}
buildings:
  - {id: B01, floors: 1, rooms_per_floor: 2, room_area_m2: 300}
onboarding: {}
"""
# PARK is 8 lines: the billing section starts on line 9, its first key on line 10.


def _with(key: str, value: str) -> str:
    """PARK with a billing section whose ``key`` is set to ``value``."""
    return PARK + f"billing:\n  {key}: {value}\n"


def _nested(key: str, sub: str, value: str) -> str:
    """PARK with ``billing.key.sub: value`` (the value on line 11)."""
    return PARK + f"billing:\n  {key}:\n    {sub}: {value}\n"


def _fields(text: str):
    with pytest.raises(BillingPolicyError) as caught:
        parse_billing_policy(text, "bad.yaml")
    return [(p.line, p.field) for p in caught.value.problems]


# --- the demo parks ---------------------------------------------------------------------


def test_the_demo_park_bills_at_the_issues_rates():
    policy = load_billing_policy(PARKS_DIR / "aux-shangjie.yaml")
    assert policy.park_id == "aux-shangjie"
    assert dict(policy.vat_rates) == {
        Category.PURCHASE: Decimal("0.09"),
        Category.RENT: Decimal("0.09"),
        Category.PROPERTY_FEE: Decimal("0.06"),
        Category.WATER: Decimal("0.09"),
        Category.ELECTRICITY: Decimal("0.13"),
        Category.SERVICE: Decimal("0.06"),
    }
    assert (policy.down_payment_ratio, policy.instalment_count) == (Decimal("0.30"), 6)
    assert (policy.late_fee_daily_rate, policy.late_fee_cap_ratio) == (
        Decimal("0.0005"),
        Decimal("1"),
    )
    assert (policy.invoice_prefix, policy.billing_day) == ("AUX", 1)
    assert policy.tariff_fen(Category.WATER) == Decimal("450")


def test_the_second_park_has_its_own_plan_terms_cap_and_prefix():
    policy = load_billing_policy(PARKS_DIR / "shangjie-equipment.yaml")
    assert (policy.down_payment_ratio, policy.instalment_count) == (Decimal("0.40"), 4)
    assert policy.instalment_interval_months == 3
    assert (policy.payment_due_days, policy.billing_day) == (30, 5)
    assert policy.late_fee_cap_ratio == Decimal("0.3")
    assert policy.invoice_prefix == "SJE"
    assert policy.vat_rates == DEFAULT_VAT_RATES


def test_every_park_file_has_a_billing_policy_with_its_own_prefix():
    policies = load_billing_policies(PARKS_DIR)
    assert set(policies) == {"aux-shangjie", "shangjie-equipment"}
    assert len({policy.invoice_prefix for policy in policies.values()}) == 2


def test_billing_reads_its_own_section_of_the_park_file():
    assert SECTION in READ_SECTIONS
    assert SECTION not in DECLARED_SECTIONS


def test_the_issues_worked_example_follows_from_the_demo_policy():
    policy = load_billing_policy(PARKS_DIR / "aux-shangjie.yaml")
    price = 300 * 320_000
    down = price * policy.down_payment_ratio
    assert (price, down) == (96_000_000, 28_800_000)
    assert (price - down) / policy.instalment_count == 11_200_000
    assert 45_000 * policy.late_fee_daily_rate * 60 == 1_350


# --- defaults ---------------------------------------------------------------------------


def test_a_park_file_without_the_section_gets_the_defaults():
    policy = parse_billing_policy(PARK)
    assert policy == BillingPolicy(park_id="mini")
    assert policy.vat_rate(Category.ELECTRICITY) == Decimal("0.13")
    assert policy.vat_rate(Category.SERVICE) == Decimal("0.06")
    assert (policy.late_fee_daily_rate, policy.late_fee_cap_ratio) == (
        Decimal("0.0005"),
        Decimal(1),
    )
    assert policy.invoice_prefix == "MINI"


def test_every_key_of_the_section_is_optional_and_a_partial_mapping_keeps_the_rest():
    assert parse_billing_policy(PARK + "billing: {}\n") == BillingPolicy(park_id="mini")
    policy = parse_billing_policy(_nested("vat_rates", "electricity", '"0.16"'))
    assert policy.vat_rate(Category.ELECTRICITY) == Decimal("0.16")
    assert policy.vat_rate(Category.WATER) == Decimal("0.09")
    policy = parse_billing_policy(_nested("late_fee", "cap_ratio", '"0.5"'))
    assert (policy.late_fee_daily_rate, policy.late_fee_cap_ratio) == (
        Decimal("0.0005"),
        Decimal("0.5"),
    )


def test_the_default_prefix_is_the_park_ids_first_word():
    assert BillingPolicy(park_id="aux-shangjie").invoice_prefix == "AUX"
    assert BillingPolicy(park_id="9th-park").invoice_prefix == "INV"


@pytest.mark.parametrize("written", ['"0.09"', "0.09", "'0.09'", '"0.090"'])
def test_a_rate_may_be_quoted_or_plain_and_is_read_exactly(written):
    policy = parse_billing_policy(_nested("vat_rates", "water", written))
    assert policy.vat_rate(Category.WATER) == Decimal("0.09")
    assert isinstance(policy.vat_rate(Category.WATER), Decimal)


def test_a_tariff_may_have_decimals():
    policy = parse_billing_policy(_nested("utility_tariffs_fen", "electricity", '"68.53"'))
    assert policy.tariff_fen(Category.ELECTRICITY) == Decimal("68.53")


def test_a_down_payment_of_the_whole_price_and_a_cap_of_the_principal_are_allowed():
    text = PARK + 'billing:\n  purchase: {down_payment_ratio: "1"}\n  late_fee: {cap_ratio: 1}\n'
    policy = parse_billing_policy(text)
    assert (policy.down_payment_ratio, policy.late_fee_cap_ratio) == (1, 1)


def test_a_zero_rate_exempts_and_a_zero_daily_rate_charges_no_late_fee():
    text = PARK + 'billing:\n  vat_rates: {water: "0"}\n  late_fee: {daily_rate: "0"}\n'
    policy = parse_billing_policy(text)
    assert (policy.vat_rate(Category.WATER), policy.late_fee_daily_rate) == (0, 0)


# --- errors name file, line and field -------------------------------------------------


def test_an_error_names_the_file_the_line_and_the_field():
    with pytest.raises(BillingPolicyError) as caught:
        parse_billing_policy(_with("billing_day", "31"), "deploy/parks/mini.yaml")
    assert "deploy/parks/mini.yaml:10: billing.billing_day: must be between 1 and 28" in str(
        caught.value
    )


@pytest.mark.parametrize(
    "rate",
    [
        '"1"',
        "1",
        '"1.5"',
        '"-0.09"',
        "-0.09",
        '"9%"',
        '"9e-2"',
        "9e-2",
        ".09",
        '"012"',
        '"0.1234567"',
        "true",
        "~",
        '""',
        "[0.09]",
        ".nan",
        ".inf",
        '"0x1"',
    ],
)
def test_a_vat_rate_is_a_decimal_in_0_to_1(rate):
    assert _fields(_nested("vat_rates", "water", rate)) == [(11, "billing.vat_rates.water")]


def test_a_vat_rate_for_a_category_billing_does_not_have_is_an_error():
    assert _fields(_nested("vat_rates", "parking", '"0.09"')) == [(11, "billing.vat_rates.parking")]
    # A late fee is taxed at its overdue invoice's rate: it has none of its own.
    assert _fields(_nested("vat_rates", "late_fee", '"0.06"')) == [
        (11, "billing.vat_rates.late_fee")
    ]


@pytest.mark.parametrize("ratio", ['"0"', "0", '"1.01"', '"-0.3"', '"30%"', "30"])
@pytest.mark.parametrize(
    ("key", "sub"), [("purchase", "down_payment_ratio"), ("late_fee", "cap_ratio")]
)
def test_a_ratio_is_in_0_exclusive_to_1_inclusive(key, sub, ratio):
    assert _fields(_nested(key, sub, ratio)) == [(11, f"billing.{key}.{sub}")]


@pytest.mark.parametrize("rate", ['"1"', '"0.05%"', '"-0.0005"', "0.0000001"])
def test_the_late_fee_daily_rate_is_in_0_to_1(rate):
    assert _fields(_nested("late_fee", "daily_rate", rate)) == [(11, "billing.late_fee.daily_rate")]


@pytest.mark.parametrize(
    ("sub", "value"),
    [
        ("instalments", "0"),
        ("instalments", "121"),
        ("instalments", "6.0"),
        ("instalments", '"6"'),
        ("instalment_interval_months", "0"),
        ("instalment_interval_months", "13"),
        ("instalment_interval_months", "012"),
    ],
)
def test_the_instalment_plan_has_positive_bounded_counts(sub, value):
    assert _fields(_nested("purchase", sub, value)) == [(11, f"billing.purchase.{sub}")]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("payment_due_days", "-1"),
        ("payment_due_days", "181"),
        ("payment_due_days", "15.5"),
        ("billing_day", "0"),
        ("billing_day", "29"),
        ("billing_day", "true"),
        ("service_commission_rate", '"1"'),
        ("service_commission_rate", '"-0.1"'),
        ("invoice_prefix", "aux"),
        ("invoice_prefix", "AUX-"),
        ("invoice_prefix", "1AUX"),
        ("invoice_prefix", "ABCDEFGHIJKLM"),
        ("invoice_prefix", '""'),
        ("invoice_prefix", "123"),
        ("vat_rates", '"0.09"'),
        ("purchase", "[]"),
        ("late_fee", '"0.0005"'),
        ("utility_tariffs_fen", "450"),
    ],
)
def test_each_top_level_key_has_its_rule(key, value):
    assert _fields(_with(key, value)) == [(10, f"billing.{key}")]


@pytest.mark.parametrize("tariff", ['"-1"', '"1000000.01"', '"0.12345"', '"4.5 CNY"', "[450]"])
def test_a_tariff_is_non_negative_fen_with_at_most_four_places(tariff):
    assert _fields(_nested("utility_tariffs_fen", "water", tariff)) == [
        (11, "billing.utility_tariffs_fen.water")
    ]


def test_a_tariff_for_gas_is_an_error():
    assert _fields(_nested("utility_tariffs_fen", "gas", '"300"')) == [
        (11, "billing.utility_tariffs_fen.gas")
    ]


def test_an_unknown_key_in_the_section_is_an_error():
    assert _fields(_with("late_fee_percent", "0.05")) == [(10, "billing.late_fee_percent")]


def test_a_section_that_is_not_a_mapping_is_an_error():
    assert _fields(PARK + "billing: [vat_rates]\n") == [(9, "billing")]


def test_every_fault_of_the_section_is_reported_at_once():
    text = (
        PARK
        + "billing:\n"
        + '  vat_rates: {water: "0.9x", electricity: "1"}\n'
        + "  purchase:\n"
        + '    down_payment_ratio: "0"\n'
        + "    instalments: 0\n"
        + "  billing_day: 30\n"
    )
    assert sorted(_fields(text)) == [
        (10, "billing.vat_rates.electricity"),
        (10, "billing.vat_rates.water"),
        (12, "billing.purchase.down_payment_ratio"),
        (13, "billing.purchase.instalments"),
        (14, "billing.billing_day"),
    ]


def test_a_repeated_key_is_an_error():
    text = PARK + 'billing:\n  vat_rates: {water: "0.09", water: "0.06"}\n'
    assert _fields(text) == [(10, "billing.vat_rates.water")]


def test_a_park_file_without_a_park_id_is_an_error():
    assert _fields(PARK.replace("  id: mini\n", "")) == [(2, "park.id")]


def test_the_policy_keeps_its_rules_when_built_in_code():
    for bad in (
        {"vat_rates": {Category.WATER: Decimal("0.09")}},
        {"vat_rates": dict(DEFAULT_VAT_RATES) | {Category.WATER: Decimal(1)}},
        {"down_payment_ratio": Decimal(0)},
        {"down_payment_ratio": 0.3},
        {"late_fee_cap_ratio": Decimal("1.5")},
        {"late_fee_daily_rate": Decimal("NaN")},
        {"instalment_count": 0},
        {"instalment_count": True},
        {"billing_day": 29},
        {"payment_due_days": -1},
        {"utility_tariffs_fen": {Category.WATER: Decimal(450)}},
        {"utility_tariffs_fen": {Category.WATER: Decimal(-1), Category.ELECTRICITY: Decimal(1)}},
        {"invoice_prefix": "aux"},
    ):
        with pytest.raises(ValueError):
            BillingPolicy(park_id="mini", **bad)


# --- the directory of park files --------------------------------------------------------


def test_a_directory_without_park_files_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no park files"):
        load_billing_policies(tmp_path)


def test_every_bad_file_of_a_directory_is_reported_and_a_park_or_prefix_defined_twice_too(
    tmp_path,
):
    (tmp_path / "a.yaml").write_text(PARK, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(PARK, encoding="utf-8")
    (tmp_path / "c.yaml").write_text(_with("billing_day", "0"), encoding="utf-8")
    other = PARK.replace("id: mini", "id: other") + "billing: {invoice_prefix: MINI}\n"
    (tmp_path / "d.yaml").write_text(other, encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        load_billing_policies(tmp_path)
    message = str(caught.value)
    assert "b.yaml: park id 'mini' is already defined in" in message
    assert "c.yaml:10: billing.billing_day" in message
    assert "d.yaml: billing.invoice_prefix 'MINI' is already the prefix of" in message


# --- hostile input (STYLE #10) ------------------------------------------------------------


def _parses_or_reports(text: str) -> BillingPolicy | None:
    try:
        return parse_billing_policy(text, "fuzz.yaml")
    except BillingPolicyError as error:
        assert error.problems, "an error without problems"
        assert all(p.line >= 1 and p.field for p in error.problems)
        return None


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=300))
def test_any_text_is_a_policy_or_a_reported_error(text):
    _parses_or_reports(text)


_VALUES = st.one_of(
    st.sampled_from(["", "~", "[]", "{}", "-1", "0", "0.5", "1", "1.5", "012", "true", "*x"]),
    st.sampled_from([".nan", ".inf", "1e3", "0x10", "1_000", "!!binary AA==", '"0.0005"']),
    st.sampled_from(['{water: "0.09"}', "{a: b}", "[[1]]", '{daily_rate: "0.1", cap_ratio: 0}']),
    st.decimals(allow_nan=False, allow_infinity=False, places=7).map(lambda d: f'"{d}"'),
    st.integers().map(str),
    st.floats().map(str),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20).map(repr),
)
_PATHS = st.sampled_from(
    [
        ("invoice_prefix",),
        ("billing_day",),
        ("payment_due_days",),
        ("service_commission_rate",),
        ("vat_rates",),
        ("vat_rates", "water"),
        ("vat_rates", "purchase"),
        ("purchase", "down_payment_ratio"),
        ("purchase", "instalments"),
        ("purchase", "instalment_interval_months"),
        ("late_fee", "daily_rate"),
        ("late_fee", "cap_ratio"),
        ("utility_tariffs_fen", "electricity"),
    ]
)


@settings(max_examples=500, deadline=None, database=None)
@given(_PATHS, _VALUES)
def test_any_value_of_any_key_is_a_policy_or_a_reported_error(path, value):
    text = _with(path[0], value) if len(path) == 1 else _nested(*path, value)
    policy = _parses_or_reports(text)
    if policy is not None:  # what was accepted obeys every rule
        assert all(0 <= rate < 1 for rate in policy.vat_rates.values())
        assert 0 < policy.down_payment_ratio <= 1 and 0 < policy.late_fee_cap_ratio <= 1
        assert 0 <= policy.late_fee_daily_rate < 1
        assert 1 <= policy.billing_day <= 28 and policy.instalment_count >= 1
        assert all(isinstance(t, Decimal) and t >= 0 for t in policy.utility_tariffs_fen.values())


POLICY = FileErrors(parse_billing_policy, BillingPolicyError)
# The demo park's whole billing: section under PARK: every line of it a place to fuzz.
DEMO_SECTION = (PARKS_DIR / "aux-shangjie.yaml").read_text("utf-8").split("\nbilling:\n", 1)[1]
FULL = PARK + "billing:\n" + DEMO_SECTION
SECTION_LINES = range(len(PARK.splitlines()), len(FULL.splitlines()))


def test_the_demo_section_read_under_another_park_is_the_demo_policy():
    demo = load_billing_policy(PARKS_DIR / "aux-shangjie.yaml")
    assert parse_billing_policy(FULL) == BillingPolicy(**{**demo.__dict__, "park_id": "mini"})


@settings(max_examples=500, deadline=None, database=None)
@given(st.sampled_from(SECTION_LINES), hostile_values('"0.0005"', '"1e-3"', '" 0.09"', ".5"))
def test_any_value_on_any_line_of_the_section_is_read_or_named_by_file_line_and_field(index, value):
    POLICY.parses_or_reports(with_value(FULL, index, value))


def test_the_units_terms_keep_a_tariff_finer_than_a_fen_and_round_once_per_line():
    from services.billing.domain.charges import MeterState, record_reading, utility_charge
    from services.billing.domain.proration import Month
    from services.billing.unit_of_work import terms_of

    policy = parse_billing_policy(
        PARK + 'billing:\n  utility_tariffs_fen: {water: "450", electricity: "61.75"}\n'
    )
    terms = terms_of(policy)
    assert terms.electricity_tariff_fen == Decimal("61.75")  # not 62
    meter = MeterState(meter_id="E-1", unit_id="B01-1F-01", kind=Category.ELECTRICITY)
    from datetime import UTC, datetime

    record_reading(meter, "0", datetime(2026, 11, 1, tzinfo=UTC))
    record_reading(meter, "101", datetime(2026, 11, 2, tzinfo=UTC))
    charge = utility_charge(meter, terms.electricity_tariff_fen, Month(2026, 11))
    # 101 × 61.75 = 6,236.75 → 6,237 (a tariff rounded first would give 101 × 62 = 6,262)
    assert charge.total_fen == 6_237


def test_the_policy_carries_the_parks_name_and_district_for_statements():
    policy = parse_billing_policy(PARK)
    assert (policy.park_name, policy.park_district) == ("小园", "上街区")
    bare = parse_billing_policy(PARK.replace("  name: 小园\n  district: 上街区\n", ""))
    assert (bare.park_name, bare.park_district) == ("", "")
