"""The app shell: unknown asset paths are 404s (never 500s), the health check, the Report link's runs."""

from __future__ import annotations

import logging

import pytest

from app.config import Settings
from app.main import create_app


@pytest.fixture
def client(tmp_path):
    return create_app(Settings(runs_dir=str(tmp_path / "runs"), cache_dir=tmp_path / "cache")).server.test_client()


@pytest.mark.parametrize(
    "path",
    [
        "/_dash-component-suites/..%2F..%2Fetc%2Fpasswd",
        "/_dash-component-suites/dash/..%2F..%2F..%2Fetc%2Fpasswd",
        "/_dash-component-suites/not_a_package/x.js",
        "/_dash-component-suites/dash/dcc/no-such-file.v1.js",
        "/assets/no-such-file.css",
    ],
)
def test_an_unknown_asset_path_is_a_404_without_a_traceback(client, path, caplog):
    with caplog.at_level(logging.ERROR):
        response = client.get(path)
    assert response.status_code == 404, (path, response.status_code)
    assert "Traceback" not in caplog.text and "passwd" not in response.get_data(as_text=True)


def test_a_served_asset_still_loads(client):
    page = client.get("/").get_data(as_text=True)
    script = next(part.split('"')[0] for part in page.split('src="')[1:] if "_dash-component-suites" in part)
    assert client.get(script).status_code == 200


def test_no_developer_footer_and_the_404_page(client):
    assert b"CNNCMP_RUNS_DIR" not in client.get("/").get_data()
    assert client.get("/health").get_json()["status"] == "ok"
