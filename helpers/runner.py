"""Run the course's notebooks headless with papermill and gather a results table.

Examples::

    python -m helpers.runner                      # every notebook, quick mode, device auto
    python -m helpers.runner --full --device cuda # full mode (what GPU runners run)
    python -m helpers.runner --only 05            # notebooks whose path contains "05" (globs work too)
    python -m helpers.runner --cell-timeout 0     # no per-cell time limit

Each notebook runs from its own folder (as in JupyterLab); the executed copy goes to
``build/executed/<folder>/<name>.ipynb`` and what its kernel printed to the terminal (C-library warnings,
kernel log lines) to ``<name>.log`` beside it. ``build/results.md`` and ``build/results.json`` hold one row per
notebook: status, seconds, device and the key numbers it recorded with ``helpers.results.record``.
The terminal shows one line per notebook; a failure names the notebook, the cell and what happened, and the
exit code is non-zero.

The kernel runs with ``COURSE_HEADLESS=1`` (notebooks draw static figures instead of widgets, see
``helpers.common.is_headless``), ``COURSE_PROGRESS=text`` unless set, and ``COURSE_RESULTS_FILE``; the
runner's own environment is left as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from helpers.common import HEADLESS_ENV, NOTEBOOK_GLOB, PROGRESS_ENV, REPO_ROOT
from helpers.results import RESULTS_ENV, read_results

NOTEBOOK_FOLDERS = ("course", "solutions")  # labs/ are run by students (their gaps raise NotImplementedError)
KERNEL_NAME = "python3"
# Seconds one cell may run. The longest cell of the course in full mode on a 2-core CPU took 244 s on a busy
# machine (lesson 05's training cell, measured from papermill's cell durations); 30 minutes leaves room for a
# slower laptop and still turns a hung cell into an error instead of a silent wait.
DEFAULT_CELL_TIMEOUT = 1800
PAPERMILL_ADDED_TAGS = {"injected-parameters", "papermill-error-cell-tag"}  # cells papermill inserts


@dataclass
class NotebookResult:
    """One row of the results table."""

    notebook: str
    status: str  # "ok" or "failed"
    seconds: float
    device: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    note: str = ""  # something the reader should know about an "ok" run, e.g. a kernelspec that was missing


def find_notebooks(root: Path = REPO_ROOT, only: str | None = None) -> list[Path]:
    """The numbered notebooks of course/ then solutions/, in order; ``only`` filters by substring or glob."""
    found = []
    for folder in NOTEBOOK_FOLDERS:
        found += sorted((root / folder).glob(NOTEBOOK_GLOB))
    if only:
        def matches(path: Path) -> bool:
            rel = path.relative_to(root).as_posix()
            return only in rel or fnmatch.fnmatch(rel, only) or fnmatch.fnmatch(path.name, only)
        found = [p for p in found if matches(p)]
    return found


def kernel_note(nb: Any) -> str:
    """'' when the notebook asks for the python3 kernel; otherwise a sentence saying it runs with python3 anyway."""
    spec = nb.metadata.get("kernelspec") or {}
    if not spec.get("name"):
        return f"the notebook has no kernelspec in its metadata; ran it with {KERNEL_NAME}"
    if spec["name"] != KERNEL_NAME:
        return f"its kernelspec names {spec['name']!r}; ran it with {KERNEL_NAME}"
    return ""


def kernel_environment(results_file: Path) -> dict[str, str]:
    """The variables a headless kernel gets on top of the runner's own environment."""
    return {
        HEADLESS_ENV: "1",
        # text bars: a widget bar saved by papermill shows as a frozen "0/19"; a reader's own choice wins
        PROGRESS_ENV: os.environ.get(PROGRESS_ENV, "text"),
        RESULTS_ENV: str(results_file),
    }


def headless_kernel_manager(env: dict[str, str], log_file: Path, exit_codes: list[int | None]) -> type:
    """A kernel manager class for papermill whose kernel gets ``env``, prints into ``log_file`` (not the terminal),
    uses CurveZMQ transport encryption where jupyter_client and the kernel offer it, and appends its exit code
    to ``exit_codes`` when it is cleaned up."""
    import zmq
    from jupyter_client import AsyncKernelManager

    class HeadlessKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:
            if self.has_trait("transport_encryption") and zmq.has("curve"):
                self.transport_encryption = "auto"  # encrypted when the kernelspec supports it
            kw["env"] = {**kw.pop("env", os.environ), **env}
            with open(log_file, "ab") as log:  # the kernel keeps its own copy of the file descriptor
                await super().start_kernel(stdout=log, stderr=log, **kw)

        async def cleanup_resources(self, restart: bool = False) -> None:
            process = getattr(self.provisioner, "process", None)
            exit_codes.append(process.poll() if process is not None else None)
            await super().cleanup_resources(restart=restart)

    return HeadlessKernelManager


