"""A whole comparison as one self-contained HTML file for a meeting (opens without the server).

The report leads with the review (the recommendation, error against cost with the Pareto front, the
findings with their evidence, each run's ablation), then shows what the pages show with their own
figure builders: the models and per-layer tables (the frames of :mod:`analysis.frames`), learning
curves, per-class error, the recommended run's confusion matrix, CNNVis' cluster matrices at mid
depth (dead clusters named), redundancy and edge signs per layer on the relative-depth axis, and CKA
between the first two runs (the Similarity page's pair: its Report link lists that pair first).
plotly.js is embedded once.
"""

from __future__ import annotations

import datetime as dt
import html as html_text
import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from analysis.frames import layers_frame, runs_frame
from analysis.runs.store import RunStatus
from analysis.sweeps import seed_spread, spread_of, spread_text
from app import components
from app.analysis_access import PAGE_ERRORS, analyzer, class_errors
from app.config import Settings
from app.edges_view import load_run_edges
from app.figures.common import FIGURE_FONT
from app.figures.edges import fractions_figure
from app.figures.overview import confusion_figure, learning_curves_figure, per_class_figure
from app.figures.redundancy import cluster_matrix_figure, colour_scale, plot_height
from app.figures.review import ablation_figure, pareto_figure
from app.figures.similarity import cka_figure, cka_title
from app.query import nearest_layer
from app.redundancy_view import layer_view, run_layers
from app.selection import read_histories, read_runs, run_colours
from app.tables import TABLE_COLUMNS, table_record

log = logging.getLogger(__name__)


def _figure_html(figure: go.Figure) -> str:
    return figure.to_html(
        full_html=False, include_plotlyjs=False, config={"displaylogo": False, "toImageButtonOptions": {"scale": 2}}
    )


def _table_html(records: Sequence[dict[str, str]], columns: Sequence[tuple[str, str, Any]]) -> str:
    head = "".join(f"<th>{html_text.escape(label)}</th>" for _key, label, _hint in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html_text.escape(str(record.get(key, '–')))}</td>" for key, _l, _h in columns) + "</tr>"
        for record in records
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


LAYER_REPORT_COLUMNS = {  # frame column → heading, for the report's per-layer table
    "run": "Run",
    "layer": "Layer",
    "relative_depth": "Depth",
    "n_neurons": "Neurons",
    "n_clusters": "Clusters",
    "near_duplicate_fraction": "Near-duplicates",
    "normalized_effective_rank": "Eff. rank (normalised)",
    "positive_edge_fraction": "Positive edges",
    "dead_fraction": "Dead",
}


def _frame_html(frame: Any, columns: dict[str, str]) -> str:
    """A frame's chosen columns as an HTML table: fractions to two places, missing values as a dash."""

    def cell(value: Any) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return "–"
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    shown = [c for c in columns if c in frame.columns]
    head = "".join(f"<th>{html_text.escape(columns[c])}</th>" for c in shown)
    body = "".join(
        "<tr>" + "".join(f"<td>{html_text.escape(cell(row[c]))}</td>" for c in shown) + "</tr>"
        for row in frame.to_dict("records")
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(title: str, body: str) -> str:
    return f"<section><h2>{html_text.escape(title)}</h2>{body}</section>"


SPREAD_COLUMN = ("seed_spread", "Test error across seeds", "mean ± standard deviation (pp) over the model's seeds")


def models_table_html(runs: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]]) -> str:
    """The models table of ``rows`` (:func:`analysis.frames.runs_frame`'s records); with a column of the seed
    spread when a model has several seeds among ``runs`` (their summary rows)."""
    spreads = seed_spread(runs)
    records = [
        {
            **table_record({**row, "name": row["run"]}),
            "seed_spread": spread_text(spread_of(spreads, str(row["run"])), label=False),
        }
        for row in rows
    ]
    columns = list(TABLE_COLUMNS)
    if any(record["seed_spread"] for record in records):
        after = next(i for i, (key, _label, _hint) in enumerate(columns) if key == "test_error") + 1
        columns.insert(after, SPREAD_COLUMN)
    return _table_html(records, columns)


