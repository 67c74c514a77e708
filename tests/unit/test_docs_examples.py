"""The payload examples in the docs are true: the valid ones pass the contract schemas and
onboarding's own validators (USCC, industry code, units and departments of the demo
park), and each deliberate bad value fails for the reason the doc gives next to it."""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import shared.contract  # noqa: F401  (fills the registry)
from services.onboarding.domain.industries import UnknownIndustryCode, parse_industry_code
from services.onboarding.domain.park_definition import load_park_definition
from services.onboarding.domain.uscc import validate_uscc
from shared.contract.registry import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
DEMO_PARK = load_park_definition(ROOT / "deploy" / "parks" / "aux-shangjie.yaml")
# Where an example names its event: `portal.events` / `application_submitted` (v1), or
# `firms.events` / `work_accepted`, `work_declined`, … (one example for several types);
# `ticketing.work` / `work_assigned`: a work item, registered under source `ticketing`.
EVENT_NAMES = re.compile(r"(?:`|\*\*)(\w+)\.(?:events|work)(?:`|\*\*)\s*/\s*((?:`\w+`(?:,\s*)?)+)")


@dataclass(frozen=True)
class Example:
    where: str  # file:line, for the failure message
    source: str
    type: str
    payload: dict

    def __str__(self) -> str:
        return f"{self.where} {self.source}/{self.type}"


def _json_blocks(path: Path):
    """Each ```json block of ``path``: its first line number, text and the text before it."""
    lines = path.read_text("utf-8").splitlines()
    start = None
    for number, line in enumerate(lines, start=1):
        if line.strip() == "```json":
            start = number
        elif line.strip() == "```" and start is not None:
            yield start, "\n".join(lines[start : number - 1]), "\n".join(lines[: start - 1])
            start = None


def _catalogue_examples() -> list[Example]:
    """docs/events.md: one example per section, named by the nearest heading or item."""
    path = ROOT / "docs" / "events.md"
    examples = []
    for line, text, before in _json_blocks(path):
        source, types = EVENT_NAMES.findall(before)[-1]
        for type_ in re.findall(r"`(\w+)`", types):
            examples.append(Example(f"events.md:{line}", source, type_, json.loads(text)))
    return examples


def _onboarding_examples() -> list[Example]:
    """docs/onboarding.md: one block of ``// type`` lines, each followed by its payload."""
    path = ROOT / "docs" / "onboarding.md"
    examples = []
    for line, text, _ in _json_blocks(path):
        for match in re.finditer(r"(?m)^// (\w+)\n((?:(?!//).*\n?)+)", text):
            type_, body = match.groups()
            where = f"onboarding.md:{line + 1 + text[: match.start()].count(chr(10))}"
            examples.append(Example(where, "onboarding", type_, json.loads(body)))
    return examples


EXAMPLES = _catalogue_examples() + _onboarding_examples()


