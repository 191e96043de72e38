"""Explorer page: one image through every chosen run — activation maps, class probabilities, occlusion, top-k.

After Zeiler & Fergus (2014: top-9 images per feature with their patches; occlusion sensitivity)
and CNN Explainer (Wang et al. 2020: every neuron's map, colour scales local to a neuron or a
layer, bring your own image). Runs of different depth are compared at the same *relative depth*.

The URL holds the view (``/explorer?models=a,b&image=12&layer=0.25&size=8&stride=4``); ``layer`` is
a relative depth in [0, 1] or a layer name. Figures are built by the plain functions below (tested
without a browser); callbacks read their inputs, do one image's forward passes and call them.
"""

from __future__ import annotations

import base64
import io
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

import dash
import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
import torch
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from plotly.subplots import make_subplots

from analysis.data.uploads import (
    MAX_IMAGE_SIDE,
    MAX_UPLOAD_BYTES,
    UploadError,
    decode_upload,
    image_from_text,
    image_to_text,
)
from analysis.lru import LRU
from analysis.probes.per_image import activation_maps, occlusion_sensitivity
from analysis.training.evaluation import Normalization
from app import components
from app.analysis_access import PAGE_ERRORS, analyzer
from app.config import current_settings
from app.figures.common import FIGURE_FONT, empty_figure
from app.query import split_names
from app.selection import (
    cache_stamp,
    link_message,
    parse_runs,
    picked_names,
    read_runs,
    run_colours,
    runs_stamp,
)

dash.register_page(__name__, path="/explorer", name="Explorer", title=f"Explorer · {components.PRODUCT_NAME}", order=4)

log = logging.getLogger(__name__)

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
LAYER_ID = "explorer-layer"
NEURONS_ID = "explorer-neurons"
SCALE_ID = "explorer-scale"
SIZE_ID = "explorer-size"
STRIDE_ID = "explorer-stride"
MAPS_GRAPH_ID = "explorer-maps"
MAPS_MESSAGE_ID = "explorer-maps-message"
MAPS_GEOMETRY_ID = "explorer-maps-geometry"
PROBABILITIES_GRAPH_ID = "explorer-probabilities"
OCCLUSION_GRAPH_ID = "explorer-occlusion"
OCCLUSION_MESSAGE_ID = "explorer-occlusion-message"
PATCHES_ID = "explorer-patches"
PATCHES_GRAPH_ID = "explorer-patches-graph"

THUMBNAILS = 20  # images in the strip (the page of the strip holding the chosen one)
NEURON_CHOICES = ("16", "32", "64", "all")
DEFAULT_NEURONS = "32"
SCALES = {"layer": "local to the layer", "neuron": "local to each neuron"}
DEFAULT_SCALE = "layer"
SIZE_CHOICES = (4, 6, 8, 12, 16)  # occluder side, pixels of the 32×32 input
STRIDE_CHOICES = (1, 2, 4, 8)
DEFAULT_SIZE, DEFAULT_STRIDE = 8, 4
DEFAULT_DEPTH = 0.25
PANEL_COLUMNS = 4  # small multiples per row: 7 runs → two rows, readable on a projector
MAP_COLOURSCALE = "Viridis"
OCCLUSION_COLOURSCALE = "RdBu"  # red: hiding this square destroys the evidence for the class
JOBS_PATH = "/jobs"


# -- small pieces ----------------------------------------------------------------------------------
def png_data_url(image: torch.Tensor | np.ndarray) -> str:
    """A uint8 ``(3, H, W)`` (or ``(H, W, 3)``) image as a ``data:image/png;base64,...`` URL."""
    from PIL import Image

    array = image.cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 3 and array.shape[0] == 3 and array.shape[-1] != 3:
        array = array.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8), "RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def short_label(name: str, limit: int = 6) -> str:
    """A class name cut for a narrow cell (``automobile`` → ``autom…``); the full name goes in a tooltip."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


# -- the URL ---------------------------------------------------------------------------------------
class ExplorerQuery(NamedTuple):
    """The view a link asks for, after validation; ``problems`` says what was refused and replaced."""

    image: int = 0
    depth: float = DEFAULT_DEPTH
    layer_name: str | None = None  # a layer asked for by name, resolved against the runs later
    size: int = DEFAULT_SIZE
    stride: int = DEFAULT_STRIDE
    problems: tuple[str, ...] = ()


def _single(value: Any) -> Any:
    """A repeated query parameter (``?image=1&image=2``) counts as its last value."""
    return value[-1] if isinstance(value, (list, tuple)) and value else value


def _whole_number(value: Any) -> int | None:
    value = _single(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        text = str(value).strip()
        return int(text) if text.lstrip("-").isdigit() else None
    except (TypeError, ValueError):
        return None


def parse_query(image: Any = None, layer: Any = None, size: Any = None, stride: Any = None) -> ExplorerQuery:
    """Validate the ``image``, ``layer``, ``size`` and ``stride`` query values; bad ones fall back to defaults."""
    problems: list[str] = []
    index = 0
    if image is not None:
        parsed = _whole_number(image)
        if parsed is None or parsed < 0:
            problems.append(f"image={_single(image)!s:.40} is not an image number (0, 1, 2, …); showing image 0.")
        else:
            index = parsed
    depth, name = DEFAULT_DEPTH, None
    if layer is not None:
        text = str(_single(layer)).strip()
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is not None and math.isfinite(value) and 0.0 <= value <= 1.0:
            depth = value
        elif value is None and text and len(text) <= 64 and all(c.isalnum() or c in "_.-" for c in text):
            name = text
        else:
            problems.append(
                f"layer={text:.40} is neither a relative depth between 0 and 1 nor a layer name; "
                f"showing depth {DEFAULT_DEPTH}."
            )
    chosen = {}
    for key, value, allowed, default in (
        ("size", size, SIZE_CHOICES, DEFAULT_SIZE),
        ("stride", stride, STRIDE_CHOICES, DEFAULT_STRIDE),
    ):
        chosen[key] = default
        if value is None:
            continue
        parsed = _whole_number(value)
        if parsed in allowed:
            chosen[key] = parsed
        else:
            problems.append(
                f"{key}={_single(value)!s:.40} is not one of {', '.join(map(str, allowed))} (pixels); using {default}."
            )
    return ExplorerQuery(index, depth, name, chosen["size"], chosen["stride"], tuple(problems))


def explorer_search(
    models: Sequence[str], image: int | None, depth: float | None, size: int | None, stride: int | None
) -> str:
    """The query string that restores the view (``?models=a,b&image=3&layer=0.25&size=8&stride=4``)."""
    query: dict[str, str] = {"models": ",".join(models)}
    if image is not None:
        query["image"] = str(int(image))
    if depth is not None:
        query["layer"] = f"{float(depth):g}"
    if size is not None:
        query["size"] = str(int(size))
    if stride is not None:
        query["stride"] = str(int(stride))
    return "?" + urlencode(query, safe=",", quote_via=quote)


# -- runs and the image they look at ---------------------------------------------------------------
class RunInput(NamedTuple):
    """What one image's forward pass through a run needs: its model, input normalisation and layers."""

    run: str
    model: Any
    normalization: Normalization
    layers: tuple[tuple[str, float], ...]  # (name, relative depth), input side first
    class_names: tuple[str, ...]
    dataset_hash: str
    dataset: str


