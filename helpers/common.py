"""What several helpers modules share: the repository's root, the notebook naming rule, CPU count, progress bars.

    >>> from helpers.common import REPO_ROOT, progress_bar, usable_cpu_count
    >>> with progress_bar(total=3, desc="demo") as bar:
    ...     for _ in range(3):
    ...         bar.update(1)

Nothing here imports another helpers module, so every module may import this one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"  # course/02_convolution_filters.ipynb, solutions/05_vgg_lab.ipynb, ...

PROGRESS_ENV = "COURSE_PROGRESS"  # "auto" (default), "text" or "off"
PROGRESS_MODES = ("auto", "text", "off")
HEADLESS_ENV = "COURSE_HEADLESS"  # set to "1" by the runner and the grader: draw static figures, create no widgets


def usable_cpu_count() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one, else ``os.cpu_count()``).

    >>> usable_cpu_count() >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def progress_mode() -> str:
    """``$COURSE_PROGRESS``: 'auto' (widget bars in Jupyter, text in a terminal), 'text' or 'off'."""
    mode = os.environ.get(PROGRESS_ENV, "auto").strip().lower() or "auto"
    if mode not in PROGRESS_MODES:
        raise ValueError(f"{PROGRESS_ENV}={mode!r} is not one of {', '.join(PROGRESS_MODES)}.")
    return mode


def progress_bar(total: int | None = None, desc: str = "", *, enabled: bool = True, unit: str = "it",
                 leave: bool = False) -> Any:
    """A tqdm bar that honours ``$COURSE_PROGRESS``: a widget in Jupyter, text in a terminal, or nothing.

    'text' bars redraw at most every 5 s, so a notebook executed by papermill keeps a few lines per loop,
    not hundreds. Update it by hand (``bar.update(1)``) and close it (or use it in a ``with`` block).
    """
    mode = progress_mode()
    if mode == "text":
        from tqdm import tqdm as text_tqdm

        return text_tqdm(total=total, desc=desc, unit=unit, leave=leave, mininterval=5.0, disable=not enabled)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=leave, disable=not enabled or mode == "off")


def is_headless() -> bool:
    """True when a notebook runs under the course runner, the grader or the tests (``$COURSE_HEADLESS=1``).

    Notebooks use it to draw a static figure instead of an interactive widget, which papermill cannot show
    and which can keep a headless kernel from reporting idle.
    """
    return os.environ.get(HEADLESS_ENV, "").strip().lower() in ("1", "true", "yes")
