"""The dashboard's one query vocabulary: what each key of a link means, on every page, and its parser.

A copied link reopens the same view, so every control's state lives in the query string, read
through the parsers below and written back with :func:`search`:

============  ==============================================================  ==========================
key           value                                                           pages
============  ==============================================================  ==========================
``runs``      run names, comma-separated (``models`` is read as an older      every page
              spelling, so links made before keep working)
``sweep``     a recorded sweep's name (``python -m analysis sweeps``): its    every page
              runs, when ``runs`` is absent (``runs`` wins when both are)
``depth``     one relative depth in [0, 1] (0 = the first conv layer, 1 =     Redundancy, Explorer
              the output): each run takes its nearest layer
``depths``    two relative depths ``from,to``                                 Edges
``layer``     a layer name (``conv7``, ``fc1``)                                Redundancy, Explorer
``image``     a test image number                                             Explorer
``epoch``     a training epoch (the nearest snapshot is shown)                Evolution
``cluster``   a clicked cluster ``run:layer:c2``                               Edges
``neuron``    a clicked neuron ``run:layer:number``                            Explorer
``diff``      two run names ``a,b``: the pair the diff compares                Review
others        page options (``view``, ``edits``, ``metric``, ``threshold``,   their page
              ``size``, ``stride``, ``neurons``, ``scale``, ``debiased``,
              ``confusion``, ``cost``, ``ablation``)
============  ==============================================================  ==========================

Each parser takes the raw value Dash passes to ``layout(**query)`` — a string, a list when the
key is repeated (the last one wins, as in a browser form), or ``None`` when absent — and returns
``Parsed(value, problem)``: the value to use (the default when absent or refused) and, when
refused, one sentence naming the key and what it accepts, which the page shows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

RUNS_KEY = "runs"
OLD_RUNS_KEY = "models"
SWEEP_KEY = "sweep"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
LAYER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
# A sweep is named by the run-name rules (analysis.runs.store.RUN_NAME_PATTERN); repeated here so the
# vocabulary stays free of the analysis layer's imports.
SWEEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")
SHOWN_CHARACTERS = 40  # a refused value is quoted this far in the message


class Parsed(NamedTuple):
    """A query value ready to use, and why the link's value was refused (``None`` when it was not)."""

    value: Any
    problem: str | None = None


def last(value: Any) -> Any:
    """A repeated query parameter arrives as a list: its last value, as a browser form would send."""
    if isinstance(value, (list, tuple)):
        return value[-1] if value else None
    return value


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 1] + "…"


def runs_value(query: Mapping[str, Any]) -> Any:
    """The raw ``runs`` value of a query (``models``, the older spelling, when ``runs`` is absent)."""
    return query.get(RUNS_KEY, query.get(OLD_RUNS_KEY))


def split_names(value: Any) -> list[str]:
    """``"a,b"``, ``["a", "b,c"]`` (a repeated parameter) → ``["a", "b", "c"]``; blanks and repeats dropped."""
    parts = value if isinstance(value, (list, tuple)) else [value]
    names: list[str] = []
    for part in parts:
        if part is None:
            continue
        for name in str(part).split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return names


def _plain_number(text: str) -> float | None:
    """``"0.5"`` → 0.5; ``None`` for anything but a plain finite decimal (no ``1e-1``, ``inf``, ``nan``)."""
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def parse_number(value: Any, key: str, low: float, high: float, default: float) -> Parsed:
    """A plain decimal in [``low``, ``high``]."""
    value = last(value)
    if value is None:
        return Parsed(default)
    number = _plain_number(str(value).strip())
    if number is None or not low <= number <= high:
        return Parsed(default, f"{key}={_shown(value)} is not a number from {low:g} to {high:g}; using {default:g}.")
    return Parsed(number)


def parse_depth(value: Any, default: float) -> Parsed:
    """``depth``: one relative depth in [0, 1], rounded to 3 decimals."""
    parsed = parse_number(value, "depth", 0.0, 1.0, default)
    return parsed._replace(value=round(float(parsed.value), 3))


def parse_depths(value: Any, default: tuple[float, float]) -> Parsed:
    """``depths``: two relative depths ``from,to`` with 0 ≤ from ≤ to ≤ 1."""
    value = last(value)
    if value is None:
        return Parsed(default)
    parts = [_plain_number(part.strip()) for part in str(value).split(",")]
    if len(parts) != 2 or None in parts or not 0 <= parts[0] <= parts[1] <= 1:
        return Parsed(
            default,
            f"depths={_shown(value)} is not two relative depths from,to with 0 ≤ from ≤ to ≤ 1 (like 0.5,1); "
            f"using {default[0]:g},{default[1]:g}.",
        )
    return Parsed((float(parts[0]), float(parts[1])))


