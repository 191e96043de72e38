"""What every figure shares: fonts sized for a projector, two-line titles, the blank figure that says why."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

#: Large, plain fonts: figures are shown on projectors and pasted into slides.
FIGURE_FONT = {"family": "Lato, 'Helvetica Neue', Arial, sans-serif", "size": 15, "color": "#212529"}
MUTED = "#6c757d"
SUBTITLE_FONT = {"size": 14, "color": "#495057"}
#: The smallest type any figure may use: readable on a projector at 1600×1000.
MIN_FONT_SIZE = 12


def two_line_title(text: str, subtitle: str) -> dict[str, Any]:
    """A title on two lines, the second in a smaller grey: long names never run under the modebar.

    Give the figure a top margin of about 90 px for it (the modebar sits above the plot, right).
    """
    return {
        "text": text,
        "subtitle": {"text": subtitle, "font": SUBTITLE_FONT},
        "x": 0.01,
        "xanchor": "left",
        "y": 0.97,
        "yanchor": "top",
    }


def empty_figure(text: str, height: int = 300) -> go.Figure:
    """A blank figure that says why it is blank (never an empty white box)."""
    figure = go.Figure()
    figure.add_annotation(
        text=text, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False, font={"size": 16, "color": MUTED}
    )
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        height=height,
        xaxis={"visible": False},
        yaxis={"visible": False},
        margin={"l": 20, "r": 20, "t": 30, "b": 20},
    )
    return figure


def short_names(names: Sequence[str]) -> dict[str, str]:
    """Labels for crowded figures: each run name without the words every name shares.

    ``base-demo-fashion-mnist`` and ``base-demo-fashion-mnist-seed1`` among the demo family become
    ``base`` and ``base-seed1``; hover texts and legends keep the full names. A name that would
    become empty, or two that would become the same, stay whole.
    """
    words = [name.split("-") for name in names]
    shared = set(words[0]).intersection(*words[1:]) if len(words) > 1 else set()
    short = {name: "-".join(w for w in parts if w not in shared) for name, parts in zip(names, words)}
    if len(set(short.values())) < len(short) or not all(short.values()):
        return {name: name for name in names}
    return short
