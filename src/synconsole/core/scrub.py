"""Free text fit to print or store: the configured secret, bearer tokens and anything shaped like a
Cal.com key removed, emails and phones masked (:mod:`synconsole.core.pii`). The report, the audit
log's JSON, the sync's log lines and the notifications all scrub through here."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterable

from synconsole.core.pii import mask_text

if TYPE_CHECKING:
    from synconsole.config import Settings

_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
#: anything shaped like a Cal.com API key (another key than the configured one, an old one)
_KEY_SHAPE = re.compile(r"\bcal_(?:live_|test_)?[A-Za-z0-9]{20,}\b")
_MASK = "***"

#: free text longer than this is cut before it is masked (masking 10 MB for a report line is waste)
SCRUB_LIMIT = 100_000
#: the longest one-line excerpt of free text (an error message, an audit reason)
EXCERPT = 160


def scrub_text(text: str | None, secrets: Iterable[str] = (), limit: int = SCRUB_LIMIT, *,
               mask_pii: bool = True) -> str | None:
    """Free text fit for a report: secrets and bearer tokens removed, emails and phones masked (unless
    ``mask_pii`` is false: text the caller has masked, or the user asked to see unmasked).
    Longer than ``limit``: cut first (at a space, so no half token is left unmasked), then masked."""
    if text is None:
        return None
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    if len(text) > limit:
        head = text[:limit]
        space = max(head.rfind(" "), head.rfind("\n"))
        head = head[:space] if space > limit // 2 else head[: limit - 100]
        text = f"{head} … ({len(text) - len(head)} more characters cut)"
    text = _BEARER.sub(lambda m: m.group(1) + _MASK, text)
    text = _KEY_SHAPE.sub("cal_" + _MASK, text)
    return mask_text(text) if mask_pii else text


def settings_secrets(settings: Settings) -> list[str]:
    """The secrets no output may hold: the configured Cal.com key."""
    key = settings.calcom.api_key.reveal() if settings.calcom.api_key else ""
    return [key] if key else []


def remove_secrets(value: Any, secrets: list[str]) -> Any:
    """The whole document, with every occurrence of a secret masked (keys and values)."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, _MASK)
        return value
    if isinstance(value, dict):
        return {remove_secrets(k, secrets): remove_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [remove_secrets(v, secrets) for v in value]
    return value


def excerpt(text: str | None, secrets: list[str], limit: int = EXCERPT) -> str | None:
    """Free text scrubbed onto one line of at most ``limit`` characters (cut with an ellipsis)."""
    if text is None:
        return None
    one_line = scrub_text(" ".join(text[: limit * 8].split()), secrets, limit=limit * 4) or ""
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
