"""backfill_email: the placeholder email ([remediation]) for customers without a usable one; their
contact failures go back to the queue. Undo restores the emails (the sync states stay)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from synconsole.core import audit, categories, changes
from synconsole.core.actions.base import (
    CHUNK, CT, REASON_CHANGED, REASON_CHANGED_SINCE, REASON_HAS_EMAIL, ActionSpec, C, Check, Preview, Result,
    Sibling, Summary, chunks, columns, is_, n_appointments, no_params, reason_params, requeue, resolve_now,
    skip_suffix,
)
from synconsole.core.classify import usable_email
from synconsole.core.models import FAILED, PENDING, RETRY_SCHEDULED, SCHEDULED


class BackfillEmail(ActionSpec):
    name = "backfill_email"
    verb = "backfill"
    with_email = True
    undoable = True
    undo_fields = ("email",)
    key, key_id, footer, in_footer = "e", "backfill_email", "Backfill", True
    help = "Backfill a placeholder email, then retry"
    bulk = True
    category_fix = True
    title = "Backfill a placeholder email for {}"
    cli_command = "backfill-email"

    def fits_row(self, row: Any) -> bool:
        return row.status == SCHEDULED and self.name in categories.get(row.category).fixes

    def plan(self, ctx, session, now, params) -> Check:
        no_params("backfill_email", params, allowed=("reason",))
        template = ctx.settings.remediation.placeholder_email_template

        def row(r) -> Any:
            if r.status != SCHEDULED:
                return f"status {r.status}"
            if usable_email(r.customer_email):
                return REASON_HAS_EMAIL
            placeholder = template.format(id=r.customer_id)
            values: dict[str, Any] = {}
            before: dict[str, Any] = {"customer_id": r.customer_id, "email": r.customer_email}
            after: dict[str, Any] = {"customer_id": r.customer_id, "email": placeholder}
            if r.sync_state in (FAILED, RETRY_SCHEDULED) and r.category in changes.CONTACT_CATEGORIES:
                values = requeue()
                before.update(sync_state=r.sync_state, category=r.category)
                after.update(sync_state=PENDING, category=None)
            return values, before, after

        return Check(reason_params(params), row)

    def expand(self, ctx, session, rows: list[Any]) -> list[Any]:
        """A backfill cures every contact failure of the customers it fixes: the target rows, then
        those customers' other contact failures (marked ``sibling``), in start order."""
        targeted = {r.id for r in rows}
        customers = sorted({r.customer_id for r in rows})
        found: list[Any] = []
        for chunk in chunks(customers, CHUNK):
            found += session.execute(columns(True).where(
                C.customer_id.in_(chunk), C.sync_state.in_((FAILED, RETRY_SCHEDULED)),
                C.category.in_(changes.CONTACT_CATEGORIES), C.id.not_in(targeted)).order_by(C.start_at, C.id)).all()
        return sorted([*rows, *(Sibling(r) for r in found)], key=lambda r: (r.start_at, r.id))

    def on_eligible(self, preview, row, before, after) -> None:
        preview.customers.setdefault(row.customer_id, (row.customer_email, after["email"]))

    def headline(self, preview, noun) -> str:
        k = len(preview.customers)
        return f"backfill placeholder emails for {noun} ({k} customer{'s' if k != 1 else ''})"

    def write(self, ctx, preview, *, reason, extra, now) -> Result:
        with ctx.db.write() as session:
            fresh = _fresh(ctx, session, preview)
            by_customer: dict[str, list[str]] = {}
            for i in preview.ids:
                by_customer.setdefault(preview.changes[i]["before"]["customer_id"], []).append(i)
            updated: list[str] = []
            for cid, ids in by_customer.items():
                if not any(i in fresh for i in ids):
                    continue
                old, new = preview.customers[cid]
                result = session.execute(sa.update(CT).where(CT.c.id == cid, is_(CT.c.email, old))
                                         .values(email=new, updated_at=now))
                if result.rowcount == 1:
                    updated.append(cid)
            ok = {i for cid in updated for i in by_customer[cid] if i in fresh}
            requeued = {i: resolve_now(preview.values[i], now) for i in preview.ids
                        if i in ok and preview.values[i]}
            sub = Preview(preview.action, [i for i in preview.ids if i in requeued], {}, {},
                          versions=preview.versions)
            self.update_rows(session, sub, requeued, now)  # rows are fresh and locked: all succeed
            changed = [i for i in preview.ids if i in ok]
            skipped = {**preview.skipped, **{i: REASON_CHANGED for i in preview.ids if i not in ok}}
            if not changed:
                session.rollback()
                return self.nothing(preview, skipped)
            n_cust, n_req = len(updated), len(requeued)
            result_text = (f"{n_cust} customer{'s' if n_cust != 1 else ''} backfilled, "
                           f"{len(changed)} appointment{'s' if len(changed) != 1 else ''}, {n_req} back to pending")
            event = audit.record(
                session, actor=ctx.actor, action="backfill_email", targets=changed, reason=reason,
                before={i: preview.changes[i]["before"] for i in changed},
                after={i: preview.changes[i]["after"] for i in changed}, result=result_text, at=now,
            )
            event_id = event.id
            session.commit()
        message = (f"backfilled placeholder emails for {n_cust} customer{'s' if n_cust != 1 else ''} "
                   f"({n_appointments(len(changed))}, {n_req} back in the sync queue)")
        return Result("backfill_email", changed, skipped, event_id, message + skip_suffix(skipped), preview=preview)

    # --- undo: the customer the event changed, whatever the row says now --------------------------

    def undo_plan(self, session, event, preview) -> None:
        before_all, after_all = event.before or {}, event.after or {}
        targets = [str(i) for i in (event.targets or [])]
        emails: dict[str, str | None] = {}
        cids = sorted({str((before_all.get(i) or {}).get("customer_id")) for i in targets})
        for chunk in chunks(cids, CHUNK):
            emails.update(dict(session.execute(sa.select(CT.c.id, CT.c.email).where(CT.c.id.in_(chunk))).all()))
        for i in targets:
            before, after = before_all.get(i) or {}, after_all.get(i) or {}
            cid = before.get("customer_id")
            if cid not in emails:
                preview.skipped[i] = "customer not found"
            elif emails[cid] != after.get("email"):
                preview.skipped[i] = REASON_CHANGED_SINCE
            else:
                preview.ids.append(i)
                preview.changes[i] = {"before": {"customer_id": cid, "email": after.get("email")},
                                      "after": {"customer_id": cid, "email": before.get("email")}}
                preview.customers.setdefault(cid, (after.get("email"), before.get("email")))

    def restore(self, session, preview, now) -> set[str]:
        done: set[str] = set()
        by_customer: dict[str, list[str]] = {}
        for i in preview.ids:
            by_customer.setdefault(preview.changes[i]["before"]["customer_id"], []).append(i)
        for cid, ids in by_customer.items():
            placeholder, old = preview.customers[cid]
            result = session.execute(sa.update(CT).where(CT.c.id == cid, is_(CT.c.email, placeholder))
                                     .values(email=old, updated_at=now))
            if result.rowcount == 1:
                done |= set(ids)
        return done

    def undone(self, event_id, preview, changed) -> Summary:
        k = len({preview.changes[i]["before"]["customer_id"] for i in changed})
        return Summary(f"{k} customer email{'s' if k != 1 else ''} restored ({n_appointments(len(changed))})",
                       f"undid event {event_id} (backfill_email): restored the previous email of {k} "
                       f"customer{'s' if k != 1 else ''} ({n_appointments(len(changed))}); appointment sync states "
                       "are left as they are")


def _fresh(ctx, session, preview: Preview) -> set[str]:
    """Ids whose version is still the preview's, locked for this transaction on PostgreSQL."""
    fresh: set[str] = set()
    for chunk in chunks(preview.ids, CHUNK):
        pairs = [(i, preview.versions[i]) for i in chunk]
        stmt = sa.select(C.id).where(sa.tuple_(C.id, C.version).in_(pairs))
        if ctx.db.is_postgres:
            stmt = stmt.with_for_update()
        fresh |= set(session.execute(stmt).scalars())
    return fresh


SPEC = BackfillEmail()
