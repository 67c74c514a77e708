"""The billing contract: every ``billing.events`` type of DESIGN §5 and issue 10, and the
buyback events billing consumes — valid examples pass; a tax split, a sum or a net that
does not add up fails; money is strict integer fen, and only a buyback's net is signed."""

import contextlib
import copy
import uuid
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contract import REGISTRY, encode, parse, validate_outgoing
from shared.contract.billing import CATEGORIES, INVOICE_NUMBER, vat_of
from shared.messaging.errors import ContractViolation, MalformedMessage

INVOICE_ID = "3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b"
CLAIM_ID = "7e2d4c1b-9a8f-4e6d-b5c4-3a2b1c0d9e8f"
INVOICE = {"invoice_id": INVOICE_ID, "number": "AUX-2026-000123", "enterprise_id": "ent-0001"}


def line(category="property_fee", total=45_000, rate="0.06", **overrides):
    return {
        "category": category,
        "description": "物业费 B01-1F-01 2026-11 (300 m²)",
        "quantity": "300",
        "unit_price_fen": 150,
        "total_fen": total,
        "tax_rate": rate,
        "tax_fen": vat_of(total, Decimal(rate)),
    } | overrides


def invoice(*lines_):
    lines_ = list(lines_) or [line()]
    return INVOICE | {
        "uscc": "91410100MA9G4XY144",
        "issued_on": "2026-12-01",
        "due_on": "2026-12-31",
        "total_fen": sum(item["total_fen"] for item in lines_),
        "tax_fen": sum(item["tax_fen"] for item in lines_),
        "lines": lines_,
    }


VALID = {
    "invoice_issued": invoice(),
    "payment_applied": INVOICE
    | {"bank_txn_id": "ICBC-20261127-000042", "amount_fen": 45_000, "outstanding_fen": 0},
    "payment_credited": {
        "bank_txn_id": "ICBC-20261127-000042",
        "enterprise_id": "ent-0001",
        "amount_fen": 5_000,
        "credit_balance_fen": 5_000,
    },
    "credit_applied": INVOICE | {"amount_fen": 5_000, "credit_balance_fen": 0},
    "invoice_paid": INVOICE | {"paid_on": "2026-12-20"},
    "invoice_overdue": INVOICE | {"due_on": "2026-12-31", "outstanding_fen": 45_000},
    "late_fee_charged": INVOICE
    | {
        "amount_fen": 1_350,
        "days": 60,
        "through": "2027-03-01",
        "daily_rate": "0.0005",
        "principal_fen": 45_000,
        "capped": False,
    },
    "late_fee_waived": INVOICE
    | {
        "by": "operator:wang.min",
        "reason": "银行系统故障，付款延迟非企业原因",
        "credited_fen": 1_350,
    },
    "credit_note_issued": INVOICE
    | {
        "credit_note_id": "c0ffee00-1234-4abc-8def-0123456789ab",
        "amount_fen": 45_000,
        "tax_fen": 2_547,
        "reason": "单元已于11月1日退还，物业费误收",
        "by": "operator:wang.min",
        "lines": [
            {
                "line_index": 0,
                "category": "property_fee",
                "total_fen": 45_000,
                "tax_rate": "0.06",
                "tax_fen": 2_547,
            }
        ],
    },
    "payment_unmatched": {
        "bank_txn_id": "ICBC-20261127-000043",
        "payer_uscc": "91410100MA9G4XY144",
        "amount_fen": 500_000,
        "why": "unknown_payer",
        "reference": "",
    },
    "payment_matched": {
        "bank_txn_id": "ICBC-20261127-000043",
        "enterprise_id": "ent-0001",
        "amount_fen": 500_000,
        "matched_by": "operator:wang.min",
        "note": "母公司代付",
    },
    "credit_balance_changed": {
        "enterprise_id": "ent-0001",
        "change_fen": 5_000,
        "balance_fen": 5_000,
        "why": "overpayment",
        "bank_txn_id": "ICBC-20261127-000042",
        "invoice_id": None,
    },
    "firm_payable_recorded": {
        "ticket_id": "T-000123",
        "firm_id": "law-1",
        "enterprise_id": "ent-0001",
        "fee_fen": 80_000,
        "commission_rate": "0.10",
        "commission_fen": 8_000,
        "payable_fen": 72_000,
        "invoice_id": None,
    },
    "firm_payable_adjusted": {
        "ticket_id": "T-000123",
        "firm_id": "law-1",
        "enterprise_id": "ent-0001",
        "invoice_id": INVOICE["invoice_id"],
        "number": INVOICE["number"],
        "credit_note_id": "0d7c5b1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e",
        "change_fen": -36_000,
        "reason": "half the service credited",
    },
    "meter_rebaselined": {
        "meter_id": "E-B07-2F-03",
        "unit_id": "B07-2F-03",
        "kind": "electricity",
        "previous_reading": "10234.5",
        "reading": "0",
        "read_at": "2026-12-05T02:00:00Z",
        "billed_fen": 12_750,
        "by": "op-li",
        "reason": "meter replaced",
    },
    "buyback_settlement_computed": {
        "claim_id": CLAIM_ID,
        "enterprise_id": "ent-0001",
        "gross_fen": 96_000_000,
        "offsets": [
            {"kind": "purchase_balance", "invoice_id": None, "amount_fen": 44_800_000},
            {"kind": "invoice", "invoice_id": INVOICE_ID, "amount_fen": 45_000},
            {"kind": "late_fee", "invoice_id": INVOICE_ID, "amount_fen": 1_350},
        ],
        "net_fen": 51_153_650,
    },
    "buyback_netted": {
        "claim_id": CLAIM_ID,
        "enterprise_id": "ent-0001",
        "gross_fen": 96_000_000,
        "net_fen": 51_153_650,
        "payout_fen": 51_153_650,
        "still_owed_fen": 0,
        "settled_on": "2027-03-02",
    },
    "reading_anomaly": {
        "meter_id": "E-B07-2F-01",
        "unit_id": "B07-2F-01",
        "kind": "electricity",
        "previous_reading": "12345.6",
        "previous_read_at": "2026-11-27T00:00:00Z",
        "reading": "120.0",
        "read_at": "2026-11-27T00:15:00Z",
        "why": "decrease",
    },
}


