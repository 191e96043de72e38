"""The comparison as data: pandas DataFrames of the runs, their layers, their histories and CKA.

For notebooks, exports and the app's tables alike::

    from analysis.frames import runs_frame, layers_frame
    runs = runs_frame()        # one row per run in $CNNCMP_RUNS_DIR (or ./runs)
    layers = layers_frame()    # one row per (run, layer), from the cached analyses

Every frame is read-only: it reads what training wrote (``run.json``, ``history.jsonl``, through
:class:`~analysis.runs.store.RunStore`) and what ``python -m analysis analyze`` cached (through a
cached-only :class:`~analysis.pipeline.RunAnalyzer`); nothing here trains or computes an analysis.
A run whose analyses are not cached is still there, with missing values (NaN / ``<NA>``) in the
analysis columns, ``analysed`` False, and the reason in ``frame.attrs["not_analysed"]``
(``{run: why}``); a run whose history cannot be read is named in ``frame.attrs["unreadable"]``.
An unreachable bucket or Redis raises (StorageError, CacheUnavailableError): that is not "not analysed".

Each frame's columns are a constant below (:class:`Column`: name, pandas dtype, unit, meaning),
listed in docs/notebook.md; the tests check the frames and the docs against them. Errors are
fractions in [0, 1], parameters and FLOPs are counts, times are seconds. Adding a frame is one
column list and one function that builds its rows and hands them to :func:`build_frame`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from model_zoo import ModelOptions, UnknownModelError, build_model

from .cache import AnalysisCache, default_cache_location, is_redis_url
from .lru import LRU
from .pipeline import AnalysisError, NotAnalyzedError, RunAnalyzer
from .runs.store import BrokenRunError, RunNotFoundError, RunStatus, RunStore, check_run_name

__all__ = [
    "ABLATION_COLUMNS",
    "CKA_COLUMNS",
    "FINDINGS_COLUMNS",
    "FRAMES",
    "HEALTH_COLUMNS",
    "HISTORY_COLUMNS",
    "LAYERS_COLUMNS",
    "RUNS_COLUMNS",
    "SEED_SPREAD_COLUMNS",
    "Column",
    "ablation_frame",
    "build_frame",
    "cka_frame",
    "findings_frame",
    "review_findings_frame",
    "health_frame",
    "history_frame",
    "layers_frame",
    "read_csv",
    "run_names",
    "runs_frame",
    "seed_spread_frame",
]

NOT_ANALYSED = "not_analysed"  # frame.attrs key: {run: why its analyses are not there}
UNREADABLE = "unreadable"  # frame.attrs key: {run: why its history could not be read}

# The dtypes a column can have: pandas' string dtype (missing: NaN), nullable integers (missing: <NA>), floats, bools.
STR, INT, FLOAT, BOOL = "str", "Int64", "float64", "bool"


class Column(NamedTuple):
    """One column of a frame: its name, pandas dtype, unit ("" when it has none) and meaning."""

    name: str
    dtype: str
    unit: str
    meaning: str


RUNS_COLUMNS: tuple[Column, ...] = (
    Column("run", STR, "", "run name (its folder in the runs store)"),
    Column("model", STR, "", "registered model name: base, shallow, deep, base_x2, …"),
    Column("title", STR, "", "the model's display name: BaseCNN, BaseCNN×2, …"),
    Column("profile", STR, "", "training profile: quick, demo, paper; imported for an imported checkpoint"),
    Column("dataset", STR, "", "dataset the run was trained on: cifar10, fashion-mnist, imagefolder, digits…"),
    Column("dataset_description", STR, "", "which data exactly, with the subset; says so when it is not CIFAR-10"),
    Column("seed", INT, "", "training seed: initialisation and batch order (the data subset has its own, fixed)"),
    Column("conv_layers", INT, "count", "conv layers"),
    Column("fc_layers", INT, "count", "fully connected layers"),
    Column("depth", INT, "count", "conv + FC layers"),
    Column("width", FLOAT, "×", "the family's width multiplier of this model (BaseCNN×2: 2)"),
    Column("width_scale", FLOAT, "×", "the profile's global width scale (demo: 1/4)"),
    Column("params", INT, "count", "trainable parameters"),
    Column("flops", INT, "count", "FLOPs of one 32×32 forward pass (torch's counter: 2 per multiply-add)"),
    Column("n_train", INT, "images", "training images"),
    Column("n_test", INT, "images", "test images"),
    Column("epochs", INT, "count", "epochs done"),
    Column("epochs_planned", INT, "count", "epochs the profile plans"),
    Column("train_error", FLOAT, "fraction", "error on the whole training split after the last epoch (run.json)"),
    Column("test_error", FLOAT, "fraction", "error on the test split after the last epoch (run.json)"),
    Column("gap", FLOAT, "fraction", "test_error − train_error (× 100: percentage points)"),
    Column("train_seconds", FLOAT, "s", "wall time of the training epochs"),
    Column("device", STR, "", "where it trained: cpu, cuda"),
    Column("status", STR, "", "complete, imported, training, stopped, interrupted or broken"),
    Column("problem", STR, "", "why a run is broken or interrupted; missing otherwise"),
    Column("analysed", BOOL, "", "its final weights' analyses are cached (attrs['not_analysed'] says why not)"),
    Column("analysis_images", INT, "images", "test images the cached analyses were computed on"),
)

LAYERS_COLUMNS: tuple[Column, ...] = (
    Column("run", STR, "", "run name"),
    Column("dataset", STR, "", "dataset the analyses were computed on"),
    Column("layer", STR, "", "layer name: conv1 … convN, fc1, fc2"),
    Column("index", INT, "", "position among the run's analysable layers (0: the first)"),
    Column("kind", STR, "", "conv or fc"),
    Column("relative_depth", FLOAT, "fraction", "index ÷ (layers − 1): 0 the first layer, 1 the last"),
    Column("n_neurons", INT, "count", "neurons: conv channels or FC units"),
    Column("n_clusters", INT, "count", "neuron clusters (K-Means on centred class profiles, k by silhouette)"),
    Column(
        "mean_within_cluster_similarity",
        FLOAT,
        "",
        "mean Pearson correlation of the class profiles within a cluster, in [-1, 1]",
    ),
    Column("near_duplicate_fraction", FLOAT, "fraction", "neurons with a near-duplicate (correlation ≥ 0.95)"),
    Column("effective_rank", FLOAT, "dimensions", "effective rank of the class-activation matrix (Roy & Vetterli)"),
    Column("normalized_effective_rank", FLOAT, "fraction", "effective rank ÷ min(neurons, classes)"),
    Column("positive_edge_fraction", FLOAT, "fraction", "incoming edges (BN folded, kernel summed) that are positive"),
    Column("positive_mass_fraction", FLOAT, "fraction", "share of the incoming absolute weight mass on positive edges"),
    Column("dead_fraction", FLOAT, "fraction", "units that never fire on the probe images, last epoch (history)"),
    Column("analysed", BOOL, "", "the run's analyses are cached; when False the analysis columns are missing"),
)

HISTORY_COLUMNS: tuple[Column, ...] = (
    Column("run", STR, "", "run name"),
    Column("dataset", STR, "", "dataset the run was trained on"),
    Column("epoch", INT, "", "epoch number (1: after the first epoch)"),
    Column("lr", FLOAT, "", "learning rate at the epoch's end"),
    Column("fit_loss", FLOAT, "nats", "running cross-entropy on the augmented training batches"),
    Column("fit_error", FLOAT, "fraction", "running error on the augmented training batches"),
    Column("train_loss", FLOAT, "nats", "cross-entropy on the clean training split"),
    Column("train_error", FLOAT, "fraction", "error on the clean training split"),
    Column("test_loss", FLOAT, "nats", "cross-entropy on the test split"),
    Column("test_error", FLOAT, "fraction", "error on the test split"),
    Column("images_per_s", FLOAT, "images/s", "training throughput"),
    Column("seconds", FLOAT, "s", "wall time of the epoch, evaluation included"),
)

HEALTH_COLUMNS: tuple[Column, ...] = (
    Column("run", STR, "", "run name"),
    Column("dataset", STR, "", "dataset the run was trained on"),
    Column("epoch", INT, "", "epoch"),
    Column("layer", STR, "", "layer name"),
    Column("relative_depth", FLOAT, "fraction", "the layer's relative depth (as in layers_frame)"),
    Column("weight_norm", FLOAT, "", "L2 norm of the layer's weight at the epoch's end"),
    Column("grad_norm", FLOAT, "", "mean L2 norm of its weight gradient over the epoch's steps"),
    Column("dead_fraction", FLOAT, "fraction", "units that never fire on the probe images (missing: no ReLU)"),
)

CKA_COLUMNS: tuple[Column, ...] = (
    Column("run_a", STR, "", "the run of the rows"),
    Column("layer_a", STR, "", "a layer of run_a"),
    Column("relative_depth_a", FLOAT, "fraction", "its relative depth"),
    Column("run_b", STR, "", "the run of the columns (run_a itself within one run)"),
    Column("layer_b", STR, "", "a layer of run_b"),
    Column("relative_depth_b", FLOAT, "fraction", "its relative depth"),
    Column("cka", FLOAT, "", "linear CKA of the two layers' representations of the same images, in [0, 1]"),
    Column("debiased", BOOL, "", "the debiased estimator was used (its values can be slightly negative)"),
    Column("n_images", INT, "images", "test images the representations were sampled on"),
    Column("dataset", STR, "", "dataset of those images"),
)

ABLATION_COLUMNS: tuple[Column, ...] = (
    Column("run", STR, "", "run name"),
    Column("dataset", STR, "", "dataset the ablation was evaluated on"),
    Column("layer", STR, "", "layer name; 'all' for every layer's flagged neurons removed at once"),
    Column("index", INT, "", "position among the run's analysable layers (missing for 'all')"),
    Column("relative_depth", FLOAT, "fraction", "the layer's relative depth (missing for 'all')"),
    Column("n_neurons", INT, "count", "neurons of the layer (for 'all': of every layer but the output)"),
    Column("n_flagged", INT, "count", "near-duplicates removed: correlated ≥ the threshold with a kept neuron"),
    Column("n_dead", INT, "count", "units that never fire on the evaluation images"),
    Column("params_saved", INT, "count", "parameters the flagged neurons take (missing: none flagged)"),
    Column("flops_saved", INT, "count", "FLOPs per image the flagged neurons take (missing: none flagged)"),
    Column("removed_error_change", FLOAT, "fraction", "test error change with the flagged neurons zeroed (BN folded)"),
    Column("removed_low", FLOAT, "fraction", "low end of its 95 % paired interval (Newcombe)"),
    Column("removed_high", FLOAT, "fraction", "high end of its 95 % paired interval"),
    Column("merged_error_change", FLOAT, "fraction", "test error change with them merged into their kept partners"),
    Column("merged_low", FLOAT, "fraction", "low end of its 95 % paired interval (Newcombe)"),
    Column("merged_high", FLOAT, "fraction", "high end of its 95 % paired interval"),
    Column("dead_error_change", FLOAT, "fraction", "test error change with the dead units removed (missing: none)"),
    Column("n_images", INT, "images", "evaluation images of the ablation"),
    Column("analysed", BOOL, "", "the run's ablation is cached; when False the other columns are missing"),
)

FINDINGS_COLUMNS: tuple[Column, ...] = (
    Column("run", STR, "", "the run the finding is about"),
    Column("dataset", STR, "", "dataset of the reviewed runs"),
    Column("kind", STR, "", "recommendation, training_health, overfitting, redundant_layer, dead_units, …"),
    Column("layer", STR, "", "the layer it is about (missing: the whole run)"),
    Column("severity", STR, "", "high, medium or info"),
    Column("text", STR, "", "the finding in one sentence"),
    Column("view", STR, "", "the app's URL (path and query) that shows it"),
    Column("evidence", STR, "", "the numbers behind it, as a JSON object"),
)

SEED_SPREAD_COLUMNS: tuple[Column, ...] = (
    Column("model", STR, "", "registered model name; one row per model trained with several seeds (or one)"),
    Column("profile", STR, "", "training profile the runs share"),
    Column("dataset", STR, "", "dataset the runs share"),
    Column("epochs_planned", INT, "count", "epochs the runs share"),
    Column("width_scale", FLOAT, "×", "the profile's global width scale the runs share"),
    Column("runs", STR, "", "the runs that differ only by seed, comma-separated"),
    Column("seeds", STR, "", "their training seeds, comma-separated"),
    Column("n_seeds", INT, "count", "finished runs (seeds) of the model"),
    Column("test_error_mean", FLOAT, "fraction", "mean test error over the seeds"),
    Column("test_error_std", FLOAT, "fraction", "sample standard deviation of the test error (missing: one seed)"),
    Column("test_error_min", FLOAT, "fraction", "lowest test error of a seed"),
    Column("test_error_max", FLOAT, "fraction", "highest test error of a seed"),
    Column("train_error_mean", FLOAT, "fraction", "mean train error over the seeds"),
    Column("train_error_std", FLOAT, "fraction", "sample standard deviation of the train error (missing: one seed)"),
    Column("train_error_min", FLOAT, "fraction", "lowest train error of a seed"),
    Column("train_error_max", FLOAT, "fraction", "highest train error of a seed"),
)

FRAMES: dict[str, tuple[Column, ...]] = {
    "runs_frame": RUNS_COLUMNS,
    "layers_frame": LAYERS_COLUMNS,
    "history_frame": HISTORY_COLUMNS,
    "health_frame": HEALTH_COLUMNS,
    "cka_frame": CKA_COLUMNS,
    "ablation_frame": ABLATION_COLUMNS,
    "findings_frame": FINDINGS_COLUMNS,
    "seed_spread_frame": SEED_SPREAD_COLUMNS,
}


# -- building and reading frames ----------------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _cell(value: Any, dtype: str) -> Any:
    """``value`` as a cell of ``dtype``, or None (missing) when it is not one: a damaged run.json never raises."""
    if dtype == STR:
        return value if isinstance(value, str) and value else None  # "" reads back from CSV as missing
    if dtype == INT:
        if _is_number(value) and math.isfinite(value) and float(value).is_integer():
            return int(value)
        return None
    if dtype == FLOAT:
        return float(value) if _is_number(value) else None
    if dtype == BOOL:
        return bool(value)
    raise ValueError(f"unknown column dtype {dtype!r}")


def build_frame(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], **attrs: Any) -> pd.DataFrame:
    """A DataFrame with exactly ``columns`` (in order, each of its dtype) from ``rows``; absent keys are missing."""
    rows = list(rows)
    data = {
        column.name: pd.Series([_cell(row.get(column.name), column.dtype) for row in rows], dtype=column.dtype)
        for column in columns
    }
    frame = pd.DataFrame(data, columns=[column.name for column in columns])
    frame.attrs.update(attrs)
    return frame


def read_csv(source: str | Path | IO[str], columns: Sequence[Column]) -> pd.DataFrame:
    """A frame written with ``to_csv(index=False)`` read back with its dtypes (only empty cells are missing)."""
    frame = pd.read_csv(
        source,
        dtype={column.name: column.dtype for column in columns},
        keep_default_na=False,  # a run may be called "NA" or "null"
        na_values=[""],
    )
    missing = [column.name for column in columns if column.name not in frame.columns]
    if missing:
        raise ValueError(f"the CSV lacks the column(s) {', '.join(missing)}")
    return frame[[column.name for column in columns]]


# -- where the runs and analyses live ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Sources:
    store: RunStore
    analyzer: RunAnalyzer | None  # cached-only; None when there is no cache to read
    no_cache: str = ""  # why there is no analyzer


_ANALYZERS: LRU[RunAnalyzer] = LRU(max_items=4)  # (runs store, cache location) -> a cached-only analyzer


def _sources(runs_dir: str | Path | None, cache: str | Path | None, analyzer: RunAnalyzer | None) -> _Sources:
    """The store and a cached-only analyzer: ``analyzer``'s (its parameters kept), or one over runs_dir and cache.

    A cache folder that does not exist is read as empty (and not created: the frames write nothing).
    """
    if analyzer is not None:
        return _Sources(analyzer.store, analyzer.cached_only())
    store = RunStore(runs_dir)
    location = str(cache) if cache is not None else default_cache_location()
    if not is_redis_url(location) and not Path(location).is_dir():
        return _Sources(
            store, None, f"there is no analysis cache at {location}: run `python -m analysis analyze --run all`"
        )
    key = (store.artifacts.url, location)
    found = _ANALYZERS.get(key)
    if found is None:
        found = RunAnalyzer(store, AnalysisCache(location), allow_compute=False)
        _ANALYZERS.put(key, found)
    return _Sources(store, found)


def run_names(store: RunStore, runs: str | Sequence[str] | None) -> list[str]:
    """The runs asked for: None or ``"all"`` for every run; names as a list or one ``"a,b"`` string.

    A name that is not a run raises RunNotFoundError (a typo in a notebook should not pass as "no data").
    """
    present = store.names()
    if runs is None or runs == "all":
        return present
    if isinstance(runs, str):
        runs = runs.split(",")
    names = list(dict.fromkeys(check_run_name(name.strip()) for name in runs if name.strip()))
    missing = [name for name in names if name not in present]
    if missing:
        raise RunNotFoundError(
            f"no run named {', '.join(map(repr, missing))} in {store.artifacts.describe()}; "
            f"its runs: {', '.join(present) or 'none'}"
        )
    return names


def _meta(store: RunStore, run: str) -> tuple[dict[str, Any], str]:
    """run.json, or {} and why it cannot be read."""
    try:
        return store.read_meta(run), ""
    except BrokenRunError as exc:
        return {}, str(exc)


def _history(store: RunStore, run: str) -> tuple[list[dict[str, Any]], str]:
    """history.jsonl's rows, or [] and why it cannot be read."""
    try:
        return store.read_history(run), ""
    except BrokenRunError as exc:
        return [], str(exc)


