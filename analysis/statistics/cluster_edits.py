"""Interactive cluster edits (CNNVis' R2) as a short replayable log: parse, format, validate, apply.

An edit log is a sequence of operations on one layer's neuron clusters, each read against the
clustering the previous ones left, as a user sees it: clusters numbered 0..k-1 from the top of
the matrix (:func:`analysis.statistics.clustering.renumber_by_order`). Its text form is short enough for a
URL query value and strict: ``m12.3`` moves neuron 12 to cluster 3 (cluster k makes a new one),
``j1.0`` joins (merges) cluster 1 into cluster 0, ``s2`` splits cluster 2 in two (``s2.3``: in
three); operations are joined by ``-``, e.g. ``m12.3-j1.0-s2``. Replaying a log is deterministic
(K-Means with a fixed seed), so a link rebuilds the same clusters. Pure numpy functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .clustering import apply_edits, l2_normalize_rows, order_within_clusters, renumber_by_order, split_cluster
from .redundancy import redundancy_metrics

__all__ = [
    "EditError",
    "EditedClustering",
    "Merge",
    "Move",
    "Split",
    "apply_edit_log",
    "describe_edit",
    "format_edits",
    "parse_edits",
]

MAX_EDITS = 64  # a log longer than this is not a hand-made edit; refuse it rather than replay it
MAX_SPLIT_PARTS = 8
OPERATION_SEPARATOR = "-"

_NUMBER = r"(0|[1-9][0-9]{0,5})"  # canonical: no sign, no leading zero, at most 6 digits
_OPERATION = re.compile(rf"(?:m{_NUMBER}\.{_NUMBER}|j{_NUMBER}\.{_NUMBER}|s{_NUMBER}(?:\.{_NUMBER})?)")


class EditError(ValueError):
    """An edit log that cannot be read or applied; the message names the operation and why."""


class Move(NamedTuple):
    """Move one neuron to a cluster (the id k, one past the last, makes a new cluster)."""

    neuron: int
    cluster: int


class Merge(NamedTuple):
    """Join cluster ``source`` into cluster ``target``."""

    source: int
    target: int


class Split(NamedTuple):
    """Split a cluster into ``parts`` by K-Means on its rows."""

    cluster: int
    parts: int = 2


Edit = Move | Merge | Split


class EditedClustering(NamedTuple):
    """A layer's clustering after an edit log: labels numbered along ``row_order``, and the metrics."""

    labels: np.ndarray
    row_order: np.ndarray
    metrics: dict


def parse_edits(text: str) -> list[Edit]:
    """Return the operations of an edit log's text form (``""`` is no edit); raise :class:`EditError` if malformed."""
    if not isinstance(text, str):
        raise EditError(f"an edit log is text, got {type(text).__name__}")
    if text == "":
        return []
    tokens = text.split(OPERATION_SEPARATOR)
    if len(tokens) > MAX_EDITS:
        raise EditError(f"{len(tokens)} edits; at most {MAX_EDITS} are replayed")
    edits: list[Edit] = []
    for position, token in enumerate(tokens, start=1):
        if not _OPERATION.fullmatch(token):
            raise EditError(
                f"edit {position} {token!r} is not m<neuron>.<cluster>, j<cluster>.<cluster> or s<cluster>[.<parts>]"
            )
        numbers = [int(n) for n in re.findall(r"[0-9]+", token)]
        if token[0] == "m":
            edits.append(Move(*numbers))
        elif token[0] == "j":
            edits.append(Merge(*numbers))
        else:
            edits.append(Split(*numbers))
    return edits


def format_edits(edits: Sequence[Edit]) -> str:
    """Return the text form of ``edits`` (the inverse of :func:`parse_edits`)."""
    tokens = []
    for edit in edits:
        if isinstance(edit, Move):
            tokens.append(f"m{int(edit.neuron)}.{int(edit.cluster)}")
        elif isinstance(edit, Merge):
            tokens.append(f"j{int(edit.source)}.{int(edit.target)}")
        elif isinstance(edit, Split):
            tokens.append(f"s{int(edit.cluster)}" + (f".{int(edit.parts)}" if edit.parts != 2 else ""))
        else:
            raise EditError(f"not an edit: {edit!r}")
    return OPERATION_SEPARATOR.join(tokens)


