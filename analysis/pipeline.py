"""Everything the pages show about a run, computed from its checkpoints and cached.

``RunAnalyzer`` ties the pieces together: it loads a run's model (final or snapshot) and its
dataset, runs one streaming activation pass, and derives errors, cluster matrices, redundancy,
edge signs, CKA, per-image views and training health — each cached under the checkpoint's
content hash, the analysis name, its parameters and the schema version.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model_zoo import FamilyCNN, ModelOptions, build_model

from .cache import AnalysisCache, Result
from .data.datasets import DatasetError, ImageDataset, load_dataset
from .errors import AnalysisError, NotAnalyzedError
from .lru import LRU
from .probes.activations import ActivationPass, receptive_fields, receptive_patch
from .runs.checkpoints import extract_state_dict, load_weights
from .runs.store import FINAL_WEIGHTS, BrokenRunError, RunStore, snapshot_key
from .statistics.error_rates import confusion_matrix, error_rate, per_class_error
from .training.evaluation import Normalization, evaluate, resolve_device, resolve_precision
from .training.profiles import PROFILES

OCCLUSION_ANALYSIS = "occlusion"
MODELS_KEPT = 8  # loaded networks kept per analyzer (a page compares up to ~7 runs)
ABLATION_PRECISION = "fp32"  # see RunAnalyzer.ablation
ABLATION_REPORT_KEYS = (  # what the report gives per layer of the ablation (None where nothing is flagged)
    "n_flagged",
    "n_dead",
    "removed_error_change",
    "removed_interval",
    "merged_error_change",
    "merged_interval",
    "params_saved",
    "flops_saved",
)
MAPS_BYTES = 64 * 1024 * 1024  # activation maps of evaluation images kept per analyzer
TRAIN_EVAL_IMAGES = 10_000  # train-split images evaluated per checkpoint (all of digits; a fifth of CIFAR-10)


@dataclass(frozen=True)
class AnalysisParams:
    """Parameters of the analyses; they are part of every cache key."""

    reduce: str = "mean"  # neuron response: spatial mean or max of the post-ReLU map
    normalize: str = "max"  # per-neuron normalisation of the class profile: max or zscore
    cluster_method: str = "kmeans"  # kmeans or meanshift
    n_clusters: int | str = "auto"
    max_clusters: int = 8
    duplicate_threshold: float = 0.95
    top_k: int = 9
    cka_images: int = 256
    max_images: int | None = None  # cap on evaluation images (None: the run's whole test split)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def statistics_params(self) -> dict[str, Any]:
        return {
            "reduce": self.reduce,
            "top_k": self.top_k,
            "cka_images": self.cka_images,
            "max_images": self.max_images,
        }


class RunAnalyzer:
    """Computes (or fetches from the cache) the analyses of runs in one runs folder."""

    def __init__(
        self,
        store: RunStore,
        cache: AnalysisCache,
        params: AnalysisParams = AnalysisParams(),
        data_dir: str | Path | None = None,
        device: str = "auto",
        dataset_override: str | None = None,
        allow_compute: bool = True,
    ) -> None:
        self.store = store
        self.cache = cache
        self.params = params
        self.data_dir = data_dir
        self.device = device
        self.dataset_override = dataset_override
        self.allow_compute = allow_compute
        self._datasets: dict[tuple[str, str | None], ImageDataset] = {}
        self._models: LRU[FamilyCNN] = LRU(max_items=MODELS_KEPT)  # (run, file, stamp) -> loaded network
        self._digests: LRU[str] = LRU(max_items=64)  # (run, file, stamp) -> SHA-256 of the file
        self._views: LRU[Result] = LRU(max_items=128)  # (checkpoint, layer, edit log) -> edited cluster view
        self._tiles: LRU[np.ndarray] = LRU(max_items=32)  # (checkpoint, layer) -> top patches (a 2048-unit fc: 1.5 MB)
        # (checkpoint, image) -> every layer's maps of one evaluation image (BaseCNN: about 1 MB each)
        self._maps: LRU[Result] = LRU(max_items=64, max_bytes=MAPS_BYTES, size=_result_bytes)
        # Kept models are shared by a web server's threads; per-image views hook into them.
        self._model_lock = threading.RLock()

    # -- inputs ---------------------------------------------------------------------------------
    def meta(self, run: str) -> dict[str, Any]:
        return self.store.read_meta(run)

    def checkpoint_file(self, run: str, epoch: int | None = None) -> tuple[str, tuple]:
        """The run's weights file (final or a snapshot's) and its stamp; AnalysisError when absent."""
        file = FINAL_WEIGHTS if epoch is None else snapshot_key(epoch)
        stamp = self.store.file_stamp(run, file)
        if stamp is None:
            what = "final weights" if epoch is None else f"snapshot of epoch {epoch}"
            raise AnalysisError(f"run {run!r} has no {what} ({file}); is it still training?")
        return file, stamp

    def checkpoint_hash(self, run: str, epoch: int | None = None) -> str:
        """SHA-256 of the weights file (the identity of a checkpoint in cache keys); read once per version."""
        file, stamp = self.checkpoint_file(run, epoch)
        return self._digests.get_or_compute(
            (run, file, stamp), lambda: hashlib.sha256(self.store.read_bytes(run, file)).hexdigest()
        )

    def model(self, run: str, epoch: int | None = None) -> FamilyCNN:
        """The run's network (final or snapshot weights) in eval mode; kept while its file is unchanged."""
        file, stamp = self.checkpoint_file(run, epoch)
        return self._models.get_or_compute((run, file, stamp), lambda: self._load_model(run, file))

    def _load_model(self, run: str, file: str) -> FamilyCNN:
        meta = self.meta(run)
        options = ModelOptions(**meta.get("model_options", {}))
        num_classes = len(meta.get("class_names") or []) or 10
        model = build_model(meta["model"], options, num_classes=num_classes)
        label = self.store.location(run, file)
        load_weights(model, extract_state_dict(self.store.load_checkpoint(run, file), label), label)
        device = resolve_device(self.device)
        return model.to(device, memory_format=torch.channels_last).eval()

    def dataset(self, run: str) -> ImageDataset:
        """The data the run was trained and evaluated on (same subset, hash checked)."""
        meta = self.meta(run)
        name = self.dataset_override or meta.get("dataset")
        if not name:
            raise AnalysisError(f"run {run!r} names no dataset; analyse it with --dataset")
        key = (name, meta.get("dataset_hash"), meta.get("profile"))
        if key not in self._datasets:
            data_dir = self.data_dir
            if name == "imagefolder" and not self.dataset_override and meta.get("dataset_source"):
                data_dir = meta["dataset_source"]  # an image folder is read again from where it was read
            try:
                dataset = load_dataset(name, data_dir=data_dir, log=None)
            except DatasetError as exc:
                raise AnalysisError(f"run {run!r}: {exc}") from exc
            limits = _subset_limits(meta)
            if limits is not None:
                dataset = dataset.subset(*limits, seed=_data_seed(meta))
            expected = meta.get("dataset_hash")
            if expected and dataset.content_hash != expected and not self.dataset_override:
                raise AnalysisError(
                    f"run {run!r} was trained on {name} with hash {expected}, but the {name} "
                    f"data found now hashes to {dataset.content_hash}"
                )
            self._datasets[key] = dataset
        return self._datasets[key]

    def dataset_hash(self, run: str) -> str:
        """The content hash of the run's data (part of cache keys): from run.json when it has one, so a web
        server reading cached results never loads the dataset (a Heroku web dyno may not have it)."""
        expected = self.meta(run).get("dataset_hash")
        if expected and not self.dataset_override:
            return str(expected)
        return self.dataset(run).content_hash

    def evaluation_images(self, run: str) -> tuple[torch.Tensor, torch.Tensor]:
        dataset = self.dataset(run)
        limit = self.params.max_images
        return dataset.test_images[:limit], dataset.test_labels[:limit]

    # -- cached analyses ----------------------------------------------------------------------------
    def _cached(
        self, run: str, epoch: int | None, analysis: str, params: dict[str, Any], compute: Callable[[], Result]
    ) -> Result:
        if not self.allow_compute:
            cached = self.cache.get_cached(self.checkpoint_hash(run, epoch), analysis, params)
            if cached is None:
                raise NotAnalyzedError(run, analysis if epoch is None else f"{analysis} at epoch {epoch}")
            return cached
        return self.cache.get_or_compute(self.checkpoint_hash(run, epoch), analysis, params, compute)

    def cached_only(self) -> RunAnalyzer:
        """This analyzer in the dashboard's mode (same store, cache and parameters; raises NotAnalyzedError
        instead of computing), sharing the loaded datasets, networks and checkpoint digests; ``self`` if it is one."""
        if not self.allow_compute:
            return self
        strict = RunAnalyzer(
            self.store,
            self.cache,
            self.params,
            self.data_dir,
            self.device,
            self.dataset_override,
            allow_compute=False,
        )
        strict._datasets, strict._models, strict._digests = self._datasets, self._models, self._digests
        # The networks are shared, so their lock must be too; so are the per-image maps computed on them.
        strict._model_lock, strict._maps = self._model_lock, self._maps
        return strict

    def is_analyzed(self, run: str) -> bool:
        """Whether the final checkpoint's statistics, clusters and edges are all cached."""
        try:
            strict = self.cached_only()
            strict.statistics(run), strict.clusters(run), strict.edges(run)
        except (NotAnalyzedError, AnalysisError, BrokenRunError):
            return False
        return True

    def statistics(self, run: str, epoch: int | None = None) -> Result:
        """Errors, class-activation matrices, top-k images and CKA Gram matrices in one pass."""
        params = {**self.params.statistics_params(), "dataset_hash": self.dataset_hash(run)}
        return self._cached(run, epoch, "statistics", params, lambda: self._compute_statistics(run, epoch))

    def _compute_statistics(self, run: str, epoch: int | None) -> Result:
        model = self.model(run, epoch)
        dataset = self.dataset(run)
        device = next(model.parameters()).device
        precision = resolve_precision("auto", device)
        normalization = Normalization(dataset.channel_mean, dataset.channel_std)
        images, labels = self.evaluation_images(run)
        num_classes = dataset.num_classes
        layers = model.analysable_layers()
        # One pass gives the class-activation matrices, top-k images, CKA samples and the test
        # predictions: no second forward over the same images.
        pass_result = ActivationPass(
            reduce=self.params.reduce,
            top_k=self.params.top_k,
            cka_sample=self.params.cka_images,
            cka_spatial="flatten",
            precision=precision,
        ).run(model, images, labels, num_classes, normalization)
        stats = pass_result.layers
        test_confusion = confusion_matrix(labels.numpy(), pass_result.predictions, num_classes)
        fields = receptive_fields(model)
        result: Result = {
            "dataset": dataset.name,
            "dataset_description": dataset.description,
            "dataset_hash": dataset.content_hash,
            "class_names": list(dataset.class_names),
            "n_images": int(len(images)),
            "layer_names": [layer.name for layer in layers],
            "layer_kinds": [layer.kind for layer in layers],
            "relative_depth": [layer.relative_depth for layer in layers],
            "n_neurons": [layer.n_neurons for layer in layers],
            "receptive_fields": {name: list(field) for name, field in fields.items()},
            "test_error": error_rate(test_confusion),
            "test_confusion": test_confusion,
            # As recorded by training (no forward over the train split here; see train_errors()).
            "train_error": self._recorded_train_error(run, epoch),
            "per_class_error": per_class_error(test_confusion),
            "test_predictions": pass_result.predictions.astype(np.int16),
        }
        for index, layer in enumerate(layers):
            s = stats[layer.name]
            result[f"class_means/{index}"] = s.class_means.astype(np.float32)
            result[f"top_values/{index}"] = s.top_values.astype(np.float32)
            result[f"top_images/{index}"] = s.top_images.astype(np.int32)
            result[f"top_positions/{index}"] = s.top_positions.astype(np.int16)
            result[f"map_size/{index}"] = np.array(s.map_size, dtype=np.int16)
            sample = s.sample.astype(np.float64)
            result[f"gram/{index}"] = (sample @ sample.T).astype(np.float32)
        return result

    def _recorded_train_error(self, run: str, epoch: int | None) -> float | None:
        if epoch is None:
            return self.meta(run).get("train_error")
        rows = [row for row in self.store.read_history(run) if row.get("epoch") == epoch]
        return rows[0].get("train_error") if rows else None

    def train_errors(self, run: str, epoch: int | None = None) -> Result:
        """Error and confusion on the training split (capped at ``TRAIN_EVAL_IMAGES``), for the gap."""
        params = {"dataset_hash": self.dataset_hash(run), "limit": TRAIN_EVAL_IMAGES}

        def compute() -> Result:
            dataset = self.dataset(run)
            model = self.model(run, epoch)
            device = next(model.parameters()).device
            normalization = Normalization(dataset.channel_mean, dataset.channel_std)
            images, labels = dataset.train_images[:TRAIN_EVAL_IMAGES], dataset.train_labels[:TRAIN_EVAL_IMAGES]
            result = evaluate(model, images, labels, normalization, precision=resolve_precision("auto", device))
            confusion = confusion_matrix(labels.numpy(), result.predictions.numpy(), dataset.num_classes)
            return {
                "train_error": error_rate(confusion),
                "train_confusion": confusion,
                "train_per_class_error": per_class_error(confusion),
                "n_images": int(len(images)),
            }

        return self._cached(run, epoch, "train_errors", params, compute)

    # -- derived analyses (cheap given the statistics) ------------------------------------------------
    def layer_index(self, run: str, layer: str | int) -> int:
        names = self.statistics(run)["layer_names"]
        if isinstance(layer, int) and 0 <= layer < len(names):
            return layer
        if layer in names:
            return names.index(layer)
        raise AnalysisError(f"run {run!r} has no layer {layer!r}; its layers: {', '.join(names)}")

    def clusters(self, run: str, epoch: int | None = None) -> Result:
        """Per layer: normalised class profiles, cluster labels, row order, near-duplicate rows, metrics."""
        params = {**self._clustering_params(run), "threshold": self.params.duplicate_threshold}
        return self._cached(run, epoch, "clusters", params, lambda: self._compute_clusters(run, epoch))

    def _clustering_params(self, run: str) -> dict[str, Any]:
        """What clusters (and the edges between them) depend on, besides the checkpoint."""
        p = self.params
        return {
            **p.statistics_params(),
            "normalize": p.normalize,
            "method": p.cluster_method,
            "n_clusters": p.n_clusters,
            "max_clusters": p.max_clusters,
            "dataset_hash": self.dataset_hash(run),
        }

    def _compute_clusters(self, run: str, epoch: int | None) -> Result:
        from .statistics.clustering import NeuronClustering
        from .statistics.redundancy import near_duplicate_mask, normalize_profiles, redundancy_metrics

        stats = self.statistics(run, epoch)
        p = self.params
        result: Result = {"layer_names": stats["layer_names"], "metrics": []}
        for index, _name in enumerate(stats["layer_names"]):
            means = stats[f"class_means/{index}"]
            # Similarity is measured on centred profiles (cosine of z-scores = Pearson correlation):
            # post-ReLU means are all positive, and their shared offset makes the raw cosine of
            # almost any two conv neurons exceed 0.95 (every neuron a "near-duplicate"). Centring
            # compares what the neurons prefer, not how much they fire; the page still shows the
            # matrix normalised as chosen (``normalize``).
            selectivity = normalize_profiles(means, "zscore")
            n_clusters = p.n_clusters if p.n_clusters == "auto" else min(int(p.n_clusters), len(means))
            clustering = NeuronClustering(
                method=p.cluster_method, n_clusters=n_clusters, max_clusters=p.max_clusters
            ).fit(selectivity)
            result[f"profiles/{index}"] = normalize_profiles(means, p.normalize).astype(np.float32)
            result[f"labels/{index}"] = clustering.labels_.astype(np.int32)
            result[f"row_order/{index}"] = clustering.row_order_.astype(np.int32)
            result[f"duplicates/{index}"] = near_duplicate_mask(selectivity, p.duplicate_threshold)
            result["metrics"].append(
                _json_safe(redundancy_metrics(selectivity, clustering.labels_, p.duplicate_threshold))
            )
        return result

    def edges(self, run: str, epoch: int | None = None) -> Result:
        """Per analysable layer, its incoming edges: sign fractions, cluster-to-cluster masses, bundles."""
        return self._cached(run, epoch, "edges", self._clustering_params(run), lambda: self._compute_edges(run, epoch))

    def _compute_edges(self, run: str, epoch: int | None) -> Result:
        from .statistics.edges import EdgeBundling, cluster_edge_summary, edge_sign_fractions, layer_edge_matrices

        model = self.model(run, epoch)
        clusters = self.clusters(run, epoch)
        names = clusters["layer_names"]
        first = model.analysable_layers()[0]
        result: Result = {"layer_names": names, "fractions": []}
        # conv1's incoming edges come from the image's colour channels (BN folded the same way).
        incoming = [(None, _first_layer_edges(first))] + [(e.source, e.edges) for e in layer_edge_matrices(model)]
        for index, (source, matrix) in enumerate(incoming):
            fractions = edge_sign_fractions(matrix)
            result["fractions"].append({"layer": names[index], "source": source, **_json_safe(fractions)})
            result[f"edges/{index}"] = matrix.astype(np.float32)
            if source is None:
                continue
            summary = cluster_edge_summary(matrix, clusters[f"labels/{index}"], clusters[f"labels/{index - 1}"])
            result[f"cluster_positive/{index}"] = summary.positive_mass.astype(np.float32)
            result[f"cluster_negative/{index}"] = summary.negative_mass.astype(np.float32)
            bundling = EdgeBundling().fit(matrix)
            result[f"bundle_rows/{index}"] = bundling.row_labels_.astype(np.int32)
            result[f"bundle_columns/{index}"] = bundling.column_labels_.astype(np.int32)
            result[f"bundles/{index}"] = json_string(_json_safe(bundling.bundles_))
        return result

    def cka(self, run_a: str, run_b: str | None = None, debiased: bool = False) -> Result:
        """Linear CKA between the layers of one run, or of two runs on the same images."""
        from .statistics.similarity import cka_from_grams

        stats_a = self.statistics(run_a)
        stats_b = stats_a if run_b is None else self.statistics(run_b)
        if stats_a["dataset_hash"] != stats_b["dataset_hash"]:
            raise AnalysisError(
                f"{run_a!r} and {run_b!r} were evaluated on different data "
                f"({stats_a['dataset']} vs {stats_b['dataset']}): CKA needs the same images"
            )
        grams_a = [stats_a[f"gram/{i}"] for i in range(len(stats_a["layer_names"]))]
        grams_b = None if run_b is None else [stats_b[f"gram/{i}"] for i in range(len(stats_b["layer_names"]))]
        return {
            "matrix": cka_from_grams(grams_a, grams_b, debiased=debiased),
            "rows": stats_a["layer_names"],
            "columns": stats_b["layer_names"],
            "n_images": int(stats_a["gram/0"].shape[0]),
            "debiased": debiased,
        }

    def layer_clusters(self, run: str) -> Result:
        """CNNVis' layer clusters: consecutive layers grouped by stage and by representation similarity.

        ``stage``: the layers between two halving pools share a map size (the FC layers form the
        last stage). ``similar``: the same number of contiguous groups, chosen to maximise the
        within-group CKA (``group_layers_by_similarity``).
        """
        from .statistics.clustering import group_layers_by_similarity

        stats = self.statistics(run)
        stages = _stages(self.model(run))
        cka = self.cka(run)["matrix"]
        similar = group_layers_by_similarity(cka, max(stages) + 1)
        return {"layer_names": stats["layer_names"], "stage": stages, "similar": similar}

    # -- per image (computed on demand, under the model lock) --------------------------------------------
    def n_test_images(self, run: str) -> int:
        """How many evaluation images the run has (the Explorer's image numbers run from 0)."""
        return int(len(self.evaluation_images(run)[0]))

    def test_images(self, run: str, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Evaluation images ``indices`` as uint8 ``(N, 3, H, W)`` and their labels; AnalysisError for a bad index."""
        images, labels = self.evaluation_images(run)
        chosen = [int(i) for i in indices]
        for index in chosen:
            if not 0 <= index < len(images):
                raise AnalysisError(f"image index {index} is outside 0..{len(images) - 1}")
        return images[chosen].numpy(), labels[chosen].numpy()

    def layer_depths(self, run: str) -> list[tuple[str, float]]:
        """The run's analysable layers, input side first, with their relative depths (0 = conv1, 1 = output)."""
        return [(layer.name, float(layer.relative_depth)) for layer in self.model(run).analysable_layers()]

    def class_names(self, run: str) -> tuple[str, ...]:
        return tuple(self.dataset(run).class_names)

    def _subject(self, run: str, image: int | np.ndarray) -> tuple[torch.Tensor, int | None]:
        """An evaluation image by number (with its label) or a uint8 ``(3, H, W)`` array (an upload: no label)."""
        if isinstance(image, (int, np.integer)):
            images, labels = self.evaluation_images(run)
            if not 0 <= int(image) < len(images):
                raise AnalysisError(f"image index {image} is outside 0..{len(images) - 1}")
            return images[int(image)], int(labels[int(image)])
        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[0] != 3:
            raise AnalysisError(f"an image must be uint8 (3, H, W), got {array.dtype} {array.shape}")
        return torch.from_numpy(np.ascontiguousarray(array)), None

    def _normalization(self, run: str) -> Normalization:
        dataset = self.dataset(run)
        return Normalization(dataset.channel_mean, dataset.channel_std)

    def activation_maps(self, run: str, image: int | np.ndarray) -> Result:
        """Every analysable layer's output for one image (``(C, H, W)`` maps, ``(units,)`` for FC layers), the
        class ``probabilities`` and the image's ``label`` (None for an upload).

        The forward hooks go on the run's shared network, so the pass holds the model lock: two
        requests at once (a web server's threads) never read each other's hook outputs. An evaluation
        image's maps are kept in memory (read-only arrays, shared by every request for it).
        """
        from .probes.per_image import activation_maps

        def compute() -> Result:
            subject, label = self._subject(run, image)
            with self._model_lock:
                maps = activation_maps(self.model(run), subject, self._normalization(run))
            for array in maps.values():
                array.flags.writeable = False  # shared by every request for this image
            return {**maps, "label": label}

        if not isinstance(image, (int, np.integer)):
            return compute()  # an upload: never the same twice, so never kept
        key = (self.checkpoint_hash(run), self.dataset_hash(run), self.params.max_images, int(image))
        return self._maps.get_or_compute(key, compute)

    def occlusion(self, run: str, image: int | np.ndarray, size: int = 8, stride: int = 4) -> Result:
        """Occlusion sensitivity (Zeiler & Fergus) of one image: per position of a grey square, the probability
        of the target class — the true class of an evaluation image, the run's own top class for an upload —
        and the top label. ``target`` and ``label`` say which. Cached for evaluation images."""
        from .probes.per_image import activation_maps, occlusion_sensitivity

        def compute() -> Result:
            subject, label = self._subject(run, image)
            normalization = self._normalization(run)
            with self._model_lock:
                model = self.model(run)
                target = label
                if target is None:
                    target = int(np.argmax(activation_maps(model, subject, normalization)["probabilities"]))
                views = occlusion_sensitivity(model, subject, target, normalization, size=size, stride=stride)
            return {**views, "label": label, "target": int(target)}

        if not isinstance(image, (int, np.integer)):
            return compute()  # an upload: never the same twice, so never cached
        params = {
            "index": int(image),
            "size": size,
            "stride": stride,
            "dataset_hash": self.dataset_hash(run),
            "max_images": self.params.max_images,
        }
        # One image's occlusion map is cheap (a few batched forward passes): computed on demand,
        # even by the dashboard's cached-only analyzer.
        result = self.cache.get_or_compute(self.checkpoint_hash(run), OCCLUSION_ANALYSIS, params, compute)
        return {**result, "target": int(result["label"])}  # entries cached before "target" existed lack it

    def top_patches(self, run: str, layer: str | int, neuron: int, epoch: int | None = None) -> list[dict]:
        """The neuron's top-k images with the receptive-field box of its strongest response."""
        stats = self.statistics(run, epoch)
        index = self.layer_index(run, layer)
        name = stats["layer_names"][index]
        if not 0 <= neuron < stats["n_neurons"][index]:
            raise AnalysisError(f"{name} has {stats['n_neurons'][index]} neurons; no neuron {neuron}")
        images, labels = self.evaluation_images(run)
        field = stats["receptive_fields"].get(name)
        patches = []
        for rank in range(stats[f"top_values/{index}"].shape[0]):
            image_index = int(stats[f"top_images/{index}"][rank, neuron])
            box = (0, 0, images.shape[-2], images.shape[-1])
            if field is not None:
                position = tuple(int(v) for v in stats[f"top_positions/{index}"][rank, neuron])
                box = receptive_patch(tuple(field), position, image_size=images.shape[-1])
            patches.append(
                {
                    "image": image_index,
                    "label": int(labels[image_index]),
                    "value": float(stats[f"top_values/{index}"][rank, neuron]),
                    "box": box,
                }
            )
        return patches

    def layer_tiles(self, run: str, layer: str | int, epoch: int | None = None) -> np.ndarray:
        """Every neuron's top patch in the layer, cut once per checkpoint (see :mod:`analysis.probes.mosaic`)."""
        from .probes.mosaic import neuron_tiles, top_patch_boxes

        index = self.layer_index(run, layer)

        def cut() -> np.ndarray:
            stats = self.statistics(run, epoch)
            images, _ = self.evaluation_images(run)
            boxes = top_patch_boxes(
                stats[f"top_positions/{index}"][0],
                stats["receptive_fields"].get(stats["layer_names"][index]),
                images.shape[-1],
                images.shape[-2],
            )
            return neuron_tiles(images, stats[f"top_images/{index}"][0], boxes)

        return self._tiles.get_or_compute((self.checkpoint_hash(run, epoch), index), cut)

    def cluster_mosaic(
        self,
        run: str,
        layer: str | int,
        cluster: int | None = None,
        neurons: Sequence[int] | None = None,
        epoch: int | None = None,
    ) -> np.ndarray:
        """CNNVis' learned-features facet: the top patch of each neuron of a cluster, packed in a grid.

        ``cluster`` names one of the analysis' clusters (its neurons in row order); ``neurons``
        gives the members directly (an edited cluster).
        """
        from .probes.mosaic import pack_tiles

        index = self.layer_index(run, layer)
        if neurons is None:
            clusters = self.clusters(run, epoch)
            labels = clusters[f"labels/{index}"]
            neurons = [int(n) for n in clusters[f"row_order/{index}"] if labels[n] == cluster]
        members = [int(n) for n in neurons]
        if not members:
            raise AnalysisError(f"layer {layer!r} has no cluster {cluster}")
        return pack_tiles(self.layer_tiles(run, index, epoch), members)

    def dead_neurons(self, run: str, layer: str | int, epoch: int | None = None) -> np.ndarray:
        """Per neuron of ``layer``: whether it never fires on the test images (:mod:`.statistics.dead_units`)."""
        from .statistics.dead_units import dead_neurons

        stats = self.statistics(run, epoch)
        index = self.layer_index(run, layer)
        return dead_neurons(stats[f"top_values/{index}"], stats[f"class_means/{index}"])

    def cluster_view(self, run: str, layer: str | int, edits: str = "") -> Result:
        """One layer's clusters as the Redundancy page draws them, after the edit log ``edits``.

        ``profiles`` (neurons × classes, normalised for display), ``labels`` (cluster id of each
        neuron: the analysis' ids, numbered from the top of the unedited matrix, kept stable by the
        edits), ``row_order`` (neurons top to bottom, each cluster contiguous), ``cluster_ids`` (in
        that order), ``next_id`` (the id a new cluster gets), ``steps`` (what each edit did, in
        words), ``duplicates`` (has a near-duplicate), ``dead`` (never fires on the test images) and
        the layer's redundancy ``metrics``, recomputed on the edited clusters. Kept in memory per
        checkpoint and edit log.
        """
        index = self.layer_index(run, layer)
        key = (self.checkpoint_hash(run), index, str(edits))
        return self._views.get_or_compute(key, lambda: self._compute_cluster_view(run, index, str(edits)))

    def _compute_cluster_view(self, run: str, index: int, edits: str) -> Result:
        from .statistics.cluster_edits import apply_edit_log, cluster_ids, next_free_id, parse_edits
        from .statistics.redundancy import normalize_profiles

        stats, clusters = self.statistics(run), self.clusters(run)
        labels = np.asarray(clusters[f"labels/{index}"], dtype=int)
        row_order = np.asarray(clusters[f"row_order/{index}"], dtype=int)
        metrics = dict(clusters["metrics"][index])
        next_id, steps = next_free_id(labels), ()
        if edits:
            # The pipeline clusters z-scored class means and measures redundancy on them; edits do the same.
            selectivity = normalize_profiles(stats[f"class_means/{index}"], "zscore")
            edited = apply_edit_log(
                selectivity, labels, parse_edits(edits), self.params.duplicate_threshold, row_order=row_order
            )
            labels, row_order, next_id, steps = edited.labels, edited.row_order, edited.next_id, edited.steps
            metrics = _json_safe(edited.metrics)
        return {
            "run": run,
            "layer": str(stats["layer_names"][index]),
            "index": index,
            "depth": float(stats["relative_depth"][index]),
            "class_names": [str(c) for c in stats["class_names"]],
            "profiles": np.asarray(clusters[f"profiles/{index}"], dtype=float),
            "labels": labels,
            "row_order": row_order,
            "cluster_ids": cluster_ids(labels, row_order),
            "next_id": int(next_id),
            "steps": list(steps),
            "duplicates": np.asarray(clusters[f"duplicates/{index}"], dtype=bool),
            "dead": self.dead_neurons(run, index),
            "metrics": metrics,
            "edits": edits,
        }

    # -- over training -------------------------------------------------------------------------------
    def health(self, run: str) -> list[dict[str, Any]]:
        from .training.health import training_anomalies

        return training_anomalies(self.store.read_history(run))

    def evolution(self, run: str) -> list[dict[str, Any]]:
        """Per snapshot: errors, mean redundancy and positive-edge fractions per layer."""
        missing = self.store.missing_snapshots(run)
        if missing:
            listed = ", ".join(str(epoch) for epoch in missing)
            raise BrokenRunError(
                f"{self.store.location(run)}: the snapshot of epoch {listed} is missing "
                f"({', '.join(snapshot_key(e) for e in missing)}); its evolution cannot be shown, "
                "its final weights still can"
            )
        rows = []
        history = {row["epoch"]: row for row in self.store.read_history(run)}
        for epoch in self.store.snapshot_epochs(run):
            clusters = self.clusters(run, epoch)
            edges = self.edges(run, epoch)
            metrics = clusters["metrics"]
            rows.append(
                {
                    "epoch": epoch,
                    "train_error": history.get(epoch, {}).get("train_error"),
                    "test_error": history.get(epoch, {}).get("test_error"),
                    "layers": clusters["layer_names"],
                    "near_duplicate_fraction": [m["near_duplicate_fraction"] for m in metrics],
                    "mean_within_cluster_similarity": [m["mean_within_cluster_similarity"] for m in metrics],
                    "positive_edge_fraction": [f["positive_edge_fraction"] for f in edges["fractions"]],
                    "positive_mass_fraction": [f["positive_mass_fraction"] for f in edges["fractions"]],
                }
            )
        return rows

    # -- the review: uncertainty, ablation, findings -------------------------------------------------------
    def test_outcomes(self, run: str) -> Result:
        """Per evaluation image whether the final weights get it wrong (``wrong``), and a hash of the labels,
        so two runs are compared image by image (McNemar) only when they saw the same images."""
        params = {**self.params.statistics_params(), "dataset_hash": self.dataset_hash(run)}

        def compute() -> Result:
            stats = self.statistics(run)
            _, labels = self.evaluation_images(run)
            truth = labels.numpy().astype(np.int64)
            return {
                "wrong": np.asarray(stats["test_predictions"], dtype=np.int64) != truth,
                "labels_hash": hashlib.sha256(truth.tobytes()).hexdigest(),
                "n_images": int(truth.size),
            }

        return self._cached(run, None, "test_outcomes", params, compute)

    def test_error_interval(self, run: str) -> tuple[float, float]:
        """Wilson's 95 % interval of the final weights' test error, on the evaluation images."""
        from .statistics.uncertainty import wilson_interval

        confusion = np.asarray(self.statistics(run)["test_confusion"])
        n = int(confusion.sum())
        return wilson_interval(n - int(np.trace(confusion)), n)

    def ablation(self, run: str) -> dict[str, Any]:
        """Test-error changes from removing or merging each layer's near-duplicate neurons, dead units, and
        all layers' near-duplicates at once (:func:`analysis.probes.ablation.ablate`); cached."""
        p = self.params
        params = {
            **p.statistics_params(),
            "threshold": p.duplicate_threshold,
            "dataset_hash": self.dataset_hash(run),
            # fp32 even where bf16 is native: w_k·x + w_r·x and (w_k + w_r)·x round alike in fp32 only,
            # and a merged exact copy must leave every prediction unchanged.
            "precision": ABLATION_PRECISION,
        }

        def compute() -> Result:
            from .probes.ablation import ablate

            stats = self.statistics(run)
            images, labels = self.evaluation_images(run)
            means = [stats[f"class_means/{i}"] for i in range(len(stats["layer_names"]))]
            counts = np.asarray(stats["test_confusion"]).sum(axis=1)
            with self._model_lock:
                result = ablate(
                    self.model(run),
                    images,
                    labels,
                    self._normalization(run),
                    means,
                    counts,
                    p.duplicate_threshold,
                    precision=ABLATION_PRECISION,
                )
            return _json_safe(result)

        return self._cached(run, None, "ablation", params, compute)

    def is_reviewed(self, run: str) -> bool:
        """Whether the run's ablation is cached (the Review page can show it without computing)."""
        try:
            self.cached_only().ablation(run)
        except (NotAnalyzedError, AnalysisError, BrokenRunError):
            return False
        return True

    def paired_test(self, run_a: str, run_b: str) -> dict[str, Any]:
        """McNemar's exact test of two runs' mistakes on the same images (PairedTest as a dict, with the runs).

        ValueError when the runs were not evaluated on the same images."""
        from .statistics.uncertainty import mcnemar

        a, b = self.test_outcomes(run_a), self.test_outcomes(run_b)
        if a["labels_hash"] != b["labels_hash"] or a["n_images"] != b["n_images"]:
            raise ValueError(
                f"{run_a!r} and {run_b!r} were not evaluated on the same images "
                f"({a['n_images']:,} vs {b['n_images']:,} images, or other labels): no paired test"
            )
        return _json_safe({"run_a": run_a, "run_b": run_b, **mcnemar(a["wrong"], b["wrong"]).to_dict()})

    def review(self, runs: Sequence[str], tolerance: float = 0.005) -> dict[str, Any]:
        """The review of runs of one dataset: errors with intervals, the Pareto front, the recommendation and
        the findings (see :mod:`analysis.review.assemble`). ValueError for runs of different datasets."""
        from .review.assemble import review

        return _json_safe(review(self, list(runs), tolerance))

    def diff(self, run_a: str, run_b: str) -> dict[str, Any]:
        """Two runs side by side: sizes, errors (significance), per-class changes, redundancy, edges and CKA
        by relative depth, and the same in sentences (:mod:`analysis.review.diff`)."""
        from .review.diff import run_diff

        return _json_safe(run_diff(self, run_a, run_b))

    # -- whole runs ---------------------------------------------------------------------------------
    def steps(self, run: str, snapshots: bool = True) -> list[tuple[str, Callable[[], Any]]]:
        """Every cached computation a page may ask for, as labelled steps (a job shows and stops between them)."""
        steps: list[tuple[str, Callable[[], Any]]] = []
        for epoch in [None, *(self.store.snapshot_epochs(run) if snapshots else [])]:
            where = "final weights" if epoch is None else f"epoch {epoch}"
            steps += [
                (f"statistics ({where})", lambda e=epoch: self.statistics(run, e)),
                (f"train errors ({where})", lambda e=epoch: self.train_errors(run, e)),
                (f"neuron clusters ({where})", lambda e=epoch: self.clusters(run, e)),
                (f"edges ({where})", lambda e=epoch: self.edges(run, e)),
            ]
        steps.append(("CKA within the model", lambda: self.cka(run)))
        steps.append(("test outcomes (for paired tests)", lambda: self.test_outcomes(run)))
        steps.append(("ablation of near-duplicate and dead neurons", lambda: self.ablation(run)))
        return steps

    def analyze(self, run: str, snapshots: bool = True) -> dict[str, int]:
        """Compute and cache everything a page may ask for; returns cache hits and misses of this call."""
        hits, misses = self.cache.hits, self.cache.misses
        for _label, step in self.steps(run, snapshots):
            step()
        return {"hits": self.cache.hits - hits, "misses": self.cache.misses - misses}

    def layer_metrics(self, run: str, epoch: int | None = None) -> list[dict[str, Any]]:
        """Per analysable layer: its name, kind, relative depth, redundancy and edge-sign figures (NaN: None).

        One list for the report and the analysis frames (:mod:`analysis.frames`), so they cannot disagree.
        """
        stats = self.statistics(run, epoch)
        clusters = self.clusters(run, epoch)
        edges = self.edges(run, epoch)
        layers = []
        for index, name in enumerate(stats["layer_names"]):
            metric, fraction = clusters["metrics"][index], edges["fractions"][index]
            layers.append(
                {
                    "name": name,
                    "kind": stats["layer_kinds"][index],
                    "relative_depth": stats["relative_depth"][index],
                    "n_neurons": metric["n_neurons"],
                    "n_clusters": metric["n_clusters"],
                    "mean_within_cluster_similarity": metric["mean_within_cluster_similarity"],
                    "near_duplicate_fraction": metric["near_duplicate_fraction"],
                    "effective_rank": metric["effective_rank"],
                    "normalized_effective_rank": metric["normalized_effective_rank"],
                    "positive_edge_fraction": fraction["positive_edge_fraction"],
                    "positive_mass_fraction": fraction["positive_mass_fraction"],
                }
            )
        return _json_safe(layers)

    def report(self, run: str) -> dict[str, Any]:
        """The JSON summary of a run: dataset, errors, and one entry per analysable layer."""
        meta = self.meta(run)
        stats = self.statistics(run)
        per_layer = self.layer_metrics(run)
        groups = self.layer_clusters(run)
        from .review.assemble import run_findings

        ablation = self.ablation(run)["layers"]
        layers = []
        for index, metrics in enumerate(per_layer):
            name, kind = metrics.pop("name"), metrics.pop("kind")
            stage, similar = groups["stage"][index], groups["similar"][index]
            removal = {key: ablation[index][key] for key in ABLATION_REPORT_KEYS}
            layers.append(
                {"name": name, "kind": kind, "stage": stage, "layer_cluster": similar, **metrics, "ablation": removal}
            )
        return _json_safe(
            {
                "run": run,
                "model": meta["model"],
                "profile": meta.get("profile"),
                "dataset": stats["dataset"],
                "dataset_description": stats["dataset_description"],
                "dataset_hash": stats["dataset_hash"],
                "n_images": stats["n_images"],
                "train_error": self.train_errors(run)["train_error"],
                "test_error": stats["test_error"],
                "test_error_interval": list(self.test_error_interval(run)),
                "per_class_error": dict(zip(stats["class_names"], stats["per_class_error"].tolist())),
                "layers": layers,
                "anomalies": self.health(run),
                "findings": run_findings(self, run),
                "params": self.params.to_dict(),
            }
        )


def _subset_limits(meta: dict[str, Any]) -> tuple[int | None, int | None] | None:
    """The (train, test) image limits the run was trained under: as recorded, else its profile's today."""
    recorded = meta.get("config", {}).get("hyperparameters")
    if isinstance(recorded, dict) and "max_train_images" in recorded:
        return recorded.get("max_train_images"), recorded.get("max_test_images")
    profile = PROFILES.get(meta.get("profile", ""))
    return None if profile is None else (profile.max_train_images, profile.max_test_images)


def _data_seed(meta: dict[str, Any]) -> int:
    """The seed that chose the run's data subset; runs trained before ``--data-seed`` used their ``--seed``."""
    if meta.get("data_seed") is not None:
        return int(meta["data_seed"])
    return int(meta.get("config", {}).get("seed", 0))


def _stages(model: FamilyCNN) -> list[int]:
    """Stage of each analysable layer: the number of halving pools before it (FC layers come after all)."""
    stages, stage = {}, 0
    for name, module in model.features.named_children():
        if isinstance(module, torch.nn.MaxPool2d) and module.stride in (2, (2, 2)):
            stage += 1
        else:
            stages[name] = stage
    return [stages.get(layer.name, stage) for layer in model.analysable_layers()]


def _first_layer_edges(layer) -> np.ndarray:
    from .statistics.edges import fold_batch_norm, kernel_summed_edges

    weight = layer.weight.weight.detach().cpu().double().numpy()
    if layer.norm is not None:
        bn = layer.norm
        weight, _ = fold_batch_norm(
            weight,
            None,
            *(t.detach().cpu().double().numpy() for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var)),
            bn.eps,
        )
    return kernel_summed_edges(weight)


def _result_bytes(result: Result) -> int:
    """The bytes of a result's arrays (what an LRU bounded in bytes counts)."""
    return sum(value.nbytes for value in result.values() if isinstance(value, np.ndarray))


def json_string(value: Any) -> str:
    import json

    return json.dumps(value)


def _json_safe(value: Any) -> Any:
    """Floats NaN/inf → None and numpy scalars → Python, so the value is strict JSON."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