def run_input(run: str) -> RunInput:
    """Load ``run``'s final model and the normalisation of its dataset (raises a PAGE_ERRORS error)."""
    a = analyzer()
    dataset = a.dataset(run)
    model = a.model(run)
    layers = tuple((layer.name, float(layer.relative_depth)) for layer in model.analysable_layers())
    return RunInput(
        run,
        model,
        Normalization(dataset.channel_mean, dataset.channel_std),
        layers,
        tuple(dataset.class_names),
        dataset.content_hash,
        dataset.name,
    )


class Subject(NamedTuple):
    """The image the page looks at: a test image (``index``, true ``label``) or an upload (both ``None``)."""

    image: torch.Tensor
    label: int | None
    index: int | None
    title: str


def chosen_runs(models: Any) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """All run rows, the chosen usable run names (in the runs folder's order) and the broken chosen ones."""
    runs = read_runs(current_settings().runs_dir)
    wanted = set(picked_names(models))
    usable = [r["name"] for r in runs if r["name"] in wanted and r.get("status") != "broken"]
    broken = [r["name"] for r in runs if r["name"] in wanted and r.get("status") == "broken"]
    return runs, usable, broken


def comparable(inputs: Sequence[RunInput]) -> tuple[list[RunInput], list[RunInput]]:
    """Runs evaluated on the first run's test images, and the others (their image N is another image)."""
    if not inputs:
        return [], []
    reference = inputs[0].dataset_hash
    return ([i for i in inputs if i.dataset_hash == reference], [i for i in inputs if i.dataset_hash != reference])


def load_inputs(names: Sequence[str]) -> tuple[list[RunInput], list[Any]]:
    """``run_input`` for each name; failures come back as messages instead."""
    inputs, messages = [], []
    for name in names:
        try:
            inputs.append(run_input(name))
        except PAGE_ERRORS as exc:
            messages.append(components.problem_message(exc, name))
    return inputs, messages


def subject_for(reference: RunInput | None, index: Any, uploaded: Mapping[str, Any] | None) -> Subject:
    """The uploaded image if there is one, else test image ``index`` of the reference run's evaluation set."""
    if uploaded and uploaded.get("image"):
        image = image_from_text(uploaded["image"])
        return Subject(image, None, None, f"uploaded {uploaded.get('name') or 'image'}")
    if reference is None:
        raise ValueError("no run to take test images from")
    images, labels = analyzer().evaluation_images(reference.run)
    number = _whole_number(index)
    if number is None or not 0 <= number < len(images):
        shown = "" if index is None or index == "" else f" {index}"
        raise ValueError(f"there is no test image{shown}: type a number from 0 to {len(images) - 1}")
    return Subject(images[number], int(labels[number]), number, f"test image {number}")


def mismatch_message(others: Sequence[RunInput], reference: RunInput) -> dbc.Alert | None:
    if not others:
        return None
    names = ", ".join(f"{o.run} ({o.dataset})" for o in others)
    return components.message(
        [
            f"Left out: {names}. They were evaluated on other test images than {reference.run} ({reference.dataset}), "
            "so their image number names another picture. Pick them alone, or upload an image to compare all."
        ],
        kind="warning",
        className="py-2",
    )


# -- activation maps as small multiples ------------------------------------------------------------
class Tiling(NamedTuple):
    """How ``count`` maps of ``height`` × ``width`` lie in a mosaic of ``columns`` with ``gap`` blank pixels."""

    count: int
    columns: int
    height: int
    width: int
    gap: int

    @property
    def rows(self) -> int:
        return max(1, math.ceil(self.count / self.columns))

    def shape(self) -> tuple[int, int]:
        return (self.rows * (self.height + self.gap) - self.gap, self.columns * (self.width + self.gap) - self.gap)


def tiling(count: int, height: int, width: int) -> Tiling:
    """A near-square mosaic (in pixels) for ``count`` maps; a gap of about a tenth of a map between them."""
    count = max(1, count)
    columns = max(1, min(count, round(math.sqrt(count * height / max(width, 1)))))
    columns = max(columns, math.ceil(count / max(1, math.ceil(count / columns))))
    gap = max(1, round(min(height, width) / 8)) if height > 1 else 0
    return Tiling(count, columns, height, width, gap)