def build_report(settings: Settings, names: Sequence[str] | None = None) -> str:
    """The HTML of a comparison of ``names`` (default: every run) in ``settings.runs_dir``."""
    runs_dir = settings.runs_dir
    runs = read_runs(runs_dir)
    wanted = set(names) if names else {r["name"] for r in runs}
    chosen = [r for r in runs if r["name"] in wanted and r.get("status") != RunStatus.BROKEN]
    colours = run_colours([r["name"] for r in runs])
    label = components.dataset_label(chosen)
    source = analyzer(settings)
    sections = review_sections(source, chosen, colours, label)
    names = [str(r["name"]) for r in chosen]
    # The tables are the frames of analysis.frames, as on the pages and in the CSV downloads.
    frame = runs_frame(names, analyzer=source)
    sections.append(_section("Models", models_table_html(chosen, frame.to_dict("records"))))
    histories, _problems = read_histories(runs_dir, [r["name"] for r in chosen])
    sections.append(_section("Learning curves", _figure_html(learning_curves_figure(chosen, histories, colours))))
    errors, missing = class_errors([r["name"] for r in chosen])
    sections.append(
        _section(
            "Test error per class",
            _figure_html(per_class_figure(errors, colours, label, "No analysed run in this report")),
        )
    )
    if errors:
        shown = next((name for name in recommended_first(source, chosen) if name in errors), next(iter(errors)))
        sections.append(_section(f"Confusion matrix of {shown}", _figure_html(confusion_figure(shown, errors[shown]))))
    matrices = cluster_matrices(source, [r["name"] for r in chosen if r["name"] in errors], label)
    if matrices:
        sections.append(_section(f"CNNVis cluster matrices at relative depth {MATRIX_DEPTH:g}", matrices))

    edge_series = []
    for run in chosen:
        try:
            edge_series.append(load_run_edges(source, run["name"]))
        except PAGE_ERRORS as exc:
            missing.setdefault(run["name"], str(exc))
    if edge_series:
        sections.append(
            _section("Redundancy per layer", _figure_html(redundancy_figure(source, edge_series, colours, label)))
        )
        sections.append(
            _section("Edge signs per layer", _figure_html(fractions_figure(edge_series, colours, (0.0, 1.0), label)))
        )
        first = edge_series[0].name
        second = edge_series[1].name if len(edge_series) > 1 else first
        try:
            result = source.cka(first, None if second == first else second)
            kind = f"within {first}" if second == first else f"across {first} × {second}"
            title = cka_title(kind, label, result["n_images"], False)
            sections.append(
                _section(
                    "Layer similarity (CKA)",
                    _figure_html(cka_figure(result, title, first, second)),
                )
            )
        except PAGE_ERRORS as exc:
            sections.append(_section("Layer similarity (CKA)", f"<p>{html_text.escape(str(exc))}</p>"))
    layers = layers_frame(names, analyzer=source)
    layers = layers[layers["analysed"].fillna(False).astype(bool)] if "analysed" in layers else layers
    if len(layers):
        sections.append(_section("Per layer", _frame_html(layers, LAYER_REPORT_COLUMNS)))
    if missing:
        items = "".join(f"<li><b>{html_text.escape(n)}</b>: {html_text.escape(why)}</li>" for n, why in missing.items())
        sections.append(_section("Not in this report", f"<ul>{items}</ul>"))

    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    profiles = sorted({str(r.get("profile")) for r in chosen})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html_text.escape(components.PRODUCT_NAME)} · report</title>
