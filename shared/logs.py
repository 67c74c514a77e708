"""Structured JSON logs on stdout: every line names the service, and lines written while
handling an event carry its ``event_id``, ``type`` and ``correlation_id``.

The per-event fields are bound with :mod:`structlog.contextvars` inside the worker's own
greenthread (each greenlet has its own context), by the :class:`LogContext` dependency.
"""

import logging
import sys

import structlog

_configured_for: str | None = None


def _add_service(service: str):
    def processor(_logger, _method, event_dict):
        event_dict.setdefault("service", service)
        return event_dict

    return processor


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route structlog and the standard library (nameko, kombu) to one JSON stream."""
    global _configured_for
    if _configured_for == service:
        return
    _configured_for = service
    shared = [
        structlog.contextvars.merge_contextvars,
        _add_service(service),
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def bind_event(event_id: str | None, type_: str | None, correlation_id: str | None) -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        event_id=event_id, type=type_, correlation_id=correlation_id
    )
