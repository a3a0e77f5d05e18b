"""One appointment: every field, the full error (scrollable, untruncated), the attempts, the audit
trail, the suggested remediation, and for a host conflict the next free slots from Cal.com."""

from __future__ import annotations

import json

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static, TextArea

from synconsole.core import queries
from synconsole.core.actions import Target
from synconsole.core.categories import CATEGORIES, reschedulable
from synconsole.render import calcom_state
from synconsole.tui import keys
from synconsole.tui.format import STATE_STYLE, local
from synconsole.tui.widgets.footer import Footer
from synconsole.core.text import printable_doc



def _when(value: str | None) -> str:
    return value.replace("T", " ") if value else "-"


def pretty(body: str | None) -> str:
    if not body:
        return "(no error recorded)"
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


class DetailScreen(Screen):
    BINDINGS = keys.DETAIL

    def __init__(self, appointment_id: str) -> None:
        super().__init__()
        self.appointment_id = appointment_id
        self.doc: dict | None = None

    def compose(self) -> ComposeResult:
        # what went wrong and what to do first, the whole error next, then every field
        with VerticalScroll(id="detail"):
            yield Static(id="detail-title")
            yield Static(id="detail-remedy")
            yield Static(id="detail-slots")
            yield Static(Text("full error (last attempt)", "bold"), id="detail-error-title")
            yield TextArea("", read_only=True, soft_wrap=True, show_line_numbers=False, highlight_cursor_line=False,
                           id="detail-error")
            yield Static(id="detail-fields")
            yield Static(id="detail-attempts")
            yield Static(id="detail-audit")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    def load(self) -> None:
        self._read()

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def _read(self) -> None:
        try:
            with self.app.db.session() as session:
                doc = queries.show_appointment(session, self.appointment_id, reveal=self.app.reveal_pii)
        except Exception as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self._show, printable_doc(doc))  # data's escapes shown, not obeyed

    def _failed(self, message: str) -> None:
        self.query_one("#detail-title", Static).update(Text(message, "bold red"))

    def _show(self, doc: dict) -> None:
        first = self.doc is None
        self.doc = doc
        state = doc["sync_state"]
        title = Text()
        title.append(f"appointment {doc['id']}  ", "bold")
        title.append(state, STATE_STYLE.get(state, ""))
        if doc["category"]:
            title.append(f"  {doc['category']}", "bold yellow")
        if doc["status"] != "scheduled":
            title.append(f"  ({doc['status']})", "dim")
        self.query_one("#detail-title", Static).update(title)
        self.query_one("#detail-fields", Static).update(self._fields(doc))
        self.query_one("#detail-remedy", Static).update(self._remedy(doc))
        attempts = doc["attempts_detail"]
        last_error = next((a["error"] for a in reversed(attempts) if a["error"]), None) or doc.get("last_error")
        area = self.query_one("#detail-error", TextArea)
        area.load_text(pretty(last_error))
        self.call_after_refresh(self._fit_error)
        self.query_one("#detail-attempts", Static).update(self._attempts(attempts, doc["attempts"]))
        self.query_one("#detail-audit", Static).update(self._audit(doc["audit"]))
        if first and reschedulable(doc["category"]) and state == "failed":
            self._slots()

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_error)

    def _fit_error(self) -> None:
        """The error box is as tall as the wrapped error, up to the screen's height: the whole
        error is on screen (scroll the page to it), and a longer one scrolls inside the box."""
        area = self.query_one("#detail-error", TextArea)
        lines = area.wrapped_document.height if area.size.width else area.document.line_count
        room = max(3, self.query_one("#detail").size.height - 2)
        height = min(room, max(3, lines + 2))
        if area.styles.height is None or area.styles.height.value != height:
            area.styles.height = height

    def _fields(self, d: dict) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="dim", no_wrap=True)
        table.add_column()
        zone = d.get("time_zone") or (d["customer"] or {}).get("time_zone") or "UTC"
        from synconsole.core.clock import parse_utc

        start = parse_utc(d["start"])
        rows = [
            ("start", f"{local(start, zone, with_zone=True)}   ({d['start']}, {d['duration_minutes']} min)"),
            ("sync", f"{d['sync_state']} · op {d['sync_op']} · {d['attempts']} attempt{'s' if d['attempts'] != 1 else ''}"),
            ("staff", self._staff(d)),
            ("customer", self._customer(d)),
            ("booking uid", d["booking_uid"] or "-"),
            ("service", d["service"] or "-"),
            ("first failed", _when(d["first_failed_at"])),
            ("last attempt", _when(d["last_attempt_at"])),
            ("next retry", _when(d["next_retry_at"])),
            ("snoozed until", _when(d["snoozed_until"]) + (f"  note: {d['note']}" if d.get("note") else "")),
            ("fingerprint", d["fingerprint"] or "-"),
        ]
        if d.get("drift"):
            rows.insert(0, ("DRIFT", Text(d["drift"], "bold magenta")))
        if d.get("booked") or d.get("in_doubt"):
            rows.append(("in Cal.com", calcom_state(d)))
        for name, value in rows:
            table.add_row(name, value)
        return table

    @staticmethod
    def _staff(d: dict) -> str:
        s = d.get("staff")
        if not s:
            return "none assigned"
        user = s["calcom_username"] or s["calcom_user_id"] or "no Cal.com user"
        return f"{s['id']} {s['name']} (Cal.com {user}, event type {s['event_type_id'] or '-'})"

    @staticmethod
    def _customer(d: dict) -> str:
        c = d.get("customer")
        if not c:
            return d["customer_id"]
        return f"{c['id']} {c['name']}  email {c['email'] or '-'}  phone {c['phone'] or '-'}  {c['time_zone']}"

    @staticmethod
    def _remedy(d: dict) -> Text:
        category = CATEGORIES.get(d["category"] or "")
        if category is None or d["sync_state"] != "failed":
            return Text("")
        t = Text()
        t.append("why: ", "bold")
        t.append(category.cause + "\n")
        t.append("suggested: ", "bold green")
        t.append(category.recommendation)
        return t

    @staticmethod
    def _attempts(attempts: list[dict], counted: int = 0) -> Text:
        from synconsole.render import answer, attempts_heading

        t = Text(f"\n{attempts_heading({'attempts_detail': attempts, 'attempts': counted})}\n", "bold")
        for a in attempts:
            t.append(f"  {_when(a['at'])}  ", "dim")
            t.append(f"{a['operation']:<10} {a['outcome']:<9} {answer(a):<9} {a['category'] or '':<16}")
            if a["duration_ms"] is not None:
                t.append(f" {a['duration_ms']} ms", "dim")
            if a["message"]:
                t.append("\n      " + " ".join(a["message"].split())[:200], "dim")
            t.append("\n")
        return t

    @staticmethod
    def _audit(events: list[dict]) -> Text:
        t = Text(f"\naudit trail ({len(events)})\n", "bold")
        for e in events:
            t.append(f"  {_when(e['at'])}  ", "dim")
            t.append(f"{e['action']:<16}", "bold")
            t.append(f" {e['actor']}  {e['result']}")
            if e["reason"]:
                t.append(f"\n      reason: {e['reason']}", "italic")
            t.append("\n")
        return t

    @work(exit_on_error=False, group="slots")
    async def _slots(self) -> None:
        from synconsole.core.slots import free_slots

        box = self.query_one("#detail-slots", Static)
        box.display = True
        box.update(Text("asking Cal.com for free slots…", "dim"))
        try:
            slots, zone = await free_slots(self.app.db, self.app.client, self.appointment_id)
        except Exception as exc:  # the pane stays useful without Cal.com
            box.update(Text(f"free slots: not available ({exc})", "yellow"))
            return
        if not slots:
            box.update(Text("free slots: none in the next 7 days", "yellow"))
            return
        text = Text("next free slots (s to reschedule): ", "bold")
        text.append(", ".join(local(s, zone) for s in slots[:8]))
        box.update(text)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_act(self, action: str) -> None:
        self.app.start_action(action, Target(ids=(self.appointment_id,)), self.appointment_id)

    def action_undo(self) -> None:
        self.app.start_undo()

    def after_action(self) -> None:
        self.load()
