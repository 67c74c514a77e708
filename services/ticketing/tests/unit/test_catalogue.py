from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ticketing import catalogue_doc
from services.ticketing.domain.catalogue import (
    MAX_SLA_HOURS,
    Catalogue,
    CatalogueEntry,
    CatalogueError,
    Centre,
    Fee,
    FeePolicy,
    FirmKind,
    OpenedBy,
    Sla,
    load_catalogue,
    parse_catalogue,
)
from services.ticketing.domain.firm_directory import load_firm_directory
from tests.support.yaml_errors import FileErrors, hostile_values, with_value

# The reader under test: its errors name the file, and each problem its line and field.
FILE = FileErrors(parse_catalogue, CatalogueError)

REPO = Path(__file__).resolve().parents[4]
CATALOGUE = REPO / "deploy" / "catalogue.yaml"
DEMO_FIRMS = REPO / "deploy" / "firms" / "aux-shangjie.yaml"

# Line 2 is the first entry's code, line 9 its fee: the tests below edit those lines.
MINIMAL = """\
services:
  - code: LEGAL-01
    name_zh: 劳动合同审查
    name_en: Employment contract review
    centre: enterprise_service
    firm_kind: legal
    skills: [labour_law]
    sla: {first_response_hours: 4, resolution_hours: 24}
    fee: {fee_fen: 50000}
  - code: LEGAL-02
    name_zh: 回购法律审查
    name_en: Buyback legal review
    centre: enterprise_service
    firm_kind: legal
    skills: [buyback_review]
    sla: {first_response_hours: 4, resolution_hours: 40}
    fee: free
    opened_by: buyback_legal_review
  - code: FIN-01
    name_zh: 回购经营困难财务审查
    name_en: Buyback hardship financial review
    centre: enterprise_service
    firm_kind: finance
    skills: [buyback_review]
    sla: {first_response_hours: 4, resolution_hours: 40}
    fee: free
    opened_by: buyback_finance_review
  - code: ENV-01
    name_zh: 环评报告编制
    name_en: Environmental impact assessment report
    centre: enterprise_service
    firm_kind: environmental_review
    skills: [eia_report]
    sla: {first_response_hours: 8, resolution_hours: 240}
    fee: quoted
    opened_by: admission_environmental_review
"""


def _first_entry(line: str, replacement: str) -> str:
    """MINIMAL with one line of the first entry (``    key: …``) replaced."""
    lines = MINIMAL.splitlines(keepends=True)
    index = next(i for i, text in enumerate(lines) if text[4:].startswith(f"{line}:"))
    lines[index] = f"{lines[index][:4]}{line}: {replacement}\n"
    return "".join(lines)


# --- the demo catalogue --------------------------------------------------------------


def test_the_catalogue_has_exactly_58_services():
    assert len(load_catalogue(CATALOGUE)) == 58


def test_every_centre_offers_services():
    centres = Counter(entry.centre for entry in load_catalogue(CATALOGUE))
    assert set(centres) == set(Centre)


def test_every_firm_kind_has_services():
    kinds = {entry.firm_kind for entry in load_catalogue(CATALOGUE)}
    assert kinds == set(FirmKind)


def test_the_catalogue_names_the_services_the_issue_lists():
    names = {entry.name_zh for entry in load_catalogue(CATALOGUE)}
    for name in (
        "劳动合同审查",
        "代理记账",
        "环评报告编制",
        "高新技术企业认定辅导",
        "融资对接",
        "工商注册变更",
        "商标注册",
        "专利申请",
        "税务申报",
        "审计报告",
        "排污许可申请",
        "安全评价",
        "展厅预约",
        "会议室预订",
        "政策申报",
        "招聘对接",
    ):
        assert name in names


