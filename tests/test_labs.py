"""helpers.labs: labs/ generated from solutions/ (placeholders, hidden tests, answers, --check)."""

import ast
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers.common import REPO_ROOT
from helpers.labs import (ANSWER_PROMPT, GENERATED_KEY, LabMarkerError, UnreadableNotebookError, build_labs, graded_cells,
                          is_generated_lab, main, make_lab, python_source, read_notebook)

SOLVED = '''import numpy as np
%matplotlib inline

def conv2d(image, kernel, padding=0):
    """Slide the kernel over the image."""
    if padding:
        ### BEGIN SOLUTION
        # TODO: pad the image with zeros on every side.
        #       np.pad does this in one line.
        image = np.pad(image, padding)  # secret_pad
        ### END SOLUTION
    ### BEGIN SOLUTION
    # TODO: flip the kernel, then take the sum of products at each position.
    flipped = kernel[::-1, ::-1]  # secret_flip
    return flipped
    ### END SOLUTION
'''


def solution_notebook() -> nbformat.NotebookNode:
    return new_notebook(cells=[
        new_markdown_cell("# Tiny lab"),
        new_code_cell("QUICK = True", metadata={"tags": ["parameters"]}),
        new_code_cell(SOLVED, execution_count=3, outputs=[nbformat.v4.new_output("stream", text="hi\n")]),
        new_code_cell('check(conv2d)\n### BEGIN HIDDEN TESTS\nassert conv2d is not None  # hidden_check\n### END HIDDEN TESTS',
                      metadata={"tags": ["graded", "graded:conv2d"]}),
        new_markdown_cell("Why flip?\n\n=== BEGIN ANSWER ===\nBecause convolution flips the kernel. secret_answer\n=== END ANSWER ==="),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
                 "language_info": {"name": "python"}})


def write(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_lab_replaces_solutions_keeps_todos_and_compiles():
    lab = make_lab(solution_notebook(), "tiny.ipynb")
    code = lab.cells[2].source
    assert "secret_pad" not in code and "secret_flip" not in code and "return flipped" not in code
    assert "        # TODO: pad the image with zeros on every side.\n        #       np.pad does this in one line.\n" \
           "        raise NotImplementedError(" in code  # indentation and the TODO's continuation line kept
    assert "    # TODO: flip the kernel" in code and code.count("raise NotImplementedError(") == 2
    assert "### BEGIN" not in code and "### END" not in code
    tree = ast.parse(python_source(code))  # the magic line is the only non-Python line
    assert [node.name for node in tree.body if isinstance(node, ast.FunctionDef)] == ["conv2d"]
    assert lab.cells[2].outputs == [] and lab.cells[2].execution_count is None


def test_lab_drops_hidden_tests_and_answers_but_keeps_tags_and_metadata():
    solution = solution_notebook()
    lab = make_lab(solution)
    assert lab.cells[3].source == "check(conv2d)"
    assert lab.cells[3].metadata["tags"] == ["graded", "graded:conv2d"]
    assert lab.cells[1].metadata["tags"] == ["parameters"]
    assert lab.cells[4].source == f"Why flip?\n\n{ANSWER_PROMPT}"
    assert {key: value for key, value in lab.metadata.items() if key != GENERATED_KEY} == solution.metadata
    assert lab.metadata[GENERATED_KEY] == {"generated_by": "python -m helpers.labs build", "solution": "notebook"}
    assert is_generated_lab(lab) and not is_generated_lab(solution)
    assert "secret_pad" in solution.cells[2].source  # the solution itself is untouched


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1", "line 1: '### BEGIN SOLUTION' is never closed"),
    ("x = 1\n    ### END SOLUTION", "line 2: '### END SOLUTION' without a '### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "line 2: '### BEGIN SOLUTION' again"),
    ("### BEGIN HIDDEN TESTS\nassert True", "line 1: '### BEGIN HIDDEN TESTS' is never closed"),
    ("### BEGIN HIDDEN TESTS\nx\n### END HIDDEN TESTS\n### BEGIN SOLUTION\n### END HIDDEN TESTS",
     "line 5: '### END HIDDEN TESTS' without"),  # line numbers are the solution's, even after a hidden block
    ("### BEGIN SOLUTION\n### END HIDDEN TESTS\n### END SOLUTION", "line 2: '### END HIDDEN TESTS' without"),
])
def test_unbalanced_markers_name_notebook_cell_and_line(source, problem):
    nb = solution_notebook()
    nb.cells.insert(2, new_code_cell(source))
    with pytest.raises(LabMarkerError) as info:
        make_lab(nb, "solutions/07_tiny_lab.ipynb")
    assert "solutions/07_tiny_lab.ipynb, cell 2" in str(info.value) and problem in str(info.value)


