"""The batch runner: quick/full parameters, results table, a quiet terminal, and failures named with their cell."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from helpers import runner
from helpers.common import HEADLESS_ENV, PROGRESS_ENV
from helpers.results import RESULTS_ENV


def write_notebook(path: Path, *bodies: str, kernelspec: bool = True) -> None:
    """A notebook: a title, the parameters cell, then one code cell per body (cell indexes 2, 3, ...)."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("QUICK = True\nEPOCHS = None\nDEVICE = 'auto'\nSEED = 0\nDATA_DIR = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), params] + [nbformat.v4.new_code_cell(b) for b in bodies]
    if kernelspec:
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def run_one(tmp_path: Path, *bodies: str, cell_timeout: int = 60, **kwargs) -> runner.NotebookResult:
    notebook = tmp_path / "course" / "00_one.ipynb"
    write_notebook(notebook, *bodies, **kwargs)
    return runner.execute_notebook(notebook, tmp_path / "out" / "00_one.ipynb", {"QUICK": True},
                                   tmp_path / "out" / "recorded.json", cell_timeout=cell_timeout)


def test_find_notebooks_orders_course_then_solutions_and_filters(tmp_path):
    for rel in ["course/01_b.ipynb", "course/00_a.ipynb", "solutions/02_lab.ipynb", "labs/02_lab.ipynb", "course/notes.ipynb"]:
        write_notebook(tmp_path / rel, "pass")
    names = [p.relative_to(tmp_path).as_posix() for p in runner.find_notebooks(tmp_path)]
    assert names == ["course/00_a.ipynb", "course/01_b.ipynb", "solutions/02_lab.ipynb"]
    assert [p.name for p in runner.find_notebooks(tmp_path, "01")] == ["01_b.ipynb"]
    assert [p.name for p in runner.find_notebooks(tmp_path, "solutions/*")] == ["02_lab.ipynb"]


@pytest.mark.slow
def test_runner_writes_executed_copies_and_results_table(tmp_path, capsys):
    body = (
        "import os, pathlib\n"
        "from helpers.results import record\n"
        "record(quick=QUICK, epochs=EPOCHS, device=DEVICE, cwd=pathlib.Path.cwd().name)\n"
    )
    write_notebook(tmp_path / "course" / "00_ok.ipynb", body)
    write_notebook(tmp_path / "course" / "01_broken.ipynb", "x = 1", "# the lesson\nraise ValueError('the lesson broke here')")
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
    # the cell is named by its index in the stored notebook (papermill's injected cell not counted) and first line
    assert broken["error"] == "cell 3 (`raise ValueError('the lesson broke here')`): ValueError: the lesson broke here"
    md = (out / "results.md").read_text()
    assert "| notebook | status | seconds | device | key numbers |" in md and "1 failed" in md
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[1].startswith("[1/2] course/00_ok.ipynb ... ok in ") and "quick=False" in lines[1]
    assert lines[2].startswith("[2/2] course/01_broken.ipynb ... FAILED after ") and "cell 3" in lines[2]
    assert len(lines) == 4, "one header line, one line per notebook, one summary line"
    assert "FAILED: course/01_broken.ipynb: cell 3" in captured.err


def test_kernel_is_headless_and_the_callers_environment_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    monkeypatch.delenv(HEADLESS_ENV, raising=False)
    before = dict(os.environ)
    body = ("import os\nfrom helpers.common import is_headless\nfrom helpers.results import record\n"
            f"record(headless=is_headless(), progress=os.environ.get({PROGRESS_ENV!r}, 'unset'))")
    result = run_one(tmp_path, body)
    assert result.status == "ok", result.error
    assert result.numbers == {"headless": True, "progress": "text"}
    assert dict(os.environ) == before
    assert RESULTS_ENV not in os.environ


def test_a_readers_progress_choice_reaches_the_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv(PROGRESS_ENV, "off")
    result = run_one(tmp_path, f"import os\nfrom helpers.results import record\nrecord(progress=os.environ[{PROGRESS_ENV!r}])")
    assert result.numbers == {"progress": "off"}
    assert os.environ[PROGRESS_ENV] == "off"


