"""helpers.grade: a fake class graded with nbval, plus the bookkeeping (layouts, graded ids, duplicates)."""

import copy
import csv
import hashlib
import json
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from helpers.grade import find_submissions, lab_number, main, prepare_notebook, summary_table
from helpers.labs import REPO_ROOT, make_lab

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "labs"
SOLUTION = FIXTURES / "99_grading_fixture.ipynb"
NAME = SOLUTION.name


def solution() -> nbformat.NotebookNode:
    return nbformat.read(SOLUTION, as_version=4)


def cell_index(nb, text: str) -> int:
    return next(i for i, cell in enumerate(nb.cells) if text in cell.source)


def graded_index(nb, item: str) -> int:
    return next(i for i, cell in enumerate(nb.cells) if f"graded:{item}" in cell.metadata.get("tags", []))


def with_code(nb, marker: str, old: str, new: str):
    nb = copy.deepcopy(nb)
    i = cell_index(nb, marker)
    assert old in nb.cells[i].source
    nb.cells[i].source = nb.cells[i].source.replace(old, new)
    return nb


def duplicate(cell):
    """A copy of a cell with a fresh id, as JupyterLab's copy-paste makes it."""
    twin = copy.deepcopy(cell)
    twin.id = uuid.uuid4().hex[:8]
    return twin