_SKELETONS: LRU[list[tuple[str, str, float, int]]] = LRU(max_items=64)  # (model, options, classes) -> layers


def _layer_skeleton(meta: Mapping[str, Any]) -> list[tuple[str, str, float, int]]:
    """(name, kind, relative depth, neurons) of the run's analysable layers, from run.json alone.

    The network is built on PyTorch's meta device: shapes only, no memory, no weights read.
    """
    options = meta.get("model_options") if isinstance(meta.get("model_options"), dict) else {}
    class_names = meta.get("class_names")
    classes = len(class_names) if isinstance(class_names, list) and class_names else 10  # as RunAnalyzer builds it
    key = (str(meta.get("model")), json.dumps(options, sort_keys=True, default=str), classes)

    def build() -> list[tuple[str, str, float, int]]:
        try:
            with torch.device("meta"):
                model = build_model(str(meta.get("model")), ModelOptions(**options), num_classes=classes)
        except (UnknownModelError, TypeError, ValueError):
            return []  # a model or options this code base does not know: no layers to list
        return [(layer.name, layer.kind, layer.relative_depth, layer.n_neurons) for layer in model.analysable_layers()]

    return _SKELETONS.get_or_compute(key, build)


_EXPECTED = (NotAnalyzedError, AnalysisError, BrokenRunError, FileNotFoundError)  # "not analysed", with the reason


