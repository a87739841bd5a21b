"""Lesson 02 in a real JupyterLab, the way a student sees it: the kernel explorer's widgets render and react.

JupyterLab starts with `make lab`'s own command (read from the Makefile), plus a port, a token and a private
settings folder. Chromium (driven by Playwright) opens lesson 02, runs every cell above the kernel explorer and then
the explorer (quick mode, the notebook's default; the timing cells after it are not needed), checks that the
dropdowns, sliders and the output figure render, picks another kernel in the dropdown and checks the figure
changes. Screenshots go to build/screenshots/. Skipped, saying why, where Chromium is missing.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from helpers.common import HEADLESS_ENV, REPO_ROOT

LESSON = "02_convolution_filters.ipynb"
EXPLORER_MARK = "show_explorer()"  # the explorer cell calls it (its headless branch draws a static figure instead)

pytestmark = pytest.mark.slow


def make_lab_command() -> list[str]:
    """`make lab`'s recipe from the Makefile, with $(BIN) as this Python's folder and no $(LAB_ARGS)."""
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^lab:.*\n\t(.+)$", makefile, flags=re.MULTILINE)
    assert recipe, "the Makefile has no `lab` target"
    line = recipe.group(1).replace("$(BIN)", str(Path(sys.executable).parent)).replace("$(LAB_ARGS)", "")
    return shlex.split(line)


def explorer_cell_index() -> tuple[int, int]:
    """(index of the explorer cell, index of the last code cell above it) in lesson 02."""
    nb = nbformat.read(REPO_ROOT / "course" / LESSON, as_version=4)
    found = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and EXPLORER_MARK in cell.source]
    assert found, f"{LESSON} has no cell that calls {EXPLORER_MARK}"
    above = [i for i, cell in enumerate(nb.cells[:found[-1]]) if cell.cell_type == "code"]
    return found[-1], above[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_lab_opens_jupyterlab_on_the_course():
    command = make_lab_command()
    assert Path(command[0]).name == "jupyter" and command[1:3] == ["lab", "course/"]


@pytest.fixture
def jupyterlab(tmp_path: Path):
    """(base URL, token) of a JupyterLab started as `make lab` starts it; shut down afterwards."""
    port, token = free_port(), os.urandom(16).hex()
    settings = tmp_path / "settings"
    for plugin, values in {"@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},  # every cell in the DOM
                           "@jupyterlab/docmanager-extension/plugin": {"autosave": False},  # never write the lesson
                           "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}
                           }.items():
        package, name = plugin.rsplit("/", 1)
        (settings / package).mkdir(parents=True, exist_ok=True)
        (settings / package / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
    command = make_lab_command() + [
        "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        f"--FileCheckpoints.checkpoint_dir={tmp_path / 'checkpoints'}"]  # no .ipynb_checkpoints/ left in course/
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI runs as root
    env = {k: v for k, v in os.environ.items() if k != HEADLESS_ENV}  # a person's kernel: widgets, not static figures
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    log_path = tmp_path / "jupyterlab.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start ({' '.join(command)}):\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield base, token
    finally:
        try:
            request = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(request, timeout=10).read()
            server.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


def prompt(cell) -> str:
    return cell.locator(".jp-InputPrompt").first.inner_text().strip()


def test_the_kernel_explorer_renders_and_follows_the_dropdown(jupyterlab, browser, screenshots: Path):
    base, token = jupyterlab
    index, last_above = explorer_cell_index()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{base}/lab/tree/{LESSON}?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
        cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
        explorer = cells.nth(index)
        explorer.scroll_into_view_if_needed()
        explorer.locator(".jp-InputPrompt").first.click()

        # Run > Run All Above Selected Cell, then the explorer cell itself (shift+enter)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Above Selected Cell").click()
        above = cells.nth(last_above)
        deadline = time.monotonic() + 300
        while not re.fullmatch(r"\[\d+\]:", prompt(above)):
            errors = page.locator(".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            traceback = page.locator(".jp-Notebook .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
            assert traceback.count() == 0, f"a cell above the explorer failed:\n{traceback.first.inner_text()[:2000]}"
            assert time.monotonic() < deadline, f"the cells above the explorer did not finish (prompt {prompt(above)!r}); " \
                                                f"{errors.count()} stderr outputs"
            time.sleep(1)
        explorer.locator(".jp-InputPrompt").first.click()
        page.keyboard.press("Shift+Enter")

        dropdowns = explorer.locator(".widget-dropdown select")
        dropdowns.first.wait_for(timeout=60_000)
        assert dropdowns.count() == 2, "the explorer has an image and a kernel dropdown"
        assert explorer.locator(".widget-slider, .widget-hslider").count() >= 3, "size, sigma and Canny sliders"
        assert explorer.locator(".widget-textarea textarea").count() == 1, "the custom-kernel box"
        figure = explorer.locator(".widget-output img").first
        figure.wait_for(timeout=60_000)
        before = figure.get_attribute("src")
        output = explorer.locator(".jp-Cell-outputWrapper")
        output.screenshot(path=str(screenshots / "jupyterlab-explorer-gaussian.png"))

        kernel = explorer.locator(".widget-dropdown", has=page.locator("label", has_text=re.compile(r"^kernel$")))
        kernel.locator("select").select_option(label="Sobel x")
        deadline = time.monotonic() + 60
        while True:
            now = explorer.locator(".widget-output img").first
            if now.count() and now.get_attribute("src") not in (None, before):
                break
            assert time.monotonic() < deadline, "the figure did not change after picking 'Sobel x' in the kernel dropdown"
            time.sleep(0.5)
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=now.element_handle())
        assert explorer.locator(".widget-output").inner_text().find("Cannot draw") == -1
        output.screenshot(path=str(screenshots / "jupyterlab-explorer-sobel-x.png"))
    finally:
        page.screenshot(path=str(screenshots / "jupyterlab-lesson-02.png"))
        page.close()
