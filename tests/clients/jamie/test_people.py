"""Who a person is: password hashes, the users file (errors, reload) and the proxy's headers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from autodevops.clients.jamie.config import Proxy
from autodevops.clients.jamie.people import (
    Person,
    ProxyIdentity,
    ProxyRefused,
    UsersFile,
    check_password,
    hash_password,
)
from autodevops.common.config import ConfigError

ANA_HASH = hash_password("correct horse")
BO_HASH = hash_password("battery staple")


def write_users(path: Path, users: list[dict[str, object]]) -> Path:
    path.write_text(yaml.safe_dump(users), encoding="utf-8")
    return path


def test_hash_has_the_documented_form_and_checks() -> None:
    parts = ANA_HASH.split("$")
    assert parts[:4] == ["scrypt", str(2**15), "8", "1"]
    assert len(parts) == 6
    assert check_password(ANA_HASH, "correct horse")
    assert not check_password(ANA_HASH, "correct horse ")
    assert hash_password("correct horse") != ANA_HASH  # a fresh salt every time


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plain-text",
        "bcrypt$2$8$1$c2FsdHNhbHRzYWx0$aGFzaA==",
        ANA_HASH.replace("scrypt$32768", "scrypt$1000"),  # n not a power of two
        ANA_HASH.replace("scrypt$32768", "scrypt$1073741824"),  # asks for far too much memory
        ANA_HASH[:-4] + "!!!!",  # not base64
        ANA_HASH + "$extra",
    ],
)
def test_a_malformed_hash_matches_nothing(encoded: str) -> None:
    assert not check_password(encoded, "correct horse")


def test_users_file_verifies_passwords(tmp_path: Path) -> None:
    path = write_users(
        tmp_path / "users.yaml",
        [
            {
                "username": "ana",
                "password_hash": ANA_HASH,
                "roles": ["viewer", "operator"],
                "display_name": "Ana Lima",
            },
            {"username": "bo", "password_hash": BO_HASH, "roles": []},
        ],
    )
    users = UsersFile(path)
    assert users.verify("ana", "correct horse") == Person(
        "ana", "Ana Lima", ("viewer", "operator"), "password"
    )
    assert users.verify("bo", "battery staple") == Person("bo", "bo", (), "password")
    assert users.verify("ana", "battery staple") is None
    assert users.verify("nobody", "correct horse") is None


def test_an_unknown_user_costs_a_hash_like_a_known_one(tmp_path: Path) -> None:
    path = write_users(
        tmp_path / "users.yaml", [{"username": "ana", "password_hash": ANA_HASH, "roles": []}]
    )
    users = UsersFile(path)
    users.verify("nobody", "warm-up")  # the dummy hash is made once, on first need

    def seconds(username: str) -> float:
        started = time.perf_counter()
        assert users.verify(username, "wrong") is None
        return time.perf_counter() - started

    known = min(seconds("ana") for _ in range(3))
    unknown = min(seconds("nobody") for _ in range(3))
    assert unknown > known / 3


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (
            [
                {"username": "ana", "password_hash": ANA_HASH, "roles": []},
                {"username": "bo", "password_hash": BO_HASH, "roles": []},
                {"username": "cy", "password_hash": "cy-password", "roles": []},
            ],
            "2.password_hash: Value error, not a scrypt hash",
        ),
        (
            [
                {"username": "ana", "password_hash": ANA_HASH, "roles": []},
                {"username": "ana", "password_hash": BO_HASH, "roles": []},
            ],
            "1.username: 'ana' is already entry 0",
        ),
        (
            [{"username": "ana", "password_hash": ANA_HASH, "roles": [], "email": "a@b"}],
            "0.email: Extra inputs are not permitted",
        ),
        ([{"username": "ana", "password_hash": ANA_HASH}], "0.roles: Field required"),
        (
            [{"username": "ana lima", "password_hash": ANA_HASH, "roles": []}],
            "0.username: Value error, the person's name contains whitespace",
        ),
        (
            [{"username": "ana", "password_hash": ANA_HASH, "roles": ["viewer,admin"]}],
            "0.roles.0: Value error, a role name cannot be empty or contain a comma",
        ),
        ({"ana": ANA_HASH}, "(top level): expected a list of users"),
    ],
)
def test_users_file_errors_name_the_file_the_entry_and_the_field(
    tmp_path: Path, entries: object, expected: str
) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(yaml.safe_dump(entries), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        UsersFile(path)
    assert f"{path}: {expected}" in str(caught.value)
    assert ANA_HASH not in str(caught.value)


def test_a_missing_users_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match=f"{path}: cannot read"):
        UsersFile(path)


def test_users_file_is_reread_when_it_changes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_users(
        tmp_path / "users.yaml",
        [{"username": "ana", "password_hash": ANA_HASH, "roles": ["viewer"]}],
    )
    users = UsersFile(path)
    assert users.verify("ana", "correct horse") is not None

    def replace(entries: list[dict[str, object]] | str) -> None:
        """Write a new version aside and rename it over the old, as a Secret update does."""
        staged = tmp_path / "users.staged"
        staged.write_text(
            entries if isinstance(entries, str) else yaml.safe_dump(entries), encoding="utf-8"
        )
        staged.replace(path)

    replace(
        [
            {"username": "ana", "password_hash": ANA_HASH, "roles": ["operator"]},
            {"username": "bo", "password_hash": BO_HASH, "roles": []},
        ]
    )
    assert users.verify("bo", "battery staple") is not None
    ana = users.verify("ana", "correct horse")
    assert ana is not None and ana.roles == ("operator",)

    # A broken update is logged and the users read before stay in force.
    replace("- username: [unclosed")
    with caplog.at_level("WARNING", logger="autodevops.jamie.people"):
        assert users.verify("bo", "battery staple") is not None
    assert f"{path}: not valid YAML" in caplog.text
    assert "the previous content stays in force" in caplog.text

    # Rewritten in place: the modification time alone tells.
    path.write_text(
        yaml.safe_dump([{"username": "bo", "password_hash": BO_HASH, "roles": []}]),
        encoding="utf-8",
    )
    later = path.stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(later, later))
    assert users.verify("ana", "correct horse") is None
    assert users.verify("bo", "battery staple") is not None


def raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers as the server receives them: bytes, values in UTF-8."""
    return [(name.encode("latin-1"), value.encode("utf-8")) for name, value in headers.items()]


