"""The small text formats the PostgreSQL tools write and Scarlet reads back, round-tripped."""

from __future__ import annotations

from datetime import timedelta

import pytest

from autodevops.servers.postgres.tools.args import parse_seconds, seconds
from autodevops.servers.postgres.tools.health import CONNECTIONS_NOTE, parse_connections_note


@pytest.mark.parametrize("value", [0, 1, 59, 119, 120, 185, 3599, 7199])
def test_durations_read_back_exactly_below_two_hours(value: int) -> None:
    assert parse_seconds(seconds(timedelta(seconds=value))) == value


@pytest.mark.parametrize("value", [7200, 9000, 86400 * 3 + 61])
def test_longer_durations_read_back_to_the_minute(value: int) -> None:
    text = seconds(timedelta(seconds=value))
    assert text.endswith("m") and "h" in text
    assert parse_seconds(text) == value - value % 60


def test_missing_durations_read_as_none() -> None:
    assert seconds(None) == "-"
    assert parse_seconds("-") is None and parse_seconds("") is None


def test_the_connections_note_reads_back() -> None:
    note = CONNECTIONS_NOTE.format(used=42, limit=100)
    assert parse_connections_note(["other", note]) == (42, 100)
    assert parse_connections_note(["42 of 100"]) is None
