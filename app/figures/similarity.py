"""Similarity figures: linear CKA between layers, on one colour scale fixed to 0…1."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

from app.figures.common import FIGURE_FONT

COLOURSCALE = "Viridis"
TEXT_LIMIT = 14  # cells get their value printed up to this many layers a side


def cka_figure(result: Mapping[str, Any], title: str, row_run: str, column_run: str) -> go.Figure:
    """Heatmap of a CKA result (``matrix``, ``rows``, ``columns``) on the fixed 0…1 colour scale.

    Debiased CKA can dip below 0: the hover shows the value, the colour clips at 0. Layers run
    from the input (top, left) to the output; a within-run heatmap is drawn square.
    """
    matrix = np.asarray(result["matrix"], dtype=float)
    rows, columns = [str(r) for r in result["rows"]], [str(c) for c in result["columns"]]
    small = len(rows) <= TEXT_LIMIT and len(columns) <= TEXT_LIMIT
    heatmap = go.Heatmap(
        z=matrix,
        x=columns,
        y=rows,
        zmin=0,
        zmax=1,
        colorscale=COLOURSCALE,
        colorbar={"title": {"text": "CKA"}, "tickvals": [0, 0.25, 0.5, 0.75, 1]},
        hovertemplate=f"{row_run} %{{y}} × {column_run} %{{x}}<br>CKA %{{z:.3f}}<extra></extra>",
        xgap=1,
        ygap=1,
    )
    if small:
        heatmap.update(texttemplate="%{z:.2f}", textfont={"size": 12})
    figure = go.Figure(heatmap)
    cell = 34 if small else 24
    height = int(min(900, max(420, 170 + cell * len(rows))))
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        height=height,
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 16}},
        xaxis={"title": {"text": f"{column_run} layer"}, "type": "category", "tickangle": -45},
        yaxis={"title": {"text": f"{row_run} layer"}, "type": "category", "autorange": "reversed"},
        margin={"l": 90, "r": 20, "t": 70, "b": 90},
    )
    if row_run == column_run:
        figure.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")
        figure.update_xaxes(constrain="domain")
    return figure


def cka_title(kind: str, dataset: str, n_images: int, debiased: bool) -> str:
    """``Linear CKA within base · <dataset> · 256 test images`` (exports carry no banner)."""
    flavour = "debiased linear CKA" if debiased else "linear CKA"
    return (
        f"{flavour[0].upper()}{flavour[1:]} {kind}"
        f"<br><span style='font-size:13px;color:#495057'>{dataset} · {n_images} test images</span>"
    )
