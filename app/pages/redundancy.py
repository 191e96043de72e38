"""Redundancy page: CNNVis' cluster matrices of the chosen runs side by side, redundancy per layer, cluster edits.

One layer per run, chosen by relative depth (each run snaps to its nearest layer) or by name when
one run is shown. Each run's class-activation matrix has its rows (neurons) grouped by cluster and
ordered inside it, one class order for all columns, a near-duplicate marker column and one colour
scale for every run; any cluster can switch to its learned-features mosaic. Clusters can be edited
(move a neuron, merge, split) and the matrix and metrics follow. The URL holds the whole view:
``/redundancy?models=a,b&depth=0.5&view=matrix&edits=a:conv5:m12.3-j1.0``, where ``edits`` is one
``run:layer:log`` per edited run, joined by ``~`` (the log's grammar is in :mod:`analysis.statistics.cluster_edits`).
Reading and figure building are plain functions below; callbacks only call them.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import logging
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

import dash
import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import ALL, MATCH, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from plotly.subplots import make_subplots

from analysis.pipeline import NotAnalyzedError, RunAnalyzer
from analysis.probes.mosaic import neuron_tiles, pack_tiles, top_patch_boxes
from analysis.runs.store import RunNameError, check_run_name
from analysis.statistics.cluster_edits import (
    EditError,
    Merge,
    Move,
    Split,
    apply_edit_log,
    describe_edit,
    format_edits,
    parse_edits,
)
from analysis.statistics.redundancy import normalize_profiles
from app import components
from app.analysis_access import PAGE_ERRORS
from app.analysis_access import analyzer as current_analyzer
from app.config import current_settings
from app.figures.common import FIGURE_FONT
from app.selection import link_message, parse_runs, picked_names, read_runs, run_colours

dash.register_page(
    __name__, path="/redundancy", name="Redundancy", title=f"Redundancy · {components.PRODUCT_NAME}", order=1
)

log = logging.getLogger(__name__)

URL_ID = "redundancy-url"
STORE_ID = "redundancy-state"
BANNER_ID = "redundancy-banner"
LINK_MESSAGE_ID = "redundancy-link-message"
QUERY_MESSAGE_ID = "redundancy-query-message"
PICKER_ID = "redundancy-models"
DEPTH_ID = "redundancy-depth"
LAYER_ID = "redundancy-layer"
VIEW_ID = "redundancy-view"
PANELS_ID = "redundancy-panels"
METRICS_ID = "redundancy-metrics"
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
RESET_ID = "redundancy-edit-reset"
FEEDBACK_ID = "redundancy-edit-feedback"
EDITS_LIST_ID = "redundancy-edits-list"
MATRIX_TYPE = "redundancy-matrix"  # pattern-matching ids: {"type": MATRIX_TYPE, "run": name}
FEATURES_TYPE = "redundancy-features"  # the per-cluster matrix / learned-features switches of one run

DEFAULT_DEPTH = 0.5
VIEWS = ("matrix", "mosaic")
TARGET_SEPARATOR = "~"  # between edited runs in ``edits``; run names never contain it (nor ":")
MAX_EDITS_TEXT = 2000
METRICS = (
    ("near_duplicate_fraction", "near-duplicate fraction"),
    ("mean_within_cluster_similarity", "mean within-cluster similarity"),
    ("normalized_effective_rank", "normalised effective rank"),
)
PLOT_HEIGHT_RANGE = (200, 500)  # pixels of matrix, the same for every run so the panels line up
DUPLICATE_COLOUR = "#343a40"
GAP_PX = 5  # white gap between clusters: the cluster separators


# -- the URL's values ------------------------------------------------------------------------------
def parse_depth(value: Any) -> float:
    """``"0.45"`` → 0.45; raises ValueError unless a plain number in [0, 1]."""
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    text = str(value).strip()
    try:
        depth = float(text)
    except ValueError:
        raise ValueError(f"depth={text!r} is not a number between 0 and 1") from None
    if not math.isfinite(depth) or not 0.0 <= depth <= 1.0 or "e" in text.lower():
        raise ValueError(f"depth={text!r} is not a number between 0 and 1")
    return round(depth, 3)


def format_depth(depth: float) -> str:
    return f"{round(float(depth), 3):g}"


def parse_edits_value(value: Any) -> dict[str, tuple[str, str]]:
    """The ``edits`` query value as {run: (layer, log)}; raises ValueError (:class:`EditError`) if malformed.

    Only the form is checked here; whether the layer is the one shown and the log applies is
    checked against the run's clusters (:func:`check_edits`).
    """
    if isinstance(value, (list, tuple)):
        raise EditError("edits is given more than once")
    text = str(value)
    if len(text) > MAX_EDITS_TEXT:
        raise EditError(f"edits is {len(text)} characters long; at most {MAX_EDITS_TEXT} are read")
    if text == "":
        return {}
    edits: dict[str, tuple[str, str]] = {}
    for part in text.split(TARGET_SEPARATOR):
        pieces = part.split(":")
        if len(pieces) != 3 or not all(pieces):
            raise EditError(f"{part!r} is not run:layer:edits")
        run, layer, log_text = pieces
        try:
            check_run_name(run)
        except RunNameError:
            raise EditError(f"{run!r} is not a run name") from None
        if run in edits:
            raise EditError(f"run {run} is edited twice")
        parse_edits(log_text)
        edits[run] = (layer, log_text)
    return edits


def format_edits_value(edits: Mapping[str, Sequence[str]]) -> str:
    return TARGET_SEPARATOR.join(f"{run}:{layer}:{log_text}" for run, (layer, log_text) in edits.items())


def state_search(state: Mapping[str, Any]) -> str:
    """The query string that restores ``state`` (models, depth or layer, view, edits)."""
    params = {"models": ",".join(state.get("models") or [])}
    if state.get("layer"):
        params["layer"] = str(state["layer"])
    else:
        params["depth"] = format_depth(state.get("depth", DEFAULT_DEPTH))
    params["view"] = state.get("view") or VIEWS[0]
    if state.get("edits"):
        params["edits"] = format_edits_value(state["edits"])
    return "?" + urlencode(params, safe=",:~", quote_via=quote)


# -- a run's layers and the layer shown ------------------------------------------------------------
class RunLayers(NamedTuple):
    """What the page needs of a run's statistics to pick a layer and label its matrix."""

    names: tuple[str, ...]
    depths: tuple[float, ...]
    class_names: tuple[str, ...]


def run_layers(analyzer: RunAnalyzer, run: str) -> RunLayers:
    """The analysed layers of ``run`` with their relative depths; raises a PAGE_ERRORS error if not analysed."""
    stats = analyzer.statistics(run)
    return RunLayers(
        tuple(stats["layer_names"]),
        tuple(float(d) for d in stats["relative_depth"]),
        tuple(str(c) for c in stats["class_names"]),
    )


def nearest_layer(depths: Sequence[float], depth: float) -> int:
    """Index of the layer whose relative depth is nearest ``depth`` (the shallower one on a tie)."""
    if not depths:
        raise ValueError("a run without analysable layers")
    return min(range(len(depths)), key=lambda i: (abs(depths[i] - depth), i))


