"""Scarlet in Jamie's console, in Chromium: the runs page, a run followed live as a person
approves its write, the approvals page (approve, reject with a reason, refused to a viewer),
each on a desktop and a phone, with nothing injected through an alert or a pod's message ever
running. The real Scarlet on the local stack's PostgreSQL; Jamie acts for the person.

`ana` is an operator (Scarlet lets operators decide restarts), `ben` only views.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from autodevops.clients.jamie.config import Scarlet as ScarletSettings
from autodevops.clients.jamie.people import Person
from autodevops.clients.jamie.scarlet import ScarletApi
from autodevops.common.unavailable import BackendUnavailable
from devstack.base import free_port
from devstack.jamie import Deployment, Jamie
from tests.clients.jamie.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOT,
    _console,
    _no_serious_violations,
    _require_chromium,
    _signed_in_page,
)
from tests.fakes.fake_ollama import FakeOllama
from tests.scarlet_harness import (
    JAMIE_DELEGATES,
    Scarlet,
    alert,
    crash_the_pods,
    scarlet_factory,
    waiting_run,
)

__all__ = ["scarlet_factory"]  # the shared fixture, used here under its own name

# What an alert's author or a crashing container may write: shown as text, never run.
INJECTED = (
    "<img src=x onerror=\"window.__injected='img'\">"
    "<script>window.__injected='script'</script>"
    "<a href=\"javascript:window.__injected='link'\">x</a>"
)
SAID = f"dial tcp 10.96.0.9:6379: connect: connection refused {INJECTED}"
ARTIFACTS = SCREENSHOT.parent


@pytest.fixture(scope="module")
def scarlet(scarlet_factory: Callable[..., Scarlet], kube: Any) -> Scarlet:
    started = scarlet_factory("console", delegates=JAMIE_DELEGATES)
    crash_the_pods(kube, SAID)
    return started


@pytest.fixture(scope="module")
def console(
    jamie_deployment: Deployment, redis: Any, ferretdb: Any, scarlet: Scarlet
) -> Iterator[Jamie]:
    token = jamie_deployment.workdir / "scarlet-token"
    token.write_text(scarlet.tokens["jamie"])
    with FakeOllama() as fake:
        fake.always_answer_tags()
        jamie = jamie_deployment.start(
            "console",
            fake,
            redis.url,
            ferretdb.url,
            scarlet={"url": scarlet.api, "token_file": str(token)},
        )
        yield jamie
        jamie.close()


def injected_run(scarlet: Scarlet, fingerprint: str) -> tuple[int, int]:
    """A run waiting for a person, its alert and evidence full of markup; (run, action)."""
    tricky = alert(fingerprint)
    tricky["alerts"][0]["annotations"]["summary"] = f"shop is down {INJECTED}"
    response = scarlet.post("/v1/alerts", tricky)
    assert response.status_code == 202, response.text
    run_id = response.json()["runs"][0]["run"]
    detail = scarlet.wait_run(run_id, {"waiting_approval"})
    [action] = [a for a in detail["actions"] if a["status"] == "waiting"]
    return run_id, action["id"]


def audit_of(scarlet: Scarlet, action_id: int) -> list[tuple[str, str, str]]:
    with psycopg.connect(scarlet.dsn) as db:
        rows = db.execute(
            "SELECT decision, decided_by, reason FROM approvals WHERE action_id = %s",
            (action_id,),
        ).fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def test_jamie_asks_scarlet_for_the_person(console: Jamie, scarlet: Scarlet) -> None:
    ana = console.client("ana").get("/api/scarlet/me")
    assert ana.status_code == 200, ana.text
    assert ana.json() | {"roles": sorted(ana.json()["roles"])} == {
        "connected": True,
        "subject": "ana",
        "roles": ["operator", "viewer"],
        "acting_for_by": "jamie",
        "may_view": True,
        "may_submit": False,
        "may_decide": True,
    }
    run_id, action_id = waiting_run_of(scarlet, "fp-console-api")
    ben = console.client("ben")
    refused = ben.post(
        f"/api/scarlet/actions/{action_id}/approve", json={"run": run_id, "reason": "mine"}
    )
    assert refused.status_code == 403 and "ben may not decide" in refused.json()["detail"]
    assert ben.get("/api/scarlet/runs/987654").status_code == 404
    assert ben.get("/api/scarlet/runs?limit=0").status_code == 422
    outside = httpx.get(f"{console.api_url}/api/scarlet/actions", timeout=10)
    assert outside.status_code == 401
    rejected = console.client("ana").post(
        f"/api/scarlet/actions/{action_id}/reject", json={"run": run_id, "reason": "not now"}
    )
    assert rejected.status_code == 200 and rejected.json()["decided_by"] == "ana"
    assert audit_of(scarlet, action_id) == [("rejected", "ana", "not now")]


async def test_scarlet_down_is_named_without_the_token(tmp_path: Path) -> None:
    token = tmp_path / "scarlet-token"
    token.write_text("s" * 32)
    where = f"127.0.0.1:{free_port()}"
    api = ScarletApi(ScarletSettings(url=f"http://{where}", token_file=token, timeout_seconds=2))
    ana = Person("ana", "ana", ("viewer",), "password")
    try:
        with pytest.raises(BackendUnavailable) as down:
            await api.get(ana, "/v1/me")
    finally:
        await api.close()
    message = str(down.value)
    assert message.startswith(f"Scarlet's API at {where}: unreachable")
    assert "scarlet.url" in message and "s" * 32 not in message


def waiting_run_of(scarlet: Scarlet, fingerprint: str) -> tuple[int, int]:
    run_id, detail = waiting_run(scarlet, fingerprint)
    [action] = [a for a in detail["actions"] if a["status"] == "waiting"]
    return run_id, action["id"]


async def test_runs_live_run_and_approvals_on_a_desktop(console: Jamie, scarlet: Scarlet) -> None:
    _require_chromium()
    problems: list[str] = []
    run_id, action_id = injected_run(scarlet, "fp-console-live")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = await _watched(browser, console, "ana", problems, 1280, 900)
            await _runs_page(page, run_id)
            await _run_page(page, run_id)
            await _no_serious_violations(page, "the run page")
            await page.screenshot(path=str(ARTIFACTS / "jamie-console-run.png"), full_page=True)
            # A second tab approves while the first follows the run.
            approvals = await _watched(browser, console, "ana", problems, 1280, 900)
            await _approve(approvals, action_id)
            await _live_run_completes(page, run_id, action_id)
            await _nothing_ran(page)
            assert audit_of(scarlet, action_id) == [("approved", "ana", "on call: cache is back")]

            second_run, second = await asyncio.to_thread(waiting_run_of, scarlet, "fp-console-2")
            await _reject(approvals, second)
            assert audit_of(scarlet, second) == [("rejected", "ana", "wait for the DBA")]
            await asyncio.to_thread(scarlet.wait_run, second_run, {"completed"})
            await _deep_link_and_history(page, console, run_id)
        finally:
            await browser.close()
    assert not problems, "\n".join(problems)


async def test_approvals_on_a_phone_by_keyboard_for_a_viewer(
    console: Jamie, scarlet: Scarlet
) -> None:
    _require_chromium()
    problems: list[str] = []
    run_id, action_id = await asyncio.to_thread(waiting_run_of, scarlet, "fp-console-phone")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = await _watched(browser, console, "ben", problems, 390, 844)
            # Keyboard only: "g" then "a" opens the approvals page.
            await page.evaluate("document.activeElement.blur()")
            await page.keyboard.press("g")
            await page.keyboard.press("a")
            await expect(page).to_have_url(f"{console.portal_url}/scarlet/approvals")
            card = page.locator(f'.approval[data-action="{action_id}"]')
            await expect(card).to_contain_text("kubernetes__rollout_restart")
            await expect(card.locator(".approve-button")).to_be_disabled()
            await expect(card.locator(".reject-button")).to_be_disabled()
            await expect(card).to_contain_text("You may not decide this")
            await expect(card.locator(".action-dry-run")).to_contain_text("ok:")
            await _fits_a_phone(page)
            await _no_serious_violations(page, "the approvals page on a phone")
            await page.screenshot(
                path=str(ARTIFACTS / "jamie-console-approvals-phone.png"), full_page=True
            )
            await page.evaluate("document.activeElement.blur()")
            await page.keyboard.press("g")
            await page.keyboard.press("r")
            await expect(page).to_have_url(f"{console.portal_url}/scarlet/runs")
            row = page.locator(f'tr[data-run="{run_id}"]')
            await expect(row).to_contain_text("Waiting approval")
            await _fits_a_phone(page)
            await page.emulate_media(color_scheme="dark")
            await _no_serious_violations(page, "the runs page on a phone, dark")
            await page.screenshot(
                path=str(ARTIFACTS / "jamie-console-runs-phone-dark.png"), full_page=True
            )
            # Tab reaches the run's link; Enter opens it.
            link = row.locator("a")
            await link.focus()
            await page.keyboard.press("Enter")
            await expect(page).to_have_url(f"{console.portal_url}/scarlet/runs/{run_id}")
            await expect(page.locator("#run-status")).to_have_text("Waiting approval")
            await _fits_a_phone(page)
        finally:
            await browser.close()
    # Leave nothing waiting for the next module's Scarlet tests.
    done = scarlet.post(f"/v1/actions/{action_id}/reject", {"reason": "test over"}, who="alice")
    assert done.status_code == 200, done.text
    assert not problems, "\n".join(problems)


async def _watched(
    browser: Browser, console: Jamie, user: str, problems: list[str], width: int, height: int
) -> Page:
    page = await _signed_in_page(
        browser, console, user, viewport={"width": width, "height": height}
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: _console(message, problems))
    await expect(page.locator("#console-nav")).to_be_visible()
    return page


async def _runs_page(page: Page, run_id: int) -> None:
    await page.click("#nav-runs")
    await expect(page).to_have_url(page.url.split("/scarlet")[0].rstrip("/") + "/scarlet/runs")
    await expect(page.locator("#scarlet-title")).to_have_text("Scarlet's runs")
    await expect(page.locator("#nav-runs")).to_have_attribute("aria-current", "page")
    row = page.locator(f'tr[data-run="{run_id}"]')
    await expect(row).to_contain_text("Waiting approval")
    await expect(row).to_contain_text("alert")
    await expect(row).to_contain_text("sc-e2e")
    await expect(page.locator("#approvals-count")).to_have_text("1")
    await page.select_option("#runs-status", "completed")
    await expect(row).to_have_count(0)
    await page.select_option("#runs-status", "")
    await expect(row).to_be_visible()
    await _no_serious_violations(page, "the runs page")
    await page.screenshot(path=str(ARTIFACTS / "jamie-console-runs.png"), full_page=True)
    await row.locator("a").click()


async def _run_page(page: Page, run_id: int) -> None:
    await expect(page).to_have_url(f"{page.url.split('/scarlet')[0]}/scarlet/runs/{run_id}")
    await expect(page.locator("#run-status")).to_have_text("Waiting approval")
    await expect(page.locator("#scarlet-live")).to_contain_text("Live")
    body = page.locator("#scarlet-body")
    await expect(body).to_contain_text(f"shop is down {INJECTED}")  # the question, as text
    finding = page.locator(".finding").first
    await expect(finding).to_contain_text("crash-looping")
    await expect(finding.locator(".evidence-excerpt").first).to_contain_text("CrashLoopBackOff")
    evidence = " ".join(await finding.locator(".evidence-excerpt").all_inner_texts())
    assert "connection refused" in evidence and "window.__injected='img'" in evidence
    await expect(page.locator(".run-action")).to_contain_text("Waiting")
    await expect(page.locator('.run-step[data-kind="action_dry_run"]')).to_have_count(1)


async def _approve(page: Page, action_id: int) -> None:
    await page.click("#nav-approvals")
    card = page.locator(f'.approval[data-action="{action_id}"]')
    await expect(card.locator(".action-dry-run")).to_contain_text("ok:")
    await expect(card).to_contain_text('"namespace": "sc-e2e"')
    await expect(card).to_contain_text("approver, operator")
    await card.locator(".decision-reason").fill("on call: cache is back")
    await card.locator(".approve-button").click()
    await expect(page.locator("#dialog")).to_be_visible()
    await expect(page.locator("#dialog-message")).to_contain_text("kubernetes__rollout_restart")
    await _no_serious_violations(page, "the approve dialog")
    await page.screenshot(path=str(ARTIFACTS / "jamie-console-approve.png"))
    await page.click("#dialog-ok")
    await expect(card.locator(".decision-outcome")).to_have_text(
        "Approved by ana: on call: cache is back"
    )
    await expect(page.locator("#approvals-count")).to_be_hidden()


async def _live_run_completes(page: Page, run_id: int, action_id: int) -> None:
    """The run page never reloaded: the decision, the restart and the end arrive live."""
    await expect(page.locator('.run-step[data-kind="action_decided"]')).to_have_count(1)
    await expect(page.locator('.run-step[data-kind="action_executed"]')).to_have_count(1)
    await expect(page.locator("#scarlet-live")).to_have_text("The run is over.")
    await expect(page.locator("#run-status")).to_have_text("Completed")
    action = page.locator(".run-action")
    await expect(action).to_contain_text(f"Action #{action_id}: kubernetes__rollout_restart")
    await expect(action).to_contain_text("Executed")
    await expect(action).to_contain_text("ana")
    await page.screenshot(path=str(ARTIFACTS / "jamie-console-run-live.png"), full_page=True)


async def _reject(page: Page, action_id: int) -> None:
    await page.click("#nav-chat")
    await page.click("#nav-approvals")
    card = page.locator(f'.approval[data-action="{action_id}"]')
    await card.locator(".decision-reason").fill("wait for the DBA")
    await card.locator(".reject-button").click()
    await expect(card.locator(".decision-outcome")).to_have_text(
        "Rejected by ana: wait for the DBA"
    )
    await page.screenshot(path=str(ARTIFACTS / "jamie-console-approvals.png"), full_page=True)


async def _deep_link_and_history(page: Page, console: Jamie, run_id: int) -> None:
    address = f"{console.portal_url}/scarlet/runs/{run_id}"
    await page.goto(address)
    await expect(page.locator("#run-status")).to_have_text("Completed")
    await page.click("#nav-approvals")
    await expect(page.locator("#scarlet-body")).to_contain_text("Nothing waits for approval.")
    await page.go_back()
    await expect(page).to_have_url(address)
    await expect(page.locator("#run-status")).to_have_text("Completed")
    await page.click("#nav-chat")
    await expect(page.locator("#composer")).to_be_visible()
    await page.go_back()
    await expect(page.locator("#scarlet-view")).to_be_visible()


async def _nothing_ran(page: Page) -> None:
    assert await page.evaluate("window.__injected") is None
    inside = await page.evaluate(
        "document.querySelectorAll('#scarlet-body img, #scarlet-body script, "
        '#scarlet-body a[href^="javascript"]\').length'
    )
    assert inside == 0, f"{inside} injected elements in Scarlet's pages"


async def _fits_a_phone(page: Page) -> None:
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
