import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.onboarding.domain.park_definition import (
    SECTION,
    ParkDefinitionError,
    load_park_definition,
    load_park_definitions,
    parse_park_definition,
)
from services.onboarding.tests.unit.builders import PARKS_DIR
from shared.park_file import READ_SECTIONS
from tests.support.yaml_errors import FileErrors, hostile_values, with_value

# The reader under test: its errors name the file, and each problem its line and field.
FILE = FileErrors(parse_park_definition, ParkDefinitionError)

DEMO = PARKS_DIR / "aux-shangjie.yaml"

MINIMAL = """\
park:
  id: mini
  name: 小园
  district: 上街区
prices_fen_per_m2:
  purchase: 320000
  monthly_rent: 1500
  monthly_property_fee: 150
buildings:
  - id: B01
    floors: 1
    rooms_per_floor: 2
    room_area_m2: 300
onboarding:
  industries: {allow: [C]}
  required_documents: [营业执照]
  deficiency_deadline_business_days: 10
  departments: [{id: market_regulation, name: 市场监管}]
  chief_service_officers: [{id: cso-01, name: 张伟}]
"""


def test_the_demo_park_has_432_rooms_of_129600_square_metres():
    park = load_park_definition(DEMO)
    rooms = [unit for unit in park.units if unit.room is not None]
    assert len(rooms) == 432
    assert sum(unit.area_m2 for unit in rooms) == 129_600


def test_the_demo_park_has_eight_custom_units_of_1000_square_metres():
    park = load_park_definition(DEMO)
    custom = [unit for unit in park.units if unit.room is None]
    assert [unit.unit_id for unit in custom] == [f"S0{n}" for n in range(1, 9)]
    assert {unit.area_m2 for unit in custom} == {1000}


def test_the_demo_park_prices_every_unit_in_fen():
    unit = next(u for u in load_park_definition(DEMO).units if u.unit_id == "B07-2F-03")
    assert (unit.building, unit.floor, unit.room, unit.area_m2) == ("B07", 2, 3, 300)
    assert unit.purchase_price_per_m2_fen == 320_000
    assert unit.monthly_rent_per_m2_fen == 1_500
    assert unit.property_fee_per_m2_fen == 150


def test_a_floor_stands_for_its_six_rooms():
    floor = load_park_definition(DEMO).floors["B07-2F"]
    assert floor.unit_ids == tuple(f"B07-2F-0{n}" for n in range(1, 7))


def test_the_demo_policy_reviews_with_four_departments_and_four_officers():
    policy = load_park_definition(DEMO).policy
    assert len(policy.departments) == 4
    assert [officer.id for officer in policy.chief_service_officers] == [
        "cso-01",
        "cso-02",
        "cso-03",
        "cso-04",
    ]


def test_every_shipped_park_file_loads_and_the_parks_differ_in_policy():
    parks = load_park_definitions(PARKS_DIR)
    assert set(parks) >= {"aux-shangjie", "shangjie-equipment"}
    assert parks["aux-shangjie"].policy != parks["shangjie-equipment"].policy


def test_a_building_can_list_its_rooms_floor_by_floor():
    park = load_park_definition(PARKS_DIR / "shangjie-equipment.yaml")
    b07 = [(u.unit_id, u.area_m2) for u in park.units if u.building == "B07"]
    assert b07 == [
        ("B07-1F-01", 800),
        ("B07-1F-02", 800),
        ("B07-2F-01", 400),
        ("B07-2F-02", 400),
        ("B07-2F-03", 600),
    ]


def test_requested_floors_expand_into_rooms_without_repeats():
    park = parse_park_definition(MINIMAL)
    assert park.resolve_requested_units(["B01-1F-02", "B01-1F", "X"]) == (
        "B01-1F-02",
        "B01-1F-01",
        "X",
    )


def test_a_minimal_file_needs_no_custom_units():
    assert parse_park_definition(MINIMAL).custom_units == ()


