"""Jamie's portal in a real browser: sign in, ask, watch the answer stream in with a card per
tool call, confirm a write, and see it finish.

The service runs with real Redis, FerretDB and MCP servers (the `jamie_service` fixture); only
the model is scripted, in the fake Ollama. Chromium is Debian's (`make install`); Playwright
never downloads a browser here. A screenshot of the finished page is kept as a test artifact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import ConsoleMessage, Page, async_playwright, expect

from tests.fakes.fake_ollama import FakeOllama, Reply, call
from tests.jamie_harness import fake_of

# The scenario: a read tool, then a write that needs the person's confirmation, then the answer.
# Tool names are "<server>__<tool>" as the pool offers them; the sign-in user must be allowed
# both, and the write's namespace and Deployment must exist in the test cluster.
READ_TOOL = "prometheus__query"
READ_ARGUMENTS: dict[str, Any] = {"query": "up"}
WRITE_TOOL = "kubernetes__scale"
WRITE_ARGUMENTS: dict[str, Any] = {
    "kind": "Deployment",
    "name": "web",
    "namespace": "jamie-shop",
    "replicas": 2,
    "dry_run": True,  # the confirmation flow is the point; the cluster stays as it is
}
WRITE_RESULT = "scaled to 2 replicas"  # part of what the write tool answers

QUESTION = "Are the scrape targets up? If so, scale web in jamie-shop to 2 replicas."
FIRST_WORDS = "Let me check the scrape targets first."
ANSWER = "Every target is up, and scaling web in jamie-shop to 2 replicas passed a dry run."
EMBEDDING_SIZE = 8

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[3]
SCREENSHOT = REPO / "build" / "test-artifacts" / "jamie-portal.png"
TIMEOUT_MS = 20_000


def script_the_model(fake: FakeOllama) -> None:
    """The question is embedded for recall; then three model turns: call the read tool, call
    the write tool once the read result is in the history, answer once the write's result is
    in; last, the exchange is embedded to be stored. The answer arrives in timed pieces."""
    fake.expect_embed([_vector(0)])
    fake.expect_chat(call((READ_TOOL, READ_ARGUMENTS), content=FIRST_WORDS), _offers_both_tools)
    fake.expect_chat(call((WRITE_TOOL, WRITE_ARGUMENTS)), _has_tool_results(1))
    fake.expect_chat(Reply(content=ANSWER, pieces=6, gap=0.1), _write_result_is_known)
    fake.expect_embed([_vector(0, 1)])


def _vector(*hot: int) -> list[float]:
    return [1.0 if i in hot else 0.0 for i in range(EMBEDDING_SIZE)]


def _offers_both_tools(body: dict[str, Any]) -> None:
    offered = {tool["function"]["name"] for tool in body.get("tools") or []}
    assert {READ_TOOL, WRITE_TOOL} <= offered, f"offered tools: {sorted(offered)}"
    assert QUESTION in json.dumps(body["messages"]), "the question is not in the history"


def _has_tool_results(count: int) -> Callable[[dict[str, Any]], None]:
    def check(body: dict[str, Any]) -> None:
        results = [m for m in body["messages"] if m.get("role") == "tool"]
        assert len(results) == count, f"{len(results)} tool results in the history"

    return check


def _write_result_is_known(body: dict[str, Any]) -> None:
    _has_tool_results(2)(body)
    last = [m for m in body["messages"] if m.get("role") == "tool"][-1]
    assert WRITE_RESULT in last["content"], f"the write answered: {last['content'][:300]}"


def _require_chromium() -> None:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser test needs Debian's Chromium. "
            "Run `make install` (as root it installs the chromium package).",
            pytrace=False,
        )


async def test_sign_in_ask_and_confirm_a_write(jamie_service: Any) -> None:
    _require_chromium()
    fake: FakeOllama = fake_of(jamie_service)
    script_the_model(fake)
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", lambda message: _console(message, problems))
            await page.goto(jamie_service.portal_url.rstrip("/") + "/")
            await _sign_in(page, jamie_service)
            await _ask_and_confirm(page)
            await _keep_screenshot(page)
            await _rename_delete_and_sign_out(page)
        finally:
            await browser.close()
    assert not problems, "\n".join(problems)
    fake.verify()


async def _sign_in(page: Page, service: Any) -> None:
    await expect(page.locator("#login-form")).to_be_visible()
    await page.fill("#username", service.sign_in_user)
    await page.fill("#password", service.sign_in_password + "-wrong")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#login-error")).to_be_visible()
    await expect(page.locator("#login-error")).not_to_be_empty()

    await page.fill("#password", service.sign_in_password)
    await page.press("#password", "Enter")
    await expect(page.locator("#composer")).to_be_visible()
    await expect(page.locator("#sign-out")).to_be_visible()
    await expect(page.locator("#login-form")).to_be_hidden()
    await expect(page.locator("#status-model")).to_contain_text(": up")
    await expect(page.locator("#status-servers")).to_contain_text("kubernetes: up")
    await expect(page.locator("#status-servers")).to_contain_text("prometheus: up")


async def _ask_and_confirm(page: Page) -> None:
    await page.fill("#composer", QUESTION)
    await page.press("#composer", "Enter")
    answer = page.locator(".assistant-message").last

    # The turn is still running (the write waits for the person), yet the first words and the
    # read tool's card are already on the page: the answer streams.
    read_card = page.locator(f'.tool-card[data-tool="{READ_TOOL}"]')
    await expect(answer).to_contain_text(FIRST_WORDS)
    await expect(read_card).to_have_attribute("data-outcome", "ok")
    await expect(read_card).to_contain_text("Outcome: ok")
    await expect(page.locator("#send")).to_be_disabled()

    write_card = page.locator(f'.tool-card[data-tool="{WRITE_TOOL}"]')
    confirm = write_card.locator(".confirm-button")
    await expect(write_card).to_contain_text("This will change the cluster")
    await expect(write_card).to_contain_text(f'"namespace": "{WRITE_ARGUMENTS["namespace"]}"')
    await expect(confirm).to_be_visible()
    await expect(confirm).to_be_enabled()
    await confirm.click()
    await expect(confirm).to_be_disabled()
    await expect(write_card.locator(".cancel-button")).to_be_disabled()
    await expect(write_card).to_contain_text("Confirmed")

    await expect(write_card).to_have_attribute("data-outcome", "ok")
    await expect(write_card).to_contain_text(WRITE_RESULT)
    await expect(answer).to_contain_text(ANSWER)
    await expect(page.locator("#send")).to_be_enabled()
    # `done` (the exchange is stored) refreshes the list: the new conversation has messages.
    stored = re.compile(r"[1-9]\d* messages")
    await expect(page.locator("#conversation-list")).to_contain_text(stored)


async def _rename_delete_and_sign_out(page: Page) -> None:
    """The other calls that change something: each must pass the API's JSON-only rule."""
    entries = page.locator("#conversation-list li.conversation")
    before = await entries.count()
    page.once("dialog", lambda dialog: dialog.accept("Scaling web"))
    await page.locator(".rename-conversation").first.click()
    await expect(page.locator("#conversation-list")).to_contain_text("Scaling web")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator(".delete-conversation").first.click()
    await expect(entries).to_have_count(before - 1)
    await page.click("#sign-out")
    await expect(page.locator("#login-form")).to_be_visible()
    await page.reload()
    await expect(page.locator("#login-form")).to_be_visible()


