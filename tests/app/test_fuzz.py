"""Bad input: malformed query strings and callback bodies sent to every page and callback never give a 5xx,
and the app opens no file outside its folders while answering them.

Flask's test client, no browser. A page's GET returns only the shell; Dash renders the page itself
in its router callback (``_pages_location`` pathname and search in, ``_pages_content`` out), so the
malformed query goes to both. Each fuzzing run sends a fixed number of requests (hypothesis with a
fixed ``max_examples``, derandomized), collects every 5xx with what was sent, and fails once at the
end listing them all. An audit hook records every file the app opens, lists or creates meanwhile.
"""

from __future__ import annotations

import json
import os
import site
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import dash
import pytest
from dash._utils import stringify_id  # the renderer's id format, which changedPropIds use
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

# app.main first: it builds the module-level app, which registers the pages.
import app.main
from app.config import Settings
from app.main import create_app

UPDATE_PATH = "/_dash-update-component"
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."
REPO_ROOT = Path(app.main.__file__).resolve().parents[1]  # the app's code and assets, the venv inside it
#: Besides the app's own folders, what answering a request may read: Python, the system, the temporary folder.
PYTHON_ROOTS = sorted(
    {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages())}
)
SYSTEM_ROOTS = [Path("/proc"), Path("/dev"), Path("/sys"), Path("/usr"), Path("/etc/localtime").resolve()]
TEMP_ROOT = Path(tempfile.gettempdir()).resolve()
PAGE_PATHS = [page["path"] for page in dash.page_registry.values()]
QUICK_RUN = "base-quick-synthetic"

#: A run name no runs folder holds: a file path containing it means a client's text reached the file system.
MARKER = "zz-fuzz-probe"
QUERY_EXAMPLES = 12  # per page, each a GET and a router request
CALLBACK_EXAMPLES = 20  # per callback
ROUTE_EXAMPLES = 5  # per plain Flask route (/report builds a whole document)
#: Derandomized, no example database (nothing written into the repository), no shrinking (nothing fails inside).
FUZZ_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

QUERY_KEYS = (
    "models",
    "run",
    "layer",
    "depth",
    "epoch",
    "image",
    "metric",
    "view",
    "edits",
    "cluster",
    "confusion",
    "threshold",
    "size",
    "stride",
    "a",
    "b",
    "debiased",
    "neuron",
    "scale",
)
NASTY_TEXTS = (
    "",
    " ",
    MARKER,
    QUICK_RUN,
    f"{QUICK_RUN},{MARKER}",
    f"{QUICK_RUN},,{QUICK_RUN}",
    "1e308",
    "-1e308",
    "-1",
    "0",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1.5",
    "9" * 40,
    "[1, 2]",
    '{"a": 1}',
    "null",
    "true",
    "../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "..\\..\\etc\\passwd",
    "/etc/passwd",
    f"../{MARKER}",
    f"/tmp/{MARKER}",
    "\x00",
    f"{MARKER}\x00.json",
    "ünïcødé ✓ 模型 🧠",
    "<script>alert(1)</script>",
    ",,,",
    "%",
    "%zz",
    "data:image/png;base64,",
    "data:image/png;base64,!!!!",
    "data:text/plain;base64,aGVsbG8=",
    "x" * 10_000,
    ",".join([QUICK_RUN] * 500),
)
#: Query strings as a browser never encodes them: bare percent signs, encoded traversal and NUL, empty keys.
RAW_QUERIES = (
    "",
    "&",
    "&&==&",
    "=",
    "=x",
    "models",
    "models=",
    "models=%",
    "models=%zz",
    "models=%00",
    "models=%C0%AF",
    "models=..%2f..%2fetc%2fpasswd",
    "run=..%2F..%2F..%2Fetc%2Fpasswd",
    "image=%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "models=a&models=b&models=c",
    "depth=1e308&depth=-1&depth=NaN",
    "layer=inf&epoch=-inf&image=-1",
    "models[]=a&models[0]=b",
    "edits=%7B%22x%22%3A1%7D",
    "view=%3Cscript%3E",
    f"models={MARKER}%00",
)

