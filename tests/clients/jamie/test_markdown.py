"""Answers rendered from markdown: what survives sanitizing, how a stream is re-rendered, and
how much of an answer's steps is kept."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from autodevops.clients.jamie.markdown import LiveMarkdown, render
from autodevops.clients.jamie.transcript import ARGUMENT_CHARS, MAX_STEPS, STEP_CHARS, Transcript


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[a](javascript:alert(1))",
        "[a](JaVaScRiPt:alert(1))",
        "[a](jav&#x61;script:alert(1))",
        "<javascript:alert(1)>",
        "![i](javascript:alert(1))",
        "[a](data:text/html;base64,PHNjcmlwdD4=)",
        "[a](vbscript:msgbox(1))",
        '<a href="https://x" onclick="alert(1)">x</a>',
        '```js" onmouseover="alert(1)\ncode\n```',
    ],
)
def test_nothing_that_could_run_survives(markdown: str) -> None:
    html = render(markdown)
    tags = _Tags()
    tags.feed(html)
    assert tags.names <= {"p", "pre", "code", "a"}, html
    for name, value in tags.attributes:
        assert not name.startswith("on"), html
        if name == "href":
            assert (value or "").startswith("https://"), html


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.add(tag)
        self.attributes += attrs


def test_what_an_answer_needs_is_kept() -> None:
    html = render(
        "## Pods\n\n**Two** are `Pending`:\n\n```yaml\nkind: Pod\n```\n\n| a | b |\n|--:|---|\n"
        '| 1 | 2 |\n\n[docs](https://kubernetes.io/docs "Kubernetes")'
    )
    assert "<h2>Pods</h2>" in html and "<strong>Two</strong>" in html
    assert '<code class="language-yaml">kind: Pod\n</code>' in html
    assert "<table>" in html and "<td>1</td>" in html and "style" not in html
    assert (
        '<a href="https://kubernetes.io/docs" title="Kubernetes" target="_blank" '
        'rel="noopener noreferrer">docs</a>'
    ) in html


def test_a_stream_is_rendered_at_most_every_interval_and_when_each_segment_ends() -> None:
    now = [0.0]
    live = LiveMarkdown(every=0.25, clock=lambda: now[0])
    first = live.feed("text", {"step": 1, "text": "**bo"})
    assert [kind for kind, _ in first] == ["text", "markdown"]
    now[0] = 0.1
    assert [kind for kind, _ in live.feed("text", {"step": 1, "text": "ld**"})] == ["text"]
    started = live.feed("tool_call_started", {"step": 1, "index": 0})
    assert started[0] == ("markdown", {"step": 1, "html": "<p><strong>bold</strong></p>\n"})
    now[0] = 0.2
    second = live.feed("text", {"step": 2, "text": "*done*"})
    assert [kind for kind, _ in second] == ["text"]
    final = live.feed("final", {"text": "*done*"})
    assert final[0] == ("markdown", {"step": 2, "html": "<p><em>done</em></p>\n"})
    assert final[1][1]["html"] == "<p><em>done</em></p>\n"
    assert live.feed("ping", {}) == [("ping", {})]


def test_a_transcript_is_bounded_and_says_what_it_cut() -> None:
    transcript = Transcript()
    transcript.add("step_started", {"step": 1})
    for piece in ("a" * (STEP_CHARS - 1), "bc", "d"):
        transcript.add("text", {"step": 1, "text": piece})
    arguments = {"query": "x" * ARGUMENT_CHARS, "token": "s3cret"}
    transcript.add(
        "tool_call_started", {"step": 1, "index": 0, "tool": "t", "arguments": arguments}
    )
    text, started = transcript.steps
    assert text == {"kind": "text", "step": 1, "text": "a" * (STEP_CHARS - 1) + "b", "cut": True}
    assert set(started["arguments"]) == {"_cut"}
    assert len(started["arguments"]["_cut"]) == ARGUMENT_CHARS
    for index in range(MAX_STEPS):
        transcript.add("notice", {"step": 2, "message": f"n{index}"})
    transcript.add("final", {"text": "done", "steps": 2})
    kept = transcript.kept()
    assert len(kept) == MAX_STEPS + 2
    assert kept[-2]["kind"] == "final" and kept[-1]["message"] == "2 more steps were not kept"
