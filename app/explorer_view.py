"""The Explorer's view model: its link, the image it looks at, the runs that can look at it, what its callbacks show.

Every model computation goes through the analyzer's per-image API (``activation_maps``,
``occlusion``, ``top_patches``, ``test_images``), which holds the model lock; images are uint8
``(3, H, W)`` numpy arrays, encoded for the browser by :func:`app.images.png_data_url`. Figures are
drawn by :mod:`app.figures.explorer`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import plotly.graph_objects as go
from dash import html

from analysis.data.uploads import UploadError, decode_upload, image_from_text, image_to_text
from analysis.lru import LRU
from analysis.pipeline import RunAnalyzer
from analysis.runs.store import RunNameError, RunStatus, check_run_name
from app import components
from app.analysis_access import PAGE_ERRORS
from app.figures.common import empty_figure
from app.figures.explorer import (
    MapsPanel,
    OcclusionPanel,
    Selected,
    Tiling,
    maps_figure,
    neuron_at,
    occlusion_figure,
    patches_figure,
    probabilities_figure,
    two_line_title,
)
from app.page import drawn as page_drawn
from app.page import page_context
from app.query import (
    LAYER_NAME,
    Parsed,
    last,
    nearest_layer,
    parse_choice,
    parse_count,
    parse_depth,
    parse_layer,
    parse_number,
    problems_of,
)
from app.selection import picked_names, run_colours, runs_search

NEURON_CHOICES = ("16", "32", "64", "all")
DEFAULT_NEURONS = "32"
SCALES = {"layer": "local to the layer", "neuron": "local to each neuron"}
DEFAULT_SCALE = "layer"
SIZE_CHOICES = (4, 6, 8, 12, 16)  # occluder side, pixels of the 32×32 input
STRIDE_CHOICES = (1, 2, 4, 8)
DEFAULT_SIZE, DEFAULT_STRIDE = 8, 4
DEFAULT_DEPTH = 0.25
ALL_NEURONS = 10**9
UPLOAD_NAME_SHOWN = 40  # characters of an upload's file name in titles
NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$")
NO_RUN = "Pick at least one run above."
ALL_FAILED = "none of the chosen runs could show this image; the messages above say why"


# -- the link ----------------------------------------------------------------------------------------
class ExplorerQuery(NamedTuple):
    """The view a link asks for, after validation; ``problems`` says what was refused and replaced."""

    image: int = 0
    depth: float = DEFAULT_DEPTH
    layer_name: str | None = None  # a layer asked for by name, resolved against the first run by the layout
    neurons: str = DEFAULT_NEURONS
    scale: str = DEFAULT_SCALE
    size: int = DEFAULT_SIZE
    stride: int = DEFAULT_STRIDE
    neuron: Selected | None = None  # the clicked neuron, whose top images are shown
    problems: tuple[str, ...] = ()


def parse_neuron(value: Any) -> Parsed:
    """``neuron=run:layer:number``: the clicked neuron (``None`` when absent or refused)."""
    value = last(value)
    if value is None or str(value).strip() == "":
        return Parsed(None)
    text = str(value).strip()
    run, _, rest = text.partition(":")
    layer, _, number = rest.partition(":")
    try:
        check_run_name(run)
        valid = bool(LAYER_NAME.match(layer)) and number.isdigit() and len(number) <= 9
    except RunNameError:
        valid = False
    if not valid:
        return Parsed(None, f"neuron={text[:40]} is not run:layer:number (like base-demo:conv3:12); no neuron shown.")
    return Parsed(Selected(run, layer, int(number)))


def neuron_value(selected: Selected | None) -> str | None:
    """The ``neuron`` value of a link (``run:layer:number``)."""
    return None if selected is None else f"{selected.run}:{selected.layer}:{selected.neuron}"


def parse_query(query: Mapping[str, Any]) -> ExplorerQuery:
    """Validate a link's ``image``, ``depth`` or ``layer``, ``neurons``, ``scale``, ``size``, ``stride`` and
    ``neuron``; bad values fall back to defaults. ``layer=0.25`` (a number: the older spelling of ``depth``)
    is read as a depth."""
    image = parse_count(query.get("image"), "image", 0)
    layer_value = last(query.get("layer"))
    if layer_value is not None and NUMBER.match(str(layer_value)) and query.get("depth") is None:
        depth, layer = parse_number(layer_value, "layer", 0.0, 1.0, DEFAULT_DEPTH), Parsed(None)
        depth = depth._replace(value=round(float(depth.value), 3))
    else:
        depth, layer = parse_depth(query.get("depth"), DEFAULT_DEPTH), parse_layer(layer_value)
    neurons = parse_choice(query.get("neurons"), "neurons", NEURON_CHOICES, DEFAULT_NEURONS)
    scale = parse_choice(query.get("scale"), "scale", tuple(SCALES), DEFAULT_SCALE)
    size = parse_choice(query.get("size"), "size", SIZE_CHOICES, DEFAULT_SIZE)
    stride = parse_choice(query.get("stride"), "stride", STRIDE_CHOICES, DEFAULT_STRIDE)
    neuron = parse_neuron(query.get("neuron"))
    parsed = (image, depth, layer, neurons, scale, size, stride, neuron)
    return ExplorerQuery(*(p.value for p in parsed), problems=tuple(problems_of(*parsed)))


def controls_query(
    image: Any, depth: Any, neurons: Any, scale: Any, size: Any, stride: Any, neuron: Any
) -> ExplorerQuery:
    """The view the controls show (their values as a request sends them), for the link."""
    return parse_query(
        {
            "image": image,
            "depth": None if isinstance(depth, bool) or not isinstance(depth, (int, float)) else str(depth),
            "neurons": neurons,
            "scale": scale,
            "size": size,
            "stride": stride,
            "neuron": neuron_value(selected_from(neuron)),
        }
    )


def explorer_search(runs: Sequence[str], view: ExplorerQuery) -> str:
    """The query string that restores the view (``?runs=a,b&image=3&depth=0.25&neurons=32&…&neuron=a:conv2:5``)."""
    return runs_search(
        runs,
        image=view.image,
        depth=float(view.depth),
        neurons=view.neurons,
        scale=view.scale,
        size=view.size,
        stride=view.stride,
        neuron=neuron_value(view.neuron),
    )


def selected_from(data: Any) -> Selected | None:
    """The clicked neuron kept in the page's store (``{"run", "layer", "neuron"}``), or ``None``."""
    if not isinstance(data, Mapping):
        return None
    run, layer, neuron = data.get("run"), data.get("layer"), data.get("neuron")
    if not (isinstance(run, str) and isinstance(layer, str) and isinstance(neuron, int)) or isinstance(neuron, bool):
        return None
    return Selected(run, layer, neuron)