#: Values for pattern-matching id keys (MATCH/ALL) in an otherwise well-formed request.
ID_VALUES = st.one_of(
    st.sampled_from([QUICK_RUN, "shallow-quick-synthetic", MARKER, "png", "svg", 0, 1, -1]),
    st.text(max_size=10),
    st.integers(),
)
#: What a component's property could be sent as: anything JSON holds, the nasty texts, a few plausible values.
JUNK = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(NASTY_TEXTS)
    | st.sampled_from(
        [
            QUICK_RUN,
            [QUICK_RUN],
            [QUICK_RUN, "shallow-quick-synthetic"],
            [MARKER],
            [MARKER] * 5000,
            list(range(5000)),
            0,
            1,
            0.5,
            "png",
        ]
    ),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=8,
)
#: Ids no layout holds: wildcards sent as values, nested objects, wrong types.
GARBAGE_IDS = st.sampled_from(
    [
        None,
        5,
        1.5,
        True,
        [],
        ["MATCH"],
        {},
        {"type": ["MATCH"]},
        {"type": ["ALL"], "run": QUICK_RUN},
        {"run": {"a": 1}},
        {"run": None, "type": "edges-graph"},
        {"": ""},
        "",
        MARKER,
        "../../etc/passwd",
        "x" * 10_000,
    ]
) | st.dictionaries(st.text(max_size=5), JUNK, max_size=3)
#: Bodies that are not a callback request at all.
RAW_BODIES = st.sampled_from(
    [
        b"",
        b" ",
        b"{",
        b"}",
        b"null",
        b"[]",
        b'"output"',
        b"1",
        b"{}",
        b"[{}]",
        b"\xff\xfe\x00",
        b'{"output": ',
        b"[" * 50_000,
        b'{"output": ' + b"[" * 50_000,
        b"output=x&inputs=y",
        b'{"output": "x"}' * 3,
    ]
) | st.binary(max_size=200)
#: changedPropIds naming no input of the request: cut JSON, pattern ids no layout holds, nested past the JSON parser.
CHANGED_PROP_IDS = [
    '{"x":',
    '{"run": 1}.value',
    "{}.value",
    MARKER,
    ".",
    "..",
    '{"type": ["ALL"]}.n_clicks',
    '{"a":' + "[" * 50_000 + ".value",
]
CONTENT_TYPES = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""])

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
#: Audit events that create, change or remove files (the path first; os.rename's second is one too), and
#: sqlite3.connect, which opens a database for writing.
WRITE_EVENTS = frozenset(
    {"os.mkdir", "os.remove", "os.rmdir", "os.rename", "os.truncate", "shutil.rmtree", "sqlite3.connect"}
)
READ_EVENTS = frozenset({"os.listdir", "os.scandir"})


# -- watching the file system ----------------------------------------------------------------------
@dataclass
class FileAccess:
    event: str
    path: str  # absolute, as the app named it; resolved when checked, so the hook stays cheap
    write: bool


class FileAccessLog:
    """An audit hook's record of the files opened, listed and changed while :meth:`recording`.

    ``sys.addaudithook`` cannot be undone, so one hook is added per process and stays a no-op
    outside :meth:`recording`.
    """

    def __init__(self) -> None:
        self.active = False
        self.installed = False
        self.accesses: list[FileAccess] = []

    def install(self) -> None:
        if not self.installed:
            sys.addaudithook(self._hook)
            self.installed = True

    @contextmanager
    def recording(self) -> Iterator[None]:
        self.active = True
        try:
            yield
        finally:
            self.active = False

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        if event == "open":
            paths, mode, flags = args[:1], args[1], args[2]
            write = bool(mode and any(letter in mode for letter in "wax+")) or bool((flags or 0) & WRITE_FLAGS)
        elif event in READ_EVENTS or event in WRITE_EVENTS:
            paths, write = args[:2] if event == "os.rename" else args[:1], event in WRITE_EVENTS
        else:
            return
        for path in paths:
            if path is None or isinstance(path, int):  # the current folder, or an open file descriptor
                path = "."
            try:
                text = os.fsdecode(os.fspath(path))
            except TypeError:
                text = repr(path)
            if text in ("", ":memory:"):  # sqlite's private in-memory and temporary databases
                continue
            self.accesses.append(FileAccess(event, os.path.abspath(text) if "\x00" not in text else text, write))


