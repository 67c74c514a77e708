"""GB/T 4754-2017 industry codes: parsing, and the prefix rules a park admits by.

**Codes.** A code is a section letter ``A``–``T`` optionally followed by a 2-digit
division, a 3-digit group or a 4-digit class, each extending the one before:
``C`` → ``C34`` → ``C346`` → ``C3464``. :func:`parse_industry_code` accepts exactly that
form (upper-case, no spaces) and raises :class:`UnknownIndustryCode` when

- the text is not of that form (``C3``, ``c34``, ``34``, ``U12``), or
- the division does not belong to the section. Division numbers are unique across the
  whole standard, so ``F34`` is as wrong as ``C44`` (section C runs C13–C43).

Only the manufacturing divisions are named in our table (:mod:`.gbt4754`); groups and
classes are checked for form only, because no park rule needs the 1,300-odd class names.
A well-formed code outside section C, such as ``F5191``, therefore parses fine: whether the
park takes it is the policy's business, and a policy that does not list it answers
``industry_not_admitted`` rather than ``unknown_industry_code``.

**Rules.** :class:`IndustryRules` holds an allow list and a deny list of prefixes (any
valid code may serve as a prefix). See :meth:`IndustryRules.decide` for how they combine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.onboarding.domain.gbt4754 import MANUFACTURING_DIVISIONS, SECTIONS

_FORM = re.compile(r"[A-T](?:[0-9]{2}(?:[0-9]{1,2})?)?")


class UnknownIndustryCode(ValueError):
    """The text is not a GB/T 4754-2017 code: bad form, or a division its section lacks."""


@dataclass(frozen=True)
class IndustryCode:
    """A parsed GB/T 4754-2017 code; ``digits`` is empty for a bare section."""

    section: str
    digits: str = ""

    def __str__(self) -> str:
        return self.section + self.digits

    @property
    def division(self) -> str | None:
        """The 2-digit division with its section letter (``C34``), if the code has one."""
        return self.section + self.digits[:2] if self.digits else None

    @property
    def division_name(self) -> str | None:
        """The Chinese name of a manufacturing division; ``None`` outside section C."""
        return MANUFACTURING_DIVISIONS.get(self.division or "")

    def starts_with(self, prefix: IndustryCode) -> bool:
        """True when ``prefix`` is this code or one of its ancestors (C34 ⊇ C3464)."""
        return str(self).startswith(str(prefix))


def parse_industry_code(text: str) -> IndustryCode:
    """Parse ``text`` as a GB/T 4754-2017 code or raise :class:`UnknownIndustryCode`."""
    if not isinstance(text, str) or not _FORM.fullmatch(text):
        raise UnknownIndustryCode(
            f"{text!r} is not a GB/T 4754 code: expected a section letter A–T, optionally "
            "followed by a 2-digit division, 3-digit group or 4-digit class (e.g. C3464)"
        )
    code = IndustryCode(section=text[0], digits=text[1:])
    if code.digits:
        section_name, divisions = SECTIONS[code.section]
        if int(code.digits[:2]) not in divisions:
            raise UnknownIndustryCode(
                f"{text!r}: section {code.section} ({section_name}) has no division "
                f"{code.digits[:2]}; its divisions run {code.section}{divisions[0]:02d}–"
                f"{code.section}{divisions[-1]:02d}"
            )
    return code


@dataclass(frozen=True)
class IndustryDecision:
    """The outcome of matching one code against :class:`IndustryRules`.

    ``rule`` is the prefix that decided (for an admission, the most specific allow prefix;
    for a refusal by the deny list, the most specific deny prefix); ``message`` is
    readable and names it, for the rejection reason.
    """

    admitted: bool
    rule: str | None
    message: str


def _prefixes(texts: Iterable[str]) -> tuple[IndustryCode, ...]:
    return tuple(parse_industry_code(text) for text in texts)


@dataclass(frozen=True)
class IndustryPrefixes:
    """A set of code prefixes, e.g. the industries that need an environmental review."""

    prefixes: tuple[str, ...] = ()
    _parsed: tuple[IndustryCode, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Parsing here makes a bad prefix fail when the park file loads, not at the
        # first application that happens to reach it.
        object.__setattr__(self, "_parsed", _prefixes(self.prefixes))

    def covering(self, code: IndustryCode) -> list[str]:
        """The prefixes that ``code`` falls under, most specific first."""
        hits = [p for p in self._parsed if code.starts_with(p)]
        return [str(p) for p in sorted(hits, key=lambda p: len(p.digits), reverse=True)]

    def inside(self, code: IndustryCode) -> list[str]:
        """The prefixes more specific than ``code`` (``C34`` holds the prefix ``C346``)."""
        return [str(p) for p in self._parsed if p.starts_with(code) and p != code]

    def may_cover(self, code: IndustryCode) -> bool:
        """True when ``code`` falls under a prefix, or is too coarse to rule it out.

        An applicant declaring only ``C33`` may well run a C336 plating line, so a
        requirement on ``C336`` applies to them until they say otherwise.
        """
        return bool(self.covering(code) or self.inside(code))


@dataclass(frozen=True)
class IndustryRules:
    """A park's admitted industries: allow and deny lists of GB/T 4754 prefixes.

    How they combine (:meth:`decide`):

    1. A prefix *covers* a code when the code starts with it: ``C34`` covers ``C34``,
       ``C346`` and ``C3464``; ``C346`` does not cover ``C34``.
    2. **Deny wins**: a code covered by any deny prefix is refused, whatever allow
       prefix also covers it and however much longer that allow prefix is. A policy
       therefore cannot re-admit a class inside a denied division; it lists the wanted
       groups in the allow list instead. Failing closed is the point of a deny list.
    3. A code **coarser than a deny prefix** (``C33`` when ``C336`` is denied) is refused
       as not specific enough: it may be the denied industry, and admitting it would let
       an applicant dodge the deny list by declaring less.
    4. Otherwise the code is admitted when some allow prefix covers it; the decision names
       the **longest** (most specific) such prefix, so the reason shows the rule that
       actually applied.
    5. Anything else is not admitted. An empty allow list admits nothing.
    """

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    _allow: IndustryPrefixes = field(init=False, repr=False, compare=False)
    _deny: IndustryPrefixes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_allow", IndustryPrefixes(self.allow))
        object.__setattr__(self, "_deny", IndustryPrefixes(self.deny))

    def decide(self, code: IndustryCode) -> IndustryDecision:
        """Decide whether ``code`` is admitted; see the class docstring for the rules."""
        denied_by = self._deny.covering(code)
        if denied_by:
            return IndustryDecision(
                False, denied_by[0], f"industry {code} is excluded by this park ({denied_by[0]})"
            )
        finer_denials = self._deny.inside(code)
        if finer_denials:
            listed = ", ".join(finer_denials)
            return IndustryDecision(
                False,
                None,
                f"industry {code} is not specific enough: this park excludes {listed}; "
                "give the 4-digit class",
            )
        allowed_by = self._allow.covering(code)
        if allowed_by:
            return IndustryDecision(
                True, allowed_by[0], f"industry {code} admitted by {allowed_by[0]}"
            )
        admitted = ", ".join(self.allow) or "none"
        return IndustryDecision(
            False, None, f"industry {code} is not admitted by this park (admits: {admitted})"
        )
