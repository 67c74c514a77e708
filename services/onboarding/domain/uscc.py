"""Unified Social Credit Code (统一社会信用代码) validation per GB 32100-2015.

An 18-character code, every character from a 31-symbol alphabet (the digits and the
upper-case Latin letters without I, O, Z, S, V, which are too easily misread)::

    position  1     registration-authority code (登记管理部门代码)
    position  2     institution-category code (机构类别代码), valid per authority
    positions 3–8   administrative division of the registering office (行政区划码, GB/T 2260)
    positions 9–17  organisation code (主体标识码, GB 11714), its own check digit at 17
    position  18    check character over positions 1–17

:func:`validate_uscc` returns *every* problem it finds, so an applicant learns all that is
wrong with a code in one round trip instead of fixing one mistake per submission.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters a USCC may contain; a character's value is its index here."""

_VALUE = {character: value for value, character in enumerate(ALPHABET)}

# 3**(i-1) mod 31 for positions 1–17, as printed in GB 32100-2015 §5.
CHECK_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# GB 11714-1997 values its characters over the full Latin alphabet (A=10 … Z=35),
# unlike GB 32100, so the organisation-code check needs its own table.
_ORGANISATION_VALUE = {c: v for v, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}
_ORGANISATION_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

# Registration-authority codes and the institution categories each may issue, from the
# table of GB 32100-2015 Appendix A as extended by the national code administration
# (外交, 司法行政, 文化, 旅游, 宗教, 工会, 中央军委改革和编制办公室, 农业 were added after the
# first edition). Enterprises in the park are almost always "91" (工商 / 企业).
REGISTRATION_AUTHORITIES: dict[str, tuple[str, dict[str, str]]] = {
    "1": (
        "机构编制",
        {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"},
    ),
    "2": ("外交", {"1": "外国常驻新闻机构", "9": "其他"}),
    "3": (
        "司法行政",
        {
            "1": "律师执业机构",
            "2": "公证处",
            "3": "基层法律服务所",
            "4": "司法鉴定机构",
            "5": "仲裁委员会",
            "9": "其他",
        },
    ),
    "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
    "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
    "6": (
        "旅游",
        {
            "1": "外国旅游部门常驻代表机构",
            "2": "港澳台地区旅游部门常驻内地（大陆）代表机构",
            "9": "其他",
        },
    ),
    "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
    "8": ("工会", {"1": "基层工会", "9": "其他"}),
    "9": ("工商", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
    "A": ("中央军委改革和编制办公室", {"1": "军队事业单位", "9": "其他"}),
    "N": (
        "农业",
        {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"},
    ),
    "Y": ("其他", {"1": "其他"}),
}

USCC_LENGTH = 18


def compute_check_character(first_seventeen: str) -> str:
    """Return the GB 32100 check character (position 18) for the first 17 characters.

    Raises ``ValueError`` if the input is not 17 characters of :data:`ALPHABET`; tests and
    demo data use it to build valid codes, so a silent wrong answer would be worse.
    """
    if len(first_seventeen) != USCC_LENGTH - 1 or any(c not in _VALUE for c in first_seventeen):
        raise ValueError(f"need 17 characters of {ALPHABET!r}, got {first_seventeen!r}")
    weighted = sum(_VALUE[c] * w for c, w in zip(first_seventeen, CHECK_WEIGHTS, strict=True))
    return ALPHABET[(31 - weighted % 31) % 31]  # 31 - 0 = 31 wraps to "0"


def compute_organisation_check_digit(body: str) -> str:
    """Return the GB 11714 check digit (``0``–``9`` or ``X``) for an 8-character body."""
    if len(body) != 8 or any(c not in _ORGANISATION_VALUE for c in body):
        raise ValueError(f"need 8 digits or upper-case letters, got {body!r}")
    weighted = sum(
        _ORGANISATION_VALUE[c] * w for c, w in zip(body, _ORGANISATION_WEIGHTS, strict=True)
    )
    check = 11 - weighted % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def build_uscc(prefix: str, organisation_body: str) -> str:
    """Build a valid USCC from its first 8 characters and an 8-character organisation body.

    Both check characters are computed, e.g. ``build_uscc("91410106", "MA0AUX01")``.
    Meant for tests and demo data: real codes come from the registration authority.
    """
    organisation_code = organisation_body + compute_organisation_check_digit(organisation_body)
    first_seventeen = prefix + organisation_code
    return first_seventeen + compute_check_character(first_seventeen)


def validate_uscc(code: str) -> list[str]:
    """Return every problem with ``code`` as a short readable message; empty means valid.

    Checks are positional, so they run only as far as the code allows: a code of the wrong
    length still has its characters, authority and category checked, but not its check
    character. The organisation-code check digit (position 17) is verified too: the code
    administration issues positions 9–17 as a GB 11714 code, and the check catches a
    transposition the overall check character can miss together with a second typo.
    """
    problems: list[str] = []
    if len(code) != USCC_LENGTH:
        problems.append(f"must be {USCC_LENGTH} characters long, not {len(code)}")

    bad = [(position, c) for position, c in enumerate(code, start=1) if c not in _VALUE]
    if bad:
        listed = ", ".join(f"{c!r} at position {position}" for position, c in bad)
        problems.append(
            f"contains characters outside the GB 32100 alphabet ({listed}); "
            "use digits and upper-case letters other than I, O, Z, S, V"
        )

    problems.extend(_authority_and_category_problems(code))

    division = code[2:8]
    if len(division) == 6 and not division.isdecimal():
        problems.append(f"positions 3–8 must be the digits of a division code, not {division!r}")

    if len(code) == USCC_LENGTH and not bad:
        problems.extend(_organisation_code_problems(code[8:17]))
        expected = compute_check_character(code[:17])
        if code[17] != expected:
            problems.append(f"check character is {code[17]!r} but should be {expected!r}")
    return problems


def is_valid_uscc(code: str) -> bool:
    """True when :func:`validate_uscc` finds nothing wrong with ``code``."""
    return not validate_uscc(code)


def _authority_and_category_problems(code: str) -> list[str]:
    if not code:
        return []
    authority = REGISTRATION_AUTHORITIES.get(code[0])
    if authority is None:
        return [f"registration-authority code {code[0]!r} (position 1) does not exist"]
    authority_name, categories = authority
    if len(code) > 1 and code[1] not in categories:
        allowed = ", ".join(categories)
        return [
            f"institution-category code {code[1]!r} (position 2) is not one of "
            f"{authority_name}'s categories ({allowed})"
        ]
    return []


def _organisation_code_problems(organisation_code: str) -> list[str]:
    expected = compute_organisation_check_digit(organisation_code[:8])
    if organisation_code[8] != expected:
        return [
            f"organisation code {organisation_code!r} (positions 9–17) has check digit "
            f"{organisation_code[8]!r} but should have {expected!r}"
        ]
    return []
