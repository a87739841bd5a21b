"""Grade a folder of student lab notebooks with ``pytest --nbval-lax``; write a gradebook.

Each graded item is one check cell, tagged ``graded`` and ``graded:<id>`` in the solution notebook.
A student's notebook earns the item when the last cell with that id runs without an error; the total
comes from the solution, so a deleted check cell counts as missing and a duplicated one counts once.

Accepted layouts of ``SUBMISSIONS_DIR`` (both may be mixed)::

    submissions/alice/02_convolution_lab.ipynb      one folder per student (other files in it are copied too)
    submissions/bob__02_convolution_lab.ipynb       or files named <student>__<lab>.ipynb

A notebook belongs to the lab whose solution has the same two-digit number (``02_...``), so renamed copies
such as ``02_convolution_lab (1).ipynb`` still match. Example::

    python -m helpers.grade submissions/ --lab 02 --timeout 120 --out gradebook.csv --html

Each notebook runs in its own ``pytest`` process in fresh scratch folders. Its kernel runs in a bubblewrap
sandbox (``helpers.sandbox``: system read-only, solutions and submissions hidden, no network) when bwrap works
here; the grader says loudly when it does not. Graded cells run as the solution has them (hidden tests
included). Results travel from the pytest process (``helpers.grading_plugin``) to a file the kernel can
neither see nor name: nothing the notebook prints or writes can score a point.
"""

from __future__ import annotations

import argparse
import ast
import csv
import difflib
import html
import json
import os
import re
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import papermill
from papermill.translators import PythonTranslator

from helpers.common import HEADLESS_ENV, NOTEBOOK_GLOB, REPO_ROOT, usable_cpu_count
from helpers.grading_plugin import ANSI, FRESH_CHECKS
from helpers.labs import (GRADED_PREFIX, UnreadableNotebookError, graded_cells, grading_cell_source, lab_cell_source,
                          read_notebook)
from helpers.sandbox import sandbox_command, sandbox_problem

RUN_ENV = "COURSE_GRADE_RUN"  # a token in the environment of every process of one run, to clean up after it
KERNEL_NAME = "course-grade"  # the kernelspec the grader writes for each run (the kernel, sandboxed or not)
PARAMS_ID = "(parameters)"  # the id of the cell holding the grader's -p parameters
NBVAL_TAGS = {"nbval-ignore-output", "nbval-check-output", "nbval-raises-exception", "nbval-skip", "raises-exception"}
COPY_LIMIT_BYTES = 50_000_000  # sibling files bigger than this are not copied into the scratch folder
GRADEBOOK_HEADER = ["student", "lab", "passed", "total", "errors", "sandbox"]
# The only variables of your environment a graded notebook sees (no tokens or keys: its errors reach the gradebook)
KEPT_ENV = re.compile(r"PATH|LANG|LANGUAGE|LC_\w+|TZ|TERM|USER|LOGNAME|LD_LIBRARY_PATH|PYTHONPATH|PYTHONHASHSEED|"
                      r"COURSE_\w+|CUDA_\w+|NVIDIA_\w+|OMP_\w+|MKL_\w+|OPENBLAS_\w+|TORCH_\w+|HF_\w+")


@dataclass
class Submission:
    student: str
    path: Path
    folder: Path | None = None  # the student's own folder (its other files are copied next to the notebook)


@dataclass
class LabResult:
    student: str
    lab: str
    items: dict[str, str] = field(default_factory=dict)  # graded id -> "passed" or what went wrong
    notes: list[str] = field(default_factory=list)  # problems not tied to one item (unreadable notebook, ...)
    seconds: float = 0.0
    sandbox: str = "-"  # "bwrap", or "none" when the notebook ran without a sandbox

    @property
    def passed(self) -> int:
        return sum(status == "passed" for status in self.items.values())

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def errors(self) -> str:
        failing = [f"{item}: {status}" for item, status in self.items.items() if status != "passed"]
        return "; ".join(self.notes + failing)


