"""The park file's ``buyback:`` section: defaults, values, and every fault named."""

from pathlib import Path

import pytest

from services.buyback.domain.policy import (
    BuybackPolicy,
    BuybackPolicyError,
    load_buyback_policies,
    parse_buyback_policy,
)

ROOT = Path(__file__).resolve().parents[4]
HEAD = "park: {id: test-park}\nprices_fen_per_m2: {}\nbuildings: []\n"


def test_a_park_file_without_the_section_gets_the_defaults():
    assert parse_buyback_policy(HEAD) == BuybackPolicy("test-park", 10, 24, 5)


def test_the_section_sets_each_deadline():
    text = HEAD + (
        "buyback:\n  review_deadline_days: 7\n  settlement_deadline_hours: 48\n"
        "  release_deadline_days: 3\n"
    )
    assert parse_buyback_policy(text) == BuybackPolicy("test-park", 7, 48, 3)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("review_deadline_days: 0", "buyback.review_deadline_days"),
        ("review_deadline_days: '10'", "buyback.review_deadline_days"),
        ("settlement_deadline_hours: 2.5", "buyback.settlement_deadline_hours"),
        ("release_deadline_days: 61", "buyback.release_deadline_days"),
        ("grace_days: 3", "buyback.grace_days"),
    ],
)
def test_a_bad_value_is_refused_naming_the_field_and_line(line, field):
    with pytest.raises(BuybackPolicyError) as error:
        parse_buyback_policy(HEAD + "buyback:\n  " + line + "\n", "p.yaml")
    assert field in str(error.value) and "p.yaml" in str(error.value)


def test_the_repositorys_park_files_are_valid():
    policies = load_buyback_policies(ROOT / "deploy" / "parks")
    assert "aux-shangjie" in policies


def test_buyback_reads_its_own_section_of_the_park_file():
    from shared.park_file import DECLARED_SECTIONS, READ_SECTIONS

    assert "buyback" in READ_SECTIONS and "buyback" not in DECLARED_SECTIONS


def test_a_section_that_is_not_a_mapping_is_refused_naming_its_line():
    with pytest.raises(BuybackPolicyError) as error:
        parse_buyback_policy(HEAD + "buyback: 5\n", "p.yaml")
    assert "p.yaml:4: buyback" in str(error.value)
    assert "must be a mapping" in str(error.value)
