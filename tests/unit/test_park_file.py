"""The shared park-file reader: the park's own keys, one section per service, nothing else."""

import pytest

from shared.messaging.topology import SERVICES
from shared.park_file import DECLARED_SECTIONS, READ_SECTIONS, SECTIONS, read_park_file
from shared.yaml_nodes import NodeReader, compose

TOP = """\
park: {id: mini}
prices_fen_per_m2: {}
buildings: []
"""


def _read(text: str):
    reader = NodeReader()
    park_file = read_park_file(reader, compose(text, "p.yaml"))
    return park_file, [(p.line, p.field, p.message) for p in reader.problems]


def test_each_service_gets_its_own_section_and_the_park_keys_stay_apart():
    park_file, problems = _read(TOP + "onboarding: {a: 1}\nbilling: {b: 2}\n")
    assert problems == []
    assert set(park_file.description) == {"park", "prices_fen_per_m2", "buildings"}
    assert park_file.section("onboarding").value[0][0].value == "a"
    assert park_file.section("billing").value[0][0].value == "b"
    assert park_file.section("ticketing") is None


def test_a_section_nobody_owns_is_an_error_naming_its_line():
    _, problems = _read(TOP + "onboarding: {}\npolicy: {}\n")
    assert [(line, field) for line, field, _ in problems] == [(5, "policy")]
    assert "no service owns it" in problems[0][2]


def test_a_repeated_section_is_an_error():
    _, problems = _read(TOP + "onboarding: {}\nonboarding: {}\n")
    assert problems == [(5, "onboarding", "repeated key")]


def test_a_section_of_a_service_not_built_yet_is_accepted_but_must_be_a_mapping():
    # Every service reads its own section now (buyback was the last, issue 11): its reader
    # checks the shape (services/buyback/tests/unit/test_policy.py); this one hands it on.
    assert DECLARED_SECTIONS == ()
    park_file, problems = _read(TOP + "buyback: 5\n")
    assert problems == [] and park_file.section("buyback").value == "5"


def test_the_park_keys_are_required():
    _, problems = _read("onboarding: {}\n")
    assert {field for _, field, _ in problems} == {"park", "prices_fen_per_m2", "buildings"}


def test_asking_for_a_section_no_service_declares_is_a_programming_error():
    park_file, _ = _read(TOP)
    with pytest.raises(KeyError):
        park_file.section("policy")


def test_the_sections_are_the_services_of_the_topology():
    assert set(SECTIONS) == set(SERVICES)
    assert not set(READ_SECTIONS) & set(DECLARED_SECTIONS)
