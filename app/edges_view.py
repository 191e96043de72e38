"""The Edges page's view model: its link (runs, depth range, threshold, the clicked cluster) and each run's data.

Kept beside the page so the page holds only its layout and callbacks; the figures and the graph's
elements are drawn by :mod:`app.figures.edges`. Everything here is plain Python, tested without a
browser.

The link: ``/edges?runs=a,b&depths=0.5,1&threshold=0.2&cluster=a:fc1:c2``. Older links still
open: ``models=`` is read as ``runs=``, and ``depth=0.5,1`` (the range, before ``depth`` came to
mean one depth on every page) as ``depths=``; one depth ``depth=0.5`` draws from it to the output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from analysis.runs.store import RunNameError, check_run_name
from app.query import Parsed, last, parse_count, parse_depth, parse_depths, parse_layer, parse_number, search

#: The upper half of the network: where CNNVis found DeepCNN's edges nearly all positive.
DEFAULT_DEPTHS = (0.5, 1.0)
#: Edges lighter than this fraction of the heaviest edge of their layer pair are hidden.
DEFAULT_THRESHOLD = 0.2
MAX_THRESHOLD = 0.9
CLUSTER_KEY = "cluster"


# -- the link --------------------------------------------------------------------------------------
class ClusterChoice(NamedTuple):
    """A clicked cluster: its run, its layer's name and its cluster number (the graph's ``c2``)."""

    run: str
    layer: str
    cluster: int

    def text(self) -> str:
        """As the link writes it: ``run:layer:c2``."""
        return f"{self.run}:{self.layer}:c{self.cluster}"


class EdgesQuery(NamedTuple):
    """What a link asks the Edges page for (runs are parsed by :func:`app.selection.parse_runs`)."""

    depths: tuple[float, float]
    threshold: float
    cluster: ClusterChoice | None
    problems: tuple[str, ...] = ()


def parse_range(query: Mapping[str, Any]) -> Parsed:
    """``depths=from,to``; the older ``depth=from,to`` when ``depths`` is absent; ``depth=d`` draws d to the output."""
    if query.get("depths") is not None or query.get("depth") is None:
        return parse_depths(query.get("depths"), DEFAULT_DEPTHS)
    old = last(query["depth"])
    if "," in str(old):
        parsed = parse_depths(old, DEFAULT_DEPTHS)
        return parsed._replace(problem=parsed.problem and parsed.problem.replace("depths=", "depth=", 1))
    one = parse_depth(old, DEFAULT_DEPTHS[0])
    return Parsed(DEFAULT_DEPTHS if one.problem else (one.value, 1.0), one.problem)


def slider_range(value: Any) -> tuple[float, float]:
    """The depth range slider's value (a list of two numbers, as a request sends it) as a checked range."""
    text = ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else None
    return tuple(parse_depths(text, DEFAULT_DEPTHS).value)


def parse_threshold(value: Any) -> Parsed:
    """``threshold``: the share of a layer pair's heaviest edge below which an edge is hidden."""
    return parse_number(value, "threshold", 0.0, MAX_THRESHOLD, DEFAULT_THRESHOLD)


def parse_cluster(value: Any) -> Parsed:
    """``cluster=run:layer:c2`` (``run:layer:2`` too): the cluster whose class-activation matrix is shown."""
    value = last(value)
    if value is None or str(value).strip() == "":
        return Parsed(None)
    text = str(value).strip()
    refused = Parsed(None, f"cluster={text[:40]} is not a cluster like base-demo:conv7:c2 (run:layer:cluster).")
    parts = text.rsplit(":", 2)
    if len(parts) != 3:
        return refused
    run, layer, number = parts
    try:
        check_run_name(run)
    except RunNameError:
        return refused
    layer_name = parse_layer(layer)
    count = parse_count(number[1:] if number[:1] in ("c", "C") else number, CLUSTER_KEY, None)
    if layer_name.problem or layer_name.value is None or count.problem or count.value is None:
        return refused
    return Parsed(ClusterChoice(run, layer_name.value, count.value))


