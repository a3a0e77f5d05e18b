"""The incident report the seed shows being written by hand, written from the database.

:func:`build_report` (:mod:`.build`) returns the content as a JSON-ready dict, its sections collected
by :mod:`.period`, :mod:`.fixes` and :mod:`.failures` (numbers worded by :mod:`.numbers`);
:func:`render_markdown` (:mod:`.render`) turns it into Markdown that reads in a terminal and renders on GitHub (``--format json`` prints the dict).
Sections:

- the period, and where "before" comes from: the latest metrics snapshot at or before ``since``
  (none: said so, before values unknown; numbers are never invented); "after" is
  :func:`synconsole.core.metrics.compute` now;
- every headline metric and every category count before -> after, with the change;
- the fixes applied: the audit log since ``since`` grouped by (actor, action), people and jobs
  (``job:*`` actors) apart, plus what the sync job itself did (its attempts);
- what remains failing, by category, with every appointment id, the category's cause and
  recommendation (:mod:`synconsole.core.categories`, the one place for them) and what the
  remediation plan does about it;
- root causes: one paragraph per category seen in the period, from the category's cause and the
  data (distinct customers without contact, hosts in conflict, staff records sharing one Cal.com
  user, error messages);
- the split by kind (legitimate / business / data / config / transient / technical);
- active alerts.

Customer emails and phones never appear unmasked (free text goes through :func:`scrub_text` of
:mod:`synconsole.core.scrub`, which masks with :mod:`synconsole.core.pii`); the API key never
appears (the finished document is scrubbed of it, wherever it came from).
"""

from synconsole.core.audit import audit_events, audit_json, audit_line
from synconsole.core.report.build import FORMATS, TITLE, WRAP, build_report
from synconsole.core.report.failures import CHUNK, MAX_LISTED
from synconsole.core.report.numbers import change
from synconsole.core.report.period import METRICS, RATE, first_snapshot, latest_snapshot, parse_when
from synconsole.core.report.render import render_json, render_markdown, report_text
from synconsole.core.scrub import EXCERPT, SCRUB_LIMIT, scrub_text

__all__ = [
    "CHUNK", "EXCERPT", "FORMATS", "MAX_LISTED", "METRICS", "RATE", "SCRUB_LIMIT", "TITLE", "WRAP",
    "audit_events", "audit_json", "audit_line", "build_report", "change", "first_snapshot",
    "latest_snapshot", "parse_when", "render_json", "render_markdown", "report_text", "scrub_text",
]
