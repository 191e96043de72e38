"""The Redundancy page's state: read from a link, sent back by a request, changed by a control or an edit.

The state is a plain dict (the page's ``dcc.Store``): ``runs`` (names), ``depth``, ``layer`` (a
name, or ``None`` to align the runs by depth), ``view`` (``matrix`` or ``mosaic``) and ``edits``
({run: [layer, edit log]}). :func:`initial_state` reads a link, :func:`sent_state` a request's copy,
:func:`next_state` applies one control; the edit form's choices come from :func:`edit_options`.
What a state shows is built by :mod:`app.redundancy_view`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from analysis.statistics.cluster_edits import EditError, Merge, Move, Split, format_edits, parse_edits
from app.analysis_access import PAGE_ERRORS
from app.query import last, parse_choice, parse_depth, parse_layer, problems_of
from app.redundancy_view import (
    DEFAULT_DEPTH,
    VIEWS,
    Shown,
    layer_view,
    parse_edits_value,
    resolve,
    shown_edits,
)
from app.selection import Selection, picked_names, query_selection

if TYPE_CHECKING:  # the type only: the analyzer comes from app.analysis_access
    from analysis.pipeline import RunAnalyzer


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
) -> tuple[dict, Selection, list[str]]:
    """The state a link asks for, its run selection, and one problem line per refused query value."""
    selection = query_selection(query, runs, analyzer.store.artifacts.url)
    depth = parse_depth(query.get("depth"), DEFAULT_DEPTH)
    view = parse_choice(query.get("view"), "view", VIEWS, VIEWS[0])
    layer = parse_layer(query.get("layer"))
    problems = problems_of(depth, view, layer)
    state: dict[str, Any] = {
        "runs": list(selection.names),
        "depth": depth.value,
        "layer": None,
        "edits": {},
        "view": view.value,
    }
    if layer.value is not None:
        if len(state["runs"]) != 1:
            problems.append(
                f"layer={layer.value} picks a layer of one run; with {len(state['runs'])} runs the "
                "layers are aligned by depth instead."
            )
        else:
            (item,) = resolve(state, runs, analyzer)
            if item.layers is not None and layer.value not in item.layers.names:
                problems.append(
                    f"layer={layer.value}: {item.run} has no such layer (its layers: {', '.join(item.layers.names)}); "
                    "showing the layer nearest the depth instead."
                )
            elif item.layers is not None:
                state["layer"] = layer.value
                state["depth"] = round(item.layers.depths[item.layers.names.index(layer.value)], 3)
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
    names, depth, layer, edits, view = (state.get(key) for key in ("runs", "depth", "layer", "edits", "view"))
    try:
        depth = float(depth) if isinstance(depth, (int, float)) and not isinstance(depth, bool) else DEFAULT_DEPTH
    except OverflowError:  # an integer beyond any float
        depth = DEFAULT_DEPTH
    return {
        "runs": picked_names(names),
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


def form_edit(action: str, form: EditForm) -> Move | Merge | Split:
    """The edit a button (``move``, ``merge``, ``split``) asks for; raises EditError naming a missing or bad value."""
    if action == "move":
        return Move(_as_int(form.neuron, "a neuron"), _as_int(form.move_to, "the cluster to move it to"))
    if action == "merge":
        return Merge(
            _as_int(form.merge_from, "the cluster to merge"), _as_int(form.merge_into, "the cluster to merge into")
        )
    return Split(_as_int(form.split_cluster, "the cluster to split"), _as_int(form.split_parts, "the number of parts"))


def _edited_item(state: Mapping[str, Any], run: str | None, runs: Sequence[Mapping[str, Any]], analyzer: RunAnalyzer):
    if not run:
        raise EditError("choose the run to edit")
    item = next((s for s in resolve(state, runs, analyzer) if s.run == run), None)
    if item is None or item.problem is not None:
        raise EditError(f"run {run} is not shown, or not analysed")
    return item


def add_edit(state: dict, action: str, form: EditForm, runs: Sequence[Mapping[str, Any]], analyzer: RunAnalyzer) -> str:
    """Append the form's edit to its run's log if it applies (else raise EditError); return what it did."""
    item = _edited_item(state, form.run, runs, analyzer)
    edit = form_edit(action, form)
    new = format_edits(parse_edits(shown_edits(state, item)) + [edit])
    view = layer_view(analyzer, item.run, item.index, new)  # raises EditError if it does not apply
    state["edits"] = {**state["edits"], item.run: [item.layer, new]}
    return f"{item.run} · {item.layer}: {view.steps[-1]}."


def undo_edit(state: dict, run: str | None, runs: Sequence[Mapping[str, Any]], analyzer: RunAnalyzer) -> str:
    """Drop the last edit of ``run``'s log (replaying the rest keeps every id as it was); return what was undone."""
    item = _edited_item(state, run, runs, analyzer)
    log_text = shown_edits(state, item)
    if not log_text:
        raise EditError(f"{item.run} · {item.layer} has no edit to undo")
    undone = layer_view(analyzer, item.run, item.index, log_text).steps[-1]
    rest = format_edits(parse_edits(log_text)[:-1])
    edits = {name: value for name, value in state["edits"].items() if name != item.run}
    state["edits"] = {**edits, item.run: [item.layer, rest]} if rest else edits
    return f"{item.run} · {item.layer}: undid “{undone}”."


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


