"""The notebook conventions, and every lesson and solution notebook executed in quick mode.

Each notebook runs with papermill from its own folder with ``QUICK=True, EPOCHS=1``, exactly as
``python -m helpers.runner --epochs 1`` would run it (through the runner's ``execute_notebook``, so the kernel
gets ``COURSE_HEADLESS=1`` and widget cells draw static figures), so a lesson that breaks fails CI.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import pytest

from helpers.common import REPO_ROOT
from helpers.publish import read_settings, setup_cell
from helpers.runner import execute_notebook, find_notebooks

FOLDERS = ("course", "labs", "solutions")
ALL_NOTEBOOKS = sorted(p for folder in FOLDERS for p in (REPO_ROOT / folder).glob("*.ipynb"))
RUNNABLE = find_notebooks(REPO_ROOT)
REQUIRED_PARAMETERS = {"QUICK", "EPOCHS", "DEVICE", "SEED", "DATA_DIR"}
SETUP_CELL = setup_cell(read_settings())  # helpers.publish writes it from pyproject.toml's address


def ids(paths):
    return [p.relative_to(REPO_ROOT).as_posix() for p in paths]


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_notebooks_to_check():
    assert (REPO_ROOT / "course" / "00_setup.ipynb") in ALL_NOTEBOOKS
    assert RUNNABLE, "no notebooks found in course/ or solutions/"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=ids(ALL_NOTEBOOKS))
def test_notebook_is_clean_and_follows_the_conventions(path: Path):
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), f"{path.name}: name it NN_snake_case.ipynb"
    raw = json.loads(path.read_text(encoding="utf-8"))
    nb = nbformat.reads(json.dumps(raw), as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name}: cell {i} has stored outputs (clear them before committing)"
            assert cell.execution_count is None, f"{path.name}: cell {i} has an execution count"
            if re.search(r"^\s*(import|from) ipywidgets\b", cell.source, flags=re.MULTILINE):
                assert "is_headless()" in cell.source, (
                    f"{path.name}: cell {i} creates widgets; under papermill, nbval and the runner draw a static "
                    "figure instead (`if helpers.common.is_headless(): ...`), a widget cell can hang a headless run"
                )
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernelspec must be python3"
    assert nb.metadata.get("language_info", {}).get("name") == "python", f"{path.name}: language_info missing"
    assert nb.cells and nb.cells[0].cell_type == "markdown" and nb.cells[0].source.lstrip().startswith("#"), (
        f"{path.name}: the first cell should be a markdown title"
    )

    cells = code_cells(nb)
    first = cells[0]
    assert "parameters" in first.metadata.get("tags", []), f"{path.name}: the first code cell must be tagged 'parameters'"
    assigned = {t.id for node in ast.parse(first.source).body if isinstance(node, ast.Assign) for t in node.targets
                if isinstance(t, ast.Name)}
    missing = REQUIRED_PARAMETERS - assigned
    assert not missing, f"{path.name}: the parameters cell lacks {sorted(missing)}"
    assert cells[1].source.strip() == SETUP_CELL, f"{path.name}: the second code cell must be the standard setup cell"


@pytest.mark.notebook
@pytest.mark.parametrize("path", RUNNABLE, ids=ids(RUNNABLE))
def test_notebook_runs_in_quick_mode(path: Path, tmp_path_factory):
    rel = path.relative_to(REPO_ROOT)
    # one folder for the session: tests/test_site.py builds the site from the executed lesson 02 left here
    executed = tmp_path_factory.getbasetemp() / "executed-notebooks" / rel
    result = execute_notebook(
        path,
        executed,
        {"QUICK": True, "EPOCHS": 1, "DEVICE": "cpu"},
        executed.with_suffix(".json"),
        cell_timeout=600,
    )
    assert result.status == "ok", f"{rel} failed in {result.error} (executed copy: {executed})"
    assert result.device.startswith("cpu"), "setup_notebook() should have recorded the device"
