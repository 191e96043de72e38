"""The page for any unknown path: says so and links back to the overview."""

from __future__ import annotations

import dash
from dash import html

from app import components

dash.register_page(__name__, path="/404", name="Not found", title=f"Not found · {components.PRODUCT_NAME}")


def layout(**_query) -> html.Div:
    return html.Div(
        components.message(
            [
                "There is no page at this address. ",
                html.A("Back to the overview", href=dash.get_relative_path("/"), className="fw-semibold link-primary"),
                ".",
            ],
            kind="warning",
            title="Page not found",
            id="not-found",
        )
    )
