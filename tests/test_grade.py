"""helpers.grade: the bookkeeping (layouts, graded ids, parameters, the gradebook file), then classes graded for real.

The slow tests grade a fake class and a hostile one (students who try to forge a grade or harm the machine)
with nbval; the sandbox tests need bubblewrap (`apt-get install bubblewrap`; .ci/run installs it in CI).
"""

import copy
import csv
import hashlib
import json
import os
import subprocess
import uuid
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

import helpers.grade as grade
from helpers.common import HEADLESS_ENV, REPO_ROOT
from helpers.grade import (PARAMS_ID, LabResult, find_submissions, lab_number, main, missing_reason, parse_parameters,
                           prepare_notebook, summary_table)
from helpers.grading_plugin import FRESH_CHECKS
from helpers.labs import graded_cells, make_lab
from helpers.sandbox import sandbox_command, sandbox_problem

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "labs"
SOLUTION = FIXTURES / "99_grading_fixture.ipynb"
NAME = SOLUTION.name
LAB = "99_grading_fixture"
needs_sandbox = pytest.mark.skipif(sandbox_problem() is not None, reason=f"no sandbox here: {sandbox_problem()}")


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


def with_cell(nb, source: str, after: str | None = None):
    """A copy of ``nb`` with a new code cell after the first cell holding ``after`` (default: at the end)."""
    nb = copy.deepcopy(nb)
    nb.cells.insert(cell_index(nb, after) + 1 if after else len(nb.cells), new_code_cell(source))
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


def grade_folder(subs: Path, out: Path, *extra: str) -> dict[str, dict]:
    assert main([str(subs), "--lab", "99", "--solutions", str(FIXTURES), "--out", str(out), *extra]) == 0
    return {row["student"]: row for row in csv.DictReader(out.open(encoding="utf-8"))}


def scores(rows: dict[str, dict]) -> dict[str, tuple[int, int]]:
    return {name: (int(row["passed"]), int(row["total"])) for name, row in rows.items()}


# ---------------------------------------------------------------- finding submissions (no kernel)

def test_lab_number_and_layouts(tmp_path):
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


def test_every_file_that_is_not_graded_gets_a_warning(tmp_path, capsys):
    subs = tmp_path / "subs"
    (subs / "dan").mkdir(parents=True)
    (subs / "dan" / "lab.zip").write_bytes(b"PK\x03\x04")
    (subs / "erin__99_grading_fixture.py").write_text("print(1)\n")
    (subs / "fay__99_grading_fixture.zip").write_bytes(b"PK\x03\x04")
    (subs / "notes.txt").write_text("hi")
    (subs / ".DS_Store").write_text("")  # hidden files are ignored, as documented
    _, warnings = find_submissions(subs)
    assert len(warnings) == 4
    assert any(w.startswith("dan/ holds no notebook; skipped dan/lab.zip: a zip archive; unzip it first") for w in warnings)
    assert any(w.startswith("skipped erin__99_grading_fixture.py: a Python script, not a notebook") for w in warnings)
    assert any(w.startswith("skipped fay__99_grading_fixture.zip: a zip archive") for w in warnings)
    assert "skipped notes.txt: not a notebook (.ipynb)" in warnings
    out = tmp_path / "gradebook.csv"  # nothing gradable but dan's folder: a row for dan, and every warning printed
    assert scores(grade_folder(subs, out)) == {"dan": (0, 3)}
    assert capsys.readouterr().err.count("warning: ") == 4


# ---------------------------------------------------------------- preparing the notebook (no kernel)

