"""Jamie's portal in a real browser: sign in, ask, watch the answer stream in (rendered from
markdown) with a card per tool call, confirm a write, see it finish; then reopen it by its
address with every step, search, export, and find nothing injected ever runs.

The service runs with real Redis, FerretDB and MCP servers (the `jamie_service` fixture); only
the model is scripted, in the fake Ollama. Chromium is Debian's (`make install`); Playwright
never downloads a browser here. Screenshots are kept as test artifacts; axe-core (from the
axe-playwright-python package) checks accessibility in the page itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import axe_playwright_python
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

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
ANSWER = (
    "**Every target is up**, and scaling `web` in jamie-shop to 2 replicas passed a dry run.\n\n"
    "```bash\nkubectl -n jamie-shop get deployment web\n```\n\n"
    "| target | state |\n|---|---|\n| web | up |\n"
)
COMMAND = "kubectl -n jamie-shop get deployment web"
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
AXE = Path(axe_playwright_python.__file__).with_name("axe.min.js")
# Markdown a model might be tricked into writing: none of it may run or survive as markup.
INJECTED = "\n\n".join(
    [
        "<script>window.__injected = 'script'</script>",
        "<img src=x onerror=\"window.__injected = 'img'\">",
        "[plain](javascript:window.__injected='link')",
        "[mixed case](JaVaScRiPt:window.__injected='case')",
        "[entity](jav&#x61;script:window.__injected='entity')",
        "<javascript:window.__injected='autolink'>",
        "![picture](javascript:window.__injected='image')",
        "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<a href='https://example.com' onclick=\"window.__injected='onclick'\">raw</a>",
        "<iframe srcdoc=\"<script>parent.__injected='iframe'</script>\"></iframe>",
        "<svg onload=\"window.__injected='svg'\"></svg>",
        "```js\" onmouseover=\"window.__injected='fence'\nalert(1)\n```",
        '[safe](https://example.com/docs "a title")',
    ]
)


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
            context = await browser.new_context(
                viewport={"width": 1280, "height": 900},
                permissions=["clipboard-read", "clipboard-write"],
            )
            page = await context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", lambda message: _console(message, problems))
            await page.goto(jamie_service.portal_url.rstrip("/") + "/")
            await _sign_in(page, jamie_service)
            await _ask_and_confirm(page)
            await _keep_screenshot(page)
            await _copy_the_code(page)
            address = await _reopen_by_address(page, jamie_service)
            await _back_and_forward(page, address)
            await _recall_is_shown(page, fake)
            await _search(page)
            await _export(page, address, jamie_service)
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
    await expect(page.locator("#console-nav")).to_be_hidden()  # this Jamie has no Scarlet


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
    await _answer_is_rendered(answer)
    await expect(page.locator("#send")).to_be_enabled()
    # `done` (the exchange is stored) refreshes the list: the new conversation has messages.
    stored = re.compile(r"[1-9]\d* messages")
    await expect(page.locator("#conversation-list")).to_contain_text(stored)


async def _answer_is_rendered(answer: Any) -> None:
    """Markdown became markup: bold, a labelled code block with a copy button, a table."""
    await expect(answer.locator(".markdown strong")).to_have_text("Every target is up")
    await expect(answer.locator(".markdown code").first).to_have_text("web")
    block = answer.locator(".code-block")
    await expect(block.locator(".code-language")).to_have_text("bash")
    await expect(block.locator("pre code")).to_have_text(COMMAND + "\n")
    await expect(block.locator(".copy-code")).to_be_visible()
    await expect(answer.locator(".markdown table td").first).to_have_text("web")
    await expect(answer).not_to_contain_text("**")
    await expect(answer).not_to_contain_text("```")


async def _copy_the_code(page: Page) -> None:
    copy = page.locator(".assistant-message .copy-code").last
    await copy.click()
    await expect(copy).to_have_text("Copied")
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert copied.strip() == COMMAND, f"copied {copied!r}"


async def _reopen_by_address(page: Page, service: Any) -> str:
    """The address names the conversation; a reload shows every step as it was."""
    await expect(page).to_have_url(re.compile(r"/c/[0-9a-f]{24}$"))
    address = page.url
    await page.reload()
    answer = page.locator(".assistant-message").last
    read_card = answer.locator(f'.tool-card[data-tool="{READ_TOOL}"]')
    write_card = answer.locator(f'.tool-card[data-tool="{WRITE_TOOL}"]')
    await expect(page.locator(".user-message")).to_contain_text(QUESTION)
    await expect(answer).to_contain_text(FIRST_WORDS)
    await expect(read_card).to_have_attribute("data-outcome", "ok")
    await expect(read_card).to_contain_text('"query": "up"')
    await expect(write_card).to_contain_text(f'"namespace": "{WRITE_ARGUMENTS["namespace"]}"')
    await expect(write_card).to_contain_text(WRITE_RESULT)
    decision = write_card.locator(".confirm-decision")
    await expect(decision).to_contain_text(f"Confirmed by {service.sign_in_user} at")
    await expect(decision.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-"))
    await expect(write_card.locator(".confirm-button")).to_be_disabled()
    await _answer_is_rendered(answer)
    await expect(page.locator(".message-time time")).to_have_count(2)
    return address


async def _back_and_forward(page: Page, address: str) -> None:
    title = await page.locator("#conversation-title").text_content()
    await page.click("#new-conversation")
    await expect(page).to_have_url(re.compile(r"/$"))
    await expect(page.locator("#messages .message")).to_have_count(0)
    await page.go_back()
    await expect(page).to_have_url(address)
    await expect(page.locator("#conversation-title")).to_have_text(title or "")
    await expect(page.locator(".tool-card")).to_have_count(2)
    await page.go_forward()
    await expect(page).to_have_url(re.compile(r"/$"))
    await expect(page.locator("#messages .message")).to_have_count(0)


async def _recall_is_shown(page: Page, fake: FakeOllama) -> None:
    """A second conversation on the same subject: the memory hit Jamie used is on the page,
    live and after a reload."""
    fake.expect_embed([_vector(0)])
    fake.expect_chat(Reply(content="Still up."))
    fake.expect_embed([_vector(0, 2)])
    await page.fill("#composer", "Are the scrape targets still up?")
    await page.press("#composer", "Enter")
    recall = page.locator(".assistant-message .recall")
    await expect(recall).to_contain_text("From memory: 1 earlier exchange")
    await expect(page.locator(".assistant-message").last).to_contain_text("Still up.")
    stored = page.locator("#conversation-list li.conversation", has_text="2 messages")
    await expect(stored).to_have_count(2)
    await page.reload()
    await expect(recall).to_contain_text("From memory: 1 earlier exchange")
    await recall.locator("summary").click()
    await expect(recall.locator("a")).to_have_text(QUESTION)


async def _search(page: Page) -> None:
    entries = page.locator("#conversation-list li.conversation")
    await page.fill("#search", "DRY RUN")  # in an answer only, in another case
    await expect(entries).to_have_count(1)
    await expect(entries).to_contain_text(QUESTION[:20])
    await page.fill("#search", "still up?")  # a title, with a character regexes care about
    await expect(entries).to_have_count(1)
    await expect(entries).to_contain_text("still up?")
    await page.fill("#search", "no such words anywhere")
    await expect(page.locator("#conversation-list")).to_contain_text("Nothing matches")
    await page.fill("#search", "")
    await expect(entries).to_have_count(2)


async def _export(page: Page, address: str, service: Any) -> None:
    await page.goto(address)
    async with page.expect_download() as markdown_download:
        await page.click("#export-markdown")
    markdown = _text(await (await markdown_download.value).path())
    assert "## You" in markdown and QUESTION in markdown, markdown[:500]
    assert f"**Tool `{WRITE_TOOL}`**" in markdown and WRITE_RESULT in markdown, markdown[:2000]
    assert f"Write confirmed by {service.sign_in_user}" in markdown, markdown[:2000]
    async with page.expect_download() as json_download:
        await page.click("#export-json")
    exported = json.loads(_text(await (await json_download.value).path()))
    kinds = [step["kind"] for step in exported["messages"][1]["steps"]]
    for kind in ("recall", "text", "tool_call_started", "confirm", "confirmed", "final"):
        assert kind in kinds, f"{kind} missing from the exported steps {kinds}"


def _text(path: Path) -> str:
    return path.read_text()


async def _rename_delete_and_sign_out(page: Page) -> None:
    """The other calls that change something, through the page's own dialogs; each must pass
    the API's JSON-only rule."""
    entries = page.locator("#conversation-list li.conversation")
    before = await entries.count()
    dialog = page.locator("#dialog")
    await page.locator(".rename-conversation").first.click()
    await expect(dialog).to_be_visible()
    await expect(page.locator("#dialog-input")).to_be_focused()
    await page.fill("#dialog-input", "Scaling web")
    await page.press("#dialog-input", "Enter")
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#conversation-list")).to_contain_text("Scaling web")
    await page.locator(".delete-conversation").first.click()
    await expect(page.locator("#dialog-message")).to_contain_text("Delete “Scaling web”")
    await page.click("#dialog-cancel")
    await expect(entries).to_have_count(before)
    await page.locator(".delete-conversation").first.click()
    await page.click("#dialog-ok")
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
            await expect(page.locator("#search")).to_be_visible()
            await _no_serious_violations(page, "a phone")
            phone = SCREENSHOT.with_name("jamie-portal-phone.png")
            await page.screenshot(path=str(phone), full_page=True)
            assert phone.stat().st_size > 0
            await page.keyboard.press("?")
            await expect(page.locator("#shortcuts")).to_be_visible()
            width = await page.locator("#shortcuts").evaluate(
                "e => e.getBoundingClientRect().right"
            )
            assert width <= 390, f"the shortcuts dialog ends at {width}px on a 390px screen"
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


