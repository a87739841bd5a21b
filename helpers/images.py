"""Small image plumbing for the lessons: reading with OpenCV safely, memory sizes, duplicates, display.

Example::

    >>> from helpers.images import image_memory_bytes
    >>> image_memory_bytes(224, 224, channels=3, dtype="float32", count=1000) / 2**20   # MiB
    574.21875
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "read_image_rgb",
    "image_memory_bytes",
    "pixel_hash",
    "find_duplicate_images",
    "clip_to_uint8",
    "to_display",
    "show_channels",
]


def read_image_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as an RGB uint8 array (H x W x 3).

    ``cv2.imread`` returns pixels in **BGR** order and silently returns ``None`` for a missing or
    unreadable file; this raises ``FileNotFoundError`` instead and converts to RGB.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No image file at {path}; check the path (relative paths start at {Path.cwd()}).")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"OpenCV could not decode {path}: is it really an image (png, jpg, ...)?")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def image_memory_bytes(height: int, width: int, channels: int = 3, dtype: str | np.dtype = "uint8", count: int = 1) -> int:
    """Bytes needed for ``count`` images of ``height x width x channels`` stored as ``dtype``.

    >>> image_memory_bytes(1080, 1920), image_memory_bytes(1080, 1920, dtype="float32")
    (6220800, 24883200)
    """
    for name, value in (("height", height), ("width", width), ("channels", channels), ("count", count)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"image_memory_bytes: {name} must be a whole number >= 0, got {value!r}.")
    return int(height) * int(width) * int(channels) * int(count) * np.dtype(dtype).itemsize


def pixel_hash(image: np.ndarray) -> str:
    """SHA-256 of an image's decoded pixels (and its shape and dtype): equal hash means identical pixels.

    Hashing the pixels rather than the file bytes also finds the same picture saved twice as PNG with
    different metadata; it does not find re-compressed, resized or flipped copies (they have other pixels).
    """
    image = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"{image.shape}|{image.dtype}|".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def find_duplicate_images(paths: Iterable[str | Path]) -> list[list[Path]]:
    """Groups of files whose decoded pixels are identical (each group has 2 or more paths, sorted).

    Decodes each file with Pillow (as stored: no resizing, no colour conversion) and compares ``pixel_hash``.
    """
    from PIL import Image

    groups: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        path = Path(path)
        with Image.open(path) as im:
            groups[pixel_hash(np.asarray(im))].append(path)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: str(g[0]))


def clip_to_uint8(image: np.ndarray) -> np.ndarray:
    """Round and clip a filter's float output (0..255 units) back to a displayable uint8 image."""
    return np.clip(np.rint(np.asarray(image, dtype=np.float64)), 0, 255).astype(np.uint8)


def to_display(image: np.ndarray) -> np.ndarray:
    """Rescale any array (e.g. signed edge responses) to 0..1 floats for ``plt.imshow``; a flat image becomes 0."""
    image = np.asarray(image, dtype=np.float64)
    low, high = float(image.min()), float(image.max())
    return np.zeros_like(image) if high == low else (image - low) / (high - low)


def show_channels(image: np.ndarray, names: Sequence[str], title: str = "", cmaps: Sequence[str] | None = None,
                  original: np.ndarray | None = None):
    """Plot each channel of an H x W x C array side by side (optionally after the RGB ``original``); returns the Figure."""
    import matplotlib.pyplot as plt

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != len(names):
        raise ValueError(f"show_channels: expected H x W x {len(names)} for names {list(names)}, got shape {image.shape}.")
    panels = ([("RGB image", original, None)] if original is not None else []) + [
        (name, image[..., i], (cmaps[i] if cmaps else "gray")) for i, name in enumerate(names)
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.2), squeeze=False)
    for ax, (name, data, cmap) in zip(axes[0], panels):
        shown = ax.imshow(data, cmap=cmap)
        if cmap is not None:
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(name)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