PROXY = Proxy(
    trusted_proxies=["10.1.0.0/16", "fd00::/64"],
    group_roles={
        "sre": ["operator", "viewer"],
        "dev": ["viewer", "developer"],
        "finance": ["billing"],
    },
    default_roles=["viewer"],
)


def test_proxy_headers_from_a_trusted_proxy_name_the_person() -> None:
    identity = ProxyIdentity(PROXY)
    person = identity.person(
        "10.1.4.7", raw({"X-Forwarded-User": "ana", "X-Forwarded-Groups": "dev, sre,unknown,"})
    )
    # Default roles first, then each group's in the proxy's order, each role once.
    assert person == Person("ana", "ana", ("viewer", "developer", "operator"), "proxy")


def test_proxy_headers_are_matched_whatever_their_case() -> None:
    identity = ProxyIdentity(PROXY)
    headers = {"x-forwarded-user": "bo", "X-FORWARDED-GROUPS": "finance"}
    assert identity.person("10.1.0.1", raw(headers)) == Person(
        "bo", "bo", ("viewer", "billing"), "proxy"
    )
    custom = ProxyIdentity(
        PROXY.model_copy(update={"user_header": "X-Auth-Request-User", "groups_header": "X-G"})
    )
    assert custom.person("10.1.0.1", raw({"x-auth-request-user": "cy", "x-g": "sre"})) == Person(
        "cy", "cy", ("viewer", "operator"), "proxy"
    )
    assert custom.person("10.1.0.1", raw({"X-Forwarded-User": "cy"})) is None


@pytest.mark.parametrize("peer", [None, "", "10.2.0.1", "127.0.0.1", "fd01::1", "not-an-ip"])
def test_proxy_headers_from_anyone_else_are_ignored(peer: str | None) -> None:
    identity = ProxyIdentity(PROXY)
    assert (
        identity.person(peer, raw({"X-Forwarded-User": "admin", "X-Forwarded-Groups": "sre"}))
        is None
    )


@pytest.mark.parametrize("peer", ["fd00::5", "::ffff:10.1.2.3"])
def test_proxy_trusted_over_ipv6(peer: str) -> None:
    assert ProxyIdentity(PROXY).person(peer, raw({"X-Forwarded-User": "ana"})) is not None


@pytest.mark.parametrize("user", ["", "   "])
def test_a_trusted_proxy_without_a_user_names_nobody(user: str) -> None:
    identity = ProxyIdentity(PROXY)
    assert identity.person("10.1.0.1", raw({"X-Forwarded-User": user})) is None
    assert identity.person("10.1.0.1", raw({"X-Forwarded-Groups": "sre"})) is None


def test_proxy_without_groups_gets_the_default_roles() -> None:
    person = ProxyIdentity(PROXY).person("10.1.0.1", raw({"X-Forwarded-User": "dee"}))
    assert person is not None and person.roles == ("viewer",)


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        ("ana lima", "whitespace"),
        ("ana\tlima", "whitespace"),
        ("ana\x07", "non-printable"),
        ("a" * 60_000, "longer than 256 characters"),
    ],
)
def test_a_proxy_user_name_the_servers_would_refuse_is_refused(user: str, reason: str) -> None:
    with pytest.raises(ProxyRefused, match=f"X-Forwarded-User: .*{reason}"):
        ProxyIdentity(PROXY).person("10.1.0.1", raw({"X-Forwarded-User": user}))


def test_a_proxy_user_name_arrives_as_utf8() -> None:
    person = ProxyIdentity(PROXY).person("10.1.0.1", raw({"X-Forwarded-User": "josé"}))
    assert person is not None and person.user == "josé"
    with pytest.raises(ProxyRefused, match="X-Forwarded-User: not UTF-8"):
        ProxyIdentity(PROXY).person("10.1.0.1", [(b"x-forwarded-user", b"jos\xe9")])


@pytest.mark.parametrize("header", [b"x-forwarded-user", b"x-forwarded-groups"])
def test_a_proxy_header_sent_twice_is_refused(header: bytes) -> None:
    headers = [(b"x-forwarded-user", b"ana"), (b"x-forwarded-groups", b"dev"), (header, b"sre")]
    with pytest.raises(ProxyRefused, match="sent 2 times"):
        ProxyIdentity(PROXY).person("10.1.0.1", headers)
