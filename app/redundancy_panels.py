"""The Redundancy page's components: one card per run (its numbers and matrix), the edit form, the edits in words.

Layout only: what they show comes from :mod:`app.redundancy_view`, the figures from
:mod:`app.figures.redundancy`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from analysis.pipeline import NotAnalyzedError
from app import components
from app.figures.redundancy import DUPLICATE_CAPTION
from app.redundancy_view import CardNumbers, PanelData, card_numbers

MATRIX_TYPE = "redundancy-matrix"  # pattern-matching ids: {"type": MATRIX_TYPE, "run": name}
FEATURES_TYPE = "redundancy-features"  # the per-cluster matrix / learned-features switches of one run
NUMBERS_TYPE = "redundancy-numbers"  # a card's redundancy figures
PANEL_TYPE = "redundancy-panel"

EDIT_RUN_ID = "redundancy-edit-run"
EDIT_HINT_ID = "redundancy-edit-hint"
NEURON_ID = "redundancy-edit-neuron"
MOVE_TO_ID = "redundancy-edit-move-to"
MOVE_ID = "redundancy-edit-move"
MERGE_FROM_ID = "redundancy-edit-merge-from"
MERGE_INTO_ID = "redundancy-edit-merge-into"
MERGE_ID = "redundancy-edit-merge"
SPLIT_CLUSTER_ID = "redundancy-edit-split-cluster"
SPLIT_PARTS_ID = "redundancy-edit-split-parts"
SPLIT_ID = "redundancy-edit-split"
UNDO_ID = "redundancy-edit-undo"
RESET_ID = "redundancy-edit-reset"
FEEDBACK_ID = "redundancy-edit-feedback"
EDITS_LIST_ID = "redundancy-edits-list"


def pattern_dom_id(id_: Mapping[str, Any]) -> str:
    """The DOM id Dash gives a pattern-matching id (keys sorted, values JSON), for the export buttons."""
    return "{" + ",".join(f"{json.dumps(k)}:{json.dumps(id_[k])}" for k in sorted(id_)) + "}"


def _swatch(colour: str) -> html.Span:
    return html.Span(
        style={
            "display": "inline-block",
            "width": "0.8rem",
            "height": "0.8rem",
            "borderRadius": "2px",
            "backgroundColor": colour,
            "verticalAlign": "-0.05rem",
        },
        className="me-2 flex-shrink-0",
    )


def _number(value: str, label: str, title: str) -> html.Div:
    return html.Div(
        [html.Span(value, className="fw-bold me-1 cnncmp-number"), html.Span(label)], className="lh-sm", title=title
    )


def numbers_block(run: str, numbers: CardNumbers) -> html.Div:
    """The card's redundancy figures at its shown layer, as numbers a reader compares across cards."""
    fraction = numbers.near_duplicate_fraction
    rank = numbers.effective_rank
    dead = f" · {numbers.n_dead} dead" if numbers.n_dead else ""
    return html.Div(
        [
            _number(
                "–" if fraction is None else f"{fraction:.0%}",
                "near-duplicates",
                "share of the layer's neurons whose class profile has a near-duplicate (the ≈ bars)",
            ),
            _number(
                "–" if rank is None else f"{rank:.1f}",
                f"effective rank (of {numbers.n_classes})",
                "how many independent class profiles the layer holds: low = redundant",
            ),
            _number(str(numbers.n_clusters), "clusters", "clusters of neurons with similar class profiles"),
            html.Div(f"{numbers.n_neurons} neurons{dead}", className="text-muted"),
        ],
        id={"type": NUMBERS_TYPE, "run": run},
        className="small mt-1 d-flex flex-wrap column-gap-3",
    )


