"""`make site`: the static course website, built with Jupyter Book from executed notebooks, and looked at in Chromium.

The site is built once per test session from lesson 02 executed in quick mode: the executed copy that
tests/test_notebooks.py left in this session's temporary folder when it ran first, else one executed here
(about 35 s on a 2-core CPU). The other lessons are staged as stored, which the home page must say.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from helpers.common import REPO_ROOT
from helpers.runner import execute_notebook
from helpers.site import build_site, stage

LESSON = "course/02_convolution_filters.ipynb"
EXECUTED_SUBDIR = "executed-notebooks"  # tests/test_notebooks.py writes its executed copies here too


def executed_copy(tmp_path_factory, rel: str) -> tuple[Path, dict]:
    """(executed notebook, its results row): reuse this session's copy from test_notebooks.py, else execute it."""
    folder = tmp_path_factory.getbasetemp() / EXECUTED_SUBDIR
    executed = folder / rel
    recorded = executed.with_suffix(".json")
    if executed.is_file():
        meta = nbformat.read(executed, as_version=4).metadata.get("papermill", {})
        if not meta.get("exception") and meta.get("duration"):
            numbers = json.loads(recorded.read_text()) if recorded.is_file() else {}
            device = str(numbers.pop("device", ""))
            return executed, {"notebook": rel, "status": "ok", "seconds": round(meta["duration"], 1),
                              "device": device, "numbers": numbers, "error": "", "note": ""}
    result = execute_notebook(REPO_ROOT / rel, executed, {"QUICK": True, "EPOCHS": 1, "DEVICE": "cpu"}, recorded,
                              cell_timeout=600)
    assert result.status == "ok", f"{rel} failed, so there is no site to build: {result.error}"
    return executed, {"notebook": rel, "status": "ok", "seconds": result.seconds, "device": result.device,
                      "numbers": result.numbers, "error": "", "note": ""}


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    executed, row = executed_copy(tmp_path_factory, LESSON)
    work = tmp_path_factory.mktemp("site")
    (work / "executed" / "course").mkdir(parents=True)
    (work / "executed" / LESSON).write_bytes(executed.read_bytes())
    (work / "results.json").write_text(json.dumps({"mode": "quick", "notebooks": [row]}))
    index = build_site(REPO_ROOT, work / "executed", work / "results.json", work / "site")
    return index.parent


@pytest.mark.slow
def test_the_home_page_lists_every_lesson_the_results_and_the_glossary(site: Path):
    home = (site / "index.html").read_text(encoding="utf-8")
    for path in sorted((REPO_ROOT / "course").glob("[0-9][0-9]_*.ipynb")):
        assert f'href="course/{path.stem}.html"' in home, f"the home page does not link {path.name}"
        assert (site / "course" / f"{path.stem}.html").is_file()
    for path in sorted((REPO_ROOT / "labs").glob("[0-9][0-9]_*.ipynb")):
        assert (site / "labs" / f"{path.stem}.html").is_file(), f"{path.name} is not on the site"
    assert "Results and run times" in home
    table = re.search(r'<section id="results-and-run-times">.*?<table.*?</table>', home, flags=re.DOTALL)
    assert table and LESSON in table.group(0) and ">ok<" in table.group(0), "the results table lacks lesson 02's row"
    assert "not executed (shown without outputs)" in home, "lessons without an executed copy must say so"
    assert 'href="GLOSSARY.html"' in home


@pytest.mark.slow
def test_the_lesson_page_shows_the_figures_of_the_run(site: Path):
    page = (site / "course" / "02_convolution_filters.html").read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="([^"]+)"', page)
    figures = [src for src in images if "_images/" in src]
    assert len(figures) >= 5, f"expected the run's figures on the page, found {figures}"
    for src in figures:
        assert (site / "course" / src).resolve().is_file(), f"{src} is missing from the site"
    assert "psnr" in page.lower() or "PSNR" in page, "the printed output of the run should be on the page"


