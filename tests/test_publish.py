"""helpers.publish: one address in pyproject.toml, written into every notebook and doc, and checked.

``test_every_notebook_and_doc_points_at_the_repository`` is the check that fails when a notebook's setup cell or
Colab badge, README.md, INSTRUCTORS.md or GLOSSARY.md disagrees with pyproject.toml
(fix: ``python -m helpers.publish``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import torch

from helpers import publish
from helpers.common import REPO_ROOT
from helpers.device import full_mode_note
from helpers.labs import build_labs, make_lab

LESSON = "02_convolution_filters.ipynb"
LAB = "02_convolution_lab.ipynb"


def test_the_address_comes_from_pyproject_urls():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    settings = publish.read_settings(REPO_ROOT)
    assert data["project"]["urls"]["Repository"] == settings.url
    assert data["tool"]["course"]["ref"] == settings.ref
    assert data["project"]["name"] == settings.package
    assert publish.NOTEBOOK_EXTRA in data["project"]["optional-dependencies"], "the Colab install names this extra"


def test_every_notebook_and_doc_points_at_the_repository():
    problems = publish.publish(REPO_ROOT, check=True)
    assert not problems, ("these files disagree with pyproject.toml's address; run `python -m helpers.publish`:\n"
                          + "\n".join(problems))


def test_the_setup_cell_installs_the_package_at_the_ref_and_fetches_data():
    settings = publish.Settings("my-school/vision", "v2")
    cell = publish.setup_cell(settings)
    assert '%pip install -q "image-classification-course-helpers[notebooks] @ git+https://github.com/my-school/vision.git@v2"' in cell
    assert "!\"{sys.executable}\" -m helpers.data fetch fashion-mnist cifar10" in cell
    assert cell.rstrip().endswith("device = setup_notebook(DEVICE, seed=SEED, quick=QUICK)")


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A small copy of the repository: pyproject, docs, glossary, lesson 02, solution 02 and its generated lab."""
    for name in ("pyproject.toml", "README.md", "INSTRUCTORS.md", "GLOSSARY.md"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    for folder, name in (("course", LESSON), ("solutions", LAB)):
        (tmp_path / folder).mkdir()
        shutil.copy(REPO_ROOT / folder / name, tmp_path / folder / name)
    build_labs(tmp_path / "solutions", tmp_path / "labs")
    return tmp_path


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def second_code_cell(nb) -> str:
    return [c for c in nb.cells if c.cell_type == "code"][1].source


def test_publish_writes_the_address_everywhere(repo_copy: Path, capsys):
    assert publish.main(["--repo", "my-school/vision", "--ref", "v2"], root=repo_copy) == 0
    pyproject = (repo_copy / "pyproject.toml").read_text()
    assert 'Repository = "https://github.com/my-school/vision"' in pyproject
    assert 'ref = "v2"' in pyproject
    assert "https://my-school.github.io/vision/" in pyproject

    lesson = read(repo_copy / "course" / LESSON)
    title = lesson.cells[0].source.split("\n")
    assert title[0].startswith("# 02"), "the title stays the first line"
    assert title[2] == (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/my-school/vision/blob/v2/course/{LESSON})"
        " · Korean/English terms: [glossary](../GLOSSARY.md)")
    assert "git+https://github.com/my-school/vision.git@v2" in second_code_cell(lesson)

    lab = read(repo_copy / "labs" / LAB)
    assert f"/blob/v2/labs/{LAB}" in lab.cells[0].source, "a lab's badge opens the lab, not the solution"
    solution = read(repo_copy / "solutions" / LAB)
    assert f"/blob/v2/solutions/{LAB}" in solution.cells[0].source
    assert build_labs(repo_copy / "solutions", repo_copy / "labs", check=True) == [], \
        "publishing the lab directly and generating it from the published solution must agree"

    readme = (repo_copy / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| 02 |"))
    assert f"(course/{LESSON}) [![Open In Colab]" in row
    assert f"https://colab.research.google.com/github/my-school/vision/blob/v2/course/{LESSON}" in row
    instructors = (repo_copy / "INSTRUCTORS.md").read_text()
    assert "image-classification-course/image-classification-course" not in instructors
    assert "https://mybinder.org/v2/gh/my-school/vision/v2?labpath=labs/02_convolution_lab.ipynb" in instructors

    assert publish.main(["--check"], root=repo_copy) == 0
    before = {p: p.read_bytes() for p in repo_copy.rglob("*") if p.is_file()}
    assert publish.main([], root=repo_copy) == 0
    assert before == {p: p.read_bytes() for p in repo_copy.rglob("*") if p.is_file()}, "publishing twice changes nothing"


def test_check_names_each_file_that_disagrees(repo_copy: Path, capsys):
    publish.main([], root=repo_copy)
    assert publish.main(["--check"], root=repo_copy) == 0
    lesson_path = repo_copy / "course" / LESSON
    nb = read(lesson_path)
    nb.cells[0].source = nb.cells[0].source.replace("/blob/main/", "/blob/old-branch/")
    nbformat.write(nb, lesson_path)
    readme = repo_copy / "README.md"
    readme.write_text(readme.read_text().replace("colab.research.google.com/github/", "colab.research.google.com/github/x", 1))
    capsys.readouterr()
    assert publish.main(["--check"], root=repo_copy) == 1
    err = capsys.readouterr().err
    assert f"course/{LESSON}" in err and "README.md" in err
    assert f"solutions/{LAB}" not in err, "only the files that disagree are named"


def test_publish_leaves_skipped_files_alone(repo_copy: Path):
    lesson = repo_copy / "course" / LESSON
    before = lesson.read_bytes()
    publish.main(["--repo", "my-school/vision", "--skip", f"course/{LESSON}"], root=repo_copy)
    assert lesson.read_bytes() == before
    assert "my-school/vision" in (repo_copy / "solutions" / LAB).read_text()


@pytest.mark.parametrize("repo", ["vision", "a/b/c", "my school/vision", ""])
def test_a_malformed_repository_is_refused(repo_copy: Path, repo: str, capsys):
    assert publish.main(["--repo", repo], root=repo_copy) == 2
    assert "OWNER/NAME" in capsys.readouterr().err


def test_a_ref_with_a_slash_is_refused(repo_copy: Path, capsys):
    assert publish.main(["--ref", "release/1"], root=repo_copy) == 2
    assert "branch or tag" in capsys.readouterr().err


def test_make_lab_points_the_badge_at_the_lab():
    solution = read(REPO_ROOT / "solutions" / LAB)
    publish.publish_notebook(solution, f"solutions/{LAB}", publish.Settings("o/n", "main"))
    lab = make_lab(solution, name=f"solutions/{LAB}")
    assert "https://colab.research.google.com/github/o/n/blob/main/labs/02_convolution_lab.ipynb" in lab.cells[0].source
    assert "/solutions/" not in lab.cells[0].source


def test_a_badge_line_replaces_the_old_one_and_keeps_the_text():
    cell = "# Title\n\nFirst paragraph.\n\nSecond."
    once = publish.with_badge_line(cell, "[![Open In Colab](x)](y) · glossary")
    assert once == "# Title\n\n[![Open In Colab](x)](y) · glossary\n\nFirst paragraph.\n\nSecond."
    assert publish.with_badge_line(once, "[![Open In Colab](x2)](y2)") == \
        "# Title\n\n[![Open In Colab](x2)](y2)\n\nFirst paragraph.\n\nSecond."
    assert publish.with_badge_line("# Only a title", "B") == "# Only a title\n\nB"


def test_record_times_keeps_a_full_runs_seconds(tmp_path: Path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"mode": "full", "notebooks": [
        {"notebook": "course/05_vgg_fashion_mnist.ipynb", "status": "ok", "seconds": 28.4,
         "device": "cuda (NVIDIA H100 80GB HBM3)"},
        {"notebook": "course/04_regularization.ipynb", "status": "failed", "seconds": 3.0, "device": "cuda (X)"},
        {"notebook": "course/02_convolution_filters.ipynb", "status": "ok", "seconds": 61.0, "device": "cpu (2 threads)"},
    ]}))
    times = tmp_path / "times.json"
    lines = publish.record_times(results, times)
    assert len(lines) == 2
    data = json.loads(times.read_text())
    assert data["cuda"] == {"course/05_vgg_fashion_mnist.ipynb": {"seconds": 28, "device": "NVIDIA H100 80GB HBM3"}}
    assert data["cpu"]["course/02_convolution_filters.ipynb"]["seconds"] == 61
    note = full_mode_note(torch.device("cpu"), False, "course/02_convolution_filters.ipynb", times_file=times)
    assert "1.0 min on cpu (2 threads)" in note or "61 s on cpu (2 threads)" in note
    results.write_text(json.dumps({"mode": "quick", "notebooks": []}))
    with pytest.raises(publish.PublishError, match="full run"):
        publish.record_times(results, times)


