"""One error for every backing service that cannot be reached or did not answer in time.

Prometheus, the Kubernetes API, PostgreSQL, Redis, MongoDB: the message always reads
`<service> at <host:port>: <what happened>. Check: <what to look at>`, and credentials are
scrubbed from it once, here.
"""

from __future__ import annotations

from collections.abc import Iterable

from .redact import redact_text

SCRUBBED = "***"


def scrub_credentials(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` without the given secrets (a password from a DSN, say) nor credential-shaped
    values (passwords in URLs, bearer tokens)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, SCRUBBED)
    return redact_text(text)


class BackendUnavailable(Exception):
    """A backing service cannot be reached, refused our credentials, or did not answer in time.

    `where` is host:port (or a URL without credentials), never a DSN: the message goes to
    people, models and logs.
    """

    def __init__(
        self,
        service: str,
        where: str,
        problem: str,
        check: str,
        secrets: Iterable[str | None] = (),
    ) -> None:
        secrets = tuple(secrets)
        self.service = service
        # `where` may be a URL given with credentials in it: it is scrubbed too.
        self.where = scrub_credentials(where, secrets)
        self.problem = scrub_credentials(problem, secrets)
        self.check = check
        self.message = f"{service} at {self.where}: {self.problem}. Check: {check}"
        super().__init__(self.message)