def load(type_: str, payload: dict, source: str = "billing") -> dict:
    """The payload as a consumer reads it, or ``MalformedMessage``."""
    envelope = {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "source": source,
        "version": 1,
        "occurred_at": "2026-11-27T02:00:00Z",
        "correlation_id": str(uuid.uuid4()),
        "causation_id": None,
        "park_id": "aux-shangjie",
        "payload": copy.deepcopy(payload),
    }
    return parse(encode(envelope)).payload


def errors(type_: str, payload: dict, source: str = "billing") -> dict:
    return REGISTRY.spec(source, type_, 1).schema().validate(payload)


# --- the registry ------------------------------------------------------------------------


def test_every_billing_event_of_the_design_and_the_issue_is_registered():
    registered = {spec.key.type for spec in REGISTRY if spec.key.source == "billing"}
    assert registered == set(VALID)


@pytest.mark.parametrize("type_", sorted(VALID))
def test_a_valid_example_of_each_event_passes_both_ways(type_):
    assert errors(type_, VALID[type_]) == {}
    assert validate_outgoing("billing", type_, VALID[type_]) == VALID[type_]
    load(type_, VALID[type_])


@pytest.mark.parametrize(
    "type_",
    [
        "invoice_issued",
        "payment_applied",
        "invoice_paid",
        "invoice_overdue",
        "late_fee_charged",
        "late_fee_waived",
        "credit_applied",
        "credit_note_issued",
    ],
)
def test_an_invoice_event_carries_the_invoice_its_number_and_the_enterprise(type_):
    for field in ("invoice_id", "number", "enterprise_id"):
        payload = {k: v for k, v in VALID[type_].items() if k != field}
        assert field in errors(type_, payload)


def test_every_event_added_here_has_an_example_in_the_event_catalogue():
    from tests.unit.test_docs_examples import EXAMPLES

    documented = {(e.source, e.type) for e in EXAMPLES}
    added = {(s.key.source, s.key.type) for s in REGISTRY if s.key.source == "billing"}
    added |= {("buyback", "settlement_requested"), ("buyback", "claim_settled")}
    assert added - documented == set()


