"""The Review page's parts: the recommendation, the findings, the two-run diff, built from the analyzer's review.

Everything here reads the cached-only analyzer (the page never trains nor evaluates): a run whose
ablation is not cached yet is listed as not reviewed, with the Jobs page link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from analysis.frames import ablation_frame, review_findings_frame
from analysis.pipeline import RunAnalyzer
from analysis.runs.store import RunStatus
from analysis.sweeps import spread_of, spread_text
from app import components, tables
from app.analysis_access import PAGE_ERRORS
from app.figures.common import empty_figure
from app.figures.review import ablation_figure, pareto_figure
from app.selection import run_colours

SEVERITY_COLOURS = {"high": "danger", "medium": "warning", "info": "secondary"}
SEVERITY_ORDER = {"high": 0, "medium": 1, "info": 2}
#: Pages a finding can open, by the first segment of its ``view`` path.
PAGE_NAMES = {
    "models": "Models",
    "redundancy": "Redundancy",
    "edges": "Edges",
    "similarity": "Similarity",
    "explorer": "Explorer",
    "evolution": "Evolution",
    "jobs": "Jobs",
}
ABLATION_TABLE_ID = "review-ablation-table"
SHOWN_PER_CLASS = 5  # the largest per-class changes in the diff


class ReviewParts(NamedTuple):
    """What the layout and the callback both show for one choice of runs."""

    banner: Any
    recommendation: Any
    pareto: go.Figure
    findings: Any
    findings_csv: str  # the findings as analysis.frames.findings_frame has them, for the CSV button
    not_reviewed: Any
    reviewed: tuple[str, ...]  # the runs with a cached ablation, for the ablation picker
    compared: tuple[str, ...]  # the runs the review covered, for the diff pickers
    spreads: tuple[dict[str, Any], ...] = ()  # the review's seed spread per model (analysis.sweeps.seed_spread)


def one_dataset(runs: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], str | None]:
    """The chosen runs of one dataset (the one most of them share) and, when others were left out, why."""
    readable = [r for r in runs if r.get("status") != RunStatus.BROKEN and RunStatus.of(r).has_weights]
    groups = components.dataset_groups(readable)
    if len(groups) <= 1:
        return readable, None
    dataset = max(groups, key=lambda d: len(groups[d]))
    others = sorted(str(r.get("name")) for d, members in groups.items() if d != dataset for r in members)
    return list(groups[dataset]), (
        f"A review compares runs evaluated on the same images: it covers the {dataset} runs and leaves out "
        f"{', '.join(others)}."
    )


def review_parts(
    runs: Sequence[Mapping[str, Any]], chosen: Sequence[str], source: RunAnalyzer, cost: str
) -> ReviewParts:
    """The page's parts for the runs ``chosen`` among ``runs`` (all rows, in order), read through ``source``."""
    colours = run_colours([str(r.get("name")) for r in runs])
    wanted = set(chosen)
    selected = [r for r in runs if r.get("name") in wanted]
    members, left_out = one_dataset(selected)
    banner = [components.dataset_banner(selected)]
    if left_out:
        banner.append(components.message(left_out, kind="warning", id="review-left-out"))
    names = [str(r["name"]) for r in members]
    if not names:
        empty = "No finished run chosen: tick runs above, or train the family on the Jobs page"
        return ReviewParts(
            banner,
            components.message(empty, kind="info", id="review-nothing"),
            empty_figure(empty),
            None,
            "",
            None,
            (),
            (),
        )
    review = source.review(names)
    label = components.dataset_label(members)
    recommended = (review.get("recommendation") or {}).get("run")
    not_reviewed = [str(n) for n in review.get("not_reviewed", ())]
    return ReviewParts(
        banner=banner,
        recommendation=recommendation_card(review),
        pareto=pareto_figure(review.get("runs", ()), recommended, colours, label, cost),
        findings=findings_list(review.get("findings", ())),
        findings_csv=review_findings_frame(review, str(review.get("dataset_name"))).to_csv(index=False),
        not_reviewed=not_reviewed_message(not_reviewed),
        reviewed=tuple(n for n in names if n not in not_reviewed),
        compared=by_merit(names, review, recommended),
        spreads=tuple(review.get("seed_spread", ())),
    )


def by_merit(names: Sequence[str], review: Mapping[str, Any], recommended: str | None) -> tuple[str, ...]:
    """The runs the recommended one first, then by test error: the diff's default pair is the verdict and its
    closest rival."""
    errors = {r.get("run"): r.get("test_error") for r in review.get("runs", ())}

    def merit(name: str) -> tuple[int, float]:
        error = errors.get(name)
        return (name != recommended, error if isinstance(error, (int, float)) else float("inf"))

    return tuple(sorted(names, key=merit))


