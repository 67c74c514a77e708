"""Strict, line-aware reading of YAML node trees (``yaml.compose``), for config files.

``yaml.safe_load`` loses line numbers and is lenient in ways that hurt configuration:
``12.5`` and ``"12"`` where an integer is meant, ``012`` read as octal 10, a repeated key
silently overriding the first. :class:`NodeReader` reads the composed node tree instead,
checks each scalar's resolved tag and raw text, and records a :class:`Problem` (line,
field, message) for every fault rather than stopping at the first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import yaml

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
# Plain decimal only: YAML 1.1 also reads 0o17, 0x1F, 1_000, +5 and 012 (octal!) as ints.
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class Problem:
    """One fault in a file: 1-based line, dotted field path, readable message."""

    line: int
    field: str
    message: str


class YamlFileError(ValueError):
    """A YAML file failed validation; ``problems`` lists every fault, by line."""

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.source = source
        self.problems = tuple(sorted(problems, key=lambda problem: problem.line))
        lines = [f"{source}:{p.line}: {p.field}: {p.message}" for p in self.problems]
        super().__init__(f"invalid {source}\n  " + "\n  ".join(lines))


def compose(text: str, source: str, error: type[YamlFileError] = YamlFileError) -> yaml.Node:
    """Parse ``text`` into a node tree; a syntax error or an empty file raises ``error``."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as syntax_error:
        mark = syntax_error.problem_mark or syntax_error.context_mark
        line = mark.line + 1 if mark else 1
        raise error(source, [Problem(line, "(yaml)", str(syntax_error.problem))]) from None
    except yaml.reader.ReaderError as bad_character:  # NUL, control characters, U+FFFE
        line = text[: bad_character.position].count("\n") + 1
        message = f"character {bad_character.character!r} is not allowed in YAML"
        raise error(source, [Problem(line, "(yaml)", message)]) from None
    except RecursionError:  # PyYAML composes recursively: [[[[… a few hundred deep
        raise error(source, [Problem(1, "(yaml)", "nested too deeply")]) from None
    if root is None:
        raise error(source, [Problem(1, "(file)", "the file is empty")])
    return root


def _shown(node: yaml.Node) -> str:
    """How a node reads back in a message: ``'12' (str)``, ``12.5 (float)``."""
    if not isinstance(node, yaml.ScalarNode):
        return "a list or mapping"
    kind = node.tag.rsplit(":", 1)[-1]
    return f"{node.value!r} ({kind})" if kind == "str" else f"{node.value} ({kind})"


class NodeReader:
    """Reads typed values out of YAML nodes, recording a :class:`Problem` per fault.

    Readers return ``None`` (or skip the item) for a value they could not read, so one
    fault does not hide the next; callers build their result only if :attr:`problems`
    stayed empty, which :meth:`faults_since` makes easy to check per section.
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, node: yaml.Node, field: str, message: str) -> None:
        """Record a fault at ``node``'s line; an empty ``field`` is the file's top level."""
        self.problems.append(Problem(node.start_mark.line + 1, field or "(file)", message))

    def faults_since(self, count: int) -> bool:
        """True when problems were recorded after there were ``count`` of them."""
        return len(self.problems) > count

    def mapping(
        self,
        node: yaml.Node,
        field: str,
        required: Iterable[str],
        optional: Iterable[str] = (),
        *,
        unknown: str | None = None,
    ) -> dict[str, yaml.Node] | None:
        """The key → value nodes of a mapping; unknown, repeated and missing keys are faults.

        ``unknown`` replaces the message for an unknown key (default: the keys expected).
        """
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, field, f"must be a mapping, not {_shown(node)}")
            return None
        required = set(required)
        known = required | set(optional)
        values: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            where = f"{field}.{key}" if field else str(key)
            if key not in known:
                self.problem(
                    key_node, where, unknown or f"unknown key; expected one of {sorted(known)}"
                )
            elif key in values:
                self.problem(key_node, where, "repeated key")
            else:
                values[key] = value_node
        for key in sorted(required - values.keys()):
            self.problem(node, f"{field}.{key}" if field else key, "is required")
        return values

    def sequence(self, node: yaml.Node, field: str, *, min_items: int = 0) -> list[yaml.Node]:
        """The item nodes of a list (empty after a fault)."""
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, field, f"must be a list, not {_shown(node)}")
            return []
        if len(node.value) < min_items:
            self.problem(node, field, f"must list at least {min_items}")
        return list(node.value)

    def string(
        self, node: yaml.Node, field: str, pattern: re.Pattern[str] | None = None
    ) -> str | None:
        """A non-empty string, optionally matching ``pattern`` in full."""
        if not isinstance(node, yaml.ScalarNode) or node.tag != _STR:
            self.problem(
                node,
                field,
                f"must be a string (quote it if it looks like a number), not {_shown(node)}",
            )
            return None
        if not node.value.strip():
            self.problem(node, field, "must not be empty")
            return None
        if pattern is not None and not pattern.fullmatch(node.value):
            self.problem(node, field, f"{node.value!r} does not match {pattern.pattern}")
            return None
        return node.value

    def integer(
        self, node: yaml.Node, field: str, minimum: int, maximum: int | None = None
    ) -> int | None:
        """A plain decimal integer within bounds: ``12.5``, ``"12"``, ``true``, ``012`` fail."""
        is_decimal = (
            isinstance(node, yaml.ScalarNode)
            and node.tag == _INT
            and _DECIMAL.fullmatch(node.value)
        )
        if not is_decimal:
            self.problem(node, field, f"must be a plain decimal integer, not {_shown(node)}")
            return None
        value = int(node.value)
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"≥ {minimum}"
            self.problem(node, field, f"must be {bound}, not {value}")
            return None
        return value

    def strings(
        self, node: yaml.Node, field: str, *, min_items: int = 0
    ) -> list[tuple[yaml.Node, str]]:
        """A list of strings, each with its node (for later faults about that item)."""
        items = []
        for index, item in enumerate(self.sequence(node, field, min_items=min_items)):
            value = self.string(item, f"{field}[{index}]")
            if value is not None:
                items.append((item, value))
        return items

    def unique(
        self,
        items: Iterable[tuple[yaml.Node, str]],
        field: str,
        key: Callable[[str], str] = str,
    ) -> None:
        """Record a fault at each item whose ``key`` repeats an earlier one."""
        seen: set[str] = set()
        for node, value in items:
            if key(value) in seen:
                self.problem(node, field, f"{value!r} appears more than once")
            seen.add(key(value))