def test_the_flows_find_their_services_by_role():
    catalogue = load_catalogue(CATALOGUE)
    legal = catalogue.for_role(OpenedBy.BUYBACK_LEGAL_REVIEW)
    finance = catalogue.for_role(OpenedBy.BUYBACK_FINANCE_REVIEW)
    environment = catalogue.for_role(OpenedBy.ADMISSION_ENVIRONMENTAL_REVIEW)
    assert (legal.firm_kind, legal.fee.policy) == (FirmKind.LEGAL, FeePolicy.FREE)
    assert (finance.firm_kind, finance.fee.policy) == (FirmKind.FINANCE, FeePolicy.FREE)
    assert environment.firm_kind is FirmKind.ENVIRONMENTAL_REVIEW
    assert environment.name_zh == "环评报告编制"


def test_every_skill_of_every_active_service_is_offered_by_a_demo_firm_of_its_kind():
    firms = list(load_firm_directory(DEMO_FIRMS))
    for entry in load_catalogue(CATALOGUE).active():
        for skill in entry.skills:
            assert any(firm.kind is entry.firm_kind and skill in firm.skills for firm in firms), (
                f"{entry.code}: no {entry.firm_kind} firm offers {skill}"
            )


def test_the_docs_table_lists_the_catalogue_exactly():
    doc = catalogue_doc.DOC_FILE.read_text(encoding="utf-8")
    table = catalogue_doc.table_in_doc(doc)
    assert table == catalogue_doc.render_table(load_catalogue(CATALOGUE)), (
        "docs/ticketing.md has drifted: run python -m services.ticketing.catalogue_doc"
    )
    assert len(table.splitlines()) == 2 + 58


# --- lookups -------------------------------------------------------------------------


def test_a_catalogue_is_looked_up_by_code_and_iterated_in_file_order():
    catalogue = parse_catalogue(MINIMAL)
    assert [entry.code for entry in catalogue] == ["LEGAL-01", "LEGAL-02", "FIN-01", "ENV-01"]
    entry = catalogue["LEGAL-01"]
    assert entry == catalogue.get("LEGAL-01")
    assert (entry.centre, entry.firm_kind, entry.skills) == (
        Centre.ENTERPRISE_SERVICE,
        FirmKind.LEGAL,
        ("labour_law",),
    )
    assert entry.sla == Sla(4, 24)
    assert entry.fee == Fee.fixed(50000)
    assert entry.active and entry.opened_by is None
    assert "LEGAL-01" in catalogue


def test_an_unknown_code_is_none_not_an_error():
    assert parse_catalogue(MINIMAL).get("LEGAL-99") is None
    assert "LEGAL-99" not in parse_catalogue(MINIMAL)


def test_an_inactive_service_stays_in_the_catalogue_but_not_among_the_active():
    catalogue = parse_catalogue(_first_entry("fee", "free\n    active: false"))
    assert catalogue["LEGAL-01"].active is False
    assert "LEGAL-01" not in {entry.code for entry in catalogue.active()}


def test_entries_are_frozen():
    entry = parse_catalogue(MINIMAL)["LEGAL-01"]
    with pytest.raises(AttributeError):
        entry.code = "LEGAL-02"


# --- errors name file, line and field --------------------------------------------------


def test_an_error_names_the_file_the_line_and_the_field():
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(_first_entry("centre", "canteen"), "deploy/catalogue.yaml")
    assert "deploy/catalogue.yaml:5: services[0].centre: 'canteen' is not one of" in str(
        caught.value
    )


def test_a_duplicate_code_is_an_error_at_the_second():
    text = MINIMAL.replace("code: LEGAL-02", "code: LEGAL-01")
    assert FILE.fields(text) == [(10, "services[1].code")]


@pytest.mark.parametrize("code", ["legal-01", "LEGAL-1", "LEGAL01", "L-01", "LEGAL-001", "'12'"])
def test_a_code_must_be_a_prefix_and_two_digits(code):
    assert FILE.fields(_first_entry("code", code)) == [(2, "services[0].code")]


def test_an_unknown_firm_kind_is_an_error():
    assert FILE.fields(_first_entry("firm_kind", "lawyer")) == [(6, "services[0].firm_kind")]


