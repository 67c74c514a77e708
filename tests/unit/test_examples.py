"""``examples/``: a valid sample payload for every event another system publishes, found
by enumerating the contract registry (a new ingress event without an example fails
here), each passing the publisher library's check and the consumer's own reading, with
values the demo park accepts (USCC check characters, industry code, units, departments);
and the runnable examples at least start.

The samples are **payloads** (the publisher builds the envelope), one file per event
type in ``examples/<system>/<type>.json``, or ``<type>.<variant>.json`` for several
(one review decision per department)."""

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clients.publisher import INGRESS_SYSTEMS, ingress_specs, validate_payload
from services.onboarding.domain.industries import parse_industry_code
from services.onboarding.domain.park_definition import load_park_definition
from services.onboarding.domain.uscc import validate_uscc
from shared.contract import build, encode, parse
from shared.contract.registry import REGISTRY, EventKey

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DEMO_PARK = load_park_definition(ROOT / "deploy" / "parks" / "aux-shangjie.yaml")
FILES = sorted(EXAMPLES.glob("*/*.json"))


def key_of(path: Path) -> EventKey:
    return EventKey(path.parent.name, path.name.split(".", 1)[0])


def load(path: Path) -> dict:
    return json.loads(path.read_text("utf-8"))


def the(system: str, name: str) -> dict:
    return load(EXAMPLES / system / f"{name}.json")


def test_every_ingress_event_in_the_registry_has_an_example():
    covered = {key_of(path) for path in FILES}
    registered = {spec.key for spec in ingress_specs()}

    assert registered, "the registry has no ingress events: is shared.contract imported?"
    assert sorted(map(str, registered - covered)) == []
    assert {key.source for key in registered} == set(INGRESS_SYSTEMS)


def test_the_registry_scan_sees_an_event_added_later():
    # What makes the test above fail for a new ingress event: it is listed at once.
    from shared.contract.registry import PayloadSchema, Registry

    registry = Registry()

    @registry.event("meters", "meter_replaced")
    class MeterReplaced(PayloadSchema):
        """A new meter."""

    @registry.event("billing", "invoice_issued")
    class InvoiceIssued(PayloadSchema):
        """Not an ingress event."""

    assert [s.key for s in ingress_specs(registry)] == [EventKey("meters", "meter_replaced")]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_is_a_valid_payload_of_a_registered_ingress_event(path):
    key = key_of(path)
    payload = load(path)

    assert key.source in INGRESS_SYSTEMS and key in REGISTRY, f"{path.name}: no such event"
    assert validate_payload(key.source, key.type, payload) == payload
    envelope = build(key.source, key.type, payload, occurred_at=_now(), park_id="aux-shangjie")
    assert parse(encode(envelope)).raw_payload == payload  # as a consumer reads it


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_uscc_passes_its_check_characters(path):
    payload = load(path)
    codes = [payload.get("payer_uscc"), (payload.get("enterprise") or {}).get("uscc")]
    for code in filter(None, codes):
        assert validate_uscc(code) == [], f"{path.name}: {code}"


def test_the_application_is_one_the_demo_park_admits():
    application = the("portal", "application_submitted")
    units = {unit.unit_id for unit in DEMO_PARK.units}
    policy = DEMO_PARK.policy

    parse_industry_code(application["enterprise"]["industry_code"])
    assert set(application["requested_units"]) <= units
    assert set(policy.required_documents) <= set(application["documents"])  # nothing missing


def test_the_review_decisions_approve_the_sample_application_in_every_department():
    application_id = the("portal", "application_submitted")["application_id"]
    decisions = [load(p) for p in sorted((EXAMPLES / "gov").glob("review_decided.*.json"))]

    assert {d["department"] for d in decisions} == set(DEMO_PARK.policy.department_ids)
    assert {d["application_id"] for d in decisions} == {application_id}
    assert {d["decision"] for d in decisions} == {"approve"}


def test_the_follow_up_samples_are_about_the_sample_application():
    application = the("portal", "application_submitted")
    for name in ("documents_supplied", "application_withdrawn"):
        assert the("portal", name)["application_id"] == application["application_id"]
    assert the("bank", "payment_received")["payer_uscc"] == application["enterprise"]["uscc"]
    assert the("meters", "reading_recorded")["unit_id"] in application["requested_units"]


@pytest.mark.parametrize("script", ["portal.py", "gov.py", "bank.py", "meters.py"])
def test_every_runnable_example_starts_and_explains_itself(script):
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )

    assert result.returncode == 0, result.stderr
    assert "--amqp-uri" in result.stdout


def _now():
    return datetime.now(UTC)
