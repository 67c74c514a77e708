from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ticketing.domain.catalogue import FirmKind, load_catalogue, parse_catalogue
from services.ticketing.domain.firm_directory import (
    Contact,
    Firm,
    FirmDirectory,
    FirmDirectoryError,
    FirmId,
    Severity,
    check_coverage,
    load_firm_directories,
    load_firm_directory,
    parse_firm_directory,
)
from services.ticketing.tests.unit.test_catalogue import MINIMAL as MINIMAL_CATALOGUE
from tests.support.yaml_errors import FileErrors, hostile_values, with_value

# The reader under test: its errors name the file, and each problem its line and field.
FILE = FileErrors(parse_firm_directory, FirmDirectoryError)

REPO = Path(__file__).resolve().parents[4]
CATALOGUE = REPO / "deploy" / "catalogue.yaml"
DEMO_FIRMS = REPO / "deploy" / "firms" / "aux-shangjie.yaml"

# Serves MINIMAL_CATALOGUE: two law firms, one finance firm, no environmental firm.
MINIMAL = """\
park: aux-shangjie
firms:
  - firm_id: zhengheng-law
    name: 郑州上街正衡律师事务所
    kind: legal
    skills: [labour_law, buyback_review]
    capacity: 30
    contact: {person: 周正衡, phone: "0371-6812-0101", email: office@zhengheng.example}
  - firm_id: mingli-law
    name: 河南明理律师事务所
    kind: legal
    skills: [labour_law, buyback_review]
    capacity: 20
    contact: {person: 孙明理, phone: "0371-6812-0202"}
  - firm_id: dingxin-finance
    name: 河南鼎信财务顾问有限公司
    kind: finance
    skills: [buyback_review]
    capacity: 10
    contact: {person: 郑鼎, phone: "+86 371 6812 1101"}
"""


def _first_firm(key: str, replacement: str) -> str:
    """MINIMAL with one line of the first firm replaced."""
    lines = MINIMAL.splitlines(keepends=True)
    index = next(i for i, text in enumerate(lines) if text[4:].startswith(f"{key}:"))
    lines[index] = f"{lines[index][:4]}{key}: {replacement}\n"
    return "".join(lines)


# --- the demo park's firms --------------------------------------------------------------


def test_the_demo_park_has_at_least_two_firms_of_each_kind_and_one_service_centre():
    directory = load_firm_directory(DEMO_FIRMS)
    kinds = Counter(firm.kind for firm in directory)
    assert directory.park_id == "aux-shangjie"
    for kind in FirmKind:
        if kind is FirmKind.PARK:
            assert kinds[kind] == 1
        else:
            assert kinds[kind] >= 2, kind
    centre = directory.of_kind(FirmKind.PARK)[0]
    assert centre.firm_id == FirmId("park-service-centre")


def test_the_demo_firms_cover_the_whole_catalogue_without_error_or_warning():
    assert check_coverage(load_catalogue(CATALOGUE), load_firm_directory(DEMO_FIRMS)) == []


def test_every_buyback_and_environmental_review_can_go_to_two_firms():
    catalogue = load_catalogue(CATALOGUE)
    directory = load_firm_directory(DEMO_FIRMS)
    for entry in catalogue:
        if entry.opened_by is not None:
            assert len(directory.able_to_take(entry)) >= 2, entry.code


# --- reading ------------------------------------------------------------------------------


def test_a_firm_is_read_with_its_kind_skills_capacity_and_contact():
    directory = parse_firm_directory(MINIMAL)
    firm = directory.get("zhengheng-law")
    assert firm == Firm(
        FirmId("zhengheng-law"),
        "郑州上街正衡律师事务所",
        FirmKind.LEGAL,
        frozenset({"labour_law", "buyback_review"}),
        30,
        Contact("周正衡", "0371-6812-0101", "office@zhengheng.example"),
    )
    assert [str(firm.firm_id) for firm in directory] == [
        "zhengheng-law",
        "mingli-law",
        "dingxin-finance",
    ]
    assert directory.get(FirmId("mingli-law")).contact.email is None


