"""Device choice, reproducibility and a one-line environment summary.

Example::

    >>> from helpers.device import setup_notebook
    >>> device = setup_notebook("auto", seed=0)
    python 3.11.7 | torch 2.14.1 | device cpu (2 threads) | seed 0
"""

from __future__ import annotations

import os
import platform
import random

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


def setup_notebook(device: str | torch.device | None = "auto", seed: int = 0, threads: int | None = None) -> torch.device:
    """What every notebook does first: pick the device, seed, set CPU threads, print a summary.

    The device is also recorded for the course's results table.
    """
    from helpers.results import record

    set_cpu_threads(threads)
    chosen = pick_device(device)
    seed_everything(seed)
    print(f"{environment_summary(chosen)} | seed {seed}")
    record(device=device_label(chosen), quiet=True)
    return chosen