def _layer_metrics(sources: _Sources, run: str) -> tuple[list[dict[str, Any]] | None, str]:
    """The final weights' per-layer metrics (as in the report), or None and why they are not cached."""
    if sources.analyzer is None:
        return None, sources.no_cache
    try:
        return sources.analyzer.layer_metrics(run), ""
    except _EXPECTED as exc:
        return None, str(exc)


def _statistics(sources: _Sources, run: str) -> tuple[dict[str, Any] | None, str]:
    if sources.analyzer is None:
        return None, sources.no_cache
    try:
        return sources.analyzer.statistics(run), ""
    except _EXPECTED as exc:
        return None, str(exc)


# -- the frames ---------------------------------------------------------------------------------------------
def runs_frame(
    runs: str | Sequence[str] | None = None,
    runs_dir: str | Path | None = None,
    cache: str | Path | None = None,
    *,
    analyzer: RunAnalyzer | None = None,
) -> pd.DataFrame:
    """One row per run (:data:`RUNS_COLUMNS`): model, profile, dataset, size, errors, train time, status.

    Parameters
    ----------
    runs : None or "all" for every run, else run names (a list, or one "a,b" string), in that order.
    runs_dir : a runs folder or bucket URL (default ``$CNNCMP_RUNS_DIR``, else ``runs``).
    cache : an analysis cache folder or Redis URL (default ``$REDIS_URL``, else ``$CNNCMP_CACHE_DIR`` or ``cache``).
    analyzer : read through this analyzer's store, cache and parameters instead (the app passes its own).

    The errors are training's record (run.json, the same as ``python -m analysis runs --json``); a
    broken run is a row with ``status`` broken and the ``problem``. ``attrs["not_analysed"]`` maps
    each run whose analyses are not cached to the reason.
    """
    sources = _sources(runs_dir, cache, analyzer)
    rows, not_analysed = [], {}
    for name in run_names(sources.store, runs):
        summary = sources.store.summary(name)  # never raises for a damaged run: status "broken", with the problem
        meta, _ = _meta(sources.store, name) if summary.get("model") else ({}, "")
        conv, fc = meta.get("conv_layers"), meta.get("fc_layers")
        train, test = summary.get("train_error"), summary.get("test_error")
        config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
        row = {
            **meta,
            **summary,
            "run": name,
            "seed": config.get("seed"),
            "depth": conv + fc if _is_number(conv) and _is_number(fc) else None,
            "gap": test - train if _is_number(train) and _is_number(test) else None,
            "analysed": False,
        }
        if summary.get("status") == RunStatus.BROKEN:
            not_analysed[name] = f"the run is broken: {summary.get('problem')}"
        else:
            metrics, reason = _layer_metrics(sources, name)
            if metrics is not None:
                row.update(analysed=True, analysis_images=sources.analyzer.statistics(name)["n_images"])
            else:
                not_analysed[name] = reason
        rows.append(row)
    return build_frame(rows, RUNS_COLUMNS, not_analysed=not_analysed)


