"""Record a notebook's key numbers so the batch run can gather them into a results table.

Example::

    >>> from helpers.results import record
    >>> record(test_accuracy=0.912, train_seconds=74.2)
    recorded: test_accuracy=0.912, train_seconds=74.2

The runner (``python -m helpers.runner``) sets ``$COURSE_RESULTS_FILE`` for each notebook;
outside it (a student in JupyterLab) the numbers are only printed.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

RESULTS_ENV = "COURSE_RESULTS_FILE"


def _plain(value: Any) -> Any:
    """Turn numpy/torch scalars into plain JSON numbers; round floats for the table."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float):
        return value if not math.isfinite(value) else round(value, 6)
    if isinstance(value, (int, str, bool)) or value is None:
        return value
    raise TypeError(f"record() takes numbers, strings or booleans, not {type(value).__name__}")


def record(quiet: bool = False, **numbers: Any) -> None:
    """Record key numbers (accuracy, seconds, ...) for this notebook; later calls add or overwrite keys.

    Returns nothing, so a notebook cell that ends with ``record(...)`` shows only the printed line.
    """
    values = {key: _plain(value) for key, value in numbers.items()}
    path = os.environ.get(RESULTS_ENV)
    if path:
        file = Path(path)
        current = json.loads(file.read_text()) if file.exists() and file.stat().st_size else {}
        current.update(values)
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(current, indent=2))
    if not quiet:
        print("recorded: " + ", ".join(f"{k}={v}" for k, v in values.items()))


def read_results(path: str | Path) -> dict[str, Any]:
    """Read what a notebook recorded (an empty dict when it recorded nothing)."""
    file = Path(path)
    return json.loads(file.read_text()) if file.exists() and file.stat().st_size else {}
