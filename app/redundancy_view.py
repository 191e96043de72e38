"""The Redundancy page's view-model: its link, the layer each run shows, the edited clusters, their figures.

The whole view lives in the link (the vocabulary of :mod:`app.query`):
``/redundancy?runs=a,b&depth=0.5&view=matrix&edits=a:conv5:m12.3-j1.0``; ``layer=conv5`` picks a
layer by name when one run is shown, ``depth=`` aligns several runs by relative depth, and
``edits`` is one ``run:layer:log`` per edited run, joined by ``~`` (the log's grammar, with its
stable cluster ids, is in :mod:`analysis.statistics.cluster_edits`). Every model computation goes
through the analyzer (:meth:`~analysis.pipeline.RunAnalyzer.cluster_view`,
:meth:`~analysis.pipeline.RunAnalyzer.cluster_mosaic`); the figures are drawn by
:mod:`app.figures.redundancy`; the state machine (a link, a control, an edit) is
:mod:`app.redundancy_state`. No Dash components here: the page and :mod:`app.redundancy_panels` draw.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from analysis.lru import LRU
from analysis.runs.store import RunNameError, RunStatus, check_run_name
from analysis.statistics.cluster_edits import EditError, parse_edits
from analysis.statistics.dead_units import alive, dead_clusters
from app.analysis_access import PAGE_ERRORS
from app.figures.redundancy import ColourScale, cluster_matrix_figure, colour_scale, dataset_short, plot_height
from app.images import png_data_url
from app.query import nearest_layer
from app.selection import runs_search

if TYPE_CHECKING:  # the type only: the analyzer comes from app.analysis_access
    from analysis.pipeline import RunAnalyzer

DEFAULT_DEPTH = 0.5
VIEWS = ("matrix", "mosaic")
TARGET_SEPARATOR = "~"  # between edited runs in ``edits``; run names never contain it (nor ":")
MAX_EDITS_TEXT = 2000


# -- the link ----------------------------------------------------------------------------------------
def parse_edits_value(value: Any) -> dict[str, tuple[str, str]]:
    """The ``edits`` query value as {run: (layer, log)}; raises :class:`EditError` if malformed.

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
    """The query string that restores ``state``: ``?runs=a,b&depth=0.5&view=matrix&edits=…`` (or ``layer=``)."""
    params: dict[str, Any] = {}
    if state.get("layer"):
        params["layer"] = str(state["layer"])
    else:
        params["depth"] = float(state.get("depth", DEFAULT_DEPTH))
    params["view"] = state.get("view") or VIEWS[0]
    if state.get("edits"):
        params["edits"] = format_edits_value(state["edits"])
    return runs_search(list(state.get("runs") or []), **params)


# -- a run's layers and the layer shown ------------------------------------------------------------------
class RunLayers(NamedTuple):
    """What the page needs of a run's statistics to pick a layer and label its matrix."""

    names: tuple[str, ...]
    depths: tuple[float, ...]


def run_layers(analyzer: RunAnalyzer, run: str) -> RunLayers:
    """The analysed layers of ``run`` with their relative depths; raises a PAGE_ERRORS error if not analysed."""
    stats = analyzer.statistics(run)  # the cached statistics: a run not analysed says so here
    return RunLayers(tuple(str(n) for n in stats["layer_names"]), tuple(float(d) for d in stats["relative_depth"]))


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
    wanted = set(state.get("runs") or [])
    single = len(wanted) == 1
    shown = []
    for row in runs:
        name = str(row.get("name"))
        if name not in wanted:
            continue
        if row.get("status") == RunStatus.BROKEN:
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