def test_kernel_terminal_output_goes_to_its_log_not_the_runners_terminal(tmp_path, capfd):
    pytest.importorskip("cv2")
    body = ("import os, cv2\nassert cv2.imread('no_such_file.png') is None\n"
            "os.write(2, b'native library says hello\\n')")
    result = run_one(tmp_path, body)
    assert result.status == "ok", result.error
    terminal = capfd.readouterr()
    for noise in ("findDecoder", "native library says hello", "without encryption", "IPKernelApp"):
        assert noise not in terminal.out + terminal.err
    log = (tmp_path / "out" / "00_one.log").read_text()
    assert "native library says hello" in log and "findDecoder" in log  # kept, where a person can look
    import zmq
    from jupyter_client import KernelManager

    if zmq.has("curve") and KernelManager().has_trait("transport_encryption"):
        assert "without encryption" not in log  # the kernel's connection is encrypted, so ipykernel has no warning


def test_a_dead_kernel_is_reported_as_a_crash_in_its_cell(tmp_path):
    result = run_one(tmp_path, "x = 1", "import os\nos._exit(3)")
    assert result.status == "failed"
    assert result.error.startswith("the kernel died while running cell 3 (`import os`)")
    assert "exited with code 3" in result.error and "timed out" not in result.error and "timeout" not in result.error
    assert str(tmp_path / "out" / "00_one.log") in result.error


@pytest.mark.slow
def test_a_hung_cell_becomes_an_error_naming_the_cell(tmp_path):
    result = run_one(tmp_path, "x = 1", "import time\ntime.sleep(120)", "y = 2", cell_timeout=2)
    assert result.status == "failed"
    assert result.error.startswith("cell 3 (`import time`) was still running after 2 s")
    assert "--cell-timeout" in result.error


def test_a_notebook_without_kernelspec_runs_with_python3_and_says_so(tmp_path):
    result = run_one(tmp_path, "from helpers.results import record\nrecord(ran=True)", kernelspec=False)
    assert result.status == "ok", result.error
    assert result.numbers == {"ran": True}
    assert "no kernelspec" in result.note and "python3" in result.note
    assert "no kernelspec" in runner.results_markdown([result], "quick")


def test_a_notebook_that_is_not_json_is_named_with_the_reason(tmp_path):
    notebook = tmp_path / "course" / "00_conflict.ipynb"
    notebook.parent.mkdir(parents=True)
    notebook.write_text('<<<<<<< HEAD\n{"cells": []}\n=======\n')
    result = runner.execute_notebook(notebook, tmp_path / "out" / "x.ipynb", {}, tmp_path / "out" / "r.json")
    assert result.status == "failed" and result.error.startswith("cannot read the notebook: ")


def test_out_pointing_at_a_file_is_refused_before_anything_runs(tmp_path, capsys):
    write_notebook(tmp_path / "course" / "00_a.ipynb", "raise SystemExit('must not run')")
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    assert runner.main(["--out", str(target)], root=tmp_path) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert target.read_text() == "keep me"
    inside_a_file = target / "build"
    assert runner.main(["--out", str(inside_a_file)], root=tmp_path) == 2
    assert "cannot create this folder" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-5", "ten"])
def test_cell_timeout_must_be_zero_or_positive_seconds(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        runner.parse_args(["--cell-timeout", value])
    assert exit_info.value.code == 2
    assert "--cell-timeout" in capsys.readouterr().err


def test_cell_timeout_defaults_to_the_documented_limit_and_0_means_none():
    assert runner.parse_args([]).cell_timeout == runner.DEFAULT_CELL_TIMEOUT > 0
    assert runner.parse_args(["--cell-timeout", "0"]).cell_timeout == 0


def test_describe_exit_names_the_signal():
    assert "SIGKILL" in runner.describe_exit(-9) and "out-of-memory" in runner.describe_exit(-9)
    assert "SIGSEGV" in runner.describe_exit(-11)
    assert runner.describe_exit(1) == "its process exited with code 1"


def test_runner_only_with_no_match_exits_2(tmp_path):
    (tmp_path / "course").mkdir()
    assert runner.main(["--only", "nothing-matches"], root=tmp_path) == 2