def clicked_neuron(click: Any, geometry: Any) -> Selected | None:
    """The neuron a click on the maps hit (``None`` on a gap, past the last map, or for a malformed request)."""
    if not isinstance(click, dict) or not click.get("points") or not isinstance(geometry, list):
        return None
    point = click["points"][0]
    curve = point.get("curveNumber") if isinstance(point, dict) else None
    if not isinstance(curve, int) or not 0 <= curve < len(geometry) or not isinstance(geometry[curve], dict):
        return None
    shape = geometry[curve]
    try:
        tile = Tiling(*(int(shape[k]) for k in Tiling._fields))
    except (KeyError, TypeError, ValueError):
        return None
    neuron = neuron_at(tile, point.get("x"), point.get("y"))
    return None if neuron is None else Selected(str(shape.get("run")), str(shape.get("layer")), neuron)


# -- runs and the image they look at ---------------------------------------------------------------
class RunView(NamedTuple):
    """What the page needs of one run to show an image through it."""

    run: str
    layers: tuple[tuple[str, float], ...]  # (name, relative depth), input side first
    class_names: tuple[str, ...]
    dataset_hash: str

    def layer_at(self, depth: float) -> tuple[str, float]:
        """The run's layer nearest ``depth`` and its own depth."""
        return self.layers[nearest_layer([d for _, d in self.layers], depth)]


class Subject(NamedTuple):
    """The image the page looks at: a test image (``index``, true ``label``) or an upload (both ``None``)."""

    image: np.ndarray  # uint8 (3, H, W)
    label: int | None
    index: int | None
    title: str

    @property
    def request(self) -> int | np.ndarray:
        """What the analyzer is asked about: the test image's number (cached) or the upload's pixels."""
        return self.image if self.index is None else self.index


