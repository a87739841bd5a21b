"""Image files: open any image as RGB, decode one fast into a NumPy array, find the damaged ones.

Every image the data layer reads goes through here, so a bad file always gives the same kind of error:
a ``CorruptFileError`` that names the file and says what to do, never a half-grey picture.

    >>> pil_rgb_loader("data/fruit/test/cherry/r0_3.jpg").mode    # grayscale, 16-bit, RGBA, CMYK, palette -> RGB
    'RGB'
    >>> read_rgb_array("data/cifar10/test/cat/0000.jpg").shape      # OpenCV for complete JPEGs, else PIL
    (32, 32, 3)
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torchvision
from PIL import Image, UnidentifiedImageError

from helpers.common import progress_bar
from helpers.data.errors import CorruptFileError

IMAGE_EXTENSIONS = torchvision.datasets.folder.IMG_EXTENSIONS  # what torchvision's ImageFolder accepts
JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"  # every JPEG begins with SOI and ends with EOI


def is_image_file(path: Path) -> bool:
    """True for a file whose extension ImageFolder reads as an image (.jpg, .png, ...)."""
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL image to 8-bit RGB: gray, 16-bit gray, palette, RGBA (over white), CMYK.

    PIL's own ``convert("RGB")`` clips 16-bit gray values (0-65535) to 255, which turns a 16-bit PNG white;
    here they are scaled (65535 -> 255) instead.
    """
    if image.mode.startswith("I;16") or image.mode == "I":
        pixels = np.asarray(image, dtype=np.float64)  # "I" (32-bit) is treated as 16-bit when a value exceeds 255
        if image.mode != "I" or pixels.max(initial=0) > 255:
            pixels = pixels / 257.0
        gray = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _unreadable(path: str | os.PathLike, err: Exception) -> CorruptFileError:
    """The error for an image file that cannot be decoded, saying why in words a person can act on."""
    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    if size == 0:
        why = "is empty (0 bytes), not an image"
    elif isinstance(err, UnidentifiedImageError):
        why = f"is not an image PIL can read (its {size:,} bytes are another kind of file or garbage)"
    elif "truncated" in str(err) or isinstance(err, EOFError):
        why = f"is truncated: its {size:,} bytes end before the image does (an interrupted copy or download)"
    else:
        why = f"is damaged ({type(err).__name__}: {err})"
    return CorruptFileError(f"The image file {path} {why}. Delete or replace it; for a course data set, delete its "
                            "folder and fetch it again (python -m helpers.data status --verify-images lists every "
                            "damaged image).")


def pil_rgb_loader(path: str | os.PathLike) -> Image.Image:
    """Open an image file as an RGB PIL image (the loader the course's ImageFolders use).

    A file that is empty, truncated or not an image raises ``CorruptFileError`` naming it.

    >>> pil_rgb_loader("data/fruit/test/apple_golden/r0_11.jpg").mode
    'RGB'
    """
    try:
        with Image.open(path) as image:
            image.load()
            return to_rgb(image)
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        raise _unreadable(path, err) from err


def read_rgb_array(path: str | os.PathLike) -> np.ndarray:
    """One image file -> uint8 array [H, W, 3], RGB. Raises ``CorruptFileError`` for a truncated or damaged file.

    A complete 8-bit colour JPEG is decoded by OpenCV: the same pixels as PIL, and it releases the GIL, so
    threads help. OpenCV fills the missing part of a truncated JPEG with gray and only warns, so a JPEG that
    does not end with its end-of-image marker goes to PIL instead, which refuses it. Everything else
    (PNG, grayscale, 16-bit, transparency, CMYK) goes to PIL too.
    """
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == JPEG_START and raw[-256:].rstrip(b"\x00")[-2:] == JPEG_END:  # some writers pad with zeros
        image = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if image is not None and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
            return np.ascontiguousarray(image[:, :, ::-1])  # BGR -> RGB
    return np.asarray(pil_rgb_loader(path))


def verify_images(folder: str | os.PathLike, progress: bool = True) -> list[Path]:
    """Return the image files under ``folder`` that cannot be fully decoded (empty, truncated, damaged).

    >>> verify_images("data/cats_vs_dogs")
    []
    """
    files = sorted(p for p in Path(folder).rglob("*") if is_image_file(p))
    bad = []
    with progress_bar(total=len(files), desc=f"checking images in {Path(folder).name}", unit=" img",
                      enabled=progress) as bar:
        for path in files:
            try:
                with Image.open(path) as image:
                    image.verify()  # structure
                with Image.open(path) as image:
                    to_rgb(image).load()  # pixels: catches truncated files
            except Exception:
                bad.append(path)
            bar.update(1)
    return bad