def parse_query(query: Mapping[str, Any]) -> EdgesQuery:
    """The depth range, threshold and cluster of a page's query, with what was refused."""
    depths, threshold, cluster = (
        parse_range(query),
        parse_threshold(query.get("threshold")),
        parse_cluster(query.get(CLUSTER_KEY)),
    )
    problems = tuple(p.problem for p in (depths, threshold, cluster) if p.problem)
    return EdgesQuery(tuple(depths.value), float(threshold.value), cluster.value, problems)


def edges_search(
    names: Sequence[str], depths: Sequence[float], threshold: float, cluster: ClusterChoice | None = None
) -> str:
    """The query string that restores the view: ``?runs=a,b&depths=0.5,1&threshold=0.1&cluster=a:fc1:c2``.

    The cluster is written only while its run is shown.
    """
    shown = cluster if cluster is not None and cluster.run in names else None
    return search(
        {
            "runs": list(names),
            "depths": [float(depths[0]), float(depths[1])],
            "threshold": float(threshold),
            CLUSTER_KEY: shown.text() if shown else None,
        }
    )


# -- the data of one run ---------------------------------------------------------------------------
class RunEdges(NamedTuple):
    """What the page draws of one run, read from its cached statistics, clusters and edges."""

    name: str
    layer_names: list[str]
    relative_depth: list[float]
    fractions: list[dict[str, Any]]  # per layer: its incoming edges' sign statistics
    cluster_sizes: list[list[int]]  # per layer: neurons in each cluster, by cluster id
    positive: dict[int, np.ndarray]  # layer i → (k_i, k_{i-1}) positive mass from layer i-1
    negative: dict[int, np.ndarray]
    cluster_dead: list[list[int]] | None = None  # per layer: dead neurons in each cluster (None: not known)

    def dead_in(self, layer: int, cluster: int) -> int:
        """How many neurons of ``cluster`` in ``layer`` are dead (0 when not known)."""
        if self.cluster_dead is None or layer >= len(self.cluster_dead) or cluster >= len(self.cluster_dead[layer]):
            return 0
        return int(self.cluster_dead[layer][cluster])


def load_run_edges(source: Any, run: str) -> RunEdges:
    """A run's edge data from ``source`` (a RunAnalyzer); raises what the analyzer raises.

    Dead neurons are the analyzer's (:mod:`analysis.statistics.dead_units`, the one definition): they
    never fired on the test images measured.
    """
    stats = source.statistics(run)
    clusters = source.clusters(run)
    edges = source.edges(run)
    names = list(edges["layer_names"])
    sizes, dead = [], []
    for index in range(len(names)):
        labels = np.asarray(clusters[f"labels/{index}"])
        sizes.append(np.bincount(labels).astype(int).tolist())
        silent = source.dead_neurons(run, index)
        dead.append(np.bincount(labels, weights=silent.astype(float), minlength=len(sizes[-1])).astype(int).tolist())
    positive, negative = {}, {}
    for index in range(1, len(names)):
        if f"cluster_positive/{index}" in edges:
            positive[index] = np.asarray(edges[f"cluster_positive/{index}"], dtype=float)
            negative[index] = np.asarray(edges[f"cluster_negative/{index}"], dtype=float)
    return RunEdges(
        run,
        names,
        [float(d) for d in stats["relative_depth"]],
        list(edges["fractions"]),
        sizes,
        positive,
        negative,
        dead,
    )


def layers_in_range(data: RunEdges, depths: Sequence[float]) -> list[int]:
    """Indices of the layers whose relative depth lies in ``depths`` (inclusive, robust to rounding)."""
    low, high = depths
    return [i for i, d in enumerate(data.relative_depth) if low - 1e-9 <= d <= high + 1e-9]


def cluster_rows(labels: np.ndarray, row_order: np.ndarray, cluster: int) -> list[int]:
    """The neurons of ``cluster`` in the layer's row order (the order the Redundancy page shows)."""
    labels = np.asarray(labels)
    return [int(r) for r in np.asarray(row_order) if labels[r] == cluster]