def parse_layer(value: Any) -> Parsed:
    """``layer``: a layer name (letters, digits, ``_ . -``), checked against a run's layers by the page."""
    value = last(value)
    if value is None or str(value).strip() == "":
        return Parsed(None)
    text = str(value).strip()
    if not LAYER_NAME.match(text):
        return Parsed(None, f"layer={_shown(text)} is not a layer name (like conv7 or fc1).")
    return Parsed(text)


def parse_sweep(value: Any) -> Parsed:
    """``sweep``: a sweep's name (letters, digits, ``_ . + -``), checked against the recorded sweeps by
    :func:`app.selection.query_selection`; ``None`` when absent."""
    value = last(value)
    if value is None or str(value).strip() == "":
        return Parsed(None)
    text = str(value).strip()
    if not SWEEP_NAME.match(text) or ".." in text:
        return Parsed(None, f"sweep={_shown(text)} is not a sweep name (letters, digits, '_', '.', '+' or '-').")
    return Parsed(text)


def parse_count(value: Any, key: str, default: int | None, minimum: int = 0, maximum: int | None = None) -> Parsed:
    """A whole number ≥ ``minimum`` (and ≤ ``maximum``): an image number, an epoch."""
    value = last(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return Parsed(default)
    text = str(value).strip()
    number = int(text) if re.fullmatch(r"[+-]?\d{1,12}", text) and not isinstance(value, bool) else None
    if number is None or number < minimum or (maximum is not None and number > maximum):
        allowed = f"{minimum} to {maximum}" if maximum is not None else f"{minimum}, {minimum + 1}, …"
        fallback = "" if default is None else f"; using {default}"
        return Parsed(default, f"{key}={_shown(value)} is not a whole number from {allowed}{fallback}.")
    return Parsed(number)


def parse_choice(value: Any, key: str, choices: Sequence[Any], default: Any) -> Parsed:
    """One of ``choices`` (compared as text, so ``size=8`` picks the choice 8)."""
    value = last(value)
    if value is None:
        return Parsed(default)
    text = str(value).strip()
    for choice in choices:
        if str(choice) == text:
            return Parsed(choice)
    listed = ", ".join(str(c) for c in choices)
    return Parsed(default, f"{key}={_shown(value)} is not one of {listed}; using {default}.")


def parse_flag(value: Any, key: str, default: bool = False) -> Parsed:
    """A yes/no switch: ``1``/``0``, ``true``/``false``, ``yes``/``no``, ``on``/``off``."""
    value = last(value)
    if value is None:
        return Parsed(default)
    word = str(value).strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return Parsed(word in TRUE_WORDS)
    return Parsed(default, f"{key}={_shown(value)} is not one of 1, 0, true, false; using {int(default)}.")


def format_number(value: float) -> str:
    """A depth or threshold as the link writes it: ``0.5``, ``0.25``, ``1``."""
    return f"{round(float(value), 3):g}"


def search(params: Mapping[str, Any], safe: str = ",:~") -> str:
    """The query string for ``params`` (``?runs=a,b&depth=0.5``): lists joined by commas, floats
    written short, booleans as 1/0, ``None`` left out (an empty string or list is kept: ``runs=``
    means "no run", not "every run")."""
    encoded: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            encoded[key] = str(int(value))
        elif isinstance(value, float):
            encoded[key] = format_number(value)
        elif isinstance(value, (list, tuple)):
            encoded[key] = ",".join(format_number(v) if isinstance(v, float) else str(v) for v in value)
        else:
            encoded[key] = str(value)
    return "?" + urlencode(encoded, safe=safe, quote_via=quote)


def problems_of(*parsed: Parsed) -> list[str]:
    """The refusals among ``parsed``, in order."""
    return [p.problem for p in parsed if p.problem]


def nearest_layer(depths: Sequence[float], depth: float) -> int:
    """What ``depth=`` means for one run: the index of its layer whose relative depth is nearest ``depth``
    (the shallower one on a tie; depths run input side first). ValueError for a run without layers."""
    if not depths:
        raise ValueError("a run without analysable layers")
    return min(range(len(depths)), key=lambda i: (round(abs(float(depths[i]) - depth), 9), i))
