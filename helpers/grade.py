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

Each notebook runs in its own ``pytest`` process (same Python as this one, ``--nbval-current-env``) inside a
fresh temporary folder holding a copy of the submission, with its own HOME, a per-cell timeout, a
whole-notebook timeout and a cap on the size of files it writes. The submissions are never modified.
Graded cells are run as the solution has them (hidden tests included), so editing a check does not help.
This isolates mistakes, not malice: grade untrusted code inside a container or VM.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from helpers.labs import REPO_ROOT, GRADED_PREFIX, grading_cell_source, graded_cells, lab_cell_source

REPORT_ENV = "COURSE_GRADE_REPORT"  # where the pytest plugin below writes one JSON line per cell
RUN_ENV = "COURSE_GRADE_RUN"  # a token in the environment of every process of one run, to clean up after it
MAX_FILE_ENV = "COURSE_GRADE_MAX_FILE_BYTES"
NBVAL_TAGS = {"nbval-ignore-output", "nbval-check-output", "nbval-raises-exception", "nbval-skip", "raises-exception"}
COPY_LIMIT_BYTES = 50_000_000  # sibling files bigger than this are not copied into the scratch folder
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


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


# ---------------------------------------------------------------- finding submissions and solutions

def lab_number(filename: str) -> str | None:
    """The two-digit lab number in a notebook's name: ``"02"`` for ``alice__02_convolution_lab.ipynb``."""
    match = re.search(r"(?<!\d)(\d{2})_", filename.split("__", 1)[-1])
    return match.group(1) if match else None


def find_solutions(solutions_dir: Path) -> dict[str, Path]:
    """Solution notebooks by lab number: ``{"02": Path("solutions/02_convolution_lab.ipynb")}``."""
    if not Path(solutions_dir).is_dir():
        raise FileNotFoundError(f"No solutions folder at {solutions_dir}: pass --solutions DIR.")
    return {path.name[:2]: path for path in sorted(Path(solutions_dir).glob("[0-9][0-9]_*.ipynb"))}