def neuron_at(tile: Tiling, x: float, y: float) -> int | None:
    """The neuron under mosaic pixel (``x``, ``y``), or ``None`` on a gap or past the last map."""
    try:
        column, row = int(round(float(x))), int(round(float(y)))
    except (TypeError, ValueError):
        return None
    if column < 0 or row < 0:
        return None
    step_x, step_y = tile.width + tile.gap, tile.height + tile.gap
    if column % step_x >= tile.width or row % step_y >= tile.height:
        return None
    index = (row // step_y) * tile.columns + column // step_x
    return index if column // step_x < tile.columns and index < tile.count else None


def mosaic(maps: np.ndarray, count: int, scale: str) -> tuple[np.ndarray, np.ndarray, Tiling]:
    """The first ``count`` maps tiled: (values scaled for colour, raw responses, tiling). Gaps are NaN.

    ``scale`` ``layer``: divided by the largest absolute response in the whole layer, so weak and
    strong neurons can be told apart; ``neuron``: each map by its own largest, so every map's
    pattern is visible (CNN Explainer's local scale). FC units are 1 × 1 maps.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 1:
        maps = maps[:, None, None]
    shown = maps[: max(1, min(count, len(maps)))]
    if scale == "neuron":
        peaks = np.abs(shown).reshape(len(shown), -1).max(axis=1)
        scaled = shown / np.where(peaks > 0, peaks, 1.0)[:, None, None]
    else:
        peak = float(np.abs(maps).max()) if maps.size else 0.0
        scaled = shown / (peak if peak > 0 else 1.0)
    tile = tiling(len(shown), shown.shape[1], shown.shape[2])
    z = np.full(tile.shape(), np.nan)
    raw = np.full(tile.shape(), np.nan)
    for i in range(len(shown)):
        row, column = divmod(i, tile.columns)
        top, left = row * (tile.height + tile.gap), column * (tile.width + tile.gap)
        z[top : top + tile.height, left : left + tile.width] = scaled[i]
        raw[top : top + tile.height, left : left + tile.width] = shown[i]
    return z, raw, tile


class MapsPanel(NamedTuple):
    """One run's maps at the layer nearest the chosen depth."""

    run: str
    layer: str
    relative_depth: float
    maps: np.ndarray  # (C, H, W) for a conv layer, (units,) for an FC layer


def nearest_layer(layers: Sequence[tuple[str, float]], depth: float) -> tuple[str, float]:
    """The layer whose relative depth is nearest ``depth`` (the shallower one on a tie)."""
    if not layers:
        raise ValueError("the model has no analysable layers")
    return min(layers, key=lambda layer: (round(abs(layer[1] - depth), 9), layer[1]))


def _grid(n: int) -> tuple[int, int]:
    columns = max(1, min(n, PANEL_COLUMNS))
    return max(1, math.ceil(n / columns)), columns


def maps_figure(
    panels: Sequence[MapsPanel], count: int, scale: str, colours: Mapping[str, str], title: str
) -> tuple[go.Figure, list[dict[str, Any]]]:
    """Each run's activation maps as one mosaic, side by side, with one shared colour bar.

    Returns the figure and, per trace, the geometry a click needs to find its neuron.
    """
    if not panels:
        return empty_figure("No activation maps: pick a run above."), []
    rows, columns = _grid(len(panels))
    names = []
    for p in panels:
        shown = min(count, len(p.maps))
        names.append(f"<b>{p.run}</b><br>{p.layer} · depth {p.relative_depth:.2f} · {shown} of {len(p.maps)}")
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=names,
        horizontal_spacing=0.03,
        vertical_spacing=0.12 if rows > 1 else 0.05,
    )
    geometry = []
    negative = False
    for i, panel in enumerate(panels):
        z, raw, tile = mosaic(panel.maps, count, scale)
        negative = negative or bool(np.nanmin(z) < 0)
        neuron = np.full(z.shape, -1)
        for n in range(tile.count):
            r, c = divmod(n, tile.columns)
            top, left = r * (tile.height + tile.gap), c * (tile.width + tile.gap)
            neuron[top : top + tile.height, left : left + tile.width] = n
        custom = np.stack([neuron, np.nan_to_num(raw, nan=0.0)], axis=-1)
        row, column = divmod(i, columns)
        figure.add_trace(
            go.Heatmap(
                z=z,
                customdata=custom,
                coloraxis="coloraxis",
                name=panel.run,
                xgap=0,
                ygap=0,
                hovertemplate=(
                    f"{panel.run} · {panel.layer}<br>neuron %{{customdata[0]}}<br>response "
                    "%{customdata[1]:.3g}<extra>click for its top images</extra>"
                ),
            ),
            row=row + 1,
            col=column + 1,
        )
        geometry.append({"run": panel.run, "layer": panel.layer, **tile._asdict()})
    for axis in range(1, len(panels) + 1):
        suffix = "" if axis == 1 else str(axis)
        figure.update_layout(
            {
                f"xaxis{suffix}": {"visible": False, "constrain": "domain"},
                f"yaxis{suffix}": {
                    "visible": False,
                    "autorange": "reversed",
                    "scaleanchor": f"x{suffix}",
                    "constrain": "domain",
                },
            }
        )
    for annotation, panel in zip(figure.layout.annotations, panels):
        annotation.font = {"size": 14, "color": colours.get(panel.run, "#212529")}
    unit = "each neuron's" if scale == "neuron" else "the layer's"
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title={"text": title, "x": 0.01, "xanchor": "left"},
        coloraxis={
            "colorscale": "RdBu_r" if negative else MAP_COLOURSCALE,
            "cmin": -1 if negative else 0,
            "cmax": 1,
            "colorbar": {"title": {"text": f"response ÷<br>{unit} max", "side": "right"}, "thickness": 14, "len": 0.8},
        },
        height=90 + rows * 340,
        margin={"l": 10, "r": 10, "t": 100, "b": 10},
        hovermode="closest",
    )
    return figure, geometry


# -- class probabilities ---------------------------------------------------------------------------
def probabilities_figure(
    probabilities: Sequence[tuple[str, np.ndarray, Sequence[str]]],
    true_label: int | None,
    colours: Mapping[str, str],
    title: str,
) -> go.Figure:
    """Grouped bars: each run's softmax over the classes for this image; the true class is marked."""
    if not probabilities:
        return empty_figure("No class probabilities: pick a run above.")
    figure = go.Figure()
    class_names: list[str] = []
    for run, probs, names in probabilities:
        for name in names:
            if name not in class_names:
                class_names.append(name)
        figure.add_trace(
            go.Bar(
                x=list(names),
                y=[float(p) for p in probs],
                name=run,
                marker_color=colours.get(run, "#888"),
                hovertemplate=f"{run}<br>%{{x}}: %{{y:.1%}}<extra></extra>",
            )
        )
    ticks = [f"<b>{n} ✓</b>" if true_label is not None and i == true_label else n for i, n in enumerate(class_names)]
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        barmode="group",
        bargap=0.25,
        title={"text": title, "x": 0.01, "xanchor": "left"},
        xaxis={
            "title": {"text": "class" + (" (✓ true class)" if true_label is not None else "")},
            "tickmode": "array",
            "tickvals": class_names,
            "ticktext": ticks,
        },
        yaxis={"title": {"text": "probability"}, "tickformat": ".0%", "range": [0, 1.02]},
        legend={"title": {"text": "runs"}},
        height=360,
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
    )
    return figure


# -- occlusion sensitivity -------------------------------------------------------------------------
class OcclusionPanel(NamedTuple):
    """One run's occlusion result (see ``analysis.probes.per_image.occlusion_sensitivity``)."""

    run: str
    result: Mapping[str, Any]
    target: int
    class_names: Sequence[str]