def test_a_fractional_price_is_reported_with_its_line():
    problems = FILE.problems(MINIMAL.replace("purchase: 320000", "purchase: 12.5"))
    assert [(p.line, p.field) for p in problems] == [(6, "prices_fen_per_m2.purchase")]
    assert "not 12.5 (float)" in problems[0].message


def test_a_quoted_price_is_rejected():
    problems = FILE.problems(MINIMAL.replace("monthly_rent: 1500", 'monthly_rent: "12"'))
    assert [(p.line, p.field) for p in problems] == [(7, "prices_fen_per_m2.monthly_rent")]


@pytest.mark.parametrize("value", ["true", "012", "1_500", "0x10", "-1"])
def test_integers_must_be_plain_positive_decimals(value):
    problems = FILE.problems(MINIMAL.replace("room_area_m2: 300", f"room_area_m2: {value}"))
    assert [(p.line, p.field) for p in problems] == [(13, "buildings[0].room_area_m2")]


@pytest.mark.parametrize(
    ("old", "new", "line", "field"),
    [
        ("room_area_m2: 300", "room_area_m2: 1000001", 13, "buildings[0].room_area_m2"),
        (
            "room_area_m2: 300",
            "rooms_by_floor: [[300, 2147483648]]",
            11,  # floors and rooms_per_floor removed above it
            "buildings[0].rooms_by_floor[0][1]",
        ),
    ],
)
def test_an_area_beyond_a_square_kilometre_is_reported_not_stored(old, new, line, field):
    text = MINIMAL.replace(old, new)
    if "rooms_by_floor" in new:
        text = text.replace("    floors: 1\n    rooms_per_floor: 2\n", "")
    problems = FILE.problems(text)
    assert [(p.line, p.field) for p in problems] == [(line, field)]
    assert "between 1 and 1000000" in problems[0].message


def test_a_custom_unit_beyond_a_square_kilometre_is_reported():
    text = MINIMAL.replace(
        "onboarding:", "custom_units:\n  - {id: S01, area_m2: 5000000}\nonboarding:"
    )
    assert FILE.fields(text) == [(15, "custom_units[0].area_m2")]


def test_every_fault_in_a_file_is_reported_at_once():
    text = (
        MINIMAL.replace("floors: 1", "floors: 0")
        .replace("allow: [C]", "allow: [C44]")
        .replace("id: cso-01", "id: 1")
    )
    problems = FILE.problems(text)
    assert [(p.line, p.field) for p in problems] == [
        (11, "buildings[0].floors"),
        (15, "onboarding.industries.allow[0]"),
        (19, "onboarding.chief_service_officers[0].id"),
    ]


def test_the_error_message_names_file_line_and_field():
    with pytest.raises(ParkDefinitionError, match=r"bad\.yaml:11: buildings\[0\]\.floors: "):
        parse_park_definition(MINIMAL.replace("floors: 1", "floors: 0"), "bad.yaml")


def test_a_misspelt_key_is_reported():
    problems = FILE.problems(MINIMAL.replace("rooms_per_floor", "rooms_per_flor"))
    assert ("buildings[0].rooms_per_flor", 12) in [(p.field, p.line) for p in problems]


def test_a_repeated_key_is_reported():
    problems = FILE.problems(
        MINIMAL.replace("  district: 上街区\n", "  district: 上街区\n  id: other\n")
    )
    assert [(p.line, p.field, p.message) for p in problems] == [(5, "park.id", "repeated key")]


def test_a_missing_section_is_reported():
    problems = FILE.problems(MINIMAL[: MINIMAL.index("onboarding:")])
    assert [(p.field, p.message) for p in problems] == [("onboarding", "is required")]


