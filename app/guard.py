"""Refuse malformed callback requests (``POST /_dash-update-component``) with 400 before Dash dispatches them.

Dash trusts the body its renderer sends: a body that is not a JSON object, names no callback of
this app, or carries inputs of the wrong shape makes Dash itself raise (``KeyError``,
``AttributeError``, ``CallbackException``) and answer 500 with a traceback in the log. For a
client's mistake that is the wrong status, and it buries real failures in noise.

Why a validating hook and not an error handler that turns those exceptions into 400: an
exception does not say whose fault it was. A ``KeyError`` raised by Dash on a body without
``output`` and one raised by a page callback with a bug look the same to a handler, so a handler
broad enough to cover malformed bodies would also hide real bugs as "bad request". Checking the
body against what the callback declares, before anything runs, decides by the request alone:
what passes reaches Dash in the shape its renderer sends, and any exception after that is the
server's (a 500 with its traceback logged, to be fixed where it is raised). Values are the
pages' business (each callback checks what it is given), except the address that Dash's own page
router, which this app cannot change, reads: its parts must be strings, and a path outside the
app gets Dash's ``UnsupportedRelativePath``, the one exception answered 400 after the fact, since
Dash raises it for nothing but a path outside the app's prefix.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import dash
import flask
from dash.dependencies import ALL, ALLSMALLER, DashDependency, Wildcard
from dash.exceptions import UnsupportedRelativePath

log = logging.getLogger(__name__)

UPDATE_ROUTE = "_dash-update-component"

#: Properties whose value must be a string (or null): ``dcc.Location``'s, which Dash's router reads with string methods.
STRING_PROPERTIES = frozenset(
    {("_pages_location", "pathname"), ("_pages_location", "search"), ("_pages_location", "hash")}
)

_ID_VALUE_TYPES = (str, int, float, bool)


def install_request_guard(
    server: flask.Flask, callbacks: Mapping[str, Mapping[str, Any]], routes_prefix: str = "/"
) -> None:
    """Answer 400 with the reason to every callback request whose body does not fit a callback in ``callbacks``.

    ``callbacks`` is the app's ``callback_map``, read at each request: Dash adds its page router
    to it on the first request, and pages add theirs after this is installed. The router's
    ``UnsupportedRelativePath`` (an address outside the app) is answered 400 too.
    """
    update_path = routes_prefix + UPDATE_ROUTE

    @server.before_request
    def refuse_malformed_callback_request() -> flask.Response | None:
        request = flask.request
        if request.method != "POST" or request.path != update_path:
            return None
        try:
            body = request.get_json(silent=True)  # None when the body is not JSON
        except RecursionError:  # nested deeper than the JSON parser goes: no renderer sends that
            body = None
        problem = callback_request_problem(body, callbacks)
        return None if problem is None else refusal(problem)

    @server.errorhandler(UnsupportedRelativePath)
    def refuse_foreign_path(exc: UnsupportedRelativePath) -> flask.Response:
        return refusal("the address is not under this app's path")


def refusal(problem: str) -> flask.Response:
    """400 with the reason in plain text; logged without a traceback (the client's mistake, not the server's)."""
    log.info("refused callback request from %s: %s", flask.request.remote_addr, problem)
    return flask.Response(f"Bad callback request: {problem}\n", status=400, mimetype="text/plain")


def callback_request_problem(body: Any, callbacks: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why ``body`` is not a request Dash can dispatch to one of ``callbacks``, or None when it is."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    output = body.get("output")
    if not isinstance(output, str):
        return "'output' must be a string naming a callback"
    callback = callbacks.get(output)
    if callback is None:
        return "no callback has this output"
    if not callable(callback.get("callback")):
        return "this callback runs in the browser"  # a clientside callback: nothing on the server to call
    if not callback.get("no_output"):
        problem = _outputs_problem(body.get("outputs"), callback["output"])
        if problem:
            return problem
    inputs, state = body.get("inputs", []), body.get("state", [])
    problem = _dependencies_problem("inputs", inputs, callback["inputs"]) or _dependencies_problem(
        "state", state, callback["state"]
    )
    if problem:
        return problem
    return _changed_problem(body.get("changedPropIds", []), inputs)


def _outputs_problem(outputs: Any, declared: Any) -> str | None:
    """``outputs`` is one spec for a single output, a list of specs (one per output) for several."""
    several = isinstance(declared, (list, tuple))
    if several and not (isinstance(outputs, list) and len(outputs) == len(declared)):
        return f"'outputs' must be a list of {len(declared)} outputs"
    for spec, output in zip(outputs if several else [outputs], declared if several else [declared]):
        problem = _spec_problem("outputs", spec, output)
        if problem:
            return problem
    return None


def _dependencies_problem(key: str, specs: Any, declared: list[Mapping[str, str]]) -> str | None:
    """``inputs``/``state``: one spec per declared dependency, in order, each naming that dependency."""
    if not isinstance(specs, list) or len(specs) != len(declared):
        return f"'{key}' must be a list of {len(declared)} items"
    for spec, dependency in zip(specs, declared):
        problem = _spec_problem(key, spec, _declared_dependency(dependency))
        if problem:
            return problem
        if (
            isinstance(spec, dict)
            and isinstance(spec["id"], str)
            and (spec["id"], spec["property"]) in STRING_PROPERTIES
            and not isinstance(spec.get("value"), (str, type(None)))
        ):
            return f"'{key}': {spec['id']}.{spec['property']} must be a string"
    return None


def _spec_problem(key: str, spec: Any, declared: DashDependency) -> str | None:
    """A spec fits a declared dependency; one with an ALL/ALLSMALLER wildcard takes a list of them."""
    if _has_wildcard(declared, (ALL, ALLSMALLER)):
        if not isinstance(spec, list):
            return f"'{key}': {declared} takes a list of components"
        specs = spec
    else:
        specs = [spec]
    for one in specs:
        if not (isinstance(one, dict) and _is_component_id(one.get("id")) and isinstance(one.get("property"), str)):
            return f"'{key}' items must be objects with an 'id' and a 'property'"
        property_name = one["property"].split("@", 1)[0]  # Dash's suffix for allow_duplicate outputs
        if type(declared)(one["id"], property_name) != declared:
            return f"'{key}': {_shorten(one['id'])}.{_shorten(property_name)} is not {declared}"
    return None


def _changed_problem(changed: Any, inputs: list[Any]) -> str | None:
    """``changedPropIds`` name inputs of this request: what ``dash.ctx.triggered_id`` hands to the page."""
    if not isinstance(changed, list) or not all(isinstance(prop_id, str) for prop_id in changed):
        return "'changedPropIds' must be a list of strings"
    sent = [(one["id"], one["property"]) for spec in inputs for one in (spec if isinstance(spec, list) else [spec])]
    for prop_id in changed:
        component, _, property_name = prop_id.rpartition(".")
        if component.startswith("{"):
            try:
                component = json.loads(component)
            except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
                return f"'changedPropIds': {_shorten(prop_id)} is not an id"
        if (component, property_name) not in sent:
            return f"'changedPropIds': {_shorten(prop_id)} is not one of the inputs"
    return None


def _declared_dependency(dependency: Mapping[str, str]) -> dash.Input:
    """A ``callback_map`` input/state entry (id stringified, wildcards as ``["ALL"]``) as a dependency to compare."""
    component_id: Any = dependency["id"]
    if component_id.startswith("{"):
        component_id = {
            key: Wildcard(value[0]) if isinstance(value, list) else value
            for key, value in json.loads(component_id).items()
        }
    return dash.Input(component_id, dependency["property"])


def _has_wildcard(dependency: DashDependency, wildcards: tuple[Wildcard, ...]) -> bool:
    component_id = dependency.component_id
    return isinstance(component_id, dict) and any(value in wildcards for value in component_id.values())


def _is_component_id(value: Any) -> bool:
    """A string, or a pattern-matching id: an object of strings, numbers and booleans."""
    if isinstance(value, str):
        return True
    return isinstance(value, dict) and bool(value) and all(isinstance(item, _ID_VALUE_TYPES) for item in value.values())


def _shorten(value: Any, limit: int = 60) -> str:
    """A client's value in a message: short, so a 10 kB id does not fill the log."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "…"