FILE_LOG = FileAccessLog()


def is_inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def file_access_problems(accesses: list[FileAccess], target: FuzzTarget) -> list[str]:
    """The accesses outside the folders the app may read (or write), or naming what a client sent.

    The test's folders lie in the temporary folder, where a path climbing out of the runs folder
    (``runs/../../x``) would land: inside pytest's own temporary folder only the app's three count.
    """
    app_folders = [target.runs_dir, target.cache_dir, target.data_dir]
    read_roots = [*app_folders, REPO_ROOT, *PYTHON_ROOTS, *SYSTEM_ROOTS, TEMP_ROOT]
    write_roots = [target.cache_dir, TEMP_ROOT]
    read_only = [target.runs_dir, target.data_dir]
    problems = []
    for access in accesses:
        if "\x00" in access.path:
            problems.append(f"{access.event} of a path with a NUL byte: {access.path[:200]!r}")
            continue
        if MARKER in access.path or "passwd" in access.path:
            problems.append(f"{access.event} of a path built from a request: {access.path[:200]}")
            continue
        resolved = Path(access.path).resolve()
        if not is_inside(resolved, read_roots) or (
            is_inside(resolved, [target.test_folder]) and not is_inside(resolved, app_folders)
        ):
            problems.append(f"{access.event} outside the allowed folders: {resolved}")
        elif access.write and (not is_inside(resolved, write_roots) or is_inside(resolved, read_only)):
            problems.append(f"{access.event} writes outside the cache and temporary folders: {resolved}")
    return sorted(set(problems))


# -- the app under fuzzing -------------------------------------------------------------------------
@dataclass
class FuzzTarget:
    """One app over the analysed runs, its test client, and what the fuzzing found."""

    dash_app: dash.Dash
    client: Any
    runs_dir: Path
    cache_dir: Path
    data_dir: Path
    test_folder: Path  # pytest's temporary folder, which holds the three above
    sent: int = 0
    server_errors: list[str] = field(default_factory=list)

    def send(self, description: str, call: Callable[[], Any]) -> Any:
        """Make one request while recording file access; note it when it answers 5xx."""
        with FILE_LOG.recording():
            response = call()
        self.sent += 1
        if response.status_code >= 500:
            self.server_errors.append(f"{response.status_code} for {description[:400]}")
        return response

    def post_callback(self, body: Any, description: str = "") -> Any:
        return self.send(description or brief(body), lambda: self.client.post(UPDATE_PATH, json=body))

    def post_raw(self, data: bytes, content_type: str) -> Any:
        return self.send(
            f"raw body {data[:200]!r} as {content_type!r}",
            lambda: self.client.post(UPDATE_PATH, data=data, content_type=content_type),
        )


@pytest.fixture(scope="module")
def target(analysed_runs, tmp_path_factory) -> FuzzTarget:
    runs_dir, cache_dir = analysed_runs
    data_dir = tmp_path_factory.mktemp("fuzz_data")
    dash_app = create_app(Settings(runs_dir=str(runs_dir), cache_dir=cache_dir, data_dir=data_dir))
    client = dash_app.server.test_client()
    assert client.get("/").status_code == 200  # the first request: Dash adds its page router to callback_map
    FILE_LOG.install()
    return FuzzTarget(
        dash_app,
        client,
        Path(runs_dir).resolve(),
        Path(cache_dir).resolve(),
        data_dir.resolve(),
        tmp_path_factory.getbasetemp().resolve(),
    )


@pytest.fixture
def fuzzing(target: FuzzTarget) -> FuzzTarget:
    """The target with a fresh tally of requests, 5xx answers and file accesses."""
    FILE_LOG.accesses.clear()
    target.sent, target.server_errors = 0, []
    return target


def assert_no_server_errors_nor_stray_files(target: FuzzTarget) -> None:
    assert not target.server_errors, (
        f"{len(target.server_errors)} of {target.sent} requests failed on the server:\n"
        + "\n".join(target.server_errors[:30])
    )
    problems = file_access_problems(FILE_LOG.accesses, target)
    assert not problems, "\n".join(problems[:30])


