"""The analyzer's per-image views under a web server's threads: each answer is the one the request gets alone.

The views hook into the run's shared network (``activation_maps`` records every layer's output with
forward hooks; an upload's occlusion first asks for its top class the same way). Without the
analyzer's model lock, a forward pass started by one thread fires the hooks another thread
registered, and that thread returns maps of someone else's image.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from analysis.cache import AnalysisCache
from analysis.pipeline import RunAnalyzer
from analysis.runs.store import RunStore

RUNS = ("base-quick-synthetic", "shallow-quick-synthetic")
TEST_IMAGES = range(16)
UPLOADS = 4
THREADS = 8
OCCLUSION = {"size": 8, "stride": 8}


def fresh_analyzer(analysed_runs: tuple[Path, Path], folder: Path) -> RunAnalyzer:
    """An analyzer with networks of its own and its own copy of the cache (occlusion maps are written to it)."""
    runs_dir, cache_dir = analysed_runs
    return RunAnalyzer(RunStore(runs_dir), AnalysisCache(shutil.copytree(cache_dir, folder)))


def requests() -> list[tuple[str, str, Any]]:
    """Maps and occlusion of test images and uploads, for both runs, interleaved so threads overlap on each net."""
    rng = np.random.default_rng(0)
    uploads = [rng.integers(0, 256, (3, 32, 32), dtype=np.uint8) for _ in range(UPLOADS)]
    subjects: list[Any] = [*TEST_IMAGES, *uploads]
    return [(kind, run, image) for image in subjects for run in RUNS for kind in ("maps", "occlusion")]


def answer(analyzer: RunAnalyzer, request: tuple[str, str, Any]) -> dict[str, np.ndarray]:
    kind, run, image = request
    if kind == "maps":
        result = analyzer.activation_maps(run, image)
    else:
        result = analyzer.occlusion(run, image, **OCCLUSION)
    return {key: np.array(value) for key, value in result.items() if value is not None}


def test_concurrent_maps_and_occlusion_equal_the_same_requests_made_alone(analysed_runs, tmp_path):
    # Checked by hand: with the model lock replaced by a no-op, this fails (conv1 maps of another image).
    asked = requests()
    alone = fresh_analyzer(analysed_runs, tmp_path / "alone")
    expected = [answer(alone, request) for request in asked]

    shared = fresh_analyzer(analysed_runs, tmp_path / "shared")
    for run in RUNS:  # load networks and data first, so the threads meet in the forward passes
        shared.model(run), shared.dataset(run)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        answers = list(pool.map(lambda request: answer(shared, request), asked))

    for request, got, wanted in zip(asked, answers, expected):
        kind, run, image = request
        what = f"{kind} of {run}, image {image if isinstance(image, int) else 'uploaded'}"
        assert got.keys() == wanted.keys(), what
        for key in wanted:
            np.testing.assert_allclose(got[key], wanted[key], rtol=1e-5, atol=1e-6, err_msg=f"{what}: {key}")
