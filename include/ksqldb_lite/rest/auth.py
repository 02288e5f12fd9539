"""Optional HTTP basic authentication, as ksqlDB's ``authentication.method=BASIC``.

ksqlDB checks credentials through JAAS, usually Jetty's ``PropertyFileLoginModule`` over a
password file with lines ``user: password[,role …]``. This server reads the same file format
(plain or ``MD5:`` passwords) from ``ksqldb.lite.authentication.users.file``; roles are checked
against ``authentication.roles`` (``*``, the default, admits any authenticated user).

Answers as ksqlDB: no or wrong credentials → ``401`` with
``{"@type":"generic_error","error_code":40100,"message":"Unauthorized"}`` and a
``WWW-Authenticate`` challenge; a user without an accepted role → ``403`` / 40300.
Paths in ``authentication.skip.paths`` are not checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from ksqldb_lite.errors import KsqlError
from ksqldb_lite.rest.http import generic_error_response

UNAUTHORIZED = 40100
FORBIDDEN = 40300


class AuthConfigError(KsqlError):
    """The basic-auth configuration cannot be used."""


@dataclass(frozen=True)
class Account:
    """One user of the password file (the password is compared in constant time)."""

    password: str
    roles: frozenset[str]

    def matches(self, password: str) -> bool:
        """True when ``password`` is this account's."""
        stored = self.password
        if stored.startswith("MD5:"):
            digest = hashlib.md5(password.encode("utf-8"), usedforsecurity=False).hexdigest()
            return hmac.compare_digest(digest, stored[4:].lower())
        return hmac.compare_digest(password.encode("utf-8"), stored.encode("utf-8"))


@dataclass(frozen=True)
class BasicAuth:
    """Accounts, the realm, the accepted roles and the paths left open."""

    accounts: dict[str, Account]
    realm: str = "KsqlServer-Props"
    roles: frozenset[str] = frozenset({"*"})
    skip_paths: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_file(
        cls,
        path: Path,
        realm: str = "KsqlServer-Props",
        roles: Sequence[str] = ("*",),
        skip_paths: Sequence[str] = (),
    ) -> BasicAuth:
        """Read a Jetty-style password file: ``user: password[,role …]`` per line, ``#`` comments."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise AuthConfigError(f"Cannot read the password file {path}: {error.strerror}") from error
        accounts: dict[str, Account] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith(("#", "!")):
                continue
            user, sep, rest = line.partition(":")
            if not sep or not user.strip():
                raise AuthConfigError(f"{path}:{number}: expected 'user: password[,role ...]'")
            password, *account_roles = (part.strip() for part in rest.split(","))
            if password.startswith(("CRYPT:", "OBF:")):
                raise AuthConfigError(f"{path}:{number}: only plain and MD5: passwords are supported")
            accounts[user.strip()] = Account(password, frozenset(r for r in account_roles if r))
        if not accounts:
            raise AuthConfigError(f"The password file {path} defines no user")
        return cls(
            accounts,
            realm,
            frozenset(r.strip() for r in roles if r.strip()) or frozenset({"*"}),
            tuple(skip_paths),
        )

    def check(self, header: str | None) -> int | None:
        """None when the Authorization header admits the request, else 401 or 403."""
        if header is None or not header.lower().startswith("basic "):
            return 401
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return 401
        user, sep, password = decoded.partition(":")
        account = self.accounts.get(user)
        if not sep or account is None or not account.matches(password):
            return 401
        if "*" not in self.roles and not (account.roles & self.roles):
            return 403
        return None


class BasicAuthMiddleware:
    """ASGI middleware enforcing :class:`BasicAuth` on every HTTP request."""

    def __init__(self, app: ASGIApp, auth: BasicAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.auth.skip_paths:
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        outcome = self.auth.check(header)
        if outcome is None:
            await self.app(scope, receive, send)
        elif outcome == 401:
            challenge = {"WWW-Authenticate": f'Basic realm="{self.auth.realm}"'}
            await generic_error_response(401, UNAUTHORIZED, "Unauthorized", challenge)(scope, receive, send)
        else:
            await generic_error_response(403, FORBIDDEN, "Forbidden")(scope, receive, send)