# --- invoices: the tax split and the sums -------------------------------------------------


def test_an_invoice_of_several_categories_is_the_sum_of_its_lines():
    lines_ = [
        line("rent", 450_000, "0.09", quantity="300", unit_price_fen=1_500),
        line("property_fee", 45_000, "0.06"),
        line("electricity", 12_345, "0.13", quantity="163.5", unit_price_fen=75),
    ]
    payload = invoice(*lines_)
    assert (payload["total_fen"], payload["tax_fen"]) == (507_345, 37_156 + 2_547 + 1_420)
    assert load("invoice_issued", payload)["lines"][2]["quantity"] == Decimal("163.5")


def test_the_invoice_tax_is_the_sum_of_the_rounded_lines_not_the_tax_of_the_total():
    # 1,000 fen at 9 % holds 82.57 fen of tax → 83; two such lines 166, while the tax of
    # 2,000 fen would be 165.14 → 165. The invoice says 166.
    payload = invoice(line("water", 1_000, "0.09"), line("water", 1_000, "0.09"))
    assert payload["tax_fen"] == 166
    assert errors("invoice_issued", payload) == {}
    assert "tax_fen" in errors("invoice_issued", payload | {"tax_fen": 165})


def test_a_line_whose_tax_is_not_split_from_its_total_is_malformed():
    bad = line(tax_fen=2_548)  # 45,000 × 0.06 / 1.06 = 2,547.17 → 2,547
    problems = errors("invoice_issued", invoice(bad))
    assert "2547" in str(problems["lines"][0]["tax_fen"])
    taxed_on_top = line(tax_fen=2_700)  # 45,000 × 6 %: tax added, not included
    assert "lines" in errors("invoice_issued", invoice(taxed_on_top))


def test_an_invoice_total_that_is_not_the_sum_of_its_lines_is_malformed():
    payload = invoice(line(), line("rent", 450_000, "0.09"))
    assert "total_fen" in errors("invoice_issued", payload | {"total_fen": 450_000})
    assert "tax_fen" in errors("invoice_issued", payload | {"tax_fen": 2_547})
    with pytest.raises(MalformedMessage, match="total_fen"):
        load("invoice_issued", payload | {"total_fen": 450_000})


def test_an_invoice_needs_a_line_and_is_not_due_before_it_is_issued():
    assert "lines" in errors("invoice_issued", invoice() | {"lines": []})
    assert "due_on" in errors("invoice_issued", invoice() | {"due_on": "2026-11-30"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("category", "parking"),
        ("quantity", 300),
        ("quantity", "-1"),
        ("quantity", "3e2"),
        ("tax_rate", 0.06),
        ("tax_rate", "1"),
        ("tax_rate", "-0.06"),
        ("total_fen", -45_000),
        ("unit_price_fen", 1.5),
        ("description", ""),
    ],
)
def test_a_bad_line_value_is_refused(field, value):
    assert "lines" in errors("invoice_issued", invoice(line() | {field: value}))


@pytest.mark.parametrize("number", ["AUX-2026-123", "aux-2026-000123", "AUX2026000123", ""])
def test_an_invoice_number_is_prefix_year_and_six_digits(number):
    assert "number" in errors("invoice_paid", VALID["invoice_paid"] | {"number": number})
    assert INVOICE_NUMBER.fullmatch("AUX-2026-000123")


def test_the_categories_are_the_billing_models():
    from services.billing.domain.vat import Category

    assert set(CATEGORIES) == {category.value for category in Category}


def test_a_credit_note_adds_up_like_an_invoice():
    payload = VALID["credit_note_issued"]
    assert "total_fen" in errors("credit_note_issued", payload | {"amount_fen": 40_000})
    assert "tax_fen" in errors("credit_note_issued", payload | {"tax_fen": 2_546})
    assert "reason" in errors("credit_note_issued", payload | {"reason": " "})
    assert "lines" in errors("credit_note_issued", payload | {"lines": []})