def test_an_unknown_or_malformed_firm_id_finds_nobody():
    directory = parse_firm_directory(MINIMAL)
    assert directory.get("nobody") is None
    assert directory.get("Not An Id!") is None


def test_a_firm_id_names_its_broker_user_queue_and_routing_key():
    firm_id = FirmId("zhengheng-law")
    assert firm_id.broker_user == "firm-zhengheng-law"
    assert firm_id.work_queue == "firm.zhengheng-law.work"
    assert firm_id.routing_key == "zhengheng-law"


@pytest.mark.parametrize(
    "firm_id",
    ["Zhengheng", "zheng_heng", "zheng.heng", "-law", "law-", "", "a" * 41, "法律", "a b"],
)
def test_a_firm_id_is_lower_case_letters_digits_and_inner_hyphens_up_to_40(firm_id):
    with pytest.raises(ValueError):
        FirmId(firm_id)
    text = _first_firm("firm_id", repr(firm_id))
    assert FILE.fields(text) == [(3, "firms[0].firm_id")]


def test_a_firm_id_of_40_characters_is_accepted():
    assert FirmId("a" * 40).work_queue == f"firm.{'a' * 40}.work"


# --- errors name file, line and field ---------------------------------------------------


def test_an_error_names_the_file_the_line_and_the_field():
    with pytest.raises(FirmDirectoryError) as caught:
        parse_firm_directory(_first_firm("kind", "lawyer"), "deploy/firms/aux-shangjie.yaml")
    assert "deploy/firms/aux-shangjie.yaml:5: firms[0].kind: 'lawyer' is not one of" in str(
        caught.value
    )


def test_a_duplicate_firm_id_is_an_error_at_the_second():
    text = MINIMAL.replace("firm_id: mingli-law", "firm_id: zhengheng-law")
    assert FILE.fields(text) == [(9, "firms[1].firm_id")]


def test_a_duplicate_name_is_an_error_at_the_second():
    text = MINIMAL.replace("name: 河南明理律师事务所", "name: 郑州上街正衡律师事务所")
    assert FILE.fields(text) == [(9, "firms[1].name")]


@pytest.mark.parametrize(
    ("capacity", "field"),
    [
        ("0", "firms[0].capacity"),
        ("-1", "firms[0].capacity"),
        ("2.5", "firms[0].capacity"),
        ("'30'", "firms[0].capacity"),
        ("10001", "firms[0].capacity"),
        ("true", "firms[0].capacity"),
    ],
)
def test_capacity_is_a_positive_integer(capacity, field):
    assert FILE.fields(_first_firm("capacity", capacity)) == [(7, field)]


@pytest.mark.parametrize(
    ("skills", "field"),
    [
        ("[]", "firms[0].skills"),
        ("[labour_law, labour_law]", "firms[0].skills"),
        ("[Labour Law]", "firms[0].skills[0]"),
        ("labour_law", "firms[0].skills"),
    ],
)
def test_skills_are_a_non_empty_list_of_distinct_tags(skills, field):
    assert FILE.fields(_first_firm("skills", skills)) == [(6, field)]


@pytest.mark.parametrize(
    ("contact", "field"),
    [
        ("{person: 周正衡}", "firms[0].contact.phone"),
        ("{person: 周正衡, phone: 13800138000}", "firms[0].contact.phone"),
        ("{person: 周正衡, phone: call me}", "firms[0].contact.phone"),
        ("{person: 周正衡, phone: '0371', email: nobody}", "firms[0].contact.phone"),
        ("{person: 周正衡, phone: '0371-6812-0101', email: nobody}", "firms[0].contact.email"),
        ("{person: 周正衡, phone: '0371-6812-0101', fax: '1'}", "firms[0].contact.fax"),
        ("{person: '', phone: '0371-6812-0101'}", "firms[0].contact.person"),
        ("周正衡", "firms[0].contact"),
    ],
)
def test_a_contact_has_a_person_a_phone_and_perhaps_an_email(contact, field):
    problems = FILE.fields(_first_firm("contact", contact))
    assert problems[0] == (8, field)