def occlusion_figure(
    panels: Sequence[OcclusionPanel], target_kind: str, colours: Mapping[str, str], title: str
) -> go.Figure:
    """Per run, the target-class probability with a grey square centred at each position.

    The most probable label per position is written in the cells when the grid is coarse
    enough to read (Zeiler & Fergus' third panel); it is always in the hover text.
    """
    if not panels:
        return empty_figure("No occlusion map: pick a run above.")
    rows, columns = _grid(len(panels))
    titles = []
    for p in panels:
        clean = float(np.asarray(p.result.get("clean_probability", np.nan)))
        name = p.class_names[p.target] if 0 <= p.target < len(p.class_names) else str(p.target)
        titles.append(f"<b>{p.run}</b><br>P({name}) unoccluded {clean:.0%}")
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=titles,
        horizontal_spacing=0.04,
        vertical_spacing=0.14 if rows > 1 else 0.05,
    )
    for i, panel in enumerate(panels):
        result = panel.result
        size = int(np.asarray(result["size"]))
        centres_y = [int(t) + size / 2 for t in np.asarray(result["tops"])]
        centres_x = [int(left) + size / 2 for left in np.asarray(result["lefts"])]
        top_label = np.asarray(result["top_label"])
        labels = [
            [str(panel.class_names[int(v)]) if 0 <= int(v) < len(panel.class_names) else str(int(v)) for v in row]
            for row in top_label
        ]
        readable = len(centres_x) <= 10 and len(centres_y) <= 10
        row, column = divmod(i, columns)
        figure.add_trace(
            go.Heatmap(
                z=np.asarray(result["correct_probability"], dtype=float),
                x=centres_x,
                y=centres_y,
                text=[[short_label(t, 5) for t in r] for r in labels] if readable else None,
                texttemplate="%{text}" if readable else None,
                textfont={"size": 11},
                customdata=labels,
                coloraxis="coloraxis",
                name=panel.run,
                hovertemplate=(
                    f"{panel.run}<br>square centred at (%{{x}}, %{{y}})<br>P({target_kind}) %{{z:.1%}}"
                    "<br>top label: %{customdata}<extra></extra>"
                ),
            ),
            row=row + 1,
            col=column + 1,
        )
    for axis in range(1, len(panels) + 1):
        suffix = "" if axis == 1 else str(axis)
        figure.update_layout(
            {
                f"xaxis{suffix}": {
                    "range": [0, 32],
                    "showticklabels": False,
                    "showgrid": False,
                    "zeroline": False,
                    "constrain": "domain",
                },
                f"yaxis{suffix}": {
                    "range": [32, 0],
                    "showticklabels": False,
                    "showgrid": False,
                    "zeroline": False,
                    "scaleanchor": f"x{suffix}",
                    "constrain": "domain",
                },
            }
        )
    for annotation, panel in zip(figure.layout.annotations, panels):
        annotation.font = {"size": 14, "color": colours.get(panel.run, "#212529")}
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title={"text": title, "x": 0.01, "xanchor": "left"},
        coloraxis={
            "colorscale": OCCLUSION_COLOURSCALE,
            "cmin": 0,
            "cmax": 1,
            "colorbar": {"title": {"text": f"P({target_kind})"}, "tickformat": ".0%", "thickness": 14, "len": 0.8},
        },
        height=90 + rows * 330,
        margin={"l": 10, "r": 10, "t": 100, "b": 10},
    )
    return figure


# -- top-k images of a neuron ----------------------------------------------------------------------
def patches_figure(
    run: str,
    layer: str,
    neuron: int,
    patches: Sequence[Mapping[str, Any]],
    images: Sequence[np.ndarray],
    class_names: Sequence[str],
    colour: str,
    title: str,
) -> go.Figure:
    """The neuron's top-k images, each with the receptive-field box of its strongest response drawn on it."""
    if not patches:
        return empty_figure("This neuron has no top images.")
    columns = len(patches)
    titles = [
        f"{short_label(class_names[p['label']], 8) if 0 <= p['label'] < len(class_names) else p['label']}"
        f"<br>{p['value']:.3g}"
        for p in patches
    ]
    figure = make_subplots(rows=1, cols=columns, subplot_titles=titles, horizontal_spacing=0.01)
    for i, (patch, image) in enumerate(zip(patches, images)):
        array = np.asarray(image)
        if array.shape[0] == 3 and array.shape[-1] != 3:
            array = array.transpose(1, 2, 0)
        figure.add_trace(
            go.Image(
                z=array, hovertemplate=(f"test image {patch['image']}<br>response {patch['value']:.3g}<extra></extra>")
            ),
            row=1,
            col=i + 1,
        )
        top, left, bottom, right = patch["box"]
        figure.add_shape(
            type="rect",
            x0=left - 0.5,
            x1=right - 0.5,
            y0=top - 0.5,
            y1=bottom - 0.5,
            line={"color": "#ffc107", "width": 2.5},
            row=1,
            col=i + 1,
        )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title={
            "text": f"{title}<br><span style='font-size:14px;color:{colour}'>{run} · {layer} · neuron {neuron}: "
            f"its top {len(patches)} test images, the box is the receptive field of its strongest "
            "response</span>",
            "x": 0.01,
            "xanchor": "left",
            "yref": "container",
            "y": 0.97,
            "yanchor": "top",
        },
        height=340,
        margin={"l": 10, "r": 10, "t": 140, "b": 10},
    )
    return figure


