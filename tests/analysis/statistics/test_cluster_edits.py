"""Cluster edit logs: the text form round-trips, bad logs are refused, cluster ids stay stable over edits."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.statistics.cluster_edits import (
    MAX_EDITS,
    EditError,
    Merge,
    Move,
    Split,
    apply_edit_log,
    cluster_ids,
    describe_edit,
    format_edits,
    parse_edits,
)
from analysis.statistics.clustering import order_within_clusters, renumber_by_order
from analysis.statistics.redundancy import redundancy_metrics


def three_groups() -> tuple[np.ndarray, np.ndarray]:
    """9 neurons × 6 classes: three groups of three selective for classes 0-1, 2-3 and 4-5, labelled 0,1,2."""
    rng = np.random.default_rng(0)
    profiles = np.zeros((9, 6))
    for group in range(3):
        profiles[3 * group : 3 * group + 3, 2 * group : 2 * group + 2] = 1.0
    profiles += 0.05 * rng.random(profiles.shape)
    labels = np.repeat([0, 1, 2], 3)
    order = order_within_clusters(profiles, labels)
    return profiles, renumber_by_order(labels, order)


def test_text_form_round_trips():
    edits = [Move(12, 3), Merge(1, 0), Split(2), Split(4, 3)]
    assert format_edits(edits) == "m12.3-j1.0-s2-s4.3"
    assert parse_edits("m12.3-j1.0-s2-s4.3") == edits
    assert parse_edits("") == []
    assert describe_edit(Merge(1, 0)) == "merged C1 into C0"


@pytest.mark.parametrize(
    "text",
    ["m12", "x1.2", "m-1.2", "m01.2", "m1.2-", "-m1.2", "m1.2--s1", "s1.2.3", "M1.2", "m1.2 ", "m1234567.1", "j1,0"],
)
def test_malformed_logs_are_refused(text):
    with pytest.raises(EditError):
        parse_edits(text)


def test_too_long_a_log_is_refused():
    with pytest.raises(EditError, match="at most"):
        parse_edits("-".join(["s0"] * (MAX_EDITS + 1)))


def test_no_edit_keeps_the_clustering_and_its_metrics():
    profiles, labels = three_groups()
    result = apply_edit_log(profiles, labels, [])
    assert np.array_equal(result.labels, labels)
    assert result.metrics == redundancy_metrics(profiles, labels)


def test_merge_keeps_the_target_id_and_drops_the_source_id():
    profiles, labels = three_groups()
    result = apply_edit_log(profiles, labels, [Merge(1, 0)])
    assert result.metrics["n_clusters"] == 2
    assert set(result.labels.tolist()) == {0, 2}  # C2 is still C2; C1's id is gone
    assert np.array_equal(result.labels == 2, labels == 2)
    along = result.labels[result.row_order]
    assert sorted(cluster_ids(result.labels, result.row_order)) == [0, 2]
    assert np.count_nonzero(np.diff(along)) == 1  # each cluster one contiguous block
    assert result.steps == ("merged C1 into C0",)
    # merging lowers the within-cluster similarity of these well separated groups
    assert (
        result.metrics["mean_within_cluster_similarity"]
        < redundancy_metrics(profiles, labels)["mean_within_cluster_similarity"]
    )


def test_a_new_cluster_takes_the_next_free_id_and_the_message_says_so():
    profiles, labels = three_groups()
    source = int(labels[4])
    result = apply_edit_log(profiles, labels, [Move(4, 3)])
    assert result.labels[4] == 3 and np.count_nonzero(result.labels == 3) == 1  # the one-row cluster C3
    assert np.array_equal(np.delete(result.labels, 4), np.delete(labels, 4))  # every other neuron keeps its id
    assert result.next_id == 4
    assert result.steps == (f"moved neuron 4 from C{source} to new cluster C3",)
    assert 3 in cluster_ids(result.labels, result.row_order)
    with pytest.raises(EditError, match="C3 for a new cluster"):  # C4 is not free yet: C3 is
        apply_edit_log(profiles, labels, [Move(4, 4)])


def test_ids_stay_stable_over_a_sequence_of_edits_and_undo():
    """move, merge, split, new, then undo (replaying the log without its last edit)."""
    profiles, labels = three_groups()
    members = {c: set(np.flatnonzero(labels == c).tolist()) for c in range(3)}
    log = [Move(0, 1), Merge(2, 1), Split(1), Move(5, 0)]
    states = [apply_edit_log(profiles, labels, log[:n]) for n in range(len(log) + 1)]
    moved, merged, split, new = states[1:]
    # move: neuron 0 now in C1, the rest of C0 still C0, C2 untouched
    assert moved.labels[0] == 1 and set(np.flatnonzero(moved.labels == 0)) == members[0] - {0}
    assert set(np.flatnonzero(moved.labels == 2)) == members[2]
    # merge: C2's neurons join C1; C0 unchanged; no C2 any more
    assert set(np.flatnonzero(merged.labels == 1)) == members[1] | members[2] | {0}
    assert set(np.flatnonzero(merged.labels == 0)) == members[0] - {0}
    # split: C1 keeps its id for the part of its top row, the other part is the next free id, C3
    assert set(split.labels.tolist()) == {0, 1, 3} and split.next_id == 4
    top = next(int(n) for n in merged.row_order if merged.labels[n] == 1)
    assert split.labels[top] == 1
    assert set(np.flatnonzero(split.labels == 0)) == members[0] - {0}
    assert split.steps[-1] == "split C1 in 2: C1, C3"
    # new: a fresh id (C4), never a reused one (C2 was merged away)
    assert new.labels[5] == 0 and split.labels[5] != 0
    assert new.steps[-1] == f"moved neuron 5 from C{split.labels[5]} to C0"
    newest = apply_edit_log(profiles, labels, [*log, Move(6, new.next_id)])
    assert newest.labels[6] == 4 and "new cluster C4" in newest.steps[-1]
    # undo: the log without its last edit gives back the clustering before it, ids and all
    undone = apply_edit_log(profiles, labels, log[:-1])
    assert np.array_equal(undone.labels, split.labels) and np.array_equal(undone.row_order, split.row_order)
    assert undone.steps == split.steps


def test_move_to_a_new_cluster_and_back():
    profiles, labels = three_groups()
    moved = apply_edit_log(profiles, labels, [Move(0, 3)])
    assert moved.metrics["n_clusters"] == 4
    alone = moved.labels[0]
    assert np.count_nonzero(moved.labels == alone) == 1
    back = apply_edit_log(profiles, labels, [Move(0, 3), Move(0, int(moved.labels[1]))])
    assert back.metrics["n_clusters"] == 3
    assert np.array_equal(back.labels[:, None] == back.labels, labels[:, None] == labels)  # same partition


def test_split_makes_more_clusters_deterministically():
    profiles, labels = three_groups()
    merged_then_split = [Merge(1, 0), Split(0)]
    first = apply_edit_log(profiles, labels, merged_then_split)
    second = apply_edit_log(profiles, labels, merged_then_split)
    assert first.metrics["n_clusters"] == 3
    assert np.array_equal(first.labels, second.labels) and np.array_equal(first.row_order, second.row_order)


@pytest.mark.parametrize(
    "edits, problem",
    [
        ([Move(9, 0)], "no neuron 9"),
        ([Move(0, 5)], "no cluster C5"),
        ([Merge(0, 0)], "into itself"),
        ([Merge(3, 0)], "no cluster C3"),
        ([Split(7)], "no cluster C7"),
        ([Split(0, 9)], "2..8 parts"),
        ([Merge(1, 0), Merge(2, 0), Merge(1, 0)], "edit 3"),
    ],
)
def test_edits_that_do_not_apply_name_the_operation(edits, problem):
    profiles, labels = three_groups()
    with pytest.raises(EditError, match=problem):
        apply_edit_log(profiles, labels, edits)


def test_a_neuron_already_there_or_identical_rows_are_refused():
    profiles, labels = three_groups()
    with pytest.raises(EditError, match="already in"):
        apply_edit_log(profiles, labels, [Move(0, int(labels[0]))])
    copies = np.tile([[1.0, 0.0, 0.5]], (4, 1))
    with pytest.raises(EditError, match="distinct"):
        apply_edit_log(copies, np.zeros(4, dtype=int), [Split(0)])
