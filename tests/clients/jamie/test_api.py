"""Jamie's API end to end: sign-in, sessions, isolation, rate limits, a streamed answer with
tool calls as the person, writes that wait for a click, recall, and outages with recovery."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from devstack.jamie import Deployment, Jamie
from devstack.services import audit_lines
from tests.fakes.fake_ollama import FakeOllama, Reply, call, say
from tests.jamie_harness import NAMESPACE, early_in_a_minute, fake_of, replicas, reset_replicas
from tests.tcp_relay import TcpRelay

DIM = 8


def vector(*hot: int) -> list[float]:
    return [1.0 if i in hot else 0.0 for i in range(DIM)]


def kinds(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [kind for kind, _ in events]


def first(events: list[tuple[str, dict[str, Any]]], kind: str) -> dict[str, Any]:
    return next(data for k, data in events if k == kind)


# Sign-in and sessions


def test_sign_in_with_the_users_file_and_sign_out(jamie_service: Jamie) -> None:
    with httpx.Client(base_url=jamie_service.api_url) as client:
        assert client.get("/api/me").status_code == 401
        wrong = client.post("/api/session", json={"username": "ben", "password": "nope-nope"})
        assert wrong.status_code == 401
        assert wrong.json()["detail"] == "wrong user name or password"
        right = client.post("/api/session", json={"username": "ben", "password": "ben-password-1"})
        assert right.status_code == 200, right.text
        cookie = right.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        me = client.get("/api/me").json()
        assert me == {"user": "ben", "display_name": "ben", "roles": ["viewer"], "auth": "password"}
        # This Jamie has no Scarlet: the portal offers no Scarlet pages, and asks nothing.
        scarlet = client.get("/api/scarlet/me").json()
        assert scarlet == {"connected": False, "may_view": False, "may_decide": False}
        missing = client.get("/api/scarlet/actions")
        assert missing.status_code == 404 and "not connected to Scarlet" in missing.text
        token = right.json()["token"]
        with httpx.Client(base_url=jamie_service.api_url) as api_client:
            headers = {"Authorization": f"Bearer {token}"}
            assert api_client.get("/api/me", headers=headers).json()["user"] == "ben"
        assert (
            client.delete("/api/session", headers={"content-type": "application/json"}).status_code
            == 204
        )
        assert (
            client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        )


def test_bad_input_names_the_field(jamie_service: Jamie) -> None:
    with httpx.Client(base_url=jamie_service.api_url) as client:
        response = client.post("/api/session", json={"username": "", "password": "x"})
        assert response.status_code == 422
        assert response.json()["detail"].startswith("username:")
        form = client.post("/api/session", data={"username": "ana", "password": "x"})
        assert form.status_code == 415


def test_questions_are_limited_per_person(jamie_service: Jamie) -> None:
    client = jamie_service.client("carl")
    early_in_a_minute()
    path = "/api/conversations/000000000000000000000000/messages"
    codes = [client.post(path, json={"content": "hi"}).status_code for _ in range(20)]
    assert codes == [404] * 20
    limited = client.post(path, json={"content": "hi"})
    assert limited.status_code == 429 and "retry-after" in limited.headers
    assert jamie_service.client("ben").get("/api/conversations").status_code == 200


def test_conversations_belong_to_their_person(jamie_service: Jamie) -> None:
    ana, ben = jamie_service.client("ana"), jamie_service.client("ben")
    mine = jamie_service.new_conversation("ana", "Disk pressure on blue")
    assert mine in [c["id"] for c in ana.get("/api/conversations").json()]
    assert mine not in [c["id"] for c in ben.get("/api/conversations").json()]
    assert ben.get(f"/api/conversations/{mine}").status_code == 404
    assert ben.patch(f"/api/conversations/{mine}", json={"title": "mine now"}).status_code == 404
    assert (
        ben.delete(
            f"/api/conversations/{mine}", headers={"content-type": "application/json"}
        ).status_code
        == 404
    )
    renamed = ana.patch(f"/api/conversations/{mine}", json={"title": "Evictions"}).json()
    assert renamed["title"] == "Evictions"
    detail = ana.get(f"/api/conversations/{mine}").json()
    assert detail["conversation"]["title"] == "Evictions" and detail["messages"] == []
    assert (
        ana.delete(
            f"/api/conversations/{mine}", headers={"content-type": "application/json"}
        ).status_code
        == 204
    )
    assert ana.get(f"/api/conversations/{mine}").status_code == 404


# Chat


def test_a_streamed_answer_with_a_tool_call_made_as_the_person(jamie_service: Jamie) -> None:
    fake = fake_of(jamie_service)
    conversation = jamie_service.new_conversation("ben")
    fake.expect_embed([vector(0)])
    fake.expect_chat(call(("prometheus__query", {"query": "up"})))
    fake.expect_chat(
        Reply(content="Every target is up: prometheus answers 1.", pieces=4, gap=0.05),
        check=lambda body: _assert_tool_result_in(body, "prometheus"),
    )
    fake.expect_embed([vector(0, 1)])
    events = jamie_service.ask("ben", conversation, "Are all scrape targets up?")
    order = kinds(events)
    assert order[0] == "turn" and order[-1] == "done"
    assert order.index("tool_call_started") < order.index("tool_call_finished")
    assert order.index("tool_call_finished") < order.index("final")
    assert order.count("text") == 4
    finished = first(events, "tool_call_finished")
    assert finished["tool"] == "prometheus__query" and finished["outcome"] == "ok"
    assert first(events, "final")["text"] == "Every target is up: prometheus answers 1."
    tools = {t["function"]["name"] for t in fake.chat_bodies()[-2]["tools"]}
    assert "prometheus__query" in tools and "kubernetes__scale" not in tools
    record = [
        r for r in audit_lines(jamie_service.audit_logs["prometheus"]) if r["tool"] == "query"
    ][-1]
    assert (record["subject"], record["actor"], record["roles"]) == ("ben", "jamie", ["viewer"])
    assert order.index("markdown") < order.index("final")  # rendered while it streams
    stored = jamie_service.client("ben").get(f"/api/conversations/{conversation}").json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
    assert stored["conversation"]["title"] == "Are all scrape targets up?"
    _every_step_is_kept(jamie_service, conversation, stored["messages"][1])


def _every_step_is_kept(service: Jamie, conversation: str, answer: dict[str, Any]) -> None:
    """The stored answer holds what the person saw, is found by search (its owner's only),
    exported, and reachable at its own address."""
    steps = {step["kind"]: step for step in answer["steps"]}
    assert list(steps) == ["recall", "tool_call_started", "tool_call_finished", "text", "final"]
    finished = steps["tool_call_finished"]
    assert finished["arguments"] == {"query": "up"} and finished["outcome"] == "ok"
    assert "prometheus" in finished["text"] and finished["seconds"] > 0
    assert steps["text"]["text"] == "Every target is up: prometheus answers 1."
    assert steps["text"]["html"] == "<p>Every target is up: prometheus answers 1.</p>\n"
    assert answer["html"] == steps["text"]["html"]
    ben, ana = service.client("ben"), service.client("ana")
    found = ben.get("/api/conversations", params={"q": "PROMETHEUS answers"}).json()
    assert [c["id"] for c in found] == [conversation]
    assert ana.get("/api/conversations", params={"q": "prometheus answers"}).json() == []
    assert ben.get("/api/conversations", params={"q": "a.*b(["}).status_code == 200
    exported = ben.get(f"/api/conversations/{conversation}/export", params={"format": "json"})
    assert exported.headers["content-disposition"].startswith("attachment; filename=")
    assert exported.json()["messages"][1]["steps"][2]["outcome"] == "ok"
    markdown = ben.get(f"/api/conversations/{conversation}/export").text
    assert "**Tool `prometheus__query`** (ok" in markdown and "## Jamie" in markdown
    assert ana.get(f"/api/conversations/{conversation}/export").status_code == 404
    assert ben.get(f"/api/conversations/{conversation}/export?format=pdf").status_code == 422
    page = httpx.get(f"{service.portal_url}/c/{conversation}")
    assert page.status_code == 200 and 'src="/app.js"' in page.text


def _assert_tool_result_in(body: dict[str, Any], text: str) -> None:
    tool_messages = [m for m in body["messages"] if m["role"] == "tool"]
    assert tool_messages and text in tool_messages[-1]["content"]


def _scale_script(fake: FakeOllama, answer: str) -> None:
    fake.expect_embed([vector(5)])
    fake.expect_chat(
        call(
            (
                "kubernetes__scale",
                {"namespace": NAMESPACE, "name": "web", "replicas": 3, "kind": "Deployment"},
            )
        )
    )
    fake.expect_chat(say(answer))
    fake.expect_embed([vector(5, 6)])


def test_a_write_waits_for_the_persons_click_then_runs(jamie_service: Jamie, kube: Any) -> None:
    fake = fake_of(jamie_service)
    reset_replicas(kube)
    conversation = jamie_service.new_conversation("ana")
    _scale_script(fake, "Scaled web to 3.")
    seen: dict[str, Any] = {}

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind != "confirm":
            return
        seen["before"] = replicas(kube)
        confirm = f"/api/confirmations/{data['id']}"
        seen["by_ben"] = jamie_service.client("ben").post(confirm, json={"approve": True})
        seen["by_ana"] = jamie_service.client("ana").post(confirm, json={"approve": True})
        seen["again"] = jamie_service.client("ana").post(confirm, json={"approve": False})

    events = jamie_service.ask("ana", conversation, "Scale web to 3 replicas", on_event)
    assert seen["before"] == 1, "the write ran before the click"
    assert seen["by_ben"].status_code == 404
    assert seen["by_ana"].status_code == 200
    assert seen["again"].status_code == 409
    confirmed = first(events, "confirmed")
    assert datetime.fromisoformat(confirmed.pop("at")) <= datetime.now(UTC)
    assert confirmed == {"id": first(events, "confirm")["id"], "approved": True, "by": "ana"}
    finished = first(events, "tool_call_finished")
    assert finished["outcome"] == "ok" and finished["approved_by"] == "ana"
    assert replicas(kube) == 3
    record = [
        r for r in audit_lines(jamie_service.audit_logs["kubernetes"]) if r["tool"] == "scale"
    ][-1]
    assert (record["subject"], record["actor"], record["role"]) == ("ana", "jamie", "operator")
    decision = _confirmation_log(jamie_service, first(events, "turn")["turn_id"])
    assert (decision["user"], decision["tool"], decision["decision"]) == (
        "ana",
        "kubernetes__scale",
        "approved",
    )
    assert decision["arguments"]["replicas"] == 3


def test_a_cancelled_write_never_runs(jamie_service: Jamie, kube: Any) -> None:
    fake = fake_of(jamie_service)
    reset_replicas(kube)
    audited = len(audit_lines(jamie_service.audit_logs["kubernetes"]))
    conversation = jamie_service.new_conversation("ana")
    _scale_script(fake, "I did not scale web: you cancelled it.")

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "confirm":
            cancel = jamie_service.client("ana").post(
                f"/api/confirmations/{data['id']}", json={"approve": False}
            )
            assert cancel.status_code == 200

    events = jamie_service.ask("ana", conversation, "Scale web to 3 replicas", on_event)
    assert first(events, "confirmed")["approved"] is False
    assert first(events, "tool_call_finished")["outcome"] == "refused"
    time.sleep(0.5)
    assert replicas(kube) == 1
    later = audit_lines(jamie_service.audit_logs["kubernetes"])[audited:]
    assert not [r for r in later if r["tool"] == "scale"]
    decision = _confirmation_log(jamie_service, first(events, "turn")["turn_id"])
    assert (decision["user"], decision["decision"]) == ("ana", "cancelled")


def _confirmation_log(jamie: Jamie, turn: str) -> dict[str, Any]:
    """The audit line for a turn's confirmation, from Jamie's output: a bare JSON line."""
    lines = [line for line in jamie.log.read_text().splitlines() if '"confirmation"' in line]
    entries: list[dict[str, Any]] = [json.loads(line) for line in lines]
    (entry,) = [e for e in entries if e["turn"] == turn]
    return entry


def test_recall_finds_earlier_exchanges_by_meaning_and_by_exact_error(jamie_service: Jamie) -> None:
    fake = fake_of(jamie_service)
    earlier = jamie_service.new_conversation("ana")
    fake.expect_embed([vector(2)])
    fake.expect_chat(say("The payments pods were OOMKilled; memory limit raised to 512Mi."))
    fake.expect_embed([vector(2, 3)])
    jamie_service.ask("ana", earlier, "Why did payments restart last night?")
    other = jamie_service.new_conversation("ana")
    fake.expect_embed([vector(4)])
    fake.expect_chat(say("web-7bfb4bc78d-6jt7m: ErrImagePull E4031; the tag did not exist."))
    fake.expect_embed([vector(4, 7)])
    jamie_service.ask("ana", other, "What is wrong with web-7bfb4bc78d-6jt7m?")

    by_meaning = jamie_service.new_conversation("ana")
    fake.expect_embed([vector(2, 3)])
    fake.expect_chat(
        say("Same as before: OOMKilled."),
        check=lambda body: _assert_system_mentions(body, "Why did payments restart last night?"),
    )
    fake.expect_embed([vector(2)])
    events = jamie_service.ask("ana", by_meaning, "payments keeps restarting again")
    hits = first(events, "recall")["hits"]
    assert hits and hits[0]["question"] == "Why did payments restart last night?"
    assert first(events, "recall")["mode"] == "exact_cosine"

    by_text = jamie_service.new_conversation("ana")
    fake.expect_embed([vector(6)])
    fake.expect_chat(
        say("E4031 again: check the image tag."),
        check=lambda body: _assert_system_mentions(body, "web-7bfb4bc78d-6jt7m"),
    )
    fake.expect_embed([vector(6)])
    events = jamie_service.ask("ana", by_text, "seeing E4031 on checkout too")
    hits = first(events, "recall")["hits"]
    assert hits[0]["question"] == "What is wrong with web-7bfb4bc78d-6jt7m?"
    assert hits[0]["matched"] == ["E4031"]


def _assert_system_mentions(body: dict[str, Any], text: str) -> None:
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    assert text in system, system[:500]


def test_status_lists_the_persons_tools_and_the_model(jamie_service: Jamie) -> None:
    ana = jamie_service.client("ana").get("/api/status").json()
    ben = jamie_service.client("ben").get("/api/status").json()
    assert ana["model"]["up"] is True
    tools = {s["name"]: s["tools"] for s in ana["servers"]}
    assert tools["kubernetes"] == {s["name"]: s["tools"] for s in ben["servers"]}["kubernetes"] + 1
    ready = httpx.get(f"{jamie_service.health_url}/readyz").json()
    assert ready["status"] == "ready"


def test_the_portal_is_served_with_the_api_on_one_origin(jamie_service: Jamie) -> None:
    page = httpx.get(f"{jamie_service.portal_url}/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert httpx.get(f"{jamie_service.portal_url}/api/me").status_code == 401


# Without a model, without Redis, without MongoDB


def test_without_a_model_jamie_serves_and_says_how_to_fix_it(
    jamie_deployment: Deployment, redis: Any, ferretdb: Any
) -> None:
    from devstack.base import free_port

    nowhere = f"http://127.0.0.1:{free_port()}"
    jamie = jamie_deployment.start("nomodel", None, redis.url, ferretdb.url, model_host=nowhere)
    try:
        ready = httpx.get(f"{jamie.health_url}/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded" and ready.json()["down"] == ["model"]
        status = jamie.client("ben").get("/api/status").json()["model"]
        assert status["up"] is False
        assert f"No model answers at {nowhere}" in status["detail"]
        assert "OLLAMA_HOST" in status["detail"]
        conversation = jamie.new_conversation("ben")
        asked = jamie.client("ben").post(
            f"/api/conversations/{conversation}/messages", json={"content": "hello?"}
        )
        assert asked.status_code == 503 and nowhere in asked.json()["detail"]
    finally:
        jamie.close()


def test_redis_or_mongodb_down_gives_clear_errors_then_recovers(
    jamie_deployment: Deployment, redis: Any, ferretdb: Any
) -> None:
    redis_host, redis_port = redis.url.split("//")[1].split("/")[0].split(":")
    mongo_host, mongo_port = ferretdb.url.split("//")[1].rstrip("/").split(":")
    redis_relay, mongo_relay = (
        TcpRelay(redis_host, int(redis_port)),
        TcpRelay(mongo_host, int(mongo_port)),
    )
    redis_relay.start()
    try:
        with FakeOllama() as fake:
            fake.always_answer_tags()
            jamie = jamie_deployment.start(
                "outage",
                fake,
                f"redis://127.0.0.1:{redis_relay.port}/0",
                f"mongodb://127.0.0.1:{mongo_relay.port}/",
            )
            try:
                # MongoDB is down from the start: Jamie runs, says which, and signs in anyway.
                ready = httpx.get(f"{jamie.health_url}/readyz")
                assert ready.status_code == 503 and ready.json()["down"] == ["mongodb"]
                assert f"127.0.0.1:{mongo_relay.port}" in ready.json()["checks"]["mongodb"]
                scraped = httpx.get(f"{jamie.health_url}/metrics").text
                assert 'jamie_dependency_up{dependency="mongodb"} 0.0' in scraped
                assert 'jamie_dependency_up{dependency="redis"} 1.0' in scraped
                client = jamie.client("ben")
                listed = client.get("/api/conversations")
                assert listed.status_code == 503
                assert f"MongoDB at 127.0.0.1:{mongo_relay.port}" in listed.json()["detail"]
                mongo_relay.start()
                _eventually(lambda: client.get("/api/conversations").status_code == 200)

                redis_relay.stop()
                started = time.monotonic()
                down = client.get("/api/me")
                assert down.status_code == 503 and time.monotonic() - started < 10
                assert f"Redis at 127.0.0.1:{redis_relay.port}" in down.json()["detail"]
                ready = httpx.get(f"{jamie.health_url}/readyz")
                assert ready.status_code == 503 and ready.json()["down"] == ["redis"]
                redis_relay.start()
                _eventually(lambda: client.get("/api/me").status_code == 200)
                assert httpx.get(f"{jamie.health_url}/readyz").json()["status"] == "ready"
            finally:
                jamie.close()
    finally:
        redis_relay.close()
        mongo_relay.close()


def _eventually(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    pytest.fail("did not recover in time")


def test_hash_password_command_makes_a_hash_the_users_file_accepts() -> None:
    import subprocess
    import sys

    from autodevops.clients.jamie.people import check_password

    done = subprocess.run(
        [sys.executable, "-m", "autodevops.clients.cli", "jamie", "hash-password"],
        input="correct horse\n",
        capture_output=True,
        text=True,
        check=True,
    )
    encoded = done.stdout.strip()
    assert encoded.startswith("scrypt$") and "correct horse" not in encoded
    assert check_password(encoded, "correct horse")
    assert not check_password(encoded, "wrong horse")
    assert json.dumps(encoded)


def test_a_session_ends_after_its_idle_time(
    jamie_deployment: Deployment, redis: Any, ferretdb: Any
) -> None:
    auth = {"users_file": "users.yaml", "cookie_secure": "never", "session_seconds": 2}
    jamie = jamie_deployment.start("short", None, redis.url, ferretdb.url, auth=auth)
    try:
        client = jamie.client("ben")
        for _ in range(3):  # each use slides the expiry
            time.sleep(1)
            assert client.get("/api/me").status_code == 200
        time.sleep(3)
        expired = client.get("/api/me")
        assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    finally:
        jamie.close()


def test_read_results_are_reused_within_a_scope_and_never_across(jamie_service: Jamie) -> None:
    fake = fake_of(jamie_service)
    query = {"query": "count(up)"}

    def ask(user: str) -> None:
        fake.expect_embed([vector(7)])
        fake.expect_chat(call(("prometheus__query", query)))
        fake.expect_chat(say("counted"))
        fake.expect_embed([vector(7)])
        events = jamie_service.ask(user, jamie_service.new_conversation(user), "how many?")
        assert first(events, "tool_call_finished")["outcome"] == "ok"

    def served() -> list[str]:
        lines = audit_lines(jamie_service.audit_logs["prometheus"])
        return [r["subject"] for r in lines if r["arguments"] == query]

    ask("ben")
    ask("ben")
    ask("cleo")  # the same roles as ben: the same scope
    assert served() == ["ben"]
    ask("ana")  # other roles: her own call
    assert served() == ["ben", "ana"]


def _samples(jamie: Jamie) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{jamie.health_url}/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_sign_ins_questions_tool_calls_and_the_cache(jamie_service: Jamie) -> None:
    fake = fake_of(jamie_service)
    before = _samples(jamie_service)
    with httpx.Client(base_url=jamie_service.api_url) as client:
        client.post("/api/session", json={"username": "ben", "password": "not-it"})
    query = {"query": "sum(up)"}
    fake.expect_embed([vector(1)])
    fake.expect_chat(call(("prometheus__query", query)))
    fake.expect_chat(say("one"))
    fake.expect_embed([vector(1)])
    jamie_service.ask("ben", jamie_service.new_conversation("ben"), "sum of up?")
    after = _samples(jamie_service)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("jamie_sign_ins_total", result="wrong") == 1
    assert grew("jamie_questions_total", stop_reason="answer") == 1
    assert grew("jamie_tool_calls_total", server="prometheus", outcome="ok") == 1
    assert grew("jamie_tool_cache_total", result="miss") == 1
    assert grew("jamie_turn_seconds_count") == 1


def test_any_replica_serves_any_person_and_takes_the_click(
    jamie_deployment: Deployment, jamie_service: Jamie, redis: Any, ferretdb: Any, kube: Any
) -> None:
    fake = fake_of(jamie_service)
    other = jamie_deployment.start(
        "replica", fake, redis.url, ferretdb.url, database=jamie_service.database
    )
    try:
        here = jamie_service.client("ana")
        there = httpx.Client(base_url=other.api_url, cookies=here.cookies, timeout=30)
        assert there.get("/api/me").json()["user"] == "ana"
        reset_replicas(kube)
        conversation = jamie_service.new_conversation("ana")
        _scale_script(fake, "Scaled web to 3.")
        clicks = []

        def on_event(kind: str, data: dict[str, Any]) -> None:
            if kind == "confirm":
                clicks.append(
                    there.post(f"/api/confirmations/{data['id']}", json={"approve": True})
                )

        events = jamie_service.ask("ana", conversation, "Scale web to 3 replicas", on_event)
        assert [c.status_code for c in clicks] == [200]
        assert first(events, "tool_call_finished")["approved_by"] == "ana"
        assert replicas(kube) == 3
        listed = [c["id"] for c in there.get("/api/conversations").json()]
        assert conversation in listed
        there.close()
    finally:
        other.close()


class _LeftThePage(Exception):
    pass


def test_leaving_the_page_refuses_the_waiting_write(jamie_service: Jamie, kube: Any) -> None:
    fake = fake_of(jamie_service)
    reset_replicas(kube)
    fake.expect_embed([vector(5)])
    fake.expect_chat(
        call(("kubernetes__scale", {"namespace": NAMESPACE, "name": "web", "replicas": 4}))
    )
    conversation = jamie_service.new_conversation("ana")
    waiting: dict[str, Any] = {}

    def leave(kind: str, data: dict[str, Any]) -> None:
        waiting.update(data)  # the turn's id, then the confirmation's
        if kind == "confirm":
            raise _LeftThePage

    with pytest.raises(_LeftThePage):
        jamie_service.ask("ana", conversation, "Scale web to 4", leave)
    ana = jamie_service.client("ana")
    time.sleep(1)  # the server notices the closed stream

    def abandoned() -> bool:
        late = ana.post(f"/api/confirmations/{waiting['id']}", json={"approve": False})
        assert late.status_code in (200, 409), late.text
        return late.status_code == 409

    _eventually(abandoned, timeout=10)
    assert replicas(kube) == 1
    decision = _confirmation_log(jamie_service, waiting["turn_id"])
    assert decision["decision"] == "abandoned"
