"""Tool calls that a model printed as text instead of calling, read only in the shapes model
families print them.

Small models often answer with a call as text: Qwen and Hermes in `<tool_call>` tags, Mistral
after `[TOOL_CALLS]`, Llama after `<|python_tag|>` or as the whole reply, and models of every
family as a reply that is nothing but the call's JSON, or that ends with it in a code fence.
JSON anywhere else in prose is an answer, not a call: a model quoting a log line or an
object it read must never act. A call that copies one found in a tool result is set apart
(`quoted`), so the loop never runs it whatever its shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_DECODER = json.JSONDecoder()
_WRAPPERS = re.compile(r"```(?:json|tool_call)?|</?tool_call>|</?function_call>", re.IGNORECASE)
_TAGGED = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL | re.IGNORECASE)
_FENCED_END = re.compile(
    r"```(?:json|tool_call)?[ \t]*\n(.*?)\n?```\s*\Z", re.DOTALL | re.IGNORECASE
)
_MISTRAL = "[TOOL_CALLS]"
_PYTHON_TAG = "<|python_tag|>"

# The markers each family prints; an unknown family may use any of them.
FAMILY_MARKERS = {
    "qwen": frozenset({"tags"}),
    "hermes": frozenset({"tags"}),
    "llama": frozenset({"python_tag"}),
    "mistral": frozenset({"mistral"}),
    "mixtral": frozenset({"mistral"}),
    "ministral": frozenset({"mistral"}),
}
ALL_MARKERS = frozenset({"tags", "python_tag", "mistral"})


@dataclass(frozen=True)
class TextCall:
    name: str
    arguments: dict[str, Any]

    def key(self) -> str:
        return f"{self.name} {json.dumps(self.arguments, sort_keys=True, default=str)}"


@dataclass
class TextCalls:
    """The calls to run, the prose left around them, and calls that copy a tool result."""

    calls: list[TextCall] = field(default_factory=list)
    prose: str = ""
    quoted: list[TextCall] = field(default_factory=list)


def markers_of(model: str) -> frozenset[str]:
    """The call markers the model's family prints, from its Ollama name (`qwen3:8b`)."""
    name = model.lower().rsplit("/", 1)[-1]
    for family, markers in FAMILY_MARKERS.items():
        if name.startswith(family):
            return markers
    return ALL_MARKERS


def find_text_calls(text: str, model: str = "", tool_results: Iterable[str] = ()) -> TextCalls:
    """The calls `text` makes in one of its family's shapes; `tool_results` are the texts the
    model was shown, whose calls it may quote but never make."""
    calls, prose = _shaped(text, markers_of(model))
    if not calls:
        return TextCalls(prose=text)
    made, quoted = split_copies(calls, tool_results)
    return TextCalls(made, prose, quoted)


def split_copies(
    calls: list[TextCall], tool_results: Iterable[str]
) -> tuple[list[TextCall], list[TextCall]]:
    """The calls the model made, and those that copy a call found in a tool result. Ollama
    itself reads calls out of text by the template's marker, so its tool calls need this too."""
    seen = {call.key() for result in tool_results for call in _anywhere(result)}
    return (
        [call for call in calls if call.key() not in seen],
        [call for call in calls if call.key() in seen],
    )


_ANNOUNCING = re.compile(
    r"\b(?:I will|I'll|I am going to|I'm going to|let me(?! know)|let's)\b[^.\n]*"
    r"\b(?:use|call|run|invoke)\b",
    re.IGNORECASE,
)


def announced_call(text: str, tool_names: Iterable[str]) -> str | None:
    """The tool a reply says it is about to call without calling it ("I will use
    `kubernetes__list_resources` with the following arguments:"): small models stop there,
    and one reminder is usually enough for them to make the call."""
    stripped = text.strip()
    for name in tool_names:
        bare = name.rsplit("__", 1)[-1]
        spelled = name in stripped or (
            "_" in bare and re.search(rf"\b{re.escape(bare)}\b", stripped)
        )
        if spelled and (stripped.endswith(":") or _ANNOUNCING.search(stripped)):
            return name
    return None


def looks_like_a_call(text: str) -> bool:
    """A reply that opens with broken JSON of a tool-call shape: worth telling the model how
    to call instead (prose that merely quotes JSON is an answer)."""
    opening = _WRAPPERS.sub("", text).lstrip()
    return opening.startswith(("{", "[")) and bool(re.search(r'"(name|function|tool)"\s*:', text))


def _shaped(text: str, markers: frozenset[str]) -> tuple[list[TextCall], str]:
    stripped = text.strip()
    if "tags" in markers and _TAGGED.search(stripped):
        blocks = [_whole(block) for block in _TAGGED.findall(stripped)]
        if all(blocks):
            return [call for block in blocks for call in block], _TAGGED.sub("", stripped).strip()
        return [], text
    for marker, prefix in (("mistral", _MISTRAL), ("python_tag", _PYTHON_TAG)):
        if marker in markers and stripped.startswith(prefix):
            return _whole(stripped.removeprefix(prefix)), ""
    calls = _whole(_WRAPPERS.sub("", stripped))
    if calls:
        return calls, ""
    fenced = _FENCED_END.search(stripped)
    if fenced and "```" not in stripped[: fenced.start()]:
        return _whole(fenced.group(1)), stripped[: fenced.start()].strip()
    return [], text


def _whole(text: str) -> list[TextCall]:
    """The calls when `text` is nothing but one JSON value of calls."""
    text = text.strip()
    try:
        value, end = _DECODER.raw_decode(text)
    except ValueError:
        return []
    return _calls_in(value) if end == len(text) else []


def _anywhere(text: str) -> list[TextCall]:
    """Every call-shaped JSON value inside `text`, wherever it sits."""
    found: list[TextCall] = []
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
        found += _calls_in(value)
        index = end
    return found


def _calls_in(value: Any) -> list[TextCall]:
    if isinstance(value, list):
        calls = [call for item in value for call in _calls_in(item)]
        return calls if value and len(calls) == len(value) else []
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