@contextlib.contextmanager
def logs_into(log_file: Path, names: tuple[str, ...] = ("papermill", "traitlets")) -> Iterator[None]:
    """Send the records of papermill's, nbclient's and jupyter_client's loggers to ``log_file`` for a while.

    Their warnings ("Kernel died while waiting for execute reply", shutdown retries) repeat what the runner
    reports itself; in the log they stay available without cluttering the terminal.
    """
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(name)s] %(levelname)s | %(message)s"))
    loggers = [logging.getLogger(name) for name in names]
    saved = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
    try:
        yield
    finally:
        for logger, propagate in zip(loggers, saved):
            logger.removeHandler(handler)
            logger.propagate = propagate
        handler.close()


def last_started_cell(executed: Path) -> tuple[int, str] | None:
    """(index in the stored notebook, first line of code) of the last cell papermill started, or None.

    Indexes count the cells of the notebook as stored (0-based), leaving out the cells papermill inserts.
    """
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:
        return None
    found, index = None, 0
    for cell in nb.cells:
        if PAPERMILL_ADDED_TAGS & set(cell.metadata.get("tags", [])):
            continue
        if cell.metadata.get("papermill", {}).get("start_time"):
            lines = [line for line in cell.source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
            found = (index, lines[0].strip()[:60] if lines else "")
        index += 1
    return found


def describe_exit(code: int | None) -> str:
    """Why a kernel process ended, from its exit code."""
    if code is None:
        return "it stopped responding"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = {"SIGKILL": ": killed, often by the out-of-memory killer", "SIGSEGV": ": a crash in native code",
               "SIGABRT": ": a native library aborted"}.get(name, "")
        return f"it was ended by {name}{why}"
    return f"its process exited with code {code}"


def describe_failure(error: BaseException, executed: Path, cell_timeout: int | None,
                     exit_codes: list[int | None], log_file: Path) -> str:
    """One line saying what went wrong and where: the cell (index and first line of code) and the reason."""
    ename = getattr(error, "ename", type(error).__name__)
    evalue = str(getattr(error, "evalue", error)).strip()
    first_line = evalue.splitlines()[0] if evalue else ""
    started = last_started_cell(executed)
    if started is None:  # papermill never started a cell: the kernel did not come up
        return f"the kernel did not start: {ename}: {first_line} (its output is in {log_file})"[:500]
    where = f"cell {started[0]} (`{started[1]}`)"
    if ename == "DeadKernelError":
        code = next((c for c in reversed(exit_codes) if c is not None), None)
        return f"the kernel died while running {where}: {describe_exit(code)} (its output is in {log_file})"
    if ename == "CellTimeoutError" and "IOPub" in evalue:
        return (f"{where} ran, but the kernel never reported that it finished (no idle message on IOPub; "
                f"widget cells can do this: jupyter/nbclient#312)")
    if ename == "CellTimeoutError":
        return (f"{where} was still running after {cell_timeout} s, the cell timeout "
                f"(change it with --cell-timeout SECONDS, 0 = no limit)")
    return f"{where}: {ename}: {first_line}"[:500]


def execute_notebook(
    notebook: Path,
    output: Path,
    parameters: dict[str, Any],
    results_file: Path,
    cell_timeout: int | None = DEFAULT_CELL_TIMEOUT,
    progress: bool = False,
) -> NotebookResult:
    """Execute one notebook with papermill from its own folder; never raises for a failing notebook.

    The kernel's terminal output goes to ``output`` with the suffix ``.log``; ``cell_timeout`` of None or 0
    means no limit.
    """
    import nbformat
    import papermill

    try:
        name = notebook.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        name = notebook.name
    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception as exc:  # not JSON (a merge conflict), not a notebook, unreadable
        return NotebookResult(name, "failed", 0.0, error=f"cannot read the notebook: {type(exc).__name__}: {exc}"[:500])
    note = kernel_note(nb)
    output.parent.mkdir(parents=True, exist_ok=True)
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.unlink(missing_ok=True)
    log_file = output.with_suffix(".log")
    log_file.write_bytes(b"")
    exit_codes: list[int | None] = []
    start = time.perf_counter()
    error = ""
    try:
        with logs_into(log_file):
            papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters=parameters,
                cwd=str(notebook.parent),
                kernel_name=KERNEL_NAME,
                language="python",  # papermill needs it to write the parameters; metadata may lack it
                progress_bar=progress,
                execution_timeout=cell_timeout or None,
                log_output=False,
                kernel_manager_class=headless_kernel_manager(kernel_environment(results_file), log_file, exit_codes),
            )
    except Exception as exc:  # PapermillExecutionError, CellTimeoutError, DeadKernelError, a kernel that won't start
        error = describe_failure(exc, output, cell_timeout, exit_codes, log_file)
    seconds = time.perf_counter() - start
    numbers = read_results(results_file)
    device = str(numbers.pop("device", ""))
    return NotebookResult(name, "failed" if error else "ok", round(seconds, 1), device, numbers, error, note)