def recommendation_card(review: Mapping[str, Any]) -> dbc.Card:
    """The verdict first: which member to keep and why, with its error interval and cost."""
    recommendation = review.get("recommendation") or {}
    run = recommendation.get("run")
    row = next((r for r in review.get("runs", ()) if r.get("run") == run), {})
    if not run:
        body = [
            html.H4("No recommendation yet", className="mb-1"),
            html.P(recommendation.get("reason") or "The chosen runs have no test error yet.", className="mb-0"),
        ]
    else:
        interval = row.get("interval") or [None, None]
        facts = [
            (
                "test error",
                f"{components.percent(row.get('test_error'), 2)} "
                f"(95 % {components.percent(interval[0], 2)}–{components.percent(interval[1], 2)})",
            ),
            ("parameters", components.human_count(row.get("params"))),
            ("FLOPs per image", components.human_count(row.get("flops"))),
        ]
        body = [
            html.Div("Recommendation", className="text-uppercase small fw-semibold text-success-emphasis"),
            html.H3(["Keep ", html.Span(run, className="fw-bold")], className="mb-1", id="review-recommended-run"),
            html.P(recommendation.get("reason", ""), className="mb-2"),
            html.Div(
                [
                    html.Span([html.Span(f"{key} ", className="text-muted"), html.Strong(value)], className="me-4")
                    for key, value in facts
                ],
                className="fs-6",
            ),
            seed_spread_line(review.get("seed_spread", ()), run, "review-seed-spread"),
        ]
    return dbc.Card(
        dbc.CardBody(body), className="mb-3 border-success border-2 bg-success-subtle", id="review-recommendation-card"
    )


def seed_spread_line(
    spreads: Sequence[Mapping[str, Any]],
    run: str,
    id: str,  # noqa: A002 - Dash's name for a component id
) -> html.Div | None:
    """``"base across 3 seeds: test error 11.9 % ± 0.3 (3 seeds, 11.6–12.2 %)"`` when ``run``'s model has several
    seeds among the reviewed runs, else None: a difference between models reads against this spread."""
    spread = spread_of(spreads, run)
    text = spread_text(spread)
    if not text:
        return None
    return html.Div(
        [html.Span(f"{spread['model']} over its seeds: ", className="text-muted"), html.Strong(text)],
        className="fs-6 mt-1",
        id=id,
    )