def describe_edit(edit: Edit) -> str:
    """One line saying what ``edit`` does, in the page's words (``C3`` is cluster 3)."""
    if isinstance(edit, Move):
        return f"moved neuron {edit.neuron} to C{edit.cluster}"
    if isinstance(edit, Merge):
        return f"merged C{edit.source} into C{edit.target}"
    return f"split C{edit.cluster} in {edit.parts}"


def _n_distinct(rows: np.ndarray) -> int:
    return int(np.unique(np.round(l2_normalize_rows(rows), 12), axis=0).shape[0])


def _apply_one(profiles: np.ndarray, labels: np.ndarray, edit: Edit, random_state: int) -> np.ndarray:
    n, k = labels.size, int(labels.max()) + 1 if labels.size else 0

    def cluster_id(value: int, allow_new: bool = False) -> None:
        limit = k if allow_new else k - 1
        if not 0 <= value <= limit:
            extra = f" or {k} for a new cluster" if allow_new else ""
            raise EditError(f"there is no cluster C{value}: the layer has C0..C{k - 1}{extra}")

    if isinstance(edit, Move):
        if not 0 <= edit.neuron < n:
            raise EditError(f"there is no neuron {edit.neuron}: the layer has neurons 0..{n - 1}")
        cluster_id(edit.cluster, allow_new=True)
        if labels[edit.neuron] == edit.cluster:
            raise EditError(f"neuron {edit.neuron} is already in C{edit.cluster}")
        if edit.cluster == k and np.count_nonzero(labels == labels[edit.neuron]) == 1:
            raise EditError(f"neuron {edit.neuron} is alone in C{labels[edit.neuron]} already")
        return apply_edits(labels, moves={edit.neuron: edit.cluster})
    if isinstance(edit, Merge):
        cluster_id(edit.source)
        cluster_id(edit.target)
        if edit.source == edit.target:
            raise EditError(f"cannot merge C{edit.source} into itself")
        return apply_edits(labels, merges=[(edit.source, edit.target)])
    cluster_id(edit.cluster)
    if not 2 <= edit.parts <= MAX_SPLIT_PARTS:
        raise EditError(f"a cluster splits into 2..{MAX_SPLIT_PARTS} parts, not {edit.parts}")
    distinct = _n_distinct(profiles[labels == edit.cluster])
    if distinct < edit.parts:
        raise EditError(
            f"C{edit.cluster} has {distinct} distinct neuron profile(s): it cannot be split in {edit.parts}"
        )
    return split_cluster(profiles, labels, edit.cluster, n_parts=edit.parts, random_state=random_state)


def apply_edit_log(
    profiles: np.ndarray,
    labels: np.ndarray,
    edits: Sequence[Edit],
    threshold: float = 0.95,
    row_order: np.ndarray | None = None,
    random_state: int = 0,
) -> EditedClustering:
    """Replay ``edits`` on a layer's clustering; return labels, row order and redundancy metrics after them.

    ``profiles`` are the profiles the clustering was made on (the pipeline clusters z-scored class
    means); ``labels`` are numbered along ``row_order`` (computed when not given). After every
    operation the rows are laid out again (:func:`order_within_clusters`) and the clusters
    renumbered from the top, so each operation's ids are those on screen before it. Raises
    :class:`EditError` naming the first operation that does not apply.
    """
    profiles = np.asarray(profiles, dtype=float)
    labels = np.asarray(labels, dtype=int).reshape(-1)
    if labels.shape[0] != profiles.shape[0]:
        raise EditError(f"{labels.shape[0]} labels for {profiles.shape[0]} neurons")
    if row_order is None:
        row_order = order_within_clusters(profiles, labels)
        labels = renumber_by_order(labels, row_order)
    row_order = np.asarray(row_order, dtype=int)
    for position, edit in enumerate(edits, start=1):
        try:
            edited = _apply_one(profiles, labels, edit, random_state)
        except EditError as exc:
            raise EditError(f"edit {position} ({format_edits([edit])}): {exc}") from None
        row_order = order_within_clusters(profiles, edited)
        labels = renumber_by_order(edited, row_order)
    return EditedClustering(labels, row_order, redundancy_metrics(profiles, labels, threshold))