@pytest.mark.parametrize(
    ("fee", "field"),
    [
        ("{fee_fen: 0}", "services[0].fee.fee_fen"),
        ("{fee_fen: -100}", "services[0].fee.fee_fen"),
        ("{fee_fen: 12.5}", "services[0].fee.fee_fen"),
        ("{fee_fen: '100'}", "services[0].fee.fee_fen"),
        ("{fee_fen: 012}", "services[0].fee.fee_fen"),
        ("{fee_fen: 100, vat: 6}", "services[0].fee.vat"),
        ("{}", "services[0].fee.fee_fen"),
        ("fixed", "services[0].fee"),
        ("100", "services[0].fee"),
        ("[free]", "services[0].fee"),
    ],
)
def test_a_bad_fee_is_an_error(fee, field):
    assert FILE.fields(_first_entry("fee", fee)) == [(9, field)]


@pytest.mark.parametrize(
    ("sla", "field"),
    [
        (
            "{first_response_hours: 48, resolution_hours: 24}",
            "services[0].sla.first_response_hours",
        ),
        ("{first_response_hours: 0, resolution_hours: 24}", "services[0].sla.first_response_hours"),
        ("{first_response_hours: 4, resolution_hours: 0}", "services[0].sla.resolution_hours"),
        ("{first_response_hours: 4, resolution_hours: 2.5}", "services[0].sla.resolution_hours"),
        ("{first_response_hours: 4, resolution_hours: 2001}", "services[0].sla.resolution_hours"),
        ("{first_response_hours: 4}", "services[0].sla.resolution_hours"),
        ("{first_response_hours: 4, resolution_hours: 8, pause: 1}", "services[0].sla.pause"),
        ("24", "services[0].sla"),
    ],
)
def test_a_bad_sla_is_an_error(sla, field):
    assert FILE.fields(_first_entry("sla", sla)) == [(8, field)]


def test_first_response_may_be_due_when_the_resolution_is():
    sla = parse_catalogue(_first_entry("sla", "{first_response_hours: 8, resolution_hours: 8}"))[
        "LEGAL-01"
    ].sla
    assert sla == Sla(8, 8)


@pytest.mark.parametrize(
    ("skills", "field"),
    [
        ("[]", "services[0].skills"),
        ("labour_law", "services[0].skills"),
        ("[labour_law, labour_law]", "services[0].skills"),
        ("[Labour-Law]", "services[0].skills[0]"),
        ("[12]", "services[0].skills[0]"),
    ],
)
def test_skills_are_a_non_empty_list_of_distinct_tags(skills, field):
    assert FILE.fields(_first_entry("skills", skills)) == [(7, field)]


@pytest.mark.parametrize("value", ["yes", "'true'", "1", "on"])
def test_active_is_true_or_false_only(value):
    assert FILE.fields(_first_entry("fee", f"free\n    active: {value}")) == [
        (10, "services[0].active")
    ]


def test_unknown_repeated_and_missing_keys_are_errors():
    text = _first_entry("fee", "free\n    price: 1\n    centre: conference")
    text = text.replace("    name_en: Employment contract review\n", "", 1)
    assert FILE.fields(text) == [
        (2, "services[0].name_en"),
        (9, "services[0].price"),
        (10, "services[0].centre"),
    ]


def test_every_bad_entry_is_reported_at_once():
    text = _first_entry("centre", "canteen").replace("firm_kind: finance", "firm_kind: bank")
    assert FILE.fields(text) == [(5, "services[0].centre"), (23, "services[2].firm_kind")]


# --- the roles ------------------------------------------------------------------------


def test_a_role_on_two_services_is_an_error_at_the_second():
    text = _first_entry("fee", "free\n    opened_by: buyback_legal_review")
    assert FILE.fields(text) == [(11, "services[1].opened_by")]


def test_a_role_no_service_has_is_an_error():
    text = MINIMAL.replace("    opened_by: admission_environmental_review\n", "")
    problems = FILE.problems(text)
    assert [(p.line, p.field) for p in problems] == [(2, "services")]
    assert "admission_environmental_review" in problems[0].message


