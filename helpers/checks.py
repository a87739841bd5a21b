"""Self-checking cells for the labs: friendly pass lines, or a hint that says what is wrong.

A check function runs the student's code on a few cases and stops at the first failure::

    >>> def check_double(double):
    ...     def case(n):
    ...         expect_equal(call_student(double, n), 2 * n, f"double({n})")
    ...     run_cases("double", {"a positive number": lambda: case(3), "zero": lambda: case(0)})
    >>> check_double(lambda n: n + n)
    ✅ double: all 2 cases passed
    >>> check_double(lambda n: n * n)
    Traceback (most recent call last):
    helpers.checks.CheckFailed: ❌ double (a positive number): double(3) is 9, expected 6

A failing check raises ``CheckFailed`` (an ``AssertionError``), so the cell fails in Jupyter, in
papermill and under ``pytest --nbval-lax`` (which is how ``python -m helpers.grade`` marks the item).

The framework is at the top; each lab's check functions live in its own section below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "CheckFailed",
    "run_cases",
    "call_student",
    "expect_shape",
    "expect_close",
    "expect_dtype",
    "expect_equal",
    "expect_true",
]


class CheckFailed(AssertionError):
    """A check found a mistake. ``str(error)`` is the message and, if given, the hint on its own line."""

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\nHint: {hint}")


def run_cases(name: str, cases: Mapping[str, Callable[[], Any]] | Sequence[tuple[str, Callable[[], Any]]]) -> None:
    """Run each case (a label and a function of no arguments); print a pass line or raise the first failure.

    A case fails by raising ``CheckFailed`` (the ``expect_*`` helpers and ``call_student`` do that).
    The error names the check and the case, e.g. ``❌ conv2d (padding 1): output has shape 30x30, ...``.
    """
    items = list(cases.items()) if isinstance(cases, Mapping) else list(cases)
    if not items:
        raise ValueError(f"run_cases({name!r}) got no cases to run.")
    for label, case in items:
        try:
            case()
        except CheckFailed as err:
            raise CheckFailed(f"❌ {name} ({label}): {err.message}", err.hint) from err.__cause__
    print(f"✅ {name}: all {len(items)} cases passed")


def call_student(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the student's ``fn``; turn a crash into a ``CheckFailed`` that says what happened.

    ``NotImplementedError`` (the lab's placeholder) becomes "you have not written this yet";
    any other exception is reported with its type and message (the original traceback is chained).
    """
    name = getattr(fn, "__name__", "your function")
    if not callable(fn):
        raise CheckFailed(f"expected a function, got {type(fn).__name__}", "pass the function itself, without calling it: check(my_fn), not check(my_fn()).")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        raise CheckFailed(
            f"{name} raised NotImplementedError: you have not written this yet",
            "replace the `raise NotImplementedError(...)` line with your code, run that cell, then run this check again.",
        ) from err
    except Exception as err:  # the student's bug: report it, keep the traceback for them
        raise CheckFailed(f"{name} crashed with {type(err).__name__}: {err}", "read the traceback above to find the line in your code.") from err


def _shape_text(shape: Iterable[int]) -> str:
    dims = [str(int(d)) for d in shape]
    return "x".join(dims) if dims else "a scalar (no dimensions)"


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    try:
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError) as err:
        raise CheckFailed(f"{what} should be a tensor or array, but it is a {type(value).__name__}") from err


def expect_shape(actual: Any, expected: Sequence[int], what: str = "output", hint: str | None = None) -> None:
    """Fail unless ``actual.shape == expected``, e.g. "output has shape 30x30, expected 32x32"."""
    if not hasattr(actual, "shape"):
        raise CheckFailed(f"{what} should be a tensor or array, but it is a {type(actual).__name__}", hint)
    got = tuple(int(d) for d in actual.shape)
    if got != tuple(expected):
        raise CheckFailed(f"{what} has shape {_shape_text(got)}, expected {_shape_text(expected)}", hint)


def expect_dtype(actual: Any, expected: Any, what: str = "output", hint: str | None = None) -> None:
    """Fail unless ``actual.dtype == expected`` (torch or NumPy dtypes)."""
    got = getattr(actual, "dtype", None)
    if got is None:
        raise CheckFailed(f"{what} should be a tensor or array, but it is a {type(actual).__name__}", hint)
    if got != expected:
        raise CheckFailed(f"{what} has dtype {got}, expected {expected}", hint)


def expect_close(actual: Any, expected: Any, what: str = "output", atol: float = 1e-5, rtol: float = 1e-4, hint: str | None = None) -> None:
    """Fail unless ``actual`` matches ``expected`` within tolerance; the message shows the worst element.

    Checks the shape first, so a wrong size gets the shape message, not a broadcasting error.
    """
    got, want = _as_tensor(actual, what), _as_tensor(expected, "expected value")
    expect_shape(got, tuple(want.shape), what, hint)
    got, want = got.double(), want.double()
    if got.numel() == 0 or torch.allclose(got, want, atol=atol, rtol=rtol, equal_nan=True):
        return
    diff = (got - want).abs().nan_to_num(nan=float("inf"))
    worst = int(diff.argmax())
    index = tuple(int(i) for i in np.unravel_index(worst, tuple(got.shape))) if got.dim() else ()
    where = f" at index {list(index)}" if index else ""
    raise CheckFailed(
        f"{what} is off by up to {float(diff.max()):.4g}{where}: got {float(got.flatten()[worst]):.6g}, "
        f"expected {float(want.flatten()[worst]):.6g} (tolerance {atol:g})",
        hint,
    )


def expect_equal(actual: Any, expected: Any, what: str = "result", hint: str | None = None) -> None:
    """Fail unless ``actual == expected`` (plain Python values: numbers, strings, tuples)."""
    if actual != expected:
        raise CheckFailed(f"{what} is {actual!r}, expected {expected!r}", hint)


def expect_true(condition: bool, message: str, hint: str | None = None) -> None:
    """Fail with ``message`` unless ``condition`` holds, e.g. ``expect_true(not model.training, "model is in training mode")``."""
    if not condition:
        raise CheckFailed(message, hint)


