"""Answers are markdown from a model, so they are rendered to HTML here and sanitized before a
browser sees them: the portal only ever inserts what `render` returns.

markdown-it-py parses (raw HTML in the text stays text, link targets are checked), nh3 then
keeps an allow-list of tags and attributes, so even a parser bug cannot smuggle in a script,
an event handler or a `javascript:` link.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

import nh3
from markdown_it import MarkdownIt

_PARSER = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_PARSER.enable(["table", "strikethrough"])

_TAGS = {
    *("p", "br", "hr", "blockquote", "pre", "code", "em", "strong", "s", "del", "a"),
    *("h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li"),
    *("table", "thead", "tbody", "tr", "th", "td"),
}
_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "ol": {"start"}}
_LANGUAGE = re.compile(r"language-[A-Za-z0-9_+#.-]{1,40}")


def _keep(tag: str, attribute: str, value: str) -> str | None:
    """Of classes, only a fence's language survives (the portal labels the block with it)."""
    if tag == "code" and attribute == "class":
        return value if _LANGUAGE.fullmatch(value) else None
    return value


def render(text: str) -> str:
    """Sanitized HTML for a model's markdown; links open apart from the portal, without a
    referrer or a handle back to it."""
    return nh3.clean(
        _PARSER.render(text),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        attribute_filter=_keep,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )


class LiveMarkdown:
    """The answer's text re-rendered as it streams: a `markdown` event with the current text
    segment's HTML at most every `every` seconds, and once more when the segment ends (a new
    step or any other event), so the page never keeps raw markdown. `final` carries its HTML.
    The portal starts a new segment at the same points."""

    def __init__(self, every: float = 0.25, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self.text = ""
        self.step: int | None = None
        self.rendered_at = -math.inf
        self.pending = False

    def feed(self, kind: str, data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        if kind == "ping":
            return [(kind, data)]
        if kind == "text":
            events = [] if data["step"] == self.step else self._end()
            self.step = data["step"]
            self.text += data["text"]
            self.pending = True
            events.append((kind, data))
            if self.clock() - self.rendered_at >= self.every:
                events += self._render()
            return events
        events = self._end()
        if kind == "final":
            data = {**data, "html": render(data.get("text", ""))}
        events.append((kind, data))
        return events

    def _render(self) -> list[tuple[str, dict[str, Any]]]:
        if not self.pending:
            return []
        self.pending = False
        self.rendered_at = self.clock()
        return [("markdown", {"step": self.step, "html": render(self.text)})]

    def _end(self) -> list[tuple[str, dict[str, Any]]]:
        events = self._render()
        self.text, self.step = "", None
        return events


def with_html(step: dict[str, Any]) -> dict[str, Any]:
    """A stored step as the portal shows it: its text rendered, when it has text to read."""
    if step.get("kind") in ("text", "final"):
        return {**step, "html": render(step.get("text", ""))}
    return step
