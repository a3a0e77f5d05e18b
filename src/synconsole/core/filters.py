"""The filter language of the console's ``/`` prompt and ``synconsole list --filter``.

Space-separated terms, all of which must hold::

    category:host_conflict category:missing_staff   several category: (or state:, staff:, status:, account:) terms: any of them
    state:failed        a sync state, or queued (pending, in_flight, retry_scheduled)
    staff:s-1           a staff id; staff:none = no staff assigned
    account:acme        the Cal.com account its staff books through (default: [calcom])
    status:cancelled    scheduled, cancelled or completed
    age:>24h            now - (first failure, else queued, else created); > < >= <=, units m h d
    start:<2025-11-26   start time: a date (UTC), an ISO time with offset, today, tomorrow, yesterday or now;
                        start:2025-11-26 = that day
    drift:yes           Cal.com's booking no longer matches (drift:no: it does)
    snoozed:yes         snoozed or acknowledged right now (snoozed:no: not)
    anything else       free text, case-insensitive, in id, customer id, staff id or last error;
                        "two words" is one term; -term negates any term

:func:`parse` checks the text and returns a :class:`Filter`; :meth:`Filter.condition` gives one SQL
expression over ``appointments`` (no rows are read in Python). Errors are :class:`FilterError`
(a usage error, exit 2) with a one-line message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from synconsole.core import clock
from synconsole.core.categories import CATEGORIES
from synconsole.core.models import QUEUED_STATES, STATUSES, SYNC_STATES, Appointment, Staff, UTCDateTime
from synconsole.core.textsearch import TextContains
from synconsole.errors import UsageError

KEYS = ("category", "state", "staff", "status", "age", "start", "drift", "snoozed", "account")
#: keys whose repeated terms mean "any of these" (one field, several values)
OR_KEYS = ("category", "state", "staff", "status", "account")
UNITS = {"m": 60, "h": 3600, "d": 86400}
YES = ("yes", "true", "1", "y")
NO = ("no", "false", "0", "n")

_COMPARISON = re.compile(r"^(>=|<=|>|<|=)?(.+)$")
_KEYLIKE = re.compile(r"^([A-Za-z_]+):(.*)$", re.S)


class FilterError(UsageError):
    """A term the filter language does not understand (one line, exit 2)."""


@dataclass(frozen=True)
class Term:
    key: str  # one of KEYS, or "text"
    value: str  # as written (for state/category/status: the checked value)
    negated: bool = False
    op: str = ""  # age and start: > < >= <= (start also "=": that day)

    def __str__(self) -> str:
        sign = "-" if self.negated else ""
        if self.key == "text":
            return f'{sign}"{self.value}"' if (" " in self.value or ":" in self.value) else sign + self.value
        return f"{sign}{self.key}:{self.op if self.op != '=' else ''}{self.value}"


@dataclass(frozen=True)
class Filter:
    text: str = ""
    terms: tuple[Term, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.terms

    def __str__(self) -> str:
        return " ".join(str(t) for t in self.terms)

    def condition(self, now: datetime | None = None) -> sa.ColumnElement[bool]:
        """One boolean SQL expression over Appointment; ``sa.true()`` for an empty filter."""
        now = now or clock.now()
        parts: list[Any] = []
        for key in OR_KEYS:
            wanted = [t for t in self.terms if t.key == key and not t.negated]
            if wanted:
                parts.append(sa.or_(*(_term_condition(t, now) for t in wanted)) if len(wanted) > 1
                             else _term_condition(wanted[0], now))
        for t in self.terms:
            if t.key in OR_KEYS and not t.negated:
                continue
            cond = _term_condition(t, now)
            parts.append(sa.not_(cond) if t.negated else cond)
        if not parts:
            return sa.true()
        return sa.and_(*parts)

    def describe(self) -> str:
        """Short human text: 'category host_conflict or missing_staff, state failed, age > 24h'."""
        if not self.terms:
            return "everything"
        out: list[str] = []
        for key in OR_KEYS:
            wanted = [t.value for t in self.terms if t.key == key and not t.negated]
            if wanted:
                out.append(f"{key} {' or '.join(wanted)}")
        for t in self.terms:
            if t.key in OR_KEYS and not t.negated:
                continue
            out.append(_describe_term(t))
        return ", ".join(out)

    @property
    def categories(self) -> tuple[str, ...]:
        """The category ids asked for (not negated), for a console that highlights them."""
        return tuple(t.value for t in self.terms if t.key == "category" and not t.negated)


EMPTY = Filter()


# --- parsing ------------------------------------------------------------------------------------


#: a filter is typed (or pasted) on one line; anything longer is not a filter, and the parser,
#: the console's input and its repaint all stay cheap below this
MAX_LENGTH = 1000
#: every free-text term is a LIKE over four columns: a pasted paragraph is not a filter
MAX_TERMS = 32


def parse(text: str | None) -> Filter:
    """Check and parse a filter; raises :class:`FilterError` with a one-line message."""
    text = (text or "").strip()
    if len(text) > MAX_LENGTH:
        raise FilterError(f"filter: longer than {MAX_LENGTH} characters ({len(text)})")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8 in argv arrive as lone surrogates
        raise FilterError("filter: not valid UTF-8 text") from None
    terms: list[Term] = []
    for negated, raw, quoted in _tokens(text):
        if quoted:
            terms.append(_text_term(raw, negated))
            continue
        match = _KEYLIKE.match(raw)
        if match is None:
            terms.append(_text_term(raw, negated))
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key not in KEYS:
            raise FilterError(
                f"filter: unknown term {raw!r}: expected one of {', '.join(k + ':' for k in KEYS)} "
                f'or free text (quote it to search for a colon: "{raw}")'
            )
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = value[1:-1]
        if not value:
            raise FilterError(f"filter: {key}: needs a value, e.g. {_EXAMPLES[key]}")
        terms.extend(_key_terms(key, value, negated))
    if len(terms) > MAX_TERMS:
        raise FilterError(f"filter: more than {MAX_TERMS} terms ({len(terms)})")
    return Filter(text=text, terms=tuple(terms))


_EXAMPLES = {
    "category": "category:host_conflict",
    "state": "state:failed",
    "staff": "staff:s-1",
    "status": "status:scheduled",
    "age": "age:>24h",
    "start": "start:<2025-11-26",
    "drift": "drift:yes",
    "snoozed": "snoozed:yes",
    "account": "account:default",
}


def _tokens(text: str) -> list[tuple[bool, str, bool]]:
    """(negated, token, quoted) for each term; a quoted token is free text, or a key's value."""
    out: list[tuple[bool, str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        negated = False
        if text[i] == "-" and i + 1 < n and not text[i + 1].isspace():
            negated = True
            i += 1
        if text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise FilterError(f"filter: unclosed quote in {text[i:i + 40]!r}")
            token = text[i + 1:end]
            i = end + 1
            if not token.strip():
                raise FilterError('filter: empty quotes ""')
            out.append((negated, token, True))
            continue
        start = i
        while i < n and not text[i].isspace():
            if text[i] == '"':  # key:"quoted value"
                end = text.find('"', i + 1)
                if end < 0:
                    raise FilterError(f"filter: unclosed quote in {text[start:start + 40]!r}")
                i = end + 1
                continue
            i += 1
        token = text[start:i]
        if token == "-":
            continue
        out.append((negated, token, False))
    return out


def _text_term(value: str, negated: bool) -> Term:
    return Term("text", value, negated)


def _key_terms(key: str, value: str, negated: bool) -> list[Term]:
    if key == "category":
        values = [v for v in value.split(",") if v]
        for v in values:
            if v not in CATEGORIES:
                raise FilterError(f"filter: unknown category {v!r}: expected one of {', '.join(CATEGORIES)}")
        return [Term(key, v, negated) for v in values]
    if key == "state":
        values = [v.lower() for v in value.split(",") if v]
        for v in values:
            if v not in SYNC_STATES and v != "queued":
                raise FilterError(f"filter: unknown state {v!r}: expected one of {', '.join(SYNC_STATES)}, queued")
        return [Term(key, v, negated) for v in values]
    if key == "status":
        values = [v.lower() for v in value.split(",") if v]
        for v in values:
            if v not in STATUSES:
                raise FilterError(f"filter: unknown status {v!r}: expected one of {', '.join(STATUSES)}")
        return [Term(key, v, negated) for v in values]
    if key in ("staff", "account"):
        return [Term(key, v, negated) for v in value.split(",") if v]
    if key in ("drift", "snoozed"):
        v = value.lower()
        if v not in YES + NO:
            raise FilterError(f"filter: {key}: expected yes or no, got {value!r}")
        return [Term(key, "yes" if v in YES else "no", negated)]
    if key == "age":
        op, rest = _split_op(value)
        if op in ("", "=") or not clock.is_duration(rest.lower(), "mhd"):
            raise FilterError(f"filter: age: expected >, <, >= or <= and a number with a unit m, h or d "
                              f"(e.g. age:>24h), got {value[:40]!r}")
        age_seconds(rest.lower())  # in range, or one line now
        return [Term(key, rest.lower(), negated, op)]
    if key == "start":
        op, rest = _split_op(value)
        _parse_when(rest, clock.now())  # check now; evaluated against the query's now later
        return [Term(key, rest, negated, op or "=")]
    raise FilterError(f"filter: unknown term {key!r}")  # pragma: no cover - KEYS is checked above


def _split_op(value: str) -> tuple[str, str]:
    match = _COMPARISON.match(value)
    assert match is not None
    return match.group(1) or "", match.group(2)


def age_seconds(value: str) -> float:
    try:
        return clock.parse_duration(value, "mhd").total_seconds()
    except ValueError as exc:
        raise FilterError(f"filter: age: {exc}, got {value[:40]!r}") from None


def _parse_when(value: str, now: datetime) -> tuple[datetime, bool]:
    """(moment, is_whole_day): a day starts at 00:00 UTC."""
    try:
        return clock.parse_when(value, now, days=True, words=True)
    except clock.TimeSyntaxError as exc:
        if exc.reason == clock.NOT_A_DATE:
            raise FilterError(f"filter: start: not a date: {value!r}") from None
        if exc.reason == clock.NO_OFFSET:
            raise FilterError(f"filter: start: {value!r} has no UTC offset (add Z or +01:00)") from None
        if exc.reason == clock.OUT_OF_RANGE:
            raise FilterError(f"filter: start: {exc}") from None
        raise FilterError(f"filter: start: expected a date (2025-11-26), an ISO time with offset, today, "
                          f"tomorrow, yesterday or now; got {value!r}") from None


def parse_selection(text: str | None, what: str = "filter") -> Filter:
    """A filter that selects what a command changes: never empty. ``--filter "$UNSET"`` in a script
    must not mean every appointment."""
    flt = parse(text)
    if flt.is_empty:
        raise FilterError(f"{what} is empty (an unset variable?); a command that changes data never reads "
                          "an empty filter as everything")
    return flt


# --- SQL ----------------------------------------------------------------------------------------


def _term_condition(t: Term, now: datetime) -> Any:
    a = Appointment
    if t.key == "category":
        # negated: "not this category", which includes rows without one
        return a.category == t.value if not t.negated else sa.and_(a.category.is_not(None), a.category == t.value)
    if t.key == "state":
        if t.value == "queued":
            return a.sync_state.in_(QUEUED_STATES)
        return a.sync_state == t.value
    if t.key == "status":
        return a.status == t.value
    if t.key == "staff":
        if t.value.lower() == "none":
            return a.staff_id.is_(None)
        return sa.and_(a.staff_id.is_not(None), a.staff_id == t.value)
    if t.key == "account":  # the staff's account; an appointment without staff books through default
        staff_account = sa.select(Staff.calcom_account).where(Staff.id == a.staff_id).scalar_subquery()
        return sa.func.coalesce(staff_account, "default") == t.value
    if t.key == "drift":
        return a.drift.is_not(None) if t.value == "yes" else a.drift.is_(None)
    if t.key == "snoozed":
        snoozed = sa.and_(a.snoozed_until.is_not(None), a.snoozed_until > now)
        return snoozed if t.value == "yes" else sa.not_(snoozed)
    if t.key == "age":
        # age > X  <=>  since < now - X   (comparisons flip)
        since = sa.func.coalesce(a.first_failed_at, a.queued_at, a.created_at, type_=UTCDateTime())
        cutoff = now - timedelta(seconds=age_seconds(t.value))
        return {">": since < cutoff, ">=": since <= cutoff, "<": since > cutoff, "<=": since >= cutoff}[t.op]
    if t.key == "start":
        moment, whole_day = _parse_when(t.value, now)
        if whole_day:
            next_day = moment + timedelta(days=1)
            return {
                "=": sa.and_(a.start_at >= moment, a.start_at < next_day),
                "<": a.start_at < moment,
                "<=": a.start_at < next_day,
                ">": a.start_at >= next_day,
                ">=": a.start_at >= moment,
            }[t.op]
        return {
            "=": a.start_at == moment,
            "<": a.start_at < moment,
            "<=": a.start_at <= moment,
            ">": a.start_at > moment,
            ">=": a.start_at >= moment,
        }[t.op]
    # free text: the database's text index finds it (core/textsearch.py)
    return TextContains(t.value.lower())


def _describe_term(t: Term) -> str:
    neg = "not " if t.negated else ""
    if t.key == "text":
        return f'{neg}text "{t.value}"'
    if t.key == "age":
        return f"{neg}age {t.op} {t.value}"
    if t.key == "start":
        op = "on" if t.op == "=" else t.op
        return f"{neg}start {op} {t.value}"
    if t.key in ("drift", "snoozed"):
        yes = (t.value == "yes") != t.negated
        return f"{t.key} {'yes' if yes else 'no'}"
    return f"{neg}{t.key} {t.value}"


# --- list --filter ------------------------------------------------------------------------------