# Lesson engineers: add check functions only inside your section below. Each check takes the student's
# function (or model/result), uses call_student + expect_* on a few cases including edge cases, and ends with
# run_cases("name", {...}). For each check, tests feed it at least two wrong implementations and the right one.


# === checks: convolution (lesson 02 lab) ===
# Student functions are compared with helpers.convolution (correlation, zero padding, as in PyTorch). When an
# answer is wrong, the check tries the usual mistakes (flipped kernel, no padding, no stride, one axis flipped,
# channels not summed, ...) and names the one that reproduces the student's numbers.

def _conv_reference(image: Any, kernel: Any, stride: int = 1, padding: int = 0) -> np.ndarray:
    from helpers.convolution import conv2d

    return conv2d(np.asarray(image, dtype=np.float64), np.asarray(kernel, dtype=np.float64), stride=stride, padding=padding)


def _same_numbers(actual: Any, expected: np.ndarray, atol: float = 1e-4) -> bool:
    """True when ``actual`` is array-like with ``expected``'s shape and values (never raises)."""
    try:
        got = np.asarray(actual, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return got.shape == expected.shape and bool(np.allclose(got, expected, atol=atol, rtol=1e-4))


def _as_float_array(value: Any, what: str) -> np.ndarray:
    """The student's result as a NumPy array (lists of numbers are accepted), or a CheckFailed saying why not."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)):
        try:
            value = np.array(value, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise CheckFailed(f"{what} is a list that is not a rectangular grid of numbers",
                              "every row needs the same number of values, e.g. np.array([[1, 2], [3, 4]]).") from err
    if not hasattr(value, "shape"):
        hint = "did you forget the return statement?" if value is None else "return a NumPy array (np.zeros(...), np.array(...))."
        raise CheckFailed(f"{what} should be a NumPy array, but it is {type(value).__name__}", hint)
    return np.array(value)  # a writable copy


def _lab_images(seed: int = 2) -> dict[str, np.ndarray]:
    """Small deterministic test inputs: odd and even sizes, non-square, and an asymmetric kernel."""
    rng = np.random.default_rng(seed)
    return {
        "image": rng.integers(0, 10, size=(9, 11)).astype(np.float64),
        "kernel": np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [3.0, 0.0, 1.0]]),  # asymmetric: a flip shows
        "rgb": rng.integers(0, 10, size=(7, 8, 3)).astype(np.float64),
        "kernel3": rng.integers(-2, 3, size=(3, 3, 3)).astype(np.float64),
        "uint8": rng.integers(0, 256, size=(6, 6)).astype(np.uint8),
    }


def _lecture_example() -> tuple[np.ndarray, np.ndarray]:
    """The lecture's 7x7 input and 3x3 kernel (first output 15; with stride 2 the next one is 17)."""
    i, j = np.indices((7, 7))
    return ((j - i + 1) % 4).astype(np.float64), np.array([[2.0, 0.0, 1.0], [0.0, 1.0, 2.0], [1.0, 0.0, 2.0]])


def check_output_size(output_size: Callable[..., Any]) -> None:
    """Check ``output_size(H, F, P, S)`` = (H + 2P - F) // S + 1 on examples from the lecture and from CNNs."""
    examples = [((7, 3, 0, 1), 5), ((7, 3, 0, 2), 3), ((32, 3, 1, 1), 32), ((32, 5, 2, 1), 32), ((28, 5, 0, 1), 24),
                ((224, 7, 3, 2), 112), ((8, 3, 0, 2), 3)]

    def case(args: tuple[int, int, int, int], expected: int) -> Callable[[], None]:
        def run() -> None:
            H, F, P, S = args
            got = call_student(output_size, H, F, P, S)
            text = f"output_size(H={H}, F={F}, P={P}, S={S})"
            if isinstance(got, float):
                raise CheckFailed(f"{text} returned the float {got!r}; a size must be a whole number",
                                  "use integer division // instead of /, e.g. (H + 2 * P - F) // S + 1.")
            if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer)):
                raise CheckFailed(f"{text} returned {got!r} ({type(got).__name__}), expected the int {expected}")
            if got == expected:
                return
            diagnoses = {
                (H + 2 * P - F) // S: "you forgot the + 1: the first position counts too (a 3-wide kernel fits 5 times in 7).",
                (H + P - F) // S + 1: "padding goes on both sides: use 2 * P, not P.",
                (H - F) // S + 1: "you left out the padding: H + 2 * P is the padded size.",
                H + 2 * P - F + 1: "you ignored the stride: divide (H + 2P - F) by S before adding 1.",
                -(-(H + 2 * P - F) // S) + 1: "round down (//), not up: an incomplete last step does not count.",
            }
            hint = diagnoses.get(int(got), f"use OH = (H + 2P - F) // S + 1 = ({H} + 2*{P} - {F}) // {S} + 1.")
            raise CheckFailed(f"{text} is {got}, expected {expected}", hint)
        return run

    run_cases("output_size", {f"H={a[0]}, F={a[1]}, P={a[2]}, S={a[3]}": case(a, e) for a, e in examples})


def check_pad_zeros(pad_zeros: Callable[..., Any]) -> None:
    """Check ``pad_zeros(image, p)``: p zeros on every side of the two spatial axes, channels untouched."""
    imgs = _lab_images()

    def case(image: np.ndarray, p: int) -> Callable[[], None]:
        def run() -> None:
            H, W = image.shape[:2]
            expected = np.pad(image, [(p, p), (p, p)] + [(0, 0)] * (image.ndim - 2))
            got = _as_float_array(call_student(pad_zeros, image.copy(), p), "pad_zeros's result")
            if got.shape != expected.shape:
                if got.ndim == 3 and image.ndim == 3 and got.shape[2] == image.shape[2] + 2 * p:
                    hint = "pad only the height and width axes; the channel axis must keep its size (pad it by (0, 0))."
                elif got.shape[:2] == (H + p, W + p):
                    hint = f"pad both sides: {p} rows on top AND {p} at the bottom (and the same left and right)."
                else:
                    hint = f"with p={p} an {H}x{W} image becomes {H + 2 * p}x{W + 2 * p}."
                expect_shape(got, expected.shape, "padded image", hint)
            if _same_numbers(got, np.pad(image, [(p, p), (p, p)] + [(0, 0)] * (image.ndim - 2), mode="edge")) and p:
                raise CheckFailed("the border repeats the edge pixels", "this exercise pads with zeros (np.zeros or np.pad(..., mode='constant')).")
            inner = got[p:p + H, p:p + W]
            if not _same_numbers(inner, image):
                raise CheckFailed("the original pixels are not in the middle of the padded image",
                                  f"copy the image into padded[{p}:{p}+H, {p}:{p}+W].")
            expect_close(got, expected, "padded image", hint="every new border pixel should be 0.")
        return run

    run_cases("pad_zeros", {
        "gray, p=1": case(imgs["image"], 1),
        "gray, p=2": case(imgs["image"], 2),
        "gray, p=0 (unchanged)": case(imgs["image"], 0),
        "colour H x W x 3, p=1": case(imgs["rgb"], 1),
    })


def _diagnose_conv(got: np.ndarray, image: np.ndarray, kernel: np.ndarray, stride: int, padding: int) -> str | None:
    """A hint naming the mistake that reproduces the student's numbers (output shape already right), or None."""
    OH, OW = got.shape[:2]
    candidates = [
        (lambda: _conv_reference(image, kernel[::-1, ::-1], stride, padding),
         "you flipped the kernel. Deep-learning conv2d (like torch and cv2.filter2D) is correlation: use the kernel as written."),
        (lambda: _conv_reference(image, kernel.T, stride, padding),
         "you transposed the kernel: kernel[a, b] multiplies padded[i + a, j + b] (a is the row, b the column)."),
        (lambda: _conv_reference(image, kernel, 1, padding)[:OH, :OW],
         f"the output size is right but the windows do not move by the stride: start them at row i * {stride}, column j * {stride}."),
        (lambda: _conv_reference(np.pad(image, padding, mode="edge"), kernel, stride, 0),
         "you padded with copies of the edge pixels; this exercise pads with zeros."),
    ]
    for make, hint in candidates:
        try:
            if _same_numbers(got, make()):
                return hint
        except Exception:  # a candidate that cannot be computed for this case is skipped
            continue
    return None


def _conv_case(fn: Callable[..., Any], image: np.ndarray, kernel: np.ndarray, stride: int, padding: int,
               name: str, flip: bool = False) -> None:
    """Run one conv2d case: shape first (with a hint on the likely cause), then dtype, then the numbers."""
    used = kernel[::-1, ::-1] if flip else kernel  # what the student's function should effectively correlate with
    expected = _conv_reference(image, used, stride, padding)
    got = _as_float_array(call_student(fn, image.copy(), kernel.copy(), stride=stride, padding=padding), f"{name}'s output")
    H, W = image.shape[:2]
    FH, FW = kernel.shape[:2]
    OH, OW = expected.shape[:2]
    if got.shape != expected.shape:
        if got.shape[:2] == (OH - 1, OW - 1):
            hint = f"off by one: there are (H + 2P - F) // S + 1 = {OH} positions per column; loop with range(OH), not range(OH - 1)."
        elif got.shape[:2] == (H + 2 * padding - FH + 1, W + 2 * padding - FW + 1) and stride > 1:
            hint = f"you ignored the stride: with S={stride} the output is {OH}x{OW}."
        elif got.shape[:2] == (H - FH + 1, W - FW + 1) and padding:
            hint = f"you ignored the padding: pad by {padding} first, so the output is {OH}x{OW}."
        elif got.shape[:2] == (OH + 1, OW + 1):
            hint = f"off by one in the output size: OH = (H + 2P - F) // S + 1 = ({H} + {2 * padding} - {FH}) // {stride} + 1 = {OH}."
        else:
            hint = (f"a {H}x{W} image, {FH}x{FW} kernel, padding {padding}, stride {stride} gives "
                    f"OH = (H + 2P - F) // S + 1 = {OH}, OW = {OW}.")
        expect_shape(got, expected.shape, "output", hint)
    if _same_numbers(got, expected):
        return
    if not np.issubdtype(got.dtype, np.floating):
        raise CheckFailed(f"the output has dtype {got.dtype} and wrong values",
                          "create the output as floats, e.g. np.zeros((OH, OW), dtype=np.float64); "
                          "np.zeros_like(image) copies the image's integer dtype and cuts off decimals and negatives.")
    hint = None
    if flip:
        if _same_numbers(got, _conv_reference(image, kernel, stride, padding)):
            hint = "you forgot to flip: true convolution rotates the kernel by 180 degrees first (kernel[::-1, ::-1])."
        elif any(_same_numbers(got, _conv_reference(image, k, stride, padding)) for k in (kernel[::-1], kernel[:, ::-1], kernel.T)):
            hint = "flip BOTH axes: kernel[::-1, ::-1] (a 180-degree rotation), not one axis and not the transpose."
    else:
        hint = _diagnose_conv(got, image, kernel, stride, padding)
    expect_close(got, expected, "output", atol=1e-4,
                 hint=hint or "compare with the formula out[i, j] = sum over a, b of kernel[a, b] * padded[i*S + a, j*S + b].")


def check_conv2d(conv2d: Callable[..., Any]) -> None:
    """Check the student's gray ``conv2d(image, kernel, stride=1, padding=0)`` (correlation, zero padding)."""
    imgs = _lab_images()
    lecture, lecture_kernel = _lecture_example()
    run_cases("conv2d", {  # the random image first: on the lecture's striped image some mistakes look alike
        "asymmetric kernel, no padding": lambda: _conv_case(conv2d, imgs["image"], imgs["kernel"], 1, 0, "conv2d"),
        "lecture example, stride 1": lambda: _conv_case(conv2d, lecture, lecture_kernel, 1, 0, "conv2d"),
        "lecture example, stride 2": lambda: _conv_case(conv2d, lecture, lecture_kernel, 2, 0, "conv2d"),
        "padding 1 (same size)": lambda: _conv_case(conv2d, imgs["image"], imgs["kernel"], 1, 1, "conv2d"),
        "padding 2, stride 2": lambda: _conv_case(conv2d, imgs["image"], imgs["kernel"], 2, 2, "conv2d"),
        "uint8 image, negative weights": lambda: _conv_case(conv2d, imgs["uint8"], imgs["kernel"] - 1, 1, 1, "conv2d"),
        "1x5 kernel (not square)": lambda: _conv_case(conv2d, imgs["image"], np.array([[1.0, -2.0, 0.0, 3.0, 1.0]]), 1, 0, "conv2d"),
    })


def check_convolve(convolve: Callable[..., Any]) -> None:
    """Check ``convolve(image, kernel, stride=1, padding=0)``: true convolution (kernel rotated by 180 degrees)."""
    imgs = _lab_images()
    from helpers.convolution import SOBEL_X

    run_cases("convolve", {
        "asymmetric kernel, padding 1": lambda: _conv_case(convolve, imgs["image"], imgs["kernel"], 1, 1, "convolve", flip=True),
        "Sobel x (flip changes the sign)": lambda: _conv_case(convolve, imgs["image"], SOBEL_X, 1, 1, "convolve", flip=True),
        "stride 2": lambda: _conv_case(convolve, imgs["image"], imgs["kernel"], 2, 0, "convolve", flip=True),
    })


def check_conv2d_multichannel(conv2d_multichannel: Callable[..., Any]) -> None:
    """Check ``conv2d_multichannel(image HxWxC, kernel FHxFWxC, stride=1, padding=0)`` -> one OH x OW map."""
    imgs = _lab_images()

    def case(image: np.ndarray, kernel: np.ndarray, stride: int, padding: int) -> None:
        expected = _conv_reference(image, kernel, stride, padding)
        got = _as_float_array(call_student(conv2d_multichannel, image.copy(), kernel.copy(), stride=stride, padding=padding),
                              "conv2d_multichannel's output")
        if got.ndim == 3 and got.shape[:2] == expected.shape:
            raise CheckFailed(f"the output has shape {'x'.join(map(str, got.shape))}: one map per channel",
                              "a CNN filter covers all channels and adds them up into ONE map: "
                              "sum over the channel axis too, so the output is OH x OW.")
        expect_shape(got, expected.shape, "output",
                     f"the output is OH x OW = (H + 2P - F) // S + 1 per axis = {expected.shape[0]}x{expected.shape[1]}; "
                     "pad only the height and width, not the channels.")
        if _same_numbers(got, expected):
            return
        per_channel = [_conv_reference(image[..., c], kernel[..., c], stride, padding) for c in range(image.shape[2])]
        if any(_same_numbers(got, p) for p in per_channel):
            hint = "only one channel was used: add the results of ALL channels (sum over c)."
        elif _same_numbers(got, sum(per_channel) / image.shape[2]):
            hint = "you averaged over the channels; a convolution layer sums them (no division by C)."
        elif _same_numbers(got, _conv_reference(image, kernel[::-1, ::-1], stride, padding)):
            hint = "you flipped the kernel; deep-learning convolution uses it as written (correlation)."
        else:
            hint = "out[i, j] = sum over a, b AND c of kernel[a, b, c] * padded[i*S + a, j*S + b, c]."
        expect_close(got, expected, "output", atol=1e-4, hint=hint)

    run_cases("conv2d_multichannel", {
        "RGB, no padding": lambda: case(imgs["rgb"], imgs["kernel3"], 1, 0),
        "RGB, padding 1": lambda: case(imgs["rgb"], imgs["kernel3"], 1, 1),
        "RGB, padding 1, stride 2": lambda: case(imgs["rgb"], imgs["kernel3"], 2, 1),
        "one channel (H x W x 1)": lambda: case(imgs["image"][..., None], imgs["kernel"][..., None], 1, 1),
    })


def check_mean_kernel(mean_kernel: Callable[..., Any]) -> None:
    """Check ``mean_kernel(size)``: a size x size float array, every weight 1 / size**2."""
    def case(size: int) -> Callable[[], None]:
        def run() -> None:
            got = _as_float_array(call_student(mean_kernel, size), f"mean_kernel({size})")
            expect_shape(got, (size, size), f"mean_kernel({size})", f"a mean kernel of size {size} is {size}x{size}.")
            total = float(np.sum(got))
            if np.allclose(got, 0):
                raise CheckFailed(f"mean_kernel({size}) is all zeros (dtype {got.dtype})",
                                  "1 // 9 is 0 in integer arithmetic: use floats, e.g. np.ones((size, size)) / size**2.")
            if not np.isclose(total, 1.0):
                raise CheckFailed(f"mean_kernel({size}) sums to {total:g}, expected 1",
                                  f"divide by the number of weights, {size}*{size} = {size * size}, so the brightness stays the same.")
            expect_close(got, np.full((size, size), 1.0 / size**2), f"mean_kernel({size})", hint="all weights must be equal.")
        return run

    run_cases("mean_kernel", {"3x3": case(3), "5x5": case(5), "1x1 (identity)": case(1)})


def check_sharpen_kernels(sharpen_9: Any, sharpen_5: Any) -> None:
    """Check the lecture's two sharpening masks: centre 9 with eight -1 neighbours, centre 5 with four -1 neighbours."""
    from helpers.convolution import SHARPEN_5, SHARPEN_9

    def case(got: Any, expected: np.ndarray, name: str) -> Callable[[], None]:
        def run() -> None:
            got_array = _as_float_array(got, name)
            expect_shape(got_array, (3, 3), name, "write the mask as a 3x3 np.array([[...], [...], [...]]).")
            total = float(got_array.sum())
            if np.isclose(total, 0):
                raise CheckFailed(f"{name} sums to 0: that is an edge detector (flat areas turn black)",
                                  "a sharpening mask keeps the pixel itself: the centre is one more than the number of -1 neighbours, so the weights sum to 1.")
            if not np.isclose(total, 1):
                raise CheckFailed(f"{name} sums to {total:g}, expected 1", "the centre weight n must equal (number of -1 neighbours) + 1.")
            other = SHARPEN_5 if expected is SHARPEN_9 else SHARPEN_9
            expect_close(got_array, np.array(expected), name, atol=1e-9,
                         hint="this is the other mask: the n=9 mask has -1 on all 8 neighbours, the n=5 mask only on the 4 direct ones."
                         if np.allclose(got_array, other) else f"expected {expected.astype(int).tolist()}.")
        return run

    run_cases("sharpening kernels", {"sharpen_9": case(sharpen_9, SHARPEN_9, "sharpen_9"), "sharpen_5": case(sharpen_5, SHARPEN_5, "sharpen_5")})


def check_sobel_magnitude(sobel_magnitude: Callable[..., Any]) -> None:
    """Check ``sobel_magnitude(gray)`` = sqrt(gx**2 + gy**2), zero padding 1 so the size is kept."""
    from helpers.convolution import SOBEL_X, SOBEL_Y

    rng = np.random.default_rng(5)
    step = np.zeros((8, 10))
    step[:, 5:] = 1.0  # a vertical edge: only gx responds
    diagonal = np.tril(np.ones((9, 9)))  # edges in both directions
    noise = rng.random((7, 12))

    def case(gray: np.ndarray) -> Callable[[], None]:
        def run() -> None:
            gx = _conv_reference(gray, SOBEL_X, 1, 1)
            gy = _conv_reference(gray, SOBEL_Y, 1, 1)
            expected = np.hypot(gx, gy)
            got = _as_float_array(call_student(sobel_magnitude, gray.copy()), "sobel_magnitude's output")
            expect_shape(got, expected.shape, "output", "pad by 1 so the edge map has the same size as the image.")
            if _same_numbers(got, expected):
                return
            wrong = [
                (np.abs(gx) + np.abs(gy), "that is |gx| + |gy|; the magnitude is sqrt(gx**2 + gy**2)."),
                (gx**2 + gy**2, "you forgot the square root: np.sqrt(gx**2 + gy**2)."),
                (np.abs(gx), "only the x gradient: add the y gradient (Sobel y = Sobel x transposed)."),
                (np.abs(gy), "only the y gradient: add the x gradient too."),
                (gx + gy, "square the two gradients before adding them, then take the square root."),
                (np.hypot(_conv_reference(gray, SOBEL_X, 1, 0), _conv_reference(gray, SOBEL_Y, 1, 0)), "pad by 1."),
            ]
            hint = next((h for w, h in wrong if _same_numbers(got, w)), "magnitude = sqrt(gx**2 + gy**2) with gx, gy from your conv2d with padding=1.")
            expect_close(got, expected, "edge magnitude", atol=1e-4, hint=hint)
        return run

    run_cases("sobel_magnitude", {"vertical edge": case(step), "diagonal edge": case(diagonal), "random pixels": case(noise)})


# === checks: training and VGG (lesson 05 lab) ===
# The lab builds a VGG-style network from a config, then trains and evaluates it by hand. Each check runs the
# student's code on small cases; when an answer is wrong it looks for the classic mistake that explains it
# (a missing model.eval(), softmax before CrossEntropyLoss, a wrong flatten size, dropout without rescaling ...).

import re  # noqa: E402  (used by the checks below)


def _leaf_layers(module: torch.nn.Module) -> list[torch.nn.Module]:
    """The layers of a (possibly nested) module in order, without the containers."""
    return [m for m in module.modules() if not list(m.children())]


def _feature_shape(config: Sequence[int | str], in_channels: int, size: int) -> tuple[int, int, int]:
    channels = in_channels
    for v in config:
        if v == "M":
            size //= 2
        else:
            channels = int(v)
    return channels, size, size


def _expect_module(value: Any, what: str) -> torch.nn.Module:
    if not isinstance(value, torch.nn.Module):
        hint = "did you forget the return statement?" if value is None else "return nn.Sequential(*layers) (an nn.Module)."
        raise CheckFailed(f"{what} should be an nn.Module, but it is {type(value).__name__}", hint)
    return value


def check_vgg_features(make_features: Callable[..., Any]) -> None:
    """Check ``make_features(config, in_channels)``: per number Conv2d(3x3, padding=1) -> BatchNorm2d -> ReLU, per "M" MaxPool2d(2)."""

    def case(config: list[int | str], in_channels: int, size: int) -> Callable[[], None]:
        def run() -> None:
            features = _expect_module(call_student(make_features, list(config), in_channels), "make_features(...)")
            layers = _leaf_layers(features)
            convs = [m for m in layers if isinstance(m, torch.nn.Conv2d)]
            numbers = [int(v) for v in config if v != "M"]
            expect_equal(len(convs), len(numbers), f"the number of Conv2d layers for config {config}",
                         "add one nn.Conv2d for every number in the config (and one nn.MaxPool2d for every 'M').")
            channels = in_channels
            for i, (conv, out) in enumerate(zip(convs, numbers), start=1):
                expect_equal(conv.kernel_size, (3, 3), f"conv {i}'s kernel_size", "VGG uses only 3x3 kernels: kernel_size=3.")
                expect_equal(conv.padding, (1, 1), f"conv {i}'s padding",
                             "use padding=1 with a 3x3 kernel so the convolution keeps the height and width (only 'M' halves them).")
                expect_equal(conv.in_channels, channels, f"conv {i}'s in_channels",
                             "keep track of the channels: the first conv takes in_channels, every later conv takes the "
                             "out_channels of the conv before it.")
                expect_equal(conv.out_channels, out, f"conv {i}'s out_channels", "a number in the config is that conv's out_channels.")
                channels = out
            expected_types: list[type] = []
            for v in config:
                expected_types += [torch.nn.MaxPool2d] if v == "M" else [torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.ReLU]
            got_types = [type(m) for m in layers if not isinstance(m, (torch.nn.Identity, torch.nn.Dropout))]
            if got_types != expected_types:
                got = ", ".join(t.__name__ for t in got_types)
                want = ", ".join(t.__name__ for t in expected_types)
                hint = ("after each conv add nn.BatchNorm2d(out_channels), then nn.ReLU()."
                        if torch.nn.BatchNorm2d not in got_types else
                        "each number becomes Conv2d -> BatchNorm2d -> ReLU (in this order), each 'M' one nn.MaxPool2d(2).")
                raise CheckFailed(f"the layers are [{got}], expected [{want}]", hint)
            for i, (bn, out) in enumerate(zip([m for m in layers if isinstance(m, torch.nn.BatchNorm2d)], numbers), start=1):
                expect_equal(bn.num_features, out, f"batch norm {i}'s num_features", "nn.BatchNorm2d(channels) takes the channels of the conv before it.")
            for pool in (m for m in layers if isinstance(m, torch.nn.MaxPool2d)):
                expect_true(pool.kernel_size in (2, (2, 2)) and pool.stride in (2, (2, 2)),
                            f"a pooling layer has kernel_size={pool.kernel_size}, stride={pool.stride}, expected 2 and 2",
                            "nn.MaxPool2d(2) halves height and width (its stride defaults to its kernel size).")
            features.eval()
            with torch.inference_mode():
                out = call_student(features, torch.randn(2, in_channels, size, size))
            expect_shape(out, (2, *_feature_shape(config, in_channels, size)), f"the feature map for a {in_channels}x{size}x{size} input")
        return run

    run_cases("vgg_features", {
        "two blocks, gray 28x28": case([8, "M", 16, 16, "M"], 1, 28),
        "three blocks, RGB 32x32": case([4, 4, "M", 8, "M", 8, "M"], 3, 32),
        "one conv, no pooling": case([6], 2, 10),
    })


def check_flatten_size(flatten_size: Callable[..., Any]) -> None:
    """Check ``flatten_size(config, image_size)`` = channels x height x width after the feature extractor."""

    def case(config: list[int | str], size: int) -> Callable[[], None]:
        def run() -> None:
            got = call_student(flatten_size, list(config), size)
            channels, height, width = _feature_shape(config, 1, size)
            expected = channels * height * width
            if isinstance(got, torch.Tensor) and got.numel() == 1:
                got = got.item()
            if not isinstance(got, (int, np.integer)) or isinstance(got, bool):
                hint = "use // for halving (7 // 2 == 3), so the result stays a whole number: nn.Linear needs an int."
                if got is None:
                    hint = "did you forget the return statement?"
                raise CheckFailed(f"flatten_size({config}, {size}) is {got!r} ({type(got).__name__}), expected the int {expected}", hint)
            pools = sum(v == "M" for v in config)
            numbers = [int(v) for v in config if v != "M"]
            wrong = {
                channels * size * size: "each 'M' (max pooling) halves the height and the width.",
                numbers[0] * height * width: "the channels that reach the classifier are those of the LAST conv.",
                sum(numbers) * height * width: "channels do not add up across convs: take the last conv's channels.",
                height * width: "multiply by the number of channels too: the feature map is channels x height x width.",
                channels * height: "the feature map is channels x height x WIDTH: multiply by both sizes.",
            }
            exact = size / 2 ** pools
            if exact != height:
                wrong[round(channels * exact * exact)] = f"pooling rounds down: a side of {size} pooled {pools} times is {height}, not {exact:g}."
            wrong.pop(expected, None)
            expect_equal(int(got), expected, f"flatten_size({config}, {size})",
                         wrong.get(int(got), "follow the size through the config: 3x3 convs with padding 1 keep it, each 'M' halves it "
                                             "(rounding down); multiply by the last conv's channels."))
        return run

    run_cases("flatten_size", {
        "two blocks on 28x28": case([8, "M", 16, "M"], 28),
        "vgg_small on 28x28 (7 -> 3)": case([32, 32, "M", 64, 64, "M", 128, 128, "M"], 28),
        "RGB-sized 32x32": case([8, "M"], 32),
        "four pools (28 -> 1)": case([16, "M", 32, "M", 64, "M", 64, "M"], 28),
        "no pooling": case([4], 5),
    })


def check_vgg_model(build_vgg: Callable[..., Any]) -> None:
    """Check ``build_vgg(config, num_classes)`` for 1x28x28 images: returns logits [N, num_classes], no softmax."""

    def case(config: list[int | str], num_classes: int) -> Callable[[], None]:
        def run() -> None:
            model = _expect_module(call_student(build_vgg, list(config), num_classes), "build_vgg(...)")
            channels, height, width = _feature_shape(config, 1, 28)
            if any(isinstance(m, (torch.nn.Softmax, torch.nn.LogSoftmax)) for m in model.modules()):
                raise CheckFailed("the model contains a Softmax layer",
                                  "return raw scores (logits): nn.CrossEntropyLoss applies log-softmax itself, and a softmax "
                                  "before it squashes the gradients so training stalls. Use softmax only to show probabilities.")
            model.eval()
            torch.manual_seed(0)
            try:
                with torch.inference_mode():
                    out = model(torch.randn(4, 1, 28, 28))
            except RuntimeError as err:
                shapes = re.search(r"\((\d+)x(\d+) and (\d+)x(\d+)\)", str(err))
                if shapes and int(shapes.group(2)) == width and channels * height * width != width:
                    raise CheckFailed(
                        f"the model crashed: {err}",
                        f"the feature map was not flattened: the nn.Linear saw rows of {width} numbers (one image row). Add "
                        f"nn.Flatten() before the first nn.Linear, which then needs in_features={channels * height * width}.") from err
                if shapes:
                    raise CheckFailed(
                        f"the model crashed: {err}",
                        f"wrong flatten size: after the features a 28x28 image is {channels}x{height}x{width}, so the first "
                        f"nn.Linear needs in_features={channels * height * width} (use your flatten_size).") from err
                raise CheckFailed(f"the model crashed with RuntimeError: {err}", "read the traceback above to find the layer.") from err
            expect_shape(out, (4, num_classes), "the model's output for 4 images",
                         "flatten the feature map (nn.Flatten()) and end with nn.Linear(..., num_classes).")
            rows = out.float().sum(dim=1)
            if bool((out >= 0).all()) and torch.allclose(rows, torch.ones_like(rows), atol=1e-4):
                raise CheckFailed("the outputs are probabilities (each row sums to 1)",
                                  "return logits: remove the softmax, nn.CrossEntropyLoss applies log-softmax itself.")
        return run

    run_cases("vgg_model", {
        "two blocks, 10 classes": case([8, "M", 16, "M"], 10),
        "three blocks (7 -> 3), 5 classes": case([8, 8, "M", 16, "M", 16, "M"], 5),
    })


def _small_cnn(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))