def run_panel(
    data: PanelData, colour: str, depth: float | None, features: Collection[int], most_redundant: bool = False
) -> dbc.Card:
    """One run's card: name, the layer taken, its redundancy numbers, the per-cluster switches and its matrix."""
    run = data.shown.run
    name = html.Span(run, className="fw-semibold text-break lh-sm", title=run)
    badge = dbc.Badge("most redundant", color="dark", className="ms-2") if most_redundant else None
    header: list[Any] = [html.Div([_swatch(colour), name, badge], className="d-flex align-items-center flex-wrap")]
    if data.view is None:
        title = "Not analysed yet" if isinstance(data.problem, NotAnalyzedError) else "Cannot show this run"
        body: list[Any] = [components.problem_message(data.problem, title=title)]
    else:
        view = data.view
        why = "the layer chosen by name" if depth is None else f"this run's layer nearest depth {depth:.2f}"
        edited = (
            dbc.Badge(f"edited ({len(view.steps)})", color="warning", text_color="dark", className="ms-1")
            if view.edits
            else None
        )
        header += [
            html.Div([f"{view.layer} · depth {view.depth:.2f}", edited], className="small fw-semibold", title=why),
            numbers_block(run, card_numbers(view)),
        ]
        dead = view.dead_clusters
        matrix_id = {"type": MATRIX_TYPE, "run": run}
        switch = dcc.Checklist(
            id={"type": FEATURES_TYPE, "run": run},
            options=[{"label": f"C{c}" + (" dead" if c in dead else ""), "value": c} for c in view.cluster_ids],
            value=[c for c in view.cluster_ids if c in set(features)],
            inline=True,
            labelStyle={"marginRight": "0.55rem", "whiteSpace": "nowrap"},
            inputStyle={"marginRight": "0.2rem"},
            className="d-inline small",
        )
        body = [
            html.Div(
                [html.Div("Learned features of", className="small text-muted"), switch],
                title="Switch a cluster between its matrix and its learned features (the top image "
                "patch of each of its neurons)",
            ),
            html.Div(data.mosaic_problem, className="small text-warning-emphasis") if data.mosaic_problem else None,
            # mt-auto: the matrices sit at the bottom of equally tall cards, so their class columns line up
            html.Div(
                [
                    dcc.Graph(
                        id=matrix_id,
                        figure=data.figure,
                        config={**components.graph_config(f"{run}-{view.layer}"), "displayModeBar": False},
                        className="cnncmp-matrix",
                    ),
                    html.Div(
                        [
                            html.Span("Download", className="text-muted small me-2"),
                            components.export_buttons(pattern_dom_id(matrix_id), f"clusters-{run}-{view.layer}"),
                        ],
                        className="d-flex align-items-center justify-content-end",
                    ),
                ],
                className="mt-auto",
            ),
        ]
    return dbc.Card(
        [dbc.CardHeader(header, className="py-2 px-2"), dbc.CardBody(body, className="p-2 d-flex flex-column")],
        className="h-100" + (" border-dark border-2" if most_redundant else ""),
        id={"type": PANEL_TYPE, "run": run},
    )


def grid_style(n_panels: int) -> dict[str, str]:
    """A responsive grid: panels share the width, never narrower than 170 px (7 fit a 1320 px page)."""
    width = int(max(170, min(420, 1300 / max(n_panels, 1) - 14)))
    return {
        "display": "grid",
        "gridTemplateColumns": f"repeat(auto-fill, minmax({width}px, 1fr))",
        "gap": "0.75rem",
        "alignItems": "stretch",
    }


def duplicate_caption(threshold: float) -> html.Div:
    """What the ≈ bars and the card numbers measure, in words, beside the per-layer chart."""
    return html.Div(
        [
            html.P(DUPLICATE_CAPTION.format(threshold=threshold), className="mb-2"),
            html.P(
                "Effective rank: how many independent class profiles the layer's neurons span (at most one per "
                "class); low means redundant.",
                className="mb-2",
            ),
            html.P("A cluster marked dead never fires on the test images.", className="mb-0"),
        ],
        className="small text-muted",
        id="redundancy-caption",
    )


