"""How a Cal.com error body is kept: whole up to a generous cap, head and tail beyond it, and a
body repeated on a retry as a reference to the attempt that holds it. Seed lesson 4 ("capture the
full error") holds for any real error; a hostile 10 MB body must not cost 30 MB per retry."""

from __future__ import annotations

import sqlalchemy as sa

from synconsole.core.db import Database
from synconsole.core.models import SyncAttempt

#: a real Cal.com error body is a few KB; this keeps any of them whole
BODY_CAP = 256 * 1024
HEAD = 192 * 1024
TAIL = BODY_CAP - HEAD
#: a message (attempt error, last_error) longer than this is cut: the body keeps the rest
MESSAGE_CAP = 4000
REFERENCE = "[the same body as attempt #{id}]"


def capped(body: str) -> str:
    if len(body) <= BODY_CAP:
        return body
    cut = len(body) - HEAD - TAIL
    return f"{body[:HEAD]}\n… [{cut} characters cut of {len(body)}; the first {HEAD} and the last {TAIL} are kept] …\n{body[-TAIL:]}"


def cut_message(message: str) -> str:
    if len(message) <= MESSAGE_CAP:
        return message
    return f"{message[:MESSAGE_CAP]} … ({len(message) - MESSAGE_CAP} more characters; see the error body)"


def for_attempt(db: Database, appointment_id: str, body: str | None) -> str | None:
    """What to store as this attempt's error body: capped, or a reference when the appointment's
    last stored body is the same."""
    if not body:
        return None
    form = capped(body)
    s = SyncAttempt
    with db.engine.connect() as conn:
        last = conn.execute(sa.select(s.id, s.error_body).where(
            s.appointment_id == appointment_id, s.error_body.is_not(None),
            s.error_body.not_like("[the same body as attempt #%")).order_by(s.id.desc()).limit(1)).first()
    if last is not None and last.error_body == form:
        return REFERENCE.format(id=last.id)
    return form
