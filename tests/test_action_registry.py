"""The action registry (core/actions/registry.py) is what the faces offer: every action has one key
binding id, one palette entry and one CLI command, and the console's default keys are the contract's."""

from __future__ import annotations

from synconsole.cli import cli
from synconsole.core.actions import ACTIONS, SPECS, UNDOABLE, ActionSpec
from synconsole.tui import keys


def test_every_action_once_in_the_bindings_of_queue_and_detail():
    ids = [s.key_id for s in SPECS]
    assert len(set(ids)) == len(ids) == len({s.name for s in SPECS})
    for bindings in (keys.MAIN, keys.DETAIL):
        by_id = {b.id: b for b in bindings}
        for spec in SPECS:
            assert by_id[spec.key_id].key == spec.key
            assert by_id[spec.key_id].action == spec.binding_action


def test_default_keys_are_the_contracts():
    assert {s.name: s.key for s in SPECS} == {
        "retry": "r", "cancel": "c", "backfill_email": "e", "reschedule": "s", "assign_staff": "a",
        "snooze": "z", "undo": "u",
    }


def test_every_action_has_its_command_words_and_title():
    for spec in SPECS:
        assert spec.cli_command in cli.commands, spec.name
        assert spec.help
        if spec.targeted:
            assert "{}" in spec.title and keys.DESCRIPTIONS[spec.name] == spec.help
        else:
            assert spec.palette and spec.name not in ACTIONS


def test_undoable_actions_say_what_they_restore():
    assert UNDOABLE == ("backfill_email", "assign_staff", "snooze")
    for name in UNDOABLE:
        spec = next(s for s in SPECS if s.name == name)
        assert spec.undo_fields and type(spec).undone is not ActionSpec.undone
