"""The batch runner: quick/full parameters, results table, and a failing notebook named with its cell."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from helpers import runner


def write_notebook(path: Path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("QUICK = True\nEPOCHS = None\nDEVICE = 'auto'\nSEED = 0\nDATA_DIR = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_find_notebooks_orders_course_then_solutions_and_filters(tmp_path):
    for rel in ["course/01_b.ipynb", "course/00_a.ipynb", "solutions/02_lab.ipynb", "labs/02_lab.ipynb", "course/notes.ipynb"]:
        write_notebook(tmp_path / rel, "pass")
    names = [p.relative_to(tmp_path).as_posix() for p in runner.find_notebooks(tmp_path)]
    assert names == ["course/00_a.ipynb", "course/01_b.ipynb", "solutions/02_lab.ipynb"]
    assert [p.name for p in runner.find_notebooks(tmp_path, "01")] == ["01_b.ipynb"]
    assert [p.name for p in runner.find_notebooks(tmp_path, "solutions/*")] == ["02_lab.ipynb"]


def test_runner_writes_executed_copies_and_results_table(tmp_path, capsys):
    body = (
        "import os, pathlib\n"
        "from helpers.results import record\n"
        "record(quick=QUICK, epochs=EPOCHS, device=DEVICE, cwd=pathlib.Path.cwd().name)\n"
    )
    write_notebook(tmp_path / "course" / "00_ok.ipynb", body)
    write_notebook(tmp_path / "course" / "01_broken.ipynb", "x = 1\nraise ValueError('the lesson broke here')")
    out = tmp_path / "build"
    code = runner.main(["--full", "--epochs", "2", "--device", "cpu", "--out", str(out)], root=tmp_path)
    assert code == 1
    assert (out / "executed" / "course" / "00_ok.ipynb").exists()
    table = json.loads((out / "results.json").read_text())
    assert table["mode"] == "full"
    ok, broken = table["notebooks"]
    assert ok["status"] == "ok" and ok["device"] == "cpu"
    # parameters reached the notebook, and it ran from its own folder
    assert ok["numbers"] == {"quick": False, "epochs": 2, "cwd": "course"}
    assert broken["status"] == "failed"
    assert "ValueError: the lesson broke here" in broken["error"] and "cell" in broken["error"]
    md = (out / "results.md").read_text()
    assert "| notebook | status | seconds | device | key numbers |" in md and "1 failed" in md
    assert "FAILED: " in capsys.readouterr().err


def test_runner_only_with_no_match_exits_2(tmp_path):
    (tmp_path / "course").mkdir()
    assert runner.main(["--only", "nothing-matches"], root=tmp_path) == 2
