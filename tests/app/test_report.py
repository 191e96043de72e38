"""The meeting report: one self-contained HTML file with the comparison's figures."""

from __future__ import annotations

import re

import pytest
import requests

from app.config import Settings
from app.main import create_app

pytestmark = pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning")


@pytest.fixture
def analysed_settings(own_cache_settings) -> Settings:
    return own_cache_settings


def test_report_is_self_contained_with_the_figures(analysed_settings):
    app = create_app(analysed_settings)
    client = app.server.test_client()
    response = client.get("/report?runs=base-quick-synthetic,shallow-quick-synthetic")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    document = response.get_data(as_text=True)
    assert "not CIFAR-10" in document  # names the dataset its figures came from
    for title in (
        "Review",
        "Findings",
        "What removing the redundant neurons costs",
        "Learning curves",
        "Test error per class",
        "Redundancy per layer",
        "Edge signs per layer",
        "Layer similarity (CKA)",
        "CNNVis cluster matrices at relative depth 0.5",
        "Per layer",
    ):
        assert f"<h2>{title}</h2>" in document
    # The review leads: the verdict comes before the models table.
    assert document.index("<h2>Review</h2>") < document.index("<h2>Models</h2>") and "<b>Keep " in document
    assert "<h2>Confusion matrix of " in document
    assert len(re.findall(r"Plotly\.newPlot", document)) >= 5
    assert "<script src=" not in document and len(document) > 3_000_000  # plotly.js embedded: no network needed
    assert "base-quick-synthetic" in document and "shallow-quick-synthetic" in document


def test_report_of_unanalysed_runs_says_what_is_missing(quick_runs_dir, tmp_path):
    app = create_app(Settings(runs_dir=quick_runs_dir, cache_dir=tmp_path / "empty"))
    response = app.server.test_client().get("/report?models=../../etc/passwd")
    assert response.status_code == 200
    document = response.get_data(as_text=True)
    assert "Not in this report" in document and "python -m analysis analyze" in document


def test_report_link_follows_the_chosen_runs(dash_duo, analysed_settings):
    app = create_app(analysed_settings)
    dash_duo.start_server(app)
    dash_duo.wait_for_element("#cnncmp-report-link")
    dash_duo.driver.get(dash_duo.server_url + "/?runs=shallow-quick-synthetic")
    dash_duo.wait_for_element(".js-plotly-plot")
    link = dash_duo.find_element("#cnncmp-report-link")
    dash_duo.wait_for_text_to_equal("#cnncmp-report-link", "Report")
    href = link.get_attribute("href")
    assert href.endswith("/report?runs=shallow-quick-synthetic")
    assert requests.get(href, timeout=60).status_code == 200


def test_report_link_follows_the_runs_chosen_on_the_similarity_page(dash_duo, analysed_settings):
    dash_duo.start_server(create_app(analysed_settings))
    dash_duo.wait_for_element("#cnncmp-report-link")
    dash_duo.driver.get(dash_duo.server_url + "/similarity?runs=shallow-quick-synthetic,base-quick-synthetic")
    dash_duo.wait_for_element(".js-plotly-plot")
    href = dash_duo.find_element("#cnncmp-report-link").get_attribute("href")
    assert href.endswith("/report?runs=shallow-quick-synthetic%2Cbase-quick-synthetic"), href


def test_the_reports_models_table_has_the_seed_spread_only_with_several_seeds():
    from app.report import models_table_html

    def run(name, model, test):
        return {"name": name, "model": model, "profile": "demo", "dataset": "digits", "status": "complete",
                "test_error": test, "train_error": 0.01}  # fmt: skip

    def table_of(runs):  # the frame's rows name the run "run", the summary rows "name"
        return models_table_html(runs, [{**r, "run": r["name"]} for r in runs])

    table = table_of([run("base", "base", 0.116), run("base-seed1", "base", 0.122), run("deep", "deep", 0.2)])
    assert "<th>Test error across seeds</th>" in table and table.count("11.9 % ± 0.4 (2 seeds, 11.6–12.2 %)") == 2
    assert "across seeds" not in table_of([run("deep", "deep", 0.2)])
