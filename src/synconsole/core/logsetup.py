"""Structured log lines to ``[logging] path`` with rotation, and a fallback that never stops work.
Every line is masked (:mod:`synconsole.core.pii`): the log never holds a customer's email or phone.

The seed lost its logs to "permission denied". Here an unwritable path falls back to the user
state dir (or, if that fails too, stderr), says so once, and raises the ``log_fallback`` alert.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from dataclasses import dataclass
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter

from synconsole.config import Settings, default_log_path, log_path
from synconsole.core import clock
from synconsole.core.logpath import writable_problem
from synconsole.core.pii import mask_doc, mask_text

LOGGER = "synconsole"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5


class KeyValueFormatter(logging.Formatter):
    """``2025-11-24T17:00:00Z INFO synconsole.sync message key=value …`` (one line per record)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None) or {}
        parts = [clock.iso(clock.now()) or "", record.levelname, record.name, record.getMessage()]
        parts += [f"{k}={_quote(v)}" for k, v in fields.items()]
        line = " ".join(p for p in parts if p)
        if record.exc_info:
            line += " exc=" + _quote(self.formatException(record.exc_info).splitlines()[-1])
        return mask_text(line.replace("\n", "\\n")) or ""


class JsonLineFormatter(JsonFormatter):
    """``{"time": …, "level": …, "logger": …, "message": …, <fields>}``, one object per line, through
    python-json-logger (it escapes newlines and quotes; a log shipper parses each line on its own)."""

    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        log_record["time"] = clock.iso(clock.now())
        log_record["level"] = record.levelname
        log_record["logger"] = record.name
        log_record["message"] = record.getMessage()
        for key, value in (getattr(record, "fields", None) or {}).items():
            log_record.setdefault(key, value)
        if record.exc_info:
            log_record["exc"] = self.formatException(record.exc_info).splitlines()[-1]
        log_record.update(mask_doc(dict(log_record)))


def formatter(settings: Settings) -> logging.Formatter:
    if settings.logging.format == "json":
        return JsonLineFormatter(json_ensure_ascii=False)
    return KeyValueFormatter()


def _quote(value: object) -> str:
    text = str(value)
    return f'"{text}"' if (not text or any(c in text for c in ' "=')) else text


@dataclass
class LogSetup:
    path: Path | None  # None: stderr
    fallback_from: Path | None = None
    problem: str | None = None

    @property
    def fell_back(self) -> bool:
        return self.fallback_from is not None

    def message(self) -> str:
        where = str(self.path) if self.path else "stderr"
        return f"cannot write {self.fallback_from} ({self.problem}); logging to {where}"


class _FallingBackFileHandler(logging.handlers.RotatingFileHandler):
    """A log file that fails on write (the disk filled up after it opened) switches this process's
    logging to stderr once, says so, and raises ``log_fallback``: never a "Logging error"
    traceback for every line."""

    setup: LogSetup

    def handleError(self, record: logging.LogRecord) -> None:
        if getattr(self, "_failed", False):
            return
        self._failed = True
        import sys as _sys

        problem = str(_sys.exc_info()[1] or "write failed")
        fallback = logging.StreamHandler(sys.stderr)
        fallback.setFormatter(self.formatter)
        fallback._synconsole = True  # type: ignore[attr-defined]
        for name in (LOGGER, "apscheduler"):
            target = logging.getLogger(name)
            if self in target.handlers:
                target.removeHandler(self)
                target.addHandler(fallback)
        self.setup.fallback_from, self.setup.problem, self.setup.path = self.setup.path, problem, None
        try:
            fallback.handle(record)
            logging.getLogger(LOGGER).warning(self.setup.message())
            if _alert_db is not None:
                report_fallback(_alert_db, self.setup)
        except Exception:  # the database may be on the same full disk: stderr has said it
            pass


_alert_db = None  # where report_fallback raised the alert: a later fallback raises it there too


def configure(settings: Settings, *, to_stderr: bool = False) -> LogSetup:
    """Attach one handler to the ``synconsole`` logger; idempotent. ``to_stderr`` (``--log-stderr``)
    or ``[logging] path = "-"``: stderr, the convention under systemd and in containers."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        if getattr(handler, "_synconsole", False):
            logger.removeHandler(handler)
            handler.close()
    logger.setLevel(settings.logging.level)
    logger.propagate = False

    to_stderr = to_stderr or settings.logging.path == "-"
    wanted = log_path(settings)
    setup = LogSetup(path=None if to_stderr else wanted)
    problem = None if to_stderr else writable_problem(wanted)
    if problem is not None:
        setup = LogSetup(path=None, fallback_from=wanted, problem=problem)
        fallback = default_log_path()
        if fallback != wanted and writable_problem(fallback) is None:
            setup.path = fallback
    handler: logging.Handler
    if setup.path is not None and not to_stderr:
        handler = _FallingBackFileHandler(setup.path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8",
                                          delay=False)
        handler.setup = setup
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(settings))
    handler._synconsole = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    # APScheduler reports skipped runs (a long sync drain) on every interval: into our log, not stderr
    scheduler_log = logging.getLogger("apscheduler")
    for old in list(scheduler_log.handlers):
        if getattr(old, "_synconsole", False):
            scheduler_log.removeHandler(old)
    scheduler_log.addHandler(handler)
    scheduler_log.setLevel(logging.WARNING)
    scheduler_log.propagate = False
    if setup.fell_back:
        logger.warning(setup.message())
    return setup


def report_fallback(db, setup: LogSetup) -> None:
    """Raise (or clear) the log_fallback alert for this process's logging."""
    from synconsole.core import metrics

    global _alert_db
    _alert_db = db
    with db.session() as session:
        if setup.fell_back:
            metrics.raise_event_alert(session, "log_fallback", setup.message())
        else:
            metrics.clear_event_alert(session, "log_fallback")
        session.commit()


def log(logger: logging.Logger, level: int, event: str, /, **fields: object) -> None:
    """One structured line: ``event key=value …``."""
    logger.log(level, event, extra={"fields": fields})