class Shown(NamedTuple):
    """One chosen run as the page shows it: its layers and the layer taken, or why it cannot be shown."""

    run: str
    layers: RunLayers | None = None
    index: int | None = None
    problem: Exception | str | None = None

    @property
    def layer(self) -> str | None:
        return self.layers.names[self.index] if self.layers is not None and self.index is not None else None


def resolve(state: Mapping[str, Any], runs: Sequence[Mapping[str, Any]], analyzer: RunAnalyzer) -> list[Shown]:
    """The chosen runs (in the runs folder's order) with the layer each one shows."""
    wanted = set(state.get("models") or [])
    single = len(wanted) == 1
    shown = []
    for row in runs:
        name = str(row.get("name"))
        if name not in wanted:
            continue
        if row.get("status") == "broken":
            shown.append(Shown(name, problem=str(row.get("problem") or "the run's files cannot be read")))
            continue
        try:
            layers = run_layers(analyzer, name)
        except PAGE_ERRORS as exc:
            shown.append(Shown(name, problem=exc))
            continue
        layer = state.get("layer")
        if single and layer in layers.names:
            index = layers.names.index(layer)
        else:
            index = nearest_layer(layers.depths, float(state.get("depth", DEFAULT_DEPTH)))
        shown.append(Shown(name, layers, index))
    return shown