def test_full_mode_on_a_cpu_says_how_long_it_takes(tmp_path: Path):
    times = tmp_path / "times.json"
    times.write_text(json.dumps({"cpu": {"course/05_vgg_fashion_mnist.ipynb": {"seconds": 282, "device": "a 2-core CPU"}},
                                 "cuda": {"course/05_vgg_fashion_mnist.ipynb": {"seconds": 28, "device": "an H100"}}}))
    cpu = torch.device("cpu")
    mine = full_mode_note(cpu, False, "/home/me/course/05_vgg_fashion_mnist.ipynb", times_file=times)
    assert "4.7 min on a 2-core CPU, 28 s on an H100" in mine
    other = full_mode_note(cpu, False, "", times_file=times)
    assert "05: 4.7 min" in other
    assert full_mode_note(cpu, True, "", times_file=times) == ""
    assert full_mode_note(torch.device("meta"), False, "", times_file=times) == ""
    assert "No full-mode time" in full_mode_note(cpu, False, "", times_file=tmp_path / "missing.json")
    shipped = json.loads(publish.REPO_ROOT.joinpath("helpers", "full_mode_times.json").read_text())
    assert shipped["cpu"], "the package ships measured full-mode times"


def test_skip_dirty_leaves_files_with_uncommitted_changes_alone(repo_copy: Path, capsys):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo_copy, check=True,
                       capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "start")
    solution = repo_copy / "solutions" / LAB
    edited = solution.read_text().replace("Lab 02", "Lab 02 (being edited)")
    solution.write_text(edited)
    lab_before = (repo_copy / "labs" / LAB).read_bytes()
    assert publish.dirty_files(repo_copy) == {f"solutions/{LAB}", f"labs/{LAB}"}
    assert publish.main(["--skip-dirty"], root=repo_copy) == 0
    assert "left alone (uncommitted changes): labs/02_convolution_lab.ipynb, solutions/02_convolution_lab.ipynb" \
        in capsys.readouterr().out
    assert solution.read_text() == edited
    assert (repo_copy / "labs" / LAB).read_bytes() == lab_before
    settings = publish.read_settings(repo_copy)
    assert settings.colab_url(f"course/{LESSON}") in (repo_copy / "course" / LESSON).read_text(), "clean files are published"
