"""`dump_yaml` writes what PyYAML's safe dumper on libyaml writes (what the servers wrote
before), whatever the values hold: the fast path must never change a character of what a
caller reads, nor what the text reads back as."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import yaml

from autodevops.servers.core.yaml_text import dump_yaml

TRICKY_STRINGS = [
    "", " ", "true", "True", "yes", "no", "on", "off", "null", "~", "1", "0o17", "0x1f", "1e3",
    "1.5", ".inf", "-.nan", "2026-11-30", "2026-11-30T18:04:12Z", "12:30", "a: b", "a #b", "- x",
    "? x", "[x]", "{x}", "&anchor", "*alias", "!tag", "%dir", "@at", "`tick", "'quoted'",
    '"double"', "trailing ", " leading", "multi\nline\n", "tab\there", "é ☃ 漢字", "\x07bell",
    "\u2028sep", "x" * 300, "word " * 60, "=", "<<", "---", "...", "|", ">", "#", "0", "-1",
    "+1", "1_000", "0b101", "1:20", "Y", "n", "NULL", "TRUE", "Off",
]  # fmt: skip


def reference(data: Any) -> str:
    text: str = yaml.dump(
        data, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=False, width=120
    )
    return text


@pytest.mark.parametrize("value", TRICKY_STRINGS)
def test_a_string_is_written_and_read_back_as_pyyaml_does(value: str) -> None:
    data = {value: value, "list": [value, {value: [value]}]}
    assert dump_yaml(data) == reference(data)
    assert yaml.safe_load(dump_yaml(data)) == data


def test_every_json_type_and_some_others_are_written_as_pyyaml_does() -> None:
    shared = {"kept": "as is"}
    data = {
        "ints": [0, -1, 2**70, True, False],
        "floats": [0.5, -1e300, float("inf"), 1.0],
        "none": None,
        "empty": {"map": {}, "list": [], "string": ""},
        "nested": [[[]], [{}], [{"a": [1, {"b": None}]}]],
        "key order": {"z": 1, "a": 2, "m": 3},
        "not JSON": [datetime.date(2026, 11, 30), (1, 2), {1, 2}],
        1: "an integer key",
        None: "a null key",
    }
    assert dump_yaml(data) == reference(data)
    # One object in two places is written twice, where PyYAML writes an anchor and an alias.
    twice = {"twice": [shared, shared]}
    assert dump_yaml(twice) == "twice:\n- kept: as is\n- kept: as is\n"
    assert "&id001" in reference(twice) and yaml.safe_load(dump_yaml(twice)) == twice
    with pytest.raises(yaml.representer.RepresenterError):
        dump_yaml({"unsafe": object()})
    assert dump_yaml("just text") == reference("just text")


def test_remembered_answers_do_not_leak_between_values() -> None:
    # The same short text as a key and as a value, then in a longer document: the remembered
    # resolution must match the value, not the first place it was seen.
    for value in ["123", "true", "abc", "123"]:
        data = {"a": value, value: {"b": [value, int(value) if value.isdigit() else value]}}
        assert dump_yaml(data) == reference(data)
    many = {f"key-{index}": str(index) for index in range(5000)}
    assert dump_yaml(many) == reference(many)