def test_a_credit_line_that_exhausts_its_line_may_carry_the_lines_remaining_tax():
    # 1,000 fen at 9 % carried 83 fen of tax; a first credit of 500 took 41 (500 × 0.09 /
    # 1.09 = 41.28); the second, exhausting the line, takes the 42 that are left, not 41.
    last = {"line_index": 0, "category": "water", "total_fen": 500, "tax_rate": "0.09"}
    payload = VALID["credit_note_issued"] | {
        "amount_fen": 500,
        "tax_fen": 42,
        "lines": [last | {"tax_fen": 42}],
    }
    assert errors("credit_note_issued", payload) == {}
    too_much = payload | {"tax_fen": 501, "lines": [last | {"tax_fen": 501}]}
    assert "lines" in errors("credit_note_issued", too_much)


# --- money is strict fen -------------------------------------------------------------------


@pytest.mark.parametrize("amount", [12.5, "45000", True, None, -1, 0])
@pytest.mark.parametrize(
    ("type_", "field"),
    [
        ("payment_applied", "amount_fen"),
        ("invoice_overdue", "outstanding_fen"),
        ("late_fee_charged", "amount_fen"),
        ("credit_note_issued", "amount_fen"),
        ("payment_credited", "amount_fen"),
        ("credit_applied", "amount_fen"),
        ("payment_unmatched", "amount_fen"),
        ("payment_matched", "amount_fen"),
        ("firm_payable_recorded", "fee_fen"),
    ],
)
def test_bad_money_is_refused(type_, field, amount):
    assert field in errors(type_, VALID[type_] | {field: amount})


def test_an_outgoing_float_amount_is_a_contract_violation():
    with pytest.raises(ContractViolation):
        validate_outgoing(
            "billing", "payment_applied", VALID["payment_applied"] | {"amount_fen": 1.0}
        )


def test_a_payment_names_its_bank_transfer_and_a_credit_balance_is_never_negative():
    applied = VALID["payment_applied"]
    assert "bank_txn_id" in errors("payment_applied", applied | {"bank_txn_id": None})
    assert load("payment_applied", applied | {"outstanding_fen": None})["outstanding_fen"] is None
    for type_ in ("payment_credited", "credit_applied"):
        assert "credit_balance_fen" in errors(type_, VALID[type_] | {"credit_balance_fen": -1})


def test_a_waiver_may_credit_nothing_when_no_fee_was_charged_yet():
    waived = VALID["late_fee_waived"]
    assert errors("late_fee_waived", waived | {"credited_fen": 0}) == {}
    assert "credited_fen" in errors("late_fee_waived", waived | {"credited_fen": -1})


def test_a_late_fee_has_its_days_rate_and_principal():
    charged = VALID["late_fee_charged"]
    assert "days" in errors("late_fee_charged", charged | {"days": 0})
    assert "daily_rate" in errors("late_fee_charged", charged | {"daily_rate": 0.0005})
    assert "daily_rate" in errors("late_fee_charged", charged | {"daily_rate": "2"})
    assert "through" in errors("late_fee_charged", charged | {"through": "2027-02-30"})
    assert load("late_fee_charged", charged)["daily_rate"] == Decimal("0.0005")
    minimal = {k: v for k, v in charged.items() if k not in ("principal_fen", "capped")}
    assert load("late_fee_charged", minimal)["capped"] is False
    assert "by" in errors("late_fee_waived", VALID["late_fee_waived"] | {"by": ""})


def test_a_credit_balance_change_is_signed_but_never_zero_and_the_balance_is_not():
    changed = VALID["credit_balance_changed"]
    used = changed | {"change_fen": -5_000, "balance_fen": 0, "why": "applied_to_invoice"}
    assert errors("credit_balance_changed", used) == {}
    assert "change_fen" in errors("credit_balance_changed", changed | {"change_fen": 0})
    assert "balance_fen" in errors("credit_balance_changed", changed | {"balance_fen": -1})


def test_a_firm_payable_is_the_fee_less_the_commission():
    payable = VALID["firm_payable_recorded"]
    assert "payable_fen" in errors("firm_payable_recorded", payable | {"payable_fen": 80_000})
    assert "commission_fen" in errors("firm_payable_recorded", payable | {"commission_fen": 7_999})
    # 12,345 × 10 % = 1,234.5 → 1,235 (half up); the firm gets 11,110.
    odd = payable | {"fee_fen": 12_345, "commission_fen": 1_235, "payable_fen": 11_110}
    assert errors("firm_payable_recorded", odd) == {}


