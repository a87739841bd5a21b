"""2-D convolution written by hand (a readable loop and a vectorised NumPy version) and the classic kernels.

Example::

    >>> import numpy as np
    >>> from helpers.convolution import conv2d, output_size, MEAN_3x3
    >>> image = np.arange(25, dtype=np.float32).reshape(5, 5)
    >>> conv2d(image, MEAN_3x3).shape            # no padding: 5 - 3 + 1 = 3
    (3, 3)
    >>> conv2d(image, MEAN_3x3, padding="same").shape
    (5, 5)
    >>> output_size(H=32, F=3, P=1, S=2)         # (32 + 2*1 - 3) // 2 + 1
    16

Conventions (the same as ``torch.nn.functional.conv2d`` and ``cv2.filter2D``):

* ``conv2d`` computes **cross-correlation**: the kernel is laid on the image as it is written.
  ``flip=True`` (or ``convolve``) flips it in both axes first, which is convolution in the maths sense.
* Images are ``H x W`` (gray) or ``H x W x C`` with C = 1 or 3. A 2-D kernel filters each channel on its
  own (output ``OH x OW x C``); a 3-D kernel ``FH x FW x C`` is one CNN filter: it sums over the channels
  (output ``OH x OW``).
* The result is float32 (float64 for float64 images). uint8 images are *not* rescaled, so outputs are in
  0..255 units and can be negative or above 255: use ``helpers.images.clip_to_uint8`` to display them.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "output_size",
    "pad_image",
    "conv2d_naive",
    "conv2d",
    "correlate",
    "convolve",
    "mean_kernel",
    "gaussian_kernel",
    "sobel_magnitude",
    "add_salt_and_pepper",
    "psnr",
    "PAD_MODES",
    "MEAN_3x3",
    "MEAN_CENTER_WEIGHTED",
    "MEAN_CORNER_WEIGHTED",
    "GAUSSIAN_3x3",
    "SHARPEN_9",
    "SHARPEN_5",
    "SOBEL_X",
    "SOBEL_Y",
    "PREWITT_X",
    "PREWITT_Y",
    "LAPLACIAN",
]

# Our padding names -> np.pad modes. OpenCV's matching borderType is given for each.
PAD_MODES = {
    "zero": "constant",  # 0 0 | a b c | 0 0        cv2.BORDER_CONSTANT (value 0)
    "reflect": "reflect",  # c b | a b c | b a      cv2.BORDER_REFLECT_101 (= cv2.BORDER_DEFAULT); edge not repeated
    "replicate": "edge",  # a a | a b c | c c       cv2.BORDER_REPLICATE
}

# --- the classic 3x3 kernels of the lecture (float64; conv2d casts them to the image's float type) ---
MEAN_3x3 = np.ones((3, 3)) / 9  # box / mean filter: every weight 1/9
MEAN_CENTER_WEIGHTED = np.array([[1, 1, 1], [1, 2, 1], [1, 1, 1]]) / 10  # the centre counts twice
MEAN_CORNER_WEIGHTED = np.array([[2, 1, 2], [1, 4, 1], [2, 1, 2]]) / 16  # the lecture's other 1/16 mask
GAUSSIAN_3x3 = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16  # binomial approximation of a Gaussian
SHARPEN_9 = np.array([[-1, -1, -1], [-1, 9, -1], [-1, -1, -1]], dtype=float)  # centre x9, 8 neighbours x-1
SHARPEN_5 = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=float)  # centre x5, 4 neighbours x-1
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)  # responds to left->right changes
SOBEL_Y = SOBEL_X.T.copy()  # responds to top->bottom changes
PREWITT_X = np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], dtype=float)
PREWITT_Y = PREWITT_X.T.copy()
LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)  # second derivative; sums to 0
for _k in (MEAN_3x3, MEAN_CENTER_WEIGHTED, MEAN_CORNER_WEIGHTED, GAUSSIAN_3x3, SHARPEN_9, SHARPEN_5,
           SOBEL_X, SOBEL_Y, PREWITT_X, PREWITT_Y, LAPLACIAN):
    _k.setflags(write=False)  # shared constants: nobody changes them by accident
del _k


# --------------------------------------------------------------------------------------------- sizes
def output_size(H: int, F: int, P: int = 0, S: int = 1) -> int:
    """Output length of a convolution along one axis: ``(H + 2P - F) // S + 1``.

    H: input size, F: kernel size, P: padding on each side, S: stride. When ``H + 2P - F`` is not a
    multiple of S the last, incomplete step is dropped (floor), as PyTorch does.

    >>> output_size(7, 3, 0, 1), output_size(7, 3, 0, 2), output_size(32, 5, 2, 1)
    (5, 3, 32)
    """
    for name, value in (("H", H), ("F", F), ("P", P), ("S", S)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"output_size: {name} must be a whole number, got {value!r} ({type(value).__name__}).")
    if H < 1 or F < 1:
        raise ValueError(f"output_size: the input size H={H} and kernel size F={F} must both be at least 1.")
    if P < 0:
        raise ValueError(f"output_size: padding P={P} cannot be negative.")
    if S < 1:
        raise ValueError(f"output_size: stride S={S} must be at least 1 (a stride of 0 would never move the kernel).")
    if H + 2 * P < F:
        raise ValueError(
            f"output_size: the kernel (F={F}) is larger than the padded input (H + 2P = {H + 2 * P}); "
            f"use a smaller kernel or pad by at least {-(-(F - H) // 2)}."
        )
    return int((H + 2 * P - F) // S + 1)


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in pair):
        raise TypeError(f"{name} must be a whole number or a pair (rows, cols) of whole numbers, got {value!r}.")
    return int(pair[0]), int(pair[1])


# ------------------------------------------------------------------------------------------ checking
def _check_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as an array after checking it is a usable H x W or H x W x C (C = 1 or 3) image."""
    image = np.asarray(image)
    if image.dtype == bool:
        raise TypeError(
            "The image has dtype bool (a mask). Convert it first, e.g. mask.astype(np.float32) "
            "or mask.astype(np.uint8) * 255."
        )
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise TypeError(f"The image has dtype {image.dtype}; use uint8 or a float type.")
    if image.ndim not in (2, 3):
        raise ValueError(
            f"Expected an H x W (gray) or H x W x C image, got an array with shape {image.shape}. "
            "For a batch, loop over the images or use torch.nn.functional.conv2d."
        )
    if image.ndim == 3 and image.shape[2] not in (1, 3):
        hint = " It looks like RGBA: drop the alpha channel with image[..., :3]." if image.shape[2] == 4 else ""
        raise ValueError(
            f"The image has {image.shape[2]} channels (shape {image.shape}); expected 1 or 3 channels in the "
            f"last axis (H x W x C).{hint} If your channels come first (C x H x W), use image.transpose(1, 2, 0)."
        )
    if image.size == 0:
        raise ValueError(f"The image is empty (shape {image.shape}); check how it was loaded or cropped.")
    return image