def test_an_unknown_role_is_an_error():
    text = MINIMAL.replace("opened_by: buyback_legal_review", "opened_by: buyback_review")
    assert FILE.fields(text) == [(18, "services[1].opened_by")]


def test_a_role_must_be_done_by_its_kind_of_firm():
    text = MINIMAL.replace(
        "firm_kind: finance\n    skills: [buyback_review]",
        "firm_kind: accounting\n    skills: [buyback_review]",
    )
    problems = FILE.problems(text)
    assert [(p.line, p.field) for p in problems] == [(27, "services[2].opened_by")]
    assert "finance firm" in problems[0].message


def test_a_buyback_review_is_free_to_the_enterprise():
    text = MINIMAL.replace(
        "    fee: free\n    opened_by: buyback_legal_review",
        "    fee: quoted\n    opened_by: buyback_legal_review",
    )
    assert FILE.fields(text) == [(18, "services[1].opened_by")]


def test_a_service_a_flow_opens_cannot_be_inactive():
    text = MINIMAL.replace(
        "    opened_by: admission_environmental_review\n",
        "    opened_by: admission_environmental_review\n    active: false\n",
    )
    assert FILE.fields(text) == [(36, "services[3].opened_by")]


# --- the whole file -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [(1, "(file)")]),
        ("- 1\n", [(1, "(file)")]),
        ("services: []\n", [(1, "services")]),
        ("services:\n  - 1\n", [(2, "services[0]")]),
        ("catalogue: []\n", [(1, "catalogue"), (1, "services")]),
        ("services: [\n", [(2, "(yaml)")]),
    ],
)
def test_a_malformed_file_is_reported_not_a_crash(text, expected):
    assert FILE.fields(text) == expected


# --- the value objects keep their rules when built in code ----------------------------


def test_a_fixed_fee_needs_a_positive_integer_and_the_others_none():
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError):
            Fee(FeePolicy.FIXED, bad)
    with pytest.raises(ValueError):
        Fee(FeePolicy.FREE, 100)
    assert Fee.quoted().fee_fen is None


def test_an_sla_cannot_promise_resolution_before_first_response():
    with pytest.raises(ValueError):
        Sla(8, 4)
    with pytest.raises(ValueError):
        Sla(0, 4)
    with pytest.raises(ValueError):
        Sla(1, MAX_SLA_HOURS + 1)


def test_an_entry_built_in_code_is_checked_like_one_read_from_the_file():
    good = parse_catalogue(MINIMAL)["LEGAL-02"]
    fields = {name: getattr(good, name) for name in good.__dataclass_fields__}
    for change in (
        {"code": "legal-2"},
        {"skills": ()},
        {"skills": ("a", "a")},
        {"fee": Fee.fixed(100)},
        {"firm_kind": FirmKind.FINANCE},
        {"active": False},
    ):
        with pytest.raises(ValueError):
            CatalogueEntry(**{**fields, **change})


def test_a_catalogue_built_in_code_refuses_duplicates_and_missing_roles():
    entries = list(parse_catalogue(MINIMAL))
    with pytest.raises(ValueError, match="more than once"):
        Catalogue([*entries, entries[0]])
    with pytest.raises(ValueError, match="admission_environmental_review"):
        Catalogue(entries[:3])


# --- hostile input (STYLE #10): a catalogue or a CatalogueError, nothing else ------------


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=300))
def test_any_text_is_a_catalogue_or_a_reported_error(text):
    FILE.parses_or_reports(text)


_SCALARS = hostile_values(
    "{fee_fen: 1}", "free", ".inf", ".nan", "1e3", "{first_response_hours: 1, resolution_hours: 1}"
)


@settings(max_examples=400, deadline=None, database=None)
@given(st.data())
def test_any_value_in_place_of_any_value_is_a_catalogue_or_a_reported_error(data):
    index = data.draw(st.integers(0, len(MINIMAL.splitlines()) - 1))
    FILE.parses_or_reports(with_value(MINIMAL, index, data.draw(_SCALARS)))
