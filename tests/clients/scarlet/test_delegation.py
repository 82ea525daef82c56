"""Scarlet's API for a person through a delegate (Jamie), and who may decide an action: the
real Scarlet on the local stack's PostgreSQL, called as Jamie calls it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest

from autodevops.common.headers import ON_BEHALF_OF_HEADER, ON_BEHALF_OF_ROLES_HEADER
from tests.scarlet_harness import (
    JAMIE_DELEGATES,
    Scarlet,
    scarlet_factory,
    waiting_run,
)

__all__ = ["scarlet_factory"]  # the shared fixture, used here under its own name


@pytest.fixture(scope="module")
def scarlet(scarlet_factory: Callable[..., Scarlet]) -> Scarlet:
    return scarlet_factory("delegation", delegates=JAMIE_DELEGATES)


def call(
    scarlet: Scarlet,
    method: str,
    path: str,
    *,
    token: str = "jamie",
    person: str | None = None,
    roles: str | None = None,
    body: Any = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {scarlet.tokens[token]}"}
    if person is not None:
        headers[ON_BEHALF_OF_HEADER] = quote(person, safe="")
    if roles is not None:
        headers[ON_BEHALF_OF_ROLES_HEADER] = roles
    return httpx.request(method, f"{scarlet.api}{path}", headers=headers, json=body, timeout=10)


def test_a_delegate_acts_for_a_person_with_the_roles_it_may_hand_on(scarlet: Scarlet) -> None:
    me = call(scarlet, "GET", "/v1/me", person="ana", roles="operator, viewer, approver, lead")
    assert me.status_code == 200, me.text
    # `approver` and `lead` are not Jamie's to hand on: dropped, as the servers drop them.
    assert me.json() == {
        "subject": "ana",
        "roles": ["operator", "viewer"],
        "acting_for_by": "jamie",
        "may_view": True,
        "may_submit": False,
        "may_decide": True,
    }
    ben = call(scarlet, "GET", "/v1/me", person="ben", roles="viewer").json()
    assert (ben["may_view"], ben["may_decide"]) == (True, False)
    nobody = call(scarlet, "GET", "/v1/runs", person="carl", roles="")
    assert nobody.status_code == 403 and "carl lacks the viewer role" in nobody.text
    itself = call(scarlet, "GET", "/v1/me").json()
    assert (itself["subject"], itself["acting_for_by"]) == ("jamie", None)


@pytest.mark.parametrize(
    ("token", "person", "roles", "status", "says"),
    [
        ("bob", "ana", "operator", 403, "bob may not act on behalf of others"),
        ("alice", "ana", "viewer", 403, "no `delegates` entry in Scarlet's configuration"),
        ("jamie", None, "operator", 403, "X-Autodevops-On-Behalf-Of-Roles needs"),
        ("jamie", "two words", "viewer", 403, "contains whitespace"),
        ("jamie", "%ff", "viewer", 403, "not percent-encoded UTF-8"),
    ],
)
def test_an_asserted_identity_from_a_caller_that_may_not_delegate_is_refused(
    scarlet: Scarlet, token: str, person: str | None, roles: str, status: int, says: str
) -> None:
    headers = {"Authorization": f"Bearer {scarlet.tokens[token]}"}
    if person is not None:
        # "%ff" is sent as it is: a percent-encoding of no UTF-8 at all.
        headers[ON_BEHALF_OF_HEADER] = person if person == "%ff" else quote(person, safe="")
    headers[ON_BEHALF_OF_ROLES_HEADER] = roles
    answer = httpx.get(f"{scarlet.api}/v1/actions", headers=headers, timeout=10)
    assert answer.status_code == status and says in answer.json()["detail"], answer.text
    anonymous = httpx.get(f"{scarlet.api}/v1/me", headers={ON_BEHALF_OF_HEADER: "ana"}, timeout=10)
    assert anonymous.status_code == 401


def test_only_an_approver_role_decides_and_the_decision_names_the_person(
    scarlet: Scarlet,
) -> None:
    run_id, _ = waiting_run(scarlet, "fp-delegated")
    listing = call(scarlet, "GET", "/v1/actions", person="ben", roles="viewer").json()
    [action] = [a for a in listing if a["run"] == run_id]
    assert action["approver_roles"] == ["approver", "operator"] and action["may_decide"] is False
    dry_run = action["dry_run"]
    assert dry_run["outcome"] == "ok" and "restart" in dry_run["result"].lower(), dry_run
    path = f"/v1/actions/{action['id']}"

    refused = call(scarlet, "POST", f"{path}/approve", person="ben", roles="viewer", body={})
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        f"ben may not decide action {action['id']} (kubernetes__rollout_restart): that takes "
        "one of the roles approver, operator; ben has viewer"
    )
    # A role Jamie may not hand on gives nothing, whatever the person is said to have.
    lifted = call(scarlet, "POST", f"{path}/approve", person="ben", roles="approver", body={})
    assert lifted.status_code == 403 and "ben has none" in lifted.text
    too_long = {"run": run_id, "reason": "x" * 2001}
    long_answer = call(
        scarlet, "POST", f"{path}/reject", person="ana", roles="operator", body=too_long
    )
    assert long_answer.status_code == 422 and "reason" in long_answer.text
    wrong_run = call(
        scarlet,
        "POST",
        f"{path}/reject",
        person="ana",
        roles="operator",
        body={"run": run_id + 999},
    )
    assert wrong_run.status_code == 404
    assert wrong_run.json()["detail"] == f"no action {action['id']} of run {run_id + 999}"
    unknown = call(scarlet, "POST", "/v1/actions/987654/reject", person="ana", roles="operator")
    assert unknown.status_code == 404

    decided = call(
        scarlet,
        "POST",
        f"{path}/reject",
        person="ana",
        roles="operator, viewer",
        body={"run": run_id, "reason": "the cache is warming up"},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json() == {
        "action": action["id"],
        "status": "rejected",
        "decided_by": "ana",
        "through": "jamie",
        "reason": "the cache is warming up",
    }
    again = call(scarlet, "POST", f"{path}/approve", person="ana", roles="operator", body={})
    assert again.status_code == 409 and "already rejected by ana" in again.text

    detail = scarlet.wait_run(run_id, {"completed"})
    [step] = [s for s in detail["steps"] if s["kind"] == "action_decided"]
    assert step["detail"] == {
        "action": action["id"],
        "tool": "kubernetes__rollout_restart",
        "decision": "rejected",
        "by": "ana",
        "through": "jamie",
        "reason": "the cache is warming up",
    }
    with psycopg.connect(scarlet.dsn) as db:
        audit = db.execute(
            "SELECT decision, decided_by, reason FROM approvals WHERE action_id = %s",
            (action["id"],),
        ).fetchall()
    assert audit == [("rejected", "ana", "the cache is warming up")]
