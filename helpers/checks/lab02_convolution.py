"""Checks for lab 02, convolution by hand (``solutions/02_convolution_lab.ipynb``).

Student functions are compared with ``helpers.convolution`` (correlation, zero padding, as in PyTorch). When an
answer is wrong, the check tries the usual mistakes (flipped kernel, no padding, no stride, one axis flipped,
channels not summed, an integer output array, ...) and names the one that reproduces the student's numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from helpers.checks.core import (CheckFailed, call_student, expect_array, expect_close, expect_floats, expect_int,
                                 expect_shape, name_the_mistake, run_cases, same_numbers, shape_text)
from helpers.convolution import SHARPEN_5, SHARPEN_9, SOBEL_X, SOBEL_Y
from helpers.convolution import conv2d as reference_conv2d

__all__ = [
    "check_output_size",
    "check_pad_zeros",
    "check_conv2d",
    "check_convolve",
    "check_conv2d_multichannel",
    "check_mean_kernel",
    "check_sharpen_kernels",
    "check_sobel_magnitude",
]


def _reference(image: Any, kernel: Any, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The right answer: correlation with zero padding, in float64 (a 3-D kernel sums over the channels)."""
    return reference_conv2d(np.asarray(image, dtype=np.float64), np.asarray(kernel, dtype=np.float64),
                            stride=stride, padding=padding)