async def _signed_in_page(browser: Browser, service: Any, user: str, **options: Any) -> Page:
    page = await browser.new_page(**options)
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(service.portal_url.rstrip("/") + "/")
    await page.fill("#username", user)
    await page.fill("#password", f"{user}-password-1")
    await page.press("#password", "Enter")
    await expect(page.locator("#composer")).to_be_visible()
    return page


async def test_nothing_injected_in_markdown_runs(jamie_service: Any) -> None:
    """An answer full of markup and script tricks renders as harmless text and safe links,
    while it streams and when the conversation is reopened."""
    _require_chromium()
    fake: FakeOllama = fake_of(jamie_service)
    fake.expect_embed([_vector(5)])
    fake.expect_chat(Reply(content=INJECTED, pieces=8, gap=0.05))
    fake.expect_embed([_vector(5, 6)])
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = await _signed_in_page(
                browser, jamie_service, "ben", viewport={"width": 1280, "height": 900}
            )
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", lambda message: _console(message, problems))
            await page.fill("#composer", "Show me everything you can do with markdown.")
            await page.press("#composer", "Enter")
            answer = page.locator(".assistant-message").last
            await expect(answer.locator("a", has_text="safe")).to_be_visible()
            await expect(page.locator("#send")).to_be_enabled()
            await _nothing_ran(page)
            await page.screenshot(path=str(SCREENSHOT.with_name("jamie-portal-injected.png")))
            await expect(page).to_have_url(re.compile(r"/c/[0-9a-f]{24}$"))
            await page.reload()
            await expect(answer.locator("a", has_text="safe")).to_be_visible()
            await _nothing_ran(page)
        finally:
            await browser.close()
    assert not problems, "\n".join(problems)
    fake.verify()


