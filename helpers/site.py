"""Build the course's static website from the executed notebooks with Jupyter Book 1.x (Sphinx, offline).

    make run     # executes every notebook -> build/executed/, build/results.json
    make site    # -> build/site/index.html  (python -m helpers.site build)

The site has a home page that lists the lessons and labs, the results table of the run (status, seconds, device,
key numbers per notebook), the lessons as executed (figures included), the labs as handed out, and the glossary.
A lesson that has no executed copy is shown as stored (without outputs), and the home page says so.

Nothing is downloaded: Jupyter Book renders the notebooks' stored outputs (``execute_notebooks: off``).

Command line::

    python -m helpers.site build                          # build/executed + build/results.json -> build/site
    python -m helpers.site build --executed DIR --results FILE --out DIR
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from helpers.common import NOTEBOOK_GLOB, REPO_ROOT

TITLE = "Image classification with PyTorch"
GLOSSARY = "GLOSSARY.md"
# jupyter-book's command line, run with this Python (jupyter_book.cli.main has no __main__ block)
JUPYTER_BOOK = "import sys; from jupyter_book.cli.main import main; sys.argv[0] = 'jupyter-book'; sys.exit(main())"


def notebook_title(path: Path) -> str:
    """The first heading of a notebook's first markdown cell, without the '#'."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return path.stem


def read_run(results: Path) -> dict:
    """``build/results.json`` as a dict (``{}`` when there is none)."""
    try:
        return json.loads(results.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _cell(text: object) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def results_table(run: dict) -> list[str]:
    """The run's results as Markdown lines (one row per notebook: status, seconds, device, key numbers)."""
    from helpers.runner import format_number

    rows = run.get("notebooks", [])
    if not rows:
        return ["No run results yet: `make run` executes every notebook and writes `build/results.json`."]
    lines = [f"Mode: **{run.get('mode', '?')}**.", "",
             "| notebook | status | seconds | device | key numbers |", "| --- | --- | ---: | --- | --- |"]
    for row in rows:
        numbers = ", ".join(f"{k}={format_number(v)}" for k, v in row.get("numbers", {}).items())
        if row.get("error"):
            numbers = (numbers + "; " if numbers else "") + f"**{row['error']}**"
        lines.append(f"| {_cell(row['notebook'])} | {row['status']} | {float(row['seconds']):.1f} | "
                     f"{_cell(row.get('device', ''))} | {_cell(numbers)} |")
    total = sum(float(r["seconds"]) for r in rows)
    failed = sum(r["status"] != "ok" for r in rows)
    lines += ["", f"{len(rows)} notebooks, {failed} failed, {total:.0f} s in all."]
    return lines


def stage(root: Path, executed: Path, results: Path, source: Path) -> dict[str, list[str]]:
    """Write the book's sources into ``source``: config, table of contents, home page, notebooks, glossary.

    Returns what went where: ``{"executed": [...], "not executed": [...], "labs": [...]}``.
    """
    from helpers.publish import read_settings

    if source.exists():
        shutil.rmtree(source)
    (source / "course").mkdir(parents=True)
    (source / "labs").mkdir()
    run = read_run(results)
    seconds = {row["notebook"]: row for row in run.get("notebooks", [])}
    report: dict[str, list[str]] = {"executed": [], "not executed": [], "labs": []}
    lessons = []
    for stored in sorted((root / "course").glob(NOTEBOOK_GLOB)):
        ran = executed / "course" / stored.name
        use = ran if ran.is_file() else stored
        shutil.copy(use, source / "course" / stored.name)
        report["executed" if ran.is_file() else "not executed"].append(f"course/{stored.name}")
        lessons.append((stored, ran.is_file()))
    labs = sorted((root / "labs").glob(NOTEBOOK_GLOB))
    for lab in labs:
        shutil.copy(lab, source / "labs" / lab.name)
        report["labs"].append(f"labs/{lab.name}")
    glossary = root / GLOSSARY
    if glossary.is_file():
        shutil.copy(glossary, source / GLOSSARY)

    try:
        settings = read_settings(root)
        repo_url, branch = settings.url, settings.ref
    except ValueError:
        repo_url, branch = "", "main"
    home = [f"# {TITLE}", "",
            "A Jupyter-first course on image classification with PyTorch: every lesson is a notebook you can run on a "
            "laptop CPU, on a GPU, on Binder or on Colab. These pages show the lessons as they were executed by "
            "`make run`, with their figures and printed numbers.", "",
            "## Lessons", "", "| # | lesson | run | seconds | key numbers |", "| --- | --- | --- | ---: | --- |"]
    from helpers.runner import format_number

    for stored, was_run in lessons:
        row = seconds.get(f"course/{stored.name}", {})
        numbers = ", ".join(f"{k}={format_number(v)}" for k, v in row.get("numbers", {}).items())
        status = row.get("status", "executed") if was_run else "not executed (shown without outputs)"
        secs = f"{float(row['seconds']):.1f}" if row else ""
        home.append(f"| {stored.name[:2]} | [{_cell(notebook_title(stored))}](course/{stored.name}) | {status} | "
                    f"{secs} | {_cell(numbers)} |")
    if labs:
        home += ["", "## Labs", "",
                 "Exercises with self-checks, as students get them (run them in JupyterLab, Binder or Colab):", ""]
        home += [f"- [{_cell(notebook_title(lab))}](labs/{lab.name})" for lab in labs]
    home += ["", "## Results and run times", "", *results_table(run), "",
             "## Glossary", "",
             f"The course's terms in Korean and English: [glossary]({GLOSSARY}).", ""]
    (source / "index.md").write_text("\n".join(home), encoding="utf-8")

    toc = ["format: jb-book", "root: index", "parts:", "  - caption: Lessons", "    chapters:"]
    toc += [f"      - file: course/{stored.stem}" for stored, _ in lessons]
    if labs:
        toc += ["  - caption: Labs", "    chapters:"] + [f"      - file: labs/{lab.stem}" for lab in labs]
    if glossary.is_file():
        toc += ["  - caption: Reference", "    chapters:", f"      - file: {Path(GLOSSARY).stem}"]
    (source / "_toc.yml").write_text("\n".join(toc) + "\n", encoding="utf-8")

    config = {
        "title": TITLE,
        "author": "the course's authors",
        "copyright": "",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "off"},
        "parse": {"myst_enable_extensions": ["dollarmath", "amsmath", "colon_fence", "html_image"]},
        "repository": {"url": repo_url, "branch": branch},
        "html": {"use_repository_button": bool(repo_url), "home_page_in_navbar": True},
        "sphinx": {"config": {"html_show_sourcelink": False, "nb_merge_streams": True,
                              "suppress_warnings": ["myst.header", "myst.xref_missing", "misc.highlighting_failure"]}},
    }
    # JSON is valid YAML, so no YAML writer is needed.
    (source / "_config.yml").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return report


