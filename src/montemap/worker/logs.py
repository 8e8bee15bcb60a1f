"""Worker logs: text for people, JSON lines for log collectors.

Records from the worker and from ``context.logger`` carry ``worker`` and
``task_id`` (a hash of the task token: the token itself is a credential and is
never logged); the JSON formatter writes them as fields.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

#: Record attributes copied into JSON lines when present.
FIELDS = ("worker", "task_id", "duration_s")

FORMATS = ("text", "json")


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``,
    the worker fields, and ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger [task_id]: message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(task)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        task = getattr(record, "task_id", None)
        record.task = f" [{task}]" if task else ""
        return super().format(record)


def configure(fmt: str = "text", level: str = "info", stream: IO[str] | None = None) -> None:
    """Send montemap's logs to ``stream`` (stderr) in ``fmt`` ("text" or "json")."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLinesFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("botocore").setLevel(max(root.level, logging.WARNING))
    logging.getLogger("urllib3").setLevel(max(root.level, logging.WARNING))