@dataclass
class GradingOptions:
    timeout: float = 120  # seconds per cell
    notebook_timeout: float | None = None  # seconds for the whole notebook (default 10 x timeout)
    params: list[tuple[str, str]] = field(default_factory=list)  # -p NAME VALUE pairs, as typed
    jobs: int = 1
    sandbox: bool = True  # run the kernel under bwrap (main() turns it off, and says so, where bwrap cannot run)
    hidden: list[Path] = field(default_factory=list)  # folders the notebook must not see (solutions, submissions)
    max_file_bytes: int = 2_000_000_000


@dataclass
class ClassPlan:
    solutions: dict[str, Path]  # lab number -> solution notebook
    chosen: dict[tuple[str, str], Submission]  # (student, lab number) -> the notebook to grade
    absent: list[LabResult]  # students with a folder but no notebook for --lab
    warnings: list[str]

    def keys(self) -> set[tuple[str, str]]:
        """The (student, lab) rows this run will write."""
        return {(s, self.solutions[n].stem) for s, n in self.chosen} | {(r.student, r.lab) for r in self.absent}


# ---------------------------------------------------------------- finding submissions and solutions

def lab_number(filename: str) -> str | None:
    """The two-digit lab number in a notebook's name: ``"02"`` for ``alice__02_convolution_lab.ipynb``."""
    match = re.search(r"(?<!\d)(\d{2})_", filename.split("__", 1)[-1])
    return match.group(1) if match else None


def find_solutions(solutions_dir: Path) -> dict[str, Path]:
    """Solution notebooks by lab number: ``{"02": Path("solutions/02_convolution_lab.ipynb")}``."""
    if not Path(solutions_dir).is_dir():
        raise FileNotFoundError(f"No solutions folder at {solutions_dir}: pass --solutions DIR.")
    return {path.name[:2]: path for path in sorted(Path(solutions_dir).glob(NOTEBOOK_GLOB))}


def _skipped_file(path: Path, where: str) -> str:
    """Why a file that is not a notebook was not graded, and what to do about it."""
    if path.suffix.lower() == ".zip":
        return f"skipped {where}: a zip archive; unzip it first (python -m zipfile -e '{path}' '{path.parent}')"
    if path.suffix.lower() == ".py":
        return f"skipped {where}: a Python script, not a notebook; only .ipynb files are graded (ask for the .ipynb)"
    return f"skipped {where}: not a notebook (.ipynb)"


def find_submissions(submissions_dir: Path) -> tuple[list[Submission], list[str]]:
    """All notebooks in ``submissions_dir`` (see the module docstring) and a warning for every file skipped."""
    root = Path(submissions_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"No submissions folder at {root}.")
    found, warnings = [], []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            files = [p for p in entry.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(entry).parts)]
            notebooks = sorted(p for p in files if p.suffix == ".ipynb")
            found += [Submission(entry.name, path, folder=entry) for path in notebooks]
            if not notebooks:
                others = [p for p in files if p.suffix.lower() in (".zip", ".py")]
                warnings.append(f"{entry.name}/ holds no notebook" + (f"; {_skipped_file(others[0], str(others[0].relative_to(root)))}" if others else ""))
        elif entry.suffix == ".ipynb" and "__" in entry.name:
            found.append(Submission(entry.name.split("__", 1)[0], entry))
        elif entry.suffix == ".ipynb":
            warnings.append(f"skipped {entry.name}: name it <student>__{entry.name} or put it in a folder named after the student")
        else:
            warnings.append(_skipped_file(entry, entry.name))
    return found, warnings