# -- one layer's clusters, edits applied -----------------------------------------------------------------
class LayerView(NamedTuple):
    """One run's layer as the matrix shows it, after its edits (:meth:`RunAnalyzer.cluster_view`)."""

    run: str
    layer: str
    index: int
    depth: float
    class_names: tuple[str, ...]
    profiles: np.ndarray  # neurons × classes, normalised for display
    labels: np.ndarray  # stable cluster id of each neuron
    row_order: np.ndarray  # neurons top to bottom; each cluster contiguous
    cluster_ids: tuple[int, ...]  # the clusters top to bottom
    next_id: int  # the id a new cluster gets
    steps: tuple[str, ...]  # what each edit did, in words
    duplicates: np.ndarray  # bool per neuron: has a near-duplicate
    dead: np.ndarray  # bool per neuron: never active on the test images
    metrics: dict  # redundancy metrics of the layer (after the edits)
    edits: str  # the edit log applied ('' for none)

    @property
    def n_clusters(self) -> int:
        return len(self.cluster_ids)

    @property
    def dead_clusters(self) -> set[int]:
        return dead_clusters(self.labels, self.dead) if len(self.labels) else set()

    def members(self, cluster: int) -> list[int]:
        """The neurons of ``cluster``, top to bottom."""
        return [int(n) for n in self.row_order if self.labels[n] == cluster]


def layer_view(analyzer: RunAnalyzer, run: str, index: int, edits: str = "") -> LayerView:
    """The layer ``index`` of ``run`` after the edit log ``edits`` (kept by the analyzer); raises PAGE_ERRORS."""
    view = analyzer.cluster_view(run, int(index), edits)
    return LayerView(
        run=view["run"],
        layer=view["layer"],
        index=int(view["index"]),
        depth=float(view["depth"]),
        class_names=tuple(view["class_names"]),
        profiles=np.asarray(view["profiles"], dtype=float),
        labels=np.asarray(view["labels"], dtype=int),
        row_order=np.asarray(view["row_order"], dtype=int),
        cluster_ids=tuple(int(c) for c in view["cluster_ids"]),
        next_id=int(view["next_id"]),
        steps=tuple(view["steps"]),
        duplicates=np.asarray(view["duplicates"], dtype=bool),
        dead=np.asarray(view["dead"], dtype=bool),
        metrics=dict(view["metrics"]),
        edits=str(view["edits"]),
    )


def cluster_mosaics(analyzer: RunAnalyzer, view: LayerView, clusters: Collection[int]) -> dict[int, np.ndarray]:
    """Learned-features mosaic of each of ``clusters``: its living neurons' top patches in matrix order.

    A dead neuron's top patch is whichever image came first (it never responds), so it is left
    out, and a dead cluster gets no mosaic (the figure says it is dead instead).
    """
    mosaics = {}
    for cluster in clusters:
        members = alive(view.members(int(cluster)), view.dead)
        if members:
            mosaics[int(cluster)] = analyzer.cluster_mosaic(view.run, view.index, neurons=members)
    return mosaics


# -- a run's panel: its view, figure and numbers ---------------------------------------------------------
class PanelData(NamedTuple):
    """What one run's panel shows: its layer view (or problem), its figure and why mosaics failed."""

    shown: Shown
    view: LayerView | None = None
    figure: dict | None = None
    problem: Exception | str | None = None
    mosaic_problem: str | None = None


def shown_edits(state: Mapping[str, Any], item: Shown) -> str:
    """The edit log of ``item``'s shown layer ('' when its edits are for another layer, or none)."""
    layer, log_text = (state.get("edits") or {}).get(item.run, (None, ""))
    return log_text if layer == item.layer else ""


def panel_views(shown: Sequence[Shown], state: Mapping[str, Any], analyzer: RunAnalyzer) -> list[PanelData]:
    """Layer views of the shown runs, edits applied; the figures are filled in by :func:`with_figures`."""
    data = []
    for item in shown:
        if item.problem is not None:
            data.append(PanelData(item, problem=item.problem))
            continue
        try:
            data.append(PanelData(item, layer_view(analyzer, item.run, item.index, shown_edits(state, item))))
        except PAGE_ERRORS as exc:
            data.append(PanelData(item, problem=exc))
    return data


# Building a figure of many cluster blocks costs ~0.2 s of plotly validation, and its inputs are
# immutable (a checkpoint's cached analysis, an edit log), so each one is built once per process.
_FIGURES: LRU[tuple[dict, str | None]] = LRU(max_items=64)


