"""Explorer figures: one image's activation maps per run, class probabilities, occlusion, a neuron's top images.

Pure functions (data in, plotly figure out). The maps of one layer are tiled into one mosaic per
run (:func:`mosaic`); :class:`Tiling` is the geometry a click needs to find its neuron again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.figures.common import FIGURE_FONT, MUTED, empty_figure

PANEL_COLUMNS = 4  # small multiples per row: 7 runs → two rows, readable on a projector
MAP_COLOURSCALE = "Viridis"
OCCLUSION_COLOURSCALE = "RdBu"  # red: hiding this square destroys the evidence for the class
HIGHLIGHT = "#ff00ff"  # the clicked neuron's frame: apart from viridis and red-blue alike
PANEL_TITLE_SIZE = 14
CELL_TEXT_SIZE = 12
READABLE_CELLS = 8  # occlusion grids up to 8 × 8 get each cell's top label written in (6 characters at 12 px)
TITLE_MARGIN = 130  # a two-line title above two-line panel titles, clear of the plotly toolbar


def short_label(name: str, limit: int = 6) -> str:
    """A class name cut for a narrow cell (``automobile`` → ``autom…``); the full name goes in a tooltip."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def two_line_title(what: str, detail: str) -> dict[str, Any]:
    """A figure title: what it shows, and under it (smaller) which image and which data — exports carry no banner."""
    return {
        "text": f"{what}<br><span style='font-size:14px;color:{MUTED}'>{detail}</span>",
        "x": 0.01,
        "xanchor": "left",
        "yref": "container",
        "y": 1,
        "yanchor": "top",
        "pad": {"t": 26},  # plotly anchors a two-line title by its first baseline: room for the first line
        "font": {"size": 17},
    }


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

    def corner(self, neuron: int) -> tuple[int, int]:
        """The mosaic pixel (top, left) where ``neuron``'s map starts."""
        row, column = divmod(neuron, self.columns)
        return row * (self.height + self.gap), column * (self.width + self.gap)


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
        top, left = tile.corner(i)
        z[top : top + tile.height, left : left + tile.width] = scaled[i]
        raw[top : top + tile.height, left : left + tile.width] = shown[i]
    return z, raw, tile


class MapsPanel(NamedTuple):
    """One run's maps at the layer nearest the chosen depth."""

    run: str
    layer: str
    relative_depth: float
    maps: np.ndarray  # (C, H, W) for a conv layer, (units,) for an FC layer


class Selected(NamedTuple):
    """A clicked neuron: its run, the layer it was clicked in, its number."""

    run: str
    layer: str
    neuron: int


def grid(n: int) -> tuple[int, int]:
    """Rows and columns of ``n`` small multiples."""
    columns = max(1, min(n, PANEL_COLUMNS))
    return max(1, math.ceil(n / columns)), columns


def _axis_suffix(index: int) -> str:
    return "" if index == 0 else str(index + 1)


def highlight_shapes(geometry: Sequence[Mapping[str, Any]], selected: Selected | None) -> list[dict[str, Any]]:
    """A frame around the clicked neuron's map, in the panel of its run and layer (none when it is not shown)."""
    if selected is None:
        return []
    shapes = []
    for index, shape in enumerate(geometry):
        if shape.get("run") != selected.run or shape.get("layer") != selected.layer:
            continue
        tile = Tiling(*(int(shape[k]) for k in Tiling._fields))
        if not 0 <= selected.neuron < tile.count:
            continue
        top, left = tile.corner(selected.neuron)
        suffix = _axis_suffix(index)
        shapes.append(
            {
                "type": "rect",
                "xref": f"x{suffix}",
                "yref": f"y{suffix}",
                "x0": left - 0.5,
                "x1": left + tile.width - 0.5,
                "y0": top - 0.5,
                "y1": top + tile.height - 0.5,
                "line": {"color": HIGHLIGHT, "width": 3},
            }
        )
    return shapes


def maps_figure(
    panels: Sequence[MapsPanel],
    count: int,
    scale: str,
    colours: Mapping[str, str],
    title: Mapping[str, Any] | str,
    selected: Selected | None = None,
    empty: str = "pick a run above",
) -> tuple[go.Figure, list[dict[str, Any]]]:
    """Each run's activation maps as one mosaic, side by side, with one shared colour bar; the ``selected``
    neuron framed. Returns the figure and, per trace, the geometry a click needs to find its neuron."""
    if not panels:
        return empty_figure(f"No activation maps: {empty}."), []
    rows, columns = grid(len(panels))
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
            top, left = tile.corner(n)
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
    for index in range(len(panels)):
        suffix = _axis_suffix(index)
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
        annotation.font = {"size": PANEL_TITLE_SIZE, "color": colours.get(panel.run, FIGURE_FONT["color"])}
    unit = "each neuron's" if scale == "neuron" else "the layer's"
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title=title,
        coloraxis={
            "colorscale": "RdBu_r" if negative else MAP_COLOURSCALE,
            "cmin": -1 if negative else 0,
            "cmax": 1,
            "colorbar": {"title": {"text": f"response ÷<br>{unit} max", "side": "right"}, "thickness": 14, "len": 0.8},
        },
        shapes=highlight_shapes(geometry, selected),
        height=TITLE_MARGIN + rows * 340,
        margin={"l": 10, "r": 10, "t": TITLE_MARGIN, "b": 10},
        hovermode="closest",
    )
    return figure, geometry


