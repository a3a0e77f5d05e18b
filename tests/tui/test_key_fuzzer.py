"""A key fuzzer for the console: random keys, bursts of keys faster than a frame, pastes and
terminal resizes against the demo database, in read-only mode, through Textual's pilot.

After every step the console must still run without an exception, and at the end of every session
the database must be byte for byte what it was (read-only writes nothing). A failure names its
seed; ``SYNCONSOLE_FUZZ_SEED=<seed> pytest tests/tui/test_key_fuzzer.py -m slow`` replays it.
CI runs it for ``CI_SECONDS`` (``SYNCONSOLE_FUZZ_SECONDS`` overrides); ``-m slow`` for ``LONG_SECONDS``.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import time
from pathlib import Path

import pytest
from textual import events
from textual._wait import wait_for_idle

from synconsole import demo
from synconsole.tui.app import SynconsoleApp

CI_SECONDS = 25.0
LONG_SECONDS = 300.0
STEPS_PER_SESSION = 120

NAMED = ["up", "down", "left", "right", "pageup", "pagedown", "home", "end", "tab", "shift+tab", "enter",
         "escape", "space", "backspace", "delete", "ctrl+p", "ctrl+r", "f5", "question_mark", "exclamation_mark",
         "slash", "ctrl+a", "ctrl+e", "ctrl+k", "ctrl+u", "ctrl+w", "shift+up", "shift+down", "ctrl+left",
         "ctrl+right", "insert", "f1", "f10", "ctrl+home", "ctrl+end"]
# the console's own keys, often: they open the screens and dialogs worth fuzzing
CONSOLE = list("rcesazuvipowj!?/") + ["enter", "escape", "space", "tab", "ctrl+p", "y", "n"]
PASTES = ["748", "category:host_conflict", "state:failed age:>1h", "\x1b]52;c;SGVsbG8=\x07", '"unclosed', "-",
          "start:9999-12-31", "age:>99999999999h", "x" * 5000, "748 " * 3000, "\n\n", "\t", "\ud800",
          "a:b c:d e:f", "😀" * 50, "\u202eevil"]
SIZES = [(10, 2), (20, 4), (40, 8), (60, 3), (60, 16), (80, 24), (100, 30), (120, 36), (200, 60), (33, 7)]


class FuzzedConsole(SynconsoleApp):
    """The console, with quit turned into a counter: a random key may well be `q` or the palette's
    "Quit", which ends the session legitimately and says nothing about robustness."""

    CSS_PATH = Path(__import__("synconsole.tui.app").tui.app.__file__).parent / "app.tcss"
    quits = 0

    async def action_quit(self) -> None:
        self.quits += 1

    def action_suspend_process(self) -> None:  # ctrl+z would stop the test process
        pass


def fingerprint(db_file: Path) -> str:
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        return hashlib.sha256("\n".join(conn.iterdump()).encode("utf-8", "surrogatepass")).hexdigest()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    running = demo.start(tmp_path_factory.mktemp("demo"), seed=7)
    running._stop.set()  # no trickle of new appointments: the database must stay as it is
    yield running
    running.close()


def step(rng: random.Random, app) -> str:
    kind = rng.random()
    driver = app._driver
    if kind < 0.06:
        text = rng.choice(PASTES)
        driver.send_message(events.Paste(text))
        return f"paste {text[:20]!r}"
    if kind < 0.10:
        width, height = rng.choice(SIZES)
        driver._size = (width, height)
        app.post_message(events.Resize.from_dimensions((width, height), None))
        return f"resize {width}x{height}"
    burst = rng.choice([1, 1, 1, 2, 3, 8])  # several keys before the next frame, as a fast typist sends them
    keys = []
    for _ in range(burst):
        pool = rng.random()
        key = (rng.choice(CONSOLE) if pool < 0.45 else rng.choice(NAMED) if pool < 0.8
               else rng.choice("abcdefghijklmnopqrstuvwxyz0123456789:-\"> <.,"))
        keys.append(key)
        char = key if len(key) == 1 else None
        if len(key) == 1 and not key.isalnum():
            from textual.keys import _character_to_key

            key = _character_to_key(key)
        driver.send_message(events.Key(key, char))
    return "keys " + " ".join(keys)


async def session(seed: int, demo_db, seconds_left: float) -> int:
    rng = random.Random(seed)
    db_file = Path(demo_db.db.url.removeprefix("sqlite:///"))
    before = fingerprint(db_file)
    app = FuzzedConsole(demo_db.db, demo_db.settings.with_read_only(), jobs=False)
    history: list[str] = []
    deadline = time.monotonic() + seconds_left
    steps = 0
    error: BaseException | None = None
    running = False
    try:
        async with app.run_test(size=rng.choice(SIZES[4:])) as pilot:
            await pilot.pause(0.3)
            for steps in range(1, STEPS_PER_SESSION + 1):
                history.append(step(rng, app))
                await wait_for_idle(0)
                await pilot.pause(rng.choice([0, 0, 0.01, 0.05]))
                if not app.is_running or app._exception is not None:
                    break
                if time.monotonic() > deadline:
                    break
            await pilot.pause(0.2)
            error = app._exception
            running = app.is_running
    except Exception as exc:  # run_test re-raises what crashed the app
        error = exc
    trail = "\n  ".join(history[-25:])
    replay = f"replay: SYNCONSOLE_FUZZ_SEED={seed} pytest {__file__} -m slow"
    assert error is None, f"seed {seed}, step {steps}: {type(error).__name__}: {error}\n  {trail}\n{replay}"
    assert running, f"seed {seed}, step {steps}: the console stopped\n  {trail}\n{replay}"
    assert fingerprint(db_file) == before, f"seed {seed}: read-only console changed the database\n{replay}"
    return steps


async def fuzz(demo_db, seconds: float) -> None:
    forced = os.environ.get("SYNCONSOLE_FUZZ_SEED")
    if forced:
        await session(int(forced), demo_db, seconds)
        return
    # CI replays the same seeds every run (a red run is a change, not luck); elsewhere new ones
    base = 1000 if os.environ.get("CI") == "true" else random.SystemRandom().randrange(10**6)
    started = time.monotonic()
    sessions = steps = 0
    while time.monotonic() - started < seconds:
        steps += await session(base + sessions, demo_db, seconds - (time.monotonic() - started))
        sessions += 1
    print(f"key fuzzer: {sessions} sessions, {steps} steps in {time.monotonic() - started:.0f} s "
          f"(seeds {base}..{base + sessions - 1})")


async def test_key_fuzzer(demo_db):
    await fuzz(demo_db, float(os.environ.get("SYNCONSOLE_FUZZ_SECONDS", CI_SECONDS)))


@pytest.mark.slow
@pytest.mark.long_run
async def test_key_fuzzer_long(demo_db):
    await fuzz(demo_db, LONG_SECONDS)