def matrix_figure(
    analyzer: RunAnalyzer, view: LayerView, scale: ColourScale, features: Collection[int], plot_px: int, subtitle: str
) -> tuple[dict, str | None]:
    """The matrix figure (as plotly JSON) of one run with ``features`` clusters as mosaics; and why mosaics failed."""
    chosen = tuple(sorted(int(c) for c in features))
    key = (
        analyzer.checkpoint_hash(view.run),
        analyzer.params,
        view.index,
        view.edits,
        scale,
        chosen,
        plot_px,
        subtitle,
    )

    def build() -> tuple[dict, str | None]:
        mosaics: dict[int, str] = {}
        problem = None
        if chosen:
            try:
                mosaics = {c: png_data_url(m) for c, m in cluster_mosaics(analyzer, view, chosen).items()}
            except PAGE_ERRORS as exc:
                problem = f"Learned features unavailable: {exc}"
        return cluster_matrix_figure(view, scale, chosen, mosaics, plot_px, subtitle).to_plotly_json(), problem

    return _FIGURES.get_or_compute(key, build)


def with_figures(
    data: Sequence[PanelData],
    runs: Sequence[Mapping[str, Any]],
    analyzer: RunAnalyzer,
    features: Mapping[str, Collection[int]] | None = None,
) -> list[PanelData]:
    """``data`` with each view's matrix figure, on one colour scale and one height; ``features`` per run
    (default: none) are the clusters shown as learned features."""
    views = [d.view for d in data if d.view is not None]
    scale = colour_scale(views)
    plot_px = plot_height(max((len(v.row_order) for v in views), default=0), len(data))
    rows = {str(r.get("name")): r for r in runs}
    drawn = []
    for item in data:
        if item.view is not None:
            chosen = (features or {}).get(item.shown.run, ())
            subtitle = dataset_short(rows.get(item.shown.run))
            figure, problem = matrix_figure(analyzer, item.view, scale, chosen, plot_px, subtitle)
            item = item._replace(figure=figure, mosaic_problem=problem)
        drawn.append(item)
    return drawn


class CardNumbers(NamedTuple):
    """A run's redundancy figures at its shown layer, for its card (after the edits)."""

    near_duplicate_fraction: float | None
    effective_rank: float | None
    n_classes: int
    n_clusters: int
    n_neurons: int
    n_dead: int


def _finite(value: Any) -> float | None:
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(float(value)):
        return float(value)
    return None


def card_numbers(view: LayerView) -> CardNumbers:
    metrics = view.metrics
    return CardNumbers(
        _finite(metrics.get("near_duplicate_fraction")),
        _finite(metrics.get("effective_rank")),
        len(view.class_names),
        view.n_clusters,
        len(view.row_order),
        int(np.count_nonzero(view.dead)),
    )


def most_redundant(views: Sequence[LayerView]) -> str | None:
    """The run whose shown layer has the largest near-duplicate fraction (the lower effective rank on a tie);
    ``None`` with fewer than two runs to compare."""
    scored = [(card_numbers(v), v.run) for v in views]
    scored = [(n, run) for n, run in scored if n.near_duplicate_fraction is not None]
    if len(scored) < 2:
        return None
    best = max(scored, key=lambda s: (s[0].near_duplicate_fraction, -(s[0].effective_rank or 0.0)))
    return best[1]


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


def edit_steps(
    edits: Mapping[str, Sequence[str]], shown: Sequence[Shown], analyzer: RunAnalyzer
) -> dict[tuple[str, str], tuple[str, ...]]:
    """What the edits in force did, in words, per (run, layer)."""
    by_run = {s.run: s for s in shown}
    steps = {}
    for run, (layer, log_text) in edits.items():
        item = by_run.get(run)
        if item is None or item.layer != layer:
            continue
        try:
            steps[(run, layer)] = layer_view(analyzer, run, item.index, log_text).steps
        except (EditError, *PAGE_ERRORS):
            continue
    return steps
