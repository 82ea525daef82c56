"""Tool calls that a model printed as JSON text instead of calling.

Small models often answer with `{"name": "...", "arguments": {...}}` (bare, in a code fence,
or inside `<tool_call>` tags) instead of a real tool call. The loop runs such calls as if
they had been made properly; text that merely looks like an attempt gets a hint instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_DECODER = json.JSONDecoder()
_WRAPPERS = re.compile(r"```(?:json|tool_call)?|</?tool_call>|</?function_call>", re.IGNORECASE)


@dataclass(frozen=True)
class TextCall:
    name: str
    arguments: dict[str, Any]


def find_text_calls(text: str) -> tuple[list[TextCall], str]:
    """The calls written in `text`, and the prose left around them."""
    calls: list[TextCall] = []
    kept: list[str] = []
    position = 0
    index = 0
    while index < len(text):
        if text[index] not in "{[":
            index += 1
            continue
        try:
            value, end = _DECODER.raw_decode(text, index)
        except ValueError:
            index += 1
            continue
        found = _calls_in(value)
        if found:
            calls.extend(found)
            kept.append(text[position:index])
            position = end
        index = end
    kept.append(text[position:])
    prose = _WRAPPERS.sub("", "".join(kept)).strip() if calls else text
    return calls, prose


def looks_like_a_call(text: str) -> bool:
    """A reply that opens with broken JSON of a tool-call shape: worth telling the model how
    to call instead (prose that merely quotes JSON is an answer)."""
    opening = _WRAPPERS.sub("", text).lstrip()
    return opening.startswith(("{", "[")) and bool(re.search(r'"(name|function|tool)"\s*:', text))


def _calls_in(value: Any) -> list[TextCall]:
    if isinstance(value, list):
        calls = [call for item in value for call in _calls_in(item)]
        return calls if len(calls) == len(value) else []
    if not isinstance(value, dict):
        return []
    if isinstance(value.get("tool_calls"), list):
        return _calls_in(value["tool_calls"])
    if isinstance(value.get("function"), dict):
        return _calls_in(value["function"])
    name = value.get("name", value.get("tool"))
    arguments = next(
        (value[key] for key in ("arguments", "parameters", "args", "input") if key in value),
        None,
    )
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return []
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return []
    return [TextCall(name, arguments)]