# -- one layer's clusters, edits applied -----------------------------------------------------------
class LayerView(NamedTuple):
    """One run's layer as the matrix shows it, after its edits."""

    run: str
    layer: str
    index: int
    depth: float
    class_names: tuple[str, ...]
    profiles: np.ndarray  # neurons × classes, normalised for display (``profiles/{i}``)
    labels: np.ndarray  # cluster of each neuron, numbered from the top of the matrix
    row_order: np.ndarray  # neurons top to bottom; each cluster contiguous
    duplicates: np.ndarray  # bool per neuron: has a near-duplicate
    metrics: dict  # redundancy metrics of the layer (after the edits)
    edits: str  # the edit log applied ('' for none)

    @property
    def n_clusters(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size else 0

    def members(self, cluster: int) -> list[int]:
        """The neurons of ``cluster``, top to bottom."""
        return [int(n) for n in self.row_order if self.labels[n] == cluster]


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


@functools.lru_cache(maxsize=128)
def _layer_view(analyzer: RunAnalyzer, run: str, checkpoint: str, index: int, edits: str) -> LayerView:
    del checkpoint  # part of the key only: a new checkpoint is a new view
    stats, clusters = analyzer.statistics(run), analyzer.clusters(run)
    labels = np.asarray(clusters[f"labels/{index}"], dtype=int)
    row_order = np.asarray(clusters[f"row_order/{index}"], dtype=int)
    metrics = dict(clusters["metrics"][index])
    if edits:
        # The pipeline clusters z-scored class means and measures redundancy on them; edits do the same.
        selectivity = normalize_profiles(stats[f"class_means/{index}"], "zscore")
        edited = apply_edit_log(
            selectivity, labels, parse_edits(edits), analyzer.params.duplicate_threshold, row_order=row_order
        )
        labels, row_order = edited.labels, edited.row_order
        metrics = {key: _finite_or_none(value) for key, value in edited.metrics.items()}
    return LayerView(
        run,
        str(stats["layer_names"][index]),
        index,
        float(stats["relative_depth"][index]),
        tuple(str(c) for c in stats["class_names"]),
        np.asarray(clusters[f"profiles/{index}"], float),
        labels,
        row_order,
        np.asarray(clusters[f"duplicates/{index}"], bool),
        metrics,
        edits,
    )


def layer_view(analyzer: RunAnalyzer, run: str, index: int, edits: str = "") -> LayerView:
    """The layer ``index`` of ``run`` after the edit log ``edits`` (cached per checkpoint); raises PAGE_ERRORS."""
    return _layer_view(analyzer, run, analyzer.checkpoint_hash(run), int(index), edits)


@functools.lru_cache(maxsize=32)  # a 2048-neuron layer's tiles are 1.5 MB
def _layer_tiles(analyzer: RunAnalyzer, run: str, checkpoint: str, index: int) -> np.ndarray:
    del checkpoint
    stats = analyzer.statistics(run)
    images, _ = analyzer.evaluation_images(run)
    name = stats["layer_names"][index]
    boxes = top_patch_boxes(
        stats[f"top_positions/{index}"][0],
        stats["receptive_fields"].get(name),
        image_size=images.shape[-1],
        image_height=images.shape[-2],
    )
    return neuron_tiles(images, stats[f"top_images/{index}"][0], boxes)


def cluster_mosaics(analyzer: RunAnalyzer, view: LayerView, clusters: Collection[int]) -> dict[int, np.ndarray]:
    """Learned-features mosaic of each of ``clusters``: its neurons' top patches in matrix order.

    Same pictures as ``analyzer.cluster_mosaic(run, layer, cluster)``, but for the edited clusters
    too, and the layer's patches are cut once (see :mod:`analysis.probes.mosaic`).
    """
    if not clusters:
        return {}
    tiles = _layer_tiles(analyzer, view.run, analyzer.checkpoint_hash(view.run), view.index)
    return {int(c): pack_tiles(tiles, view.members(int(c))) for c in clusters if view.members(int(c))}


def png_uri(image: np.ndarray) -> str:
    """An RGB uint8 array as a ``data:image/png;base64,...`` URI."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# -- the cluster matrix figure ---------------------------------------------------------------------
class ColourScale(NamedTuple):
    """One colour scale for every matrix on the page."""

    zmin: float
    zmax: float
    colorscale: str


def colour_scale(views: Sequence[LayerView]) -> ColourScale:
    """Viridis over [0, max] for non-negative responses, a diverging scale symmetric about 0 otherwise."""
    values = [v.profiles for v in views if v.profiles.size]
    if not values:
        return ColourScale(0.0, 1.0, "Viridis")
    low = min(float(np.nanmin(v)) for v in values)
    high = max(float(np.nanmax(v)) for v in values)
    if low >= 0:
        return ColourScale(0.0, high if high > 0 else 1.0, "Viridis")
    bound = max(abs(low), abs(high))
    return ColourScale(-bound, bound, "RdBu_r")


def plot_height(n_neurons: int, n_panels: int = 3) -> int:
    """Pixels of matrix for a layer of ``n_neurons``: 4 px a row (7 px in a wide panel), within PLOT_HEIGHT_RANGE."""
    low, high = PLOT_HEIGHT_RANGE
    return int(min(high, max(low, (7 if n_panels <= 2 else 4) * n_neurons)))


def dataset_short(run: Mapping[str, Any] | None) -> str:
    """``digits (not CIFAR-10)``: the dataset's name for a small figure's subtitle."""
    name = str((run or {}).get("dataset") or "unknown data")
    return name if "cifar" in name.lower() else f"{name} (not CIFAR-10)"


def _block_heights(view: LayerView, features: Collection[int], plot_px: int) -> list[float]:
    n = max(len(view.row_order), 1)
    heights = []
    for cluster in range(view.n_clusters):
        size = len(view.members(cluster))
        rows_px = plot_px * size / n
        if cluster in features:
            columns = math.ceil(math.sqrt(size))
            tile_rows = math.ceil(size / columns)
            rows_px = max(rows_px, min(0.45 * plot_px, 36.0 * tile_rows))
        heights.append(max(rows_px, 1.0))
    return heights


def cluster_matrix_figure(
    view: LayerView,
    scale: ColourScale,
    features: Collection[int] = (),
    mosaics: Mapping[int, str] | None = None,
    plot_px: int | None = None,
    subtitle: str = "",
) -> go.Figure:
    """The layer's class-activation matrix, one block of rows per cluster, top to bottom.

    Rows are neurons in ``row_order``; columns the classes in the dataset's order. A white gap
    separates clusters; the thin dark column on the right marks neurons with a near-duplicate.
    A cluster in ``features`` whose PNG is in ``mosaics`` shows its learned-features mosaic instead.
    """
    mosaics = mosaics or {}
    features = {c for c in features if c in mosaics}
    k = view.n_clusters
    plot_px = plot_px or plot_height(len(view.row_order))
    classes = list(view.class_names)
    if k == 0:
        figure = go.Figure()
        figure.add_annotation(text="no neurons", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
        figure.update_xaxes(visible=False)
        figure.update_yaxes(visible=False)
        figure.update_layout(template="plotly_white", height=plot_px)
        return figure
    heights = _block_heights(view, features, plot_px)
    # A gap of GAP_PX pixels between clusters, unless there are so many that gaps would fill half the plot.
    spacing = min(GAP_PX / plot_px, 0.5 / (k - 1)) if k > 1 else 0.0
    scale_px = plot_px * (1 - spacing * (k - 1)) / sum(heights)  # pixels per unit of ``heights``
    specs = [[{"colspan": 2}, None] if c in features else [{}, {}] for c in range(k)]
    figure = make_subplots(
        rows=k,
        cols=2,
        row_heights=heights,
        column_widths=[0.92, 0.08],
        vertical_spacing=spacing,
        horizontal_spacing=0.02,
        specs=specs,
    )
    first_matrix = next((c for c in range(k) if c not in features), None)
    longest = max((len(c) for c in classes), default=1)
    for cluster in range(k):
        row = cluster + 1
        members = view.members(cluster)
        if cluster in features:
            figure.add_trace(go.Image(source=mosaics[cluster], hoverinfo="skip", name=f"C{cluster}"), row=row, col=1)
            figure.update_xaxes(visible=False, row=row, col=1)
            figure.update_yaxes(visible=False, row=row, col=1)
            continue
        z = view.profiles[members]
        duplicate = view.duplicates[members]
        # Rows are named by neuron index (a category axis), so hover and clicks tell the neuron.
        names = [str(neuron) for neuron in members]
        custom = [[[cluster, " · has a near-duplicate" if dup else ""] for _ in classes] for dup in duplicate]
        figure.add_trace(
            go.Heatmap(
                z=z,
                x=classes,
                y=names,
                coloraxis="coloraxis",
                customdata=custom,
                hovertemplate="neuron %{y} · C%{customdata[0]}%{customdata[1]}<br>class %{x}"
                "<br>response %{z:.2f}<extra></extra>",
                name=f"C{cluster}",
            ),
            row=row,
            col=1,
        )
        figure.add_trace(
            go.Heatmap(
                z=[[1.0] if dup else [None] for dup in duplicate],
                x=["≈"],
                y=names,
                colorscale=[[0, DUPLICATE_COLOUR], [1, DUPLICATE_COLOUR]],
                showscale=False,
                hoverongaps=False,
                hovertemplate="neuron %{y} has a near-duplicate<extra></extra>",
                name=f"C{cluster} ≈",
            ),
            row=row,
            col=2,
        )
        top = cluster == first_matrix
        figure.update_xaxes(
            side="top",
            showticklabels=top,
            ticks="",
            tickangle=-90 if longest > 2 else 0,
            tickfont={"size": 10},
            type="category",
            dtick=1,
            row=row,
            col=1,
        )
        figure.update_xaxes(
            side="top",
            showticklabels=top,
            ticks="",
            tickfont={"size": 12},
            type="category",
            categoryarray=["≈"],
            range=[-0.5, 0.5],
            fixedrange=True,
            row=row,
            col=2,
        )
        for col in (1, 2):
            figure.update_yaxes(
                type="category",
                categoryarray=names,
                autorange="reversed",
                showticklabels=False,
                ticks="",
                showgrid=False,
                zeroline=False,
                row=row,
                col=col,
            )
    # Cluster names in the left margin, where a block is tall enough to hold one.
    for cluster, height in enumerate(heights):
        if height * scale_px < 11:
            continue
        axis = figure.get_subplot(cluster + 1, 1).yaxis.plotly_name.replace("axis", "")
        figure.add_annotation(
            text=f"C{cluster}",
            xref="paper",
            yref=f"{axis} domain",
            x=0,
            y=0.5,
            xanchor="right",
            xshift=-4,
            showarrow=False,
            font={"size": 12, "color": "#495057"},
        )
    top_px = 40 + (int(6.5 * min(longest, 14)) if longest > 2 else 16)  # title, subtitle, class names
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        # Two short lines (a panel is ~170 px wide); exported alone, the figure still says what it shows.
        title={
            "text": view.run,
            "subtitle": {"text": f"{view.layer} · {subtitle}" if subtitle else view.layer, "font": {"size": 10}},
            "x": 0.01,
            "xanchor": "left",
            "y": 0.99,
            "yanchor": "top",
            "font": {"size": 11},
        },
        coloraxis={
            "colorscale": scale.colorscale,
            "cmin": scale.zmin,
            "cmax": scale.zmax,
            "colorbar": {
                "orientation": "h",
                "thickness": 8,
                "len": 1.0,
                "x": 0.5,
                "xanchor": "center",
                "y": 0,
                "yanchor": "top",
                "ypad": 4,
                "tickfont": {"size": 10},
                "title": {"text": "response", "side": "right", "font": {"size": 11}},
            },
        },
        margin={"l": 30, "r": 6, "t": top_px, "b": 44},
        height=plot_px + top_px + 44,
        showlegend=False,
        hovermode="closest",
        plot_bgcolor="white",
    )
    return figure


# -- the metrics figure ----------------------------------------------------------------------------
class RunMetrics(NamedTuple):
    """A run's redundancy metrics per layer, the layer shown and the one edited (if any)."""

    run: str
    layers: tuple[str, ...]
    depths: tuple[float, ...]
    metrics: tuple[dict, ...]
    shown: int
    edited: int | None = None


def run_metrics(analyzer: RunAnalyzer, shown: Shown, view: LayerView | None) -> RunMetrics:
    """Every layer's metrics of a shown run, the shown layer's replaced by its edited clusters' ones."""
    metrics = [dict(m) for m in analyzer.clusters(shown.run)["metrics"]]
    edited = None
    if view is not None and view.edits:
        metrics[view.index] = dict(view.metrics)
        edited = view.index
    return RunMetrics(shown.run, shown.layers.names, shown.layers.depths, tuple(metrics), shown.index, edited)


def metrics_figure(
    series: Sequence[RunMetrics], colours: Mapping[str, str], depth: float | None, data_label: str
) -> go.Figure:
    """Near-duplicate fraction, within-cluster similarity and normalised effective rank per layer, across runs.

    x is the relative depth, so runs of different depths line up; a ring marks each run's shown
    layer, an open diamond a layer whose clusters were edited on this page.
    """
    figure = make_subplots(
        rows=1, cols=len(METRICS), subplot_titles=[label for _, label in METRICS], horizontal_spacing=0.07
    )
    for item in series:
        colour = colours.get(item.run, "#888888")
        for col, (key, label) in enumerate(METRICS, start=1):
            values = [_finite_or_none(m.get(key)) for m in item.metrics]
            figure.add_trace(
                go.Scatter(
                    x=list(item.depths),
                    y=values,
                    mode="lines+markers",
                    name=item.run,
                    legendgroup=item.run,
                    showlegend=col == 1,
                    line={"color": colour, "width": 2.5},
                    marker={"size": 6},
                    customdata=list(item.layers),
                    hovertemplate=(
                        f"{item.run} · %{{customdata}}<br>{label} %{{y:.3f}}<br>depth %{{x:.2f}}<extra></extra>"
                    ),
                ),
                row=1,
                col=col,
            )
            figure.add_trace(
                go.Scatter(
                    x=[item.depths[item.shown]],
                    y=[values[item.shown]],
                    mode="markers",
                    legendgroup=item.run,
                    showlegend=False,
                    hoverinfo="skip",
                    marker={"size": 15, "color": "rgba(0,0,0,0)", "line": {"color": colour, "width": 2.5}},
                ),
                row=1,
                col=col,
            )
            if item.edited is not None:
                figure.add_trace(
                    go.Scatter(
                        x=[item.depths[item.edited]],
                        y=[values[item.edited]],
                        mode="markers",
                        legendgroup=item.run,
                        showlegend=False,
                        marker={"size": 13, "symbol": "diamond-open", "color": "#212529", "line": {"width": 2}},
                        hovertemplate=f"{item.run} · {item.layers[item.edited]} after edits<br>{label} %{{y:.3f}}"
                        "<extra></extra>",
                    ),
                    row=1,
                    col=col,
                )
    if depth is not None and series:
        for col in range(1, len(METRICS) + 1):
            figure.add_vline(x=depth, line={"color": "#adb5bd", "dash": "dash", "width": 1.5}, row=1, col=col)
    if not series:
        figure.add_annotation(
            text="No analysed run chosen.",
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            showarrow=False,
            font={"size": 16, "color": "#6c757d"},
        )
    figure.update_xaxes(
        title={"text": "relative depth", "font": {"size": 13}},
        range=[-0.03, 1.03],
        dtick=0.25,
        showgrid=True,
        zeroline=False,
    )
    figure.update_yaxes(showgrid=True, zeroline=False)
    figure.update_yaxes(range=[-0.03, 1.03], row=1, col=1)
    figure.update_yaxes(range=[-0.03, 1.03], row=1, col=3)
    figure.update_annotations(font={"size": 14})
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title={"text": f"Redundancy per layer · {data_label}", "x": 0.01, "xanchor": "left"},
        legend={"orientation": "h", "y": -0.22, "x": 0, "title": {"text": "runs "}},
        margin={"l": 50, "r": 20, "t": 90, "b": 60},
        height=440,
        hovermode="closest",
    )
    return figure


