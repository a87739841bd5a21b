"""Generate the student labs (``labs/``) from the solved notebooks (``solutions/``).

Markers follow nbgrader, so instructors who know it feel at home:

- code cells: the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` become a placeholder
  that keeps the block's indentation and its ``# TODO`` comment lines, then raises ``NotImplementedError``;
- code cells: the lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` are removed
  (the grader puts them back, see ``helpers.grade``);
- markdown cells: the lines between ``=== BEGIN ANSWER ===`` and ``=== END ANSWER ===`` become
  "_Write your answer here._".

Graded check cells carry the tags ``graded`` and ``graded:<id>`` (e.g. ``graded:conv2d``); ids are unique
in a notebook. Outputs and execution counts are dropped, metadata (tags!) is kept, and each lab is marked as
generated in its notebook metadata (``course_lab``): ``build`` only ever deletes or replaces a marked lab or one
without solution markers, so a draft lab or a solution in the wrong folder is never lost.

Command line::

    python -m helpers.labs build            # write labs/NN_*.ipynb from solutions/NN_*.ipynb
    python -m helpers.labs build --check    # exit 1 and list stale, missing or extra labs; writes nothing
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
from pathlib import Path

import nbformat

from helpers.common import NOTEBOOK_GLOB, REPO_ROOT

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
BEGIN_ANSWER, END_ANSWER = "=== BEGIN ANSWER ===", "=== END ANSWER ==="
PLACEHOLDER_ERROR = 'raise NotImplementedError("Write your code here, then run the check cell below.")'
ANSWER_PROMPT = "_Write your answer here._"
GRADED_TAG, GRADED_PREFIX = "graded", "graded:"
GENERATED_KEY = "course_lab"  # notebook metadata of a generated lab: {"generated_by": ..., "solution": ...}
BUILD_COMMAND = "python -m helpers.labs build"
SOLUTION_MARKERS = (BEGIN_SOLUTION, BEGIN_HIDDEN, BEGIN_ANSWER)
CONFLICT_MARKER = re.compile(r"^(<{7}|={7}|>{7})( |$)")
SOLUTION_BADGE_PATH = re.compile(r"(https://colab\.research\.google\.com/github/[^/)\s]+/[^/)\s]+/blob/[^/)\s]+/)solutions/")


class LabMarkerError(ValueError):
    """A solution notebook has unbalanced or misplaced markers (the message names notebook, cell and line)."""


class UnreadableNotebookError(ValueError):
    """A file is not a notebook nbformat can read (the message names the file and, if found, a merge conflict)."""


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """``nbformat.read(path, as_version=4)``, with errors that name the file and spot git merge-conflict markers."""
    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # NotJSONError, ValidationError, UnicodeDecodeError, a JSON that is not a notebook...
        try:
            lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        conflict = next((n for n, line in enumerate(lines, start=1) if CONFLICT_MARKER.match(line)), None)
        if conflict is not None:
            raise UnreadableNotebookError(
                f"{path} holds a git merge-conflict marker on line {conflict} ({lines[conflict - 1][:20]!r}): "
                "resolve the conflict (keep one side, delete the marker lines), then try again.") from err
        detail = " ".join(str(err).split())[:160]
        raise UnreadableNotebookError(f"{path} is not a readable notebook ({type(err).__name__}: {detail}).") from err


def has_solution_markers(nb: nbformat.NotebookNode) -> bool:
    """True if any cell holds a ``### BEGIN SOLUTION``, ``### BEGIN HIDDEN TESTS`` or ``=== BEGIN ANSWER ===`` line."""
    return any(line.strip() in SOLUTION_MARKERS for cell in nb.cells for line in cell.source.splitlines())


def is_generated_lab(nb: nbformat.NotebookNode) -> bool:
    """True for a notebook written by ``build`` (it carries the ``course_lab`` metadata)."""
    return isinstance(nb.metadata.get(GENERATED_KEY), dict)