def format_number(value: Any) -> str:
    """Short text for the table: 0.912345 -> 0.9123, 1234.5 -> 1234.5."""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)


def results_markdown(results: list[NotebookResult], mode: str) -> str:
    """The results table as Markdown."""
    lines = [
        f"# Course run ({mode} mode)",
        "",
        "| notebook | status | seconds | device | key numbers |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for r in results:
        numbers = ", ".join(f"{k}={format_number(v)}" for k, v in r.numbers.items())
        for extra in (r.note, r.error and f"**{r.error}**"):
            if extra:
                numbers = (numbers + "; " if numbers else "") + extra
        lines.append(f"| {r.notebook} | {r.status} | {r.seconds:.1f} | {r.device} | {numbers.replace('|', '/')} |")
    total = sum(r.seconds for r in results)
    failed = sum(r.status != "ok" for r in results)
    lines += ["", f"{len(results)} notebooks, {failed} failed, {total:.0f} s in all."]
    return "\n".join(lines) + "\n"


def cell_timeout_arg(text: str) -> int:
    """argparse type for --cell-timeout: whole seconds, 0 for no limit."""
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{seconds} is negative: give seconds, or 0 for no limit")
    return seconds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m helpers.runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="full mode (QUICK=False): longer training, all the data")
    parser.add_argument("--only", metavar="PATTERN", help="run only notebooks whose path contains PATTERN or matches it as a glob")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help="DEVICE parameter (default auto)")
    parser.add_argument("--epochs", type=int, default=None, help="override EPOCHS in every notebook")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build", help="output folder (default build/)")
    parser.add_argument("--cell-timeout", type=cell_timeout_arg, default=DEFAULT_CELL_TIMEOUT, metavar="SECONDS",
                        help=f"seconds one cell may run before the notebook fails (default {DEFAULT_CELL_TIMEOUT}; 0 = no limit)")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first failing notebook")
    parser.add_argument("--list", action="store_true", help="list the notebooks that would run and exit")
    return parser.parse_args(argv)


def prepare_output_folder(out: Path) -> str:
    """Create ``out`` if needed; '' when it is a usable folder, else why not (checked before anything runs)."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file, not a folder: give a folder for the executed copies and the results table"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"--out {out}: cannot create this folder ({exc.strerror or exc})"
    if not os.access(out, os.W_OK | os.X_OK):
        return f"--out {out}: this folder is not writable"
    return ""


def main(argv: list[str] | None = None, root: Path = REPO_ROOT) -> int:
    args = parse_args(argv)
    notebooks = find_notebooks(root, args.only)
    if not notebooks:
        print(f"No notebook matches {args.only!r} in {', '.join(NOTEBOOK_FOLDERS)}/.", file=sys.stderr)
        return 2
    if args.list:
        print("\n".join(p.relative_to(root).as_posix() for p in notebooks))
        return 0
    out: Path = args.out
    problem = prepare_output_folder(out)
    if problem:
        print(problem, file=sys.stderr)
        return 2

    mode = "full" if args.full else "quick"
    parameters: dict[str, Any] = {"QUICK": not args.full, "DEVICE": args.device}
    if args.epochs is not None:
        parameters["EPOCHS"] = args.epochs
    limit = f"{args.cell_timeout} s per cell" if args.cell_timeout else "no cell time limit"
    count = f"{len(notebooks)} notebook" + ("s" if len(notebooks) != 1 else "")
    print(f"Running {count} in {mode} mode, device {args.device}, {limit}; "
          f"executed copies in {out / 'executed'}", flush=True)

    results, failures = [], []
    for i, notebook in enumerate(notebooks, 1):
        rel = notebook.relative_to(root)
        print(f"[{i}/{len(notebooks)}] {rel} ... ", end="", flush=True)
        executed = out / "executed" / rel
        result = execute_notebook(notebook, executed, parameters, out / "recorded" / rel.with_suffix(".json"),
                                  cell_timeout=args.cell_timeout)
        results.append(result)
        if result.error:
            print(f"FAILED after {result.seconds:.1f} s: {result.error}", flush=True)
            failures.append(f"FAILED: {rel}: {result.error} (executed copy: {executed})")
            if args.fail_fast:
                break
        else:
            summary = ", ".join(f"{k}={format_number(v)}" for k, v in result.numbers.items())
            note = f" (note: {result.note})" if result.note else ""
            print(f"ok in {result.seconds:.1f} s{note}  {summary}".rstrip(), flush=True)

    (out / "results.md").write_text(results_markdown(results, mode))
    (out / "results.json").write_text(json.dumps({"mode": mode, "notebooks": [asdict(r) for r in results]}, indent=2))
    print(f"{len(results)} notebooks, {len(failures)} failed, {sum(r.seconds for r in results):.0f} s in all; "
          f"table in {out / 'results.md'}", flush=True)
    for line in failures:
        print(line, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