def check_train_step(train_step: Callable[..., Any]) -> None:
    """Check ``train_step(model, images, labels, loss_fn, optimizer) -> float`` (train mode, zero_grad, forward, loss, backward, step)."""
    import copy

    generator = torch.Generator().manual_seed(5)
    batches = [(torch.randn(8, 1, 6, 6, generator=generator), torch.randint(0, 3, (8,), generator=generator)) for _ in range(2)]

    def reference_steps(n: int) -> tuple[torch.nn.Module, list[float]]:
        model = _small_cnn(1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        losses = []
        for images, labels in batches[:n]:
            model.train()
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return model, losses

    def student_steps(n: int) -> tuple[torch.nn.Module, list[Any]]:
        model = _small_cnn(1)
        model.eval()  # as after an evaluation: the step must switch back to training mode
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        results = [call_student(train_step, model, images, labels, torch.nn.CrossEntropyLoss(), optimizer) for images, labels in batches[:n]]
        return model, results

    def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
        return all(torch.allclose(p, q, atol=1e-5, rtol=1e-4) for p, q in zip(a.parameters(), b.parameters()))

    def first_step() -> None:
        model, (result,) = student_steps(1)
        reference, (loss,) = reference_steps(1)
        if isinstance(result, torch.Tensor):
            raise CheckFailed("train_step returned a tensor",
                              "return loss.item(): a plain float, so the graph of this batch is freed and can be summed up safely.")
        if not isinstance(result, (float, np.floating)):
            raise CheckFailed(f"train_step returned {type(result).__name__}, expected the loss as a float",
                              "did you forget `return loss.item()`?" if result is None else "return loss.item().")
        expect_true(model.training, "after train_step the model is still in eval mode",
                    "start with model.train(): batch norm (and dropout) must use their training behaviour while you train.")
        with torch.no_grad():
            logits = _small_cnn(1).train()(batches[0][0])
            after_softmax = torch.nn.functional.cross_entropy(logits.softmax(dim=1), batches[0][1]).item()
        if abs(result - after_softmax) < 1e-5:
            raise CheckFailed("the loss was computed on softmax probabilities",
                              "pass the raw model outputs (logits) to nn.CrossEntropyLoss: it applies log-softmax itself.")
        expect_close(result, loss, "the returned loss", atol=1e-4, hint="compute loss_fn(model(images), labels) on this batch and return loss.item().")
        untouched = _small_cnn(1)
        if same_weights(model, untouched):
            raise CheckFailed("the weights did not change",
                              "call loss.backward() and then optimizer.step(), and call optimizer.zero_grad() BEFORE backward, not between backward and step.")
        expect_true(same_weights(model, reference), "the weights after one step differ from a correct step",
                    "the order is: optimizer.zero_grad(), outputs = model(images), loss = loss_fn(outputs, labels), loss.backward(), optimizer.step().")

    def second_step() -> None:
        model, results = student_steps(2)
        reference, losses = reference_steps(2)
        if not same_weights(model, reference):
            raise CheckFailed("the weights after a second step differ from two correct steps",
                              "gradients add up across steps unless you clear them: call optimizer.zero_grad() at the start of every step.")
        expect_close(results[1], losses[1], "the loss of the second step", atol=1e-4)

    run_cases("train_step", {"one step from eval mode": first_step, "a second step": second_step})


class _SpyClassifier(torch.nn.Module):
    """Predicts the class written in each image's first pixel and records how it was called (mode, autograd)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.calls: list[dict[str, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append({"training": self.training, "grad": torch.is_grad_enabled()})
        predicted = x[:, 0, 0, 0].long()
        logits = torch.nn.functional.one_hot(predicted, 10).float() * self.scale
        if self.training:  # like dropout: train-mode predictions are noisy
            logits = logits + torch.randn_like(logits) * 3
        return logits


def _spy_batches(predictions: list[list[int]], labels: list[list[int]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    batches = []
    for pred, lab in zip(predictions, labels):
        images = torch.zeros(len(pred), 1, 4, 4)
        images[:, 0, 0, 0] = torch.tensor(pred, dtype=torch.float32)
        batches.append((images, torch.tensor(lab)))
    return batches


def check_evaluate(evaluate_accuracy: Callable[..., Any]) -> None:
    """Check ``evaluate_accuracy(model, loader) -> float`` in [0, 1]: eval mode, no autograd, counted over images."""

    def case(predictions: list[list[int]], labels: list[list[int]]) -> Callable[[], None]:
        def run() -> None:
            model = _SpyClassifier().train()  # as after training
            loader = _spy_batches(predictions, labels)
            torch.manual_seed(0)
            result = call_student(evaluate_accuracy, model, loader)
            if isinstance(result, torch.Tensor) and result.numel() == 1:
                result = result.item()
            if not isinstance(result, (float, int, np.floating, np.integer)) or isinstance(result, bool):
                raise CheckFailed(f"evaluate_accuracy returned {type(result).__name__}, expected a float",
                                  "did you forget the return statement?" if result is None else "return correct / total as a float.")
            expect_equal(len(model.calls), len(loader), "the number of batches the model saw", "run the model on every batch of the loader.")
            expect_true(not any(c["training"] for c in model.calls), "the model ran in training mode",
                        "call model.eval() before the loop: dropout would drop units and batch norm would use batch statistics.")
            expect_true(not any(c["grad"] for c in model.calls), "autograd was recording the evaluation",
                        "wrap the loop in `with torch.inference_mode():` (no graph is built: faster and less memory).")
            correct = sum(int(p == l) for ps, ls in zip(predictions, labels) for p, l in zip(ps, ls))
            total = sum(len(ls) for ls in labels)
            expected = correct / total
            batch_mean = float(np.mean([np.mean(np.equal(ps, ls)) for ps, ls in zip(predictions, labels)]))
            if abs(float(result) - 100 * expected) < 1e-6 and expected > 0:
                raise CheckFailed(f"evaluate_accuracy returned {result}, a percentage", f"return a fraction: {expected:g}, not {100 * expected:g}.")
            hint = ("you averaged the per-batch accuracies, but the last batch is smaller: add up the correct images and "
                    "divide by the total number of images." if abs(float(result) - batch_mean) < 1e-6 else
                    "count predictions (logits.argmax(dim=1)) equal to the labels over all batches, divide by the number of images.")
            expect_close(float(result), expected, "the accuracy", atol=1e-6, hint=hint)
        return run

    run_cases("evaluate_accuracy", {
        "batches of 4, 4 and 2": case([[1, 2, 3, 4], [0, 0, 0, 0], [5, 6]], [[1, 2, 3, 4], [0, 1, 2, 3], [0, 0]]),
        "all correct": case([[7, 8, 9], [1]], [[7, 8, 9], [1]]),
    })


def check_dropout(dropout: Callable[..., Any]) -> None:
    """Check ``dropout(x, p, training)``: inverted dropout (drop with probability p, scale kept units by 1/(1-p)); identity in eval."""

    def in_training() -> None:
        p = 0.2
        x = torch.ones(200, 500)
        torch.manual_seed(0)
        out = call_student(dropout, x, p, True)
        expect_true(isinstance(out, torch.Tensor), f"dropout returned {type(out).__name__}, expected a tensor",
                    "did you forget the return statement?" if out is None else "return a tensor like x.")
        expect_shape(out, tuple(x.shape), "dropout(x)")
        expect_true(bool((x == 1).all()), "dropout changed its input x in place",
                    "build a new tensor (x * mask / (1 - p)) instead of writing into x.")
        dropped = float((out == 0).float().mean())
        if dropped in (0.0, 1.0):
            raise CheckFailed(f"{100 * dropped:.0f} % of the units were dropped, expected about {100 * p:.0f} %",
                              "draw one random number per element: mask = (torch.rand_like(x) >= p).")
        if abs(dropped - (1 - p)) < 0.02:
            raise CheckFailed(f"{100 * dropped:.1f} % of the units were dropped, expected about {100 * p:.0f} %",
                              "p is the probability of DROPPING a unit: keep a unit when its random number is >= p.")
        expect_true(abs(dropped - p) < 0.02, f"{100 * dropped:.1f} % of the units were dropped, expected about {100 * p:.0f} %",
                    "drop each unit with probability p: mask = (torch.rand_like(x) >= p).")
        kept = out[out != 0]
        if torch.allclose(kept, torch.ones_like(kept)):
            raise CheckFailed("the kept units are unchanged (1.0), expected 1 / (1 - p) = 1.25",
                              "inverted dropout scales the kept units by 1 / (1 - p) during training, so the expected value "
                              "stays the same and nothing needs rescaling at test time.")
        if torch.allclose(kept, torch.full_like(kept, 1 - p)):
            raise CheckFailed("the kept units are multiplied by (1 - p) = 0.8, expected 1 / (1 - p) = 1.25",
                              "divide by (1 - p) instead of multiplying: x * mask / (1 - p).")
        expect_close(kept, torch.full_like(kept, 1 / (1 - p)), "the kept units", atol=1e-5, hint="kept units are x / (1 - p).")

    def signed_values() -> None:
        torch.manual_seed(1)
        x = torch.randn(50, 40)
        out = call_student(dropout, x, 0.5, True)
        expect_shape(out, tuple(x.shape), "dropout(x)")
        kept = out != 0
        expect_close(out[kept], x[kept] * 2, "the kept values for p = 0.5", atol=1e-5, hint="kept units are x / (1 - p): here 2 x.")
        again = call_student(dropout, x, 0.5, True)
        expect_true(not torch.equal(again, out), "two calls dropped exactly the same units",
                    "draw a new random mask on every call (do not seed inside the function).")

    def in_eval() -> None:
        torch.manual_seed(2)
        x = torch.randn(30, 20)
        out = call_student(dropout, x, 0.5, False)
        expect_true(isinstance(out, torch.Tensor), f"dropout returned {type(out).__name__}, expected a tensor")
        expect_shape(out, tuple(x.shape), "dropout(x, training=False)")
        if bool((out == 0).any()) and not bool((x == 0).any()):
            raise CheckFailed("units were dropped with training=False",
                              "at evaluation time dropout does nothing: `if not training: return x` (model.eval() sets training=False).")
        if torch.allclose(out, x * 0.5) or torch.allclose(out, x * 2):
            raise CheckFailed("with training=False the output is x scaled",
                              "with inverted dropout all the scaling happens in training; in eval return x unchanged.")
        expect_close(out, x, "dropout(x, training=False)", atol=0, rtol=0, hint="in eval mode return x unchanged.")

    def p_zero() -> None:
        x = torch.randn(10, 10)
        out = call_student(dropout, x, 0.0, True)
        expect_close(out, x, "dropout(x, p=0, training=True)", atol=1e-6, hint="with p = 0 nothing is dropped and 1 / (1 - p) = 1.")

    run_cases("dropout", {"training, p = 0.2": in_training, "training, signed values": signed_values,
                          "eval mode": in_eval, "p = 0": p_zero})
