"""YAML from callers, read without aliases or anchors.

An alias lets a few bytes expand into millions of nodes (a "billion laughs"), and lets one
document's value reappear elsewhere unseen by a reader of the text. Nothing a caller sends
needs them, so a document that has one is refused, naming where it is.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import Node


class YamlRefused(ValueError):
    """The text is not plain YAML: malformed, or using an alias or anchor."""


class _PlainLoader(yaml.SafeLoader):
    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, AliasEvent) or (
            isinstance(event, ScalarEvent | CollectionStartEvent) and event.anchor is not None
        ):
            where = f" (line {event.start_mark.line + 1})" if event.start_mark else ""
            raise YamlRefused(
                f"YAML anchors and aliases (&name, *name) are not accepted{where}; "
                "write each value out in full"
            )
        return super().compose_node(parent, index)


def load_documents(text: str) -> list[Any]:
    """Every non-empty document of a YAML stream, or `YamlRefused` saying what is wrong."""
    try:
        return [d for d in yaml.load_all(text, Loader=_PlainLoader) if d is not None]
    except yaml.YAMLError as exc:
        raise YamlRefused(f"not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise YamlRefused("the YAML is nested too deeply") from exc