def _check_kernel(kernel: np.ndarray, image: np.ndarray) -> np.ndarray:
    kernel = np.asarray(kernel)
    if kernel.dtype == bool or not (np.issubdtype(kernel.dtype, np.integer) or np.issubdtype(kernel.dtype, np.floating)):
        raise TypeError(f"The kernel must hold numbers, got dtype {kernel.dtype}.")
    if kernel.ndim == 3:
        if image.ndim != 3 or kernel.shape[2] != image.shape[2]:
            raise ValueError(
                f"A 3-D kernel (FH x FW x C, here {kernel.shape}) needs an image with the same number of channels "
                f"C; the image has shape {image.shape}. Use a 2-D kernel to filter each channel on its own."
            )
    elif kernel.ndim != 2:
        raise ValueError(
            f"The kernel must be a 2-D array (FH x FW), or FH x FW x C to sum over channels; got shape {kernel.shape}. "
            "Wrap a list of rows in np.array([[...], [...]])."
        )
    if kernel.size == 0:
        raise ValueError(f"The kernel is empty (shape {kernel.shape}).")
    if not np.all(np.isfinite(kernel)):
        raise ValueError("The kernel contains NaN or infinity.")
    return kernel


def _require_odd(size: int | tuple[int, int], what: str) -> None:
    for s in (size if isinstance(size, tuple) else (size,)):
        if s % 2 == 0:
            raise ValueError(
                f"{what} needs an odd kernel size (got {size}) so that the kernel has a centre pixel; "
                f"use {s - 1} or {s + 1}."
            )


def _float_type(image: np.ndarray) -> type:
    return np.float64 if image.dtype == np.float64 else np.float32


