"""Explorer page: one image through every chosen run — activation maps, class probabilities, occlusion, top-k.

After Zeiler & Fergus (2014: top-9 images per feature with their patches; occlusion sensitivity)
and CNN Explainer (Wang et al. 2020: every neuron's map, colour scales local to a neuron or a
layer, bring your own image). Runs of different depth are compared at the same *relative depth*.

The link holds the view (``/explorer?runs=a,b&image=12&depth=0.25&neurons=32&scale=layer&size=8&stride=4
&neuron=a:conv2:5``; ``layer=conv2`` names a layer instead of a depth, ``layer=0.25`` and ``models=`` are
the older spellings). The view model is :mod:`app.explorer_view`, the figures :mod:`app.figures.explorer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, Patch, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from analysis.data.uploads import MAX_IMAGE_SIDE, MAX_UPLOAD_BYTES
from app import components
from app import explorer_strip as strip
from app import explorer_view as view
from app.figures.common import empty_figure
from app.figures.explorer import highlight_shapes
from app.page import PageContext, guarded_callback, page_layout
from app.query import parse_count
from app.selection import link_message, picked_names, query_selection

dash.register_page(__name__, path="/explorer", name="Explorer", title=f"Explorer · {components.PRODUCT_NAME}", order=4)

URL_ID = "explorer-url"
BANNER_ID = "explorer-banner"
LINK_MESSAGE_ID = "explorer-link-message"
QUERY_MESSAGE_ID = "explorer-query-message"
PICKER_ID = "explorer-models"
IMAGE_ID = "explorer-image"
PREV_ID = "explorer-prev"
NEXT_ID = "explorer-next"
THUMB_TYPE = "explorer-thumb"
STRIP_ID = "explorer-strip"
SUBJECT_ID = "explorer-subject"
UPLOAD_ID = "explorer-upload"
UPLOAD_STORE_ID = "explorer-uploaded"
UPLOAD_MESSAGE_ID = "explorer-upload-message"
CLEAR_UPLOAD_TYPE = "explorer-clear-upload"
CLEAR_UPLOAD_ID = {"type": CLEAR_UPLOAD_TYPE, "id": "upload"}
LAYER_ID = "explorer-layer"
NEURONS_ID = "explorer-neurons"
SCALE_ID = "explorer-scale"
SIZE_ID = "explorer-size"
STRIDE_ID = "explorer-stride"
MAPS_GRAPH_ID = "explorer-maps"
MAPS_MESSAGE_ID = "explorer-maps-message"
MAPS_GEOMETRY_ID = "explorer-maps-geometry"
NEURON_STORE_ID = "explorer-neuron"
PROBABILITIES_GRAPH_ID = "explorer-probabilities"
OCCLUSION_GRAPH_ID = "explorer-occlusion"
OCCLUSION_MESSAGE_ID = "explorer-occlusion-message"
PATCHES_ID = "explorer-patches"
PATCHES_GRAPH_ID = "explorer-patches-graph"

HEADING = components.page_heading(
    "Explorer",
    "One image through every chosen run: what each layer's neurons respond to, how sure each run is, "
    "which part of the image it relies on (occlusion), and what a clicked neuron likes best.",
)


# -- controls ----------------------------------------------------------------------------------------
def _label(text: str) -> html.Span:
    return html.Span(text, className="fw-semibold me-2 text-nowrap")


def _dropdown(id: str, options: Sequence[Any], value: Any, width: str, label: Any = None) -> dcc.Dropdown:  # noqa: A002 - Dash's name for a component id
    return dcc.Dropdown(
        id=id,
        options=[{"label": label(o) if label else str(o), "value": o} for o in options],
        value=value,
        clearable=False,
        searchable=False,
        style={"width": width},
    )


def picker(runs: Sequence[dict[str, Any]], chosen: Sequence[str]) -> dbc.Checklist:
    options = components.run_options(runs, disable_broken=True)
    return dbc.Checklist(id=PICKER_ID, options=options, value=list(chosen), inline=True, switch=True)


def image_controls(query: view.ExplorerQuery, n_images: int | None) -> dbc.Card:
    upload = dcc.Upload(
        id=UPLOAD_ID,
        multiple=False,
        children=html.Div(["Drop a PNG or JPEG here, or ", html.A("choose a file", className="link-primary")]),
        className="border border-2 border-secondary-subtle rounded text-center text-muted py-2 px-3",
        style={"borderStyle": "dashed", "cursor": "pointer"},
    )
    step = {"color": "secondary", "outline": True, "size": "sm", "n_clicks": 0}
    image_row = html.Div(
        [
            _label("Test image"),
            dbc.Button("‹ Prev", id=PREV_ID, className="me-1", **step),
            dcc.Input(
                id=IMAGE_ID,
                type="number",
                min=0,
                max=(n_images - 1) if n_images else None,
                step=1,
                value=query.image,
                debounce=True,
                style={"width": "6rem"},
                className="form-control form-control-sm",
            ),
            dbc.Button("Next ›", id=NEXT_ID, className="ms-1", **step),
            html.Span(f"of 0 … {n_images - 1}" if n_images else "", className="text-muted small ms-2"),
        ],
        className="d-flex align-items-center mb-2",
    )
    return dbc.Card(
        dbc.CardBody(
            [
                image_row,
                html.Div(
                    [_label("Or your own image"), html.Div(upload, className="flex-grow-1")],
                    className="d-flex align-items-center mb-1",
                ),
                html.Div(
                    f"PNG or JPEG, at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB and {MAX_IMAGE_SIDE} px a side; "
                    "its central square is shrunk to 32 × 32. Uploads are not part of the link.",
                    className="text-muted small mb-2",
                ),
                html.Div(id=UPLOAD_MESSAGE_ID),
            ]
        ),
        className="mb-3",
    )


def maps_controls(query: view.ExplorerQuery) -> html.Div:
    marks = {0: "0 · input side", 0.25: "0.25", 0.5: "0.5", 0.75: "0.75", 1: "1 · output"}
    slider = dcc.Slider(
        id=LAYER_ID, min=0, max=1, step=0.01, value=query.depth, marks=marks, tooltip={"placement": "bottom"}
    )
    neurons = _dropdown(
        NEURONS_ID, view.NEURON_CHOICES, query.neurons, "8rem", lambda c: c if c == "all" else f"first {c}"
    )
    scale = dbc.RadioItems(
        id=SCALE_ID, options=[{"label": t, "value": k} for k, t in view.SCALES.items()], value=query.scale, inline=True
    )
    return html.Div(
        [
            html.Div(
                [
                    _label("Layer (relative depth; each run takes its nearest layer)"),
                    html.Div(slider, style={"minWidth": "18rem"}, className="flex-grow-1"),
                ],
                className="d-flex align-items-center flex-grow-1 me-4",
            ),
            html.Div([_label("Neurons"), neurons], className="d-flex align-items-center me-4"),
            html.Div([_label("Colour scale"), scale], className="d-flex align-items-center"),
        ],
        className="d-flex flex-wrap align-items-center mb-2",
    )


def occlusion_controls(query: view.ExplorerQuery) -> html.Div:
    def pixels(value: int) -> str:
        return f"{value} px"

    return html.Div(
        [
            _label("Occluder"),
            html.Span("size", className="me-1 text-muted"),
            html.Div(_dropdown(SIZE_ID, view.SIZE_CHOICES, query.size, "6.5rem", pixels), className="me-3"),
            html.Span("stride", className="me-1 text-muted"),
            _dropdown(STRIDE_ID, view.STRIDE_CHOICES, query.stride, "6.5rem", pixels),
            html.Span("a grey (dataset-mean) square slid over the image", className="text-muted small ms-3"),
        ],
        className="d-flex align-items-center flex-wrap mb-2",
    )


# -- layout ------------------------------------------------------------------------------------------
def layout(**query: Any) -> html.Div:
    """The page for ``/explorer?runs=a,b&image=3&depth=0.25&…``; bad values get a message and a default."""

    def build(context: PageContext) -> list[Any]:
        selection = query_selection(query, context.runs, context.settings.runs_dir)
        usable, _broken = view.usable_runs(context.runs, list(selection.names))
        link = view.resolve_link(context.analyzer, usable, view.parse_query(query))
        chosen = link.query
        loading = empty_figure("Loading…")
        return [
            dcc.Location(id=URL_ID, refresh=False),
            dcc.Store(id=UPLOAD_STORE_ID),
            dcc.Store(id=MAPS_GEOMETRY_ID),
            dcc.Store(id=NEURON_STORE_ID, data=chosen.neuron._asdict() if chosen.neuron else None),
            link_message(selection, context.settings.runs_dir, LINK_MESSAGE_ID),
            components.query_message(link.problems, id=QUERY_MESSAGE_ID),
            html.Div(
                components.dataset_banner([r for r in context.runs if r["name"] in selection.names]), id=BANNER_ID
            ),
            html.Div(
                [_label("Runs"), picker(context.runs, selection.names)],
                className="d-flex flex-wrap align-items-baseline mb-3",
            ),
            dbc.Row([dbc.Col(image_controls(chosen, link.n_images), lg=6), dbc.Col(html.Div(id=SUBJECT_ID), lg=6)]),
            dcc.Loading(html.Div(id=STRIP_ID, className="mb-2"), delay_show=300),
            html.H4("Activation maps", className="mt-2"),
            maps_controls(chosen),
            html.Div(id=MAPS_MESSAGE_ID),
            dcc.Loading(components.graph(MAPS_GRAPH_ID, loading, filename="activation-maps"), delay_show=400),
            html.Div(id=PATCHES_ID),
            html.H4("Class probabilities", className="mt-2"),
            components.graph(PROBABILITIES_GRAPH_ID, loading, filename="class-probabilities"),
            html.H4("Occlusion sensitivity", className="mt-2"),
            occlusion_controls(chosen),
            html.Div(id=OCCLUSION_MESSAGE_ID),
            dcc.Loading(components.graph(OCCLUSION_GRAPH_ID, loading, filename="occlusion"), delay_show=400),
        ]

    return page_layout("explorer", HEADING, build, query)


# -- callbacks ---------------------------------------------------------------------------------------
def _clicked() -> bool:
    """Whether the callback was fired by a click (a control redrawn with ``n_clicks`` 0 is not one)."""
    return bool(ctx.triggered and ctx.triggered[0].get("value"))


def register_callbacks(app: dash.Dash) -> None:
    """Controls → figures; thumbnails and prev/next → image number; an upload → the kept image; a click on a
    map → the neuron's top images; every control → the URL."""

    @guarded_callback(
        app,
        Output(IMAGE_ID, "value"),
        Input(PREV_ID, "n_clicks"),
        Input(NEXT_ID, "n_clicks"),
        Input({"type": THUMB_TYPE, "index": ALL}, "n_clicks"),
        State(IMAGE_ID, "value"),
        State(IMAGE_ID, "max"),
        what="The image step",
        prevent_initial_call=True,
    )
    def step_image(_prev: Any, _next: Any, _thumbs: Any, current: Any, highest: Any):
        trigger = ctx.triggered_id
        if not _clicked():
            raise PreventUpdate  # a strip redrawn with fresh thumbnails, not a click
        number = parse_count(current, "image", 0).value or 0
        if isinstance(trigger, dict) and trigger.get("type") == THUMB_TYPE:
            index = parse_count(trigger.get("index"), "image", None).value  # a client may send any id
            return index if index is not None else no_update
        if trigger == PREV_ID:
            return max(0, number - 1)
        if trigger == NEXT_ID:
            return number + 1 if not isinstance(highest, int) else min(highest, number + 1)
        return no_update

    @guarded_callback(
        app,
        Output(UPLOAD_STORE_ID, "data"),
        Output(UPLOAD_MESSAGE_ID, "children"),
        Output(UPLOAD_ID, "contents"),
        Input(UPLOAD_ID, "contents"),
        Input({"type": CLEAR_UPLOAD_TYPE, "id": ALL}, "n_clicks"),
        Input(IMAGE_ID, "value"),
        State(UPLOAD_ID, "filename"),
        State(UPLOAD_STORE_ID, "data"),
        what="The upload",
        message=1,
        prevent_initial_call=True,
    )
    def take_upload(contents: Any, _clear: Any, _image: Any, filename: Any, kept: Any):
        if ctx.triggered_id != UPLOAD_ID:
            # Choosing a test image (or "back to the test images") puts the upload aside.
            if isinstance(ctx.triggered_id, dict) and not _clicked():
                raise PreventUpdate  # a fresh button (n_clicks 0), not a click
            return (None if kept else no_update), None, no_update
        if not contents:
            raise PreventUpdate
        stored, problem = view.read_upload(contents, filename)
        return (stored if stored else no_update), problem, None

    @guarded_callback(
        app,
        Output(BANNER_ID, "children"),
        Output(STRIP_ID, "children"),
        Output(SUBJECT_ID, "children"),
        Input(PICKER_ID, "value"),
        Input(IMAGE_ID, "value"),
        Input(UPLOAD_STORE_ID, "data"),
        what="The test images",
        message=1,
    )
    def show_strip(picked: Any, index: Any, uploaded: Any):
        return strip.strip_parts(picked, index, uploaded, THUMB_TYPE, CLEAR_UPLOAD_ID)

    @guarded_callback(
        app,
        Output(MAPS_GRAPH_ID, "figure"),
        Output(PROBABILITIES_GRAPH_ID, "figure"),
        Output(MAPS_GEOMETRY_ID, "data"),
        Output(MAPS_MESSAGE_ID, "children"),
        Input(PICKER_ID, "value"),
        Input(IMAGE_ID, "value"),
        Input(LAYER_ID, "value"),
        Input(NEURONS_ID, "value"),
        Input(SCALE_ID, "value"),
        Input(UPLOAD_STORE_ID, "data"),
        State(NEURON_STORE_ID, "data"),
        what="The activation maps",
        message=3,
    )
    def show_maps(picked: Any, index: Any, depth: Any, neurons: Any, scale: Any, uploaded: Any, neuron: Any):
        return view.maps_view(picked, index, depth, neurons, scale, uploaded, neuron)

    @guarded_callback(
        app,
        Output(OCCLUSION_GRAPH_ID, "figure"),
        Output(OCCLUSION_MESSAGE_ID, "children"),
        Input(PICKER_ID, "value"),
        Input(IMAGE_ID, "value"),
        Input(SIZE_ID, "value"),
        Input(STRIDE_ID, "value"),
        Input(UPLOAD_STORE_ID, "data"),
        what="The occlusion map",
        message=1,
    )
    def show_occlusion(picked: Any, index: Any, size: Any, stride: Any, uploaded: Any):
        return view.occlusion_view(picked, index, size, stride, uploaded)

    @guarded_callback(
        app,
        Output(NEURON_STORE_ID, "data"),
        Output(MAPS_GRAPH_ID, "figure", allow_duplicate=True),
        Input(MAPS_GRAPH_ID, "clickData"),
        State(MAPS_GEOMETRY_ID, "data"),
        what="The clicked neuron",
        prevent_initial_call=True,
    )
    def pick_neuron(click: Any, geometry: Any):
        selected = view.clicked_neuron(click, geometry)
        if selected is None:
            raise PreventUpdate  # a gap between maps, or past the last one
        frame = Patch()  # only the frame around the clicked map changes: the maps are not sent again
        frame["layout"]["shapes"] = highlight_shapes(geometry, selected)
        return selected._asdict(), frame

    @guarded_callback(
        app,
        Output(PATCHES_ID, "children"),
        Input(NEURON_STORE_ID, "data"),
        what="The neuron's top images",
        message=0,
    )
    def show_patches(neuron: Any):
        return view.patches_parts(view.selected_from(neuron), PATCHES_GRAPH_ID)

    @guarded_callback(
        app,
        Output(URL_ID, "search"),
        Input(PICKER_ID, "value"),
        Input(IMAGE_ID, "value"),
        Input(LAYER_ID, "value"),
        Input(NEURONS_ID, "value"),
        Input(SCALE_ID, "value"),
        Input(SIZE_ID, "value"),
        Input(STRIDE_ID, "value"),
        Input(NEURON_STORE_ID, "data"),
        what="The link",
        prevent_initial_call=True,  # keep the link as typed until the view changes
    )
    def write_url(picked: Any, *controls: Any):
        return view.explorer_search(picked_names(picked), view.controls_query(*controls))