def _values(payload, keys: set[str]):
    """Every value of a field named in ``keys``, anywhere in ``payload``."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key in keys and value is not None:
                yield value
            yield from _values(value, keys)
    elif isinstance(payload, list):
        for item in payload:
            yield from _values(item, keys)


def _unit_ids(example: Example):
    payload = example.payload
    if example.type in {"application_submitted", "application_received"}:
        yield from payload["requested_units"]
    elif example.source == "onboarding" and example.type in {"units_released"}:
        yield from payload["units"]
    elif example.type == "units_allocated":
        yield from (unit["unit_id"] for unit in payload["units"])


def test_the_docs_have_the_examples_this_test_reads():
    names = {(e.source, e.type) for e in EXAMPLES}
    assert ("portal", "application_submitted") in names
    assert ("bank", "payment_received") in names
    assert ("onboarding", "application_received") in names
    assert ("onboarding", "enterprise_admitted") in names
    assert len(EXAMPLES) >= 30


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_every_example_payload_passes_its_contract_schema(example):
    schema = REGISTRY.spec(example.source, example.type, 1).schema()
    assert schema.validate(example.payload) == {}


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_every_uscc_in_an_example_is_valid(example):
    for uscc in _values(example.payload, {"uscc", "payer_uscc"}):
        assert validate_uscc(uscc) == [], f"{example}: {uscc}"


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_every_industry_code_in_an_example_exists(example):
    for code in _values(example.payload, {"industry_code"}):
        try:
            parse_industry_code(code)
        except UnknownIndustryCode as error:
            pytest.fail(f"{example}: {error}")


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_every_unit_in_an_example_is_a_unit_of_the_demo_park(example):
    units = {unit.unit_id for unit in DEMO_PARK.units}
    assert [u for u in _unit_ids(example) if u not in units and u not in DEMO_PARK.floors] == []


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_every_reviewing_department_in_an_example_is_one_of_the_demo_park(example):
    if example.type == "review_decision_refused":
        return  # its department is the deliberate mistake, checked below
    departments = set(DEMO_PARK.policy.department_ids)
    named = list(_values(example.payload, {"departments"})) + (
        [example.payload["department"]] if example.payload.get("department") else []
    )
    flat = [d for value in named for d in (value if isinstance(value, list) else [value])]
    assert [d for d in flat if d not in departments] == []


# The deliberate mistakes: a refusal or rejection example names a bad value and a reason.


def _bad_uscc_fails_as_the_doc_says(message: str, example: Example) -> None:
    uscc = re.match(r"USCC '([^']+)': ", message)[1]
    problems = validate_uscc(uscc)
    assert message in [f"USCC {uscc!r}: {problem}" for problem in problems]
    # One reason per problem: the example lists them all.
    listed = [r["message"] for r in example.payload["reasons"] if r["code"] == "invalid_uscc"]
    assert listed == [f"USCC {uscc!r}: {problem}" for problem in problems]


def _unknown_unit_is_not_in_the_park(message: str, example: Example) -> None:
    park_id, unit_id = re.fullmatch(r"park (\S+) has no unit '([^']+)'", message).groups()
    assert park_id == DEMO_PARK.id
    assert unit_id not in {unit.unit_id for unit in DEMO_PARK.units}
    assert unit_id not in DEMO_PARK.floors


def _window_expired_as_the_buyback_domain_says(message: str, example: Example) -> None:
    from datetime import date

    from services.buyback.domain.window import last_day_of_window, tenth_anniversary

    received, started, last_day, anniversary = map(
        date.fromisoformat,
        re.fullmatch(
            r"received on (\S+): the ten-year window from the production start on (\S+) "
            r"ended on (\S+) \(the tenth anniversary, (\S+), is too late\)",
            message,
        ).groups(),
    )
    assert (last_day, anniversary) == (last_day_of_window(started), tenth_anniversary(started))
    assert received >= anniversary


CHECKS = {
    "invalid_uscc": _bad_uscc_fails_as_the_doc_says,
    "unknown_unit": _unknown_unit_is_not_in_the_park,
    "window_expired": _window_expired_as_the_buyback_domain_says,
}
# Codes whose cause is not in the example's values (history, state): nothing to re-check.
NOT_CHECKABLE_FROM_THE_EXAMPLE = {
    "conflicting_duplicate",
    "application_closed",
    "enterprise_not_admitted",  # ticketing's projection of admissions, not in the example
    "already_settled",  # the buyback claim's state
    "units_not_owned",  # onboarding's inventory (release_refused), not in the example
}


def _reasons():
    for example in EXAMPLES:
        for reason in example.payload.get("reasons") or ():
            if isinstance(reason, dict):
                yield example, reason["code"], reason["message"]
        if "code" in example.payload and "message" in example.payload:
            yield example, example.payload["code"], example.payload["message"]


REASONS = list(_reasons())


def test_the_docs_have_deliberate_mistakes_to_check():
    assert {code for _, code, _ in REASONS} >= {"invalid_uscc", "unknown_unit"}


@pytest.mark.parametrize(("example", "code", "message"), REASONS, ids=lambda v: str(v)[:40])
def test_every_deliberate_mistake_fails_for_the_reason_the_doc_gives(example, code, message):
    if code == "department_not_requested":
        department = example.payload["department"]
        assert department not in DEMO_PARK.policy.department_ids
        asked = ", ".join(DEMO_PARK.policy.department_ids)
        application_id = example.payload["application_id"]
        assert message == f"{department} was not asked to review {application_id} (asked: {asked})"
        return
    assert code in CHECKS or code in NOT_CHECKABLE_FROM_THE_EXAMPLE, f"{example}: check {code}"
    if code in CHECKS:
        CHECKS[code](message, example)