def plan_class(submissions_dir: Path, solutions_dir: Path = REPO_ROOT / "solutions", lab: str | None = None) -> ClassPlan:
    """Which notebook of which student is graded against which solution; warnings for everything left out."""
    solutions = find_solutions(solutions_dir)
    if lab is not None:
        if not str(lab).isdigit():
            raise FileNotFoundError(f"--lab takes a lab number such as 02, not {lab!r}.")
        lab = f"{int(lab):02d}"
        if lab not in solutions:
            raise FileNotFoundError(f"No solution for lab {lab} in {solutions_dir} (found: {', '.join(solutions) or 'none'}).")
    submissions, warnings = find_submissions(submissions_dir)
    chosen: dict[tuple[str, str], Submission] = {}
    for submission in submissions:
        number = lab_number(submission.path.name)
        if number is None or number not in solutions:
            warnings.append(f"skipped {submission.path.relative_to(submissions_dir)}: no solution matches its lab number")
            continue
        if lab and number != lab:
            continue
        key = (submission.student, number)
        if key in chosen:  # two copies of the same lab: grade the newest
            older = min(chosen[key], submission, key=lambda s: s.path.stat().st_mtime)
            warnings.append(f"{submission.student} handed in two copies of lab {number}; ignoring {older.path.name}")
            submission = chosen[key] if older is submission else submission
        chosen[key] = submission
    absent = []
    if lab is not None:  # a student folder without this lab: zero points, not silence
        folders = {p.name for p in Path(submissions_dir).iterdir() if p.is_dir() and not p.name.startswith(".")}
        items = list(graded_cells(read_notebook(solutions[lab]), str(solutions[lab])))
        for student in sorted(folders - {student for student, _ in chosen}):
            absent.append(LabResult(student, solutions[lab].stem, {item: "not handed in" for item in items}, ["no submission"]))
    return ClassPlan(solutions, chosen, absent, warnings)


# ---------------------------------------------------------------- parameters (-p NAME VALUE)

def _papermill_value(text: str):
    """A ``-p`` value typed the way papermill's command line types it: True, False, None, int, float, else str."""
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_parameters(pairs: list[tuple[str, str]], solution_path: Path) -> dict[str, str]:
    """``-p NAME VALUE`` pairs as the Python source of the grader's parameter cell: ``{"EPOCHS": "1"}``.

    Values are typed as papermill types them, then checked against the lab's ``parameters`` cell: a name it
    does not define, or a value of another kind than its default (``-p QUICK false``) is refused (ValueError).
    """
    defaults = {name: info["default"] for name, info in papermill.inspect_notebook(str(solution_path)).items()}
    rendered = {}
    for name, text in pairs:
        if name not in defaults:
            raise ValueError(f"-p {name} {text}: {solution_path.name} has no parameter {name} "
                             f"(its parameters: {', '.join(defaults) or 'none'}).")
        value = _papermill_value(text)
        try:
            default = ast.literal_eval(defaults[name])
        except (ValueError, SyntaxError):
            default = None  # an expression: any value goes
        if isinstance(default, str):
            value = text  # a text parameter: "-p DEVICE 0" means the text "0"
        elif isinstance(default, bool) and not isinstance(value, bool):
            raise ValueError(f"-p {name} {text}: {name} is True or False (spelled the Python way), not {text!r}.")
        elif isinstance(default, (int, float)) and not isinstance(default, bool) and (
                isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"-p {name} {text}: {name} takes a number (its default is {defaults[name]}), not {text!r}.")
        rendered[name] = PythonTranslator.translate(value)
    return rendered


# ---------------------------------------------------------------- preparing and running one notebook

def _code_lines(source: str) -> list[str]:
    """The lines of a cell that are code (stripped; blank lines and comments left out)."""
    return [line.strip() for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]


def _holds_in_order(lines: list[str], wanted: list[str]) -> bool:
    position = iter(lines)
    return bool(wanted) and all(any(line == want for line in position) for want in wanted)


def _cell_grading_id(cell, lab_sources: dict[str, str]) -> str | None:
    """The graded id of a student's cell: its ``graded:<id>`` tag, or (tags lost) the lab's check code in it."""
    for tag in cell.get("metadata", {}).get("tags", []) or []:
        if isinstance(tag, str) and tag.startswith(GRADED_PREFIX) and tag[len(GRADED_PREFIX):] in lab_sources:
            return tag[len(GRADED_PREFIX):]
    lines = _code_lines(cell.source)
    return next((item for item, source in lab_sources.items() if _holds_in_order(lines, _code_lines(source))), None)


