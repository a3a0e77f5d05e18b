"""The report's content, collected from the database as a JSON-ready dict (:func:`build_report`);
:mod:`synconsole.core.report.render` turns it into text. The sections come from
:mod:`~synconsole.core.report.period` (before -> after), :mod:`~synconsole.core.report.fixes`
(what was done) and :mod:`~synconsole.core.report.failures` (what remains, the root causes); the
split by kind, the alerts and the summary are put together here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from synconsole import __version__
from synconsole.config import Settings
from synconsole.core import categories as cats
from synconsole.core import clock, metrics, remediation
from synconsole.core.models import MetricSnapshot
from synconsole.core.report.failures import by_account, current_failures, remaining, root_causes
from synconsole.core.report.fixes import fixes
from synconsole.core.report.numbers import duration, plural, round_half_up
from synconsole.core.report.period import category_changes, first_snapshot, latest_snapshot, metric_changes
from synconsole.core.scrub import remove_secrets, scrub_text, settings_secrets

TITLE = "Appointment sync report"
WRAP = 78
FORMATS = ("md", "json")


def build_report(session: Session, settings: Settings, *, since: datetime, now: datetime | None = None) -> dict:
    """The report's content (what ``--format json`` prints; :func:`render_markdown` renders it)."""
    now = now or clock.now()
    since = clock.to_utc(since)
    secrets = settings_secrets(settings)
    after = metrics.compute(session, settings, now)
    snap = latest_snapshot(session, since)
    inside = snap is None and (snap := first_snapshot(session, since, now)) is not None

    doc: dict[str, Any] = {
        "title": TITLE,
        "period": {"since": clock.iso(since), "until": clock.iso(now), "length": duration(now - since)},
        "generated_at": clock.iso(now),
        "generator": f"synconsole {__version__}",
    }
    if snap is None:
        doc["before"] = {"snapshot_at": None, "snapshot_id": None,
                         "note": f"no snapshot at or before {clock.iso(since)}, before values unknown"}
    elif inside:
        doc["before"] = {"snapshot_at": clock.iso(snap.at), "snapshot_id": snap.id,
                         "note": f"snapshot of {clock.iso(snap.at)} (none at or before {clock.iso(since)}: "
                                 "the first one in the period)"}
    else:
        doc["before"] = {"snapshot_at": clock.iso(snap.at), "snapshot_id": snap.id,
                         "note": f"snapshot of {clock.iso(snap.at)} (the latest at or before {clock.iso(since)})"}
    doc["after"] = {"at": clock.iso(now), "note": f"metrics computed at {clock.iso(now)}"}
    doc["metrics"] = metric_changes(snap, after)
    doc["by_category"] = category_changes(snap, after)

    failures = current_failures(session)
    items = remediation.plan(session, settings, now)
    doc["fixes"] = fixes(session, since, now, secrets)
    doc["remaining"] = remaining(failures, items, after, now, settings)
    doc["root_causes"] = root_causes(session, settings, since, now, failures, secrets)
    if len(settings.accounts) > 1:
        doc["by_account"] = by_account(session, settings, failures, after)
    doc["split"] = _split(after)
    doc["alerts"] = _alerts(snap, after, secrets)
    doc["summary"] = _summary(doc)
    return remove_secrets(doc, secrets)


def _split(after: metrics.Metrics) -> dict[str, Any]:
    total = after.failed
    kinds = {k: {"count": after.by_kind.get(k, 0),
                 "share": round(after.by_kind.get(k, 0) / total, 4) if total else None} for k in cats.KINDS}
    if not total:
        text = "No failures remain."
    else:
        parts = [f"{v['count']}/{total} {k}" for k, v in kinds.items() if v["count"]]
        tech = kinds[cats.TECHNICAL]["count"]
        text = (f"{', '.join(parts)}. Technical failures (validation, unknown): {tech}/{total} "
                f"({round_half_up(100 * tech / total)}%); the rest follow from the data, the business or the "
                "configuration.")
    return {"total": total, "kinds": kinds, "text": text}


def _alerts(snap: MetricSnapshot | None, after: metrics.Metrics, secrets: list[str]) -> dict[str, Any]:
    active = [{**a.to_json(), "message": scrub_text(a.message, secrets)} for a in after.alerts]
    out: dict[str, Any] = {"active": active}
    if snap is not None and isinstance(snap.data, dict) and isinstance(snap.data.get("alerts"), list):
        before_ids = [str(a.get("id")) for a in snap.data["alerts"] if isinstance(a, dict)]
        now_ids = [a.id for a in after.alerts]
        out["cleared"] = [i for i in before_ids if i not in now_ids]
        out["new"] = [i for i in now_ids if i not in before_ids]
    return out


def _summary(doc: dict[str, Any]) -> list[str]:
    m = doc["metrics"]
    lines = [f"{m[k]['label'][:1].upper()}{m[k]['label'][1:]}: {m[k]['text']}"
             for k in ("failed", "manual_review", "critical_alerts")]
    fixes = doc["fixes"]
    n_people = sum(len(g["ids"]) for g in fixes["people"])
    n_jobs = sum(len(g["ids"]) for g in fixes["jobs"])
    lines.append(f"Fixes: {plural(fixes['events'], 'audited action')} in the period "
                 f"(people on {plural(n_people, 'appointment')}, jobs on {plural(n_jobs, 'appointment')}); "
                 f"{fixes['sync']['summary']}")
    rem = doc["remaining"]
    human = sum(c["needs_human"] for c in rem["categories"])
    snoozed = sum(len(c["snoozed"]) for c in rem["categories"])
    lines.append(f"Remaining: {plural(rem['total'], 'failure')}, {human} needing a human"
                 + (f" ({snoozed} of them snoozed)" if snoozed else "") + f". {doc['split']['text']}")
    return lines
