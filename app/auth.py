"""Optional HTTP basic auth for a shared server: users from ``CNNCMP_AUTH_USERS``, off when it is empty.

``CNNCMP_AUTH_USERS`` is a comma-separated list of ``user:password-hash`` pairs, where the hash is
one werkzeug makes (``python -m app.auth hash`` prints one). A plain password is accepted too (for a
quick trial) and compared in constant time; the app logs a warning when it sees one. ``/health``
stays open so a load balancer or platform can probe it.

Basic auth sends the password with every request: serve it behind HTTPS (the platform's router or
a reverse proxy) outside a trusted network.
"""

from __future__ import annotations

import getpass
import hmac
import logging
import sys

import flask
from werkzeug.security import check_password_hash, generate_password_hash

log = logging.getLogger(__name__)

OPEN_PATHS = ("/health",)
REALM = "CNN comparison"
_HASH_PREFIXES = ("pbkdf2:", "scrypt:")


class AuthConfigError(ValueError):
    """``CNNCMP_AUTH_USERS`` cannot be parsed; the message says which entry."""


def parse_users(text: str) -> dict[str, str]:
    """``{"alice": "<hash or password>", …}`` from ``alice:hash,bob:hash`` (empty text: no users)."""
    users: dict[str, str] = {}
    for number, entry in enumerate((part.strip() for part in text.split(",")), start=1):
        if not entry:
            continue
        user, sep, secret = entry.partition(":")
        if not sep or not user.strip() or not secret:
            raise AuthConfigError(f"CNNCMP_AUTH_USERS entry {number} must be user:password-hash")
        users[user.strip()] = secret
    return users


def password_matches(secret: str, password: str) -> bool:
    """Whether ``password`` fits ``secret`` (a werkzeug hash, else a plain password compared in constant time)."""
    if secret.startswith(_HASH_PREFIXES):
        try:
            return check_password_hash(secret, password)
        except (ValueError, TypeError):
            return False
    return hmac.compare_digest(secret.encode("utf-8"), password.encode("utf-8"))


def install_basic_auth(server: flask.Flask, users: dict[str, str]) -> None:
    """Ask every request but ``/health`` for one of ``users``' name and password."""
    if not users:
        return
    plain = sorted(user for user, secret in users.items() if not secret.startswith(_HASH_PREFIXES))
    if plain:
        log.warning(
            "CNNCMP_AUTH_USERS holds plain passwords for %s; store hashes (python -m app.auth hash)", ", ".join(plain)
        )
    # Compared against when the user is unknown, so a wrong name costs as long as a wrong password.
    dummy = generate_password_hash("not a password")

    @server.before_request
    def require_login() -> flask.Response | None:
        if flask.request.path in OPEN_PATHS:
            return None
        credentials = flask.request.authorization
        if credentials is not None and credentials.type == "basic":
            secret = users.get(credentials.username or "")
            ok = password_matches(secret if secret is not None else dummy, credentials.password or "")
            if ok and secret is not None:
                return None
            log.info("refused login for %r from %s", credentials.username, flask.request.remote_addr)
        response = flask.Response("Sign in to see the CNN comparison dashboard.\n", status=401, mimetype="text/plain")
        response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
        return response


def main(argv: list[str] | None = None) -> int:
    """``python -m app.auth hash``: read a password twice and print a hash to put in CNNCMP_AUTH_USERS."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["hash"]:
        print("usage: python -m app.auth hash", file=sys.stderr)
        return 2
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if sys.stdin.isatty() and getpass.getpass("again: ") != password:
        print("the two passwords differ", file=sys.stderr)
        return 1
    if not password:
        print("empty password refused", file=sys.stderr)
        return 1
    print(generate_password_hash(password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