def missing_reason(student_nb, item: str, lab_sources: dict[str, str]) -> str:
    """Why ``item`` has no graded cell: deleted, or a look-alike check cell that lost its tags and was changed.

    ``lab_sources`` are the lab's check cells by graded id; cells graded as another item are never the look-alike.
    """
    best, score = None, 0.0
    for cell in student_nb.cells:
        if cell.cell_type == "code" and cell.source.strip() and _cell_grading_id(cell, lab_sources) is None:
            ratio = difflib.SequenceMatcher(None, cell.source.strip(), lab_sources[item]).ratio()
            best, score = (cell, ratio) if ratio > score else (best, score)
    if best is not None and score >= 0.6:
        first = best.source.strip().splitlines()[0][:60]
        return (f"missing: no cell tagged {GRADED_PREFIX}{item}; the cell starting {first!r} looks like its check cell "
                "but lost its tags and was changed, so it was not graded (paste the check cell back from the lab)")
    return "missing: no graded cell with this id (deleted?)"


def _parameters_index(cells, names) -> int:
    """Where the grader's parameters go: after the ``parameters`` cell, or a cell that assigns one of them; else first."""
    for index, cell in enumerate(cells):
        if "parameters" in (cell.metadata.get("tags", []) or []):
            return index + 1
    for index, cell in enumerate(cells):
        if re.search(rf"^({'|'.join(map(re.escape, names))})\s*=", cell.source, re.MULTILINE):
            return index + 1
    return 0


def prepare_notebook(student_nb, solution_nb, params: dict[str, str] | None = None, name: str = "solution"):
    """The notebook the grader runs, and the graded id of each of its code cells (None if not graded).

    Only code cells are kept. Graded cells get the solution's source (hidden tests included, check modules
    reloaded first) and tags; outputs are dropped; ``params`` (e.g. ``{"EPOCHS": "1"}``, Python source) go in
    a cell right after the ``parameters`` cell (its id is ``PARAMS_ID``).
    """
    solution_cells = graded_cells(solution_nb, name)
    lab_sources = {item: lab_cell_source(cell, name).strip() for item, cell in solution_cells.items()}
    nb = nbformat.v4.new_notebook(metadata=student_nb.get("metadata", {}))
    ids: list[str | None] = []
    for cell in student_nb.cells:
        if cell.cell_type != "code":
            continue  # only code cells run; new cells (fresh ids) also tidy up notebooks from older tools
        item = _cell_grading_id(cell, lab_sources)
        code = nbformat.v4.new_code_cell(cell.source, metadata=dict(cell.get("metadata", {})))
        code.metadata["tags"] = [t for t in code.metadata.get("tags", []) or [] if t not in NBVAL_TAGS]
        if item is not None:
            source = grading_cell_source(solution_cells[item], name)
            code.source = source if source.lstrip().startswith("%%") else FRESH_CHECKS + source
            code.metadata["tags"] = list(solution_cells[item].metadata.get("tags", []))
        nb.cells.append(code)
        ids.append(item)
    if params:
        at = _parameters_index(nb.cells, list(params))
        lines = "\n".join(f"{key} = {value}" for key, value in params.items())
        nb.cells.insert(at, nbformat.v4.new_code_cell("# Parameters set by the grader\n" + lines))
        ids.insert(at, PARAMS_ID)
    return nb, ids


def _kill_run(token: str) -> None:
    """Kill every process still carrying this run's token in its environment (the kernel, its children)."""
    needle = f"{RUN_ENV}={token}".encode()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


def _kernel_visible() -> list[Path]:
    """What a sandboxed kernel needs to see even under a hidden folder: Python, helpers, data, downloaded weights."""
    data = [os.environ.get("COURSE_DATA", REPO_ROOT / "data"), os.environ.get("COURSE_DATA_MIRROR", "")]
    return [REPO_ROOT / "helpers", Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent,
            Path(site.getusersitepackages()), Path.home() / ".cache", *(Path(p) for p in data if p)]


