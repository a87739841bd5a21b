"""Shared pytest settings: headless plotting in the test process.

Kernels started by papermill keep Jupyter's inline backend, so notebooks are tested as students run them.
"""

import matplotlib

matplotlib.use("Agg")


# --- browser tests (tests/test_site.py, tests/test_jupyterlab.py): Playwright driving the system's Chromium ---------
import os  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"


def find_chromium() -> str | None:
    """$COURSE_CHROMIUM, else the first of chromium, chromium-browser, google-chrome(-stable) on PATH."""
    named = os.environ.get("COURSE_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium driven by Playwright; skips (saying why) where Chromium or Playwright is missing."""
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium found (looked for $COURSE_CHROMIUM and " + ", ".join(CHROMIUM_NAMES) + " on PATH); "
                    "install it with `apt-get install chromium` (.ci/run does so in CI)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """build/screenshots/, where the browser tests save what they saw."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
