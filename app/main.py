"""The Dash app: navbar, pages, health check; ``gunicorn app.main:server`` serves it.

:func:`create_app` builds an app on any :class:`~app.config.Settings` (tests point it at a
temporary runs folder); the module-level ``app``/``server`` use the environment's settings.

Dash keeps its page registry in a global (``dash.page_registry``), and every ``Dash(use_pages=True)``
re-executes the files of ``app/pages``. Two choices keep several apps in one process (the
module-level one plus the tests') correct:

* the app is named after the package (``"app"``), so Dash registers each page under the name a
  normal import gives it (``app.pages.overview``): re-registering overwrites that one entry instead
  of adding a second page on the same path, and a test may ``import app.pages.overview`` freely;
* pages add their callbacks in ``register_callbacks(app)``, which :func:`create_app` calls for
  the app it builds, not with the global ``dash.callback`` (whose queue the first app to serve a
  request would take for itself, leaving later apps without callbacks or with duplicates).
  Pages read the runs folder through :func:`app.config.current_settings`, i.e. from the app
  serving the request, never from import-time globals.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
import flask
from dash import html
from dash.exceptions import DependencyException

from analysis.runs.store import RunStore
from app import components, tables
from app.auth import install_basic_auth, parse_users
from app.background import make_manager, outage_errors, redis_problem
from app.config import SETTINGS_KEY, Settings, configure_logging, current_settings, load_settings
from app.guard import UPDATE_ROUTE, install_request_guard
from app.response_cache import ResponseCache

PACKAGE_FOLDER = Path(__file__).resolve().parent
PAGES_FOLDER = PACKAGE_FOLDER / "pages"
ASSETS_FOLDER = PACKAGE_FOLDER / "assets"
NOT_FOUND_MODULE = "not_found_404"

log = logging.getLogger(__name__)
REPORT_LINK_ID = "cnncmp-report-link"


def stylesheets(settings: Settings) -> list[str]:
    """The Bootstrap theme: ``CNNCMP_THEME_URL`` if set; else none when ``app/assets`` ships one
    (Dash serves every ``.css`` there itself, so the dashboard works offline); else Flatly from the CDN."""
    if settings.theme_url:
        return [settings.theme_url]
    if ASSETS_FOLDER.is_dir() and any(ASSETS_FOLDER.glob("bootstrap*.css")):
        return []
    return [dbc.themes.FLATLY]


def nav_pages() -> list[dict]:
    """Registered pages in their order, without the 404 page."""
    return [page for page in dash.page_registry.values() if page["module"].rsplit(".", 1)[-1] != NOT_FOUND_MODULE]


def navbar() -> dbc.Navbar:
    links = [dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact")) for page in nav_pages()]
    brand = html.A(
        [
            html.Span(components.PRODUCT_NAME, className="navbar-brand mb-0 h1"),
            html.Span(components.PRODUCT_TAGLINE, className="d-none d-xl-inline small text-white-50"),
        ],
        href=dash.get_relative_path("/"),
        className="d-flex align-items-baseline text-decoration-none",
    )
    report = html.A(
        "Report",
        id=REPORT_LINK_ID,
        href=dash.get_relative_path("/report"),
        title="Download this comparison as one HTML file for a meeting (opens without the server)",
        className="btn btn-outline-light btn-sm ms-3",
    )
    return dbc.Navbar(
        dbc.Container([brand, dbc.Nav(links, navbar=True, className="ms-auto"), report], fluid=True),
        color="primary",
        dark=True,
        className="mb-3",
    )


def page_shell() -> html.Div:
    # Where the runs live is said where it matters (the empty state, the Jobs page, /health), not on every page.
    return html.Div([navbar(), dbc.Container([dash.page_container], fluid="xxl", className="mb-4")])


def report(settings: Settings) -> flask.Response:
    """``/report?runs=a,b``: the comparison as one self-contained HTML download (the pages' default runs without)."""
    from app.report import build_report
    from app.selection import query_selection, read_runs

    runs = read_runs(settings.runs_dir)
    selection = query_selection(flask.request.args, runs, settings.runs_dir)
    document = build_report(settings, selection.names)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
    response = flask.Response(document, mimetype="text/html")
    response.headers["Content-Disposition"] = f'attachment; filename="cnn-comparison-{stamp}.html"'
    return response


def health(settings: Settings) -> flask.Response:
    """``{"status": "ok" | "degraded", "runs": n, ...}``: the runs store and the shared parts it can reach.

    Always 200 while the process serves (a platform restarting the web process would not bring a
    bucket or Redis back); ``problems`` says what is unreachable.
    """
    problems: dict[str, str] = {}
    count = 0
    try:
        count = len(RunStore(settings.runs_dir).names())
    except OSError as exc:
        log.warning("health: cannot list %s: %s", settings.runs_dir, exc)
        problems["runs"] = str(exc)
    if settings.redis_url:
        problem = redis_problem(settings.redis_url)
        if problem:
            problems["redis"] = problem
    return flask.jsonify(
        status="degraded" if problems else "ok",
        runs=count,
        runs_dir=str(settings.runs_dir),
        cache="redis" if settings.redis_url else "diskcache",
        jobs="celery" if settings.redis_url else "local",
        problems=problems,
    )


def state_stamp() -> tuple:
    """What a cached callback response depends on beyond its request: the runs' files and the analysis cache."""
    from app.selection import cache_stamp, runs_stamp

    settings = current_settings()
    return runs_stamp(settings.runs_dir), cache_stamp(settings)


def unknown_asset(exc: Exception) -> flask.Response:
    """A request for a script or stylesheet Dash does not serve (a bad path, ``..%2F..%2Fetc%2Fpasswd``): 404.

    Dash raises DependencyException for it, which Flask would answer with a 500 and a traceback in the log.
    """
    log.info("%s %s: not a served asset (%s)", flask.request.method, flask.request.path, type(exc).__name__)
    return flask.Response("Not found\n", status=404, mimetype="text/plain")


def outage(exc: Exception) -> flask.Response:
    """A request that needed Redis or the bucket while it is down: 503 with the reason, not a 500.

    The pages catch these themselves and say so; this covers Dash's own calls (starting a
    background job, polling its progress), which the pages cannot wrap.
    """
    log.warning("%s %s: a shared service is unreachable: %s", flask.request.method, flask.request.path, exc)
    return flask.Response(
        f"A shared service is unreachable: {exc}\n", status=503, mimetype="text/plain", headers={"Retry-After": "10"}
    )


def create_app(settings: Settings | None = None) -> dash.Dash:
    """A new dashboard reading ``settings.runs_dir`` (default: the environment's settings)."""
    settings = settings or load_settings()
    app = dash.Dash(
        "app",  # the package's name: page modules become app.pages.<file>, as a normal import names them
        use_pages=True,
        pages_folder=str(PAGES_FOLDER),
        assets_folder=str(ASSETS_FOLDER),
        external_stylesheets=stylesheets(settings),
        suppress_callback_exceptions=True,  # each page's components exist only while it is shown
        title=components.PRODUCT_NAME,
        update_title=None,
        add_log_handler=False,  # Dash's records go through the root logger that configure_logging sets up
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
        background_callback_manager=make_manager(settings),  # the Jobs page's training and analysis
    )
    app.server.config[SETTINGS_KEY] = settings
    install_basic_auth(app.server, parse_users(settings.auth_users))
    for error in outage_errors():
        app.server.register_error_handler(error, outage)
    app.server.register_error_handler(DependencyException, unknown_asset)
    # Hooks run in this order: login, then malformed callback bodies refused, then repeats answered from memory.
    install_request_guard(app.server, app.callback_map, app.config.routes_pathname_prefix)
    if settings.response_cache_mb:
        ResponseCache(state_stamp, settings.response_cache_mb * 2**20).install(
            app.server, app.config.routes_pathname_prefix + UPDATE_ROUTE
        )
    # Refuse oversized requests (uploads) before reading them; the Explorer allows 2 MB images.
    app.server.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024
    app.layout = page_shell()

    components.register_callbacks(app)
    tables.register_callbacks(app)
    for page in dash.page_registry.values():
        register = getattr(sys.modules.get(page["module"]), "register_callbacks", None)
        if callable(register):
            register(app)

    app.server.add_url_rule("/health", "cnncmp_health", lambda: health(settings))
    app.server.add_url_rule("/report", "cnncmp_report", lambda: report(settings))
    # The Report link carries the current page's choice of runs (``?runs=…``, or the older ``models``) along.
    report_path = app.get_relative_path("/report")
    app.clientside_callback(
        "function(search) { var q = new URLSearchParams(search || ''); var runs = q.has('runs') ? q.get('runs')"
        " : q.get('models');"
        f" return '{report_path}' + (runs !== null ? '?runs=' + encodeURIComponent(runs) : ''); }}",
        dash.Output(REPORT_LINK_ID, "href"),
        dash.Input("_pages_location", "search"),
    )
    return app


settings = load_settings()
configure_logging(settings)
app = create_app(settings)
server = app.server