def write(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# ---------------------------------------------------------------- bookkeeping (no kernel)

def test_lab_number_and_layouts(tmp_path, capsys):
    assert lab_number("alice__02_convolution_lab.ipynb") == "02"
    assert lab_number("02_convolution_lab (1).ipynb") == "02"
    assert lab_number("Copy of 05_training_lab.ipynb") == "05"
    assert lab_number("notes.ipynb") is None
    write(solution(), tmp_path / "alice" / NAME)
    write(solution(), tmp_path / "alice" / ".ipynb_checkpoints" / NAME)
    write(solution(), tmp_path / f"bob__{NAME}")
    write(solution(), tmp_path / NAME)
    (tmp_path / "carol").mkdir()
    found, warnings = find_submissions(tmp_path)
    assert [(s.student, s.path.name, s.folder is not None) for s in found] == [("alice", NAME, True), ("bob", f"bob__{NAME}", False)]
    assert any("carol/ holds no notebook" in w for w in warnings)
    assert any(f"skipped {NAME}: name it <student>__" in w for w in warnings)
    with pytest.raises(FileNotFoundError):
        find_submissions(tmp_path / "missing")


def test_prepare_counts_graded_ids_and_restores_the_checks():
    sol = solution()
    student = make_lab(sol)
    relu = graded_index(student, "relu")
    student.cells[relu].source = 'print("✅ relu: all 2 cases passed")'  # a student "fixes" the check
    student.cells[relu].metadata["tags"] += ["raises-exception"]  # ... and tells nbval to ignore errors
    student.cells.append(duplicate(student.cells[graded_index(student, "n_params")]))  # duplicated
    lost = graded_index(student, "output_size")
    student.cells[lost].metadata["tags"] = []  # tags lost (e.g. pasted into a new cell): matched by source
    nb, ids = prepare_notebook(student, sol, params={"EPOCHS": "1"})
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert len(code) == len(ids)
    assert [i for i in ids if i] == ["relu", "output_size", "n_params", "n_params"]
    graded = {item: cell for item, cell in zip(ids, code) if item}
    assert "run_cases(\"relu\"" in graded["relu"].source and "✅" not in graded["relu"].source
    assert graded["relu"].metadata["tags"] == ["graded", "graded:relu"]
    assert "assert output_size(5, 5) == 1" in graded["output_size"].source  # hidden tests are back
    assert "### BEGIN HIDDEN TESTS" not in graded["output_size"].source
    assert code[0].metadata["tags"] == ["parameters"] and code[1].source.endswith("EPOCHS = 1")  # injected after it
    assert all(cell.outputs == [] for cell in code)


def test_prepare_accepts_notebooks_from_older_tools(tmp_path):
    """Colab and old Jupyter save nbformat 4.0-4.4 without cell ids; the graded copy must still be valid."""
    old = json.loads(SOLUTION.read_text(encoding="utf-8"))
    old["nbformat_minor"] = 2
    for cell in old["cells"]:
        cell.pop("id", None)
    (tmp_path / "old.ipynb").write_text(json.dumps(old), encoding="utf-8")
    nb, ids = prepare_notebook(nbformat.read(tmp_path / "old.ipynb", as_version=4), solution())
    nbformat.validate(nb)
    assert [i for i in ids if i] == ["relu", "output_size", "n_params"]


def test_unreadable_notebook_is_a_row_not_a_crash(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / f"zed__{NAME}").write_text("{ not json")
    (subs / "yuri").mkdir()  # a student folder without this lab
    out = tmp_path / "gradebook.csv"
    assert main([str(subs), "--lab", "99", "--solutions", str(FIXTURES), "--out", str(out)]) == 0
    rows = {row["student"]: row for row in csv.DictReader(out.open(encoding="utf-8"))}
    assert (rows["zed"]["passed"], rows["zed"]["total"]) == ("0", "3")
    assert rows["zed"]["errors"].startswith(f"could not read zed__{NAME}")
    assert (rows["yuri"]["passed"], rows["yuri"]["total"]) == ("0", "3")
    assert rows["yuri"]["errors"].startswith("no submission; relu: not handed in")
    assert main([str(subs), "--lab", "42", "--solutions", str(FIXTURES), "--out", str(out)]) == 2


# ---------------------------------------------------------------- the fake class, graded for real

def make_class(subs: Path) -> dict[str, Path]:
    """Six students: right, wrong, raises, loops forever, duplicated+moved cells, deleted+edited cells."""
    sol = solution()
    files = {}
    files["alice"] = write(sol, subs / "alice" / NAME)  # folder layout
    (subs / "alice" / "notes.txt").write_text("copied next to the notebook")
    files["bob"] = write(with_code(sol, "def output_size", "2 * padding", "padding"), subs / f"bob__{NAME}")
    raises = copy.deepcopy(sol)
    raises.cells[cell_index(sol, "def relu")] = make_lab(sol).cells[cell_index(sol, "def relu")]  # the lab's placeholder
    files["carol"] = write(raises, subs / f"carol__{NAME}")
    files["dave"] = write(with_code(sol, "def relu", "return x.clamp(min=0)", "while True:\n        pass"), subs / "dave" / NAME)
    moved = copy.deepcopy(sol)  # every graded cell duplicated, one copy moved to the end
    for item in ["relu", "output_size", "n_params"]:
        moved.cells.append(duplicate(moved.cells[graded_index(moved, item)]))
    moved.cells.insert(3, new_code_cell("print('a cell of my own')"))
    files["erin"] = write(moved, subs / f"erin__{NAME}")
    edited = with_code(sol, "def output_size", "2 * padding", "padding")
    edited.cells[graded_index(edited, "output_size")].source = "print('✅ output_size: all cases passed')"
    del edited.cells[graded_index(edited, "relu")]
    files["frank"] = write(edited, subs / f"frank__{NAME}")
    return files


def test_fake_class_gives_the_expected_gradebook(tmp_path, capsys):
    subs = tmp_path / "submissions"
    files = make_class(subs)
    before = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()}
    out = tmp_path / "grades" / "gradebook.csv"
    out.parent.mkdir()
    start = time.perf_counter()
    # --timeout is per cell: generous enough for the setup cell's torch import on a busy 2-core machine;
    # all six at once, so the looping student's wait overlaps with the others' work
    assert main([str(subs), "--lab", "99", "--timeout", "30", "--solutions", str(FIXTURES), "--out", str(out),
                 "--html", "--jobs", "6"]) == 0
    seconds = time.perf_counter() - start
    printed = capsys.readouterr().out

    rows = {row["student"]: row for row in csv.DictReader(out.open(encoding="utf-8"))}
    assert list(next(csv.reader(out.open(encoding="utf-8")))) == ["student", "lab", "passed", "total", "errors"]
    assert {name: (row["lab"], int(row["passed"]), int(row["total"])) for name, row in rows.items()} == {
        "alice": ("99_grading_fixture", 3, 3),
        "bob": ("99_grading_fixture", 2, 3),
        "carol": ("99_grading_fixture", 2, 3),
        "dave": ("99_grading_fixture", 2, 3),
        "erin": ("99_grading_fixture", 3, 3),
        "frank": ("99_grading_fixture", 1, 3),
    }
    assert rows["alice"]["errors"] == "" and rows["erin"]["errors"] == ""  # duplicates and moves: same grade
    assert rows["bob"]["errors"].startswith("output_size: CheckFailed: ❌ output_size (3x3 kernel, padding 1): "
                                            "output_size(32, 3, padding=1) is 31, expected 32")
    assert rows["carol"]["errors"].startswith("relu: CheckFailed: ❌ relu (mixed signs): relu raised NotImplementedError: "
                                              "you have not written this yet")
    assert rows["dave"]["errors"] == "relu: timed out after 30 s"  # and the items after it were still graded
    assert rows["frank"]["errors"].startswith("relu: missing: no graded cell with this id")
    assert "output_size: CheckFailed" in rows["frank"]["errors"]  # the edited check ran as the solution has it

    assert "dave" in printed and "2/3" in printed and f"wrote {out}" in printed
    report = out.with_suffix(".html").read_text(encoding="utf-8")
    assert report.startswith("<!doctype html>") and "timed out after 30 s" in report and "<th>relu</th>" in report
    after = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()}
    assert after == before  # submissions are never modified
    assert sorted(p.name for p in (subs / "alice").iterdir()) == [NAME, "notes.txt"]
    assert seconds < 120, f"grading the fake class took {seconds:.0f} s"


def test_summary_table_lines_up():
    from helpers.grade import LabResult

    table = summary_table([LabResult("al", "02_x", {"a": "passed", "b": "NameError: x"}, seconds=3.2)])
    header, rule, row = table.splitlines()
    assert header.startswith("student") and set(rule) == {"-"}
    assert "1/2" in row and row.endswith("b: NameError: x")