def layers_frame(
    runs: str | Sequence[str] | None = None,
    runs_dir: str | Path | None = None,
    cache: str | Path | None = None,
    *,
    analyzer: RunAnalyzer | None = None,
) -> pd.DataFrame:
    """One row per (run, layer) (:data:`LAYERS_COLUMNS`): redundancy and edge signs of the final weights.

    The same figures as ``python -m analysis report --json``'s layers. A run not analysed keeps
    one row per layer (name, kind, depth and neurons from run.json; dead fraction from the history)
    with the analysis columns missing and ``analysed`` False; ``attrs["not_analysed"]`` says why.
    Parameters as in :func:`runs_frame`.
    """
    sources = _sources(runs_dir, cache, analyzer)
    rows, not_analysed = [], {}
    for name in run_names(sources.store, runs):
        meta, problem = _meta(sources.store, name)
        history, _ = _history(sources.store, name)
        health = (history[-1].get("health") if history else None) or {}
        metrics, reason = _layer_metrics(sources, name) if not problem else (None, f"the run is broken: {problem}")
        if metrics is not None:
            dataset = sources.analyzer.statistics(name)["dataset"]
            layers = [{**m, "layer": m["name"], "index": i, "analysed": True} for i, m in enumerate(metrics)]
        else:
            not_analysed[name] = reason
            dataset = meta.get("dataset")
            skeleton = _layer_skeleton(meta) if meta else []
            layers = [
                {"layer": layer, "index": i, "kind": kind, "relative_depth": depth, "n_neurons": neurons}
                for i, (layer, kind, depth, neurons) in enumerate(skeleton)
            ]
        for layer in layers:
            figures = health.get(layer["layer"]) if isinstance(health.get(layer["layer"]), dict) else {}
            rows.append({**layer, "run": name, "dataset": dataset, "dead_fraction": figures.get("dead_fraction")})
    return build_frame(rows, LAYERS_COLUMNS, not_analysed=not_analysed)