def _replace_blocks(lines: list[str], blocks: dict, where: str) -> list[str]:
    """Replace each marked block (marker lines included) by ``replace(indent, body_lines)``.

    ``blocks`` maps a begin marker to ``(end marker, replace)``; one pass, so line numbers in errors
    are those of the solution cell. Blocks cannot nest.
    """
    ends = {end: begin for begin, (end, _) in blocks.items()}
    out: list[str] = []
    begin, start, body = None, 0, []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if text in blocks:
            if begin is not None:
                raise LabMarkerError(f"{where}, line {number}: '{text}' again before '{blocks[begin][0]}' (opened on line {start}).")
            begin, start, body = text, number, []
        elif text in ends:
            if begin != ends[text]:
                raise LabMarkerError(f"{where}, line {number}: '{text}' without a '{ends[text]}' before it.")
            indent = lines[start - 1][: len(lines[start - 1]) - len(lines[start - 1].lstrip())]
            out.extend(blocks[begin][1](indent, body))
            begin = None
        elif begin is not None:
            body.append(line)
        else:
            out.append(line)
    if begin is not None:
        raise LabMarkerError(f"{where}, line {start}: '{begin}' is never closed with '{blocks[begin][0]}'.")
    return out


def _todo_lines(indent: str, body: list[str]) -> list[str]:
    """The placeholder for a solution block: its ``# TODO`` comments (and their continuation lines), then a raise."""
    kept: list[str] = []
    previous_kept = False
    for line in body:
        text = line.strip()
        if text.upper().startswith("# TODO") or (previous_kept and text.startswith("#")):
            kept.append(indent + text)
            previous_kept = True
        else:
            previous_kept = False
    return kept + [indent + PLACEHOLDER_ERROR]