async def _nothing_ran(page: Page) -> None:
    answer = page.locator(".assistant-message").last
    # The tricks are shown as text, so the person sees what the model wrote.
    await expect(answer).to_contain_text("<script>window.__injected = 'script'</script>")
    for element in await answer.locator(".markdown *").all():
        await element.hover(force=True, timeout=2000)
        if await element.evaluate("e => e.tagName") not in ("A", "BUTTON"):
            await element.click(force=True, timeout=2000)
    found = await page.evaluate(
        """() => {
            const root = document.querySelector("#messages");
            const handlers = [...root.querySelectorAll("*")].flatMap((e) =>
                [...e.attributes].filter((a) => a.name.startsWith("on")).map((a) => a.name));
            const links = [...root.querySelectorAll("a")].map((a) => ({
                href: a.getAttribute("href"), rel: a.rel, target: a.target,
                inRecall: a.closest(".recall") !== null }));
            return {
                injected: window.__injected ?? null,
                dangerous: root.querySelectorAll("script, iframe, svg, img, object, embed, style")
                    .length,
                handlers,
                links,
            };
        }"""
    )
    assert found["injected"] is None, f"injected code ran: {found['injected']}"
    assert found["dangerous"] == 0, "a dangerous element reached the page"
    assert not found["handlers"], f"event handler attributes: {found['handlers']}"
    answer_links = [link for link in found["links"] if not link["inRecall"]]
    assert [link["href"] for link in answer_links] == ["https://example.com/docs"], answer_links
    for link in answer_links:
        assert link["rel"] == "noopener noreferrer" and link["target"] == "_blank", link