def test_unbalanced_answer_markers_and_misplaced_markers():
    nb = solution_notebook()
    nb.cells[4].source = "Why?\n=== BEGIN ANSWER ===\nbecause"
    with pytest.raises(LabMarkerError, match=r"cell 4, line 2: '=== BEGIN ANSWER ===' is never closed"):
        make_lab(nb)
    nb = solution_notebook()
    nb.cells[0].source = "### BEGIN SOLUTION\nx\n### END SOLUTION"
    with pytest.raises(LabMarkerError, match="cell 0: code markers"):
        make_lab(nb)


def test_a_block_that_breaks_python_is_reported():
    nb = solution_notebook()
    nb.cells.append(new_code_cell("if True:\n### BEGIN SOLUTION\n    x = 1\n### END SOLUTION\ny = 2"))
    with pytest.raises(LabMarkerError, match="cell 5: the lab version of this cell is not valid Python"):
        make_lab(nb)


def test_graded_tags_must_be_consistent_and_unique():
    nb = solution_notebook()
    assert list(graded_cells(nb)) == ["conv2d"]
    nb.cells.append(new_code_cell("check(conv2d)", metadata={"tags": ["graded", "graded:conv2d"]}))
    with pytest.raises(LabMarkerError, match="graded id 'conv2d' is used twice"):
        make_lab(nb)
    nb = solution_notebook()
    nb.cells[3].metadata["tags"] = ["graded"]
    with pytest.raises(LabMarkerError, match="needs both tags"):
        make_lab(nb)
    nb = solution_notebook()
    nb.cells[2].metadata["tags"] = ["graded", "graded:solution_cell"]
    with pytest.raises(LabMarkerError, match="must not contain a solution block"):
        make_lab(nb)


def test_build_writes_deterministic_labs_and_check_detects_drift(tmp_path, capsys):
    solutions, labs = tmp_path / "solutions", tmp_path / "labs"
    write(solution_notebook(), solutions / "07_tiny_lab.ipynb")
    write(new_notebook(), solutions / "notes.ipynb")  # not a lab: no NN_ prefix
    assert build_labs(solutions, labs, check=True) == [f"missing: {labs / '07_tiny_lab.ipynb'}"]
    assert not labs.exists()  # check mode writes nothing

    assert build_labs(solutions, labs) == []
    lab_file = labs / "07_tiny_lab.ipynb"
    first = lab_file.read_bytes()
    assert first.endswith(b"}\n") and sorted(p.name for p in labs.iterdir()) == ["07_tiny_lab.ipynb"]
    assert nbformat.read(lab_file, as_version=4).cells[3].source == "check(conv2d)"
    assert build_labs(solutions, labs, check=True) == []
    build_labs(solutions, labs)
    assert lab_file.read_bytes() == first  # stable: a rebuild changes nothing

    changed = solution_notebook()
    changed.cells[2].source = changed.cells[2].source.replace("# TODO: flip", "# TODO: turn")
    write(changed, solutions / "07_tiny_lab.ipynb")
    write(make_lab(solution_notebook(), "08_gone_lab.ipynb"), labs / "08_gone_lab.ipynb")  # its solution was removed
    write(new_notebook(), labs / "09_draft_lab.ipynb")  # written by hand, no solution yet
    assert build_labs(solutions, labs, check=True) == [
        f"stale: {lab_file}", f"extra: {labs / '08_gone_lab.ipynb'} (no {solutions / '08_gone_lab.ipynb'})"]
    assert lab_file.read_bytes() == first
    assert f"note: left {labs / '09_draft_lab.ipynb'} alone: it was not generated" in capsys.readouterr().err

    assert main(["build", "--check", "--solutions", str(solutions), "--labs", str(labs)]) == 1
    assert "stale:" in capsys.readouterr().err
    assert main(["build", "--solutions", str(solutions), "--labs", str(labs)]) == 0
    assert not (labs / "08_gone_lab.ipynb").exists()  # a generated lab whose solution is gone goes
    assert (labs / "09_draft_lab.ipynb").exists()  # a draft is never deleted
    assert main(["build", "--check", "--solutions", str(solutions), "--labs", str(labs)]) == 0
    assert "in sync" in capsys.readouterr().out


