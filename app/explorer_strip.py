"""The Explorer's image strip (a page of test images with each run's predictions) and the shown image's card."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import dcc, html

from app import components
from app.analysis_access import PAGE_ERRORS
from app.explorer_view import NO_RUN, Subject, comparable, load_views, subject_for, uploaded_image, usable_runs
from app.figures.explorer import short_label
from app.images import png_data_url
from app.page import page_context
from app.query import parse_count
from app.selection import run_colours

THUMBNAILS = 20  # images in the strip (the page of the strip holding the chosen one)


def strip_range(index: int, n_images: int, count: int = THUMBNAILS) -> range:
    """The strip's page: ``count`` images from a multiple of ``count``, holding ``index``."""
    start = (max(0, index) // count) * count
    return range(start, min(n_images, start + count))


def _class(names: Sequence[str], label: int) -> str:
    return names[label] if 0 <= label < len(names) else str(label)


def thumbnail_strip(
    images: np.ndarray,
    labels: Sequence[int],
    indices: Sequence[int],
    class_names: Sequence[str],
    predictions: Mapping[str, np.ndarray | None],
    chosen: int | None,
    colours: Mapping[str, str],
    button_type: str,
) -> html.Div:
    """Thumbnails (buttons of type ``button_type``) with the true class and, per run, the predicted class
    (wrong ones in red)."""
    cell = {"padding": "0 2px", "textAlign": "center", "fontSize": "0.8rem", "whiteSpace": "nowrap"}
    head = [html.Th("", style=cell)]
    truth = [html.Th("true", className="text-muted fw-normal text-end pe-2", style=cell)]
    for position, index in enumerate(indices):
        outline = "3px solid #f39c12" if index == chosen else "1px solid #dee2e6"
        picture = html.Img(
            src=png_data_url(images[position]),
            alt=f"test image {index}",
            style={"width": "44px", "height": "44px", "imageRendering": "pixelated", "display": "block"},
        )
        button = html.Button(
            picture,
            id={"type": button_type, "index": int(index)},
            n_clicks=0,
            title=f"test image {index}",
            className="p-0 border-0 bg-transparent",
            style={"outline": outline, "outlineOffset": "1px"},
        )
        head.append(html.Td(button, style={**cell, "paddingBottom": "4px"}))
        name = _class(class_names, labels[position])
        truth.append(html.Td(short_label(name), title=f"#{index}: {name}", style={**cell, "fontWeight": 600}))
    rows = [html.Tr(head), html.Tr(truth)]
    for run, predicted in predictions.items():
        style = {**cell, "maxWidth": "14rem", "overflow": "hidden", "textOverflow": "ellipsis"}
        label = html.Span(run, style={"color": colours.get(run, "#212529")})
        cells = [html.Th(label, className="fw-semibold text-end pe-2", title=run, style=style)]
        for position, index in enumerate(indices):
            if predicted is None or index >= len(predicted):
                cells.append(html.Td("–", style=cell, title="not analysed yet"))
                continue
            name = _class(class_names, int(predicted[index]))
            wrong = int(predicted[index]) != labels[position]
            cells.append(
                html.Td(
                    short_label(name),
                    title=f"{run} predicts {name}" + (" (wrong)" if wrong else ""),
                    className="text-danger fw-bold" if wrong else "text-muted",
                    style=cell,
                )
            )
        rows.append(html.Tr(cells))
    return html.Div(html.Table(html.Tbody(rows), className="mb-1"), className="overflow-auto pb-1")


def subject_card(subject: Subject, class_names: Sequence[str], clear_id: Mapping[str, str]) -> html.Div:
    """The shown image, large, with its number and true class (or the upload's name and a way back)."""
    if subject.label is not None:
        caption = [
            html.Strong(f"Test image {subject.index}"),
            " · true class ",
            html.Strong(_class(class_names, subject.label)),
        ]
    else:
        back = dbc.Button(
            "Back to the test images", id=dict(clear_id), n_clicks=0, size="sm", color="secondary", outline=True
        )
        caption = [
            html.Strong("Uploaded: "),
            subject.title.removeprefix("uploaded "),
            " (shrunk to 32 × 32)",
            html.Div(back, className="mt-2"),
        ]
    picture = html.Img(
        src=png_data_url(subject.image),
        alt=subject.title,
        style={"width": "128px", "height": "128px", "imageRendering": "pixelated"},
        className="border me-3",
    )
    return html.Div([picture, html.Div(caption)], className="d-flex align-items-start mb-3")


def strip_parts(picked: Any, index: Any, uploaded: Any, button_type: str, clear_id: Mapping[str, str]) -> tuple:
    """Banner, thumbnail strip and the shown image's card."""
    context = page_context()
    source = context.analyzer
    names, broken = usable_runs(context.runs, picked)
    banner = components.dataset_banner([r for r in context.runs if r.get("name") in names])
    if not names:
        text = NO_RUN if not broken else f"The chosen runs are broken: {', '.join(broken)}."
        return banner, components.message(text, kind="secondary"), None
    views, messages = load_views(source, names)
    if not views:
        return banner, html.Div(messages), None
    same, _ = comparable(views)
    reference = same[0]
    count = source.n_test_images(reference.run)
    number = parse_count(index, "image", None).value
    shown = strip_range(number if number is not None and 0 <= number < count else 0, count)
    images, labels = source.test_images(reference.run, list(shown))
    predictions: dict[str, np.ndarray | None] = {}
    for view in same:
        try:
            predictions[view.run] = np.asarray(source.statistics(view.run)["test_predictions"])
        except PAGE_ERRORS:
            predictions[view.run] = None
    missing = [run for run, predicted in predictions.items() if predicted is None]
    upload = uploaded_image(uploaded)
    strip: list[Any] = [
        html.Div(
            [
                html.Span(f"Test images {shown.start}–{shown.stop - 1} of {count}", className="fw-semibold"),
                html.Span(" · click one to explore it; red: a wrong prediction", className="text-muted small"),
            ],
            className="mb-1",
        ),
        thumbnail_strip(
            images,
            [int(v) for v in labels],
            list(shown),
            reference.class_names,
            predictions,
            number if upload is None else None,
            run_colours([str(r.get("name")) for r in context.runs]),
            button_type,
        ),
    ]
    if missing:
        strip.append(
            html.Div(
                [
                    f"No predictions yet for {', '.join(missing)}: they are not analysed (",
                    dcc.Link("Jobs page", href=components.jobs_href(missing)),
                    ").",
                ],
                className="text-muted small",
            )
        )
    strip += messages
    try:
        subject = subject_for(source, reference, index, uploaded)
    except ValueError as exc:  # UploadError is one: a kept upload that no longer reads
        return banner, html.Div(strip), components.message(str(exc), kind="warning")
    return banner, html.Div(strip), subject_card(subject, reference.class_names, clear_id)
