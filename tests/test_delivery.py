"""Delivery files: Binder's environment (binder/) and the GitHub Actions workflows (.github/workflows/).

What can be checked here is checked statically: the Binder files parse and install the helpers in quick mode with
CPU PyTorch; the workflows pass actionlint and do what .github/README.md says (the README's test command on CPU
with pip caching; full mode on the self-hosted GPU runner with artifacts; the site). The slow test resolves
binder/requirements.txt with ``pip install --dry-run`` where the package index answers.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from helpers.common import REPO_ROOT

BINDER = REPO_ROOT / "binder"
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def requirement_lines(path: Path) -> tuple[list[str], list[str]]:
    """(option lines, requirement lines) of a requirements file, comments and blanks dropped."""
    options, requirements = [], []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        (options if line.startswith("-") else requirements).append(line)
    return options, requirements


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def steps(job: dict) -> list[dict]:
    return job["steps"]


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in steps(job))


def uses(job: dict, action: str) -> list[dict]:
    return [step for step in steps(job) if step.get("uses", "").startswith(action + "@")]


# --- Binder -------------------------------------------------------------------------------------------------

def test_binder_requirements_take_cpu_torch_and_the_course_requirements():
    options, requirements = requirement_lines(BINDER / "requirements.txt")
    assert f"--extra-index-url {CPU_INDEX}" in options, "Binder has no GPU: take PyTorch's CPU wheels"
    included = [o.split(maxsplit=1)[1] for o in options if o.startswith("-r ")]
    assert included == ["../requirements.txt"], "binder/requirements.txt installs the course's requirements.txt"
    assert (BINDER / included[0]).resolve() == REPO_ROOT / "requirements.txt"
    for line in requirements + requirement_lines(REPO_ROOT / "requirements.txt")[1]:
        Requirement(line)  # raises InvalidRequirement for a line pip would refuse


def test_binder_python_is_one_the_course_supports():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(3\.\d+)", runtime)
    assert match, f"binder/runtime.txt should read python-3.X, not {runtime!r}"
    import tomllib

    supported = SpecifierSet(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    assert f"{match.group(1)}.0" in supported
    for name in ("tests.yml", "gpu-notebooks.yml", "site.yml"):
        for job in load(name)["jobs"].values():
            for step in uses(job, "actions/setup-python"):
                assert step["with"]["python-version"] == match.group(1), f"{name}: CI and Binder use one Python"


def test_binder_postbuild_installs_the_helpers():
    post = BINDER / "postBuild"
    assert post.stat().st_mode & stat.S_IXUSR, "repo2docker runs postBuild only when it is executable"
    tracked = subprocess.run(["git", "ls-files", "-s", "binder/postBuild"], cwd=REPO_ROOT, capture_output=True, text=True)
    if tracked.stdout:
        assert tracked.stdout.startswith("100755"), "postBuild must be committed as executable (git update-index --chmod=+x)"
    text = post.read_text()
    assert text.startswith("#!/bin/bash") and "set -e" in text
    assert re.search(r"pip install .*-e \.", text), "postBuild installs the helpers package from the repository"
    assert subprocess.run(["bash", "-n", str(post)]).returncode == 0


def test_quick_mode_is_the_default_of_every_notebook():
    import nbformat

    for folder in ("course", "labs", "solutions"):
        for path in sorted((REPO_ROOT / folder).glob("[0-9][0-9]_*.ipynb")):
            first = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
            assert re.search(r"^QUICK\s*=\s*True\b", first.source, flags=re.MULTILINE), \
                f"{path.name}: Binder and Colab open notebooks as stored, so QUICK = True must be the default"


def reachable(host: str) -> bool:
    try:
        socket.create_connection((host, 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.slow
def test_binder_requirements_resolve_with_pip(tmp_path: Path):
    if not reachable("pypi.org"):
        pytest.skip("pypi.org cannot be reached (offline): pip cannot resolve binder/requirements.txt here")
    requirements = BINDER / "requirements.txt"
    note = ""
    if not reachable("download.pytorch.org"):
        # The CPU index is out of reach (a machine that sees only PyPI): resolve everything else, torch from PyPI.
        text = requirements.read_text().replace(f"--extra-index-url {CPU_INDEX}", "")
        text = text.replace("-r ../requirements.txt", f"-r {REPO_ROOT / 'requirements.txt'}")
        requirements = tmp_path / "requirements.txt"
        requirements.write_text(text)
        note = " (without PyTorch's CPU index, which cannot be reached from here)"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                           "--quiet", "--timeout", "20", "-r", str(requirements)],
                          capture_output=True, text=True, cwd=BINDER)
    assert done.returncode == 0, f"pip cannot resolve binder/requirements.txt{note}:\n{done.stderr[-3000:]}"


# --- GitHub Actions ------------------------------------------------------------------------------------------

def find_actionlint() -> str | None:
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.is_file() else shutil.which("actionlint")


def run_actionlint(*args: str) -> subprocess.CompletedProcess:
    binary = find_actionlint()
    if binary is None:
        message = "actionlint is not installed (pip install -r requirements-dev.txt)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return subprocess.run([binary, "-no-color", *args], cwd=REPO_ROOT, capture_output=True, text=True)


def test_the_workflows_pass_actionlint():
    done = run_actionlint()
    assert done.returncode == 0, f"actionlint found problems in .github/workflows:\n{done.stdout}{done.stderr}"


def test_actionlint_catches_a_broken_workflow(tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: [self-hosted, tpu]\n    steps:\n"
                      "      - run: echo ${{ github.nope }}\n      - uses: actions/checkout@v4\n        with:\n"
                      "          fetch-dept: 0\n")
    done = run_actionlint("-config-file", str(REPO_ROOT / ".github" / "actionlint.yaml"), str(broken))
    assert done.returncode == 1
    for problem in ("tpu", "nope", "fetch-dept"):
        assert problem in done.stdout, f"actionlint should have reported {problem!r}:\n{done.stdout}"


def test_the_cpu_workflow_runs_the_readmes_test_command_with_pip_caching():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    command = re.search(r"\*\*Run the tests\*\*.*?```bash\n(.+?)\n```", readme, flags=re.DOTALL).group(1).strip()
    assert command == "make test"
    job = load("tests.yml")["jobs"]["test"]
    assert job["runs-on"] == "ubuntu-latest"
    setup = uses(job, "actions/setup-python")
    assert setup and setup[0]["with"]["cache"] == "pip"
    assert "requirements-dev.txt" in setup[0]["with"]["cache-dependency-path"]
    assert "bash .ci/run" in runs(job)
    assert re.search(r"^make test$", (REPO_ROOT / ".ci" / "run").read_text(), flags=re.MULTILINE), ".ci/run runs `make test`"
    env = next(step for step in steps(job) if step.get("run") == "bash .ci/run")["env"]
    assert env["CI"] == "true", "CI=true makes .ci/run install Chromium for the browser tests"
    assert {"push", "pull_request"} <= set(load("tests.yml")["on"])


def test_the_gpu_workflow_runs_every_notebook_in_full_mode_and_keeps_the_results():
    workflow = load("gpu-notebooks.yml")
    job = workflow["jobs"]["full-run"]
    labels = job["runs-on"]
    assert labels[0] == "self-hosted" and "gpu" in labels
    custom = set(labels) - {"self-hosted", "linux", "x64"}
    configured = set(yaml.safe_load((REPO_ROOT / ".github" / "actionlint.yaml").read_text())["self-hosted-runner"]["labels"])
    assert custom == configured, "the runner labels are listed in .github/actionlint.yaml"
    documented = (REPO_ROOT / ".github" / "README.md").read_text()
    assert all(f"`{label}`" in documented for label in custom), "the runner labels are documented in .github/README.md"
    assert 'make run ARGS="--full --device cuda"' in runs(job)
    upload = uses(job, "actions/upload-artifact")
    assert upload and upload[0]["if"] == "always()", "upload the executed notebooks even when one failed"
    paths = upload[0]["with"]["path"].split()
    assert {"build/executed/", "build/results.md", "build/results.json"} <= set(paths)
    run_step = next(step for step in steps(job) if "make run" in step.get("run", ""))
    assert "continue-on-error" not in run_step and "|| true" not in run_step["run"], "a failed notebook fails the job"


def test_the_site_workflow_builds_from_the_gpu_run():
    workflow = load("site.yml")
    assert workflow["on"]["workflow_run"]["workflows"] == [load("gpu-notebooks.yml")["name"]]
    job = workflow["jobs"]["build"]
    assert "make site" in runs(job)
    download = uses(job, "actions/download-artifact")
    gpu_upload = uses(load("gpu-notebooks.yml")["jobs"]["full-run"], "actions/upload-artifact")[0]
    assert download[0]["with"]["name"] == gpu_upload["with"]["name"]
    assert uses(job, "actions/upload-pages-artifact")[0]["with"]["path"] == "build/site"
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^site: .*\n\t\$\(BIN\)/python -m helpers\.site build$", makefile, flags=re.MULTILINE)