# -- the panels --------------------------------------------------------------------------------------
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


class PanelData(NamedTuple):
    """What one run's panel shows: its layer view (or problem) and its figure."""

    shown: Shown
    view: LayerView | None
    figure: go.Figure | None
    problem: Exception | str | None


def run_panel(
    data: PanelData, colour: str, depth: float | None, features: Collection[int], mosaic_problem: str | None = None
) -> dbc.Card:
    """One run's card: name, the layer taken, the per-cluster switches and its matrix (or why not)."""
    run = data.shown.run
    header = [
        html.Div(
            [_swatch(colour), html.Span(run, className="fw-semibold text-break lh-sm", title=run)],
            className="d-flex align-items-center",
        )
    ]
    if data.view is None:
        body = [
            components.problem_message(
                data.problem,
                title="Not analysed yet" if isinstance(data.problem, NotAnalyzedError) else "Cannot show this run",
            )
        ]
    else:
        view = data.view
        taken = f"{view.layer} · depth {view.depth:.2f}"
        why = "the layer chosen by name" if depth is None else f"this run's layer nearest depth {depth:.2f}"
        facts = f"{len(view.row_order)} neurons · {view.n_clusters} clusters"
        badge = (
            dbc.Badge(f"edited ({len(parse_edits(view.edits))})", color="warning", text_color="dark", className="ms-1")
            if view.edits
            else None
        )
        header += [
            html.Div(taken, className="small fw-semibold", title=why),
            html.Div([facts, badge], className="small text-muted"),
        ]
        matrix_id = {"type": MATRIX_TYPE, "run": run}
        switch = dcc.Checklist(
            id={"type": FEATURES_TYPE, "run": run},
            options=[{"label": f"C{c}", "value": c} for c in range(view.n_clusters)],
            value=sorted(c for c in features if c < view.n_clusters),
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
            html.Div(mosaic_problem, className="small text-warning-emphasis") if mosaic_problem else None,
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
        className="h-100",
        id={"type": "redundancy-panel", "run": run},
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


class RedundancyParts(NamedTuple):
    """Everything the layout and the render callback show for one state."""

    banner: Any
    panels: Any
    metrics: go.Figure
    edit_runs: list[dict]
    edits_list: Any


def panel_data(shown: Sequence[Shown], state: Mapping[str, Any], analyzer: RunAnalyzer) -> list[PanelData]:
    """Layer views of the shown runs (edits applied); the figures are filled in by :func:`build_figures`."""
    edits = state.get("edits") or {}
    data = []
    for item in shown:
        if item.problem is not None:
            data.append(PanelData(item, None, None, item.problem))
            continue
        log_text = edits.get(item.run, (None, ""))[1] if edits.get(item.run, (None,))[0] == item.layer else ""
        try:
            view = layer_view(analyzer, item.run, item.index, log_text)
        except PAGE_ERRORS as exc:
            data.append(PanelData(item, None, None, exc))
            continue
        data.append(PanelData(item, view, None, None))
    return data


def build_figure(
    analyzer: RunAnalyzer, view: LayerView, scale: ColourScale, features: Collection[int], plot_px: int, subtitle: str
) -> tuple[dict, str | None]:
    """The matrix figure (as plotly JSON) of one run with ``features`` clusters as mosaics; and why mosaics failed.

    Building a figure of many cluster blocks costs ~0.2 s of plotly validation, and its inputs are
    immutable (a checkpoint's cached analysis, an edit log), so each one is built once per process.
    """
    return _figure_json(
        analyzer,
        view.run,
        analyzer.checkpoint_hash(view.run),
        view.index,
        view.edits,
        scale,
        tuple(sorted(int(c) for c in features)),
        plot_px,
        subtitle,
    )


@functools.lru_cache(maxsize=64)
def _figure_json(
    analyzer: RunAnalyzer,
    run: str,
    checkpoint: str,
    index: int,
    edits: str,
    scale: ColourScale,
    features: tuple[int, ...],
    plot_px: int,
    subtitle: str,
) -> tuple[dict, str | None]:
    view = _layer_view(analyzer, run, checkpoint, index, edits)
    mosaics: dict[int, str] = {}
    problem = None
    if features:
        try:
            mosaics = {c: png_uri(m) for c, m in cluster_mosaics(analyzer, view, features).items()}
        except PAGE_ERRORS as exc:
            problem = f"Learned features unavailable: {exc}"
    return cluster_matrix_figure(view, scale, features, mosaics, plot_px, subtitle).to_plotly_json(), problem


def redundancy_parts(
    state: Mapping[str, Any], runs: Sequence[Mapping[str, Any]], analyzer: RunAnalyzer
) -> RedundancyParts:
    """Banner, run panels, metrics figure and edit-run choices for ``state``."""
    colours = run_colours([str(r.get("name")) for r in runs])
    rows = {str(r.get("name")): r for r in runs}
    shown = resolve(state, runs, analyzer)
    chosen_rows = [rows[s.run] for s in shown]
    data = panel_data(shown, state, analyzer)
    views = [d.view for d in data if d.view is not None]
    scale = colour_scale(views)
    plot_px = plot_height(max((len(v.row_order) for v in views), default=0), len(shown))
    depth = None if state.get("layer") and len(shown) == 1 else float(state.get("depth", DEFAULT_DEPTH))
    mosaic_view = state.get("view") == "mosaic"
    panels, series = [], []
    for item in data:
        features: list[int] = list(range(item.view.n_clusters)) if mosaic_view and item.view is not None else []
        mosaic_problem = None
        if item.view is not None:
            figure, mosaic_problem = build_figure(
                analyzer, item.view, scale, features, plot_px, dataset_short(rows.get(item.shown.run))
            )
            item = item._replace(figure=figure)
            try:
                series.append(run_metrics(analyzer, item.shown, item.view))
            except PAGE_ERRORS as exc:  # pragma: no cover - clusters were just read
                log.warning("metrics of %s unreadable: %s", item.shown.run, exc)
        panels.append(run_panel(item, colours.get(item.shown.run, "#888"), depth, features, mosaic_problem))
    if not shown:
        grid: Any = components.message("No run chosen: tick at least one run above.", kind="secondary")
    else:
        grid = html.Div(panels, style=grid_style(len(panels)))
    analysed = [s.run for s in shown if s.problem is None]
    edits_list = edits_summary(state.get("edits") or {})
    return RedundancyParts(
        banner=components.dataset_banner(chosen_rows),
        panels=grid,
        metrics=metrics_figure(series, colours, depth, components.dataset_label(chosen_rows)),
        edit_runs=[{"label": name, "value": name} for name in analysed],
        edits_list=edits_list,
    )


def edits_summary(edits: Mapping[str, Sequence[str]]) -> Any:
    """The edits in force, in words, one line per edited run."""
    if not edits:
        return html.Span("No edits: the clusters are the analysis' own.", className="text-muted")
    return html.Ul(
        [
            html.Li([html.Strong(f"{run} · {layer}: "), "; ".join(describe_edit(e) for e in parse_edits(log_text))])
            for run, (layer, log_text) in edits.items()
        ],
        className="mb-0 small",
    )


# -- checking a link's edits and changing the state -------------------------------------------------
def check_edits(edits: Mapping[str, Sequence[str]], shown: Sequence[Shown], analyzer: RunAnalyzer) -> None:
    """Raise EditError unless every edited run is shown, at the edited layer, and its log applies."""
    by_run = {s.run: s for s in shown}
    for run, (layer, log_text) in edits.items():
        item = by_run.get(run)
        if item is None:
            raise EditError(f"edits name run {run}, which is not shown")
        if item.problem is not None:
            raise EditError(f"edits name run {run}, which cannot be shown")
        if item.layer != layer:
            raise EditError(f"edits are for {run} · {layer}, but the page shows its layer {item.layer}")
        layer_view(analyzer, run, item.index, log_text)


def initial_state(
    query: Mapping[str, Any], runs: Sequence[Mapping[str, Any]], analyzer: RunAnalyzer
) -> tuple[dict, Any, list[str]]:
    """The state a link asks for, its run selection, and one problem line per refused query value."""
    problems = []
    selection = parse_runs(query.get("models"), [str(r.get("name")) for r in runs])
    state: dict[str, Any] = {
        "models": list(selection.names),
        "depth": DEFAULT_DEPTH,
        "layer": None,
        "edits": {},
        "view": VIEWS[0],
    }
    if query.get("depth") is not None:
        try:
            state["depth"] = parse_depth(query["depth"])
        except ValueError as exc:
            problems.append(f"{exc}; showing depth {format_depth(DEFAULT_DEPTH)}.")
    view = query.get("view")
    if view is not None:
        if view in VIEWS:
            state["view"] = view
        else:
            problems.append(f"view={str(view)!r} is not one of {', '.join(VIEWS)}; showing the matrices.")
    layer = query.get("layer")
    if layer is not None:
        layer = str(layer)
        if len(state["models"]) != 1:
            problems.append(
                f"layer={layer!r} picks a layer of one run; with {len(state['models'])} runs the "
                "layers are aligned by depth instead."
            )
        else:
            (item,) = resolve(state, runs, analyzer)
            if item.layers is not None and layer not in item.layers.names:
                problems.append(
                    f"{item.run} has no layer {layer!r} (its layers: {', '.join(item.layers.names)}); "
                    "showing the layer nearest the depth instead."
                )
            elif item.layers is not None:
                state["layer"] = layer
                state["depth"] = round(item.layers.depths[item.layers.names.index(layer)], 3)
    if query.get("edits") is not None:
        try:
            edits = parse_edits_value(query["edits"])
            check_edits(edits, resolve(state, runs, analyzer), analyzer)
            state["edits"] = {run: list(value) for run, value in edits.items()}
        except EditError as exc:
            problems.append(f"The edits in this link were ignored: {exc}.")
        except PAGE_ERRORS as exc:
            problems.append(f"The edits in this link were ignored: {exc}")
    return state, selection, problems


def sent_state(state: Any) -> dict[str, Any]:
    """The page's store as a request sends it back, each field of the wrong type replaced by its default.

    The store holds what :func:`initial_state` and :func:`next_state` made, but it comes back with
    every request, and a request can be hand-made: the callbacks read it only through this.
    """
    state = state if isinstance(state, dict) else {}
    models, depth, layer, edits, view = (state.get(key) for key in ("models", "depth", "layer", "edits", "view"))
    try:
        depth = float(depth) if isinstance(depth, (int, float)) and not isinstance(depth, bool) else DEFAULT_DEPTH
    except OverflowError:  # an integer beyond any float
        depth = DEFAULT_DEPTH
    return {
        "models": picked_names(models),
        "depth": depth if math.isfinite(depth) else DEFAULT_DEPTH,
        "layer": layer if isinstance(layer, str) else None,
        "edits": {
            run: list(entry)
            for run, entry in edits.items()
            if isinstance(entry, list) and len(entry) == 2 and all(isinstance(part, str) for part in entry)
        }
        if isinstance(edits, dict)
        else {},
        "view": view if view in VIEWS else VIEWS[0],
    }


def keep_edits_of_shown_layers(state: dict, runs: Sequence[Mapping[str, Any]], analyzer: RunAnalyzer) -> list[str]:
    """Drop the edits of runs no longer shown or no longer at the edited layer; return what was dropped."""
    shown = {s.run: s.layer for s in resolve(state, runs, analyzer)}
    dropped = [run for run, (layer, _) in state["edits"].items() if shown.get(run) != layer]
    state["edits"] = {run: value for run, value in state["edits"].items() if run not in dropped}
    return dropped


class EditForm(NamedTuple):
    """The edit controls' values when a button is pressed."""

    run: str | None = None
    neuron: Any = None
    move_to: Any = None
    merge_from: Any = None
    merge_into: Any = None
    split_cluster: Any = None
    split_parts: Any = 2


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or value is None or value == "":
        raise EditError(f"choose {what}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise EditError(f"{what} must be a whole number") from None
    if not number.is_integer():
        raise EditError(f"{what} must be a whole number")
    return int(number)


def form_edit(trigger: str, form: EditForm) -> Move | Merge | Split:
    """The edit a button asks for, from the form; raises EditError naming a missing or bad value."""
    if trigger == MOVE_ID:
        return Move(_as_int(form.neuron, "a neuron"), _as_int(form.move_to, "the cluster to move it to"))
    if trigger == MERGE_ID:
        return Merge(
            _as_int(form.merge_from, "the cluster to merge"), _as_int(form.merge_into, "the cluster to merge into")
        )
    return Split(_as_int(form.split_cluster, "the cluster to split"), _as_int(form.split_parts, "the number of parts"))


def add_edit(
    state: dict, trigger: str, form: EditForm, runs: Sequence[Mapping[str, Any]], analyzer: RunAnalyzer
) -> str:
    """Append the form's edit to its run's log if it applies (else raise EditError); return what it did."""
    if not form.run:
        raise EditError("choose the run to edit")
    item = next((s for s in resolve(state, runs, analyzer) if s.run == form.run), None)
    if item is None or item.problem is not None:
        raise EditError(f"run {form.run} is not shown, or not analysed")
    edit = form_edit(trigger, form)
    layer, old = state["edits"].get(item.run, (item.layer, ""))
    old = old if layer == item.layer else ""
    new = format_edits(parse_edits(old) + [edit])
    layer_view(analyzer, item.run, item.index, new)  # raises EditError if it does not apply
    state["edits"] = {**state["edits"], item.run: [item.layer, new]}
    return f"{item.run} · {item.layer}: {describe_edit(edit)}."


class LayerControl(NamedTuple):
    """The layer dropdown: one run's layers by name, or disabled with several runs."""

    options: list[dict]
    value: str | None
    disabled: bool


def layer_control(state: Mapping[str, Any], runs: Sequence[Mapping[str, Any]], analyzer: RunAnalyzer) -> LayerControl:
    shown = resolve(state, runs, analyzer)
    if len(shown) != 1 or shown[0].layers is None:
        return LayerControl([], None, True)
    item = shown[0]
    options = [
        {"label": f"{name} (depth {depth:.2f})", "value": name}
        for name, depth in zip(item.layers.names, item.layers.depths)
    ]
    return LayerControl(options, item.layer, False)


def next_state(
    state: Mapping[str, Any],
    trigger: str,
    value: Any,
    form: EditForm,
    runs: Sequence[Mapping[str, Any]],
    analyzer: RunAnalyzer,
) -> tuple[dict, str | None, str]:
    """The state after one control changed, a line of feedback, and its kind (Bootstrap colour)."""
    state = {**state, "edits": dict(state.get("edits") or {})}
    names = {str(r.get("name")) for r in runs}
    feedback, kind = None, "secondary"
    if trigger == PICKER_ID:
        chosen = [n for n in picked_names(value) if n in names]
        if state.get("layer") and len(chosen) != 1:
            # An explicit layer belongs to one run; keep its depth so the others align with it.
            state["layer"] = None
        state["models"] = [str(r.get("name")) for r in runs if r.get("name") in set(chosen)]
    elif trigger == DEPTH_ID:
        state["depth"], state["layer"] = parse_depth(value), None
    elif trigger == LAYER_ID:
        control = layer_control(state, runs, analyzer)
        if value not in [o["value"] for o in control.options]:
            raise PreventUpdate
        (item,) = resolve(state, runs, analyzer)
        state["layer"], state["depth"] = value, round(item.layers.depths[item.layers.names.index(value)], 3)
    elif trigger == VIEW_ID:
        if value not in VIEWS:
            raise PreventUpdate
        state["view"] = value
    elif trigger == RESET_ID:
        state["edits"] = {}
        return state, "Edits cleared: the clusters are the analysis' own again.", "secondary"
    elif trigger in (MOVE_ID, MERGE_ID, SPLIT_ID):
        try:
            return state, "Done: " + add_edit(state, trigger, form, runs, analyzer), "success"
        except EditError as exc:
            return dict(state), f"Not applied: {exc}.", "danger"
        except PAGE_ERRORS as exc:
            return dict(state), f"Not applied: {exc}", "danger"
    dropped = keep_edits_of_shown_layers(state, runs, analyzer)
    if dropped:
        feedback, kind = f"Edits of {', '.join(dropped)} dropped: that layer is no longer shown.", "warning"
    return state, feedback, kind


class EditOptions(NamedTuple):
    """The edit form's choices for the run being edited."""

    clusters: list[dict]
    move_to: list[dict]
    neuron_max: int | None
    hint: Any


def edit_options(
    state: Mapping[str, Any], run: str | None, runs: Sequence[Mapping[str, Any]], analyzer: RunAnalyzer
) -> EditOptions:
    """Cluster choices (with sizes) of the edited run's shown layer, and a line saying what is edited."""
    empty = EditOptions([], [], None, "Choose a run to edit (or click a cell of its matrix).")
    if not run:
        return empty
    item = next((s for s in resolve(state, runs, analyzer) if s.run == run), None)
    if item is None or item.problem is not None:
        return empty
    layer, log_text = (state.get("edits") or {}).get(run, (item.layer, ""))
    try:
        view = layer_view(analyzer, run, item.index, log_text if layer == item.layer else "")
    except (EditError, *PAGE_ERRORS) as exc:
        return empty._replace(hint=str(exc))
    clusters = [{"label": f"C{c} ({len(view.members(c))})", "value": c} for c in range(view.n_clusters)]
    move_to = clusters + [{"label": f"new cluster C{view.n_clusters}", "value": view.n_clusters}]
    hint = [
        html.Strong(f"{run} · {view.layer}"),
        f": neurons 0–{len(view.row_order) - 1}, clusters C0–C{view.n_clusters - 1} (numbered from the top). "
        "Click a matrix cell to pick its neuron.",
    ]
    return EditOptions(clusters, move_to, len(view.row_order) - 1, hint)


# -- the page ------------------------------------------------------------------------------------
HEADING = html.Div(
    [
        html.H2("Redundancy", className="mb-0"),
        html.P(
            "CNNVis' cluster matrices: per run, one layer's neurons (rows, grouped into clusters) against the "
            "classes (columns, one order everywhere); then how redundant every layer is, across runs.",
            className="text-muted mb-3",
        ),
    ]
)


def controls(runs: Sequence[Mapping[str, Any]], state: Mapping[str, Any], layer: LayerControl) -> dbc.Card:
    options = [
        {"label": f"{r['name']} (broken)" if r.get("status") == "broken" else str(r["name"]), "value": str(r["name"])}
        for r in runs
    ]
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [
                        html.Span("Runs", className="fw-semibold me-3"),
                        dbc.Checklist(
                            id=PICKER_ID,
                            options=options,
                            value=list(state["models"]),
                            inline=True,
                            switch=True,
                            className="cnncmp-picker",
                        ),
                    ],
                    className="d-flex flex-wrap align-items-baseline mb-2",
                ),
                dbc.Row(
                    [
                        dbc.Col(
                            [
                                html.Div(
                                    "Layer by relative depth (each run takes its nearest layer)",
                                    className="fw-semibold small",
                                ),
                                dcc.Slider(
                                    id=DEPTH_ID,
                                    min=0,
                                    max=1,
                                    step=0.01,
                                    value=float(state["depth"]),
                                    marks={0: "0 input side", 0.25: "0.25", 0.5: "0.5", 0.75: "0.75", 1: "1 output"},
                                    tooltip={"placement": "bottom", "always_visible": False},
                                    updatemode="mouseup",
                                ),
                            ],
                            lg=6,
                        ),
                        dbc.Col(
                            [
                                html.Div("Layer by name (one run)", className="fw-semibold small"),
                                dcc.Dropdown(
                                    id=LAYER_ID,
                                    options=layer.options,
                                    value=layer.value,
                                    disabled=layer.disabled,
                                    clearable=False,
                                    placeholder="choose one run to pick its layer by name",
                                ),
                            ],
                            lg=3,
                        ),
                        dbc.Col(
                            [
                                html.Div("Show clusters as", className="fw-semibold small"),
                                dbc.RadioItems(
                                    id=VIEW_ID,
                                    value=state["view"],
                                    inline=True,
                                    options=[
                                        {"label": "matrices", "value": "matrix"},
                                        {"label": "learned features", "value": "mosaic"},
                                    ],
                                ),
                            ],
                            lg=3,
                        ),
                    ],
                    className="g-3",
                ),
            ]
        ),
        className="mb-3",
    )