def _evidence_value(key: str, value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "–" if value is None else ("yes" if value else "no")
    if isinstance(value, float):
        if any(word in key for word in ("change", "difference", "gap", "interval")):
            return components.percentage_points(value, 2)
        if any(word in key for word in ("error", "fraction", "share", "rate")):
            return components.percent(value, 1)
        return f"{value:.3g}"
    if isinstance(value, int):
        return components.human_count(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ", ".join(_evidence_value(key, v) for v in value)
    return str(value)


def finding_item(finding: Mapping[str, Any], index: int) -> html.Li:
    """One finding: its severity, the sentence to read aloud, the numbers behind it, and the view showing it."""
    severity = str(finding.get("severity", "info"))
    evidence = finding.get("evidence") or {}
    view = finding.get("view")
    page = PAGE_NAMES.get(str(view).lstrip("/").split("?", 1)[0].split("/", 1)[0], "the view") if view else None
    link = (
        dcc.Link(
            f"Show in {page} →",
            href=str(view),
            className="fw-semibold link-primary ms-2",
            id={"type": "review-finding-link", "index": index},
        )
        if view
        else None
    )
    return html.Li(
        [
            html.Div(
                [
                    dbc.Badge(severity, color=SEVERITY_COLOURS.get(severity, "secondary"), className="me-2"),
                    html.Span(str(finding.get("kind", "")).replace("_", " "), className="text-muted me-2"),
                    html.Span(str(finding.get("run") or ""), className="fw-semibold me-1"),
                    html.Span(f"· {finding['layer']}" if finding.get("layer") else "", className="text-muted"),
                ],
                className="small",
            ),
            html.Div([html.Span(str(finding.get("text", ""))), link], className="fs-5"),
            html.Div(
                [
                    html.Span(f"{key.replace('_', ' ')} {_evidence_value(key, value)}", className="me-3")
                    for key, value in evidence.items()
                ],
                className="small text-muted",
            )
            if evidence
            else None,
        ],
        className="list-group-item py-2",
    )


def findings_list(findings: Sequence[Mapping[str, Any]]) -> Any:
    """The findings, most severe first (the analysis sorts them; kept stable here within a severity)."""
    if not findings:
        return components.message("No findings: nothing in the chosen runs crosses a review threshold.", kind="success")
    ordered = sorted(findings, key=lambda f: SEVERITY_ORDER.get(str(f.get("severity")), 3))
    return html.Ol(
        [finding_item(f, i) for i, f in enumerate(ordered)],
        className="list-group list-group-flush",
        id="review-findings-list",
    )


def not_reviewed_message(names: Sequence[str]) -> Any:
    if not names:
        return None
    return components.message(
        [
            html.Span(
                f"Not reviewed yet: {len(names)} of the chosen runs have no ablation in the cache"
                + (f" ({', '.join(names)}). " if len(names) <= 3 else ". ")
            ),
            dcc.Link("Analyse them on the Jobs page", href=components.jobs_href(names), className="fw-semibold"),
        ],
        kind="info",
        id="review-not-reviewed",
    )


def ablation_view(source: RunAnalyzer, run: str | None, data_label: str) -> tuple[go.Figure, Any]:
    """One run's ablation: the chart, and the table of the same numbers (with its CSV) below it."""
    if run is None:
        return empty_figure("No reviewed run: analyse the runs on the Jobs page"), None
    try:
        ablation = source.ablation(run)
    except PAGE_ERRORS as exc:
        return ablation_figure(None, run, data_label), components.problem_message(exc)
    table = tables.ablation_table(ablation_frame([run], analyzer=source), ABLATION_TABLE_ID, f"ablation-{run}")
    return ablation_figure(ablation, run, data_label), table


def diff_view(
    source: RunAnalyzer, run_a: str | None, run_b: str | None, spreads: Sequence[Mapping[str, Any]] = ()
) -> Any:
    """The two-run diff as sentences and a table, and each side's seed spread when its model has several seeds
    (``spreads``: the review's); a message when the pair is not two different runs."""
    if not run_a or not run_b or run_a == run_b:
        return components.message("Pick two different runs to compare.", kind="info", id="review-diff-empty")
    try:
        diff = source.diff(run_a, run_b)
    except PAGE_ERRORS as exc:  # a run not analysed yet: say so, with the Jobs link, and keep the page
        return components.problem_message(exc)
    rows = [
        html.Tr(
            [
                html.Td(str(row.get("quantity"))),
                html.Td(_diff_value(row.get("quantity"), row.get("a"))),
                html.Td(_diff_value(row.get("quantity"), row.get("b"))),
                html.Td(_diff_value(row.get("quantity"), row.get("change"), change=True)),
                html.Td(
                    "significant"
                    if row.get("significant")
                    else ("within noise" if row.get("significant") is False else "")
                ),
            ]
        )
        for row in diff.get("rows", ())
    ]
    per_class = list(diff.get("per_class", ()))[:SHOWN_PER_CLASS]
    return html.Div(
        [
            html.Ul([html.Li(s) for s in diff.get("sentences", ())], className="fs-5 mb-2", id="review-diff-sentences"),
            seed_spread_line(spreads, run_a, "review-diff-spread-a"),
            seed_spread_line(spreads, run_b, "review-diff-spread-b")
            if spread_of(spreads, run_b) is not spread_of(spreads, run_a)
            else None,
            dbc.Table(
                [html.Thead(html.Tr([html.Th(h) for h in ("", run_a, run_b, "change", "")])), html.Tbody(rows)],
                bordered=False,
                hover=True,
                size="sm",
                className="cnncmp-table",
                id="review-diff-table",
            ),
            html.Div(
                [html.Span("Largest per-class changes: ", className="fw-semibold")]
                + [
                    html.Span(f"{c.get('class')} {components.percentage_points(c.get('change'))}", className="me-3")
                    for c in per_class
                ],
            )
            if per_class
            else None,
        ]
    )


def _diff_value(quantity: Any, value: Any, change: bool = False) -> str:
    text = str(quantity or "").lower()
    if isinstance(value, float) and ("error" in text or "fraction" in text):
        return components.percentage_points(value, 2) if change else components.percent(value, 2)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (
            (f"{value:+,.0f}" if change else components.human_count(value))
            if isinstance(value, int)
            else f"{value:+.3g}"
            if change
            else f"{value:.3g}"
        )
    return "–" if value is None else str(value)
