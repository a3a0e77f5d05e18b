"""The settings sections are typed classes (a mistyped setting name fails in a type check and in an
editor), and each says exactly what ``SCHEMA`` (the parser's and config.example.toml's source) says."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from synconsole import config

SECTIONS = {"database": config.DatabaseSettings, "sync": config.SyncSettings, "jobs": config.JobsSettings,
            "remediation": config.RemediationSettings, "alerts": config.AlertSettings,
            "logging": config.LoggingSettings}
PYTHON_TYPE = {"str": str, "int": int, "float": float, "bool": bool, "choice": str, "regex": str}


@pytest.mark.parametrize("section", SECTIONS)
def test_each_section_class_is_its_schema_typed(section):
    cls = SECTIONS[section]
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert list(fields) == list(config.SCHEMA[section]), section
    for name, spec in config.SCHEMA[section].items():
        assert hints[name] is PYTHON_TYPE[spec.type], (section, name, hints[name])
        assert fields[name].default == spec.default, (section, name)
    assert typing.get_type_hints(config.Settings)[section] is cls