def edit_card(edit_runs: list[dict], edit_run: str | None, edits_list: Any) -> dbc.Card:
    small = {"size": "sm"}
    dropdown_style = {"minWidth": "9rem"}
    return dbc.Card(
        [
            dbc.CardHeader(
                [
                    html.Span("Edit clusters", className="fw-semibold me-2"),
                    html.Span(
                        "move a neuron, merge or split clusters; the matrix and the metrics follow, and "
                        "the link keeps the edits",
                        className="small text-muted",
                    ),
                ]
            ),
            dbc.CardBody(
                [
                    dbc.Row(
                        [
                            dbc.Col(
                                [
                                    html.Div("Run (its shown layer)", className="small fw-semibold"),
                                    dcc.Dropdown(
                                        id=EDIT_RUN_ID,
                                        options=edit_runs,
                                        value=edit_run,
                                        clearable=False,
                                        placeholder="run to edit",
                                    ),
                                ],
                                md=4,
                            ),
                            dbc.Col(html.Div(id=EDIT_HINT_ID, className="small mt-3"), md=6),
                            dbc.Col(
                                dbc.Button(
                                    "Reset edits",
                                    id=RESET_ID,
                                    color="secondary",
                                    outline=True,
                                    n_clicks=0,
                                    className="mt-3",
                                ),
                                md=2,
                                className="text-md-end",
                            ),
                        ],
                        className="g-2 mb-2",
                    ),
                    html.Div(
                        [
                            html.Div(
                                [
                                    html.Span("Move neuron", className="me-1"),
                                    dbc.Input(
                                        id=NEURON_ID,
                                        type="number",
                                        min=0,
                                        step=1,
                                        placeholder="#",
                                        style={"width": "6rem"},
                                        **small,
                                    ),
                                    html.Span("to", className="mx-1"),
                                    dcc.Dropdown(
                                        id=MOVE_TO_ID, clearable=False, placeholder="cluster", style=dropdown_style
                                    ),
                                    dbc.Button(
                                        "Move", id=MOVE_ID, color="primary", n_clicks=0, className="ms-1", **small
                                    ),
                                ],
                                className="d-flex align-items-center me-4 mb-2",
                            ),
                            html.Div(
                                [
                                    html.Span("Merge", className="me-1"),
                                    dcc.Dropdown(
                                        id=MERGE_FROM_ID, clearable=False, placeholder="cluster", style=dropdown_style
                                    ),
                                    html.Span("into", className="mx-1"),
                                    dcc.Dropdown(
                                        id=MERGE_INTO_ID, clearable=False, placeholder="cluster", style=dropdown_style
                                    ),
                                    dbc.Button(
                                        "Merge", id=MERGE_ID, color="primary", n_clicks=0, className="ms-1", **small
                                    ),
                                ],
                                className="d-flex align-items-center me-4 mb-2",
                            ),
                            html.Div(
                                [
                                    html.Span("Split", className="me-1"),
                                    dcc.Dropdown(
                                        id=SPLIT_CLUSTER_ID,
                                        clearable=False,
                                        placeholder="cluster",
                                        style=dropdown_style,
                                    ),
                                    html.Span("in", className="mx-1"),
                                    dcc.Dropdown(
                                        id=SPLIT_PARTS_ID,
                                        options=[{"label": str(p), "value": p} for p in range(2, 6)],
                                        value=2,
                                        clearable=False,
                                        style={"minWidth": "4.5rem"},
                                    ),
                                    dbc.Button(
                                        "Split", id=SPLIT_ID, color="primary", n_clicks=0, className="ms-1", **small
                                    ),
                                ],
                                className="d-flex align-items-center mb-2",
                            ),
                        ],
                        className="d-flex flex-wrap align-items-center",
                    ),
                    html.Div(id=FEEDBACK_ID, className="small"),
                    html.Div(edits_list, id=EDITS_LIST_ID, className="mt-2"),
                ]
            ),
        ],
        className="mb-4",
    )