def test_a_building_defined_twice_is_reported():
    text = MINIMAL.replace(
        "  - id: B01\n",
        "  - ids: B01..B02\n    floors: 1\n    rooms_per_floor: 1\n    room_area_m2: 1\n"
        "  - id: B02\n",
    )
    problems = FILE.problems(text)
    assert [(p.field, p.message) for p in problems] == [
        ("buildings", "'B02' appears more than once")
    ]


def test_a_building_range_must_run_upwards():
    problems = FILE.problems(MINIMAL.replace("- id: B01", "- ids: B05..B01"))
    assert [p.field for p in problems] == ["buildings[0].ids"]


def test_custom_unit_ids_need_the_s_prefix():
    text = MINIMAL + "custom_units:\n  - id: B09\n    area_m2: 1000\n"
    problems = FILE.problems(text)
    assert [(p.line, p.field) for p in problems] == [(21, "custom_units[0].id")]


def test_a_yaml_syntax_error_is_reported_with_its_line():
    problems = FILE.problems(MINIMAL.replace("  name: 小园", "  name: [小园"))
    assert problems[0].field == "(yaml)"
    assert problems[0].line == 4


def test_an_empty_file_is_reported():
    assert FILE.problems("")[0].message == "the file is empty"


def test_two_files_defining_one_park_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_text(MINIMAL, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(MINIMAL, encoding="utf-8")
    with pytest.raises(ValueError, match="park id 'mini' is already defined"):
        load_park_definitions(tmp_path)


def test_the_review_time_limit_and_lease_terms_default_when_not_given():
    policy = parse_park_definition(MINIMAL).policy
    assert policy.review_time_limit_business_days == 20
    assert policy.lease_terms_months == (12, 24, 36, 60)


def test_the_review_time_limit_and_lease_terms_are_read_from_the_policy():
    text = MINIMAL + "  review_time_limit_business_days: 15\n  lease_terms_months: [6, 12]\n"
    policy = parse_park_definition(text).policy
    assert policy.review_time_limit_business_days == 15
    assert policy.lease_terms_months == (6, 12)


def test_both_shipped_parks_state_their_review_time_limit_and_lease_terms():
    for park in load_park_definitions(PARKS_DIR).values():
        assert park.policy.review_time_limit_business_days == 20
        assert park.policy.lease_terms_months == (12, 24, 36, 60)


@pytest.mark.parametrize("value", ["0", "-3", "2.5", '"20"'])
def test_the_review_time_limit_must_be_a_positive_integer(value):
    problems = FILE.problems(MINIMAL + f"  review_time_limit_business_days: {value}\n")
    assert [(p.line, p.field) for p in problems] == [
        (20, "onboarding.review_time_limit_business_days")
    ]


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ("[12, 0]", "onboarding.lease_terms_months[1]"),
        ("[12, 12]", "onboarding.lease_terms_months[1]"),
        ("[24, 12, 36]", "onboarding.lease_terms_months[1]"),
        ("[12, 1.5]", "onboarding.lease_terms_months[1]"),
        ("[]", "onboarding.lease_terms_months"),
        ("12", "onboarding.lease_terms_months"),
    ],
)
def test_lease_terms_must_be_positive_and_strictly_increasing(terms, field):
    problems = FILE.problems(MINIMAL + f"  lease_terms_months: {terms}\n")
    assert [(p.line, p.field) for p in problems] == [(20, field)]


def test_onboardings_rules_live_in_its_own_section_and_a_top_level_policy_is_refused():
    problems = FILE.problems(MINIMAL.replace("onboarding:", "policy:"))
    assert [(p.line, p.field) for p in problems] == [(1, "onboarding"), (14, "policy")]
    assert "no service owns it" in problems[1].message


def test_the_sections_of_other_services_are_accepted_and_left_to_them():
    park = parse_park_definition(MINIMAL + "billing:\n  late_fee_per_day_permille: 5\n")
    assert park.policy.deficiency_deadline_business_days == 10


# Park files are hostile input (STYLE #10): whatever the text, a ParkDefinitionError
# naming a line, or a park; never another exception.


