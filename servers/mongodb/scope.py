"""A role's reach in MongoDB: databases and collections by glob, the time limit of every
operation, and whose operations the write tool may kill.

Names are compared exactly, as MongoDB compares them (database names also without regard to
case, since MongoDB refuses two databases differing only in case). A name is refused before
any comparison when it could be read as another: not in Unicode NFKC form (``jamie`` with a
fullwidth j, U+FF4A, is NFKC ``jamie``), or holding control or invisible format characters
(zero-width joiners, bidi overrides). Names outside ASCII are refused unless the role sets
``non_ascii_names: true``, so ``jamie`` with a Cyrillic a (U+0430) cannot pass for ``jamie``
in an audit line.

MongoDB's own databases (admin, config, local) and system collections (``system.*``) are out of
reach unless the role's allow list names them literally: a glob such as ``*`` never reaches
them, even when a role's deny list forgets them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field

from autodevops.servers.core.errors import InvalidArgument, OutOfScope

# What MongoDB itself refuses in a database name, plus the path separators.
_DATABASE_FORBIDDEN = frozenset('/\\. "$*<>:|?')
MAX_NAME = 255
# Reached only when a role's allow list names them, whatever its globs say.
_OWN_DATABASES = frozenset({"admin", "config", "local"})


def _hit(name: str, pattern: str, fold: bool) -> bool:
    if fold:
        return fnmatchcase(name.casefold(), pattern.casefold())
    return fnmatchcase(name, pattern)


class Globs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow: list[str] = Field(default_factory=lambda: ["*"])
    deny: list[str] = Field(default_factory=list)

    def matches(self, name: str, fold: bool = False) -> bool:
        return not self.denies(name, fold) and any(_hit(name, p, fold) for p in self.allow)

    def denies(self, name: str, fold: bool = False) -> bool:
        return any(_hit(name, p, fold) for p in self.deny)

    def exact_allow(self) -> list[str] | None:
        """The allowed names when all are literal (no globs), else None."""
        if any(c in p for p in self.allow for c in "*?["):
            return None
        return [name for name in self.allow if self.matches(name)]


class MongoScope(BaseModel):
    """Deny by default where it matters: MongoDB's own databases and system collections."""

    model_config = ConfigDict(extra="forbid")

    databases: Globs = Field(
        default_factory=lambda: Globs(allow=["*"], deny=["admin", "config", "local"]),
        description="database name globs (compared without regard to case)",
    )
    collections: Globs = Field(
        default_factory=lambda: Globs(allow=["*"], deny=["*.system.*"]),
        description="globs over 'database.collection'",
    )
    max_time_ms: int = Field(
        default=5000,
        ge=100,
        le=600_000,
        description="maxTimeMS of every operation; keep it under limits.timeout_seconds",
    )
    kill_ops_of: list[str] = Field(
        default_factory=list,
        description="globs of user names (user or user@db) whose operations kill_op may end",
    )
    non_ascii_names: bool = Field(False, description="allow database/collection names beyond ASCII")

    def check_database(self, name: str, field: str = "database") -> str:
        self._check_name(name, field)
        if any(c in _DATABASE_FORBIDDEN for c in name):
            raise InvalidArgument(field, f"'{name}' is not a MongoDB database name")
        if not self.databases.matches(name, fold=True):
            raise OutOfScope(f"database '{name}' is outside your scope")
        if name.casefold() in _OWN_DATABASES and name.casefold() not in self._named_databases():
            raise OutOfScope(
                f"database '{name}' is MongoDB's own; a role reaches it only when "
                "databases.allow names it"
            )
        return name

    def check_collection(self, database: str, name: str, field: str = "collection") -> str:
        self.check_database(database)
        self._check_name(name, field)
        if name.startswith("$"):
            raise InvalidArgument(field, f"'{name}' is not a MongoDB collection name")
        if not self.collections.matches(f"{database}.{name}"):
            raise OutOfScope(f"collection '{database}.{name}' is outside your scope")
        if name.startswith("system.") and not any("system." in p for p in self.collections.allow):
            raise OutOfScope(
                f"'{database}.{name}' is a system collection; a role reaches it only when "
                "collections.allow names it"
            )
        prefix, dot, rest = name.partition(".")
        if dot and (self.databases.denies(prefix, fold=True) or self.collections.denies(name)):
            raise OutOfScope(
                f"collection name '{name}' reads as collection '{rest}' of database '{prefix}', "
                "which is outside your scope; such names are refused"
            )
        return name

    def _named_databases(self) -> set[str]:
        return {pattern.casefold() for pattern in self.databases.allow}

    def visible_database(self, name: str) -> bool:
        return self._quiet(lambda: self.check_database(name))

    def visible_collection(self, database: str, name: str) -> bool:
        return self._quiet(lambda: self.check_collection(database, name))

    def may_kill(self, users: list[tuple[str, str]]) -> bool:
        """An operation may be killed when every user it runs as is named by kill_ops_of."""
        return bool(users) and all(
            any(fnmatchcase(user, p) or fnmatchcase(f"{user}@{db}", p) for p in self.kill_ops_of)
            for user, db in users
        )

    def _check_name(self, name: str, field: str) -> None:
        if not name or len(name.encode("utf-8")) > MAX_NAME:
            raise InvalidArgument(field, f"must be 1 to {MAX_NAME} bytes long")
        if unicodedata.normalize("NFKC", name) != name:
            raise InvalidArgument(
                field,
                f"{name!r} is not in Unicode NFKC form (it reads as "
                f"{unicodedata.normalize('NFKC', name)!r}); use the name as stored",
            )
        if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
            raise InvalidArgument(field, f"{name!r} holds control or invisible characters")
        if not self.non_ascii_names and not name.isascii():
            raise InvalidArgument(
                field,
                f"{name!r} has characters outside ASCII, which can pass for other names; "
                "your role allows only ASCII names",
            )

    @staticmethod
    def _quiet(check: Callable[[], object]) -> bool:
        try:
            check()
        except (OutOfScope, InvalidArgument):
            return False
        return True
