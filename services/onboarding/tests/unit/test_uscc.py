import pytest

from services.onboarding.domain.uscc import (
    ALPHABET,
    CHECK_WEIGHTS,
    build_uscc,
    compute_check_character,
    compute_organisation_check_digit,
    is_valid_uscc,
    validate_uscc,
)
from services.onboarding.tests.unit.builders import valid_uscc


def _with_check(first_seventeen: str) -> str:
    return first_seventeen + compute_check_character(first_seventeen)


def test_a_built_code_is_valid():
    assert validate_uscc(valid_uscc()) == []


def test_the_python_stdnum_test_vector_is_valid():
    # Published as a valid example by python-stdnum (cn.uscc); it cross-checks our weights
    # and both check characters against an independent implementation.
    assert is_valid_uscc("91110000600037341L")


def test_check_character_follows_the_gb32100_weights():
    # Σ value×weight over 91110000600037341 is 538; 31 - 538 mod 31 = 20, which is "L".
    assert compute_check_character("91110000600037341") == "L"


def test_a_weighted_sum_divisible_by_31_gives_check_character_zero():
    # 31 - 0 would be 31, outside the alphabet: the standard maps it to "0".
    code = next(
        c for n in range(10_000) if (c := build_uscc("91410106", f"MA{n:06d}")).endswith("0")
    )
    weighted = sum(ALPHABET.index(c) * w for c, w in zip(code, CHECK_WEIGHTS, strict=False))
    assert weighted % 31 == 0
    assert is_valid_uscc(code)


def test_organisation_check_digit_may_be_x():
    body = next(
        f"MA{n:06d}" for n in range(10_000) if compute_organisation_check_digit(f"MA{n:06d}") == "X"
    )
    assert is_valid_uscc(build_uscc("91410106", body))


def test_a_wrong_check_character_is_reported_with_the_expected_one():
    code = valid_uscc()
    wrong = "1" if code[-1] != "1" else "2"
    problems = validate_uscc(code[:-1] + wrong)
    assert problems == [f"check character is {wrong!r} but should be {code[-1]!r}"]


@pytest.mark.parametrize("letter", ["I", "O", "Z", "S", "V"])
def test_letters_left_out_of_the_alphabet_are_refused(letter):
    code = valid_uscc()
    bad = code[:10] + letter + code[11:]
    problems = validate_uscc(bad)
    assert any(f"{letter!r} at position 11" in problem for problem in problems)


def test_lower_case_letters_are_refused():
    problems = validate_uscc(valid_uscc().lower())
    assert any("alphabet" in problem for problem in problems)


def test_a_short_code_reports_its_length_and_every_other_fault():
    problems = validate_uscc("9X41O106MA0")
    assert any("18 characters long, not 11" in p for p in problems)
    assert any("'O' at position 5" in p for p in problems)
    assert any("institution-category code 'X'" in p for p in problems)
    assert any("division code, not '41O106'" in p for p in problems)
    assert len(problems) == 4


def test_a_long_code_is_refused():
    assert "must be 18 characters long, not 19" in validate_uscc(valid_uscc() + "1")


def test_the_empty_string_reports_only_its_length():
    assert validate_uscc("") == ["must be 18 characters long, not 0"]


def test_an_unknown_registration_authority_is_refused():
    problems = validate_uscc(_with_check("B1410106MA0000011"))
    assert problems[0].startswith("registration-authority code 'B'")


def test_a_category_the_authority_does_not_issue_is_refused():
    # 工商 (9) issues 1 企业, 2 个体工商户, 3 农民专业合作社: never 9.
    problems = validate_uscc(_with_check("99410106" + valid_uscc()[8:17]))
    assert problems == [
        "institution-category code '9' (position 2) is not one of 工商's categories (1, 2, 3)"
    ]


@pytest.mark.parametrize("prefix", ["11100000", "51410106", "92410106", "N3410106", "Y1410106"])
def test_codes_of_other_authorities_and_categories_are_valid(prefix):
    assert is_valid_uscc(build_uscc(prefix, "MA000001"))


def test_letters_in_the_division_code_are_refused():
    problems = validate_uscc(_with_check("914101A6" + valid_uscc()[8:17]))
    assert problems == ["positions 3–8 must be the digits of a division code, not '4101A6'"]


def test_a_wrong_organisation_check_digit_is_reported():
    organisation = "MA0000010"  # the right digit for MA000001 is not 0
    assert compute_organisation_check_digit("MA000001") != "0"
    problems = validate_uscc(_with_check("91410106" + organisation))
    assert len(problems) == 1
    assert "organisation code 'MA0000010'" in problems[0]


def test_computing_a_check_character_refuses_bad_input():
    with pytest.raises(ValueError):
        compute_check_character("9141010")
