"""Logging for the served API: plain lines by default, JSON lines with LOG_FORMAT=json.

`logging_config()` is a `logging.config.dictConfig` document, handed to uvicorn as its
`log_config` (app.serving.uvicorn_options): uvicorn's own loggers (errors, access log) and the
app's go through the same handler, and every record carries the request id.
"""

from __future__ import annotations

from typing import Any

from app.config import Settings

__all__ = ["logging_config"]

_PLAIN = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
_JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"


def logging_config(settings: Settings) -> dict[str, Any]:
    level = settings.server.log_level.upper()
    if settings.observability.log_format == "json":
        formatter: dict[str, Any] = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": _JSON_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    else:
        formatter = {"format": _PLAIN}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "app.observability.request_id.RequestIdFilter"}},
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            # uvicorn's loggers propagate to the root handler instead of their own.
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": level, "propagate": True},
        },
    }