def feedback_line(text: str | None, kind: str = "secondary") -> Any:
    return html.Span(text, className=f"text-{kind}-emphasis") if text else None


def layout(
    models: Any = None, depth: Any = None, layer: Any = None, edits: Any = None, view: Any = None, **_other_query: Any
) -> html.Div:
    """The page for ``/redundancy?models=…&depth=…&view=…&edits=…``; unknown parameters are ignored."""
    settings = current_settings()
    runs_dir = settings.runs_dir
    try:
        runs = read_runs(runs_dir)
        if not runs:
            return html.Div(
                [
                    HEADING,
                    components.message(
                        [
                            "No runs in ",
                            html.Code(str(runs_dir)),
                            " yet: train some with ",
                            components.command(components.TRAIN_DEMO_COMMAND),
                            " (or on the Jobs page), then analyse them.",
                        ],
                        kind="info",
                        title="No runs to compare yet",
                        id="redundancy-empty",
                    ),
                ]
            )
        analyzer = current_analyzer(settings)
        query = {"models": models, "depth": depth, "layer": layer, "edits": edits, "view": view}
        state, selection, problems = initial_state(query, runs, analyzer)
        parts = redundancy_parts(state, runs, analyzer)
        edit_run = next(iter(state["edits"]), None) or (parts.edit_runs[0]["value"] if parts.edit_runs else None)
        query_message = (
            components.message(
                html.Ul([html.Li(p) for p in problems], className="mb-0"),
                kind="warning",
                title="Part of this link was not understood",
                id=QUERY_MESSAGE_ID,
            )
            if problems
            else None
        )
        return html.Div(
            [
                HEADING,
                dcc.Location(id=URL_ID, refresh=False),
                dcc.Store(id=STORE_ID, data=state),
                link_message(selection, runs_dir, LINK_MESSAGE_ID),
                query_message,
                html.Div(parts.banner, id=BANNER_ID),
                controls(runs, state, layer_control(state, runs, analyzer)),
                dcc.Loading(html.Div(parts.panels, id=PANELS_ID, className="mb-4"), delay_show=400),
                edit_card(parts.edit_runs, edit_run, parts.edits_list),
                components.graph(METRICS_ID, parts.metrics, filename="redundancy-per-layer"),
            ]
        )
    except Exception as exc:
        log.exception("redundancy page failed for models=%r depth=%r layer=%r edits=%r", models, depth, layer, edits)
        return components.page_failure(HEADING, exc, id="redundancy-error")