def python_source(cell_source: str) -> str:
    """Cell source with IPython-only lines (``%magic``, ``!shell``) turned into ``pass``, ready for ``ast.parse``."""
    lines = cell_source.splitlines()
    return "\n".join(line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def lab_cell_source(cell: nbformat.NotebookNode, where: str) -> str:
    """The student's version of one solution cell's source (see the module docstring)."""
    lines = cell.source.splitlines()
    markers = {line.strip() for line in lines} & {BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN, BEGIN_ANSWER, END_ANSWER}
    if cell.cell_type == "code":
        if markers & {BEGIN_ANSWER, END_ANSWER}:
            raise LabMarkerError(f"{where}: answer markers belong in markdown cells; use '{BEGIN_SOLUTION}' in code.")
        blocks = {BEGIN_HIDDEN: (END_HIDDEN, lambda indent, body: []), BEGIN_SOLUTION: (END_SOLUTION, _todo_lines)}
        lines = _replace_blocks(lines, blocks, where)
    elif cell.cell_type == "markdown":
        if markers - {BEGIN_ANSWER, END_ANSWER}:
            raise LabMarkerError(f"{where}: code markers ({', '.join(sorted(markers))}) in a markdown cell; use '{BEGIN_ANSWER}'.")
        lines = _replace_blocks(lines, {BEGIN_ANSWER: (END_ANSWER, lambda indent, body: [indent + ANSWER_PROMPT])}, where)
    return "\n".join(lines)


def grading_cell_source(cell: nbformat.NotebookNode, where: str) -> str:
    """A graded cell as the grader runs it: hidden tests kept, marker lines dropped."""
    lines = _replace_blocks(cell.source.splitlines(), {BEGIN_HIDDEN: (END_HIDDEN, lambda indent, body: body)}, where)
    return "\n".join(lines)


def graded_id(cell: nbformat.NotebookNode) -> str | None:
    """The id of a graded cell (``"conv2d"`` for the tag ``graded:conv2d``), or None."""
    for tag in cell.get("metadata", {}).get("tags", []) or []:
        if isinstance(tag, str) and tag.startswith(GRADED_PREFIX) and len(tag) > len(GRADED_PREFIX):
            return tag[len(GRADED_PREFIX):]
    return None


def graded_cells(solution: nbformat.NotebookNode, name: str = "notebook") -> dict[str, nbformat.NotebookNode]:
    """The graded cells of a solution notebook by id, in notebook order; checks the tags are consistent."""
    cells: dict[str, nbformat.NotebookNode] = {}
    for index, cell in enumerate(solution.cells):
        tags = cell.get("metadata", {}).get("tags", []) or []
        item = graded_id(cell)
        where = f"{name}, cell {index}"
        if (GRADED_TAG in tags) != (item is not None):
            raise LabMarkerError(f"{where}: a graded cell needs both tags '{GRADED_TAG}' and '{GRADED_PREFIX}<id>' (has {tags}).")
        if item is None:
            continue
        if cell.cell_type != "code":
            raise LabMarkerError(f"{where}: only code cells (check cells) can be graded.")
        if BEGIN_SOLUTION in {line.strip() for line in cell.source.splitlines()}:
            raise LabMarkerError(f"{where}: a graded check cell must not contain a solution block; put the exercise in its own cell.")
        if item in cells:
            raise LabMarkerError(f"{where}: graded id '{item}' is used twice; ids must be unique in a notebook.")
        cells[item] = cell
    return cells


def make_lab(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return the student lab for a solution notebook (a new notebook; the input is not changed).

    The lab's metadata gains ``course_lab``, which marks it as generated (``name`` is recorded as its solution).

    >>> lab = make_lab(nbformat.read("solutions/02_convolution_lab.ipynb", as_version=4))  # doctest: +SKIP
    """
    graded_cells(solution, name)  # validates the graded tags
    lab = copy.deepcopy(solution)
    for index, cell in enumerate(lab.cells):
        where = f"{name}, cell {index}"
        cell.source = lab_cell_source(cell, where)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            try:
                ast.parse(python_source(solution.cells[index].source))
            except SyntaxError:
                continue  # the solution itself does not parse: not ours to judge here
            try:
                ast.parse(python_source(cell.source))
            except SyntaxError as err:
                raise LabMarkerError(f"{where}: the lab version of this cell is not valid Python ({err.msg}, line {err.lineno}); "
                                     "check that the solution block covers whole statements.") from err
        elif "attachments" in cell and not cell.attachments:
            del cell["attachments"]
    if lab.cells and lab.cells[0].cell_type == "markdown":  # the Colab badge (helpers.publish) opens the lab itself
        lab.cells[0].source = SOLUTION_BADGE_PATH.sub(r"\1labs/", lab.cells[0].source)
    lab.metadata[GENERATED_KEY] = {"generated_by": BUILD_COMMAND, "solution": Path(name).name}
    return lab


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """The exact text ``nbformat.write`` stores (sorted keys, one-space indent, trailing newline)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def _refusals(solutions_dir: Path, labs_dir: Path, solutions: dict[Path, nbformat.NotebookNode]) -> list[str]:
    """Why ``build`` must not run with these folders (swapped, or a solution where a lab would be written)."""
    if solutions_dir.resolve() == labs_dir.resolve():
        return [f"--solutions and --labs are the same folder ({solutions_dir}): the labs would overwrite the solutions."]
    generated = [path for path, nb in solutions.items() if is_generated_lab(nb)]
    if generated:
        return [f"{generated[0]} is a generated lab, not a solution: is {solutions_dir} the labs folder? "
                "Pass the solved notebooks with --solutions."]
    if solutions and not any(has_solution_markers(nb) for nb in solutions.values()):
        return [f"none of the {len(solutions)} notebooks in {solutions_dir} holds a solution marker ('{BEGIN_SOLUTION}', "
                f"'{BEGIN_HIDDEN}' or '{BEGIN_ANSWER}'): is it the labs folder? Pass the solved notebooks with --solutions."]
    problems = []
    for path in solutions:
        lab_path = labs_dir / path.name
        try:
            existing = read_notebook(lab_path) if lab_path.exists() else None
        except UnreadableNotebookError:
            existing = None  # a broken lab file is replaced
        if existing is not None and has_solution_markers(existing):
            problems.append(f"{lab_path} holds solution markers: it is a solution, not a lab; move it to {solutions_dir} "
                            "or delete it yourself.")
    return problems


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file next to ``path``, then rename it over ``path`` (never half a file)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def build_labs(solutions_dir: Path, labs_dir: Path, check: bool = False) -> list[str]:
    """Write (or with ``check=True`` only compare) every lab; return the problems found in check mode.

    Problems look like ``"stale: labs/02_convolution_lab.ipynb"``, ``"missing: ..."`` or ``"extra: ..."``.
    Every solution is read and turned into a lab before anything is written, and ``build`` refuses (raises
    ``LabMarkerError``) when the folders look swapped or a lab file holds solution markers. In build mode,
    generated labs whose solution is gone are deleted; any other notebook in ``labs_dir`` is left alone.
    """
    solutions_dir, labs_dir = Path(solutions_dir), Path(labs_dir)
    if not solutions_dir.is_dir():
        raise FileNotFoundError(f"No solutions folder at {solutions_dir}: pass --solutions DIR.")
    solutions = {path: read_notebook(path) for path in sorted(solutions_dir.glob(NOTEBOOK_GLOB))}
    refusals = _refusals(solutions_dir, labs_dir, solutions)
    if refusals:
        raise LabMarkerError("nothing was written: " + " ".join(refusals))
    labs = {path: notebook_text(make_lab(nb, name=str(path))) for path, nb in solutions.items()}
    problems: list[str] = []
    for solution_path, text in labs.items():
        if not has_solution_markers(solutions[solution_path]):
            print(f"warning: {solution_path} holds no solution markers, so its lab gives the whole solution away",
                  file=sys.stderr)
        lab_path = labs_dir / solution_path.name
        current = lab_path.read_text(encoding="utf-8") if lab_path.exists() else None
        if current == text:
            continue
        if check:
            problems.append(f"{'missing' if current is None else 'stale'}: {lab_path}")
        else:
            labs_dir.mkdir(parents=True, exist_ok=True)
            _write_atomically(lab_path, text)
            print(f"wrote {lab_path}")
    wanted = {path.name for path in solutions}
    for lab_path in sorted(labs_dir.glob(NOTEBOOK_GLOB)) if labs_dir.is_dir() else []:
        if lab_path.name in wanted:
            continue
        try:
            generated = is_generated_lab(read_notebook(lab_path))
        except UnreadableNotebookError:
            generated = False
        if not generated:
            print(f"note: left {lab_path} alone: it was not generated by `{BUILD_COMMAND}` "
                  f"and has no solution in {solutions_dir} (a draft?)", file=sys.stderr)
        elif check:
            problems.append(f"extra: {lab_path} (no {solutions_dir / lab_path.name})")
        else:
            lab_path.unlink()
            print(f"deleted {lab_path} (generated from a solution that is gone)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.labs", description="Generate labs/ from solutions/.")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="write labs/NN_*.ipynb from solutions/NN_*.ipynb")
    build.add_argument("--check", action="store_true", help="write nothing; exit 1 if labs/ is out of sync")
    build.add_argument("--solutions", type=Path, default=REPO_ROOT / "solutions", help="solved notebooks (default: %(default)s)")
    build.add_argument("--labs", type=Path, default=REPO_ROOT / "labs", help="where the labs go (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        problems = build_labs(args.solutions, args.labs, check=args.check)
    except (LabMarkerError, UnreadableNotebookError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if problems:
        print("labs/ is out of sync with solutions/:", *problems, "Run: python -m helpers.labs build", sep="\n  ", file=sys.stderr)
        return 1
    if args.check:
        print(f"labs/ is in sync with solutions/ ({len(list(args.solutions.glob(NOTEBOOK_GLOB)))} labs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