async def _keep_screenshot(page: Page) -> None:
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    await page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 0, f"no screenshot at {SCREENSHOT}"


def _console(message: ConsoleMessage, problems: list[str]) -> None:
    # The browser logs every non-2xx answer as an error; the wrong password's 401 is expected.
    if message.type == "error" and "status of 401" not in message.text:
        problems.append(f"console: {message.text}")


async def test_the_portal_on_a_phone_and_by_keyboard(jamie_service: Any) -> None:
    _require_chromium()
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            await page.goto(jamie_service.portal_url.rstrip("/") + "/")
            # Signed in with the keyboard alone: Tab to each field, Enter to send.
            await expect(page.locator("#username")).to_be_visible()
            await page.focus("#username")
            await page.keyboard.type("ben")
            await page.keyboard.press("Tab")
            await expect(page.locator("#password")).to_be_focused()
            await page.keyboard.type("ben-password-1")
            await page.keyboard.press("Enter")
            await expect(page.locator("#composer")).to_be_visible()
            toggle = page.locator("#toggle-conversations")
            await expect(toggle).to_be_visible()
            await toggle.click()
            await expect(toggle).to_have_attribute("aria-expanded", "true")
            await expect(page.locator("#conversation-list")).to_be_visible()
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
            phone = SCREENSHOT.with_name("jamie-portal-phone.png")
            await page.screenshot(path=str(phone), full_page=True)
            assert phone.stat().st_size > 0
        finally:
            await browser.close()
    assert not problems, "\n".join(problems)


async def test_stop_ends_an_answer_that_takes_too_long(jamie_service: Any) -> None:
    _require_chromium()
    fake: FakeOllama = fake_of(jamie_service)
    fake.expect_embed([_vector(3)])
    fake.expect_chat(Reply(content="too late", delay=3))
    asked = len(fake.chat_bodies())
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            await page.goto(jamie_service.portal_url.rstrip("/") + "/")
            await page.fill("#username", "ben")
            await page.fill("#password", "ben-password-1")
            await page.press("#password", "Enter")
            await page.fill("#composer", "Why is everything so slow?")
            await page.press("#composer", "Enter")
            stop = page.locator("#stop")
            await expect(stop).to_be_visible()
            for _ in range(100):  # the model has the question: stopping now ends a live turn
                if len(fake.chat_bodies()) > asked:
                    break
                await page.wait_for_timeout(50)
            await stop.click()
            answer = page.locator(".assistant-message").last
            await expect(answer).to_contain_text("Stopped.")
            await expect(stop).to_be_hidden()
            await expect(page.locator("#send")).to_be_enabled()
            await page.wait_for_timeout(3500)  # the model's late answer reaches nobody
            await expect(answer).not_to_contain_text("too late")
        finally:
            await browser.close()