def build_site(root: Path = REPO_ROOT, executed: Path | None = None, results: Path | None = None,
               out: Path | None = None, quiet: bool = True) -> Path:
    """Stage the book under ``build/site-src``, build it with Jupyter Book, copy the HTML to ``out``; return
    ``out / 'index.html'``. Raises RuntimeError with Jupyter Book's output when the build fails."""
    import importlib.util

    if importlib.util.find_spec("jupyter_book") is None:
        raise RuntimeError("Jupyter Book is not installed in this environment: `make site` installs it "
                           "(pip install -r requirements-dev.txt)")
    build = root / "build"
    executed = executed or build / "executed"
    results = results or build / "results.json"
    out = out or build / "site"
    source = out.parent / f"{out.name}-src"
    report = stage(root, executed, results, source)
    command = [sys.executable, "-c", JUPYTER_BOOK, "build", str(source), "--builder", "html"]
    if quiet:
        command.append("--quiet")
    done = subprocess.run(command, capture_output=True, text=True)
    html = source / "_build" / "html"
    if done.returncode != 0 or not (html / "index.html").is_file():
        raise RuntimeError(f"jupyter-book build failed (exit {done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(html, out)
    shown = len(report["executed"])
    print(f"site: {out / 'index.html'} ({shown} executed lessons, {len(report['not executed'])} without outputs, "
          f"{len(report['labs'])} labs)")
    if report["not executed"]:
        print("  not executed (run `make run` first): " + ", ".join(report["not executed"]))
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.site", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the static site")
    build.add_argument("--executed", type=Path, default=REPO_ROOT / "build" / "executed",
                       help="executed notebooks, as `make run` leaves them (default: %(default)s)")
    build.add_argument("--results", type=Path, default=REPO_ROOT / "build" / "results.json",
                       help="the run's results table (default: %(default)s)")
    build.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "site", help="where the HTML goes (default: %(default)s)")
    build.add_argument("--verbose", action="store_true", help="show Jupyter Book's own output")
    args = parser.parse_args(argv)
    try:
        build_site(REPO_ROOT, args.executed, args.results, args.out, quiet=not args.verbose)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
