"""One module per page: ``dash.register_page(__name__, ...)``, ``layout(**query)`` and ``register_callbacks(app)``.

``app.main.create_app`` calls each page's ``register_callbacks(app)`` with the app it builds; use
``app.callback`` there, not the global ``dash.callback`` (see :mod:`app.main` for why). Read the
runs folder through ``app.config.current_settings()`` inside ``layout`` and callbacks.

Dash runs a page file before putting it in ``sys.modules``, so a page module cannot hold a
``@dataclass`` (with postponed annotations it looks its module up there and fails): use a
``NamedTuple``, or define the class in another module.
"""
