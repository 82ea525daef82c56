"""Jamie acting for a person: its own token proves it is Jamie, the headers name the person, and
the policy's `delegates` bound the roles it may hand on. Against a real Prometheus server over
HTTP, started as users start it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import McpPool
from autodevops.common.config import ConfigError
from autodevops.common.headers import ON_BEHALF_OF_HEADER, ON_BEHALF_OF_ROLES_HEADER
from autodevops.common.identity import DelegationRefused, Principal, split_roles
from autodevops.servers.core.identity import act_for
from autodevops.servers.core.policy import Policy, load_policy
from devstack.services import audit_lines
from tests.conftest import TEST_POLICY, TOKENS, HttpServer
from tests.mcp_helpers import INITIALIZE, MCP_HEADERS, client_for

JAMIE_TOKEN = "jamie-token-0123456789"
DELEGATES: list[dict[str, Any]] = [
    {"subject": "jamie", "roles": ["query-only", "team-a"], "calls_per_minute": 8},
    {"subject": "system:serviceaccount:autodevops:*", "roles": ["no-rules", "query-only"]},
]
POLICY = Policy.model_validate({**TEST_POLICY, "delegates": DELEGATES})
JAMIE = Principal("jamie", ("no-rules",), "http")


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({**TEST_POLICY, "delegates": DELEGATES}), encoding="utf-8")
    return path


@pytest.fixture
def tokens_path(tmp_path: Path) -> Path:
    entries = [
        {"token": token, "subject": f"user-{role}", "roles": [role]}
        for role, token in TOKENS.items()
    ]
    entries.append({"token": JAMIE_TOKEN, "subject": "jamie", "roles": ["no-rules"]})
    path = tmp_path / "tokens.yaml"
    path.write_text(yaml.safe_dump(entries), encoding="utf-8")
    return path


@pytest.fixture
def server(prometheus: Any, start_http_server: Any) -> HttpServer:
    started: HttpServer = start_http_server(prometheus.url)
    return started


def jamie_for(server: HttpServer, person: str, *roles: str) -> McpPool:
    """What Jamie builds per person: one pool whose endpoints carry the person and roles."""
    endpoint = HttpEndpoint(
        "prometheus", server.mcp_url, token=JAMIE_TOKEN, on_behalf_of=(person, roles)
    )
    return McpPool([endpoint])


@pytest.mark.parametrize(
    ("delegate", "expected"),
    [
        (
            {"subject": "jamie", "roles": ["viewer", "admin"]},
            "delegates.0.roles: unknown role(s) admin (the policy has viewer)",
        ),
        ({"subject": "jamie", "roles": []}, "delegates.0.roles: List should have at least 1 item"),
        ({"roles": ["viewer"]}, "delegates.0.subject: Field required"),
        (
            {"subject": "jamie", "roles": ["viewer"], "group": "x"},
            "delegates.0.group: Extra inputs are not permitted",
        ),
    ],
)
def test_delegates_are_validated(tmp_path: Path, delegate: dict[str, Any], expected: str) -> None:
    path = tmp_path / "bad.yaml"
    policy = {
        "server": "prometheus",
        "roles": {"viewer": {"tools": ["*"]}},
        "delegates": [delegate],
    }
    path.write_text(yaml.safe_dump(policy))
    with pytest.raises(ConfigError) as error:
        load_policy(path)
    assert str(error.value).startswith(f"{path}: {expected}"), error.value


def test_delegable_roles_are_the_union_of_matching_entries_in_file_order() -> None:
    assert POLICY.delegable_roles("jamie") == ("query-only", "team-a")
    sa = "system:serviceaccount:autodevops:jamie"
    assert POLICY.delegable_roles(sa) == ("no-rules", "query-only")
    both = Policy.model_validate(
        {**TEST_POLICY, "delegates": [*DELEGATES, {**DELEGATES[1], "subject": "jam*"}]}
    )
    assert both.delegable_roles("jamie") == ("query-only", "team-a", "no-rules")
    assert POLICY.delegable_roles("user-viewer") == ()


def test_act_for_keeps_the_asserted_roles_the_caller_may_hand_on() -> None:
    person = act_for(POLICY, JAMIE, "alice", ["viewer", "team-a", "query-only", "team-a"])
    assert person == Principal("alice", ("team-a", "query-only"), "http", actor="jamie")
    assert act_for(POLICY, JAMIE, "bob", ["viewer"]).roles == ()
    assert act_for(POLICY, JAMIE, "bob", []).roles == ()


def test_act_for_refuses_a_caller_no_delegates_entry_names() -> None:
    caller = Principal("user-viewer", ("viewer",), "http")
    with pytest.raises(DelegationRefused) as refused:
        act_for(POLICY, caller, "alice", ["viewer"])
    assert str(refused.value) == (
        "user-viewer may not act on behalf of others: "
        "no `delegates` entry in the prometheus policy names it"
    )


@pytest.mark.parametrize(
    ("person", "why"),
    [
        ("", "is empty"),
        ("a" * 257, "is longer than 256 characters"),
        ("Alice Smith", "contains whitespace"),
        ("alice\tx", "contains whitespace"),
        ("alice\x00", "contains a non-printable character"),
    ],
)
def test_act_for_refuses_an_unusable_person_name(person: str, why: str) -> None:
    with pytest.raises(DelegationRefused) as refused:
        act_for(POLICY, JAMIE, person, ["query-only"])
    assert str(refused.value).startswith(f"{ON_BEHALF_OF_HEADER}: the person's name {why}")


def test_roles_header_is_comma_separated() -> None:
    assert split_roles(" query-only, ,team-a ,,") == ("query-only", "team-a")
    assert split_roles("") == ()


async def test_jamie_acting_for_a_person_lists_and_calls_only_the_persons_tools(
    server: HttpServer,
) -> None:
    async with jamie_for(server, "alice", "query-only") as pool:
        assert [tool.remote_name for tool in pool.tools()] == ["query"]
        result = await pool.call("prometheus__query", {"query": "up"})
        assert result.outcome == "ok", result.text
    record = audit_lines(server.audit_log)[-1]
    assert record["subject"] == "alice" and record["actor"] == "jamie"
    assert record["roles"] == ["query-only"] and record["role"] == "query-only"
    assert record["decision"] == "allow" and record["transport"] == "http"


async def test_a_name_beyond_ascii_arrives_whole(server: HttpServer) -> None:
    async with jamie_for(server, "josé.müller@example.com", "query-only") as pool:
        result = await pool.call("prometheus__query", {"query": "up"})
        assert result.outcome == "ok", result.text
    assert audit_lines(server.audit_log)[-1]["subject"] == "josé.müller@example.com"


async def test_roles_jamie_may_not_hand_on_are_dropped(server: HttpServer) -> None:
    async with jamie_for(server, "bob", "viewer") as pool:
        assert pool.tools() == []
    headers = {ON_BEHALF_OF_HEADER: "bob", ON_BEHALF_OF_ROLES_HEADER: "viewer"}
    async with client_for(server.mcp_url, JAMIE_TOKEN, **headers) as client:
        result = await client.call_tool("query", {"query": "up"}, raise_on_error=False)
    assert result.is_error
    record = audit_lines(server.audit_log)[-1]
    assert (record["subject"], record["actor"], record["roles"]) == ("bob", "jamie", [])
    assert record["decision"] == "deny" and record["reason"] == "tool_not_allowed"

    async with jamie_for(server, "carol", "viewer", "team-a", "query-only") as pool:
        assert len(pool.tools()) == 10
        result = await pool.call("prometheus__label_values", {"label": "namespace"})
        assert result.text.splitlines()[1:] == ["team-a"]
    record = audit_lines(server.audit_log)[-1]
    assert (record["subject"], record["actor"]) == ("carol", "jamie")
    assert record["roles"] == ["team-a", "query-only"] and record["role"] == "team-a"


async def test_without_the_header_jamie_is_itself(server: HttpServer) -> None:
    async with McpPool([HttpEndpoint("prometheus", server.mcp_url, token=JAMIE_TOKEN)]) as pool:
        names = {tool.remote_name for tool in pool.tools()}
        assert len(names) == 8 and not names & {"rules", "targets"}
        assert (await pool.call("prometheus__query", {"query": "up"})).outcome == "ok"
    record = audit_lines(server.audit_log)[-1]
    assert (record["subject"], record["actor"], record["roles"]) == ("jamie", None, ["no-rules"])


async def test_a_caller_no_delegates_entry_names_is_403(server: HttpServer) -> None:
    detail = (
        "user-viewer may not act on behalf of others: "
        "no `delegates` entry in the prometheus policy names it"
    )
    viewer = {"Authorization": f"Bearer {TOKENS['viewer']}", ON_BEHALF_OF_HEADER: "alice"}
    jamie = {"Authorization": f"Bearer {JAMIE_TOKEN}", ON_BEHALF_OF_HEADER: "Alice Smith"}
    async with httpx.AsyncClient(headers=MCP_HEADERS) as http:
        response = await http.post(server.mcp_url, json=INITIALIZE, headers=viewer)
        assert response.status_code == 403
        assert response.json() == {"error": "delegation refused", "detail": detail}
        response = await http.post(server.mcp_url, json=INITIALIZE, headers=jamie)
        assert response.status_code == 403 and "contains whitespace" in response.json()["detail"]
    endpoint = HttpEndpoint(
        "prometheus", server.mcp_url, token=TOKENS["viewer"], on_behalf_of=("alice", ("viewer",))
    )
    assert await endpoint.http_refusal() == f"HTTP 403 from {server.mcp_url}: {detail}"
    refused = [
        (line["subject"], line["reason"], line["arguments"]["on_behalf_of"], line["actor"])
        for line in audit_lines(server.audit_log)
    ]
    assert refused == [
        ("user-viewer", "delegation_refused", "alice", None),
        ("jamie", "delegation_refused", "Alice Smith", None),
        ("user-viewer", "delegation_refused", "alice", None),
    ]


def test_roles_header_without_the_person_is_400(server: HttpServer) -> None:
    headers = {
        "Authorization": f"Bearer {JAMIE_TOKEN}",
        ON_BEHALF_OF_ROLES_HEADER: "query-only",
        **MCP_HEADERS,
    }
    response = httpx.post(server.mcp_url, json=INITIALIZE, headers=headers)
    assert response.status_code == 400
    assert ON_BEHALF_OF_HEADER in response.json()["detail"]
    del headers["Authorization"]
    assert httpx.post(server.mcp_url, json=INITIALIZE, headers=headers).status_code == 401


async def test_rate_limit_is_per_person(server: HttpServer) -> None:
    # query-only allows 3 calls per minute per subject.
    async with jamie_for(server, "alice", "query-only") as alice:
        for _ in range(3):
            assert (await alice.call("prometheus__query", {"query": "up"})).outcome == "ok"
        refused = await alice.call("prometheus__query", {"query": "up"})
        assert refused.outcome == "error"
        assert "rate limit: 3 calls per minute for alice" in refused.text
    async with jamie_for(server, "dave", "query-only") as dave:
        for _ in range(3):
            assert (await dave.call("prometheus__query", {"query": "up"})).outcome == "ok"
    denied = [line for line in audit_lines(server.audit_log) if line["decision"] == "deny"]
    assert [(line["subject"], line["reason"]) for line in denied] == [("alice", "rate_limited")]


async def test_a_person_named_like_a_token_subject_has_a_count_of_its_own(
    server: HttpServer,
) -> None:
    async with jamie_for(server, "user-query-only", "query-only") as impostor:
        for _ in range(3):
            assert (await impostor.call("prometheus__query", {"query": "up"})).outcome == "ok"
        assert (await impostor.call("prometheus__query", {"query": "up"})).outcome == "error"
    async with client_for(server.mcp_url, TOKENS["query-only"]) as real:
        for _ in range(3):
            result = await real.call_tool("query", {"query": "up"}, raise_on_error=False)
            assert not result.is_error, result


async def test_a_delegate_inventing_people_meets_its_ceiling(server: HttpServer) -> None:
    outcomes = []
    for n in range(10):
        async with jamie_for(server, f"invented-{n}", "query-only") as person:
            outcomes.append(await person.call("prometheus__query", {"query": "up"}))
    assert [o.outcome for o in outcomes] == ["ok"] * 8 + ["error"] * 2
    assert "jamie may make 8 calls per minute for everyone it acts for" in outcomes[-1].text
    denied = [line for line in audit_lines(server.audit_log) if line["decision"] == "deny"]
    assert [(d["subject"], d["actor"], d["reason"]) for d in denied] == [
        ("invented-8", "jamie", "rate_limited"),
        ("invented-9", "jamie", "rate_limited"),
    ]


def test_a_person_that_is_not_percent_encoded_utf8_is_400(server: HttpServer) -> None:
    response = httpx.post(
        server.mcp_url,
        json={},
        headers={"Authorization": f"Bearer {JAMIE_TOKEN}", ON_BEHALF_OF_HEADER: "jos%E9"},
    )
    assert response.status_code == 400
    assert "not percent-encoded UTF-8" in response.json()["detail"]
