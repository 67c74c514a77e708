"""Buyback's policy for one park (一园一策): the park file's ``buyback:`` section.

Every key is optional; a park file without the section gets the defaults::

    buyback:
      review_deadline_days: 10     # business days for the legal and finance reviews,
                                   # then the claim is escalated (1..60)
      settlement_deadline_hours: 24  # hours for billing's buyback_settlement_computed:
                                   # settlement_requested is sent again, and after a
                                   # second such wait the claim is escalated (1..720)
      release_deadline_days: 5     # business days for onboarding to release the units
                                   # after claim_settled, then the claim is stuck and
                                   # escalated (1..60)
      netting_deadline_hours: 24   # hours for billing's buyback_netted after
                                   # claim_settled, then the claim is stuck and
                                   # escalated (1..720)

A claim of a park with no park file is refused (``UnknownPark``), never given these
defaults: the park's own rules are not known.

Problems name file, line and field, as in the rest of the park file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from shared.park_file import read_service_section
from shared.yaml_nodes import NodeReader, YamlFileError, compose

SECTION = "buyback"
LIMITS = {
    "review_deadline_days": (1, 60),
    "settlement_deadline_hours": (1, 720),
    "release_deadline_days": (1, 60),
    "netting_deadline_hours": (1, 720),
}


@dataclass(frozen=True)
class BuybackPolicy:
    """How long each wait of a claim may last in one park."""

    park_id: str | None
    review_deadline_days: int = 10
    settlement_deadline_hours: int = 24
    release_deadline_days: int = 5
    netting_deadline_hours: int = 24

    def __post_init__(self) -> None:
        for key, (low, high) in LIMITS.items():
            value = getattr(self, key)
            if type(value) is not int or not low <= value <= high:
                raise ValueError(f"{key} must be an integer in {low}..{high}, not {value!r}")


DEFAULT_POLICY = BuybackPolicy(None)


class BuybackPolicyError(YamlFileError):
    """A park file's ``buyback:`` section is invalid; ``problems`` lists every fault."""


def parse_buyback_policy(text: str, source: str = "<park file>") -> BuybackPolicy:
    """Validate the ``buyback:`` section (and the park id) of a park file's ``text``."""
    reader = _PolicyReader()
    policy = reader.policy(compose(text, source, BuybackPolicyError))
    if reader.problems or policy is None:
        raise BuybackPolicyError(source, reader.problems)
    return policy


def load_buyback_policies(directory: str | Path) -> dict[str, BuybackPolicy]:
    """The buyback policy of every ``*.yaml`` park file in ``directory``, by park id;
    ``ValueError`` lists every bad file's faults (and a park id defined twice)."""
    paths = sorted(Path(directory).glob("*.yaml"))
    if not paths:
        raise ValueError(f"{directory}: no park files (*.yaml) there")
    policies: dict[str, BuybackPolicy] = {}
    errors: list[str] = []
    for path in paths:
        try:
            policy = parse_buyback_policy(path.read_text(encoding="utf-8"), str(path))
        except BuybackPolicyError as error:
            errors.append(str(error))
            continue
        if policy.park_id in policies:
            errors.append(f"{path}: park id {policy.park_id!r} is defined twice")
        policies[policy.park_id] = policy
    if errors:
        raise ValueError("\n".join(errors))
    return policies


class _PolicyReader(NodeReader):
    def policy(self, root: yaml.Node) -> BuybackPolicy | None:
        found = read_service_section(self, root, SECTION)
        if found is None:
            return None
        if found.node is None:
            return None if self.problems else BuybackPolicy(found.park_id)
        keys = self.mapping(found.node, SECTION, [], list(LIMITS))
        if keys is None:
            return None
        settings = {
            key: self.integer(node, f"{SECTION}.{key}", *LIMITS[key]) for key, node in keys.items()
        }
        if self.problems:
            return None
        return BuybackPolicy(found.park_id, **settings)