# -- the image strip -------------------------------------------------------------------------------
def strip_range(index: int, n_images: int, count: int = THUMBNAILS) -> range:
    """The strip's page: ``count`` images from a multiple of ``count``, holding ``index``."""
    start = (max(0, index) // count) * count
    return range(start, min(n_images, start + count))


def thumbnail_strip(
    images: torch.Tensor,
    labels: Sequence[int],
    indices: Sequence[int],
    class_names: Sequence[str],
    predictions: Mapping[str, np.ndarray | None],
    chosen: int | None,
    colours: Mapping[str, str],
) -> html.Div:
    """Thumbnails with the true class and, per run, the predicted class (wrong ones in red)."""
    cell = {"padding": "0 2px", "textAlign": "center", "fontSize": "0.8rem", "whiteSpace": "nowrap"}
    head = [html.Th("", style=cell)]
    truth = [html.Th("true", className="text-muted fw-normal text-end pe-2", style=cell)]
    for position, index in enumerate(indices):
        selected = index == chosen
        head.append(
            html.Td(
                html.Button(
                    html.Img(
                        src=png_data_url(images[position]),
                        alt=f"test image {index}",
                        style={"width": "44px", "height": "44px", "imageRendering": "pixelated", "display": "block"},
                    ),
                    id={"type": THUMB_TYPE, "index": int(index)},
                    n_clicks=0,
                    title=f"test image {index}",
                    className="p-0 border-0 bg-transparent",
                    style={"outline": "3px solid #f39c12" if selected else "1px solid #dee2e6", "outlineOffset": "1px"},
                ),
                style={**cell, "paddingBottom": "4px"},
            )
        )
        name = class_names[labels[position]] if 0 <= labels[position] < len(class_names) else str(labels[position])
        truth.append(html.Td(short_label(name), title=f"#{index}: {name}", style={**cell, "fontWeight": 600}))
    rows = [html.Tr(head), html.Tr(truth)]
    for run, predicted in predictions.items():
        cells = [
            html.Th(
                html.Span(run, style={"color": colours.get(run, "#212529")}),
                className="fw-semibold text-end pe-2",
                title=run,
                style={**cell, "maxWidth": "14rem", "overflow": "hidden", "textOverflow": "ellipsis"},
            )
        ]
        for position, index in enumerate(indices):
            if predicted is None or index >= len(predicted):
                cells.append(html.Td("–", style=cell, title="not analysed yet"))
                continue
            label = int(predicted[index])
            name = class_names[label] if 0 <= label < len(class_names) else str(label)
            wrong = label != labels[position]
            cells.append(
                html.Td(
                    short_label(name),
                    title=f"{run} predicts {name}" + (" (wrong)" if wrong else ""),
                    className="text-danger fw-bold" if wrong else "text-muted",
                    style=cell,
                )
            )
        rows.append(html.Tr(cells))
    return html.Div(html.Table(html.Tbody(rows), className="mb-1"), className="overflow-auto pb-1")


# -- the page --------------------------------------------------------------------------------------
def picker(runs: Sequence[Mapping[str, Any]], chosen: Sequence[str]) -> dbc.Checklist:
    options = [
        {
            "label": f"{r['name']} (broken)" if r.get("status") == "broken" else r["name"],
            "value": r["name"],
            "disabled": r.get("status") == "broken",
        }
        for r in runs
    ]
    return dbc.Checklist(id=PICKER_ID, options=options, value=list(chosen), inline=True, switch=True)


def depth_marks() -> dict[float, str]:
    return {0: "0 · input side", 0.25: "0.25", 0.5: "0.5", 0.75: "0.75", 1: "1 · output"}


def _label(text: str) -> html.Span:
    return html.Span(text, className="fw-semibold me-2 text-nowrap")


def controls(query: ExplorerQuery, n_images: int | None) -> dbc.Card:
    upload = dcc.Upload(
        id=UPLOAD_ID,
        multiple=False,
        children=html.Div(["Drop a PNG or JPEG here, or ", html.A("choose a file", className="link-primary")]),
        className="border border-2 border-secondary-subtle rounded text-center text-muted py-2 px-3",
        style={"borderStyle": "dashed", "cursor": "pointer"},
    )
    image_row = html.Div(
        [
            _label("Test image"),
            dbc.Button("‹ Prev", id=PREV_ID, n_clicks=0, color="secondary", outline=True, size="sm", className="me-1"),
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
            dbc.Button("Next ›", id=NEXT_ID, n_clicks=0, color="secondary", outline=True, size="sm", className="ms-1"),
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


def layout(
    models: Any = None, image: Any = None, layer: Any = None, size: Any = None, stride: Any = None, **_other_query: Any
) -> html.Div:
    """The page for ``/explorer?models=a,b&image=3&layer=0.25&size=8&stride=4``; bad values get a message."""
    settings = current_settings()
    runs_dir = settings.runs_dir
    heading = components.page_heading(
        "Explorer",
        "One image through every chosen run: what each layer's neurons respond to, how sure each run is, "
        "which part of the image it relies on (occlusion), and what a clicked neuron likes best.",
    )
    try:
        runs = read_runs(runs_dir)
        if not runs:
            return html.Div(
                [heading, components.no_runs_message(runs_dir, title="Nothing to explore", id="explorer-empty")]
            )
        selection = parse_runs(models, [r["name"] for r in runs])
        query = parse_query(image, layer, size, stride)
        problems = list(query.problems)
        usable = [r["name"] for r in runs if r["name"] in selection.names and r.get("status") != "broken"]
        n_images, depth = None, query.depth
        if usable:
            try:
                reference = run_input(usable[0])
                n_images = len(analyzer().evaluation_images(reference.run)[0])
                if query.layer_name is not None:
                    names = dict(reference.layers)
                    if query.layer_name in names:
                        depth = names[query.layer_name]
                    else:
                        problems.append(
                            f"layer={query.layer_name} is not a layer of {reference.run} "
                            f"({', '.join(names)}); showing depth {DEFAULT_DEPTH}."
                        )
            except PAGE_ERRORS as exc:
                problems.append(f"{usable[0]}: {exc}")
        index = query.image
        if n_images is not None and index >= n_images:
            problems.append(f"image={index} is past the last test image ({n_images - 1}); showing image 0.")
            index = 0
        query = query._replace(image=index, depth=depth)
        query_message = None
        if problems:
            query_message = components.message(
                [html.Ul([html.Li(p) for p in problems], className="mb-0")],
                kind="warning",
                title="Parts of this link were not understood",
                id=QUERY_MESSAGE_ID,
            )
        chosen = [r for r in runs if r["name"] in selection.names]
        options_row = html.Div(
            [
                html.Div(
                    [
                        _label("Layer (relative depth)"),
                        html.Div(
                            dcc.Slider(
                                id=LAYER_ID,
                                min=0,
                                max=1,
                                step=0.01,
                                value=round(query.depth, 4),
                                marks=depth_marks(),
                                tooltip={"placement": "bottom"},
                            ),
                            style={"minWidth": "18rem"},
                            className="flex-grow-1",
                        ),
                    ],
                    className="d-flex align-items-center flex-grow-1 me-4",
                ),
                html.Div(
                    [
                        _label("Neurons"),
                        dcc.Dropdown(
                            id=NEURONS_ID,
                            options=[
                                {"label": "all" if c == "all" else f"first {c}", "value": c} for c in NEURON_CHOICES
                            ],
                            value=DEFAULT_NEURONS,
                            clearable=False,
                            searchable=False,
                            style={"width": "8rem"},
                        ),
                    ],
                    className="d-flex align-items-center me-4",
                ),
                html.Div(
                    [
                        _label("Colour scale"),
                        dbc.RadioItems(
                            id=SCALE_ID,
                            options=[{"label": text, "value": key} for key, text in SCALES.items()],
                            value=DEFAULT_SCALE,
                            inline=True,
                        ),
                    ],
                    className="d-flex align-items-center",
                ),
            ],
            className="d-flex flex-wrap align-items-center mb-2",
        )
        occlusion_row = html.Div(
            [
                _label("Occluder"),
                html.Span("size", className="me-1 text-muted"),
                html.Div(
                    dcc.Dropdown(
                        id=SIZE_ID,
                        options=[{"label": f"{s} px", "value": s} for s in SIZE_CHOICES],
                        value=query.size,
                        clearable=False,
                        searchable=False,
                        style={"width": "6.5rem"},
                    ),
                    className="me-3",
                ),
                html.Span("stride", className="me-1 text-muted"),
                dcc.Dropdown(
                    id=STRIDE_ID,
                    options=[{"label": f"{s} px", "value": s} for s in STRIDE_CHOICES],
                    value=query.stride,
                    clearable=False,
                    searchable=False,
                    style={"width": "6.5rem"},
                ),
                html.Span("a grey (dataset-mean) square slid over the image", className="text-muted small ms-3"),
            ],
            className="d-flex align-items-center flex-wrap mb-2",
        )
        return html.Div(
            [
                heading,
                dcc.Location(id=URL_ID, refresh=False),
                dcc.Store(id=UPLOAD_STORE_ID),
                dcc.Store(id=MAPS_GEOMETRY_ID),
                link_message(selection, runs_dir, LINK_MESSAGE_ID),
                query_message,
                html.Div(components.dataset_banner(chosen), id=BANNER_ID),
                html.Div(
                    [_label("Runs"), picker(runs, selection.names)],
                    className="d-flex flex-wrap align-items-baseline mb-3",
                ),
                dbc.Row(
                    [
                        dbc.Col(controls(query, n_images), lg=6),
                        dbc.Col(html.Div(id=SUBJECT_ID), lg=6),
                    ]
                ),
                dcc.Loading(html.Div(id=STRIP_ID, className="mb-2"), delay_show=300),
                html.H4("Activation maps", className="mt-2"),
                options_row,
                html.Div(id=MAPS_MESSAGE_ID),
                dcc.Loading(
                    components.graph(MAPS_GRAPH_ID, empty_figure("Loading…"), filename="activation-maps"),
                    delay_show=400,
                ),
                html.Div(
                    id=PATCHES_ID,
                    children=html.P(
                        "Click a neuron's map above to see its top test images (Zeiler & Fergus).",
                        className="text-muted",
                    ),
                ),
                html.H4("Class probabilities", className="mt-2"),
                components.graph(PROBABILITIES_GRAPH_ID, empty_figure("Loading…"), filename="class-probabilities"),
                html.H4("Occlusion sensitivity", className="mt-2"),
                occlusion_row,
                html.Div(id=OCCLUSION_MESSAGE_ID),
                dcc.Loading(
                    components.graph(OCCLUSION_GRAPH_ID, empty_figure("Loading…"), filename="occlusion"),
                    delay_show=400,
                ),
            ]
        )
    except Exception as exc:
        log.exception("explorer page failed for models=%r image=%r layer=%r", models, image, layer)
        return components.page_failure(heading, exc, id="explorer-error")


# -- what the callbacks build ----------------------------------------------------------------------
def _title(what: str, inputs: Sequence[RunInput], rows: Sequence[Mapping[str, Any]], subject: Subject) -> str:
    names = {i.run for i in inputs}
    return f"{what} · {subject.title} · {components.dataset_label([r for r in rows if r['name'] in names])}"


def _subject_and_runs(
    models: Any, index: Any, uploaded: Any
) -> tuple[Subject, list[RunInput], list[Any], list[dict[str, Any]]]:
    """The image, the runs that can look at it, messages for the others, and all run rows."""
    rows, names, broken = chosen_runs(models)
    if not names:
        raise ValueError(
            "Pick at least one run above." if not broken else f"The chosen runs are broken: {', '.join(broken)}."
        )
    inputs, messages = load_inputs(names)
    if not inputs:
        raise ValueError("None of the chosen runs could be loaded.")
    upload = uploaded if isinstance(uploaded, dict) and uploaded.get("image") else None
    if upload is None:
        inputs, others = comparable(inputs)
        mismatch = mismatch_message(others, inputs[0])
        if mismatch is not None:
            messages.append(mismatch)
    subject = subject_for(inputs[0], index, upload)
    return subject, inputs, messages, rows


def maps_parts(models: Any, index: Any, depth: Any, neurons: Any, scale: Any, uploaded: Any) -> tuple:
    """Maps figure, probabilities figure, click geometry and messages for the current controls."""
    subject, inputs, messages, rows = _subject_and_runs(models, index, uploaded)
    depth = float(depth) if isinstance(depth, (int, float)) and 0 <= depth <= 1 else DEFAULT_DEPTH
    count = 10**9 if neurons == "all" else int(neurons) if neurons in NEURON_CHOICES else int(DEFAULT_NEURONS)
    scale = scale if scale in SCALES else DEFAULT_SCALE
    colours = run_colours([r["name"] for r in rows])
    panels, probabilities = [], []
    for item in inputs:
        maps = activation_maps(item.model, subject.image, item.normalization)
        name, relative = nearest_layer(item.layers, depth)
        panels.append(MapsPanel(item.run, name, relative, maps[name]))
        probabilities.append((item.run, maps["probabilities"], item.class_names))
    maps_fig, geometry = maps_figure(
        panels, count, scale, colours, _title(f"Activation maps at depth {depth:.2f}", inputs, rows, subject)
    )
    true = subject.label
    probs_fig = probabilities_figure(probabilities, true, colours, _title("Class probabilities", inputs, rows, subject))
    return maps_fig, probs_fig, geometry, messages


def occlusion_parts(models: Any, index: Any, size: Any, stride: Any, uploaded: Any) -> tuple[go.Figure, list]:
    """The occlusion figure (true class for a test image; each run's own top class for an upload)."""
    subject, inputs, messages, rows = _subject_and_runs(models, index, uploaded)
    size = size if size in SIZE_CHOICES else DEFAULT_SIZE
    stride = stride if stride in STRIDE_CHOICES else DEFAULT_STRIDE
    colours = run_colours([r["name"] for r in rows])
    panels = []
    for item in inputs:
        try:
            if subject.index is not None:
                result = analyzer().occlusion(item.run, subject.index, size=size, stride=stride)
                target = int(result["label"])
            else:
                clean = activation_maps(item.model, subject.image, item.normalization)["probabilities"]
                target = int(np.argmax(clean))
                result = occlusion_sensitivity(item.model, subject.image, target, item.normalization, size, stride)
            panels.append(OcclusionPanel(item.run, result, target, item.class_names))
        except PAGE_ERRORS as exc:
            messages.append(components.problem_message(exc, item.run))
    kind = "true class" if subject.label is not None else "run's top class"
    figure = occlusion_figure(
        panels,
        kind,
        colours,
        _title(f"Occlusion, {size} px square every {stride} px · P({kind})", inputs, rows, subject),
    )
    return figure, messages


def strip_parts(models: Any, index: Any, uploaded: Any) -> tuple[Any, Any, Any]:
    """Banner, thumbnail strip and the shown image's card."""
    rows, names, broken = chosen_runs(models)
    banner = components.dataset_banner([r for r in rows if r["name"] in names])
    if not names:
        note = components.message(
            "Pick at least one run above." if not broken else f"The chosen runs are broken: {', '.join(broken)}.",
            kind="secondary",
        )
        return banner, note, None
    inputs, messages = load_inputs(names)
    if not inputs:
        return banner, html.Div(messages), None
    same, _ = comparable(inputs)
    reference = same[0]
    colours = run_colours([r["name"] for r in rows])
    a = analyzer()
    images, labels = a.evaluation_images(reference.run)
    number = _whole_number(index)
    position = number if number is not None and 0 <= number < len(images) else 0
    shown = strip_range(position, len(images))
    predictions: dict[str, np.ndarray | None] = {}
    missing = []
    for item in same:
        try:
            predictions[item.run] = np.asarray(a.statistics(item.run)["test_predictions"])
        except PAGE_ERRORS:
            predictions[item.run] = None
            missing.append(item.run)
    strip = [
        html.Div(
            [
                html.Span(f"Test images {shown.start}–{shown.stop - 1} of {len(images)}", className="fw-semibold"),
                html.Span(" · click one to explore it; red: a wrong prediction", className="text-muted small"),
            ],
            className="mb-1",
        ),
        thumbnail_strip(
            images[shown.start : shown.stop],
            [int(v) for v in labels[shown.start : shown.stop]],
            list(shown),
            reference.class_names,
            predictions,
            number if not (isinstance(uploaded, dict) and uploaded.get("image")) else None,
            colours,
        ),
    ]
    if missing:
        strip.append(
            html.Div(
                [
                    "No predictions yet for ",
                    ", ".join(missing),
                    ": they are not analysed (",
                    dcc.Link("Jobs page", href=JOBS_PATH),
                    ").",
                ],
                className="text-muted small",
            )
        )
    strip += messages
    upload = uploaded if isinstance(uploaded, dict) and uploaded.get("image") else None
    try:
        subject = subject_for(reference, index, upload)
    except (ValueError, UploadError) as exc:
        return banner, html.Div(strip), components.message(str(exc), kind="warning")
    if subject.label is not None:
        caption = [
            html.Strong(f"Test image {subject.index}"),
            " · true class ",
            html.Strong(reference.class_names[subject.label]),
        ]
    else:
        caption = [
            html.Strong("Uploaded: "),
            str(upload.get("name") or "image"),
            " (shrunk to 32 × 32)",
            html.Div(
                dbc.Button(
                    "Back to the test images",
                    id={"type": CLEAR_UPLOAD_TYPE, "id": "upload"},
                    n_clicks=0,
                    size="sm",
                    color="secondary",
                    outline=True,
                    className="mt-2",
                )
            ),
        ]
    card = html.Div(
        [
            html.Img(
                src=png_data_url(subject.image),
                alt=subject.title,
                style={"width": "128px", "height": "128px", "imageRendering": "pixelated"},
                className="border me-3",
            ),
            html.Div(caption),
        ],
        className="d-flex align-items-start mb-3",
    )
    return banner, html.Div(strip), card


def patches_parts(click: Any, geometry: Any) -> Any:
    """The clicked neuron's top-k images (a figure), or a message saying why there are none."""
    if not isinstance(click, dict) or not click.get("points") or not isinstance(geometry, list):
        return no_update
    point = click["points"][0]
    curve = point.get("curveNumber")
    if not isinstance(curve, int) or not 0 <= curve < len(geometry):
        return no_update
    shape = geometry[curve]
    tile = Tiling(*(int(shape[k]) for k in Tiling._fields))
    neuron = neuron_at(tile, point.get("x"), point.get("y"))
    if neuron is None:
        return no_update
    run, layer = str(shape["run"]), str(shape["layer"])
    rows = read_runs(current_settings().runs_dir)
    colours = run_colours([r["name"] for r in rows])
    a = analyzer()
    try:
        patches = a.top_patches(run, layer, neuron)
        dataset = a.dataset(run)
        images = [a.image(run, p["image"])[0].numpy() for p in patches]
    except PAGE_ERRORS as exc:
        return components.problem_message(exc, run)
    title = f"Top images of a neuron · {components.dataset_label([r for r in rows if r['name'] == run])}"
    figure = patches_figure(
        run, layer, neuron, patches, images, dataset.class_names, colours.get(run, "#212529"), title
    )
    return components.graph(PATCHES_GRAPH_ID, figure, filename=f"top-images-{layer}-{neuron}")


_DRAWN: LRU = LRU(max_items=32)  # figures drawn, keyed on their inputs and the runs' stamps


def _drawn_key(kind: str, models: Any, *inputs: Any) -> tuple:
    """What a drawn figure depends on: the inputs, the chosen runs' files and the analysis cache."""
    settings = current_settings()
    names = tuple(picked_names(models))
    return (
        kind,
        str(settings.runs_dir),
        settings.analysis_cache,
        names,
        repr(inputs),
        runs_stamp(settings.runs_dir, names),
        cache_stamp(settings),
    )


def register_callbacks(app: dash.Dash) -> None:
    """Controls → figures; thumbnails and prev/next → image number; an upload → the kept image; all → URL."""

    @app.callback(
        Output(IMAGE_ID, "value"),
        Input(PREV_ID, "n_clicks"),
        Input(NEXT_ID, "n_clicks"),
        Input({"type": THUMB_TYPE, "index": ALL}, "n_clicks"),
        State(IMAGE_ID, "value"),
        State(IMAGE_ID, "max"),
        prevent_initial_call=True,
    )
    def step_image(_prev: Any, _next: Any, _thumbs: Any, current: Any, last: Any):
        trigger = ctx.triggered_id
        if not ctx.triggered or not ctx.triggered[0].get("value"):
            return no_update  # a strip redrawn with fresh thumbnails (n_clicks 0), not a click
        number = _whole_number(current) or 0
        if isinstance(trigger, dict) and trigger.get("type") == THUMB_TYPE:
            index = _whole_number(trigger.get("index"))  # a client may send any id; thumbnails count from 0
            return index if index is not None and index >= 0 else no_update
        if trigger == PREV_ID:
            return max(0, number - 1)
        if trigger == NEXT_ID:
            return number + 1 if not isinstance(last, int) else min(last, number + 1)
        return no_update

    @app.callback(
        Output(UPLOAD_STORE_ID, "data"),
        Output(UPLOAD_MESSAGE_ID, "children"),
        Output(UPLOAD_ID, "contents"),
        Input(UPLOAD_ID, "contents"),
        Input({"type": CLEAR_UPLOAD_TYPE, "id": ALL}, "n_clicks"),
        Input(IMAGE_ID, "value"),
        State(UPLOAD_ID, "filename"),
        State(UPLOAD_STORE_ID, "data"),
        prevent_initial_call=True,
    )
    def take_upload(contents: Any, _clear: Any, _image: Any, filename: Any, kept: Any):
        if ctx.triggered_id != UPLOAD_ID:
            # Choosing a test image (or "back to the test images") puts the upload aside.
            if isinstance(ctx.triggered_id, dict) and not (ctx.triggered and ctx.triggered[0].get("value")):
                return no_update, no_update, no_update  # a fresh button (n_clicks 0), not a click
            return (None if kept else no_update), None, no_update
        if not contents:
            return no_update, no_update, no_update
        name = str(filename)[:80] if isinstance(filename, str) else "image"
        try:
            image = decode_upload(contents)
        except UploadError as exc:
            return (
                no_update,
                components.message([html.Strong(f"{name}: "), f"{exc}."], kind="warning", className="py-2"),
                None,
            )
        return {"image": image_to_text(image), "name": name}, None, None

    @app.callback(
        Output(BANNER_ID, "children"),
        Output(STRIP_ID, "children"),
        Output(SUBJECT_ID, "children"),
        Input(PICKER_ID, "value"),
        Input(IMAGE_ID, "value"),
        Input(UPLOAD_STORE_ID, "data"),
    )
    def show_strip(models: Any, index: Any, uploaded: Any):
        try:
            return strip_parts(models, index, uploaded)
        except Exception:
            log.exception("explorer strip failed for %r, image %r", models, index)
            return (
                no_update,
                components.message("The test images could not be read; the server log has the details.", kind="danger"),
                None,
            )

    @app.callback(
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
    )
    def show_maps(models: Any, index: Any, depth: Any, neurons: Any, scale: Any, uploaded: Any):
        try:
            maps_fig, probs_fig, geometry, messages = _DRAWN.get_or_compute(
                _drawn_key("maps", models, index, depth, neurons, scale, uploaded),
                lambda: maps_parts(models, index, depth, neurons, scale, uploaded),
            )
            return maps_fig, probs_fig, geometry, messages or None
        except (*PAGE_ERRORS, UploadError) as exc:
            text = str(exc)
            return (
                empty_figure(text),
                empty_figure(text),
                [],
                components.message(text, kind="secondary", className="py-2"),
            )
        except Exception:
            log.exception("explorer maps failed for %r, image %r", models, index)
            text = "The activation maps could not be computed; the server log has the details."
            return (
                empty_figure(text),
                empty_figure(text),
                [],
                components.message(text, kind="danger"),
            )

    @app.callback(
        Output(OCCLUSION_GRAPH_ID, "figure"),
        Output(OCCLUSION_MESSAGE_ID, "children"),
        Input(PICKER_ID, "value"),
        Input(IMAGE_ID, "value"),
        Input(SIZE_ID, "value"),
        Input(STRIDE_ID, "value"),
        Input(UPLOAD_STORE_ID, "data"),
    )
    def show_occlusion(models: Any, index: Any, size: Any, stride: Any, uploaded: Any):
        try:
            figure, messages = _DRAWN.get_or_compute(
                _drawn_key("occlusion", models, index, size, stride, uploaded),
                lambda: occlusion_parts(models, index, size, stride, uploaded),
            )
            return figure, messages or None
        except (*PAGE_ERRORS, UploadError) as exc:
            return empty_figure(str(exc)), None
        except Exception:
            log.exception("explorer occlusion failed for %r, image %r", models, index)
            text = "The occlusion map could not be computed; the server log has the details."
            return empty_figure(text), components.message(text, kind="danger")

    @app.callback(
        Output(PATCHES_ID, "children"),
        Input(MAPS_GRAPH_ID, "clickData"),
        State(MAPS_GEOMETRY_ID, "data"),
        prevent_initial_call=True,
    )
    def show_patches(click: Any, geometry: Any):
        try:
            return patches_parts(click, geometry)
        except Exception:
            log.exception("explorer top images failed for %r", click)
            return components.message(
                "The neuron's top images could not be read; the server log has the details.", kind="danger"
            )

    @app.callback(
        Output(URL_ID, "search"),
        Input(PICKER_ID, "value"),
        Input(IMAGE_ID, "value"),
        Input(LAYER_ID, "value"),
        Input(SIZE_ID, "value"),
        Input(STRIDE_ID, "value"),
        prevent_initial_call=True,  # keep the link as typed until the view changes
    )
    def write_url(models: Any, index: Any, depth: Any, size: Any, stride: Any):
        names = split_names(picked_names(models))
        depth = depth if isinstance(depth, (int, float)) and 0 <= depth <= 1 else None  # the slider's range
        return explorer_search(
            names,
            _whole_number(index),
            depth,
            size if size in SIZE_CHOICES else None,
            stride if stride in STRIDE_CHOICES else None,
        )