def test_prepare_counts_graded_ids_and_restores_the_checks():
    sol = solution()
    student = make_lab(sol)
    relu = graded_index(student, "relu")
    student.cells[relu].source = 'print("✅ relu: all 2 cases passed")'  # a student "fixes" the check
    student.cells[relu].metadata["tags"] += ["raises-exception"]  # ... and tells nbval to ignore errors
    student.cells[graded_index(student, "n_params")].source = "pass"  # a check cell edited to do nothing
    student.cells.append(duplicate(student.cells[graded_index(student, "n_params")]))  # duplicated
    lost = graded_index(student, "output_size")
    student.cells[lost].metadata["tags"] = []  # tags lost (e.g. pasted into a new cell): matched by source
    nb, ids = prepare_notebook(student, sol, params={"EPOCHS": "1"})
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert len(code) == len(ids)
    assert [i for i in ids if i] == [PARAMS_ID, "relu", "output_size", "n_params", "n_params"]
    graded = {item: cell for item, cell in zip(ids, code) if item}
    assert "run_cases(\"relu\"" in graded["relu"].source and "✅" not in graded["relu"].source
    assert graded["relu"].source.startswith(FRESH_CHECKS)  # check modules reloaded before the check runs
    assert graded["relu"].metadata["tags"] == ["graded", "graded:relu"]
    assert [cell.source.count("expect_equal(n_params, 15") for item, cell in zip(ids, code) if item == "n_params"] == [1, 1]
    assert "assert output_size(5, 5) == 1" in graded["output_size"].source  # hidden tests are back
    assert "### BEGIN HIDDEN TESTS" not in graded["output_size"].source
    assert code[0].metadata["tags"] == ["parameters"] and code[1].source.endswith("EPOCHS = 1")  # injected after it
    assert all(cell.outputs == [] for cell in code)


def test_a_check_cell_that_lost_its_tags_is_graded_or_named(tmp_path):
    """Tags deleted, source kept (even with a comment or a print added): graded. Changed too: the message says so."""
    sol, lab = solution(), make_lab(solution())
    kept = graded_index(lab, "relu")
    lab.cells[kept].metadata["tags"] = []
    lab.cells[kept].source = "# my check\n" + lab.cells[kept].source + "\nprint('done')"
    changed = graded_index(lab, "output_size")
    lab.cells[changed].metadata = {}
    lab.cells[changed].source = lab.cells[changed].source.replace("run_cases(", "my_cases = (")
    _, ids = prepare_notebook(lab, sol)
    assert [i for i in ids if i] == ["relu", "n_params"]
    lab_sources = {item: make_lab(sol).cells[graded_index(sol, item)].source for item in graded_cells(sol)}
    reason = missing_reason(lab, "output_size", lab_sources)
    assert reason.startswith("missing: no cell tagged graded:output_size; the cell starting "
                             "'from helpers.checks import call_student, expect_equal")
    assert "looks like its check cell but lost its tags and was changed, so it was not graded (paste the check cell "\
           "back from the lab)" in reason
    lab.cells[changed].source = "print('hello')"
    assert missing_reason(lab, "output_size", lab_sources) == "missing: no graded cell with this id (deleted?)"


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_an_untouched_course_lab_has_each_graded_cell_once(path):
    sol = nbformat.read(path, as_version=4)
    lab = make_lab(sol)
    _, ids = prepare_notebook(lab, sol, name=str(path))
    assert [i for i in ids if i] == list(graded_cells(sol))
    first = next(iter(graded_cells(sol)))  # deleted: the other check cells, however alike, are not named as it
    lab_sources = {item: lab.cells[graded_index(lab, item)].source for item in graded_cells(sol)}
    del lab.cells[graded_index(lab, first)]
    assert missing_reason(lab, first, lab_sources) == "missing: no graded cell with this id (deleted?)"


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


def test_parameters_are_typed_as_papermill_types_them_and_checked_against_the_lab():
    assert parse_parameters([("QUICK", "False"), ("EPOCHS", "1"), ("DEVICE", "cuda"), ("SEED", "3"), ("DATA_DIR", "/data")],
                            SOLUTION) == {"QUICK": "False", "EPOCHS": "1", "DEVICE": '"cuda"', "SEED": "3", "DATA_DIR": '"/data"'}
    assert parse_parameters([("DEVICE", "0")], SOLUTION) == {"DEVICE": '"0"'}  # a text parameter stays text
    for pair, message in [(("QUICK", "false"), "QUICK is True or False (spelled the Python way), not 'false'"),
                          (("QUICK", "1"), "QUICK is True or False"),
                          (("SEED", "abc"), "SEED takes a number (its default is 0), not 'abc'"),
                          (("EPOCH", "1"), "has no parameter EPOCH (its parameters: QUICK, EPOCHS, DEVICE, SEED, DATA_DIR)")]:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_parameters([pair], SOLUTION)


