import pytest

from services.onboarding.domain.gbt4754 import MANUFACTURING_DIVISIONS, SECTIONS
from services.onboarding.domain.industries import (
    IndustryCode,
    IndustryPrefixes,
    IndustryRules,
    UnknownIndustryCode,
    parse_industry_code,
)


@pytest.mark.parametrize("text", ["C", "C34", "C346", "C3464", "F5191", "A01", "T97"])
def test_sections_divisions_groups_and_classes_parse(text):
    assert str(parse_industry_code(text)) == text


def test_a_parsed_class_knows_its_division_and_its_name():
    code = parse_industry_code("C3464")
    assert code.division == "C34"
    assert code.division_name == "通用设备制造业"


def test_the_table_holds_the_31_manufacturing_divisions_c13_to_c43():
    assert list(MANUFACTURING_DIVISIONS) == [f"C{n}" for n in range(13, 44)]
    assert MANUFACTURING_DIVISIONS["C13"] == "农副食品加工业"
    assert MANUFACTURING_DIVISIONS["C43"] == "金属制品、机械和设备修理业"


def test_the_sections_run_a_to_t_with_contiguous_divisions_01_to_97():
    assert "".join(SECTIONS) == "ABCDEFGHIJKLMNOPQRST"
    divisions = [n for _, numbers in SECTIONS.values() for n in numbers]
    assert divisions == list(range(1, 98))


@pytest.mark.parametrize("text", ["C44", "C12", "C4400", "C1200"])
def test_a_manufacturing_division_that_does_not_exist_is_unknown(text):
    with pytest.raises(UnknownIndustryCode, match="divisions run C13–C43"):
        parse_industry_code(text)


def test_a_division_of_another_section_is_unknown():
    with pytest.raises(UnknownIndustryCode, match=r"section F .* has no division 34"):
        parse_industry_code("F34")


@pytest.mark.parametrize("text", ["", "C3", "c34", "3464", "C34641", "U12", "C 34", "C34a"])
def test_malformed_codes_are_unknown(text):
    with pytest.raises(UnknownIndustryCode, match="not a GB/T 4754 code"):
        parse_industry_code(text)


def _decide(rules: IndustryRules, text: str):
    return rules.decide(parse_industry_code(text))


def test_an_allowed_section_admits_every_code_in_it():
    rules = IndustryRules(allow=("C",))
    assert _decide(rules, "C3464").admitted
    assert _decide(rules, "C").admitted


def test_a_code_outside_the_allow_list_is_not_admitted():
    decision = _decide(IndustryRules(allow=("C",)), "F5191")
    assert not decision.admitted
    assert "not admitted by this park (admits: C)" in decision.message


def test_an_allowed_prefix_does_not_admit_a_coarser_code():
    rules = IndustryRules(allow=("C346",))
    assert not _decide(rules, "C34").admitted


def test_admission_names_the_longest_allow_prefix_that_matched():
    decision = _decide(IndustryRules(allow=("C", "C34", "C346")), "C3464")
    assert decision.rule == "C346"


def test_deny_wins_over_a_longer_allow_prefix():
    decision = _decide(IndustryRules(allow=("C3464",), deny=("C34",)), "C3464")
    assert not decision.admitted
    assert decision.rule == "C34"


def test_refusal_names_the_longest_deny_prefix_that_matched():
    decision = _decide(IndustryRules(allow=("C",), deny=("C", "C33", "C336")), "C3360")
    assert decision.rule == "C336"


def test_codes_beside_a_deny_prefix_are_still_admitted():
    rules = IndustryRules(allow=("C38",), deny=("C384",))
    assert _decide(rules, "C3811").admitted


def test_a_code_too_coarse_to_rule_out_a_deny_prefix_is_not_admitted():
    decision = _decide(IndustryRules(allow=("C38",), deny=("C384",)), "C38")
    assert not decision.admitted
    assert "not specific enough" in decision.message


def test_an_empty_allow_list_admits_nothing():
    assert not _decide(IndustryRules(), "C3464").admitted


def test_rules_with_a_bad_prefix_cannot_be_built():
    with pytest.raises(UnknownIndustryCode):
        IndustryRules(allow=("C44",))


def test_a_review_prefix_covers_codes_below_it():
    assert IndustryPrefixes(("C26",)).may_cover(parse_industry_code("C2614"))


def test_a_review_prefix_counts_for_a_code_too_coarse_to_rule_it_out():
    assert IndustryPrefixes(("C336",)).may_cover(parse_industry_code("C33"))


def test_a_review_prefix_does_not_cover_a_sibling():
    assert not IndustryPrefixes(("C336",)).may_cover(parse_industry_code("C3311"))


def test_codes_compare_by_value():
    assert parse_industry_code("C34") == IndustryCode("C", "34")
