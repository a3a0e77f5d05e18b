"""The operator's actions: one :class:`ActionSpec` per module, listed in ``registry``, run through the
:class:`Actions` facade (see ``facade``)."""

from synconsole.core.actions.base import (
    ACKNOWLEDGE,
    CHUNK,
    REASON_CHANGED,
    REASON_CHANGED_SINCE,
    REASON_HAS_EMAIL,
    REASON_IN_FLIGHT,
    REASON_NOT_FOUND,
    REASON_NOT_MATCHED,
    ActionSpec,
    Ask,
    Preview,
    Result,
    Target,
)
from synconsole.core.actions.facade import Actions
from synconsole.core.actions.registry import ACTIONS, SPECS, UNDOABLE

__all__ = [
    "ACKNOWLEDGE", "ACTIONS", "CHUNK", "REASON_CHANGED", "REASON_CHANGED_SINCE", "REASON_HAS_EMAIL",
    "REASON_IN_FLIGHT", "REASON_NOT_FOUND", "REASON_NOT_MATCHED", "SPECS", "UNDOABLE", "ActionSpec", "Actions",
    "Ask", "Preview", "Result", "Target",
]