def brief(value: Any) -> str:
    """``value`` as JSON with long strings and lists cut, so a failure report shows the shape of what was sent."""

    def cut(item: Any) -> Any:
        if isinstance(item, str) and len(item) > 40:
            return f"{item[:20]}…({len(item)} chars)"
        if isinstance(item, int) and abs(item) > 10**40:
            return f"<a {len(str(abs(item)))}-digit number>"
        if isinstance(item, list):
            return [cut(one) for one in item[:5]] + ([f"…({len(item)} items)"] if len(item) > 5 else [])
        if isinstance(item, dict):
            return {key: cut(one) for key, one in item.items()}
        return item

    return json.dumps(cut(value), default=str, ensure_ascii=False)


def router_body(pathname: Any, search: Any) -> dict[str, Any]:
    """What the renderer posts when the address changes: Dash renders the page for ``pathname`` + ``search``."""
    return {
        "output": ROUTER_OUTPUT,
        "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": pathname},
            {"id": "_pages_location", "property": "search", "value": search},
        ],
        "changedPropIds": ["_pages_location.pathname"],
    }


# -- generating requests ---------------------------------------------------------------------------
query_values = st.one_of(
    st.sampled_from(NASTY_TEXTS), st.text(max_size=30), st.integers().map(str), st.floats().map(repr)
)
query_keys = st.one_of(st.sampled_from(QUERY_KEYS), st.text(max_size=12))
encoded_queries = st.lists(st.tuples(query_keys, query_values), max_size=6).map(urlencode)
queries = st.one_of(
    encoded_queries,
    st.sampled_from(RAW_QUERIES),
    st.tuples(st.sampled_from(RAW_QUERIES), encoded_queries).map("&".join),
)


def concrete_id(declared: Any, draw: Callable) -> Any:
    """A component id fitting a declared one: its wildcards (``["MATCH"]`` or ``MATCH``) replaced by values."""
    if isinstance(declared, str) and declared.startswith("{"):
        declared = json.loads(declared)
    if not isinstance(declared, dict):
        return declared
    return {
        key: draw(ID_VALUES) if isinstance(value, (list, dash.dependencies.Wildcard)) else value
        for key, value in declared.items()
    }


def takes_list(declared: Any) -> bool:
    """Whether a declared id holds ALL or ALLSMALLER: the request then sends a list of components."""
    if isinstance(declared, str) and declared.startswith("{"):
        return any(value in (["ALL"], ["ALLSMALLER"]) for value in json.loads(declared).values())
    return isinstance(declared, dict) and any(value in (dash.ALL, dash.ALLSMALLER) for value in declared.values())


def dependency_specs(declared_id: Any, property_name: str, draw: Callable, value: bool) -> Any:
    def one() -> dict[str, Any]:
        spec = {"id": concrete_id(declared_id, draw), "property": property_name}
        if value:
            spec["value"] = draw(JUNK)
        return spec

    if takes_list(declared_id):
        return [one() for _ in range(draw(st.integers(0, 3)))]
    return one()