def _context() -> tuple[list[dict], RunAnalyzer]:
    settings = current_settings()
    return read_runs(settings.runs_dir), current_analyzer(settings)


def register_callbacks(app: dash.Dash) -> None:
    """Controls change the state; the state draws the panels, metrics and URL; switches redraw one matrix."""

    @app.callback(
        Output(STORE_ID, "data"),
        Output(FEEDBACK_ID, "children"),
        Output(DEPTH_ID, "value"),
        Output(LAYER_ID, "options"),
        Output(LAYER_ID, "value"),
        Output(LAYER_ID, "disabled"),
        Input(PICKER_ID, "value"),
        Input(DEPTH_ID, "value"),
        Input(LAYER_ID, "value"),
        Input(VIEW_ID, "value"),
        Input(MOVE_ID, "n_clicks"),
        Input(MERGE_ID, "n_clicks"),
        Input(SPLIT_ID, "n_clicks"),
        Input(RESET_ID, "n_clicks"),
        State(STORE_ID, "data"),
        State(EDIT_RUN_ID, "value"),
        State(NEURON_ID, "value"),
        State(MOVE_TO_ID, "value"),
        State(MERGE_FROM_ID, "value"),
        State(MERGE_INTO_ID, "value"),
        State(SPLIT_CLUSTER_ID, "value"),
        State(SPLIT_PARTS_ID, "value"),
        prevent_initial_call=True,
    )
    def change_state(models, depth, layer, view, _move, _merge, _split, _reset, state, *form):
        trigger = ctx.triggered_id
        value = {PICKER_ID: models, DEPTH_ID: depth, LAYER_ID: layer, VIEW_ID: view}.get(trigger)
        runs, analyzer = _context()
        try:
            new, text, kind = next_state(sent_state(state), trigger, value, EditForm(*form), runs, analyzer)
        except PreventUpdate:
            raise
        except Exception:
            log.exception("redundancy state change failed: %s=%r", trigger, value)
            return (
                no_update,
                feedback_line("That change failed; the server log has the details.", "danger"),
                no_update,
                no_update,
                no_update,
                no_update,
            )
        control = layer_control(new, runs, analyzer)
        depth_out = new["depth"] if trigger != DEPTH_ID else no_update
        store = new if new != state else no_update
        return store, feedback_line(text, kind), depth_out, control.options, control.value, control.disabled

    @app.callback(
        Output(BANNER_ID, "children"),
        Output(PANELS_ID, "children"),
        Output(METRICS_ID, "figure"),
        Output(URL_ID, "search"),
        Output(EDIT_RUN_ID, "options"),
        Output(EDITS_LIST_ID, "children"),
        Input(STORE_ID, "data"),
        prevent_initial_call=True,  # layout() drew the first view; keep the link as typed
    )
    def draw(state):
        state = sent_state(state)
        try:
            runs, analyzer = _context()
            parts = redundancy_parts(state, runs, analyzer)
            return parts.banner, parts.panels, parts.metrics, state_search(state), parts.edit_runs, parts.edits_list
        except Exception:
            log.exception("redundancy view failed for %r", state)
            error = components.message("This view could not be built; the server log has the details.", kind="danger")
            return no_update, error, no_update, no_update, no_update, no_update

    @app.callback(
        Output(MOVE_TO_ID, "options"),
        Output(MERGE_FROM_ID, "options"),
        Output(MERGE_INTO_ID, "options"),
        Output(SPLIT_CLUSTER_ID, "options"),
        Output(NEURON_ID, "max"),
        Output(EDIT_HINT_ID, "children"),
        Input(EDIT_RUN_ID, "value"),
        Input(STORE_ID, "data"),
    )
    def fill_edit_form(run, state):
        try:
            runs, analyzer = _context()
            choices = edit_options(sent_state(state), run, runs, analyzer)
        except Exception:
            log.exception("redundancy edit form failed for %r", run)
            raise PreventUpdate from None
        return choices.move_to, choices.clusters, choices.clusters, choices.clusters, choices.neuron_max, choices.hint

    @app.callback(
        Output(EDIT_RUN_ID, "value"),
        Output(NEURON_ID, "value"),
        Input({"type": MATRIX_TYPE, "run": ALL}, "clickData"),
        prevent_initial_call=True,
    )
    def pick_neuron(_clicks):
        trigger = ctx.triggered_id
        click = ctx.triggered[0]["value"] if ctx.triggered else None
        try:  # rows are named by neuron index (Dash drops array-valued customdata from click events)
            neuron = int(click["points"][0]["y"])
        except (TypeError, KeyError, IndexError, ValueError):
            raise PreventUpdate from None
        return trigger["run"], neuron

    @app.callback(
        Output({"type": MATRIX_TYPE, "run": MATCH}, "figure"),
        Input({"type": FEATURES_TYPE, "run": MATCH}, "value"),
        State(STORE_ID, "data"),
        prevent_initial_call=True,
    )
    def switch_clusters(features, state):
        if not isinstance(ctx.triggered_id, dict):  # a request naming no changed input: no run to redraw
            raise PreventUpdate
        run = ctx.triggered_id["run"]
        try:
            runs, analyzer = _context()
            return matrix_for(sent_state(state), run, features or [], runs, analyzer)
        except PreventUpdate:
            raise
        except Exception:
            log.exception("redundancy matrix of %s failed", run)
            raise PreventUpdate from None


def matrix_for(
    state: Mapping[str, Any],
    run: str,
    features: Collection[int],
    runs: Sequence[Mapping[str, Any]],
    analyzer: RunAnalyzer,
) -> dict:
    """One run's matrix figure with ``features`` clusters as mosaics, on the page's shared colour scale."""
    data = panel_data(resolve(state, runs, analyzer), state, analyzer)
    views = [d.view for d in data if d.view is not None]
    view = next((v for v in views if v.run == run), None)
    if view is None:  # a request for a run that is not shown: nothing of it to redraw
        raise PreventUpdate
    rows = {str(r.get("name")): r for r in runs}
    figure, _ = build_figure(
        analyzer,
        view,
        colour_scale(views),
        [int(c) for c in features],
        plot_height(max(len(v.row_order) for v in views), len(data)),
        dataset_short(rows.get(run)),
    )
    return figure
