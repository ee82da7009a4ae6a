"""structlog set-up, done once by the CLI: readable on a TTY, JSON for machines, on stderr."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal

import structlog

LogFormat = Literal["auto", "console", "json"]


class Redactor:
    """A structlog processor that masks known secret values anywhere in an event."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: list[str] = [s for s in secrets if len(s) >= 4]

    def add(self, *secrets: str) -> None:
        """Mask these values from now on."""
        self.secrets.extend(s for s in secrets if len(s) >= 4)

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if not self.secrets:
            return event
        for key, value in event.items():
            event[key] = self._mask(value)
        return event

    def _mask(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, "***")
            return value
        if isinstance(value, dict):
            return {k: self._mask(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._mask(v) for v in value]
        if isinstance(value, BaseException):
            return self._mask(f"{type(value).__name__}: {value}")
        return value


REDACTOR = Redactor()


class _StderrLoggerFactory:
    """PrintLoggers bound to whatever sys.stderr is when the event is logged."""

    def __call__(self, *args: Any) -> structlog.PrintLogger:
        return structlog.PrintLogger(file=sys.stderr)


def configure(fmt: LogFormat = "auto", level: str = "info") -> None:
    """Route structlog events to stderr; call once per process."""
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            REDACTOR,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=_StderrLoggerFactory(),
        # Not cached: a second configure() (tests, in-process CLI runs) must take effect.
        cache_logger_on_first_use=False,
    )
