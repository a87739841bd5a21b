"""Point every notebook and doc at the repository the course is published from (one place: ``pyproject.toml``).

The repository's address lives in ``pyproject.toml``, ``[project.urls] Repository``, and the branch or tag the
links point at in ``[tool.course] ref``. From those two, this module writes:

- every notebook's **setup cell** (the second code cell): on Colab or a bare kernel it pip-installs the course
  package from that repository *at that ref*, then fetches the data sets that have an official download;
- an **Open in Colab badge** and a link to the **glossary** right under the title of every lesson, lab and solution
  (the badge opens that very notebook at that ref; a lab's badge opens the lab, not its solution);
- the Colab badges of the README's lesson table, and every Colab, Binder and ``git+https`` link in README.md and
  INSTRUCTORS.md;
- the lesson links of ``GLOSSARY.md`` (a term's lesson number links the lesson once its notebook exists).

Command line::

    python -m helpers.publish --repo OWNER/NAME --ref main   # set the address in pyproject.toml, write everything
    python -m helpers.publish                                # write everything from pyproject.toml as it is
    python -m helpers.publish --check                        # write nothing; exit 1 and list what disagrees
    python -m helpers.publish --skip course/04_regularization.ipynb   # leave a file alone (someone is editing it)
    python -m helpers.publish --skip-dirty                   # leave alone every file with uncommitted changes
    python -m helpers.publish --times build/results.json     # record a full run's times (quoted on a CPU)

``tests/test_publish.py`` runs the check, so a notebook or doc that points elsewhere fails the tests.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from helpers.common import NOTEBOOK_GLOB, REPO_ROOT

NOTEBOOK_FOLDERS = ("course", "solutions", "labs")
DOCS = ("README.md", "INSTRUCTORS.md")
GLOSSARY = "GLOSSARY.md"
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE_IMAGE = "https://mybinder.org/badge_logo.svg"
BADGE_LINE_START = "[![Open In Colab]("
# Data sets the setup cell fetches on Colab: those with an official download (the others need a mirror).
COLAB_DATASETS = ("fashion-mnist", "cifar10")
# The extra of pyproject.toml that adds what the notebooks import on top of the helpers' own dependencies.
NOTEBOOK_EXTRA = "notebooks"

SETUP_CELL_TEMPLATE = '''\
# Setup: make the course's `helpers` package importable (locally, on Binder and on Colab).
try:
    import helpers
except ModuleNotFoundError:
    import pathlib, sys
    _root = next((p for p in [pathlib.Path.cwd(), *pathlib.Path.cwd().parents] if (p / "helpers" / "__init__.py").exists()), None)
    if _root is not None:
        sys.path.insert(0, str(_root))
    else:  # Colab or a bare kernel: install the course package at this notebook's version, then fetch the data
        %pip install -q "{pip_spec}"
        !"{{sys.executable}}" -m helpers.data fetch {datasets}
    import helpers
from helpers.device import setup_notebook
device = setup_notebook(DEVICE, seed=SEED, quick=QUICK)'''

OWNER_NAME = r"[A-Za-z0-9_.-]+"
REF = r"[A-Za-z0-9_./-]+?"
COLAB_URL = re.compile(rf"https://colab\.research\.google\.com/github/(?P<owner>{OWNER_NAME})/(?P<name>{OWNER_NAME})"
                       rf"/blob/(?P<ref>[A-Za-z0-9_.-]+)/(?P<path>[^\s)\"'>]+)")
BINDER_URL = re.compile(rf"https://mybinder\.org/v2/gh/(?P<owner>{OWNER_NAME})/(?P<name>{OWNER_NAME})"
                        rf"/(?P<ref>[A-Za-z0-9_.-]+)(?P<rest>[?\s)\"'>]|$)")
GIT_URL = re.compile(rf"git\+https://github\.com/(?P<owner>{OWNER_NAME})/(?P<name>{OWNER_NAME}?)\.git"
                     rf"(?:@(?P<ref>[A-Za-z0-9_./-]+))?")
REPOSITORY_LINE = re.compile(r'^(Repository\s*=\s*")https://github\.com/([^"]*)(")', re.MULTILINE)
REF_LINE = re.compile(r'^(ref\s*=\s*")([^"]*)(")', re.MULTILINE)


class PublishError(ValueError):
    """pyproject.toml lacks the address, or an argument is malformed (the message says what to write)."""


@dataclass(frozen=True)
class Settings:
    """Where the course is published: ``owner/name`` on GitHub, the ref its links use, the package's pip name."""

    repo: str
    ref: str = "main"
    package: str = "image-classification-course-helpers"

    @property
    def owner(self) -> str:
        return self.repo.split("/")[0]

    @property
    def name(self) -> str:
        return self.repo.split("/")[1]

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repo}"

    @property
    def pip_spec(self) -> str:
        return f"{self.package}[{NOTEBOOK_EXTRA}] @ git+{self.url}.git@{self.ref}"

    def colab_url(self, path: str) -> str:
        return f"https://colab.research.google.com/github/{self.repo}/blob/{self.ref}/{path}"

    def binder_url(self, path: str | None = None) -> str:
        url = f"https://mybinder.org/v2/gh/{self.repo}/{self.ref}"
        return url + (f"?labpath={quote(path, safe='')}" if path else "")

    def colab_badge(self, path: str) -> str:
        return f"[![Open In Colab]({COLAB_BADGE_IMAGE})]({self.colab_url(path)})"

    def binder_badge(self, path: str | None = None) -> str:
        return f"[![Launch Binder]({BINDER_BADGE_IMAGE})]({self.binder_url(path)})"

    def pages_url(self) -> str:
        return f"https://{self.owner.lower()}.github.io/{self.name}/"


