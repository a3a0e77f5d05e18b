"""[[categories.rules]] regexes match a bounded excerpt of the message, so a 10 MB message cannot
keep the event loop busy for hours (`.*gateway` over the whole of it is quadratic)."""

from __future__ import annotations

from synconsole.config import CategoryRule
from synconsole.core.classify import RULE_EXCERPT, classify_response


def test_a_rule_sees_the_head_of_the_message_only():
    rule = CategoryRule(message=".*gateway", category="transient")
    assert classify_response(418, None, "Bad gateway " + "x" * 10_000_000, [rule]) == "transient"
    assert classify_response(418, None, "x" * 10_000_000 + " gateway", [rule]) == "unknown"
    assert classify_response(418, None, "x" * (RULE_EXCERPT - 20) + " gateway", [rule]) == "transient"