def find_submissions(submissions_dir: Path) -> tuple[list[Submission], list[str]]:
    """All notebooks in ``submissions_dir`` (see the module docstring) and warnings about files skipped."""
    root = Path(submissions_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"No submissions folder at {root}.")
    found, warnings = [], []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            notebooks = sorted(p for p in entry.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            found += [Submission(entry.name, path, folder=entry) for path in notebooks]
            if not notebooks:
                warnings.append(f"{entry.name}/ holds no notebook")
        elif entry.suffix == ".ipynb" and "__" in entry.name:
            found.append(Submission(entry.name.split("__", 1)[0], entry))
        elif entry.suffix == ".ipynb":
            warnings.append(f"skipped {entry.name}: name it <student>__{entry.name} or put it in a folder named after the student")
    return found, warnings


# ---------------------------------------------------------------- preparing and running one notebook

def _cell_grading_id(cell, lab_sources: dict[str, str]) -> str | None:
    """The graded id of a student's cell: its ``graded:<id>`` tag, or (tags lost) a source identical to the lab's."""
    for tag in cell.get("metadata", {}).get("tags", []) or []:
        if isinstance(tag, str) and tag.startswith(GRADED_PREFIX) and tag[len(GRADED_PREFIX):] in lab_sources:
            return tag[len(GRADED_PREFIX):]
    source = cell.source.strip()
    return next((item for item, lab_source in lab_sources.items() if source and source == lab_source), None)


def prepare_notebook(student_nb, solution_nb, params: dict[str, str] | None = None, name: str = "solution"):
    """The notebook the grader runs, and the graded id of each of its code cells (None if not graded).

    Only code cells are kept. Graded cells get the solution's source (hidden tests included) and tags; outputs are dropped;
    ``params`` (e.g. ``{"EPOCHS": "1"}``) go in a cell right after the ``parameters`` cell.
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
        tags = [t for t in code.metadata.get("tags", []) or [] if t not in NBVAL_TAGS]
        if item is not None:
            code.source = grading_cell_source(solution_cells[item], name)
            tags = list(solution_cells[item].metadata.get("tags", []))
        code.metadata["tags"] = tags
        nb.cells.append(code)
        ids.append(item)
        if params and "parameters" in tags:
            nb.cells.append(nbformat.v4.new_code_cell("# Parameters set by the grader\n" + "\n".join(f"{k} = {v}" for k, v in params.items())))
            ids.append(None)
            params = None
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


def run_notebook(nb, ids: list[str | None], workdir: Path, timeout: float, notebook_timeout: float,
                 jobs: int = 1, max_file_bytes: int = 2_000_000_000) -> tuple[dict[str, str], str | None]:
    """Run ``nb`` under ``pytest --nbval-lax`` in ``workdir``.

    Returns each graded id's status (its last occurrence wins) and a note when pytest itself went wrong.
    """
    notebook_path = workdir / "submission.ipynb"
    nbformat.write(nb, notebook_path)
    (workdir / "pytest.ini").write_text("[pytest]\n")
    home = workdir.parent / "home"
    home.mkdir(exist_ok=True)
    report = workdir.parent / "cells.jsonl"
    token = uuid.uuid4().hex
    caches = {"TORCH_HOME": str(Path.home() / ".cache" / "torch"), "HF_HOME": str(Path.home() / ".cache" / "huggingface")}
    env = dict(caches, **os.environ)  # pretrained weights already downloaded stay findable under the new HOME
    env.update({"HOME": str(home), "TMPDIR": str(home), "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
                REPORT_ENV: str(report), RUN_ENV: token, MAX_FILE_ENV: str(max_file_bytes)})
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, jobs))))
    command = [sys.executable, "-m", "pytest", "-p", "helpers.grade", "--nbval-lax", "--nbval-current-env",
               f"--nbval-cell-timeout={timeout:g}", "-p", "no:cacheprovider", "-q", "--no-header", notebook_path.name]
    timed_out = False
    log_path = workdir.parent / "pytest.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
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
    note = None
    if not timed_out and proc.returncode not in (0, 1):  # 0: all cells passed, 1: some failed; else pytest broke
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        note = f"pytest exited with code {proc.returncode}: {ANSI.sub('', tail[0])[:200]}"
    missing = f"timed out: the whole notebook ran longer than {notebook_timeout:g} s" if timed_out else "not run (pytest stopped early)"
    status: dict[str, str] = {}
    for number, item in enumerate(ids):
        if item is not None:
            status[item] = cells.get(number, missing)
    return status, note


def grade_submission(submission: Submission, solution_path: Path, timeout: float = 120, notebook_timeout: float | None = None,
                     params: dict[str, str] | None = None, jobs: int = 1) -> LabResult:
    """Grade one student's notebook against its solution in a throw-away folder."""
    solution = nbformat.read(solution_path, as_version=4)
    result = LabResult(submission.student, solution_path.stem)
    items = list(graded_cells(solution, str(solution_path)))
    result.items = {item: "missing: no graded cell with this id (deleted?)" for item in items}
    start = time.perf_counter()
    try:
        student_nb = nbformat.read(submission.path, as_version=4)
    except Exception as err:  # a broken file must not stop the class's grading
        result.notes.append(f"could not read {submission.path.name}: {type(err).__name__}: {err}"[:300])
        result.items = {item: "not graded" for item in items}
        return result
    nb, ids = prepare_notebook(student_nb, solution, params, str(solution_path))
    with tempfile.TemporaryDirectory(prefix=f"grade-{submission.student}-") as scratch:
        workdir = Path(scratch) / "work"
        if submission.folder is not None:
            shutil.copytree(submission.folder, workdir, ignore=_ignore_for_copy)
        workdir.mkdir(exist_ok=True)
        status, note = run_notebook(nb, ids, workdir, timeout, notebook_timeout or 10 * timeout, jobs)
    result.items.update(status)
    result.notes += [note] if note else []
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

def grade_class(submissions_dir: Path, solutions_dir: Path = REPO_ROOT / "solutions", lab: str | None = None,
                timeout: float = 120, notebook_timeout: float | None = None, params: dict[str, str] | None = None,
                jobs: int = 1) -> list[LabResult]:
    """Grade every submission (of lab ``lab`` only, if given); one result per student and lab."""
    solutions = find_solutions(solutions_dir)
    if lab is not None:
        if not str(lab).isdigit():
            raise FileNotFoundError(f"--lab takes a lab number such as 02, not {lab!r}.")
        lab = f"{int(lab):02d}"
        if lab not in solutions:
            raise FileNotFoundError(f"No solution for lab {lab} in {solutions_dir} (found: {', '.join(solutions) or 'none'}).")
    submissions, warnings = find_submissions(submissions_dir)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    chosen: dict[tuple[str, str], Submission] = {}
    for submission in submissions:
        number = lab_number(submission.path.name)
        if number is None or number not in solutions or (lab and number != lab):
            if number is None or number not in solutions:
                print(f"warning: skipped {submission.path}: no solution matches its lab number", file=sys.stderr)
            continue
        key = (submission.student, number)
        if key in chosen:  # two copies of the same lab: grade the newest
            older = min(chosen[key], submission, key=lambda s: s.path.stat().st_mtime)
            print(f"warning: {submission.student} handed in two copies of lab {number}; ignoring {older.path.name}", file=sys.stderr)
            submission = chosen[key] if older is submission else submission
        chosen[key] = submission
    results: list[LabResult] = []
    if lab is not None:  # a student folder without this lab: zero points, not silence
        folders = {p.name for p in Path(submissions_dir).iterdir() if p.is_dir() and not p.name.startswith(".")}
        for student in sorted(folders - {student for student, _ in chosen}):
            missing = LabResult(student, solutions[lab].stem, notes=["no submission"])
            missing.items = {item: "not handed in" for item in graded_cells(nbformat.read(solutions[lab], as_version=4))}
            results.append(missing)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {key: pool.submit(grade_submission, sub, solutions[key[1]], timeout, notebook_timeout, params, jobs)
                   for key, sub in sorted(chosen.items())}
        for (student, number), future in futures.items():
            try:
                results.append(future.result())
            except Exception as err:  # a bug or a broken notebook must cost one row, not the whole gradebook
                failed = LabResult(student, solutions[number].stem, notes=[f"grader error: {type(err).__name__}: {err}"[:300]])
                failed.items = {item: "not graded" for item in graded_cells(nbformat.read(solutions[number], as_version=4))}
                results.append(failed)
    return sorted(results, key=lambda r: (r.lab, r.student))


def write_gradebook(results: list[LabResult], path: Path) -> None:
    """Write the CSV gradebook: student, lab, passed, total, errors."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["student", "lab", "passed", "total", "errors"])
        for r in results:
            writer.writerow([r.student, r.lab, r.passed, r.total, r.errors])


def summary_table(results: list[LabResult], width: int = 70) -> str:
    """A plain-text table of the results (what the command prints)."""
    rows = [("student", "lab", "score", "seconds", "first problem")]
    for r in results:
        problem = r.errors.split("; ")[0] if r.errors else ""
        rows.append((r.student, r.lab, f"{r.passed}/{r.total}", f"{r.seconds:.0f}", problem[:width] + ("…" if len(problem) > width else "")))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    return "\n".join([lines[0], "-" * len(lines[0])] + lines[1:])


def write_html(results: list[LabResult], path: Path) -> None:
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
             "vertical-align:top}td.bad{background:#fdd}td.ok{background:#dfd}td.err{font-size:85%;max-width:40em}")
    path.write_text(f"<!doctype html><html><head><meta charset=\"utf-8\"><title>Gradebook</title><style>{style}</style></head><body>"
                    f"<h1>Gradebook</h1><p>{len(results)} notebooks graded on {time.strftime('%Y-%m-%d %H:%M')}. "
                    f"Hover over a ❌ to see what went wrong.</p><table><tr><th>student</th><th>lab</th><th>score</th>{head}"
                    f"<th>errors</th></tr>{''.join(rows)}</table></body></html>\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.grade", description=__doc__.split("\n\n")[0],
                                     epilog="See INSTRUCTORS.md for the accepted folder layouts.")
    parser.add_argument("submissions", type=Path, help="folder of submissions (one folder per student, or <student>__<lab>.ipynb files)")
    parser.add_argument("--lab", help="grade only this lab number, e.g. 02")
    parser.add_argument("--timeout", type=float, default=120, help="seconds each cell may run (default: %(default)s)")
    parser.add_argument("--notebook-timeout", type=float, default=None, help="seconds the whole notebook may run (default: 10 x --timeout)")
    parser.add_argument("--out", type=Path, default=Path("gradebook.csv"), help="CSV gradebook to write (default: %(default)s)")
    parser.add_argument("--html", action="store_true", help="also write a report next to the CSV (gradebook.html)")
    parser.add_argument("--solutions", type=Path, default=REPO_ROOT / "solutions", help="solved notebooks (default: %(default)s)")
    parser.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                        help="set a notebook parameter for grading, e.g. -p EPOCHS 1 (Python literal; repeatable)")
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2), help="notebooks graded at once (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        results = grade_class(args.submissions, args.solutions, args.lab, args.timeout, args.notebook_timeout,
                              dict(args.param) or None, args.jobs)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_gradebook(results, args.out)
    print(summary_table(results))
    print(f"\nwrote {args.out}")
    if args.html:
        html_path = args.out.with_suffix(".html")
        write_html(results, html_path)
        print(f"wrote {html_path}")
    return 0


# ---------------------------------------------------------------- pytest plugin (loaded with `-p helpers.grade`)

def pytest_configure(config) -> None:
    """In a grading run, cap the size of any file the notebook writes (the kernel inherits the limit)."""
    limit = os.environ.get(MAX_FILE_ENV)
    if limit and os.environ.get(REPORT_ENV):
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
        except (ImportError, ValueError, OSError):
            pass  # not on this platform


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Append one JSON line per notebook cell and phase to ``$COURSE_GRADE_REPORT``, with a short error text."""
    report = yield
    path = os.environ.get(REPORT_ENV)
    if path and hasattr(item, "cell_num"):
        entry = {"cell": item.cell_num, "when": report.when, "outcome": report.outcome, "error": ""}
        if report.failed:
            entry["error"] = _error_text(item, call)
        elif report.skipped and hasattr(report, "wasxfail") and call.excinfo is not None:
            # after a cell times out, nbval marks every later cell "expected to fail"; a failure is still a failure
            entry["error"] = _error_text(item, call) + " (after an earlier cell timed out)"
        elif report.skipped:
            entry["error"] = "skipped"
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")
    return report


def _error_text(item, call, limit: int = 200) -> str:
    """What went wrong in a cell, in one line: ``CheckFailed: ❌ conv2d (...): ...`` or ``timed out after 10 s``."""
    timeout = item.config.option.nbval_cell_timeout
    errors = [out for out in (getattr(item, "test_outputs", None) or []) if out.get("output_type") == "error"]
    if errors:
        name, value = errors[-1].get("ename", "Error"), errors[-1].get("evalue", "")
        first_line = value.strip().splitlines()[0] if value.strip() else ""  # drop the hint: the gradebook stays short
        text = f"timed out after {float(timeout):g} s" if name == "KeyboardInterrupt" else f"{name}: {first_line}"
    else:
        text = str(call.excinfo.value) if call.excinfo else "failed"
        if "Timeout" in text and "exceeded" in text:
            text = f"timed out after {float(timeout):g} s, or the kernel crashed (it could not be interrupted)"
        elif "Kernel dead" in text:
            text = "not run: the kernel had died (an earlier cell crashed it or timed out)"
    text = " ".join(ANSI.sub("", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
