"""What every figure shares: fonts sized for a projector, the blank figure that says why it is blank."""

from __future__ import annotations

import plotly.graph_objects as go

#: Large, plain fonts: figures are shown on projectors and pasted into slides.
FIGURE_FONT = {"family": "Lato, 'Helvetica Neue', Arial, sans-serif", "size": 15, "color": "#212529"}
MUTED = "#6c757d"


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
