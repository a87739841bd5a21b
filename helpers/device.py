"""Device choice, reproducibility and a one-line environment summary.

Example::

    >>> from helpers.device import setup_notebook
    >>> device = setup_notebook("auto", seed=0)
    python 3.11.7 | torch 2.14.1 | device cpu (2 threads) | seed 0
"""

from __future__ import annotations

import json
import os
import platform
import random
from pathlib import Path

import numpy as np
import torch

from helpers.common import usable_cpu_count

DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """Return the torch device for ``name``: 'auto' picks cuda, then mps, then cpu.

    'cuda:1' style names are accepted. Asking for a device this machine does not have
    raises a ``RuntimeError`` that says what is available instead.

    >>> pick_device("cuda:7")   # on a machine with one GPU
    RuntimeError: Device 'cuda:7' was asked for, but this machine has 1 CUDA GPU (cuda:0). ...
    """
    if isinstance(name, torch.device):
        if name.type not in DEVICE_NAMES:
            return name  # another backend the caller chose on purpose (e.g. 'meta')
        name = str(name)
    name = (name or "auto").strip().lower()
    base, _, index = name.partition(":")
    if base not in DEVICE_NAMES or (index and (base == "auto" or not index.isdigit())):
        raise ValueError(f"Unknown device {name!r}: use one of {', '.join(DEVICE_NAMES)} (or 'cuda:N').")
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if has_mps else "cpu")
    if base == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise RuntimeError(f"Device {name!r} was asked for, but this machine has no CUDA GPU. Use DEVICE='cpu' or 'auto'.")
        if index and int(index) >= count:
            gpus = ", ".join(f"cuda:{i}" for i in range(count))
            raise RuntimeError(f"Device {name!r} was asked for, but this machine has {count} CUDA GPU"
                               f"{'s' if count > 1 else ''} ({gpus}). Use DEVICE='cuda' (the first one) or one of those.")
    if base == "mps" and not has_mps:
        raise RuntimeError(f"Device {name!r} was asked for, but Apple's MPS backend is not available. Use DEVICE='cpu' or 'auto'.")
    return torch.device(name)


def seed_everything(seed: int = 0, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (CPU and GPU) so a run can be repeated.

    ``deterministic=True`` also asks cuDNN for deterministic kernels (slower on GPU).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def set_cpu_threads(n: int | None = None) -> int:
    """Set torch's CPU threads: ``n``, or $COURSE_THREADS, or every core this process may use."""
    if n is None:
        n = int(os.environ.get("COURSE_THREADS", "0") or 0)
    if not n:
        n = usable_cpu_count()
    n = max(1, int(n))
    torch.set_num_threads(n)
    return n


def device_label(device: torch.device) -> str:
    """A short human name for a device, e.g. 'cuda (NVIDIA H100 80GB HBM3)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def environment_summary(device: torch.device | None = None) -> str:
    """One line: Python, torch and torchvision versions and the device."""
    import torchvision

    device = device or pick_device("auto")
    return (
        f"python {platform.python_version()} | torch {torch.__version__} | "
        f"torchvision {torchvision.__version__} | device {device_label(device)}"
    )


def setup_notebook(device: str | torch.device | None = "auto", seed: int = 0, threads: int | None = None,
                   quick: bool | None = None) -> torch.device:
    """What every notebook does first: pick the device, seed, set CPU threads, print a summary.

    The device is also recorded for the course's results table. With ``quick=False`` (full mode) on a CPU it also
    says up front how long full mode took when it was measured (``full_mode_note``), and how to get a GPU on Colab.
    """
    from helpers.results import record

    set_cpu_threads(threads)
    chosen = pick_device(device)
    seed_everything(seed)
    print(f"{environment_summary(chosen)} | seed {seed}")
    record(device=device_label(chosen), quiet=True)
    note = full_mode_note(chosen, quick)
    if note:
        print(note)
    return chosen


# Full-mode run times as measured (python -m helpers.runner --full; the file says where and when), so that a
# full run on a CPU can say up front how long it will take. `python -m helpers.publish --times build/results.json`
# adds the times of a new full run.
FULL_MODE_TIMES = Path(__file__).with_name("full_mode_times.json")


def current_notebook() -> str:
    """The path of the notebook this kernel runs, where Jupyter says it ('' on Colab, in a script, under papermill)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        session = shell.user_ns.get("__session__", "") if shell is not None else ""
    except ImportError:
        session = ""
    return str(session or os.environ.get("JPY_SESSION_NAME", "") or os.environ.get("COURSE_NOTEBOOK", ""))


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def full_mode_note(device: torch.device, quick: bool | None, notebook: str | None = None,
                   times_file: Path = FULL_MODE_TIMES) -> str:
    """'' unless this is a full-mode run (``quick=False``) on a CPU; then how long full mode took when measured.

    ``notebook`` (default: ``current_notebook()``) picks that notebook's time; when it is unknown (Colab), the
    measured times of every notebook are listed.
    """
    if quick is not False or device.type != "cpu":
        return ""
    try:
        measured = json.loads(times_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        measured = {}
    cpu = measured.get("cpu", {})
    gpu = measured.get("cuda", {})
    notebook = current_notebook() if notebook is None else notebook
    name = Path(notebook).name if notebook else ""
    mine = {key: value for key, value in cpu.items() if name and Path(key).name == name}
    lines = ["Full mode (QUICK=False) on a CPU: this trains for longer on all of the data."]
    if mine:
        key, row = next(iter(mine.items()))
        on_gpu = gpu.get(key)
        lines.append(f"Measured for {key}: {_minutes(row['seconds'])} on {row['device']}"
                     + (f", {_minutes(on_gpu['seconds'])} on {on_gpu['device']}" if on_gpu else "") + ".")
    elif cpu:
        listed = "; ".join(f"{Path(k).stem[:2]}: {_minutes(v['seconds'])}" for k, v in sorted(cpu.items()))
        device_names = sorted({v["device"] for v in cpu.values()})
        lines.append(f"Measured full-mode times per notebook on {', '.join(device_names)}: {listed}.")
    else:
        lines.append("No full-mode time has been measured yet; expect several minutes per training notebook.")
    lines.append("For a quick look set QUICK = True; on Colab pick a GPU (Runtime > Change runtime type) and run again.")
    return "\n".join(lines)