def test_build_refuses_swapped_or_mixed_up_folders(tmp_path, capsys):
    solutions, labs = tmp_path / "solutions", tmp_path / "labs"
    write(solution_notebook(), solutions / "07_tiny_lab.ipynb")
    build_labs(solutions, labs)
    before = {path: path.read_bytes() for path in [*solutions.iterdir(), *labs.iterdir()]}
    assert main(["build", "--solutions", str(labs), "--labs", str(solutions)]) == 2  # swapped
    assert f"{labs / '07_tiny_lab.ipynb'} is a generated lab, not a solution" in capsys.readouterr().err
    assert main(["build", "--solutions", str(solutions), "--labs", str(solutions)]) == 2
    assert "are the same folder" in capsys.readouterr().err
    old_labs = tmp_path / "old_labs"  # labs from before labs were marked as generated: no solution markers either
    lab = make_lab(solution_notebook())
    del lab.metadata[GENERATED_KEY]
    write(lab, old_labs / "07_tiny_lab.ipynb")
    assert main(["build", "--solutions", str(old_labs), "--labs", str(solutions)]) == 2
    assert f"none of the 1 notebooks in {old_labs} holds a solution marker" in capsys.readouterr().err
    write(solution_notebook(), labs / "07_tiny_lab.ipynb")  # a solution saved into labs/ by mistake
    with pytest.raises(LabMarkerError, match=r"labs/07_tiny_lab.ipynb holds solution markers: it is a solution, not a lab"):
        build_labs(solutions, labs)
    before[labs / "07_tiny_lab.ipynb"] = (labs / "07_tiny_lab.ipynb").read_bytes()
    assert {path: path.read_bytes() for path in before} == before  # nothing was written


def test_a_merge_conflict_is_named_with_file_and_line(tmp_path, capsys):
    path = write(solution_notebook(), tmp_path / "solutions" / "07_tiny_lab.ipynb")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3] + ["<<<<<<< HEAD", '  "x": 1,', "=======", '  "x": 2,', ">>>>>>> theirs"] + lines[3:]))
    with pytest.raises(UnreadableNotebookError, match=r"07_tiny_lab.ipynb holds a git merge-conflict marker on line 4 \('<<<<<<< HEAD'\)"):
        read_notebook(path)
    assert main(["build", "--solutions", str(path.parent), "--labs", str(tmp_path / "labs")]) == 2
    assert "merge-conflict marker on line 4" in capsys.readouterr().err
    path.write_text("{ not json")
    with pytest.raises(UnreadableNotebookError, match=r"07_tiny_lab.ipynb is not a readable notebook \(NotJSONError"):
        read_notebook(path)


def test_cli_reports_marker_errors(tmp_path, capsys):
    nb = solution_notebook()
    nb.cells[2].source += "\n### END SOLUTION"
    write(nb, tmp_path / "solutions" / "07_tiny_lab.ipynb")
    assert main(["build", "--solutions", str(tmp_path / "solutions"), "--labs", str(tmp_path / "labs")]) == 2
    assert "07_tiny_lab.ipynb, cell 2, line 18: '### END SOLUTION' without" in capsys.readouterr().err
    assert main(["build", "--solutions", str(tmp_path / "nowhere")]) == 2


def test_grading_fixture_builds_into_a_valid_lab():
    fixture = REPO_ROOT / "tests" / "fixtures" / "labs" / "99_grading_fixture.ipynb"
    lab = make_lab(nbformat.read(fixture, as_version=4), str(fixture))
    nbformat.validate(lab)
    for cell in lab.cells:
        if cell.cell_type == "code":
            ast.parse(python_source(cell.source))
    assert list(graded_cells(lab)) == ["relu", "output_size", "n_params"]


def test_labs_in_sync_with_solutions():
    problems = build_labs(REPO_ROOT / "solutions", REPO_ROOT / "labs", check=True)
    assert problems == [], "labs/ is out of sync with solutions/; run `python -m helpers.labs build`:\n" + "\n".join(problems)