@pytest.mark.slow
def test_the_glossary_page_has_the_terms(site: Path):
    page = (site / "GLOSSARY.html").read_text(encoding="utf-8")
    for korean, english in [("합성곱", "convolution"), ("정칙화", "regularization"), ("정규화", "normalization"),
                            ("지식 증류", "knowledge distillation")]:
        assert korean in page and english in page


@pytest.mark.slow
def test_the_site_in_a_browser_shows_images_and_the_results_table(site: Path, browser, screenshots: Path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto((site / "index.html").as_uri())
        page.wait_for_load_state("load")
        heading = page.get_by_role("heading", name="Results and run times")
        assert heading.is_visible()
        rows = page.locator("section#results-and-run-times table tbody tr")
        assert rows.count() == 1 and "02_convolution_filters" in rows.first.inner_text()
        page.screenshot(path=str(screenshots / "site-home.png"), full_page=True)

        page.get_by_role("link", name=re.compile(r"^02 · Convolution")).first.click()
        page.wait_for_load_state("load")
        assert page.url.endswith("course/02_convolution_filters.html")
        images = page.locator("article img")
        assert images.count() >= 5
        for i in range(images.count()):
            images.nth(i).scroll_into_view_if_needed()
        page.wait_for_function("() => [...document.querySelectorAll('article img')].every(i => i.complete)")
        sizes = page.eval_on_selector_all("article img", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth])")
        local = [(src, width) for src, width in sizes if not src.startswith(("http://", "https://"))]
        assert len(local) >= 5, "the run's figures are part of the site"
        broken = [src for src, width in local if width == 0]  # (the Colab badge is an image on the web: offline here)
        assert not broken, f"images that did not render: {broken}"
        page.screenshot(path=str(screenshots / "site-lesson-02.png"))
    finally:
        page.close()


def test_stage_writes_the_home_page_toc_and_config(tmp_path: Path):
    """Without building: the staged sources hold the lessons (executed where a copy exists), labs and glossary."""
    executed = tmp_path / "executed" / "course"
    executed.mkdir(parents=True)
    nb = nbformat.read(REPO_ROOT / LESSON, as_version=4)
    nb.cells[0].source += "\n\nEXECUTED COPY"
    nbformat.write(nb, executed / Path(LESSON).name)
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"mode": "full", "notebooks": [
        {"notebook": LESSON, "status": "ok", "seconds": 12.34, "device": "cuda (H100)", "numbers": {"psnr": 22.4}},
        {"notebook": "solutions/02_convolution_lab.ipynb", "status": "failed", "seconds": 3.0, "device": "cpu",
         "numbers": {}, "error": "cell 4 (`x = 1`): ValueError: boom"}]}))
    report = stage(REPO_ROOT, tmp_path / "executed", results, tmp_path / "src")
    assert report["executed"] == [LESSON]
    assert "EXECUTED COPY" in (tmp_path / "src" / LESSON).read_text()
    home = (tmp_path / "src" / "index.md").read_text()
    assert "Mode: **full**." in home
    assert f"| {LESSON} | ok | 12.3 | cuda (H100) | psnr=22.4 |" in home
    assert "| solutions/02_convolution_lab.ipynb | failed | 3.0 | cpu | **cell 4 (`x = 1`): ValueError: boom** |" in home
    assert "2 notebooks, 1 failed, 15 s in all." in home
    lessons = sorted((REPO_ROOT / "course").glob("[0-9][0-9]_*.ipynb"))
    assert home.count("not executed (shown without outputs)") == len(lessons) - 1
    toc = (tmp_path / "src" / "_toc.yml").read_text()
    assert all(f"- file: course/{p.stem}" in toc for p in lessons) and "- file: GLOSSARY" in toc
    config = json.loads((tmp_path / "src" / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off", "the site shows the run's outputs, it never executes"
    assert (tmp_path / "src" / "GLOSSARY.md").read_text() == (REPO_ROOT / "GLOSSARY.md").read_text()


def test_stage_without_a_run_says_so(tmp_path: Path):
    stage(REPO_ROOT, tmp_path / "none", tmp_path / "missing.json", tmp_path / "src")
    assert "No run results yet: `make run`" in (tmp_path / "src" / "index.md").read_text()