def _lab_images(seed: int = 2) -> dict[str, np.ndarray]:
    """Small deterministic test inputs: odd and even sizes, non-square, an asymmetric kernel, a uint8 photo."""
    rng = np.random.default_rng(seed)
    return {
        "image": rng.integers(0, 10, size=(9, 11)).astype(np.float64),
        "kernel": np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [3.0, 0.0, 1.0]]),  # asymmetric: a flip shows
        "rgb": rng.integers(0, 10, size=(7, 8, 3)).astype(np.float64),
        "kernel3": rng.integers(-2, 3, size=(3, 3, 3)).astype(np.float64),
        "uint8": rng.integers(0, 256, size=(6, 6)).astype(np.uint8),
        "uint8_rgb": rng.integers(0, 256, size=(5, 7, 3)).astype(np.uint8),
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
            text = f"output_size(H={H}, F={F}, P={P}, S={S})"
            got = expect_int(call_student(output_size, H, F, P, S), text,
                             "use integer division // instead of /, e.g. (H + 2 * P - F) // S + 1.")
            if got == expected:
                return
            hint = name_the_mistake(got, [
                ((H - F) // S + 1, "you left out the padding: H + 2 * P is the padded size."),
                ((H + P - F) // S + 1, "padding goes on both sides: use 2 * P, not P."),
                ((H + 2 * P - F) // S, "you forgot the + 1: the first position counts too (a 3-wide kernel fits 5 times in 7)."),
                (H + 2 * P - F + 1, "you ignored the stride: divide (H + 2P - F) by S before adding 1."),
                (-(-(H + 2 * P - F) // S) + 1, "round down (//), not up: an incomplete last step does not count."),
            ])
            raise CheckFailed(f"{text} is {got}, expected {expected}",
                              hint or f"use OH = (H + 2P - F) // S + 1 = ({H} + 2*{P} - {F}) // {S} + 1.")
        return run

    run_cases("output_size", {f"H={a[0]}, F={a[1]}, P={a[2]}, S={a[3]}": case(a, e) for a, e in examples})


def check_pad_zeros(pad_zeros: Callable[..., Any]) -> None:
    """Check ``pad_zeros(image, p)``: a float array, p zeros on every side of the two spatial axes, channels untouched."""
    imgs = _lab_images()

    def case(image: np.ndarray, p: int) -> Callable[[], None]:
        def run() -> None:
            H, W = image.shape[:2]
            widths = [(p, p), (p, p)] + [(0, 0)] * (image.ndim - 2)
            expected = np.pad(image.astype(np.float64), widths)
            got = expect_array(call_student(pad_zeros, image.copy(), p), "pad_zeros's result", floats=True)
            if got.shape != expected.shape:
                if got.ndim == 3 and image.ndim == 3 and got.shape[2] == image.shape[2] + 2 * p:
                    hint = "pad only the height and width axes; the channel axis must keep its size (pad it by (0, 0))."
                elif got.shape[:2] == (H + p, W + p):
                    hint = f"pad both sides: {p} rows on top AND {p} at the bottom (and the same left and right)."
                else:
                    hint = f"with p={p} an {H}x{W} image becomes {H + 2 * p}x{W + 2 * p}."
                expect_shape(got, expected.shape, "padded image", hint)
            if p and same_numbers(got, np.pad(image, widths, mode="edge")):
                raise CheckFailed("the border repeats the edge pixels",
                                  "this exercise pads with zeros (np.zeros or np.pad(..., mode='constant')).")
            if not same_numbers(got[p:p + H, p:p + W], image):
                raise CheckFailed("the original pixels are not in the middle of the padded image",
                                  f"copy the image into padded[{p}:{p}+H, {p}:{p}+W].")
            expect_close(got, expected, "padded image", hint="every new border pixel should be 0.")
        return run

    run_cases("pad_zeros", {
        "gray, p=1": case(imgs["image"], 1),
        "gray, p=2": case(imgs["image"], 2),
        "gray, p=0 (unchanged)": case(imgs["image"], 0),
        "colour H x W x 3, p=1": case(imgs["rgb"], 1),
        "uint8 photo, p=1 (floats out)": case(imgs["uint8"], 1),
    })


def _conv_mistakes(image: np.ndarray, kernel: np.ndarray, stride: int, padding: int,
                   out_shape: tuple[int, ...]) -> list[tuple[Callable[[], np.ndarray], str]]:
    """The classic wrong conv2d answers for one case (the output shape is already right), each with its hint."""
    OH, OW = out_shape[:2]
    return [
        (lambda: _reference(image, kernel[::-1, ::-1], stride, padding),
         "you flipped the kernel. Deep-learning conv2d (like torch and cv2.filter2D) is correlation: use the kernel as written."),
        (lambda: _reference(image, kernel.T, stride, padding),
         "you transposed the kernel: kernel[a, b] multiplies padded[i + a, j + b] (a is the row, b the column)."),
        (lambda: _reference(image, kernel, 1, padding)[:OH, :OW],
         f"the output size is right but the windows do not move by the stride: start them at row i * {stride}, column j * {stride}."),
        (lambda: _reference(np.pad(image, padding, mode="edge"), kernel, stride, 0),
         "you padded with copies of the edge pixels; this exercise pads with zeros."),
    ]


def _lost_decimals(got: np.ndarray, expected: np.ndarray) -> bool:
    """True when the student's values are the right ones cut to whole numbers (int(), round(), an int array)."""
    whole = np.array_equal(got, np.round(got)) and not np.array_equal(expected, np.round(expected))
    return whole and bool(np.all(np.abs(got - expected) <= 1 + 1e-6))


def _conv_case(fn: Callable[..., Any], image: np.ndarray, kernel: np.ndarray, stride: int, padding: int,
               name: str, flip: bool = False) -> None:
    """Run one conv2d case: result type and dtype, then the shape (with a hint on the likely cause), then the numbers."""
    used = kernel[::-1, ::-1] if flip else kernel  # what the student's function should effectively correlate with
    expected = _reference(image, used, stride, padding)
    got = expect_array(call_student(fn, image.copy(), kernel.copy(), stride=stride, padding=padding),
                       f"{name}'s output", floats=True)
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
    if same_numbers(got, expected):
        return
    if flip:
        hint = name_the_mistake(got, [
            (lambda: _reference(image, kernel, stride, padding),
             "you forgot to flip: true convolution rotates the kernel by 180 degrees first (kernel[::-1, ::-1])."),
            *[(lambda k=k: _reference(image, k, stride, padding),
               "flip BOTH axes: kernel[::-1, ::-1] (a 180-degree rotation), not one axis and not the transpose.")
              for k in (kernel[::-1], kernel[:, ::-1], kernel.T)],
        ])
    else:
        hint = name_the_mistake(got, _conv_mistakes(image, kernel, stride, padding, expected.shape))
        if hint is None and _lost_decimals(got, expected):
            hint = "your numbers lost their decimals: keep the sums as floats (no int() or round() on them)."
    expect_close(got, expected, "output", atol=1e-4,
                 hint=hint or "compare with the formula out[i, j] = sum over a, b of kernel[a, b] * padded[i*S + a, j*S + b].")


def check_conv2d(conv2d: Callable[..., Any]) -> None:
    """Check the student's gray ``conv2d(image, kernel, stride=1, padding=0)`` (correlation, zero padding, floats out)."""
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
        "mean kernel (fractions)": lambda: _conv_case(conv2d, imgs["image"], np.full((3, 3), 1 / 9), 1, 1, "conv2d"),
    })


def check_convolve(convolve: Callable[..., Any]) -> None:
    """Check ``convolve(image, kernel, stride=1, padding=0)``: true convolution (kernel rotated by 180 degrees)."""
    imgs = _lab_images()
    run_cases("convolve", {
        "asymmetric kernel, padding 1": lambda: _conv_case(convolve, imgs["image"], imgs["kernel"], 1, 1, "convolve", flip=True),
        "Sobel x (flip changes the sign)": lambda: _conv_case(convolve, imgs["image"], SOBEL_X, 1, 1, "convolve", flip=True),
        "stride 2": lambda: _conv_case(convolve, imgs["image"], imgs["kernel"], 2, 0, "convolve", flip=True),
        "uint8 image (floats out)": lambda: _conv_case(convolve, imgs["uint8"], SOBEL_X, 1, 1, "convolve", flip=True),
    })


def check_conv2d_multichannel(conv2d_multichannel: Callable[..., Any]) -> None:
    """Check ``conv2d_multichannel(image HxWxC, kernel FHxFWxC, stride=1, padding=0)`` -> one OH x OW float map."""
    imgs = _lab_images()

    def case(image: np.ndarray, kernel: np.ndarray, stride: int, padding: int) -> None:
        expected = _reference(image, kernel, stride, padding)
        got = expect_array(call_student(conv2d_multichannel, image.copy(), kernel.copy(), stride=stride, padding=padding),
                           "conv2d_multichannel's output", floats=True)
        if got.ndim == 3 and got.shape[:2] == expected.shape:
            raise CheckFailed(f"the output has shape {shape_text(got.shape)}: one map per channel",
                              "a CNN filter covers all channels and adds them up into ONE map: "
                              "sum over the channel axis too, so the output is OH x OW.")
        expect_shape(got, expected.shape, "output",
                     f"the output is OH x OW = (H + 2P - F) // S + 1 per axis = {shape_text(expected.shape)}; "
                     "pad only the height and width, not the channels.")
        if same_numbers(got, expected):
            return
        per_channel = [_reference(image[..., c], kernel[..., c], stride, padding) for c in range(image.shape[2])]
        hint = name_the_mistake(got, [
            *[(one, "only one channel was used: add the results of ALL channels (sum over c).") for one in per_channel],
            (sum(per_channel) / image.shape[2], "you averaged over the channels; a convolution layer sums them (no division by C)."),
            (lambda: _reference(image, kernel[::-1, ::-1], stride, padding),
             "you flipped the kernel; deep-learning convolution uses it as written (correlation)."),
        ])
        expect_close(got, expected, "output", atol=1e-4,
                     hint=hint or "out[i, j] = sum over a, b AND c of kernel[a, b, c] * padded[i*S + a, j*S + b, c].")

    run_cases("conv2d_multichannel", {
        "RGB, no padding": lambda: case(imgs["rgb"], imgs["kernel3"], 1, 0),
        "RGB, padding 1": lambda: case(imgs["rgb"], imgs["kernel3"], 1, 1),
        "RGB, padding 1, stride 2": lambda: case(imgs["rgb"], imgs["kernel3"], 2, 1),
        "one channel (H x W x 1)": lambda: case(imgs["image"][..., None], imgs["kernel"][..., None], 1, 1),
        "uint8 RGB photo (floats out)": lambda: case(imgs["uint8_rgb"], imgs["kernel3"], 1, 1),
    })


def check_mean_kernel(mean_kernel: Callable[..., Any]) -> None:
    """Check ``mean_kernel(size)``: a size x size float array, every weight 1 / size**2."""
    def case(size: int) -> Callable[[], None]:
        def run() -> None:
            what = f"mean_kernel({size})"
            got = expect_array(call_student(mean_kernel, size), what)
            expect_shape(got, (size, size), what, f"a mean kernel of size {size} is {size}x{size}.")
            if np.allclose(got, 0):
                raise CheckFailed(f"{what} is all zeros (dtype {got.dtype})",
                                  "1 // 9 is 0 in integer arithmetic: use floats, e.g. np.ones((size, size)) / size**2.")
            total = float(np.sum(got))
            if not np.isclose(total, 1.0):
                raise CheckFailed(f"{what} sums to {total:g}, expected 1",
                                  f"divide by the number of weights, {size}*{size} = {size * size}, so the brightness stays the same.")
            expect_floats(got, what, "a mean kernel holds fractions (1/9, 1/25): build it from floats, e.g. np.ones((size, size)) / size**2.")
            expect_close(got, np.full((size, size), 1.0 / size**2), what, hint="all weights must be equal.")
        return run

    run_cases("mean_kernel", {"3x3": case(3), "5x5": case(5), "1x1 (identity)": case(1)})


def check_sharpen_kernels(sharpen_9: Any, sharpen_5: Any) -> None:
    """Check the lecture's two sharpening masks ``SHARPEN_9`` (centre 9, eight -1 neighbours) and ``SHARPEN_5`` (four)."""

    def case(got: Any, expected: np.ndarray, other: np.ndarray, name: str) -> Callable[[], None]:
        def run() -> None:
            got_array = expect_array(got, name)
            expect_shape(got_array, (3, 3), name, "write the mask as a 3x3 np.array([[...], [...], [...]]).")
            total = float(got_array.sum())
            if np.isclose(total, 0):
                raise CheckFailed(f"{name} sums to 0: that is an edge detector (flat areas turn black)",
                                  "a sharpening mask keeps the pixel itself: the centre is one more than the number of "
                                  "-1 neighbours, so the weights sum to 1.")
            if not np.isclose(total, 1):
                raise CheckFailed(f"{name} sums to {total:g}, expected 1", "the centre weight n must equal (number of -1 neighbours) + 1.")
            expect_close(got_array, expected, name, atol=1e-9,
                         hint="this is the other mask: the n=9 mask has -1 on all 8 neighbours, the n=5 mask only on the 4 direct ones."
                         if np.allclose(got_array, other) else f"expected {expected.astype(int).tolist()}.")
        return run

    run_cases("SHARPEN_9, SHARPEN_5", {"SHARPEN_9": case(sharpen_9, SHARPEN_9, SHARPEN_5, "SHARPEN_9"),
                                       "SHARPEN_5": case(sharpen_5, SHARPEN_5, SHARPEN_9, "SHARPEN_5")})


def check_sobel_magnitude(sobel_magnitude: Callable[..., Any]) -> None:
    """Check ``sobel_magnitude(gray)`` = sqrt(gx**2 + gy**2) as floats, zero padding 1 so the size is kept."""
    rng = np.random.default_rng(5)
    step = np.zeros((8, 10))
    step[:, 5:] = 1.0  # a vertical edge: only gx responds
    diagonal = np.tril(np.ones((9, 9)))  # edges in both directions
    noise = rng.random((7, 12))
    photo = rng.integers(0, 256, size=(6, 9)).astype(np.uint8)

    def case(gray: np.ndarray) -> Callable[[], None]:
        def run() -> None:
            gx = _reference(gray, SOBEL_X, 1, 1)
            gy = _reference(gray, SOBEL_Y, 1, 1)
            expected = np.hypot(gx, gy)
            got = expect_array(call_student(sobel_magnitude, gray.copy()), "sobel_magnitude's output", floats=True,
                               hint="return the magnitude as floats, as np.sqrt gives it: a uint8 copy cuts off the decimals "
                                    "and everything above 255. Convert only to display it.")
            expect_shape(got, expected.shape, "output", "pad by 1 so the edge map has the same size as the image.")
            if same_numbers(got, expected):
                return
            hint = name_the_mistake(got, [
                (np.abs(gx) + np.abs(gy), "that is |gx| + |gy|; the magnitude is sqrt(gx**2 + gy**2)."),
                (gx**2 + gy**2, "you forgot the square root: np.sqrt(gx**2 + gy**2)."),
                (np.abs(gx), "only the x gradient: add the y gradient (Sobel y = Sobel x transposed)."),
                (np.abs(gy), "only the y gradient: add the x gradient too."),
                (np.sqrt(2) * np.abs(gx), "you used Sobel x twice: the y gradient needs SOBEL_Y = SOBEL_X.T."),
                (gx + gy, "square the two gradients before adding them, then take the square root."),
            ])
            expect_close(got, expected, "edge magnitude", atol=1e-4,
                         hint=hint or "magnitude = sqrt(gx**2 + gy**2) with gx, gy from your conv2d with padding=1.")
        return run

    run_cases("sobel_magnitude", {"vertical edge": case(step), "diagonal edge": case(diagonal), "random pixels": case(noise),
                                  "uint8 photo (floats out)": case(photo)})
