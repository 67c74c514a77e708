"""One test helper for files read through ``shared/yaml_nodes.py`` (park files, the
catalogue, the firms files): the error names the file, and each problem its line and
field — asserted the same way for every such reader.

Usage::

    CATALOGUE = FileErrors(parse_catalogue, CatalogueError)
    CATALOGUE.fields(text)              # [(line, field), …] of a text that must fail
    CATALOGUE.parses_or_reports(text)   # hostile input: parsed, or an error that says where
    CATALOGUE.parses_or_reports(with_value(MINIMAL, index, data.draw(hostile_values())))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import strategies as st

from shared.yaml_nodes import Problem, YamlFileError


@dataclass(frozen=True)
class FileErrors:
    """A reader ``parse(text, source)`` and the :class:`YamlFileError` it raises."""

    parse: Callable[[str, str], Any]
    error: type[YamlFileError]

    def problems(self, text: str, source: str = "bad.yaml") -> tuple[Problem, ...]:
        """The problems reported for ``text``, which must be refused."""
        with pytest.raises(self.error) as caught:
            self.parse(text, source)
        assert_names_where(caught.value, source)
        return caught.value.problems

    def fields(self, text: str, source: str = "bad.yaml") -> list[tuple[int, str]]:
        """``(line, field)`` of each problem reported for ``text``, which must be refused."""
        return [(p.line, p.field) for p in self.problems(text, source)]

    def parses_or_reports(self, text: str, source: str = "fuzz.yaml") -> None:
        """``text`` is read, or refused with problems that say where (never a crash)."""
        try:
            self.parse(text, source)
        except self.error as error:
            assert_names_where(error, source)


def assert_names_where(error: YamlFileError, source: str) -> None:
    """The error has problems, names its file, and each problem a line and a field."""
    assert error.problems, "an error without problems"
    assert error.source == source
    assert all(p.line >= 1 and p.field for p in error.problems), error.problems
    for p in error.problems:
        assert f"{source}:{p.line}: {p.field}: " in str(error), str(error)


def with_value(text: str, index: int, value: str) -> str:
    """``text`` with the value of its line ``index`` (0-based; ``key: value``) replaced by
    ``value`` — the line unchanged when it has no ``:``."""
    lines = text.splitlines()
    key, colon, _ = lines[index].partition(":")
    if colon:
        lines[index] = f"{key}: {value}"
    return "\n".join(lines) + "\n"


# YAML that is a wrong type, a wrong form or no value at all, wherever a value goes.
HOSTILE_SCALARS = (
    "", "~", "[]", "{}", "-1", "0", "1.5", "0x10", "012", "true", "*x", "&x 1",
    "'12'", "[[1, [2]]]", "{a: b}", "!!binary AA==",
)  # fmt: skip


def hostile_values(*extra: str, text_size: int = 12) -> st.SearchStrategy[str]:
    """A value to put in place of any value of a file: :data:`HOSTILE_SCALARS`, the
    reader's own ``extra`` ones, any integer, any quoted text up to ``text_size``."""
    return st.one_of(
        st.sampled_from(HOSTILE_SCALARS + extra),
        st.integers().map(str),
        st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=text_size).map(repr),
    )