def run_view(analyzer: RunAnalyzer, run: str) -> RunView:
    return RunView(run, tuple(analyzer.layer_depths(run)), analyzer.class_names(run), analyzer.dataset_hash(run))


def usable_runs(rows: Sequence[Mapping[str, Any]], picked: Any) -> tuple[list[str], list[str]]:
    """The picked runs that can be read, in the runs folder's order, and the picked broken ones."""
    wanted = set(picked_names(picked))
    chosen = [r for r in rows if r.get("name") in wanted]
    broken = [str(r["name"]) for r in chosen if r.get("status") == RunStatus.BROKEN]
    return [str(r["name"]) for r in chosen if r.get("status") != RunStatus.BROKEN], broken


def load_views(analyzer: RunAnalyzer, names: Sequence[str]) -> tuple[list[RunView], list[Any]]:
    """:func:`run_view` for each name; failures come back as messages instead."""
    views, messages = [], []
    for name in names:
        try:
            views.append(run_view(analyzer, name))
        except PAGE_ERRORS as exc:
            messages.append(components.problem_message(exc, name))
    return views, messages


def uploaded_image(uploaded: Any) -> tuple[np.ndarray, str] | None:
    """The kept upload's pixels and file name, or ``None`` when the page shows a test image."""
    if not isinstance(uploaded, Mapping) or not uploaded.get("image"):
        return None
    return image_from_text(uploaded["image"]), str(uploaded.get("name") or "image")


def read_upload(contents: Any, filename: Any) -> tuple[dict[str, str] | None, Any]:
    """``dcc.Upload``'s contents → (what the page keeps, ``None``) or (``None``, a message naming the file)."""
    name = str(filename)[:80] if isinstance(filename, str) else "image"
    try:
        image = decode_upload(contents)
    except UploadError as exc:
        return None, components.message([html.Strong(f"{name}: "), f"{exc}."], kind="warning", className="py-2")
    return {"image": image_to_text(image), "name": name}, None


def subject_for(analyzer: RunAnalyzer, reference: RunView | None, index: Any, uploaded: Any) -> Subject:
    """The uploaded image if there is one, else test image ``index`` of the reference run's evaluation set."""
    upload = uploaded_image(uploaded)
    if upload is not None:
        name = upload[1] if len(upload[1]) <= UPLOAD_NAME_SHOWN else upload[1][: UPLOAD_NAME_SHOWN - 1] + "…"
        return Subject(upload[0], None, None, f"uploaded {name}")
    if reference is None:
        raise ValueError("no run to take test images from")
    count = analyzer.n_test_images(reference.run)
    number = parse_count(index, "image", None).value
    if number is None or not 0 <= number < count:
        shown = "" if index is None or index == "" else f" {index}"
        raise ValueError(f"there is no test image{shown}: type a number from 0 to {count - 1}")
    images, labels = analyzer.test_images(reference.run, [number])
    return Subject(images[0], int(labels[0]), number, f"test image {number}")


def comparable(views: Sequence[RunView]) -> tuple[list[RunView], list[RunView]]:
    """Runs evaluated on the first run's test images, and the others (their image N is another image)."""
    if not views:
        return [], []
    reference = views[0].dataset_hash
    return [v for v in views if v.dataset_hash == reference], [v for v in views if v.dataset_hash != reference]


def mismatch_message(others: Sequence[RunView], reference: RunView, rows: Sequence[Mapping[str, Any]]) -> Any:
    if not others:
        return None
    datasets = {str(r.get("name")): str(r.get("dataset") or "unknown data") for r in rows}
    names = ", ".join(f"{o.run} ({datasets.get(o.run)})" for o in others)
    return components.message(
        f"Left out: {names}. They were evaluated on other test images than {reference.run} "
        f"({datasets.get(reference.run)}), so their image number names another picture. Pick them alone, or "
        "upload an image to compare all.",
        kind="warning",
        className="py-2",
    )