# -- class probabilities ---------------------------------------------------------------------------
def probabilities_figure(
    probabilities: Sequence[tuple[str, np.ndarray, Sequence[str]]],
    true_label: int | None,
    colours: Mapping[str, str],
    title: Mapping[str, Any] | str,
    empty: str = "pick a run above",
) -> go.Figure:
    """Grouped bars: each run's softmax over the classes for this image; the true class is marked."""
    if not probabilities:
        return empty_figure(f"No class probabilities: {empty}.")
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
        title=title,
        xaxis={
            "title": {"text": "class" + (" (✓ true class)" if true_label is not None else "")},
            "tickmode": "array",
            "tickvals": class_names,
            "ticktext": ticks,
        },
        yaxis={"title": {"text": "probability"}, "tickformat": ".0%", "range": [0, 1.02]},
        legend={"title": {"text": "runs"}},
        height=400,
        margin={"l": 70, "r": 20, "t": 90, "b": 60},
    )
    return figure


# -- occlusion sensitivity -------------------------------------------------------------------------
class OcclusionPanel(NamedTuple):
    """One run's occlusion result (see ``RunAnalyzer.occlusion``)."""

    run: str
    result: Mapping[str, Any]
    target: int
    class_names: Sequence[str]


def occlusion_figure(
    panels: Sequence[OcclusionPanel],
    target_kind: str,
    colours: Mapping[str, str],
    title: Mapping[str, Any] | str,
    image_size: int = 32,
    empty: str = "pick a run above",
) -> go.Figure:
    """Per run, the target-class probability with a grey square centred at each position.

    The most probable label per position is written in the cells when the grid is coarse
    enough to read (Zeiler & Fergus' third panel); it is always in the hover text.
    """
    if not panels:
        return empty_figure(f"No occlusion map: {empty}.")
    rows, columns = grid(len(panels))
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
        labels = [
            [str(panel.class_names[int(v)]) if 0 <= int(v) < len(panel.class_names) else str(int(v)) for v in row]
            for row in np.asarray(result["top_label"])
        ]
        readable = max(len(centres_x), len(centres_y)) <= READABLE_CELLS
        row, column = divmod(i, columns)
        figure.add_trace(
            go.Heatmap(
                z=np.asarray(result["correct_probability"], dtype=float),
                x=centres_x,
                y=centres_y,
                text=[[short_label(t) for t in r] for r in labels] if readable else None,
                texttemplate="%{text}" if readable else None,
                textfont={"size": CELL_TEXT_SIZE},
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
    hidden = {"showticklabels": False, "showgrid": False, "zeroline": False, "constrain": "domain"}
    for index in range(len(panels)):
        suffix = _axis_suffix(index)
        figure.update_layout(
            {
                f"xaxis{suffix}": {"range": [0, image_size], **hidden},
                f"yaxis{suffix}": {"range": [image_size, 0], "scaleanchor": f"x{suffix}", **hidden},
            }
        )
    for annotation, panel in zip(figure.layout.annotations, panels):
        annotation.font = {"size": PANEL_TITLE_SIZE, "color": colours.get(panel.run, FIGURE_FONT["color"])}
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title=title,
        coloraxis={
            "colorscale": OCCLUSION_COLOURSCALE,
            "cmin": 0,
            "cmax": 1,
            "colorbar": {"title": {"text": f"P({target_kind})"}, "tickformat": ".0%", "thickness": 14, "len": 0.8},
        },
        height=TITLE_MARGIN + rows * 330,
        margin={"l": 10, "r": 10, "t": TITLE_MARGIN, "b": 10},
    )
    return figure


# -- top-k images of a neuron ----------------------------------------------------------------------
def patches_figure(
    selected: Selected,
    patches: Sequence[Mapping[str, Any]],
    images: Sequence[np.ndarray],
    class_names: Sequence[str],
    colour: str,
    dataset: str,
) -> go.Figure:
    """The neuron's top-k images, each with the receptive-field box of its strongest response drawn on it;
    above each, its true class and the neuron's response to it."""
    if not patches:
        return empty_figure("This neuron has no top images.")
    titles = [
        f"{short_label(class_names[p['label']], 8) if 0 <= p['label'] < len(class_names) else p['label']}"
        f"<br>response {p['value']:.3g}"
        for p in patches
    ]
    figure = make_subplots(rows=1, cols=len(patches), subplot_titles=titles, horizontal_spacing=0.01)
    for i, (patch, image) in enumerate(zip(patches, images)):
        array = np.asarray(image)
        if array.shape[0] == 3 and array.shape[-1] != 3:
            array = array.transpose(1, 2, 0)
        figure.add_trace(
            go.Image(
                z=array, hovertemplate=f"test image {patch['image']}<br>response {patch['value']:.3g}<extra></extra>"
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
    for annotation in figure.layout.annotations:
        annotation.font = {"size": PANEL_TITLE_SIZE}
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    what = f"<span style='color:{colour}'>{selected.run}</span> · {selected.layer} · neuron {selected.neuron}"
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title=two_line_title(
            f"Top {len(patches)} test images of {what}",
            f"true class and response above each; the box is the receptive field of its strongest response · {dataset}",
        ),
        height=360,
        margin={"l": 10, "r": 10, "t": TITLE_MARGIN, "b": 10},
    )
    return figure