def history_frame(
    runs: str | Sequence[str] | None = None,
    runs_dir: str | Path | None = None,
    *,
    analyzer: RunAnalyzer | None = None,
) -> pd.DataFrame:
    """One row per (run, epoch) (:data:`HISTORY_COLUMNS`): learning rate, losses, errors, throughput.

    The per-layer health of each epoch is :func:`health_frame` (long: one row per epoch and layer,
    which plots directly). A run without history (imported) has no rows; one whose history cannot
    be read is named in ``attrs["unreadable"]``. No analysis is read.
    """
    store = analyzer.store if analyzer is not None else RunStore(runs_dir)
    rows, unreadable = [], {}
    for name in run_names(store, runs):
        meta, _ = _meta(store, name)
        history, problem = _history(store, name)
        if problem:
            unreadable[name] = problem
        rows += [{**row, "run": name, "dataset": meta.get("dataset")} for row in history]
    return build_frame(rows, HISTORY_COLUMNS, unreadable=unreadable)


def health_frame(
    runs: str | Sequence[str] | None = None,
    runs_dir: str | Path | None = None,
    *,
    analyzer: RunAnalyzer | None = None,
) -> pd.DataFrame:
    """One row per (run, epoch, layer) (:data:`HEALTH_COLUMNS`): weight norm, gradient norm, dead fraction.

    From the history (measured by training on a fixed probe batch); ``attrs["unreadable"]`` as in
    :func:`history_frame`.
    """
    store = analyzer.store if analyzer is not None else RunStore(runs_dir)
    rows, unreadable = [], {}
    for name in run_names(store, runs):
        meta, _ = _meta(store, name)
        history, problem = _history(store, name)
        if problem:
            unreadable[name] = problem
        depths = {layer: depth for layer, _, depth, _ in (_layer_skeleton(meta) if meta else [])}
        for row in history:
            health = row.get("health") if isinstance(row.get("health"), dict) else {}
            for layer, figures in health.items():
                rows.append(
                    {
                        **(figures if isinstance(figures, dict) else {}),
                        "run": name,
                        "dataset": meta.get("dataset"),
                        "epoch": row.get("epoch"),
                        "layer": layer,
                        "relative_depth": depths.get(layer),
                    }
                )
    return build_frame(rows, HEALTH_COLUMNS, unreadable=unreadable)


