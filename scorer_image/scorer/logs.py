"""Logging set-up: one JSON object per line in containers (SCORER_LOG_FORMAT=json), text otherwise.

Fields passed with ``extra={...}`` become top-level keys. Pod name and namespace are added to
every line so logs from many replicas can be told apart. Never pass credentials.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from scorer.settings import LogFormat

_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: time, level, logger, message, static fields, extras, exception."""

    def __init__(self, static_fields: dict[str, str] | None = None) -> None:
        super().__init__()
        self._static = {key: value for key, value in (static_fields or {}).items() if value}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **self._static,
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(
    log_format: LogFormat, *, pod_name: str = "", pod_namespace: str = "", level: int = logging.INFO
) -> None:
    """Install one stderr handler on the root logger in the chosen format (replacing existing handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format is LogFormat.JSON:
        handler.setFormatter(JsonFormatter({"pod": pod_name, "namespace": pod_namespace}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