def well_formed_body(draw: Callable, output: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A request shaped as the renderer sends it for ``output``, with junk values."""
    body: dict[str, Any] = {
        "output": output,
        "inputs": [dependency_specs(dep["id"], dep["property"], draw, True) for dep in entry["inputs"]],
        "state": [dependency_specs(dep["id"], dep["property"], draw, True) for dep in entry["state"]],
    }
    declared = entry["output"]
    outputs = [
        dependency_specs(out.component_id, out.component_property, draw, False)
        for out in (declared if isinstance(declared, (list, tuple)) else [declared])
    ]
    body["outputs"] = outputs if isinstance(declared, (list, tuple)) else outputs[0]
    sent = [spec for item in body["inputs"] for spec in (item if isinstance(item, list) else [item])]
    prop_ids = [f"{stringify_id(spec['id'])}.{spec['property']}" for spec in sent]
    body["changedPropIds"] = draw(st.lists(st.sampled_from(prop_ids), max_size=2, unique=True)) if prop_ids else []
    return body


INPUT_MUTATIONS = ("drop input", "junk input", "garbage id", "junk property")  # need an input to change
MUTATIONS = (
    "drop key",
    "junk key",
    "extra input",
    "unknown output",
    "other callback's output",
    "junk outputs",
    "junk changedPropIds",
    *INPUT_MUTATIONS,
)


def mutate(draw: Callable, body: dict[str, Any], outputs: list[str]) -> tuple[str, dict[str, Any]]:
    """One structural mistake in a well-formed body."""
    inputs = body["inputs"]
    mutation = draw(st.sampled_from(MUTATIONS if inputs else [m for m in MUTATIONS if m not in INPUT_MUTATIONS]))
    keys = st.sampled_from(["output", "outputs", "inputs", "state", "changedPropIds"])
    if mutation == "drop key":
        body.pop(draw(keys), None)
    elif mutation == "junk key":
        body[draw(keys)] = draw(JUNK)
    elif mutation == "drop input":
        inputs.pop()
    elif mutation == "extra input":
        inputs.append({"id": draw(GARBAGE_IDS), "property": "value", "value": draw(JUNK)})
    elif mutation in INPUT_MUTATIONS:
        index = draw(st.integers(0, len(inputs) - 1))
        item = inputs[index]
        if mutation == "junk input" or not isinstance(item, dict):
            inputs[index] = draw(JUNK)
        elif mutation == "garbage id":
            item["id"] = draw(GARBAGE_IDS)
        else:
            item["property"] = draw(JUNK)
    elif mutation == "unknown output":
        body["output"] = draw(
            st.sampled_from([MARKER, "", ".", "...", "..a.b...c.d..", body["output"] + "x"]) | st.text(max_size=40)
        )
    elif mutation == "other callback's output":
        body["output"] = draw(st.sampled_from(outputs))
    elif mutation == "junk outputs":
        body["outputs"] = draw(st.one_of(JUNK, st.lists(GARBAGE_IDS.map(lambda id_: {"id": id_, "property": "x"}))))
    else:
        body["changedPropIds"] = draw(st.lists(st.sampled_from(CHANGED_PROP_IDS), max_size=3))
    return mutation, body


# -- the tests -------------------------------------------------------------------------------------
def test_well_formed_requests_reach_the_pages(fuzzing: FuzzTarget):
    """Before fuzzing: the router renders every page (200), and the guard lets the renderer's own shape through."""
    for path in PAGE_PATHS:
        response = fuzzing.post_callback(router_body(path, ""))
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
        assert "_pages_content" in response.get_json()["response"]
    overview = next(key for key in fuzzing.dash_app.callback_map if key.startswith("..overview-banner.children"))
    body = {
        "output": overview,
        "outputs": [
            {"id": out.component_id, "property": out.component_property}
            for out in fuzzing.dash_app.callback_map[overview]["output"]
        ],
        "inputs": [
            {"id": "overview-models", "property": "value", "value": [QUICK_RUN]},
            {"id": "overview-confusion-run", "property": "value", "value": QUICK_RUN},
        ],
        "changedPropIds": ["overview-models.value"],
        "parsedChangedPropsIds": ["overview-models.value"],
    }
    response = fuzzing.post_callback(body)
    assert response.status_code == 200 and QUICK_RUN in response.get_data(as_text=True)
    # The audit hook sees the pages read the runs (else the fuzzing tests' file checks would prove nothing).
    assert any(Path(access.path).is_relative_to(fuzzing.runs_dir) for access in FILE_LOG.accesses)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([1, 2], "JSON object"),
        ({"output": "no-such.children", "inputs": []}, "no callback"),
        (
            {
                "output": "_pages_dummy.children",
                "outputs": {"id": "_pages_dummy", "property": "children"},
                "inputs": [{"id": "_pages_store", "property": "data", "value": {}}],
            },
            "runs in the browser",
        ),
        (router_body("/", "") | {"inputs": 5}, "'inputs' must be a list of 2"),
        (router_body(5, ""), "must be a string"),
        (router_body("png", ""), "not under this app's path"),
        (router_body("/", "") | {"changedPropIds": ['{"x":.value']}, "not an id"),
        (router_body("/", "") | {"changedPropIds": ['{"a":' + "[" * 50_000 + ".value"]}, "not an id"),
        (router_body("/", "") | {"outputs": {"id": "_pages_content", "property": "children"}}, "list of 2 outputs"),
    ],
)
def test_the_guard_refuses_malformed_bodies_with_a_reason(fuzzing: FuzzTarget, body: Any, reason: str):
    response = fuzzing.post_callback(body)
    assert response.status_code == 400 and response.mimetype == "text/plain"
    assert reason in response.get_data(as_text=True)


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_pages_take_malformed_query_strings(fuzzing: FuzzTarget, path: str):
    """Each page, by GET and rendered by the router, with ``QUERY_EXAMPLES`` malformed query strings."""

    @settings(FUZZ_SETTINGS, max_examples=QUERY_EXAMPLES)
    @given(query=queries, search_prefix=st.sampled_from(["?", "?", "?", "", "??", "#"]))
    def send(query: str, search_prefix: str) -> None:
        fuzzing.send(f"GET {path}?{brief(query)}", lambda: fuzzing.client.get(path, query_string=query))
        fuzzing.post_callback(router_body(path, search_prefix + query), f"router {path} {brief(search_prefix + query)}")

    send()
    assert fuzzing.sent == 2 * QUERY_EXAMPLES
    assert_no_server_errors_nor_stray_files(fuzzing)