# ------------------------------------------------------------------------------------------- padding
def pad_image(image: np.ndarray, pad: int | tuple[int, int], mode: str = "zero") -> np.ndarray:
    """Pad the two spatial axes of an H x W or H x W x C image by ``pad`` pixels on each side.

    ``pad`` is one number or a pair (rows, cols). ``mode``: 'zero', 'reflect' (mirror, the edge pixel
    is not repeated, like cv2.BORDER_REFLECT_101) or 'replicate' (repeat the edge pixel).

    >>> pad_image(np.array([[1, 2, 3]]), (0, 2), "reflect")
    array([[3, 2, 1, 2, 3, 2, 1]])
    """
    image = _check_image(image)
    ph, pw = _pair(pad, "pad")
    if ph < 0 or pw < 0:
        raise ValueError(f"Padding cannot be negative, got {pad}.")
    if mode not in PAD_MODES:
        raise ValueError(f"Unknown padding mode {mode!r}: use one of {', '.join(PAD_MODES)}.")
    H, W = image.shape[:2]
    if mode == "reflect" and (ph >= H or pw >= W):
        raise ValueError(f"'reflect' padding needs pad < image size; got pad ({ph}, {pw}) for a {H}x{W} image.")
    widths = [(ph, ph), (pw, pw)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, widths, mode=PAD_MODES[mode])


def _prepare(image, kernel, stride, padding, pad_mode, flip):
    """Shared checks for both conv2d versions; returns (float image, float kernel, (sh, sw), padded)."""
    image = _check_image(image)
    kernel = _check_kernel(kernel, image)
    sh, sw = _pair(stride, "stride")
    if sh < 1 or sw < 1:
        raise ValueError(f"The stride must be at least 1 (got {stride}); a stride of 0 would never move the kernel.")
    FH, FW = kernel.shape[:2]
    if isinstance(padding, str):
        if padding == "valid":
            ph, pw = 0, 0
        elif padding == "same":
            _require_odd((FH, FW), "padding='same'")
            ph, pw = FH // 2, FW // 2
        else:
            raise ValueError(f"padding must be a number, a pair, 'same' or 'valid'; got {padding!r}.")
    else:
        ph, pw = _pair(padding, "padding")
    H, W = image.shape[:2]
    output_size(H, FH, ph, sh), output_size(W, FW, pw, sw)  # raises a clear error if the sizes do not fit
    ftype = _float_type(image)
    kernel = kernel.astype(ftype)
    if flip:
        kernel = kernel[::-1, ::-1]  # convolution = correlation with the kernel rotated by 180 degrees
    padded = pad_image(image.astype(ftype, copy=False), (ph, pw), pad_mode)
    return kernel, (sh, sw), padded


# ------------------------------------------------------------------------------------ the two versions
def conv2d_naive(image: np.ndarray, kernel: np.ndarray, stride: int | tuple[int, int] = 1,
                 padding: int | tuple[int, int] | str = 0, pad_mode: str = "zero", flip: bool = False) -> np.ndarray:
    """The same result as ``conv2d``, computed one output pixel at a time with Python loops (slow; for reading).

    out[i, j] = sum over a, b of kernel[a, b] * padded[i*S + a, j*S + b]
    """
    kernel, (sh, sw), padded = _prepare(image, kernel, stride, padding, pad_mode, flip)
    FH, FW = kernel.shape[:2]
    OH = (padded.shape[0] - FH) // sh + 1
    OW = (padded.shape[1] - FW) // sw + 1
    per_channel = padded.ndim == 3 and kernel.ndim == 2
    out = np.zeros((OH, OW, padded.shape[2]) if per_channel else (OH, OW), dtype=kernel.dtype)
    for i in range(OH):
        for j in range(OW):
            window = padded[i * sh: i * sh + FH, j * sw: j * sw + FW]  # FH x FW (x C)
            if per_channel:
                out[i, j] = np.sum(window * kernel[:, :, None], axis=(0, 1))  # one number per channel
            else:
                out[i, j] = np.sum(window * kernel)  # 2-D, or 3-D kernel summed over channels too
    return out


