"""Jamie's front door: who may sign in and how often, what a proxy may vouch for, which Host
names are answered, the headers that keep the portal from being framed, and what start-up says."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import httpx
from redis import Redis as SyncRedis

from devstack.jamie import Deployment, Jamie
from tests.jamie_harness import early_in_a_minute


def test_failed_sign_ins_slow_a_name_down_and_the_real_person_still_gets_in(
    jamie_service: Jamie,
) -> None:
    early_in_a_minute()
    with httpx.Client(base_url=jamie_service.api_url) as client:
        codes = [
            client.post("/api/session", json={"username": "cleo", "password": "guess"}).status_code
            for _ in range(8)
        ]
        assert codes == [401] * 8
        held = client.post("/api/session", json={"username": "cleo", "password": "guess"})
        assert held.status_code == 429
        assert held.json()["detail"] == "too many failed sign-ins for cleo; retry in 1 s"
        assert held.headers["retry-after"] == "1"
        time.sleep(1.1)  # the delay, not a lock: the person gets in after it
        right = client.post(
            "/api/session", json={"username": "cleo", "password": "cleo-password-1"}
        )
        assert right.status_code == 200, right.text
    jamie_service.client("carl")  # another name is not held back


def test_people_signed_in_by_a_trusted_proxy(
    jamie_deployment: Deployment, redis: Any, ferretdb: Any
) -> None:
    auth = {
        "cookie_secure": "never",
        "proxy": {
            "trusted_proxies": ["127.0.0.1/32"],
            "group_roles": {"sre": ["operator", "viewer"]},
        },
    }
    jamie = jamie_deployment.start("proxied", None, redis.url, ferretdb.url, auth=auth)
    try:
        # A proxy on this machine that, as proxies do, adds X-Forwarded-For.
        headers = {
            "X-Forwarded-User": "dana",
            "X-Forwarded-Groups": "devs, sre",
            "X-Forwarded-For": "203.0.113.5",
        }
        with httpx.Client(base_url=jamie.api_url) as client:
            me = client.get("/api/me", headers=headers)
            assert me.status_code == 200, me.text
            assert me.json() == {
                "user": "dana",
                "display_name": "dana",
                "roles": ["operator", "viewer"],
                "auth": "proxy",
            }
            assert "jamie_session" in me.headers["set-cookie"]
            assert client.get("/api/me").json()["user"] == "dana"  # the session, no headers
            password = client.post("/api/session", json={"username": "ana", "password": "x"})
            assert password.status_code == 400 and "proxy" in password.json()["detail"]
        # Thirty requests without the cookie: one session for the person, not thirty.
        for _ in range(30):
            assert httpx.get(f"{jamie.api_url}/api/me", headers=headers).status_code == 200
        sessions = SyncRedis.from_url(_jamie_redis(jamie_deployment, "proxied"))
        try:
            index = "jamie:proxied:" + hashlib.sha256(b"dana").hexdigest()
            assert sessions.exists(index)
            keys = [key for key in sessions.scan_iter(match="jamie:session:*")]
            owners = [json.loads(sessions.get(key) or b"{}").get("user") for key in keys]
            assert owners.count("dana") == 1
        finally:
            sessions.close()
        utf8 = httpx.get(
            f"{jamie.api_url}/api/me", headers=[(b"X-Forwarded-User", "josé".encode())]
        )
        assert utf8.status_code == 200 and utf8.json()["user"] == "josé"
        refused = {
            "dana lima": "whitespace",
            "dana\tx": "whitespace",
            "d" * 60_000: "longer than 256 characters",
        }
        for user, reason in refused.items():
            answer = httpx.get(f"{jamie.api_url}/api/me", headers={"X-Forwarded-User": user})
            assert answer.status_code == 401 and reason in answer.json()["detail"]
            assert "set-cookie" not in answer.headers
        twice = httpx.get(
            f"{jamie.api_url}/api/me",
            headers=[("X-Forwarded-User", "dana"), ("X-Forwarded-User", "admin")],
        )
        assert twice.status_code == 401 and "sent 2 times" in twice.json()["detail"]
    finally:
        jamie.close()


def test_forwarded_for_never_makes_a_stranger_a_trusted_proxy(
    jamie_deployment: Deployment, redis: Any, ferretdb: Any
) -> None:
    auth = {
        "cookie_secure": "never",
        "users_file": "users.yaml",
        "proxy": {"trusted_proxies": ["10.9.8.0/24"], "group_roles": {"ops": ["operator"]}},
    }
    jamie = jamie_deployment.start("spoofed", None, redis.url, ferretdb.url, auth=auth)
    try:
        spoof = {
            "X-Forwarded-For": "10.9.8.7",
            "X-Real-IP": "10.9.8.7",
            "Forwarded": "for=10.9.8.7",
            "X-Forwarded-User": "alice",
            "X-Forwarded-Groups": "ops",
        }
        answer = httpx.get(f"{jamie.api_url}/api/me", headers=spoof)
        assert answer.status_code == 401
        assert "set-cookie" not in answer.headers
    finally:
        jamie.close()


def _jamie_redis(deployment: Deployment, name: str) -> str:
    return (deployment.workdir / f"{name}-redis-url").read_text()


def test_the_portal_refuses_foreign_hosts_and_cannot_be_framed(jamie_service: Jamie) -> None:
    for base in (jamie_service.portal_url, jamie_service.api_url):
        port = base.rsplit(":", 1)[1]
        foreign = httpx.get(f"{base}/api/me", headers={"Host": f"rebound.example:{port}"})
        assert foreign.status_code == 403
        assert "rebound.example" in foreign.json()["detail"]
        assert "allowed_hosts" in foreign.json()["detail"]
    page = httpx.get(f"{jamie_service.portal_url}/")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    api = httpx.get(f"{jamie_service.api_url}/api/me")
    assert api.status_code == 401 and api.headers["x-content-type-options"] == "nosniff"
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert httpx.get(f"{jamie_service.api_url}{path}").status_code == 404


def test_start_up_says_where_jamie_listens(jamie_service: Jamie) -> None:
    log = jamie_service.log.read_text()
    assert f"Jamie portal: {jamie_service.portal_url}/" in log
    assert f"Jamie API: {jamie_service.api_url}/api" in log
    assert f"Jamie health: {jamie_service.health_url}/readyz" in log