def test_a_reading_anomaly_keeps_both_readings_as_decimal_strings():
    anomaly = VALID["reading_anomaly"]
    assert load("reading_anomaly", anomaly)["previous_reading"] == Decimal("12345.6")
    assert "reading" in errors("reading_anomaly", anomaly | {"reading": 120.0})
    assert "kind" in errors("reading_anomaly", anomaly | {"kind": "gas"})
    bare = {k: anomaly[k] for k in ("meter_id", "unit_id", "reading", "read_at", "why")}
    assert load("reading_anomaly", bare | {"why": "conflict"})["previous_reading"] is None


# --- buyback netting -----------------------------------------------------------------------


def test_the_issues_worked_example_nets_to_51_153_650():
    loaded = load("buyback_settlement_computed", VALID["buyback_settlement_computed"])
    assert loaded["net_fen"] == 96_000_000 - 44_846_350 == 51_153_650


def test_a_negative_net_is_allowed_the_enterprise_still_owes_it():
    owing = VALID["buyback_settlement_computed"] | {
        "gross_fen": 40_000_000,
        "net_fen": 40_000_000 - 44_846_350,
    }
    assert load("buyback_settlement_computed", owing)["net_fen"] == -4_846_350


def test_a_charge_recorded_but_not_yet_invoiced_is_an_offset_too():
    # A paid service resolved after the last cycle: the enterprise owes its 80,000 fen.
    settled = VALID["buyback_settlement_computed"]
    pending = {"kind": "uninvoiced_charge", "invoice_id": None, "amount_fen": 80_000}
    payload = settled | {
        "offsets": [*settled["offsets"], pending],
        "net_fen": settled["net_fen"] - 80_000,
    }
    assert errors("buyback_settlement_computed", payload) == {}


def test_a_net_that_is_not_gross_less_the_offsets_is_malformed():
    settled = VALID["buyback_settlement_computed"]
    assert "net_fen" in errors("buyback_settlement_computed", settled | {"net_fen": 51_200_000})
    no_debts = settled | {"offsets": [], "net_fen": 96_000_000}
    assert errors("buyback_settlement_computed", no_debts) == {}


@pytest.mark.parametrize(
    "offset",
    [
        {"kind": "purchase_balance", "invoice_id": None, "amount_fen": -1},
        {"kind": "purchase_balance", "invoice_id": None, "amount_fen": 0},
        {"kind": "purchase_balance", "invoice_id": None, "amount_fen": 1.5},
        {"kind": "goodwill", "invoice_id": None, "amount_fen": 1},
        {"kind": "invoice", "invoice_id": "INV-1", "amount_fen": 1},
        {"kind": "invoice", "amount_fen": 1},
        {"kind": "unpaid_invoice", "invoice_id": None, "amount_fen": 1},
    ],
)
def test_a_bad_offset_is_refused(offset):
    payload = VALID["buyback_settlement_computed"] | {"offsets": [offset], "net_fen": 0}
    assert "offsets" in errors("buyback_settlement_computed", payload)


def test_after_settlement_a_positive_net_is_paid_out_and_a_negative_one_still_owed():
    netted = VALID["buyback_netted"]
    owing = netted | {"net_fen": -46_350, "payout_fen": 0, "still_owed_fen": 46_350}
    assert errors("buyback_netted", owing) == {}
    assert "payout_fen" in errors("buyback_netted", owing | {"payout_fen": -46_350})
    assert "net_fen" in errors("buyback_netted", owing | {"payout_fen": 46_350})
    assert "net_fen" in errors("buyback_netted", netted | {"still_owed_fen": 1})


def test_the_net_is_a_strict_integer_too():
    settled = VALID["buyback_settlement_computed"]
    for bad in (51_153_650.0, "51153650", True):
        assert "net_fen" in errors("buyback_settlement_computed", settled | {"net_fen": bad})


