"""Run the course's notebooks headless with papermill and gather a results table.

Examples::

    python -m helpers.runner                      # every notebook, quick mode, device auto
    python -m helpers.runner --full --device cuda # full mode (what GPU runners run)
    python -m helpers.runner --only 05            # notebooks whose path contains "05" (globs work too)

Each notebook runs from its own folder (as in JupyterLab); the executed copy goes to
``build/executed/<folder>/<name>.ipynb``; ``build/results.md`` and ``build/results.json`` hold one row per
notebook: status, seconds, device and the key numbers it recorded with ``helpers.results.record``.
The exit code is non-zero when any notebook failed, and the failing notebook and cell are named.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from helpers.results import RESULTS_ENV, read_results

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_FOLDERS = ("course", "solutions")  # labs/ are run by students (their gaps raise NotImplementedError)


@dataclass
class NotebookResult:
    """One row of the results table."""

    notebook: str
    status: str  # "ok" or "failed"
    seconds: float
    device: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def find_notebooks(root: Path = REPO_ROOT, only: str | None = None) -> list[Path]:
    """The numbered notebooks of course/ then solutions/, in order; ``only`` filters by substring or glob."""
    found = []
    for folder in NOTEBOOK_FOLDERS:
        found += sorted(p for p in (root / folder).glob("[0-9][0-9]_*.ipynb"))
    if only:
        def matches(path: Path) -> bool:
            rel = path.relative_to(root).as_posix()
            return only in rel or fnmatch.fnmatch(rel, only) or fnmatch.fnmatch(path.name, only)
        found = [p for p in found if matches(p)]
    return found


def describe_failure(error: BaseException) -> str:
    """A one-line description of a papermill failure: which cell, which exception."""
    cell = getattr(error, "exec_count", None)
    cell_index = getattr(error, "cell_index", None)
    ename, evalue = getattr(error, "ename", type(error).__name__), getattr(error, "evalue", str(error))
    where = f"cell {cell_index}" if cell_index is not None else "a cell"
    if cell is not None:
        where += f" (execution count {cell})"
    first_line = str(evalue).strip().splitlines()[0] if str(evalue).strip() else ""
    return f"{where}: {ename}: {first_line}"[:500]


def execute_notebook(
    notebook: Path,
    output: Path,
    parameters: dict[str, Any],
    results_file: Path,
    cell_timeout: int | None = None,
    progress: bool = False,
) -> NotebookResult:
    """Execute one notebook with papermill from its own folder; never raises for a failing cell."""
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.unlink(missing_ok=True)
    old_env = os.environ.get(RESULTS_ENV)
    os.environ[RESULTS_ENV] = str(results_file)
    # Text progress bars in executed copies: a widget bar saved by papermill shows as a frozen "0/19".
    os.environ.setdefault("COURSE_PROGRESS", "text")
    start = time.perf_counter()
    error = ""
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            cwd=str(notebook.parent),
            kernel_name="python3",
            progress_bar=progress,
            execution_timeout=cell_timeout,
            log_output=False,
        )
    except Exception as exc:  # papermill raises PapermillExecutionError for a failing cell
        error = describe_failure(exc)
    finally:
        if old_env is None:
            os.environ.pop(RESULTS_ENV, None)
        else:
            os.environ[RESULTS_ENV] = old_env
    seconds = time.perf_counter() - start
    numbers = read_results(results_file)
    device = str(numbers.pop("device", ""))
    try:
        name = notebook.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        name = notebook.name
    return NotebookResult(name, "failed" if error else "ok", round(seconds, 1), device, numbers, error)


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
        if r.error:
            numbers = (numbers + "; " if numbers else "") + f"**{r.error}**"
        lines.append(f"| {r.notebook} | {r.status} | {r.seconds:.1f} | {r.device} | {numbers.replace('|', '/')} |")
    total = sum(r.seconds for r in results)
    failed = sum(r.status != "ok" for r in results)
    lines += ["", f"{len(results)} notebooks, {failed} failed, {total:.0f} s in all."]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m helpers.runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="full mode (QUICK=False): longer training, all the data")
    parser.add_argument("--only", metavar="PATTERN", help="run only notebooks whose path contains PATTERN or matches it as a glob")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help="DEVICE parameter (default auto)")
    parser.add_argument("--epochs", type=int, default=None, help="override EPOCHS in every notebook")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build", help="output folder (default build/)")
    parser.add_argument("--cell-timeout", type=int, default=None, help="seconds one cell may run (default: no limit)")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first failing notebook")
    parser.add_argument("--list", action="store_true", help="list the notebooks that would run and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, root: Path = REPO_ROOT) -> int:
    args = parse_args(argv)
    notebooks = find_notebooks(root, args.only)
    if not notebooks:
        print(f"No notebook matches {args.only!r} in {', '.join(NOTEBOOK_FOLDERS)}/.", file=sys.stderr)
        return 2
    if args.list:
        print("\n".join(p.relative_to(root).as_posix() for p in notebooks))
        return 0

    mode = "full" if args.full else "quick"
    parameters: dict[str, Any] = {"QUICK": not args.full, "DEVICE": args.device}
    if args.epochs is not None:
        parameters["EPOCHS"] = args.epochs
    out: Path = args.out
    print(f"Running {len(notebooks)} notebooks in {mode} mode, device {args.device}; executed copies in {out / 'executed'}")

    results = []
    for i, notebook in enumerate(notebooks, 1):
        rel = notebook.relative_to(root)
        print(f"[{i}/{len(notebooks)}] {rel} ...", flush=True)
        result = execute_notebook(
            notebook,
            out / "executed" / rel,
            parameters,
            out / "recorded" / rel.with_suffix(".json"),
            cell_timeout=args.cell_timeout,
        )
        results.append(result)
        summary = ", ".join(f"{k}={format_number(v)}" for k, v in result.numbers.items())
        print(f"    {result.status} in {result.seconds:.1f} s  {summary}", flush=True)
        if result.error:
            print(f"    FAILED in {result.error}\n    see {out / 'executed' / rel}", flush=True)
            if args.fail_fast:
                break

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(results_markdown(results, mode))
    (out / "results.json").write_text(json.dumps({"mode": mode, "notebooks": [asdict(r) for r in results]}, indent=2))
    print("\n" + results_markdown(results, mode))
    failed = [r for r in results if r.status != "ok"]
    for r in failed:
        print(f"FAILED: {r.notebook}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