def edits_summary(steps: Mapping[tuple[str, str], Sequence[str]]) -> Any:
    """The edits in force, in words (with the cluster ids of their moment), one line per edited run."""
    if not steps:
        return html.Span("No edits: the clusters are the analysis' own.", className="text-muted")
    return html.Ul(
        [html.Li([html.Strong(f"{run} · {layer}: "), "; ".join(done)]) for (run, layer), done in steps.items()],
        className="mb-0 small",
    )


def feedback_line(text: str | None, kind: str = "secondary") -> Any:
    return html.Span(text, className=f"text-{kind}-emphasis") if text else None


def _button(label: str, id_: str, color: str = "primary") -> dbc.Button:
    return dbc.Button(label, id=id_, color=color, n_clicks=0, className="ms-1", size="sm")


def _dropdown(id_: str, **kwargs: Any) -> dcc.Dropdown:
    return dcc.Dropdown(id=id_, clearable=False, placeholder="cluster", style={"minWidth": "9rem"}, **kwargs)


def _group(children: list[Any], last: bool = False) -> html.Div:
    return html.Div(children, className="d-flex align-items-center mb-2" + ("" if last else " me-4"))


def edit_card(edit_runs: list[dict], edit_run: str | None, edits_list: Any) -> dbc.Card:
    """Move a neuron, merge, split, undo the last edit, reset; the ids of untouched clusters never change."""
    neuron = dbc.Input(id=NEURON_ID, type="number", min=0, step=1, placeholder="#", style={"width": "6rem"}, size="sm")
    parts = [{"label": str(p), "value": p} for p in range(2, 6)]
    forms = html.Div(
        [
            _group(
                [
                    html.Span("Move neuron", className="me-1"),
                    neuron,
                    html.Span("to", className="mx-1"),
                    _dropdown(MOVE_TO_ID),
                    _button("Move", MOVE_ID),
                ]
            ),  # fmt: skip
            _group(
                [
                    html.Span("Merge", className="me-1"),
                    _dropdown(MERGE_FROM_ID),
                    html.Span("into", className="mx-1"),
                    _dropdown(MERGE_INTO_ID),
                    _button("Merge", MERGE_ID),
                ]
            ),  # fmt: skip
            _group(
                [
                    html.Span("Split", className="me-1"),
                    _dropdown(SPLIT_CLUSTER_ID),
                    html.Span("in", className="mx-1"),
                    dcc.Dropdown(
                        id=SPLIT_PARTS_ID, options=parts, value=2, clearable=False, style={"minWidth": "4.5rem"}
                    ),
                    _button("Split", SPLIT_ID),
                ],
                last=True,
            ),  # fmt: skip
        ],
        className="d-flex flex-wrap align-items-center",
    )
    run_choice = dcc.Dropdown(
        id=EDIT_RUN_ID, options=edit_runs, value=edit_run, clearable=False, placeholder="run to edit"
    )
    return dbc.Card(
        [
            dbc.CardHeader(
                [
                    html.Span("Edit clusters", className="fw-semibold me-2"),
                    html.Span(
                        "move a neuron, merge or split clusters; cluster ids stay as they are, the matrix and the "
                        "numbers follow, and the link keeps the edits",
                        className="small text-muted",
                    ),
                ]
            ),
            dbc.CardBody(
                [
                    dbc.Row(
                        [
                            dbc.Col(
                                [html.Div("Run (its shown layer)", className="small fw-semibold"), run_choice], md=4
                            ),
                            dbc.Col(html.Div(id=EDIT_HINT_ID, className="small mt-3"), md=5),
                            dbc.Col(
                                [
                                    _button("Undo last edit", UNDO_ID, "secondary"),
                                    _button("Reset edits", RESET_ID, "secondary"),
                                ],
                                md=3,
                                className="text-md-end mt-3",
                            ),
                        ],
                        className="g-2 mb-2",
                    ),
                    forms,
                    html.Div(id=FEEDBACK_ID, className="small", role="status"),
                    html.Div(edits_list, id=EDITS_LIST_ID, className="mt-2"),
                ]
            ),
        ],
        className="mb-4",
    )