SETTLEMENT_REQUESTED = {
    "claim_id": CLAIM_ID,
    "enterprise_id": "ent-0001",
    "units": [{"unit_id": "B01-1F-01", "price_fen": 96_000_000}],
    "gross_fen": 96_000_000,
}


def test_a_settlement_request_carries_the_units_original_prices_and_their_sum():
    assert load("settlement_requested", SETTLEMENT_REQUESTED, "buyback")["gross_fen"] == 96_000_000
    two = SETTLEMENT_REQUESTED | {
        "units": [
            {"unit_id": "S05", "price_fen": 320_000_000},
            {"unit_id": "S06", "price_fen": 320_000_000},
        ],
        "gross_fen": 640_000_000,
    }
    assert errors("settlement_requested", two, "buyback") == {}
    assert "gross_fen" in errors("settlement_requested", two | {"gross_fen": 1}, "buyback")
    twice = two | {"units": [two["units"][0], two["units"][0]]}
    assert "units" in errors("settlement_requested", twice, "buyback")


def test_a_unit_recorded_at_no_price_is_bought_back_for_nothing_but_still_nets():
    # Onboarding allows a price of 0 fen (a unit given to the enterprise): a settlement for
    # it is not malformed — billing nets the debts, and the net is negative.
    free = SETTLEMENT_REQUESTED | {"units": [{"unit_id": "S05", "price_fen": 0}], "gross_fen": 0}
    assert errors("settlement_requested", free, "buyback") == {}
    negative = {"units": [{"unit_id": "S05", "price_fen": -1}], "gross_fen": -1}
    assert "units" in errors("settlement_requested", SETTLEMENT_REQUESTED | negative, "buyback")


@pytest.mark.parametrize(
    "units",
    [[], [{"unit_id": "S05"}], [{"unit_id": "S05", "price_fen": "1"}], ["S05"]],
)
def test_a_settlement_request_without_priced_units_is_refused(units):
    payload = SETTLEMENT_REQUESTED | {"units": units}
    assert "units" in errors("settlement_requested", payload, "buyback")


def test_claim_settled_keeps_its_v1_shape_and_gains_optional_amounts_and_date():
    v1 = {"claim_id": CLAIM_ID, "enterprise_id": "ent-0001", "units": ["B01-1F-01"]}
    assert load("claim_settled", v1, "buyback")["settled_on"] is None
    full = v1 | {"gross_fen": 96_000_000, "net_fen": -46_350, "settled_on": "2027-03-02"}
    assert str(load("claim_settled", full, "buyback")["settled_on"]) == "2027-03-02"
    assert "settled_on" in errors(
        "claim_settled", full | {"settled_on": "2027-03-02T00:00:00Z"}, "buyback"
    )
    assert "gross_fen" in errors("claim_settled", full | {"gross_fen": -1}, "buyback")


# --- hostile input (STYLE #10) ----------------------------------------------------------------


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(sorted(VALID)), st.data())
def test_any_value_in_any_field_is_accepted_or_refused_never_a_crash(type_, data):
    payload = copy.deepcopy(VALID[type_])
    field = data.draw(st.sampled_from(sorted(payload)))
    payload[field] = data.draw(_JSON)
    with contextlib.suppress(MalformedMessage):
        load(type_, payload)


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10**11), st.sampled_from(["0", "0.06", "0.09", "0.13", "0.5"])),
        min_size=1,
        max_size=6,
    )
)
def test_any_lines_with_their_tax_split_make_a_valid_invoice(pairs):
    lines_ = [line(CATEGORIES[i % 6], total, rate) for i, (total, rate) in enumerate(pairs)]
    if sum(item["total_fen"] for item in lines_) < 1:
        return
    payload = invoice(*lines_)
    assert errors("invoice_issued", payload) == {}
    assert 0 <= payload["tax_fen"] <= payload["total_fen"]


def test_a_uuid_is_required_where_billing_makes_the_id():
    assert "invoice_id" in errors("invoice_paid", VALID["invoice_paid"] | {"invoice_id": "INV-1"})
    assert "claim_id" in errors(
        "buyback_settlement_computed",
        VALID["buyback_settlement_computed"] | {"claim_id": str(uuid.uuid4())[:8]},
    )
