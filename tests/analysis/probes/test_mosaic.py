"""Learned-features mosaics: tiles are packed in a near-square grid and match the pipeline's cluster_mosaic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.probes.mosaic import neuron_tiles, pack_tiles, top_patch_boxes


def test_pack_tiles_fills_a_near_square_grid_on_white():
    tiles = np.stack([np.full((2, 2, 3), value, dtype=np.uint8) for value in (10, 20, 30, 40, 50)])
    mosaic = pack_tiles(tiles, [4, 0, 2])
    assert mosaic.shape == (4, 4, 3)  # 3 tiles: 2 columns × 2 rows
    assert mosaic[0, 0, 0] == 50 and mosaic[0, 2, 0] == 10 and mosaic[2, 0, 0] == 30 and mosaic[2, 2, 0] == 255
    with pytest.raises(ValueError):
        pack_tiles(tiles, [])


def test_boxes_of_a_conv_and_a_fully_connected_layer():
    assert top_patch_boxes(np.array([[0, 0], [2, 3]]), (3, 1, 0.0), image_size=8) == [(0, 0, 2, 2), (1, 2, 4, 5)]
    assert top_patch_boxes(np.zeros((2, 2)), None, image_size=8) == [(0, 0, 8, 8)] * 2


def test_tiles_resample_each_patch():
    images = torch.zeros((2, 3, 8, 8), dtype=torch.uint8)
    images[1] = 200
    tiles = neuron_tiles(images, [1, 0], [(0, 0, 4, 4), (0, 0, 8, 8)], tile=4)
    assert tiles.shape == (2, 4, 4, 3) and tiles.dtype == np.uint8
    assert (tiles[0] == 200).all() and (tiles[1] == 0).all()


def test_same_bytes_as_the_pipeline_cluster_mosaic(analysed_runs):
    from analysis.cache import AnalysisCache
    from analysis.pipeline import RunAnalyzer
    from analysis.runs.store import RunStore

    runs_dir, cache_dir = analysed_runs
    analyzer = RunAnalyzer(RunStore(runs_dir), AnalysisCache(cache_dir), allow_compute=False)
    run = "base-quick-synthetic"
    stats, clusters = analyzer.statistics(run), analyzer.clusters(run)
    images, _ = analyzer.evaluation_images(run)
    for index in (1, len(stats["layer_names"]) - 1):  # a conv layer and the last FC layer
        name = stats["layer_names"][index]
        boxes = top_patch_boxes(
            stats[f"top_positions/{index}"][0],
            stats["receptive_fields"].get(name),
            image_size=images.shape[-1],
            image_height=images.shape[-2],
        )
        tiles = neuron_tiles(images, stats[f"top_images/{index}"][0], boxes)
        labels, order = clusters[f"labels/{index}"], clusters[f"row_order/{index}"]
        members = [int(n) for n in order if labels[n] == 0]
        assert np.array_equal(pack_tiles(tiles, members), analyzer.cluster_mosaic(run, index, 0))