def test_unknown_repeated_and_missing_keys_are_errors():
    text = _first_firm("capacity", "30\n    active: true\n    kind: finance")
    text = text.replace("    name: 郑州上街正衡律师事务所\n", "", 1)
    assert FILE.fields(text) == [(3, "firms[0].name"), (7, "firms[0].active"), (8, "firms[0].kind")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [(1, "(file)")]),
        ("firms: []\n", [(1, "firms"), (1, "park")]),
        ("park: aux-shangjie\nfirms: []\n", [(2, "firms")]),
        ("park: AUX\nfirms:\n  - 1\n", [(1, "park"), (3, "firms[0]")]),
        ("park: [\n", [(2, "(yaml)")]),
    ],
)
def test_a_malformed_file_is_reported_not_a_crash(text, expected):
    assert sorted(FILE.fields(text)) == sorted(expected)


def test_a_firm_built_in_code_is_checked_like_one_read_from_the_file():
    contact = Contact("周正衡", "0371-6812-0101")
    with pytest.raises(ValueError):
        Firm(FirmId("a"), "A", FirmKind.LEGAL, frozenset(), 1, contact)
    with pytest.raises(ValueError):
        Firm(FirmId("a"), "A", FirmKind.LEGAL, frozenset({"law"}), 0, contact)
    with pytest.raises(ValueError):
        FirmDirectory(
            "p", [Firm(FirmId("a"), "A", FirmKind.LEGAL, frozenset({"x"}), 1, contact)] * 2
        )


# --- coverage against the catalogue ------------------------------------------------------


def test_a_service_no_firm_of_its_kind_can_take_is_an_error():
    gaps = check_coverage(parse_catalogue(MINIMAL_CATALOGUE), parse_firm_directory(MINIMAL))
    errors = [gap for gap in gaps if gap.severity is Severity.ERROR]
    assert [gap.code for gap in errors] == ["ENV-01"]
    assert "no environmental_review firm in park aux-shangjie" in errors[0].message


def test_a_service_only_one_firm_can_take_is_a_warning():
    gaps = check_coverage(parse_catalogue(MINIMAL_CATALOGUE), parse_firm_directory(MINIMAL))
    warnings = [gap for gap in gaps if gap.severity is Severity.WARNING]
    assert [gap.code for gap in warnings] == ["FIN-01"]
    assert "dingxin-finance" in str(warnings[0])


def test_a_skill_no_firm_of_the_kind_offers_is_named():
    directory = parse_firm_directory(
        MINIMAL.replace("[labour_law, buyback_review]", "[buyback_review]")
    )
    gap = next(
        g
        for g in check_coverage(parse_catalogue(MINIMAL_CATALOGUE), directory)
        if g.code == "LEGAL-01"
    )
    assert gap.severity is Severity.ERROR
    assert "no legal firm offers labour_law" in gap.message


def test_skills_spread_over_two_firms_do_not_make_one_able_firm():
    catalogue = parse_catalogue(
        MINIMAL_CATALOGUE.replace("skills: [labour_law]", "skills: [labour_law, mediation]")
    )
    directory = parse_firm_directory(
        MINIMAL.replace(
            "skills: [labour_law, buyback_review]\n    capacity: 30",
            "skills: [mediation, buyback_review]\n    capacity: 30",
        )
    )
    gap = next(g for g in check_coverage(catalogue, directory) if g.code == "LEGAL-01")
    assert gap.severity is Severity.ERROR
    assert "no single legal firm offers all of labour_law, mediation" in gap.message


def test_a_firm_of_another_kind_with_the_skill_does_not_cover_a_service():
    directory = parse_firm_directory(MINIMAL)
    entry = parse_catalogue(MINIMAL_CATALOGUE)["LEGAL-02"]  # legal, buyback_review
    assert {str(firm.firm_id) for firm in directory.able_to_take(entry)} == {
        "zhengheng-law",
        "mingli-law",
    }