def check_repo(repo: str) -> str:
    """``OWNER/NAME`` as given, or a PublishError saying what is wrong with it."""
    repo = repo.strip().removeprefix("https://github.com/").removesuffix(".git").strip("/")
    if not re.fullmatch(rf"{OWNER_NAME}/{OWNER_NAME}", repo):
        raise PublishError(f"--repo {repo!r}: give the GitHub repository as OWNER/NAME, e.g. my-school/image-course")
    return repo


def check_ref(ref: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", ref or "") or ".." in ref:
        raise PublishError(f"--ref {ref!r}: give a branch or tag name, e.g. main or v1.0")
    return ref


def read_settings(root: Path = REPO_ROOT) -> Settings:
    """The repository, ref and package name from ``root/pyproject.toml``."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    repo = REPOSITORY_LINE.search(text)
    if not repo:
        raise PublishError(f"{root / 'pyproject.toml'}: no [project.urls] line "
                           'Repository = "https://github.com/OWNER/NAME"; run python -m helpers.publish --repo OWNER/NAME')
    ref = REF_LINE.search(text.split("[tool.course]", 1)[1]) if "[tool.course]" in text else None
    package = re.search(r'^name\s*=\s*"([^"]+)"', text, flags=re.MULTILINE)
    return Settings(check_repo(repo.group(2)), check_ref(ref.group(2)) if ref else "main",
                    package.group(1) if package else Settings.package)


def write_settings(root: Path, repo: str, ref: str | None) -> Settings:
    """Put ``repo`` (and ``ref``, when given) into ``root/pyproject.toml``; return the settings now in force."""
    path = root / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    repo = check_repo(repo)
    if REPOSITORY_LINE.search(text):
        text = REPOSITORY_LINE.sub(lambda m: f"{m.group(1)}https://github.com/{repo}{m.group(3)}", text, count=1)
    else:
        raise PublishError(f"{path}: add a [project.urls] table with a Repository line first")
    text = re.sub(r'^(Documentation\s*=\s*")[^"]*(")',
                  lambda m: m.group(1) + Settings(repo).pages_url() + m.group(2), text, count=1, flags=re.MULTILINE)
    if ref is not None:
        ref = check_ref(ref)
        head, sep, tail = text.partition("[tool.course]")
        if not sep:
            raise PublishError(f"{path}: add a [tool.course] table with a ref line first")
        text = head + sep + REF_LINE.sub(lambda m: m.group(1) + ref + m.group(3), tail, count=1)
    path.write_text(text, encoding="utf-8")
    return read_settings(root)


# --- what each file should hold ----------------------------------------------------------------------------

def setup_cell(settings: Settings) -> str:
    """The standard setup cell (every notebook's second code cell) for these settings."""
    return SETUP_CELL_TEMPLATE.format(pip_spec=settings.pip_spec, datasets=" ".join(COLAB_DATASETS))


def badge_line(settings: Settings, rel_path: str) -> str:
    """The line under a notebook's title: its Colab badge and the glossary link (relative to the notebook)."""
    depth = rel_path.count("/")
    glossary = "../" * depth + GLOSSARY
    return f"{settings.colab_badge(rel_path)} · Korean/English terms: [glossary]({glossary})"


def with_badge_line(title_cell: str, line: str) -> str:
    """The first markdown cell with ``line`` right under its first line (the title), replacing an older one."""
    lines = title_cell.split("\n")
    kept = [lines[0]]
    rest = lines[1:]
    # drop an older badge line and the blank line that follows it
    i = 0
    while i < len(rest):
        if rest[i].startswith(BADGE_LINE_START):
            if i + 1 < len(rest) and not rest[i + 1].strip():
                i += 1
        else:
            kept.append(rest[i])
        i += 1
    body = kept[1:]
    while body and not body[0].strip():
        body.pop(0)
    return "\n".join([kept[0], "", line] + ([""] + body if body else []))


def code_cell_indexes(nb) -> list[int]:
    return [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]


def publish_notebook(nb, rel_path: str, settings: Settings) -> list[str]:
    """Write the badge line and the setup cell into ``nb`` (in place); return what changed, in words."""
    changes = []
    if nb.cells and nb.cells[0].cell_type == "markdown":
        new = with_badge_line(nb.cells[0].source, badge_line(settings, rel_path))
        if new != nb.cells[0].source:
            nb.cells[0].source = new
            changes.append("Colab badge and glossary link under the title")
    else:
        changes.append("no markdown title cell to put the Colab badge under (left as it is)")
    code = code_cell_indexes(nb)
    if len(code) >= 2:
        cell = nb.cells[code[1]]
        expected = setup_cell(settings)
        if cell.source.strip() != expected:
            looks_like_setup = "setup_notebook" in cell.source or "import helpers" in cell.source
            if looks_like_setup:
                cell.source = expected
                changes.append("setup cell")
            else:
                changes.append("the second code cell is not a setup cell (left as it is)")
    return changes


def publish_readme(text: str, settings: Settings) -> str:
    """README.md with a Colab badge after the notebook link of each lesson-table row, and its links re-pointed."""
    out = []
    for line in text.split("\n"):
        match = re.match(r"^\|.*?\]\((?P<path>(?:course|labs|solutions)/\d\d_[a-z0-9_]+\.ipynb)\)", line)
        if match:
            line = re.sub(r" ?\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)", "", line)
            end = match.end()
            line = line[:end] + " " + settings.colab_badge(match.group("path")) + line[end:]
        out.append(line)
    return publish_doc("\n".join(out), settings)


def publish_doc(text: str, settings: Settings) -> str:
    """Every Colab, Binder and ``git+https`` link to a course repository in ``text``, re-pointed at ``settings``."""
    text = COLAB_URL.sub(lambda m: settings.colab_url(m.group("path")), text)
    text = BINDER_URL.sub(lambda m: f"https://mybinder.org/v2/gh/{settings.repo}/{settings.ref}{m.group('rest')}", text)
    text = GIT_URL.sub(lambda m: f"git+{settings.url}.git@{settings.ref}", text)
    return text


GLOSSARY_ROW = re.compile(r"^(?P<head>\|(?:[^|]*\|){3})(?P<lesson>[^|]*)\|\s*$")


def lesson_link(number: str, root: Path) -> str:
    """``[02](course/02_convolution_filters.ipynb)`` when lesson 02's notebook exists, else ``02``."""
    found = sorted((root / "course").glob(f"{number}_*.ipynb"))
    return f"[{number}](course/{found[0].name})" if found else number


def publish_glossary(text: str, root: Path) -> str:
    """GLOSSARY.md with each term's lesson number linked to its lesson notebook (where it exists)."""
    out = []
    for line in text.split("\n"):
        match = GLOSSARY_ROW.match(line)
        number = re.fullmatch(r"\s*\[?(\d\d)\]?(?:\([^)]*\))?\s*", match.group("lesson")) if match else None
        if number:
            line = f"{match.group('head')} {lesson_link(number.group(1), root)} |"
        out.append(line)
    return "\n".join(out)


# --- running over the repository ---------------------------------------------------------------------------

def notebooks(root: Path) -> list[Path]:
    return [p for folder in NOTEBOOK_FOLDERS for p in sorted((root / folder).glob(NOTEBOOK_GLOB))]


def notebook_text(nb) -> str:
    import nbformat

    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def publish(root: Path = REPO_ROOT, settings: Settings | None = None, check: bool = False,
            skip: set[str] = frozenset(), docs: bool = True) -> list[str]:
    """Write (or with ``check=True`` only compare) every notebook and doc; return one line per file that differs.

    ``skip`` holds paths relative to ``root`` to leave alone; ``docs=False`` leaves README.md, INSTRUCTORS.md and
    GLOSSARY.md alone.
    """
    import nbformat

    settings = settings or read_settings(root)
    problems = []
    for path in notebooks(root):
        rel = path.relative_to(root).as_posix()
        if rel in skip:
            continue
        current = path.read_text(encoding="utf-8")
        nb = nbformat.reads(current, as_version=4)
        changes = publish_notebook(nb, rel, settings)
        text = notebook_text(nb)
        notes = [c for c in changes if "left as it is" in c]
        if text != current or notes:
            what = ", ".join(changes)
            problems.append(f"{rel}: {what}" if check else f"{rel}: wrote {what}")
            if not check and text != current:
                path.write_text(text, encoding="utf-8")
    targets = [(name, publish_readme if name == "README.md" else publish_doc) for name in DOCS]
    for name, function in (targets if docs else []):
        path = root / name
        if not path.exists() or name in skip:
            continue
        current = path.read_text(encoding="utf-8")
        text = function(current, settings)
        if text != current:
            problems.append(f"{name}: {'links point elsewhere' if check else 'wrote its links'}")
            if not check:
                path.write_text(text, encoding="utf-8")
    glossary = root / GLOSSARY
    if docs and glossary.exists() and GLOSSARY not in skip:
        current = glossary.read_text(encoding="utf-8")
        text = publish_glossary(current, root)
        if text != current:
            problems.append(f"{GLOSSARY}: {'lesson links are stale' if check else 'wrote its lesson links'}")
            if not check:
                glossary.write_text(text, encoding="utf-8")
    return problems


def record_times(results_file: Path, times_file: Path | None = None) -> list[str]:
    """Add the seconds of every notebook that ran ok in a full run (``build/results.json``) to the times file.

    Rows are filed under the device kind ('cpu', 'cuda', 'mps') with the device's name, replacing older rows of
    that notebook and kind. Returns one line per notebook recorded.
    """
    import json

    from helpers.device import FULL_MODE_TIMES

    times_file = times_file or FULL_MODE_TIMES
    run = json.loads(Path(results_file).read_text(encoding="utf-8"))
    if run.get("mode") != "full":
        raise PublishError(f"{results_file} is a {run.get('mode')!r} run; record the times of a full run "
                           "(python -m helpers.runner --full)")
    times = json.loads(times_file.read_text(encoding="utf-8")) if times_file.exists() else {}
    recorded = []
    for row in run.get("notebooks", []):
        if row.get("status") != "ok" or not row.get("device"):
            continue
        kind, _, detail = row["device"].partition(" ")
        name = detail.strip("()") if kind == "cuda" else f"{kind} ({detail.strip('()')})" if detail else kind
        times.setdefault(kind, {})[row["notebook"]] = {"seconds": round(float(row["seconds"])), "device": name}
        recorded.append(f"{row['notebook']}: {row['seconds']:.0f} s on {name}")
    times_file.write_text(json.dumps(times, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return recorded


def dirty_files(root: Path) -> set[str]:
    """Notebooks and docs with uncommitted changes (or untracked), as paths relative to ``root``; a lab counts as
    dirty when its solution is (the lab is generated from it)."""
    import subprocess

    done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", *NOTEBOOK_FOLDERS, *DOCS, GLOSSARY],
                          cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise PublishError(f"--skip-dirty needs git: {done.stderr.strip()}")
    dirty = {line[3:].strip().strip('"').split(" -> ")[-1] for line in done.stdout.splitlines() if line.strip()}
    dirty |= {f"labs/{Path(path).name}" for path in dirty if path.startswith("solutions/")}
    return dirty


def main(argv: list[str] | None = None, root: Path = REPO_ROOT) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", help="the GitHub repository as OWNER/NAME (written into pyproject.toml)")
    parser.add_argument("--ref", help="the branch or tag the links and installs use (default: pyproject.toml's, else main)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook or doc disagrees")
    parser.add_argument("--skip", action="append", default=[], metavar="PATH",
                        help="a notebook or doc (relative to the repository) to leave alone; repeat for more")
    parser.add_argument("--no-docs", action="store_true", help="leave README.md, INSTRUCTORS.md and GLOSSARY.md alone")
    parser.add_argument("--skip-dirty", action="store_true",
                        help="leave alone every notebook or doc with uncommitted changes (someone is editing it) and list them")
    parser.add_argument("--times", type=Path, metavar="RESULTS_JSON",
                        help="only record the run times of a full run (build/results.json) in helpers/full_mode_times.json")
    args = parser.parse_args(argv)
    if args.times:
        try:
            print("\n".join(record_times(args.times)) or "no notebook ran ok in that run")
        except (OSError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    try:
        if args.check and (args.repo is not None or args.ref is not None):
            parser.error("--check compares with pyproject.toml; run without --check to change --repo or --ref")
        if args.repo is not None:
            settings = write_settings(root, args.repo, args.ref)
        else:
            settings = read_settings(root)
            if args.ref is not None:
                settings = write_settings(root, settings.repo, args.ref)
    except PublishError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    skip = set(args.skip)
    if args.skip_dirty:
        try:
            dirty = dirty_files(root)
        except PublishError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        skip |= dirty
        if dirty:
            print("left alone (uncommitted changes): " + ", ".join(sorted(dirty)))
    lines = publish(root, settings, check=args.check, skip=skip, docs=not args.no_docs)
    print(f"repository {settings.url}, ref {settings.ref}")
    if args.check:
        if lines:
            print("These files do not point at it:", *lines, "Run: python -m helpers.publish", sep="\n  ", file=sys.stderr)
            return 1
        print("every notebook and doc points at it")
        return 0
    print("\n".join(lines) if lines else "nothing to change")
    return 0


if __name__ == "__main__":
    sys.exit(main())
