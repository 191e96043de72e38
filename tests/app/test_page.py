"""The page skeleton and the guarded callback: messages instead of 500s, logged with their inputs."""

from __future__ import annotations

import json
import logging

import dash
import pytest
from dash import Input, Output, html

from analysis.pipeline import NotAnalyzedError
from app import page
from app.config import Settings
from tests.app.helpers import text_of


def test_page_layout_builds_says_when_there_are_no_runs_and_never_raises(tmp_path, quick_runs_dir, caplog):
    heading = html.H2("Heading")
    server = dash.Dash(__name__).server
    with server.test_request_context():
        server.config["CNNCMP_SETTINGS"] = Settings(runs_dir=str(quick_runs_dir), cache_dir=tmp_path / "cache")
        built = text_of(page.page_layout("demo", heading, lambda context: [html.P(str(len(context.runs)))]))
        assert "Heading" in built and '"children": "2"' in built  # the two quick runs

        def broken(_context):
            raise RuntimeError("boom")

        with caplog.at_level(logging.ERROR):
            failed = text_of(page.page_layout("demo", heading, broken, {"runs": "x"}))
        assert "demo-error" in failed and "could not be built" in failed and "boom" not in failed
        assert "demo page failed for {'runs': 'x'}" in caplog.text

        server.config["CNNCMP_SETTINGS"] = Settings(runs_dir=str(tmp_path / "none"), cache_dir=tmp_path / "cache")
        empty = text_of(page.page_layout("demo", heading, broken))
        assert "demo-empty" in empty and "No runs" in empty


def _call(app: dash.Dash, output: str, value):
    """Run the callback of ``output`` as Dash's dispatcher would (its test client), returning the JSON answer."""
    client = app.server.test_client()
    body = {
        "output": output,
        "outputs": [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in output.strip(".").split("...")],
        "inputs": [{"id": "in", "property": "value", "value": value}],
        "changedPropIds": ["in.value"],
    }
    return client.post("/_dash-update-component", json=body)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("ok", "fine"), ("missing", "not analysed yet"), ("crash", "could not be built; the server log")],
)
def test_guarded_callback_turns_failures_into_a_message(value, expected, caplog):
    app = dash.Dash(__name__)
    app.layout = html.Div([html.Div(id="in"), html.Div(id="a"), html.Div(id="b")])

    @page.guarded_callback(
        app, Output("a", "children"), Output("b", "children"), Input("in", "value"), what="The test view", message=1
    )
    def answer(value):
        if value == "missing":
            raise NotAnalyzedError("r", "statistics")
        if value == "crash":
            raise RuntimeError("boom")
        return "left", "fine"

    with caplog.at_level(logging.ERROR):
        response = _call(app, "..a.children...b.children..", value)
    assert response.status_code == 200
    answered = json.loads(response.get_data())["response"]
    assert expected in json.dumps(answered["b"])
    assert ("a" in answered) == (value == "ok")  # a failure leaves the other outputs as they are
    assert ("The test view failed for ('crash',)" in caplog.text) == (value == "crash")


def test_guarded_callback_without_a_message_output_drops_the_update():
    app = dash.Dash(__name__)
    app.layout = html.Div([html.Div(id="in"), html.Div(id="a")])

    @page.guarded_callback(app, Output("a", "children"), Input("in", "value"), what="x")
    def answer(value):
        raise RuntimeError("boom")

    assert _call(app, "a.children", "v").status_code == 204