class Scene(NamedTuple):
    """What a callback draws from: the image, the runs that can look at it, messages, every run row."""

    subject: Subject
    views: list[RunView]
    messages: list[Any]
    rows: list[dict[str, Any]]
    analyzer: RunAnalyzer

    def title(self, what: str) -> dict[str, Any]:
        names = {v.run for v in self.views}
        data = components.dataset_label([r for r in self.rows if r.get("name") in names])
        return two_line_title(what, f"{self.subject.title} · {data}")

    def colours(self) -> dict[str, str]:
        return run_colours([str(r.get("name")) for r in self.rows])


def scene(picked: Any, index: Any, uploaded: Any) -> Scene:
    """The image and the runs that can look at it; ValueError (a page error) when there is nothing to show."""
    context = page_context()
    names, broken = usable_runs(context.runs, picked)
    if not names:
        raise ValueError(NO_RUN if not broken else f"The chosen runs are broken: {', '.join(broken)}.")
    views, messages = load_views(context.analyzer, names)
    if not views:
        raise ValueError("None of the chosen runs could be loaded.")
    if uploaded_image(uploaded) is None:
        views, others = comparable(views)
        mismatch = mismatch_message(others, views[0], context.runs)
        if mismatch is not None:
            messages.append(mismatch)
    subject = subject_for(context.analyzer, views[0], index, uploaded)
    return Scene(subject, views, messages, context.runs, context.analyzer)


# -- what the callbacks show -------------------------------------------------------------------------
def neuron_count(neurons: Any) -> int:
    return ALL_NEURONS if neurons == "all" else int(neurons) if neurons in NEURON_CHOICES else int(DEFAULT_NEURONS)


def maps_parts(
    picked: Any, index: Any, depth: Any, neurons: Any, scale: Any, uploaded: Any, selected: Selected | None = None
) -> tuple[go.Figure, go.Figure, list[dict[str, Any]], list[Any]]:
    """Maps figure, probabilities figure, click geometry and messages for the current controls."""
    shown = scene(picked, index, uploaded)
    depth = float(depth) if isinstance(depth, (int, float)) and 0 <= depth <= 1 else DEFAULT_DEPTH
    scale = scale if scale in SCALES else DEFAULT_SCALE
    panels, probabilities, messages = [], [], list(shown.messages)
    for view in shown.views:
        try:
            maps = shown.analyzer.activation_maps(view.run, shown.subject.request)
        except PAGE_ERRORS as exc:
            messages.append(components.problem_message(exc, view.run))
            continue
        name, relative = view.layer_at(depth)
        panels.append(MapsPanel(view.run, name, relative, maps[name]))
        probabilities.append((view.run, maps["probabilities"], view.class_names))
    colours = shown.colours()
    title = shown.title(f"Activation maps at depth {depth:.2f}")
    maps_fig, geometry = maps_figure(panels, neuron_count(neurons), scale, colours, title, selected, ALL_FAILED)
    probs_fig = probabilities_figure(
        probabilities, shown.subject.label, colours, shown.title("Class probabilities"), ALL_FAILED
    )
    return maps_fig, probs_fig, geometry, messages


def occlusion_parts(picked: Any, index: Any, size: Any, stride: Any, uploaded: Any) -> tuple[go.Figure, list[Any]]:
    """The occlusion figure (true class for a test image; each run's own top class for an upload)."""
    shown = scene(picked, index, uploaded)
    size = size if size in SIZE_CHOICES else DEFAULT_SIZE
    stride = stride if stride in STRIDE_CHOICES else DEFAULT_STRIDE
    panels, messages = [], list(shown.messages)
    for view in shown.views:
        try:
            result = shown.analyzer.occlusion(view.run, shown.subject.request, size=size, stride=stride)
        except PAGE_ERRORS as exc:
            messages.append(components.problem_message(exc, view.run))
            continue
        panels.append(OcclusionPanel(view.run, result, int(result["target"]), view.class_names))
    kind = "true class" if shown.subject.label is not None else "run's top class"
    title = shown.title(f"Occlusion, {size} px square every {stride} px · P({kind})")
    image_size = int(shown.subject.image.shape[-1])
    return occlusion_figure(panels, kind, shown.colours(), title, image_size, ALL_FAILED), messages