async def test_console_keyboard_counter_dark_theme_and_accessibility(jamie_service: Any) -> None:
    """Shortcuts and their help, the length counter before sending, a deep link to nothing,
    the dark theme, and axe-core finding no serious accessibility problem in either theme."""
    _require_chromium()
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = await _signed_in_page(
                browser, jamie_service, "ben", viewport={"width": 1280, "height": 900}
            )
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            await page.click("#conversation-title")
            await page.keyboard.press("?")
            help_dialog = page.locator("#shortcuts")
            await expect(help_dialog).to_be_visible()
            await expect(help_dialog).to_contain_text("New conversation")
            await expect(help_dialog).to_contain_text("Stop the answer")
            await page.keyboard.press("Escape")
            await expect(help_dialog).to_be_hidden()
            await page.keyboard.press("/")
            await expect(page.locator("#composer")).to_be_focused()

            counter = page.locator("#composer-count")
            await page.fill("#composer", "x" * 8001)
            await expect(counter).to_have_text("8001 / 8000: 1 too many")
            await expect(page.locator("#send")).to_be_disabled()
            await page.fill("#composer", "x" * 12)
            await expect(counter).to_have_text("12 / 8000")
            await expect(page.locator("#send")).to_be_enabled()
            await page.fill("#composer", "")

            await page.goto(jamie_service.portal_url.rstrip("/") + "/c/000000000000000000000000")
            await expect(page.locator("#conversations-error")).to_contain_text("no conversation")
            await expect(page).to_have_url(re.compile(r"/$"))
            await page.keyboard.press("Alt+n")
            await expect(page.locator("#conversation-title")).to_have_text("New conversation")

            await _no_serious_violations(page, "light")
            await page.emulate_media(color_scheme="dark")
            background = await page.evaluate(
                "getComputedStyle(document.documentElement).backgroundColor"
            )
            assert background == "rgb(21, 24, 29)", f"dark theme background: {background}"
            await page.screenshot(path=str(SCREENSHOT.with_name("jamie-portal-dark.png")))
            await _no_serious_violations(page, "dark")
            await page.click("#show-shortcuts")
            await _no_serious_violations(page, "the shortcuts dialog")
        finally:
            await browser.close()
    assert not problems, "\n".join(problems)


async def _no_serious_violations(page: Page, where: str) -> None:
    # Through the debugging protocol, as the page's CSP rightly refuses any added script.
    await page.evaluate(AXE.read_text())
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, f"accessibility, {where}:\n" + "\n".join(serious)
