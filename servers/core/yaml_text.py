"""JSON-shaped data (what an API returned) written as block YAML: the text PyYAML's safe dumper
writes, in about half its time.

PyYAML represents each value through a generic, per-object dispatch in Python, and asks its
resolver twice per scalar whether the text would read back as another type; for a Kubernetes
object that was most of a `get_resource` call's CPU. Dicts, lists, strings, booleans, None and
integers become nodes directly here, the resolver's answers for short scalars (keys, mostly)
are remembered, and libyaml's emitter writes the text. Any other type goes through PyYAML's
own representer, so the text stays the safe dumper's. One difference: an object found twice
in the data is written twice, where PyYAML writes an anchor and an alias (`&id001`, `*id001`)
that a reader, or a model, would have to resolve.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_BASE: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_TAG = "tag:yaml.org,2002:"
_STR, _BOOL, _NULL, _INT = (_TAG + name for name in ("str", "bool", "null", "int"))
_MAP, _SEQ = _TAG + "map", _TAG + "seq"
# Field names and short values repeat across objects and calls; long text is not kept.
_REMEMBERED_CHARS = 64
_REMEMBERED_MAX = 2048
_resolved: dict[tuple[str, tuple[bool, bool]], str] = {}


class _Dumper(_BASE):  # type: ignore[misc]
    def represent(self, data: Any) -> None:
        # A dumper writes one document and is dropped, so PyYAML's alias bookkeeping (reset
        # after each document) has nothing to reset here.
        self.serialize(self._node(data))

    def _node(self, data: Any) -> Node:
        kind = type(data)
        if kind is str:
            return ScalarNode(_STR, data)
        if kind is dict:
            pairs = [(self._node(key), self._node(value)) for key, value in data.items()]
            return MappingNode(_MAP, pairs, flow_style=False)
        if kind is list:
            return SequenceNode(_SEQ, [self._node(item) for item in data], flow_style=False)
        if kind is bool:
            return ScalarNode(_BOOL, "true" if data else "false")
        if data is None:
            return ScalarNode(_NULL, "null")
        if kind is int:
            return ScalarNode(_INT, str(data))
        node: Node = self.represent_data(data)
        return node

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not ScalarNode or len(value) > _REMEMBERED_CHARS:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)
        tag = _resolved.get(key)
        if tag is None:
            if len(_resolved) >= _REMEMBERED_MAX:
                _resolved.clear()
            tag = _resolved[key] = super().resolve(kind, value, implicit)
        return tag


def dump_yaml(data: Any, *, width: int = 120) -> str:
    """Block YAML in the data's own key order, as PyYAML's safe dumper on libyaml writes it
    with `sort_keys=False, default_flow_style=False`."""
    text: str = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=width
    )
    return text