def test_deep_nesting_is_reported_not_a_crash():
    problems = FILE.problems("park: " + "[" * 5000)
    assert [(p.line, p.field) for p in problems] == [(1, "(yaml)")]
    assert "nested too deeply" in problems[0].message


@pytest.mark.parametrize("character", ["\x00", "\x07", "\ufffe"])
def test_a_character_yaml_refuses_is_reported_with_its_line(character):
    problems = FILE.problems(MINIMAL.replace("name: 小园", f"name: 小{character}园"))
    assert [(p.line, p.field) for p in problems] == [(3, "(yaml)")]


def test_a_file_that_is_not_a_mapping_names_the_file_as_the_field():
    problems = FILE.problems("- 1\n")
    assert [(p.line, p.field) for p in problems] == [(1, "(file)")]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_park_or_a_reported_error(text):
    FILE.parses_or_reports(text)


_SCALARS = hostile_values("!!python/none ''")


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_value_in_place_of_any_value_is_a_park_or_a_reported_error(data):
    index = data.draw(st.integers(0, len(MINIMAL.splitlines()) - 1))
    FILE.parses_or_reports(with_value(MINIMAL, index, data.draw(_SCALARS)))


def test_onboarding_is_registered_as_a_reader_of_its_section():
    assert SECTION in READ_SECTIONS


def test_a_directory_without_park_files_is_an_error_not_an_empty_load(tmp_path):
    with pytest.raises(ValueError, match="no park files"):
        load_park_definitions(tmp_path)
    with pytest.raises(ValueError, match="no park files"):
        load_park_definitions(tmp_path / "missing")


# -- lengths: every string of the park file fits where it is stored ------------------------

LONGEST = {
    "id: mini": "id: " + "m" * 64,
    "name: 小园": "name: " + "园" * 200,
    "district: 上街区": "district: " + "区" * 200,
    "[营业执照]": "[" + "证" * 200 + "]",
    "id: market_regulation, name: 市场监管": f"id: {'d' * 64}, name: {'监' * 200}",
    "id: cso-01, name: 张伟": f"id: {'c' * 64}, name: {'伟' * 200}",
}


def test_the_longest_valid_strings_are_read():
    text = MINIMAL
    for old, new in LONGEST.items():
        text = text.replace(old, new)

    park = parse_park_definition(text)

    assert park.id == "m" * 64 and park.name == "园" * 200 and park.district == "区" * 200
    assert park.policy.required_documents == ("证" * 200,)
    [department] = park.policy.departments
    assert (department.id, department.name) == ("d" * 64, "监" * 200)
    [officer] = park.policy.chief_service_officers
    assert (officer.id, officer.name) == ("c" * 64, "伟" * 200)


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "limit"),
    [
        ("id: mini", "id: " + "m" * 65, 2, "park.id", 64),
        ("name: 小园", "name: " + "园" * 201, 3, "park.name", 200),
        ("district: 上街区", "district: " + "区" * 201, 4, "park.district", 200),
        ("[营业执照]", "[" + "证" * 201 + "]", 16, "onboarding.required_documents[0]", 200),
        (
            "id: market_regulation",
            "id: " + "d" * 65,
            18,
            "onboarding.departments[0].id",
            64,
        ),
        ("name: 市场监管", "name: " + "监" * 201, 18, "onboarding.departments[0].name", 200),
        ("id: cso-01", "id: " + "c" * 65, 19, "onboarding.chief_service_officers[0].id", 64),
        ("name: 张伟", "name: " + "伟" * 201, 19, "onboarding.chief_service_officers[0].name", 200),
    ],
)
def test_a_string_longer_than_its_column_is_reported_with_its_line(old, new, line, field, limit):
    problems = FILE.problems(MINIMAL.replace(old, new))

    assert [(p.line, p.field) for p in problems] == [(line, field)]
    assert f"at most {limit} characters" in problems[0].message