#: What each control of the page changes (the page maps its component ids to these).
CONTROLS = ("runs", "depth", "layer", "view", "move", "merge", "split", "undo", "reset")


def next_state(
    state: Mapping[str, Any],
    control: str,
    value: Any,
    form: EditForm,
    runs: Sequence[Mapping[str, Any]],
    analyzer: RunAnalyzer,
) -> tuple[dict | None, str | None, str]:
    """The state after one control changed (``None``: nothing to change), a line of feedback, and its kind
    (a Bootstrap colour)."""
    state = {**state, "edits": dict(state.get("edits") or {})}
    names = {str(r.get("name")) for r in runs}
    if control == "runs":
        chosen = set(n for n in picked_names(value) if n in names)
        if state.get("layer") and len(chosen) != 1:
            # An explicit layer belongs to one run; keep its depth so the others align with it.
            state["layer"] = None
        state["runs"] = [str(r.get("name")) for r in runs if r.get("name") in chosen]
    elif control == "depth":
        parsed = parse_depth(last(value) if value is not None else None, DEFAULT_DEPTH)
        if parsed.problem:
            return None, parsed.problem, "danger"
        state["depth"], state["layer"] = parsed.value, None
    elif control == "layer":
        choices = layer_control(state, runs, analyzer)
        if value not in [o["value"] for o in choices.options]:
            return None, None, "secondary"
        (item,) = resolve(state, runs, analyzer)
        state["layer"], state["depth"] = value, round(item.layers.depths[item.layers.names.index(value)], 3)
    elif control == "view":
        if value not in VIEWS:
            return None, None, "secondary"
        state["view"] = value
    elif control == "reset":
        state["edits"] = {}
        return state, "Edits cleared: the clusters are the analysis' own again.", "secondary"
    elif control in ("move", "merge", "split", "undo"):
        try:
            if control == "undo":
                return state, undo_edit(state, form.run, runs, analyzer), "success"
            return state, "Done: " + add_edit(state, control, form, runs, analyzer), "success"
        except EditError as exc:
            return dict(state), f"Not applied: {exc}.", "danger"
        except PAGE_ERRORS as exc:
            return dict(state), f"Not applied: {exc}", "danger"
    dropped = keep_edits_of_shown_layers(state, runs, analyzer)
    if dropped:
        return state, f"Edits of {', '.join(dropped)} dropped: that layer is no longer shown.", "warning"
    return state, None, "secondary"


class EditOptions(NamedTuple):
    """The edit form's choices for the run being edited, and a line saying what is edited."""

    clusters: list[dict]
    move_to: list[dict]
    neuron_max: int | None
    hint: str
    where: str | None = None  # ``run · layer`` when a run is being edited


def edit_options(
    state: Mapping[str, Any], run: str | None, runs: Sequence[Mapping[str, Any]], analyzer: RunAnalyzer
) -> EditOptions:
    """Cluster choices (with sizes, dead ones marked) of the edited run's shown layer, and the next free id."""
    empty = EditOptions([], [], None, "Choose a run to edit (or click a cell of its matrix).")
    if not run:
        return empty
    item = next((s for s in resolve(state, runs, analyzer) if s.run == run), None)
    if item is None or item.problem is not None:
        return empty
    try:
        view = layer_view(analyzer, run, item.index, shown_edits(state, item))
    except (EditError, *PAGE_ERRORS) as exc:
        return empty._replace(hint=str(exc))
    dead = view.dead_clusters
    clusters = [
        {"label": f"C{c} ({len(view.members(c))}{', dead' if c in dead else ''})", "value": c}
        for c in sorted(view.cluster_ids)
    ]
    move_to = clusters + [{"label": f"new cluster C{view.next_id}", "value": view.next_id}]
    listed = ", ".join(f"C{c}" for c in sorted(view.cluster_ids))
    hint = (
        f": neurons 0–{len(view.row_order) - 1}, clusters {listed}. A cluster keeps its id through edits; "
        f"a new one gets C{view.next_id}. Click a matrix cell to pick its neuron."
    )
    return EditOptions(clusters, move_to, len(view.row_order) - 1, hint, f"{run} · {view.layer}")
