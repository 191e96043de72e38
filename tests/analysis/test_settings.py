"""The environment variables: read in one place, and the README's table lists exactly those."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analysis.settings import VARIABLES, SettingsError, load_locations, read

ROOT = Path(__file__).resolve().parents[2]


def test_readme_table_lists_exactly_the_variables_the_project_reads():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("| variable | default | meaning |", 1)[1].split("\n\n", 1)[0]
    listed = set(
        re.findall(
            r"`([A-Z][A-Z0-9_]+)`", "\n".join(line.split("|")[1] for line in table.splitlines() if line.startswith("|"))
        )
    )
    assert listed == {variable.name for variable in VARIABLES}


def test_no_module_but_settings_reads_the_environment():
    readers = []
    for package in ("analysis", "app", "model_zoo"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name != "settings.py" and re.search(r"(?<!`)\bos\.(environ|getenv)\b(?!`)", path.read_text()):
                readers.append(str(path.relative_to(ROOT)))
    assert readers == []


def test_defaults_and_checks():
    assert read("CNNCMP_RUNS_DIR", {}) == "runs" and read("CNNCMP_RUNS_DIR", {"CNNCMP_RUNS_DIR": "  "}) == "runs"
    locations = load_locations({"CNNCMP_DATA_DIR": " /data ", "REDIS_URL": "redis://r:6379/0"})
    assert locations.data_dir == Path("/data") and locations.analysis_cache == "redis://r:6379/0"
    assert load_locations({}).analysis_cache == "cache"
    with pytest.raises(SettingsError, match="REDIS_URL"):
        load_locations({"REDIS_URL": "r:6379"})
    with pytest.raises(KeyError, match="NOT_OURS"):
        read("NOT_OURS", {})
