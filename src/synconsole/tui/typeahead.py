"""Keys typed ahead wait for the console, instead of landing on a widget about to lose the focus.

Some of the console's steps end later than the key that started them: a filter's page is read in
a thread and the queue takes the focus once it is drawn; a picker's options come from the
database or from Cal.com; an action computes its preview before the dialog opens. A key typed in
between (``/conf⏎⏎``: the second ``⏎``) used to go to whatever had the focus at that moment.

Such a step *holds* the keys (:meth:`TypeAhead.hold`, with a name) and *releases* them when the
console is ready for the next key. Keys go one at a time: the next one is sent only once the last
has gone all the way through (stopped by a widget, or run by a binding at the app), so a key that
starts such a step holds the ones after it, however fast they came. (Textual itself hands a key to
the focused widget as soon as it arrives, before the previous one has moved the focus.) Nothing
is dropped; a hold ends by itself after a few seconds (a step that never finishes cannot freeze
the keyboard), and ``escape`` ends every hold at once (the way out never waits).
"""

from __future__ import annotations

from collections import deque
from functools import partial

from textual import events

#: a hold never lasts longer than this (seconds)
LIMIT_S = 5.0
#: a replayed key that has not come back by then is taken as done
KEY_TIMEOUT_S = 0.5
#: the ways out (back, quit): they release every hold and go in their turn
ESCAPES = ("escape", "ctrl+q", "ctrl+c")


class TypeAhead:
    def __init__(self, app) -> None:
        self.app = app
        self.holds: dict[str, object] = {}
        self.keys: deque[events.Key] = deque()
        self._in_flight: events.Key | None = None
        self._seen_at_app = 0
        self._watched: list = []
        self._watchdog = None

    @property
    def busy(self) -> bool:
        return bool(self.holds or self.keys or self._in_flight is not None)

    def hold(self, why: str, *, limit_s: float = LIMIT_S) -> None:
        """Keys wait from now until :meth:`release` (``why`` names the step)."""
        timer = self.holds.pop(why, None)
        if timer is not None:
            timer.stop()
        self.holds[why] = self.app.set_timer(limit_s, partial(self.release, why), name=f"typeahead-{why}")

    def release(self, why: str) -> None:
        timer = self.holds.pop(why, None)
        if timer is not None:
            timer.stop()
        self._next()

    def release_all(self) -> None:
        for why in list(self.holds):
            self.release(why)

    # --- the app's side -----------------------------------------------------------------------------

    def take(self, event: events.Key) -> bool:
        """For every key from the terminal: True when it is kept for later; otherwise it goes now,
        and the next one waits until it has gone through."""
        if getattr(event, "_typed_ahead", False):
            return False
        if not self.busy:
            self._send(event)
            return False
        self.keys.append(event)
        if event.key in ESCAPES:
            self.release_all()
        return True

    def forwarding(self, event: events.Key, target) -> None:
        """A replayed key is about to be sent to ``target``: watch it on its way up."""
        if event is not self._in_flight:
            return
        for node in target.ancestors_with_self:
            node.message_signal.subscribe(self.app, partial(self._seen, node), immediate=True)
            self._watched.append(node)

    # --- replaying ---------------------------------------------------------------------------------

    def _next(self) -> None:
        if self.holds or self._in_flight is not None or not self.keys:
            return
        original = self.keys.popleft()
        key = events.Key(original.key, original.character)
        key._typed_ahead = True
        key.set_sender(self.app)  # as from the terminal: bubbling up to the app's bindings depends on it
        self._send(key)
        self.app.post_message(key)

    def _send(self, key: events.Key) -> None:
        self._in_flight, self._seen_at_app = key, 0
        self._watchdog = self.app.set_timer(KEY_TIMEOUT_S, partial(self._done, key), name="typeahead-key")

    def _seen(self, node, message) -> None:
        key = self._in_flight
        if message is not key:
            return
        if node is self.app:
            self._seen_at_app += 1
            # once when the app forwards it (or a priority binding ran it: then it went nowhere),
            # once more when it comes back up and the app's bindings have run
            if self._seen_at_app >= 2 or not key.is_forwarded:
                self.app.call_later(self._done, key)
        elif key._stop_propagation or not key.bubble:
            self.app.call_later(self._done, key)

    def _done(self, key: events.Key) -> None:
        if key is not self._in_flight:
            return
        self._in_flight = None
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None
        for node in self._watched:
            node.message_signal.unsubscribe(self.app)
        self._watched.clear()
        self._next()