def cka_frame(
    run_a: str,
    run_b: str | None = None,
    runs_dir: str | Path | None = None,
    cache: str | Path | None = None,
    *,
    debiased: bool = False,
    analyzer: RunAnalyzer | None = None,
) -> pd.DataFrame:
    """Linear CKA between every layer of ``run_a`` and every layer of ``run_b`` (default: ``run_a`` itself).

    Long (:data:`CKA_COLUMNS`): one row per pair of layers, rows in layer order. The square
    matrix in layer order::

        square = frame.pivot(index="layer_a", columns="layer_b", values="cka")
        square = square.loc[frame["layer_a"].unique(), frame["layer_b"].unique()]

    A run not analysed gives the pairs with ``cka`` missing, and ``attrs["not_analysed"]`` says
    why; two runs evaluated on different data raise AnalysisError (CKA needs the same images).
    """
    sources = _sources(runs_dir, cache, analyzer)
    names = run_names(sources.store, [run_a] if run_b is None else [run_a, run_b])
    run_a, run_b = names[0], names[-1]
    not_analysed = {}
    for name in names:
        stats, reason = _statistics(sources, name)
        if stats is None:
            not_analysed[name] = reason
    if not_analysed:
        meta_a, meta_b = _meta(sources.store, run_a)[0], _meta(sources.store, run_b)[0]
        layers_a = [(layer, depth) for layer, _, depth, _ in (_layer_skeleton(meta_a) if meta_a else [])]
        layers_b = [(layer, depth) for layer, _, depth, _ in (_layer_skeleton(meta_b) if meta_b else [])]
        values = np.full((len(layers_a), len(layers_b)), np.nan)
        extra = {"dataset": meta_a.get("dataset")}
    else:
        stats_a, stats_b = sources.analyzer.statistics(run_a), sources.analyzer.statistics(run_b)
        result = sources.analyzer.cka(run_a, None if run_b == run_a else run_b, debiased=debiased)
        layers_a = list(zip(stats_a["layer_names"], stats_a["relative_depth"]))
        layers_b = list(zip(stats_b["layer_names"], stats_b["relative_depth"]))
        values = np.asarray(result["matrix"], dtype=np.float64)
        extra = {"dataset": stats_a["dataset"], "n_images": result["n_images"]}
    rows = [
        {
            "run_a": run_a,
            "layer_a": layer_a,
            "relative_depth_a": depth_a,
            "run_b": run_b,
            "layer_b": layer_b,
            "relative_depth_b": depth_b,
            "cka": values[i, j],
            "debiased": debiased,
            **extra,
        }
        for i, (layer_a, depth_a) in enumerate(layers_a)
        for j, (layer_b, depth_b) in enumerate(layers_b)
    ]
    return build_frame(rows, CKA_COLUMNS, not_analysed=not_analysed)


