"""The log lines of every Garde process: one JSON object per line on stderr (GARDE_LOG_FORMAT=
json, the default) or plain text for a person, with the process's role in each.

No patient data: messages carry ids, codes and counts, and an exception is written as its type
and stack, never its text (a database error quotes the values it refused, a validation error
the field it read).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from garde.settings import Settings

# What every LogRecord has: anything else on a record came as `extra` and is written too.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_JSON_TYPES = (str, int, float, bool, type(None), dict, list, tuple)
# Libraries kept to their warnings whatever the level: pynetdicom narrates every association
# PDU by PDU at INFO and DEBUG; Twilio's client writes ten lines per request at INFO, phone
# numbers in them. (Temporal's worker logs whole activity completions
# at DEBUG: harmless, as their payloads are encrypted, garde/payload_codec.py.)
_NEVER_BELOW = {"pynetdicom": logging.WARNING, "twilio": logging.WARNING}

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def configure_logging(role: str, settings: Settings) -> None:
    """Send every logger of this process (Garde's, Temporal's, waitress's, pynetdicom's) to one
    handler on stderr; Python's warnings and uncaught exceptions go through it too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(role) if settings.log_format == "json" else TextFormatter(role)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    level = logging.getLevelName(settings.log_level)
    root.setLevel(level)
    for name, floor in _NEVER_BELOW.items():
        logging.getLogger(name).setLevel(max(level, floor))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_uncaught


def exception_fields(exc_info: ExcInfo) -> dict[str, str]:
    """An exception as its type (and the types it came from) and its stack, without its text."""
    kind, error, tb = exc_info
    causes: list[str] = []
    cause = error.__cause__ or error.__context__
    while cause is not None and len(causes) < 5:
        causes.append(_qualified(type(cause)))
        cause = cause.__cause__ or cause.__context__
    fields = {"exception": _qualified(kind), "stack": "".join(traceback.format_tb(tb))}
    if causes:
        fields["caused_by"] = ", ".join(causes)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, role, message, then the
    record's extras (a case id, a workflow id ...) and its exception's type and stack."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self._role = role

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "role": self._role,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in line and isinstance(value, _JSON_TYPES):
                line[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            line |= exception_fields(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """A line for a person reading a terminal (time in UTC); exceptions as type and stack, as
    in JSON."""

    def __init__(self, role: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)s {role} %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _utc(record.created)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        fields = exception_fields(ei)
        caused = f" (caused by {fields['caused_by']})" if "caused_by" in fields else ""
        return f"{fields['exception']}{caused}\n{fields['stack'].rstrip()}"


def _utc(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


def _qualified(kind: type[BaseException]) -> str:
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


def _log_uncaught(
    kind: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, tb)
        return
    logging.getLogger("garde").critical("uncaught exception", exc_info=(kind, error, tb))


def _log_thread_uncaught(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)