@pytest.mark.parametrize("path", ["/report", "/health"])
def test_flask_routes_take_malformed_query_strings(fuzzing: FuzzTarget, path: str):
    """The download and the health check read the query too (``/report?models=…``)."""

    @settings(FUZZ_SETTINGS, max_examples=ROUTE_EXAMPLES)
    @given(query=queries)
    def send(query: str) -> None:
        fuzzing.send(f"GET {path}?{brief(query)}", lambda: fuzzing.client.get(path, query_string=query))

    send()
    assert fuzzing.sent == ROUTE_EXAMPLES
    assert_no_server_errors_nor_stray_files(fuzzing)


def test_callbacks_take_malformed_bodies(fuzzing: FuzzTarget):
    """Every callback but the background ones (posting those starts a job), ``CALLBACK_EXAMPLES`` bodies each:
    well-formed with junk values, one structural mistake, or not a callback request at all."""
    callback_map = fuzzing.dash_app.callback_map
    outputs = [output for output, entry in callback_map.items() if not entry.get("background")]
    assert ROUTER_OUTPUT in outputs and len(outputs) < len(callback_map)  # the router is fuzzed, run_job is not
    refused_well_formed: list[str] = []

    def sender(output: str) -> Callable[[], None]:
        """One hypothesis test per callback (a factory, since @given refuses default arguments)."""
        entry = callback_map[output]
        server_side = callable(entry.get("callback"))

        @settings(FUZZ_SETTINGS, max_examples=CALLBACK_EXAMPLES)
        @given(data=st.data())
        def send(data: st.DataObject) -> None:
            kind = data.draw(st.sampled_from(["well-formed", "well-formed", "mutated", "mutated", "raw"]), label="kind")
            if kind == "raw":
                fuzzing.post_raw(data.draw(RAW_BODIES), data.draw(CONTENT_TYPES))
                return
            body = well_formed_body(data.draw, output, entry)
            if kind == "mutated":
                kind, body = mutate(data.draw, body, outputs)
            response = fuzzing.post_callback(body, f"{kind}: {brief(body)}")
            # The guard judges shapes, not values; only the router's address is judged (strings, under the app).
            if kind == "well-formed" and server_side and output != ROUTER_OUTPUT and response.status_code == 400:
                refused_well_formed.append(f"{output}: {response.get_data(as_text=True)}")

        return send

    for output in outputs:
        sender(output)()

    assert fuzzing.sent == CALLBACK_EXAMPLES * len(outputs)
    assert_no_server_errors_nor_stray_files(fuzzing)
    assert not refused_well_formed, "\n".join(refused_well_formed[:20])