def conv2d(image: np.ndarray, kernel: np.ndarray, stride: int | tuple[int, int] = 1,
           padding: int | tuple[int, int] | str = 0, pad_mode: str = "zero", flip: bool = False) -> np.ndarray:
    """Vectorised 2-D cross-correlation (``flip=True``: convolution) of an image with a kernel.

    ``sliding_window_view`` gives every FH x FW window of the padded image without copying anything, as an
    array of shape (OH, OW, [C,] FH, FW). ``windows[..., a, b]`` is then, for every output pixel at once, its
    neighbour at offset (a, b); the loop runs over the FH * FW kernel weights only (9 steps for 3x3), and
    each step is one NumPy operation on the whole image. Each product goes into one buffer allocated before the
    loop (``out=``), so no step allocates a new image-sized array.

    >>> conv2d(np.ones((4, 4)), np.ones((3, 3)), padding=1, pad_mode="zero")[0, 0]   # corner sees 4 ones
    4.0
    """
    kernel, (sh, sw), padded = _prepare(image, kernel, stride, padding, pad_mode, flip)
    FH, FW = kernel.shape[:2]
    windows = sliding_window_view(padded, (FH, FW), axis=(0, 1))[::sh, ::sw]  # OH x OW [x C] x FH x FW, a view
    per_channel = padded.ndim == 3 and kernel.ndim == 2
    out = np.zeros(windows.shape[:3] if per_channel else windows.shape[:2], dtype=kernel.dtype)
    product = np.empty_like(out)
    for a in range(FH):
        for b in range(FW):
            neighbour = windows[..., a, b]  # OH x OW [x C]: each output pixel's input at offset (a, b)
            if kernel.ndim == 3:
                np.matmul(neighbour, kernel[a, b], out=product)  # one CNN filter: weight each channel, sum them
            else:
                np.multiply(neighbour, kernel[a, b], out=product)  # gray, or each channel on its own
            out += product
    return out


def correlate(image: np.ndarray, kernel: np.ndarray, **options) -> np.ndarray:
    """Cross-correlation: the kernel as written (what PyTorch's conv2d and cv2.filter2D compute)."""
    return conv2d(image, kernel, flip=False, **options)


def convolve(image: np.ndarray, kernel: np.ndarray, **options) -> np.ndarray:
    """Convolution in the maths sense: the kernel rotated by 180 degrees, then correlated."""
    return conv2d(image, kernel, flip=True, **options)


# ---------------------------------------------------------------------------------- kernels and tools
def mean_kernel(size: int) -> np.ndarray:
    """A ``size x size`` box (mean) kernel, every weight ``1 / size**2``; size must be odd.

    >>> mean_kernel(3).sum()
    1.0
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"mean_kernel: size must be a positive whole number, got {size!r}.")
    _require_odd(int(size), "mean_kernel")
    return np.full((size, size), 1.0 / (size * size))


def gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """A ``size x size`` Gaussian kernel with standard deviation ``sigma`` (pixels), normalised to sum 1.

    The same weights as ``cv2.getGaussianKernel(size, sigma)`` in both directions.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"gaussian_kernel: size must be a positive whole number, got {size!r}.")
    _require_odd(int(size), "gaussian_kernel")
    if not sigma > 0:
        raise ValueError(f"gaussian_kernel: sigma must be positive, got {sigma!r}.")
    x = np.arange(size) - size // 2
    g = np.exp(-(x**2) / (2.0 * sigma**2))
    g /= g.sum()
    return np.outer(g, g)


def sobel_magnitude(gray: np.ndarray, pad_mode: str = "zero") -> np.ndarray:
    """Edge strength ``sqrt(gx**2 + gy**2)`` of a gray image from the two Sobel kernels (same size as the input)."""
    gray = _check_image(gray)
    if gray.ndim == 3 and gray.shape[2] != 1:
        raise ValueError(f"sobel_magnitude expects a gray image (H x W), got shape {gray.shape}; convert it to gray first.")
    gx = conv2d(gray, SOBEL_X, padding=1, pad_mode=pad_mode)
    gy = conv2d(gray, SOBEL_Y, padding=1, pad_mode=pad_mode)
    return np.hypot(gx, gy)