def _interval(row: Mapping[str, Any], key: str) -> tuple[Any, Any]:
    interval = row.get(key)
    return tuple(interval) if isinstance(interval, (list, tuple)) and len(interval) == 2 else (None, None)


def ablation_frame(
    runs: str | Sequence[str] | None = None,
    runs_dir: str | Path | None = None,
    cache: str | Path | None = None,
    *,
    analyzer: RunAnalyzer | None = None,
) -> pd.DataFrame:
    """One row per (run, layer) and one per run for every layer at once (:data:`ABLATION_COLUMNS`): the test
    error without each layer's near-duplicate neurons (removed, merged) and dead units, with 95 % intervals.

    The figures of ``RunAnalyzer.ablation`` (computed by ``python -m analysis analyze``); a run whose
    ablation is not cached is one row with ``analysed`` False, and ``attrs["not_analysed"]`` says why.
    Parameters as in :func:`runs_frame`.
    """
    sources = _sources(runs_dir, cache, analyzer)
    rows, not_analysed = [], {}
    for name in run_names(sources.store, runs):
        meta, _ = _meta(sources.store, name)
        try:
            if sources.analyzer is None:
                raise NotAnalyzedError(name, "ablation")
            ablation = sources.analyzer.ablation(name)
        except (*_EXPECTED, NotAnalyzedError) as exc:
            not_analysed[name] = sources.no_cache or str(exc)
            rows.append({"run": name, "dataset": meta.get("dataset"), "analysed": False})
            continue
        whole = {**ablation["whole_model"], "layer": "all"}
        for layer in [*ablation["layers"], whole]:
            removed, merged = _interval(layer, "removed_interval"), _interval(layer, "merged_interval")
            rows.append(
                {
                    **layer,
                    "run": name,
                    "dataset": meta.get("dataset"),
                    "relative_depth": layer.get("depth"),
                    "removed_low": removed[0],
                    "removed_high": removed[1],
                    "merged_low": merged[0],
                    "merged_high": merged[1],
                    "n_images": ablation["n_images"],
                    "analysed": True,
                }
            )
    return build_frame(rows, ABLATION_COLUMNS, not_analysed=not_analysed)


