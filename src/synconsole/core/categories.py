"""The failure categories of product.md, as data. Their ids are part of the contract.

Everything that asks "what kind of failure is this, what happens to it, is it manual review, what
does a person do about it?" reads this table; nothing else hard-codes a category's policy.
"""

from __future__ import annotations

from dataclasses import dataclass

LEGITIMATE = "legitimate"
BUSINESS = "business"
DATA = "data"
CONFIG = "config"
TRANSIENT = "transient"
TECHNICAL = "technical"
KINDS = (LEGITIMATE, BUSINESS, DATA, CONFIG, TRANSIENT, TECHNICAL)

#: what the sync does with a failure of the category (Category.retry)
RETRY_BACKOFF = "backoff"  # again later, with backoff; Cal.com counts as down (the circuit)
RETRY_AFTER_RESET = "after_reset"  # again when the rate-limit window Cal.com names has passed
RETRY_WHEN_UNPAUSED = "when_unpaused"  # held: the sync pauses until a person fixes the cause
RETRY_NEVER = "never"  # failed: a person (or the cleanup) decides
AUTOMATIC_RETRIES = (RETRY_BACKOFF, RETRY_AFTER_RESET)

AUTO_CLEANUP = "auto_cleanup"
AUTO_FIX = "auto_fix"
AUTO_RETRY = "auto_retry"
MANUAL = "manual"

#: what a person does about a failure of the category (Category.human_action; the remediation plan's action)
CANCEL = "cancel"
RETRY = "retry"
BACKFILL = "backfill_email"
ASSIGN_STAFF = "assign_staff"
RESCHEDULE_OR_CANCEL = "reschedule_or_cancel"
FIX_CONFIG = "fix_config"
INVESTIGATE = "investigate"

#: how a person does it, as a command line ("A, or B" for alternatives); Category.command's default
ACTION_COMMANDS = {
    CANCEL: "synconsole cancel {id} --reason TEXT",
    RESCHEDULE_OR_CANCEL: "synconsole reschedule {id} START, or synconsole cancel {id} --reason TEXT",
    BACKFILL: "synconsole backfill-email {id}",
    ASSIGN_STAFF: "synconsole assign-staff {id} STAFF_ID, or synconsole cancel {id} --reason TEXT",
    FIX_CONFIG: "fix the configuration or the mapping, then synconsole retry {id}",
    RETRY: "synconsole retry {id}",
    INVESTIGATE: "read the full error with synconsole show {id}, then fix and retry, or cancel",
}

#: which change to the data may cure a failure of the category (Category.cured_by)
CURED_BY_CONTACT = "contact"
CURED_BY_STAFF = "staff"


@dataclass(frozen=True)
class Category:
    id: str
    kind: str
    disposition: str
    title: str
    cause: str
    recommendation: str
    #: what the sync does with it; the default follows the disposition (an auto_retry category is
    #: retried with backoff), so a new auto-retry category cannot be planned "retried" and then failed
    retry: str = ""
    #: what a person does about it (for an automatic category: what a person would do by hand);
    #: the default follows the disposition
    human_action: str = ""
    #: the command line ``remediate --plan`` shows for it, ``{id}`` the appointment; the default
    #: follows the human action
    command: str = ""
    #: a new start can cure it: the console offers Cal.com's free slots
    reschedulable: bool = False
    #: a change to a customer's contact or a staff record that may cure it (the changed rows are
    #: queued again); a contact-cured category turns automatic with ``auto_backfill_email``
    cured_by: str = ""
    #: the console's actions it takes besides retry, cancel and snooze
    fixes: tuple[str, ...] = ()
    #: a cancel Cal.com refuses with it is done: Cal.com holds nothing (more) to cancel
    cancel_done: bool = False

    def __post_init__(self) -> None:
        if not self.retry:
            object.__setattr__(self, "retry", RETRY_BACKOFF if self.disposition == AUTO_RETRY else RETRY_NEVER)
        if not self.human_action:
            default = {AUTO_RETRY: RETRY, AUTO_CLEANUP: CANCEL}.get(self.disposition, INVESTIGATE)
            object.__setattr__(self, "human_action", default)
        if not self.command:
            object.__setattr__(self, "command", ACTION_COMMANDS[self.human_action])

    def command_for(self, appointment_id: str) -> str:
        return self.command.format(id=appointment_id)

    @property
    def retried(self) -> bool:
        """The sync tries it again by itself."""
        return self.retry in AUTOMATIC_RETRIES

    @property
    def pauses_sync(self) -> bool:
        return self.retry == RETRY_WHEN_UNPAUSED


