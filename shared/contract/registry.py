"""Which payload schema belongs to which ``(source, type, version)``.

Every event on every exchange is registered here, ingress and inter-service alike, so
that a publisher cannot emit what its consumers could not read, and a consumer can reject
what no one agreed on.
"""

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from marshmallow import EXCLUDE, Schema, ValidationError, pre_load

from shared.contract.fields import text_errors
from shared.messaging.errors import UnknownEvent


class PayloadSchema(Schema):
    """Base of every event payload schema.

    Unknown fields are ignored when *reading* (a tolerant reader keeps working when a
    publisher adds an optional field); publishing refuses them (see ``validate_outgoing``).
    Every string in the payload — a field, a list item, a mapping key, known or not — must
    be valid text (no NUL, no lone surrogate), whatever field class declares it.
    """

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def refuse_invalid_text(self, data, **kwargs):
        if (errors := text_errors(data)) is not None:
            raise ValidationError(errors)
        return data


@dataclass(frozen=True)
class EventKey:
    """The identity of one version of one event type."""

    source: str
    type: str
    version: int = 1

    def __str__(self) -> str:
        return f"{self.source}/{self.type} v{self.version}"


@dataclass(frozen=True)
class EventSpec:
    """A registered event: its key, payload schema and one-line meaning."""

    key: EventKey
    schema_class: type[PayloadSchema]
    description: str

    def schema(self) -> PayloadSchema:
        return _schema_instance(self.schema_class)


@functools.cache
def _schema_instance(schema_class: type[PayloadSchema]) -> PayloadSchema:
    """One instance per schema: building one costs more than a load (~35 µs) and
    marshmallow keeps no per-call state on it."""
    return schema_class()


class Registry:
    """A mapping of :class:`EventKey` to :class:`EventSpec`, filled by :meth:`event`."""

    def __init__(self) -> None:
        self._specs: dict[EventKey, EventSpec] = {}

    def event(
        self, source: str, type_: str, version: int = 1
    ) -> Callable[[type[PayloadSchema]], type[PayloadSchema]]:
        """Class decorator registering a payload schema; its docstring is the description."""

        def register(schema_class: type[PayloadSchema]) -> type[PayloadSchema]:
            key = EventKey(source, type_, version)
            existing = self._specs.get(key)
            if existing is not None and existing.schema_class is not schema_class:
                raise ValueError(f"{key} is already registered to {existing.schema_class}")
            description = (schema_class.__doc__ or "").strip().splitlines()[0:1]
            self._specs[key] = EventSpec(key, schema_class, "".join(description))
            return schema_class

        return register

    def spec(self, source: str, type_: str, version: int) -> EventSpec:
        try:
            return self._specs[EventKey(source, type_, version)]
        except KeyError:
            known = sorted(k.version for k in self._specs if (k.source, k.type) == (source, type_))
            if known:
                raise UnknownEvent(
                    f"version: {source}/{type_} has no version {version} (known: {known})"
                ) from None
            raise UnknownEvent(
                f"type: no event {type_!r} is registered for source {source!r}"
            ) from None

    def __contains__(self, key: EventKey) -> bool:
        return key in self._specs

    def __iter__(self) -> Iterator[EventSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: (s.key.source, s.key.type)))


REGISTRY = Registry()
"""The project's registry; importing :mod:`shared.contract` fills it with every event."""

event = REGISTRY.event