def kernel_sandbox_problem(hidden: list[Path]) -> str | None:
    """None if a sandboxed kernel can start here (bwrap works, and this Python and helpers import inside it)."""
    problem = sandbox_problem()
    if problem is None:
        with tempfile.TemporaryDirectory(prefix="grade-probe-") as scratch:
            command = sandbox_command([sys.executable, "-c", "import ipykernel_launcher, helpers.checks"], writable=[Path(scratch)],
                                      hidden=[Path.home(), *hidden], visible=_kernel_visible(), cwd=Path(scratch))
            env = dict(os.environ, PYTHONSAFEPATH="1", PYTHONPATH=str(REPO_ROOT))
            probe = subprocess.run(command, capture_output=True, text=True, env=env)
        if probe.returncode != 0:
            last = (probe.stderr.strip().splitlines() or [f"exit code {probe.returncode}"])[-1]
            problem = f"this Python cannot start a kernel inside bwrap ({last[:160]})"
    return problem


def _write_kernelspec(folder: Path, work: Path, writable: list[Path], hidden: list[Path], sandboxed: bool) -> None:
    """The kernel nbval starts: this Python's ipykernel, inside bwrap when ``sandboxed``; REPO_ROOT's helpers first."""
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    if sandboxed:
        # JPY_PARENT_PID: inside the sandbox's own process tree the kernel's parent is pid 1, which ipykernel would take
        # for "my parent died"; the sandbox dies with its parent instead (bwrap --die-with-parent)
        argv = sandbox_command(argv, writable=writable, hidden=hidden, visible=_kernel_visible(), cwd=work,
                               unset_env=["JPY_PARENT_PID"])
    pythonpath = [str(REPO_ROOT), str(work)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = {"PYTHONSAFEPATH": "1", "PYTHONPATH": os.pathsep.join(pythonpath), HEADLESS_ENV: "1"}
    spec = {"argv": argv, "display_name": "Python 3 (grading)", "language": "python", "interrupt_mode": "message", "env": env}
    (folder / KERNEL_NAME).mkdir(parents=True)
    (folder / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")


def run_notebook(nb, ids: list[str | None], work: Path, options: GradingOptions) -> tuple[dict[str, str], list[str]]:
    """Run ``nb`` under ``pytest --nbval-lax`` with ``work`` as the kernel's folder; ``work.parent`` is scratch.

    Returns each id's status (its last occurrence wins) and notes when pytest itself went wrong. The pytest
    process writes one JSON line per cell to a report in a private folder the kernel cannot see (sandboxed)
    and is never told the name of (no environment variable, not under its folder).
    """
    scratch = work.parent
    home, ipc, kernels = scratch / "home", scratch / "ipc", scratch / "kernels"
    for folder in (home, ipc):
        folder.mkdir(exist_ok=True)
    notebook_timeout = options.notebook_timeout or 10 * options.timeout
    token = uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="grade-results-") as private_dir:
        private = Path(private_dir)
        nbformat.write(nb, work / "submission.ipynb")
        (private / "pytest.ini").write_text("[pytest]\n")
        report, log_path = private / "cells.jsonl", private / "pytest.log"
        _write_kernelspec(kernels, work, [work, home, ipc], [scratch, private, REPO_ROOT / ".git", Path.home(), *options.hidden],
                          options.sandbox)
        caches = {"TORCH_HOME": str(Path.home() / ".cache" / "torch"), "HF_HOME": str(Path.home() / ".cache" / "huggingface")}
        env = dict(caches, **{name: value for name, value in os.environ.items() if KEPT_ENV.fullmatch(name)})
        # (TORCH_HOME, HF_HOME: pretrained weights already downloaded stay findable under the new HOME)
        env.update({"HOME": str(home), "TMPDIR": str(home), "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
                    "PYTHONSAFEPATH": "1", RUN_ENV: token, "JUPYTER_PATH": str(scratch), "JUPYTER_RUNTIME_DIR": str(ipc)})
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env.setdefault("OMP_NUM_THREADS", str(max(1, usable_cpu_count() // max(1, options.jobs))))
        command = [sys.executable, "-m", "pytest", "-c", str(private / "pytest.ini"), "--rootdir", str(private), "--noconftest",
                   "-p", "helpers.grading_plugin", "-p", "no:cacheprovider", "--nbval-lax", f"--nbval-kernel-name={KERNEL_NAME}",
                   f"--nbval-cell-timeout={options.timeout:g}", f"--grade-report={report}",
                   f"--grade-max-file-bytes={options.max_file_bytes}", "-q", "--no-header", str(work / "submission.ipynb")]
        if options.sandbox:
            command.append(f"--grade-ipc={ipc / 'k'}")  # no network inside the sandbox: the kernel talks over sockets in ipc/
        timed_out = False
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(command, cwd=private, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                proc.wait(timeout=notebook_timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            finally:
                _kill_run(token)
        cells: dict[int, str] = {}
        if report.exists():
            for line in report.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                if entry["outcome"] != "passed" or entry["when"] == "call":
                    cells.setdefault(entry["cell"], "passed" if entry["outcome"] == "passed" else entry["error"])
        notes = []
        if not timed_out and proc.returncode not in (0, 1):  # 0: all cells passed, 1: some failed; else pytest broke
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            notes.append(f"pytest exited with code {proc.returncode}: {ANSI.sub('', tail[0])[:200]}")
    missing = f"timed out: the whole notebook ran longer than {notebook_timeout:g} s" if timed_out else "not run (pytest stopped early)"
    status: dict[str, str] = {}
    for number, item in enumerate(ids):
        if item is not None:
            status[item] = cells.get(number, missing)
    if status.get(PARAMS_ID, "passed") != "passed":
        notes.append(f"the grader's parameter cell failed: {status[PARAMS_ID]}")
    status.pop(PARAMS_ID, None)
    return status, notes


def grade_submission(submission: Submission, solution_path: Path, options: GradingOptions | None = None) -> LabResult:
    """Grade one student's notebook against its solution in throw-away folders."""
    options = options or GradingOptions()
    solution = read_notebook(solution_path)
    result = LabResult(submission.student, solution_path.stem, sandbox="bwrap" if options.sandbox else "none")
    items = list(graded_cells(solution, str(solution_path)))
    start = time.perf_counter()
    try:
        student_nb = read_notebook(submission.path)
    except UnreadableNotebookError as err:  # a broken file must not stop the class's grading
        result.notes.append(f"could not read {submission.path.name}: {str(err).replace(str(submission.path), 'it')}"[:300])
        result.items = {item: "not graded" for item in items}
        return result
    params = parse_parameters(options.params, solution_path) if options.params else None
    nb, ids = prepare_notebook(student_nb, solution, params, str(solution_path))
    lab_sources = {item: lab_cell_source(cell, str(solution_path)).strip() for item, cell in graded_cells(solution).items()}
    result.items = {item: missing_reason(student_nb, item, lab_sources) for item in items}
    safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", submission.student)[:20]
    with tempfile.TemporaryDirectory(prefix=f"grade-{safe_name}-") as scratch:
        work = Path(scratch) / "work"
        if submission.folder is not None:
            shutil.copytree(submission.folder, work, ignore=_ignore_for_copy, symlinks=True)
        work.mkdir(exist_ok=True)
        status, notes = run_notebook(nb, ids, work, options)
    result.items.update(status)
    result.notes += notes
    result.seconds = time.perf_counter() - start
    return result


def _ignore_for_copy(folder: str, names: list[str]) -> list[str]:
    """Leave out notebooks, checkpoints and big files when copying a student's folder."""
    skipped = []
    for name in names:
        path = Path(folder) / name
        if name.endswith(".ipynb") or name == ".ipynb_checkpoints" or (path.is_file() and path.stat().st_size > COPY_LIMIT_BYTES):
            skipped.append(name)
    return skipped


# ---------------------------------------------------------------- the class: gradebook and report

def grade_class(plan: ClassPlan, options: GradingOptions | None = None) -> list[LabResult]:
    """Grade every notebook of the plan (``jobs`` at a time); one result per student and lab, sorted."""
    options = options or GradingOptions()
    results = list(plan.absent)
    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        futures = {key: pool.submit(grade_submission, sub, plan.solutions[key[1]], options) for key, sub in sorted(plan.chosen.items())}
        for (student, number), future in futures.items():
            try:
                results.append(future.result())
            except Exception as err:  # a bug or a broken notebook must cost one row, not the whole gradebook
                failed = LabResult(student, plan.solutions[number].stem, notes=[f"grader error: {type(err).__name__}: {err}"[:300]])
                failed.items = {item: "not graded" for item in graded_cells(read_notebook(plan.solutions[number]))}
                results.append(failed)
    return sorted(results, key=lambda r: (r.lab, r.student))


def gradebook_rows(path: Path) -> set[tuple[str, str]]:
    """The (student, lab) rows of an existing gradebook; ValueError if ``path`` is not one of ours."""
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    if not rows or rows[0][:5] != GRADEBOOK_HEADER[:5]:
        first = ",".join(rows[0])[:60] if rows else "empty"
        raise ValueError(f"{path} exists and is not a gradebook (its first line is {first!r}); choose another --out.")
    return {(row[0], row[1]) for row in rows[1:] if len(row) >= 2}


def check_output(path: Path, keys: set[tuple[str, str]], replace: bool = False) -> str | None:
    """Refuse (ValueError) an --out that cannot be written or would lose rows; a warning to print, or None."""
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder; give a file name such as {path / 'gradebook.csv'}.")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"--out {path}: the folder {folder} does not exist; create it first (mkdir -p {folder}).")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"--out {path}: the folder {folder} is not writable.")
    if not path.exists():
        return None
    try:
        dropped = gradebook_rows(path) - keys
    except ValueError:
        if not replace:
            raise
        return f"replacing {path}, which is not a gradebook (--replace)"
    if dropped and not replace:
        example = ", ".join(f"{student} {lab}" for student, lab in sorted(dropped)[:3])
        raise ValueError(f"{path} holds {len(dropped)} rows this run would not write ({example}{', ...' if len(dropped) > 3 else ''}): "
                         "write this run to another file (--out), or pass --replace to overwrite it.")
    return f"replacing {path}: {len(dropped)} of its rows are not in this run (--replace)" if dropped else None


def _write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, then rename it over ``path``: never half a gradebook."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8", newline="")
    temporary.replace(path)


def write_gradebook(results: list[LabResult], path: Path) -> None:
    """Write the CSV gradebook: student, lab, passed, total, errors, sandbox."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(GRADEBOOK_HEADER)
    for r in results:
        writer.writerow([r.student, r.lab, r.passed, r.total, r.errors, r.sandbox])
    _write_atomically(Path(path), buffer.getvalue())


def summary_table(results: list[LabResult], width: int = 70) -> str:
    """A plain-text table of the results (what the command prints)."""
    rows = [("student", "lab", "score", "seconds", "first problem")]
    for r in results:
        problem = r.errors.split("; ")[0] if r.errors else ""
        rows.append((r.student, r.lab, f"{r.passed}/{r.total}", f"{r.seconds:.0f}", problem[:width] + ("…" if len(problem) > width else "")))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    return "\n".join([lines[0], "-" * len(lines[0])] + lines[1:])


def write_html(results: list[LabResult], path: Path, banner: str = "") -> None:
    """A small self-contained HTML report: one row per student and lab, one column per graded item."""
    items = list(dict.fromkeys(item for r in results for item in r.items))
    head = "".join(f"<th>{html.escape(i)}</th>" for i in items)
    rows = []
    for r in results:
        cells = "".join(
            f'<td class="{"ok" if r.items.get(i) == "passed" else "bad"}" title="{html.escape(r.items.get(i, ""))}">'
            f'{"✅" if r.items.get(i) == "passed" else ("—" if i not in r.items else "❌")}</td>' for i in items)
        rows.append(f"<tr><td>{html.escape(r.student)}</td><td>{html.escape(r.lab)}</td><td>{r.passed}/{r.total}</td>"
                    f"{cells}<td class=\"err\">{html.escape(r.errors)}</td></tr>")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
             "vertical-align:top}td.bad{background:#fdd}td.ok{background:#dfd}td.err{font-size:85%;max-width:40em}"
             "p.warn{background:#fdd;padding:.5em;font-weight:bold}")
    warning = f'<p class="warn">{html.escape(banner)}</p>' if banner else ""
    _write_atomically(path, f"<!doctype html><html><head><meta charset=\"utf-8\"><title>Gradebook</title><style>{style}</style></head>"
                      f"<body><h1>Gradebook</h1>{warning}<p>{len(results)} notebooks graded on {time.strftime('%Y-%m-%d %H:%M')}. "
                      f"Hover over a ❌ to see what went wrong.</p><table><tr><th>student</th><th>lab</th><th>score</th>{head}"
                      f"<th>errors</th></tr>{''.join(rows)}</table></body></html>\n")


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.grade", description=__doc__.split("\n\n")[0],
                                     epilog="See INSTRUCTORS.md for the accepted folder layouts and what grading guarantees.")
    parser.add_argument("submissions", type=Path, help="folder of submissions (one folder per student, or <student>__<lab>.ipynb files)")
    parser.add_argument("--lab", help="grade only this lab number, e.g. 02")
    parser.add_argument("--timeout", type=_positive(float), default=120, help="seconds each cell may run (default: %(default)s)")
    parser.add_argument("--notebook-timeout", type=_positive(float), default=None, help="seconds the whole notebook may run (default: 10 x --timeout)")
    parser.add_argument("--out", type=Path, default=Path("gradebook.csv"), help="CSV gradebook to write (default: %(default)s)")
    parser.add_argument("--replace", action="store_true", help="overwrite --out even if it holds rows this run does not write")
    parser.add_argument("--html", action="store_true", help="also write a report next to the CSV (gradebook.html)")
    parser.add_argument("--solutions", type=Path, default=REPO_ROOT / "solutions", help="solved notebooks (default: %(default)s)")
    parser.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                        help="set a notebook parameter for grading, e.g. -p EPOCHS 1 (typed as papermill does; repeatable)")
    parser.add_argument("--jobs", type=_positive(int), default=max(1, usable_cpu_count() // 2), help="notebooks graded at once (default: %(default)s)")
    parser.add_argument("--require-sandbox", action="store_true", help="refuse to grade when the bwrap sandbox cannot run")
    args = parser.parse_args(argv)
    try:
        plan = plan_class(args.submissions, args.solutions, args.lab)
        for number in sorted({number for _, number in plan.chosen}):  # a broken solution or -p stops us before grading
            graded_cells(read_notebook(plan.solutions[number]), str(plan.solutions[number]))
            parse_parameters(args.param, plan.solutions[number])
    except (FileNotFoundError, ValueError) as err:  # ValueError includes unreadable solutions and bad markers
        print(f"error: {err}", file=sys.stderr)
        return 2
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not plan.chosen and not plan.absent:
        print(f"error: nothing to grade in {args.submissions} (no notebook matches a lab in {args.solutions}); "
              f"{args.out} was not written.", file=sys.stderr)
        return 1
    try:
        out_warning = check_output(args.out, plan.keys(), args.replace)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if out_warning:
        print(f"warning: {out_warning}", file=sys.stderr)
    problem = kernel_sandbox_problem([args.solutions, args.submissions])
    if problem and args.require_sandbox:
        print(f"error: --require-sandbox: {problem}", file=sys.stderr)
        return 2
    banner = f"WARNING: graded WITHOUT a sandbox: {problem}. The notebooks ran as you, with your files and network." if problem else ""
    if banner:
        print(banner, file=sys.stderr)
    options = GradingOptions(args.timeout, args.notebook_timeout, args.param, args.jobs, sandbox=problem is None,
                             hidden=[args.solutions, args.submissions])
    results = grade_class(plan, options)
    write_gradebook(results, args.out)
    print(summary_table(results))
    print(f"\nwrote {args.out}")
    if args.html:
        html_path = args.out.with_suffix(".html")
        write_html(results, html_path, banner)
        print(f"wrote {html_path}")
    print(banner or "sandbox: bubblewrap (system read-only, solutions and submissions hidden, no network)")
    if plan.warnings:
        print(f"{len(plan.warnings)} files or folders were not graded: see the warnings above.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