def _empty_parts(exc: BaseException, figures: int) -> tuple:
    text = str(exc)
    return (*(empty_figure(text) for _ in range(figures)), components.message(text, kind="secondary", className="py-2"))


def maps_view(picked: Any, index: Any, depth: Any, neurons: Any, scale: Any, uploaded: Any, selected: Any) -> tuple:
    """:func:`maps_parts` as the callback shows it (drawn once per inputs); nothing to show → empty figures saying
    why, so no figure of the previous choice stays up."""
    chosen = selected_from(selected)
    try:
        maps, probabilities, geometry, messages = drawn(
            ("maps", picked, index, depth, neurons, scale, uploaded, chosen),
            lambda: maps_parts(picked, index, depth, neurons, scale, uploaded, chosen),
        )
    except PAGE_ERRORS as exc:
        maps, probabilities, message = _empty_parts(exc, 2)
        return maps, probabilities, [], message
    return maps, probabilities, geometry, messages or None


def occlusion_view(picked: Any, index: Any, size: Any, stride: Any, uploaded: Any) -> tuple:
    """:func:`occlusion_parts` as the callback shows it (see :func:`maps_view`)."""
    try:
        figure, messages = drawn(
            ("occlusion", picked, index, size, stride, uploaded),
            lambda: occlusion_parts(picked, index, size, stride, uploaded),
        )
    except PAGE_ERRORS as exc:
        figure, _message = _empty_parts(exc, 1)
        return figure, None  # the maps' message already says it
    return figure, messages or None


def patches_parts(selected: Selected | None, graph_id: str) -> Any:
    """The clicked neuron's top-k images (a figure), or a message saying why there are none."""
    if selected is None:
        return html.P(
            "Click a neuron's map above to see its top test images (Zeiler & Fergus).", className="text-muted"
        )
    context = page_context()
    source = context.analyzer
    try:
        patches = source.top_patches(selected.run, selected.layer, selected.neuron)
        images, _labels = source.test_images(selected.run, [p["image"] for p in patches])
        class_names = source.class_names(selected.run)
    except PAGE_ERRORS as exc:
        return components.problem_message(exc, selected.run)
    colour = run_colours([str(r.get("name")) for r in context.runs]).get(selected.run, "#212529")
    dataset = components.dataset_label([r for r in context.runs if r.get("name") == selected.run])
    figure = patches_figure(selected, patches, list(images), class_names, colour, dataset)
    return components.graph(graph_id, figure, filename=f"top-images-{selected.layer}-{selected.neuron}")


_DRAWN: LRU = LRU(max_items=32)  # figures drawn, keyed on their inputs and the runs' stamps


def drawn(inputs: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()``, kept while the inputs, the chosen runs' files and the analysis cache are unchanged."""
    return page_drawn(_DRAWN, page_context().settings, picked_names(inputs[1]), inputs, compute)


# -- the link, checked against the runs ------------------------------------------------------------
class LinkView(NamedTuple):
    """The link's view checked against the first chosen run: how many test images it has, the problems."""

    query: ExplorerQuery
    n_images: int | None
    problems: tuple[str, ...]


def resolve_link(analyzer: RunAnalyzer, usable: Sequence[str], query: ExplorerQuery) -> LinkView:
    """A ``layer`` name becomes that layer's depth in the first run; an image past its last one becomes 0."""
    problems = list(query.problems)
    n_images, depth = None, query.depth
    if usable:
        try:
            reference = run_view(analyzer, usable[0])
            n_images = analyzer.n_test_images(reference.run)
            if query.layer_name is not None:
                depths = dict(reference.layers)
                if query.layer_name in depths:
                    depth = depths[query.layer_name]
                else:
                    problems.append(
                        f"layer={query.layer_name} is not a layer of {reference.run} "
                        f"({', '.join(depths)}); showing depth {query.depth:g}."
                    )
        except PAGE_ERRORS as exc:
            problems.append(f"{usable[0]}: {exc}")
    index = query.image
    if n_images is not None and index >= n_images:
        problems.append(f"image={index} is past the last test image ({n_images - 1}); showing image 0.")
        index = 0
    return LinkView(query._replace(image=index, depth=round(float(depth), 4)), n_images, tuple(problems))
