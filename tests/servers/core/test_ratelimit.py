"""Rate limits a delegate cannot bend: counted per (actor, subject), with a ceiling per actor,
in bounded memory."""

from __future__ import annotations

from autodevops.servers.core.policy import Policy
from autodevops.servers.core.ratelimit import RateLimiter


def test_a_person_named_by_a_delegate_never_shares_a_token_subjects_count() -> None:
    limiter = RateLimiter()
    for moment in range(3):
        assert limiter.allow_call("jamie", "victim-bot", 3, None, now=moment) is None
    assert limiter.allow_call("jamie", "victim-bot", 3, None, now=4) == "subject"
    assert limiter.allow("victim-bot", 3, now=4), "the real victim-bot keeps its own count"
    assert limiter.allow_call("other-delegate", "victim-bot", 3, None, now=4) is None


def test_the_actor_ceiling_bounds_invented_people() -> None:
    limiter = RateLimiter()
    answers = [limiter.allow_call("jamie", f"person-{n}", 3, 5, now=n / 10) for n in range(8)]
    assert answers == [None] * 5 + ["actor"] * 3
    assert limiter.allow("person-9", 3, now=1), "the ceiling is the delegate's, not a person's"
    assert limiter.allow_call("jamie", "person-0", 3, 5, now=121) is None, "a new window"


def test_a_refused_call_is_not_counted() -> None:
    limiter = RateLimiter()
    assert limiter.allow_call("jamie", "a", 1, 2, now=0) is None
    assert limiter.allow_call("jamie", "a", 1, 2, now=1) == "subject"
    assert limiter.allow_call("jamie", "b", 1, 2, now=2) is None, "the refusal used no ceiling"
    assert limiter.allow_call("jamie", "c", 1, 2, now=3) == "actor"


def test_memory_is_bounded_by_the_number_of_keys() -> None:
    limiter = RateLimiter(max_keys=100)
    for n in range(10_000):
        limiter.allow_call("jamie", f"person-{n}", 5, None, now=n / 1000)
    assert len(limiter) == 100


def test_the_count_slides_with_the_window() -> None:
    limiter = RateLimiter(window_seconds=60)
    assert [limiter.allow("u", 2, now=t) for t in (0, 1, 2)] == [True, True, False]
    assert not limiter.allow("u", 2, now=59.9)
    assert limiter.allow("u", 2, now=61), "the previous window's calls weigh less as it passes"
    assert not limiter.allow("u", 2, now=62)


def test_the_ceiling_of_a_delegate_is_the_lowest_entry_naming_it() -> None:
    policy = Policy.model_validate(
        {
            "server": "x",
            "roles": {"r": {"tools": ["*"]}},
            "delegates": [
                {"subject": "jamie", "roles": ["r"], "calls_per_minute": 50},
                {"subject": "j*", "roles": ["r"]},
            ],
        }
    )
    assert policy.delegate_ceiling("jamie") == 50
    assert policy.delegate_ceiling("joan") == 600
    assert policy.delegate_ceiling("scarlet") is None
