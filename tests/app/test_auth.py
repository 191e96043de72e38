"""HTTP basic auth: off by default, every path but /health behind it when users are configured."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from werkzeug.security import generate_password_hash

from app.auth import AuthConfigError, parse_users, password_matches
from app.config import JsonFormatter, Settings
from app.main import create_app


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def client(tmp_path):
    users = f"ann:{generate_password_hash('correct horse')},bob:plain-pw"
    app = create_app(Settings(runs_dir=str(tmp_path / "runs"), cache_dir=tmp_path / "cache", auth_users=users))
    return app.server.test_client()


def test_auth_is_off_by_default(tmp_path):
    app = create_app(Settings(runs_dir=str(tmp_path / "runs"), cache_dir=tmp_path / "cache"))
    assert app.server.test_client().get("/").status_code == 200


@pytest.mark.parametrize("path", ["/", "/redundancy?models=x", "/_dash-layout", "/_dash-dependencies", "/report"])
def test_every_page_and_dash_endpoint_asks_for_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert client.get(path, headers=basic("ann", "wrong")).status_code == 401
    assert client.get(path, headers=basic("nobody", "correct horse")).status_code == 401
    assert client.get(path, headers=basic("ann", "correct horse")).status_code == 200
    assert client.get(path, headers=basic("bob", "plain-pw")).status_code == 200


def test_health_stays_open_for_probes(client):
    response = client.get("/health")
    assert response.status_code == 200 and json.loads(response.data)["status"] == "ok"


def test_users_parse_and_bad_entries_are_named():
    assert parse_users("") == {}
    assert parse_users(" ann:pbkdf2:sha256:1$a$b , bob:x ") == {"ann": "pbkdf2:sha256:1$a$b", "bob": "x"}
    with pytest.raises(AuthConfigError, match="entry 2"):
        parse_users("ann:x,bob")
    assert not password_matches("scrypt:garbage", "x") and password_matches("x", "x") and not password_matches("x", "y")


def test_json_logs_are_one_object_per_record():
    record = logging.LogRecord("app.x", logging.WARNING, __file__, 1, "run %s broken", ("r1",), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "run r1 broken" and entry["level"] == "WARNING" and entry["logger"] == "app.x"