def test_parameters_reach_a_notebook_whose_parameters_tag_was_lost():
    student = make_lab(solution())
    student.cells[1].metadata["tags"] = []  # the parameters cell, untagged
    nb, ids = prepare_notebook(student, solution(), params={"QUICK": "False"})
    assert ids.index(PARAMS_ID) == 1 and nb.cells[1].source.endswith("QUICK = False")  # still right after it


# ---------------------------------------------------------------- the command line and the gradebook file (no kernel)

@pytest.mark.parametrize("option", [["--timeout", "0"], ["--timeout", "-5"], ["--notebook-timeout", "0"], ["--jobs", "0"]])
def test_bad_numbers_are_refused(tmp_path, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path), *option])
    assert exit_info.value.code == 2 and "must be more than 0" in capsys.readouterr().err


def test_bad_parameters_are_refused_before_grading(tmp_path, capsys):
    write(solution(), tmp_path / "subs" / f"al__{NAME}")
    out = tmp_path / "gradebook.csv"
    assert main([str(tmp_path / "subs"), "--solutions", str(FIXTURES), "--out", str(out), "-p", "QUICK", "false"]) == 2
    assert "QUICK is True or False" in capsys.readouterr().err and not out.exists()


def test_output_path_is_checked_before_grading(tmp_path, capsys):
    write(solution(), tmp_path / "subs" / f"al__{NAME}")
    args = [str(tmp_path / "subs"), "--solutions", str(FIXTURES), "--out"]
    assert main([*args, str(tmp_path / "no" / "such" / "gradebook.csv")]) == 2
    assert f"the folder {tmp_path / 'no' / 'such'} does not exist; create it first" in capsys.readouterr().err
    assert main([*args, str(tmp_path)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
    notes = tmp_path / "notes.csv"
    notes.write_text("my,own,notes\n")
    assert main([*args, str(notes)]) == 2
    assert "exists and is not a gradebook" in capsys.readouterr().err and notes.read_text() == "my,own,notes\n"


def test_a_gradebook_is_never_replaced_by_less_without_saying_so(tmp_path, capsys):
    subs, out = tmp_path / "subs", tmp_path / "gradebook.csv"
    subs.mkdir()
    out.write_text("student,lab,passed,total,errors,sandbox\nann,99_grading_fixture,3,3,,bwrap\n", encoding="utf-8")
    before = out.read_bytes()
    assert main([str(subs), "--lab", "99", "--solutions", str(FIXTURES), "--out", str(out)]) == 1  # empty folder
    assert "nothing to grade" in capsys.readouterr().err and out.read_bytes() == before
    (subs / f"zed__{NAME}").write_text("{ not json")  # graded without a kernel: it cannot be read
    assert main([str(subs), "--lab", "99", "--solutions", str(FIXTURES), "--out", str(out)]) == 2
    assert "holds 1 rows this run would not write (ann 99_grading_fixture)" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert scores(grade_folder(subs, out, "--replace")) == {"zed": (0, 3)}
    assert "warning: replacing" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # written atomically, nothing left over


def test_unreadable_notebook_is_a_row_not_a_crash(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / f"zed__{NAME}").write_text("{ not json")
    text = json.dumps(json.loads(SOLUTION.read_text()), indent=1).splitlines()
    (subs / f"xia__{NAME}").write_text("\n".join(text[:5] + ["<<<<<<< HEAD", "=======", ">>>>>>> other"] + text[5:]))
    (subs / "yuri").mkdir()  # a student folder without this lab
    rows = grade_folder(subs, tmp_path / "gradebook.csv")
    assert scores(rows) == {"xia": (0, 3), "yuri": (0, 3), "zed": (0, 3)}
    assert rows["zed"]["errors"].startswith(f"could not read zed__{NAME}: it is not a readable notebook (NotJSONError")
    assert rows["xia"]["errors"].startswith(f"could not read xia__{NAME}: it holds a git merge-conflict marker on line 6")
    assert rows["yuri"]["errors"].startswith("no submission; relu: not handed in")
    assert main([str(subs), "--lab", "42", "--solutions", str(FIXTURES), "--out", str(tmp_path / "gradebook.csv")]) == 2


def test_a_broken_solution_stops_grading_with_its_name(tmp_path, capsys):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    lines = SOLUTION.read_text(encoding="utf-8").splitlines()
    (solutions / NAME).write_text("\n".join(lines[:9] + ["<<<<<<< HEAD"] + lines[9:]), encoding="utf-8")
    write(solution(), tmp_path / "subs" / f"al__{NAME}")
    assert main([str(tmp_path / "subs"), "--solutions", str(solutions), "--out", str(tmp_path / "gradebook.csv")]) == 2
    assert f"{solutions / NAME} holds a git merge-conflict marker on line 10" in capsys.readouterr().err


def test_grading_without_a_sandbox_says_so_everywhere(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(grade, "sandbox_problem", lambda: "bubblewrap (bwrap) is not installed: install it")
    assert grade.kernel_sandbox_problem([]) == "bubblewrap (bwrap) is not installed: install it"
    subs, out = tmp_path / "subs", tmp_path / "gradebook.csv"
    subs.mkdir()
    (subs / f"zed__{NAME}").write_text("{ not json")
    assert main([str(subs), "--solutions", str(FIXTURES), "--out", str(out), "--require-sandbox"]) == 2
    assert "--require-sandbox: bubblewrap (bwrap) is not installed" in capsys.readouterr().err and not out.exists()
    rows = grade_folder(subs, out, "--html")
    captured = capsys.readouterr()
    assert "WARNING: graded WITHOUT a sandbox: bubblewrap (bwrap) is not installed" in captured.out + captured.err
    assert rows["zed"]["sandbox"] == "none"
    assert "graded WITHOUT a sandbox" in out.with_suffix(".html").read_text(encoding="utf-8")


def test_the_kernel_runs_sandboxed_with_the_course_environment(tmp_path):
    """The kernelspec the grader writes: bwrap around this Python, headless, helpers first, no results path."""
    scratch = tmp_path / "scratch"
    work, home, ipc = (scratch / name for name in ("work", "home", "ipc"))
    for folder in (work, home, ipc):
        folder.mkdir(parents=True)
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    grade._write_kernelspec(scratch / "kernels", work, [work, home, ipc], [scratch, solutions, Path.home()], sandboxed=True)
    spec = json.loads((scratch / "kernels" / grade.KERNEL_NAME / "kernel.json").read_text())
    argv = spec["argv"]
    assert argv[0] == "bwrap" and argv[argv.index("--") + 1:] == [os.sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert ["--tmpfs", str(solutions.resolve())] == argv[argv.index(str(solutions.resolve())) - 1:][:2]
    for flag in ("--unshare-all", "--cap-drop", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert ["--bind", str(work.resolve()), str(work.resolve())] == argv[argv.index("--bind"):][:3]
    assert spec["env"][HEADLESS_ENV] == "1" and spec["env"]["PYTHONSAFEPATH"] == "1"
    assert spec["env"]["PYTHONPATH"].split(os.pathsep)[:2] == [str(REPO_ROOT), str(work)]  # the real helpers first
    assert spec["interrupt_mode"] == "message"
    assert not any("report" in value.lower() for value in spec["env"].values())


def test_the_results_file_is_named_to_pytest_only(tmp_path, monkeypatch):
    """The report path is on pytest's command line, in a folder outside the notebook's scratch folder, in no environment."""
    started = {}

    class FakePytest:
        pid, returncode = 0, 0

        def __init__(self, command, cwd, env, **kwargs):
            started.update(command=command, cwd=Path(cwd), env=env)

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(grade.subprocess, "Popen", FakePytest)
    monkeypatch.setenv("MY_API_TOKEN", "s3cret")
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path))
    work = tmp_path / "scratch" / "work"
    work.mkdir(parents=True)
    nb, ids = prepare_notebook(solution(), solution())
    status, _ = grade.run_notebook(nb, ids, work, grade.GradingOptions(sandbox=False))
    assert set(status.values()) == {"not run (pytest stopped early)"}
    report = next(arg.split("=", 1)[1] for arg in started["command"] if arg.startswith("--grade-report="))
    assert Path(report).parent == started["cwd"] and work.parent not in Path(report).parents
    assert "--noconftest" in started["command"] and started["cwd"] != work
    spec = json.loads((tmp_path / "scratch" / "kernels" / grade.KERNEL_NAME / "kernel.json").read_text())
    for env in (started["env"], spec["env"]):
        assert not [name for name, value in env.items() if report in value or Path(report).parent.name in value]
    assert "MY_API_TOKEN" not in started["env"] and started["env"]["COURSE_DATA_MIRROR"] == str(tmp_path)  # course variables only


@needs_sandbox
def test_a_sandboxed_kernel_can_start_here():
    assert grade.kernel_sandbox_problem([REPO_ROOT / "solutions"]) is None


def test_a_folder_shown_again_keeps_its_hidden_subfolders(tmp_path):
    shown, hidden = tmp_path / "home" / "venv", tmp_path / "home" / "venv" / "answers"
    hidden.mkdir(parents=True)
    argv = sandbox_command(["true"], writable=[], hidden=[tmp_path / "home", hidden], visible=[shown])
    text = " ".join(argv)
    assert text.index(f"--tmpfs {tmp_path / 'home'} ") < text.index(f"--ro-bind {shown} {shown}") < text.rindex(f"--tmpfs {hidden} ")


def test_a_checkout_under_tmp_stays_visible_inside_the_sandbox(tmp_path):
    """The sandbox's /tmp is a fresh tmpfs: a clone, venv or data set under /tmp (CI clones land there) is shown again."""
    venv = Path("/tmp") / tmp_path.name / ".venv"
    argv = sandbox_command(["true"], writable=[], hidden=[], visible=[tmp_path, venv])
    text = " ".join(argv)
    assert text.index("--tmpfs /tmp ") < text.index(f"--ro-bind {tmp_path.resolve()} {tmp_path.resolve()}")
    assert str(venv) not in text  # a path that does not exist is not bound


@needs_sandbox
def test_a_kernel_in_the_sandbox_sees_a_python_under_tmp(tmp_path):
    if not str(tmp_path.resolve()).startswith("/tmp/"):
        pytest.skip("pytest's tmp_path is not under /tmp here")
    probe = tmp_path / "probe.txt"
    probe.write_text("visible", encoding="utf-8")
    argv = sandbox_command(["cat", str(probe)], writable=[], hidden=[], visible=[tmp_path])
    assert subprocess.run(argv, capture_output=True, text=True).stdout == "visible"


def test_summary_table_lines_up():
    table = summary_table([LabResult("al", "02_x", {"a": "passed", "b": "NameError: x"}, seconds=3.2)])
    header, rule, row = table.splitlines()
    assert header.startswith("student") and set(rule) == {"-"}
    assert "1/2" in row and row.endswith("b: NameError: x")


# ---------------------------------------------------------------- classes graded for real (a kernel per notebook)

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


@pytest.mark.slow
def test_fake_class_gives_the_expected_gradebook(tmp_path, capsys):
    subs = tmp_path / "submissions"
    files = make_class(subs)
    before = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()}
    out = tmp_path / "grades" / "gradebook.csv"
    out.parent.mkdir()
    # --timeout is per cell: generous enough for six setup cells importing torch at once on a busy 2-core machine;
    # all six at once, so the looping student's wait overlaps with the others' work
    rows = grade_folder(subs, out, "--timeout", "35", "--html", "--jobs", "6")  # dave waits it out
    printed = capsys.readouterr().out

    assert list(next(csv.reader(out.open(encoding="utf-8")))) == ["student", "lab", "passed", "total", "errors", "sandbox"]
    assert {name: row["lab"] for name, row in rows.items()} == dict.fromkeys(files, LAB)
    assert scores(rows) == {"alice": (3, 3), "bob": (2, 3), "carol": (2, 3), "dave": (2, 3), "erin": (3, 3), "frank": (1, 3)}
    assert rows["alice"]["errors"] == "" and rows["erin"]["errors"] == ""  # duplicates and moves: same grade
    assert rows["bob"]["errors"].startswith("output_size: CheckFailed: ❌ output_size (3x3 kernel, padding 1): "
                                            "output_size(32, 3, padding=1) is 31, expected 32")
    assert rows["carol"]["errors"].startswith("relu: CheckFailed: ❌ relu (mixed signs): relu raised NotImplementedError: "
                                              "you have not written this yet")
    assert rows["dave"]["errors"] == "relu: timed out after 35 s"  # and the items after it were still graded
    assert rows["frank"]["errors"].startswith("relu: missing: no graded cell with this id")
    assert "output_size: CheckFailed" in rows["frank"]["errors"]  # the edited check ran as the solution has it
    assert {row["sandbox"] for row in rows.values()} == {"none" if sandbox_problem() else "bwrap"}

    assert "dave" in printed and "2/3" in printed and f"wrote {out}" in printed
    report = out.with_suffix(".html").read_text(encoding="utf-8")
    assert report.startswith("<!doctype html>") and "timed out after 35 s" in report and "<th>relu</th>" in report
    after = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()}
    assert after == before  # submissions are never modified
    assert sorted(p.name for p in (subs / "alice").iterdir()) == [NAME, "notes.txt"]


FORGE_REPORT = '''import glob, json, os, pathlib
targets = {os.environ.get(name) for name in os.environ if "GRADE" in name or "REPORT" in name}
for pid in pathlib.Path("/proc").glob("[0-9]*"):  # the grader's command lines
    try:
        targets |= {a.split("=", 1)[-1] for a in (pid / "cmdline").read_bytes().decode().split("\\0") if "report" in a}
    except OSError:
        pass
targets |= set(glob.glob("../*.jsonl") + glob.glob("/tmp/grade-*/*.jsonl") + glob.glob("/tmp/*/cells.jsonl"))
for target in filter(None, targets):
    try:
        with open(target, "a") as report:
            for cell in range(40):
                report.write(json.dumps({"cell": cell, "when": "call", "outcome": "passed", "error": ""}) + "\\n")
    except OSError:
        pass
print("env:", sorted(os.environ))'''

REBIND = '''import helpers.checks as checks
def passes(*args, **kwargs):
    print("✅ passed")
for name in ["run_cases", "expect_equal", "expect_close", "expect_shape", "call_student"]:
    globals()[name] = passes
    setattr(checks, name, passes)
    for module in [m for name_, m in list(__import__("sys").modules.items()) if name_.startswith("helpers.checks")]:
        if hasattr(module, name):
            setattr(module, name, passes)'''

COPY_SOLUTION = '''import json, pathlib
for path in ["{solution}", "{repo}/solutions/{name}"]:
    try:
        cells = json.loads(pathlib.Path(path).read_text())["cells"]
    except OSError:
        continue
    for cell in cells:
        if cell["cell_type"] == "code" and "def " in "".join(cell["source"]):
            exec("".join(cell["source"]).replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""))
    n_params = 15'''

VANDAL = '''import os, pathlib
for path in {canaries!r}:
    try:
        os.remove(path)
    except OSError as err:
        print("could not remove", path, err)
try:
    pathlib.Path({written!r}).write_text("x")
except OSError as err:
    print("could not write", err)'''


def canaries(tmp_path: Path) -> list[Path]:
    """Two files a vandal will try to delete: one in /tmp (hidden inside the sandbox), one in the repository (read-only)."""
    paths = [tmp_path / "elsewhere" / "canary.txt", REPO_ROOT / "build" / f"canary-{uuid.uuid4().hex}.txt"]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("still here")
    return paths


SPAWN = '''import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n    time.sleep(600)  # {marker}"],
                 start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)'''


@pytest.mark.slow
@needs_sandbox
def test_hostile_class_earns_only_what_it_solved(tmp_path, capsys):
    """Students who forge reports, rebind or patch the checks, shadow helpers, copy the solution, harm the machine."""
    sol, lab = solution(), make_lab(solution())
    subs, marker = tmp_path / "submissions", f"grader-test-{uuid.uuid4().hex}"
    kept, written = canaries(tmp_path), REPO_ROOT / "build" / f"vandalised-{uuid.uuid4().hex}.txt"
    write(with_cell(lab, FORGE_REPORT), subs / f"forger__{NAME}")
    write(with_cell(lab, REBIND, after="import torch"), subs / f"rebinder__{NAME}")
    write(with_cell(lab, COPY_SOLUTION.format(solution=SOLUTION, repo=REPO_ROOT, name=NAME), after="import torch"), subs / f"copier__{NAME}")
    write(lab, subs / "shadow" / NAME)  # a folder with its own helpers package and conftest.py that pass everything
    (subs / "shadow" / "helpers" / "checks").mkdir(parents=True)
    (subs / "shadow" / "helpers" / "__init__.py").write_text("")
    (subs / "shadow" / "helpers" / "checks" / "__init__.py").write_text(
        "def _ok(*a, **k):\n    print('✅')\nrun_cases = expect_equal = expect_close = expect_shape = call_student = _ok\n")
    (subs / "shadow" / "conftest.py").write_text("raise SystemExit('conftest.py ran in the grader')\n")
    write(with_cell(sol, VANDAL.format(canaries=[str(p) for p in kept], written=str(written)), after="import torch"),
          subs / f"vandal__{NAME}")
    ignorer = with_code(sol, "n_params = 4 * 3 + 3", "n_params = 4 * 3 + 3",
                        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")
    write(ignorer, subs / f"ignorer__{NAME}")
    write(with_cell(sol, SPAWN.format(marker=marker), after="import torch"), subs / f"spawner__{NAME}")
    write(with_cell(sol, "import os\nos._exit(1)", after="def output_size"), subs / f"crasher__{NAME}")

    rows = grade_folder(subs, tmp_path / "gradebook.csv", "--timeout", "45", "--jobs", "8")  # the ignorer waits it out
    assert scores(rows) == {"forger": (0, 3), "rebinder": (0, 3), "copier": (0, 3), "shadow": (0, 3), "vandal": (3, 3),
                            "ignorer": (2, 3), "spawner": (3, 3), "crasher": (1, 3)}
    for name in ("forger", "rebinder", "copier", "shadow"):
        assert "relu raised NotImplementedError: you have not written this yet" in rows[name]["errors"], name
    assert [p.read_text() for p in kept] == ["still here"] * 2 and not written.exists()
    kept[1].unlink()
    assert rows["ignorer"]["errors"] == ("n_params: not run: the kernel had died (it was stopped after the cell starting "
                                         "'### BEGIN SOLUTION' timed out)")  # the loop is in the exercise, not the check
    assert rows["crasher"]["errors"].startswith("output_size: not run: the kernel had died (it died in the cell starting 'import os')")
    leftovers = [p for p in Path("/proc").glob("[0-9]*") if marker.encode() in _read(p / "cmdline")]
    assert leftovers == []  # the detached grandchild went with the sandbox
    assert {row["sandbox"] for row in rows.values()} == {"bwrap"}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


@pytest.mark.slow
@needs_sandbox
def test_the_sandbox_keeps_files_outside_the_scratch_folder(tmp_path):
    """A submission that deletes files elsewhere on the instructor's disk (here: two canaries) cannot."""
    kept, written = canaries(tmp_path), REPO_ROOT / "build" / f"vandalised-{uuid.uuid4().hex}.txt"
    vandal = with_cell(solution(), VANDAL.format(canaries=[str(p) for p in kept], written=str(written)), after="import torch")
    write(vandal, tmp_path / "subs" / f"vandal__{NAME}")
    try:
        rows = grade_folder(tmp_path / "subs", tmp_path / "gradebook.csv", "--timeout", "60")
        assert [p.read_text() for p in kept] == ["still here"] * 2 and not written.exists()
        assert scores(rows) == {"vandal": (3, 3)} and rows["vandal"]["sandbox"] == "bwrap"
    finally:
        kept[1].unlink(missing_ok=True)
        written.unlink(missing_ok=True)