def add_salt_and_pepper(image: np.ndarray, amount: float = 0.05, seed: int | None = 0) -> np.ndarray:
    """A copy of a uint8 image with a fraction ``amount`` of its pixels set to white (salt) or black (pepper).

    Half of the hit pixels become 255, half 0; in a colour image all channels of a hit pixel change.
    """
    image = _check_image(image)
    if image.dtype != np.uint8:
        raise TypeError(f"add_salt_and_pepper expects a uint8 image (0..255), got {image.dtype}.")
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount is the fraction of pixels to hit: between 0 and 1, got {amount}.")
    rng = np.random.default_rng(seed)
    noisy = image.copy()
    hit = rng.random(image.shape[:2])
    noisy[hit < amount / 2] = 0
    noisy[(hit >= amount / 2) & (hit < amount)] = 255
    return noisy


def psnr(reference: np.ndarray, test: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB: ``10 * log10(data_range**2 / MSE)``; higher is closer (inf if equal).

    ``data_range`` defaults to 255 for integer images and 1.0 for float images.
    """
    reference, test = np.asarray(reference), np.asarray(test)
    if reference.shape != test.shape:
        raise ValueError(f"psnr needs two images of the same shape, got {reference.shape} and {test.shape}.")
    if reference.size == 0:
        raise ValueError("psnr got empty images.")
    if data_range is None:
        data_range = 255.0 if np.issubdtype(reference.dtype, np.integer) else 1.0
    mse = np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


# ------------------------------------------------------------------------------------------------ timing
def benchmark_conv2d(image: np.ndarray, kernel: np.ndarray = GAUSSIAN_3x3, repeats: int = 5,
                     naive_crop: int | None = None, torch_device: str | None = None) -> list[dict]:
    """Seconds per call of four ways to filter a gray float32 ``image`` with ``kernel`` ('same' zero padding).

    Methods: the Python loop (``conv2d_naive``), the vectorised ``conv2d``, ``cv2.filter2D`` and
    ``torch.nn.functional.conv2d`` (on ``torch_device``, default cpu). Each is timed with ``timeit``: the best of
    ``repeats`` runs. The loop is slow; with ``naive_crop=N`` it runs on the top-left N x N crop only and its
    time is scaled up by the pixel ratio (marked ``extrapolated``). Returns one dict per method with
    ``method``, ``seconds``, ``vs_opencv`` (how many times slower than OpenCV) and ``measured_on``.
    """
    import timeit

    import cv2
    import torch

    image = np.ascontiguousarray(_check_image(image), dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"benchmark_conv2d times gray images (H x W); got shape {image.shape}.")
    kernel = np.ascontiguousarray(kernel, dtype=np.float32)
    H, W = image.shape
    device = torch.device(torch_device or "cpu")
    x = torch.from_numpy(image)[None, None].to(device)
    w = torch.from_numpy(kernel)[None, None].to(device)
    pad = (kernel.shape[0] // 2, kernel.shape[1] // 2)

    def torch_call() -> None:
        torch.nn.functional.conv2d(x, w, padding=pad)
        if device.type == "cuda":
            torch.cuda.synchronize()

    crop = image if naive_crop is None else image[:naive_crop, :naive_crop]
    methods = [
        ("python loop (conv2d_naive)", lambda: conv2d_naive(crop, kernel, padding="same"), crop.size),
        ("NumPy vectorised (conv2d)", lambda: conv2d(image, kernel, padding="same"), image.size),
        ("OpenCV (cv2.filter2D)", lambda: cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_CONSTANT), image.size),
        (f"PyTorch (F.conv2d, {device.type})", torch_call, image.size),
    ]
    # Allocate and free one 8 MB array first. Until a process has freed a block that big, glibc's malloc hands out
    # every image-sized array as fresh pages from the OS, and touching them costs more than the filtering itself
    # (measured: 2.5 ms instead of 0.9 ms per NumPy call on a 2-core CPU). This way every method is timed in the
    # steady state a longer-running program is in.
    np.ones(2_000_000, dtype=np.float32).sum()
    rows = []
    for name, call, pixels in methods:
        call()  # warm-up (first-call allocations, CUDA kernels)
        number = 1 if name.startswith("python") else 10
        best = min(timeit.repeat(call, number=number, repeat=repeats)) / number
        scaled = best * image.size / pixels
        rows.append({"method": name, "seconds": scaled,
                     "measured_on": f"{crop.shape[0]}x{crop.shape[1]}, extrapolated" if pixels != image.size else f"{H}x{W}"})
    opencv = rows[2]["seconds"]
    for row in rows:
        row["vs_opencv"] = row["seconds"] / opencv
    return rows