def test_an_inactive_service_needs_no_firm():
    catalogue = parse_catalogue(
        MINIMAL_CATALOGUE.replace(
            "    fee: {fee_fen: 50000}\n", "    fee: {fee_fen: 50000}\n    active: false\n"
        )
    )
    directory = parse_firm_directory(
        MINIMAL.replace("[labour_law, buyback_review]", "[buyback_review]")
    )
    assert "LEGAL-01" not in {gap.code for gap in check_coverage(catalogue, directory)}


def test_the_park_service_centre_alone_is_not_a_warning():
    catalogue = load_catalogue(CATALOGUE)
    directory = load_firm_directory(DEMO_FIRMS)
    park_services = [entry for entry in catalogue if entry.firm_kind is FirmKind.PARK]
    assert park_services
    assert all(len(directory.able_to_take(entry)) == 1 for entry in park_services)
    assert check_coverage(catalogue, directory) == []


# --- hostile input (STYLE #10) ------------------------------------------------------------


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=300))
def test_any_text_is_a_directory_or_a_reported_error(text):
    FILE.parses_or_reports(text)


_SCALARS = hostile_values("{person: a, phone: b}", text_size=45)


@settings(max_examples=400, deadline=None, database=None)
@given(st.data())
def test_any_value_in_place_of_any_value_is_a_directory_or_a_reported_error(data):
    index = data.draw(st.integers(0, len(MINIMAL.splitlines()) - 1))
    FILE.parses_or_reports(with_value(MINIMAL, index, data.draw(_SCALARS)))


# --- every park's firms -------------------------------------------------------------------


def test_every_park_has_a_firms_file_that_covers_the_catalogue():
    catalogue = load_catalogue(CATALOGUE)
    directories = load_firm_directories(DEMO_FIRMS.parent)
    assert set(directories) == {"aux-shangjie", "shangjie-equipment"}
    for directory in directories.values():
        assert check_coverage(catalogue, directory) == [], directory.park_id


def test_a_firm_id_is_global_so_two_parks_cannot_share_one(tmp_path):
    (tmp_path / "aux-shangjie.yaml").write_text(MINIMAL, encoding="utf-8")
    other = MINIMAL.replace("park: aux-shangjie", "park: other-park")
    other = other.replace("firm_id: mingli-law", "firm_id: other-law")
    (tmp_path / "other-park.yaml").write_text(other, encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        load_firm_directories(tmp_path)
    message = str(caught.value)
    assert "other-park.yaml: firm id zhengheng-law is already used in" in message
    assert "other-law" not in message


def test_a_firms_file_is_named_after_its_park(tmp_path):
    (tmp_path / "aux.yaml").write_text(MINIMAL, encoding="utf-8")
    with pytest.raises(ValueError, match=r"name the file aux-shangjie\.yaml"):
        load_firm_directories(tmp_path)


def test_every_bad_firms_file_of_a_directory_is_reported_together(tmp_path):
    (tmp_path / "a.yaml").write_text(_first_firm("kind", "lawyer"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(_first_firm("capacity", "0"), encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        load_firm_directories(tmp_path)
    assert "a.yaml:5: firms[0].kind" in str(caught.value)
    assert "b.yaml:7: firms[0].capacity" in str(caught.value)


def test_a_directory_without_firms_files_is_an_error_not_an_empty_load(tmp_path):
    with pytest.raises(ValueError, match="no firms files"):
        load_firm_directories(tmp_path)
    with pytest.raises(ValueError, match="no firms files"):
        load_firm_directories(tmp_path / "missing")


@settings(max_examples=500, deadline=None, database=None)
@given(st.text(max_size=50))
def test_any_text_is_a_firm_id_whose_broker_names_are_safe_or_a_value_error(text):
    try:
        firm_id = FirmId(text)
    except ValueError:
        return
    assert 1 <= len(firm_id.value) <= 40
    # Safe in a user name, a queue name and a routing key: no dots, wildcards or spaces.
    assert set(firm_id.value) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert firm_id.work_queue.split(".") == ["firm", firm_id.value, "work"]
