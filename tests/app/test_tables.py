"""Page tables from the frames: the same numbers as the frame, and the frame's CSV behind the button."""

from __future__ import annotations

import pandas as pd

from app import tables


def table_parts(component) -> tuple[object, dict]:
    """The DataTable and the CSV store inside a :func:`tables.frame_table`."""
    table = next(c for c in component.children if type(c).__name__ == "DataTable")
    store = next(c for c in component.children if type(c).__name__ == "Store")
    return table, store.data


def test_layers_table_holds_the_frames_numbers_and_its_csv():
    frame = pd.DataFrame(
        {
            "run": ["a", "a", "b"],
            "layer": ["conv1", "fc1", "conv1"],
            "relative_depth": [0.0, 1.0, 0.0],
            "n_neurons": [16, 10, 32],
            "near_duplicate_fraction": [0.25, 0.0, 0.5],
            "positive_edge_fraction": [0.5, 0.4, pd.NA],
            "analysed": [True, True, True],
        }
    )
    table, csv = table_parts(tables.layers_table(frame, "t", "layers"))
    assert [r["near_duplicate_fraction"] for r in table.data] == [0.25, 0.0, 0.5]  # numbers, so sorting works
    assert table.data[2]["positive_edge_fraction"] is None  # missing stays missing, never 0
    assert csv == {"csv": frame.to_csv(index=False), "filename": "layers"}
    assert "Near-duplicates" in [c["name"] for c in table.columns]


def test_rows_of_runs_not_analysed_are_left_out_of_the_table():
    frame = pd.DataFrame({"run": ["a", "b"], "layer": ["conv1", None], "analysed": [True, False]})
    table, _ = table_parts(tables.layers_table(frame, "t", "layers"))
    assert [r["run"] for r in table.data] == ["a"]