def findings_frame(
    runs: str | Sequence[str] | None = None,
    runs_dir: str | Path | None = None,
    cache: str | Path | None = None,
    *,
    tolerance: float = 0.005,
    analyzer: RunAnalyzer | None = None,
) -> pd.DataFrame:
    """One row per finding of the review (:data:`FINDINGS_COLUMNS`), most severe first, runs of each dataset
    reviewed together (``RunAnalyzer.review``); ``evidence`` is a JSON object.

    Read from the cache: a run whose ablation is not cached is reviewed without it (no redundancy
    or dead-unit findings) and named in ``attrs["not_analysed"]``. Parameters as in :func:`runs_frame`;
    ``tolerance`` is the recommendation's (0.005 = 0.5 pp).
    """
    sources = _sources(runs_dir, cache, analyzer)
    by_dataset: dict[str, list[str]] = {}
    not_analysed: dict[str, str] = {}
    for name in run_names(sources.store, runs):
        meta, problem = _meta(sources.store, name)
        if problem:
            not_analysed[name] = f"the run is broken: {problem}"
        else:
            by_dataset.setdefault(str(meta.get("dataset")), []).append(name)
    rows = []
    for dataset, names in by_dataset.items():
        if sources.analyzer is None:
            not_analysed.update({name: sources.no_cache for name in names})
            continue
        review = sources.analyzer.review(names, tolerance=tolerance)
        not_analysed.update(_not_reviewed(review))
        rows += _finding_rows(review, dataset)
    return build_frame(rows, FINDINGS_COLUMNS, not_analysed=not_analysed)


def review_findings_frame(review: Mapping[str, Any], dataset: str) -> pd.DataFrame:
    """:func:`findings_frame` of a review already made (``RunAnalyzer.review`` of runs of ``dataset``): the
    page that shows a review exports its findings without reviewing the runs a second time."""
    return build_frame(_finding_rows(review, dataset), FINDINGS_COLUMNS, not_analysed=_not_reviewed(review))


def _finding_rows(review: Mapping[str, Any], dataset: str) -> list[dict[str, Any]]:
    return [{**f, "dataset": dataset, "evidence": json.dumps(f["evidence"])} for f in review["findings"]]


def _not_reviewed(review: Mapping[str, Any]) -> dict[str, str]:
    return {
        name: f"run {name!r} has no cached ablation: run `python -m analysis analyze --run {name}`"
        for name in review["not_reviewed"]
    }


def seed_spread_frame(
    runs: str | Sequence[str] | None = None,
    runs_dir: str | Path | None = None,
    cache: str | Path | None = None,
    *,
    analyzer: RunAnalyzer | None = None,
) -> pd.DataFrame:
    """One row per model (:data:`SEED_SPREAD_COLUMNS`): its finished runs that differ only by seed, and the
    mean, standard deviation and range of their test and train errors (:func:`analysis.sweeps.seed_spread`).

    From :func:`runs_frame`'s rows (training's record), so the numbers are the models table's. A model with
    one seed is a row with ``n_seeds`` 1 and no standard deviation. Parameters as in :func:`runs_frame`.
    """
    from .sweeps import seed_spread

    frame = runs_frame(runs, runs_dir, cache, analyzer=analyzer)
    rows = [
        {
            **spread,
            "runs": ",".join(spread["runs"]),
            "seeds": ",".join("" if s is None else str(s) for s in spread["seeds"]),
        }
        for spread in seed_spread(frame.to_dict("records"))
    ]
    return build_frame(rows, SEED_SPREAD_COLUMNS)
