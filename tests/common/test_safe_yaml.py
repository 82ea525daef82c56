"""YAML from callers without anchors or aliases."""

from __future__ import annotations

import pytest

from autodevops.common.safe_yaml import YamlRefused, load_documents


def test_plain_documents_load() -> None:
    assert load_documents("a: 1\n---\n---\nb: [x, y]\n") == [{"a": 1}, {"b": ["x", "y"]}]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: &x 1\nb: *x\n", 1),
        ("a: 1\nb: &x [1, 2]\n", 2),
        ("a: {k: v}\nb: !!map &m {c: d}\n", 2),
        ("l: &a [lol, lol]\nm: &b [*a, *a]\nn: [*b, *b]\n", 1),
    ],
)
def test_anchors_and_aliases_are_refused_naming_the_line(text: str, line: int) -> None:
    with pytest.raises(YamlRefused, match=rf"anchors and aliases .* \(line {line}\)"):
        load_documents(text)


def test_malformed_yaml_says_so() -> None:
    with pytest.raises(YamlRefused, match="not valid YAML"):
        load_documents("a: [\n")