<script>{plotly.offline.get_plotlyjs()}</script>
<style>
body {{ font-family: Lato, 'Helvetica Neue', Arial, sans-serif; margin: 2rem auto; max-width: 1200px; color: #212529; }}
.banner {{ background: #eef1f4; border-left: 4px solid #2c3e50; padding: .75rem 1rem; margin-bottom: 1.5rem; }}
table {{ border-collapse: collapse; width: 100%; font-size: .95rem; }}
th, td {{ border-bottom: 1px solid #dee2e6; padding: .35rem .5rem; text-align: left; }}
section {{ margin-bottom: 2rem; }}
.verdict {{ font-size: 1.3rem; }}
</style></head><body>
<h1>{html_text.escape(components.PRODUCT_NAME)}</h1>
<p>{len(chosen)} runs · profile {html_text.escape(", ".join(profiles))} · written {created}</p>
<div class="banner"><b>Data:</b> {html_text.escape(label)}</div>
{"".join(sections)}
</body></html>"""


MATRIX_DEPTH = 0.5  # the report's CNNVis matrices: each run's layer nearest this relative depth


def recommended_first(source: Any, chosen: Sequence[dict[str, Any]]) -> list[str]:
    """The chosen runs' names, the review's recommended run first (when there is one)."""
    from app.review_view import one_dataset

    names = [str(r["name"]) for r in chosen]
    members = [str(r["name"]) for r in one_dataset(chosen)[0]]
    try:
        recommended = (source.review(members).get("recommendation") or {}).get("run") if members else None
    except PAGE_ERRORS:
        recommended = None
    return sorted(names, key=lambda name: name != recommended)


def cluster_matrices(source: Any, names: Sequence[str], label: str) -> str:
    """Each run's class-activation matrix (clusters, near-duplicates, dead units) at :data:`MATRIX_DEPTH`,
    on one colour scale, as the Redundancy page draws them (without edits: a report shows the analysis)."""
    views = []
    for name in names:
        try:
            layers = run_layers(source, name)
            views.append(layer_view(source, name, nearest_layer(layers.depths, MATRIX_DEPTH)))
        except PAGE_ERRORS as exc:
            log.info("report: no cluster matrix of %s: %s", name, exc)
    if not views:
        return ""
    scale = colour_scale(views)
    return "".join(
        _figure_html(
            cluster_matrix_figure(
                view, scale, plot_px=plot_height(len(view.labels), 1), subtitle=f"{view.run} · {view.layer} · {label}"
            )
        )
        for view in views
    )


def review_sections(source: Any, chosen: Sequence[dict[str, Any]], colours: dict[str, str], label: str) -> list[str]:
    """The review first: the recommendation, the Pareto plot, the findings, each reviewed run's ablation."""
    from app.review_view import one_dataset

    members, left_out = one_dataset(chosen)
    names = [str(r["name"]) for r in members]
    if not names:
        return []
    try:
        review = source.review(names)
    except PAGE_ERRORS as exc:
        return [_section("Review", f"<p>{html_text.escape(str(exc))}</p>")]
    recommendation = review.get("recommendation") or {}
    verdict = (
        f"<p class='verdict'><b>Keep {html_text.escape(str(recommendation['run']))}</b>: "
        f"{html_text.escape(str(recommendation.get('reason', '')))}</p>"
        if recommendation.get("run")
        else "<p>No recommendation: the chosen runs have no test error yet.</p>"
    )
    if left_out:
        verdict += f"<p>{html_text.escape(left_out)}</p>"
    figure = pareto_figure(review.get("runs", ()), recommendation.get("run"), colours, label)
    items = "".join(
        f"<li><b>[{html_text.escape(str(f.get('severity')))}]</b> {html_text.escape(str(f.get('text', '')))}"
        + (
            "<br><small>"
            + html_text.escape(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in (f.get("evidence") or {}).items()))
            + "</small>"
            if f.get("evidence")
            else ""
        )
        + "</li>"
        for f in review.get("findings", ())
    )
    sections = [
        _section("Review", verdict + _figure_html(figure)),
        _section("Findings", f"<ol>{items}</ol>" if items else "<p>No findings.</p>"),
    ]
    not_reviewed = set(review.get("not_reviewed", ()))
    charts = [
        _figure_html(ablation_figure(source.ablation(name), name, label)) for name in names if name not in not_reviewed
    ]
    if charts:
        sections.append(_section("What removing the redundant neurons costs", "".join(charts)))
    return sections


def redundancy_figure(source: Any, series: Sequence[Any], colours: dict[str, str], label: str) -> go.Figure:
    """Near-duplicate fraction per layer against relative depth, one line per run."""
    figure = go.Figure()
    for data in series:
        metrics = source.clusters(data.name)["metrics"]
        figure.add_trace(
            go.Scatter(
                x=data.relative_depth,
                y=[m["near_duplicate_fraction"] for m in metrics],
                mode="lines+markers",
                name=data.name,
                line={"color": colours.get(data.name, "#888")},
                text=data.layer_names,
                hovertemplate=f"{data.name} %{{text}}: %{{y:.0%}} near-duplicates<extra></extra>",
            )
        )
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        height=420,
        title={"text": f"Near-duplicate neurons per layer · {label}", "x": 0.01},
        xaxis={"title": {"text": "relative depth (0 = conv1, 1 = output)"}},
        yaxis={"title": {"text": "neurons with a near-duplicate"}, "tickformat": ".0%", "rangemode": "tozero"},
    )
    return figure