_TABLE = [
    Category("past_appointment", LEGITIMATE, AUTO_CLEANUP, "Past appointment",
             "The appointment starts in the past; Cal.com rejects bookings in the past.",
             "Nothing to book: the cleanup job cancels it (or flags it with cleanup_mode = \"flag\").",
             cancel_done=True),  # history: Cal.com cancels no booking that has ended
             # a person acts only when cleanup_mode = "flag" has already flagged it
    Category("host_conflict", BUSINESS, MANUAL, "Host conflict",
             "The Cal.com host already has a booking at this time or is not available "
             "(also two staff records mapped to one Cal.com user).",
             "Reschedule to one of the free slots Cal.com offers, assign another staff member, or cancel.",
             human_action=RESCHEDULE_OR_CANCEL, reschedulable=True),
    Category("outside_booking_window", BUSINESS, MANUAL, "Outside booking window",
             "Too soon (minimum booking notice) or too far ahead (scheduling window) for the event type.",
             "Reschedule inside the event type's booking window, or adjust the event type in Cal.com.",
             human_action=RESCHEDULE_OR_CANCEL, reschedulable=True),
    Category("missing_contact", DATA, MANUAL, "Missing contact",
             "The customer has no email and no usable phone (empty, anonymous or not E.164).",
             "Backfill a placeholder email (e), then the appointment is retried.",
             human_action=BACKFILL, cured_by=CURED_BY_CONTACT, fixes=(BACKFILL,)),
    Category("missing_staff", DATA, MANUAL, "Missing staff",
             "No staff member is assigned, so there is no Cal.com host or event type.",
             "Assign a staff member (a), or cancel the appointment.",
             human_action=ASSIGN_STAFF, cured_by=CURED_BY_STAFF, fixes=(ASSIGN_STAFF,)),
    Category("no_event_type", CONFIG, MANUAL, "No event type",
             "The staff member has no Cal.com event type mapped, or Cal.com does not know the event type.",
             "Map the staff member to a Cal.com event type (import the staff row with event_type_id), then retry.",
             human_action=FIX_CONFIG, cured_by=CURED_BY_STAFF,
             command="import the staff row with event_type_id, then synconsole retry {id}"),
    Category("auth", CONFIG, MANUAL, "Authentication",
             "Cal.com refused the API key (401/403). Sync pauses until this is fixed.",
             "Fix [calcom] api_key (or SYNCONSOLE_CALCOM_API_KEY), check it with `synconsole doctor`, then retry.",
             retry=RETRY_WHEN_UNPAUSED, human_action=FIX_CONFIG,
             command="fix [calcom] api_key (synconsole doctor), then synconsole retry {id}"),
    Category("rate_limited", TRANSIENT, AUTO_RETRY, "Rate limited",
             "Cal.com's rate limit was hit (429).",
             "Nothing: retried automatically after the reset Cal.com gives.", retry=RETRY_AFTER_RESET),
    Category("transient", TRANSIENT, AUTO_RETRY, "Transient",
             "Cal.com errored (5xx), timed out or the connection failed.",
             "Nothing: retried automatically with backoff; check Cal.com's status if it persists."),
    Category("booking_gone", DATA, MANUAL, "Booking gone",
             "Cal.com no longer has the booking synconsole knows as live: it was cancelled there already, "
             "or its uid is not in Cal.com's database (404).",
             "Look the booking up in Cal.com: book the appointment anew (reassign or reschedule it), "
             "or cancel it here.",
             cancel_done=True),  # cancelled already (the first cancel's answer was lost, say), or no such uid
    Category("validation", TECHNICAL, MANUAL, "Validation",
             "Cal.com rejected the request body (400).",
             "Read the full error in the detail pane; fix the data or the mapping, then retry."),
    Category("unknown", TECHNICAL, MANUAL, "Unknown",
             "An error no rule recognises.",
             "Read the full error in the detail pane; add a [[categories.rules]] entry if it recurs."),
]

CATEGORIES: dict[str, Category] = {c.id: c for c in _TABLE}
UNKNOWN = "unknown"


def get(category_id: str | None) -> Category:
    return CATEGORIES.get(category_id or UNKNOWN, CATEGORIES[UNKNOWN])


def disposition(category_id: str | None, *, auto_backfill_email: bool = False) -> str:
    category = get(category_id)
    if auto_backfill_email and category.cured_by == CURED_BY_CONTACT:
        return AUTO_FIX
    return category.disposition


def cured_by(what: str) -> tuple[str, ...]:
    """The ids of the categories a change to ``what`` (CURED_BY_CONTACT, CURED_BY_STAFF) may cure."""
    return tuple(c.id for c in CATEGORIES.values() if c.cured_by == what)


def reschedulable(category_id: str | None) -> bool:
    return get(category_id).reschedulable


def manual_categories(*, auto_backfill_email: bool = False) -> list[str]:
    """The categories whose failures count as manual review under this configuration."""
    return [c for c in CATEGORIES if disposition(c, auto_backfill_email=auto_backfill_email) == MANUAL]


def kind_of(category_id: str | None) -> str:
    return get(category_id).kind
