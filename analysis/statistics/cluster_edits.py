"""Interactive cluster edits (CNNVis' R2) as a short replayable log: parse, format, validate, apply.

An edit log is a sequence of operations on one layer's neuron clusters. Cluster ids are stable:
the analysis numbers its clusters 0..k-1 from the top of the matrix
(:func:`analysis.statistics.clustering.renumber_by_order`), and an edit never renames a cluster
that it leaves in place. A cluster an edit creates takes the *next free id* (one past the largest
id the layer has had, so an id never comes back with other neurons); a merged-away cluster's id
is gone; the rows are re-sorted after every edit, and the ids follow their neurons.

Its text form is short enough for a URL query value and strict: ``m12.3`` moves neuron 12 to
cluster 3 (the next free id makes a new cluster), ``j1.0`` joins (merges) cluster 1 into cluster
0, ``s2`` splits cluster 2 in two (``s2.3``: in three; the part holding the cluster's top row
keeps the id, the others take new ones); operations are joined by ``-``, e.g. ``m12.3-j1.0-s2``.
Replaying a log is deterministic (K-Means with a fixed seed), so a link rebuilds the same
clusters, and undoing an edit is replaying the log without it. Pure numpy functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .clustering import l2_normalize_rows, order_within_clusters, renumber_by_order, split_parts
from .redundancy import redundancy_metrics

__all__ = [
    "EditError",
    "EditedClustering",
    "Merge",
    "Move",
    "Split",
    "apply_edit_log",
    "cluster_ids",
    "describe_edit",
    "next_free_id",
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
    """Move one neuron to a cluster (the next free id makes a new cluster)."""

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
    """A layer's clustering after an edit log: stable cluster ids, the rows re-sorted, the metrics.

    ``next_id`` is the id the next new cluster gets; ``steps`` says what each edit did, in the
    page's words and with the ids of its moment ("moved neuron 33 from C1 to new cluster C3").
    """

    labels: np.ndarray
    row_order: np.ndarray
    metrics: dict
    next_id: int = 0
    steps: tuple[str, ...] = ()


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


def cluster_ids(labels: np.ndarray, row_order: np.ndarray) -> list[int]:
    """The cluster ids in the order their blocks appear from the top of the matrix."""
    along = np.asarray(labels, dtype=int)[np.asarray(row_order, dtype=int)]
    _, first = np.unique(along, return_index=True)
    return [int(along[i]) for i in np.sort(first)]


def next_free_id(labels: np.ndarray) -> int:
    """The id a new cluster gets in an unedited layer: one past the largest."""
    labels = np.asarray(labels, dtype=int)
    return int(labels.max()) + 1 if labels.size else 0


def _listed(ids: Sequence[int]) -> str:
    return ", ".join(f"C{i}" for i in sorted(ids))


def _apply_one(
    profiles: np.ndarray, labels: np.ndarray, row_order: np.ndarray, edit: Edit, next_id: int, random_state: int
) -> tuple[np.ndarray, int, str]:
    """One edit on stable ids: the new labels, the next free id after it, and what it did in words."""
    n = labels.size
    present = set(np.unique(labels).tolist())

    def check_cluster(value: int, allow_new: bool = False) -> None:
        if value in present or (allow_new and value == next_id):
            return
        extra = f", or C{next_id} for a new cluster" if allow_new else ""
        raise EditError(f"there is no cluster C{value}: the layer has {_listed(present)}{extra}")

    edited = labels.copy()
    if isinstance(edit, Move):
        if not 0 <= edit.neuron < n:
            raise EditError(f"there is no neuron {edit.neuron}: the layer has neurons 0..{n - 1}")
        check_cluster(edit.cluster, allow_new=True)
        source = int(labels[edit.neuron])
        if source == edit.cluster:
            raise EditError(f"neuron {edit.neuron} is already in C{edit.cluster}")
        new = edit.cluster == next_id
        if new and np.count_nonzero(labels == source) == 1:
            raise EditError(f"neuron {edit.neuron} is alone in C{source} already")
        edited[edit.neuron] = edit.cluster
        where = f"new cluster C{edit.cluster}" if new else f"C{edit.cluster}"
        return edited, next_id + 1 if new else next_id, f"moved neuron {edit.neuron} from C{source} to {where}"
    if isinstance(edit, Merge):
        check_cluster(edit.source)
        check_cluster(edit.target)
        if edit.source == edit.target:
            raise EditError(f"cannot merge C{edit.source} into itself")
        edited[labels == edit.source] = edit.target
        return edited, next_id, f"merged C{edit.source} into C{edit.target}"
    check_cluster(edit.cluster)
    if not 2 <= edit.parts <= MAX_SPLIT_PARTS:
        raise EditError(f"a cluster splits into 2..{MAX_SPLIT_PARTS} parts, not {edit.parts}")
    # Members top to bottom: the part holding the cluster's top row keeps its id.
    members = np.asarray([m for m in row_order if labels[m] == edit.cluster], dtype=int)
    distinct = _n_distinct(profiles[members])
    if distinct < edit.parts:
        raise EditError(
            f"C{edit.cluster} has {distinct} distinct neuron profile(s): it cannot be split in {edit.parts}"
        )
    parts = split_parts(profiles, members, edit.parts, random_state)
    n_new = int(parts.max())
    ids = np.concatenate(([edit.cluster], next_id + np.arange(n_new)))
    edited[members] = ids[parts]
    made = ", ".join(f"C{i}" for i in ids)
    return edited, next_id + n_new, f"split C{edit.cluster} in {n_new + 1}: {made}"


def apply_edit_log(
    profiles: np.ndarray,
    labels: np.ndarray,
    edits: Sequence[Edit],
    threshold: float = 0.95,
    row_order: np.ndarray | None = None,
    random_state: int = 0,
) -> EditedClustering:
    """Replay ``edits`` on a layer's clustering; return stable labels, row order and redundancy metrics after them.

    ``profiles`` are the profiles the clustering was made on (the pipeline clusters z-scored class
    means); ``labels`` are the analysis' ids, numbered along ``row_order`` (computed, and the ids
    renumbered from the top, when not given). Each edit keeps the ids of the clusters it does not
    create (see the module docstring); after every edit the rows are laid out again
    (:func:`order_within_clusters`). Raises :class:`EditError` naming the first edit that does not apply.
    """
    profiles = np.asarray(profiles, dtype=float)
    labels = np.asarray(labels, dtype=int).reshape(-1)
    if labels.shape[0] != profiles.shape[0]:
        raise EditError(f"{labels.shape[0]} labels for {profiles.shape[0]} neurons")
    if row_order is None:
        row_order = order_within_clusters(profiles, labels)
        labels = renumber_by_order(labels, row_order)
    row_order = np.asarray(row_order, dtype=int)
    next_id = next_free_id(labels)
    steps = []
    for position, edit in enumerate(edits, start=1):
        try:
            labels, next_id, step = _apply_one(profiles, labels, row_order, edit, next_id, random_state)
        except EditError as exc:
            raise EditError(f"edit {position} ({format_edits([edit])}): {exc}") from None
        row_order = order_within_clusters(profiles, labels)
        steps.append(step)
    return EditedClustering(labels, row_order, redundancy_metrics(profiles, labels, threshold), next_id, tuple(steps))
