"""Checks for lab 02, convolution by hand (``solutions/02_convolution_lab.ipynb``).

Student functions are compared with ``helpers.convolution`` (correlation, zero padding, as in PyTorch), NumPy's
``np.pad`` and OpenCV's ``cv2.medianBlur``. When an answer is wrong, the check tries the usual mistakes (flipped
kernel, no padding, no stride, one axis flipped, channels not summed, an integer output array, symmetric instead of
reflect padding, weights that do not sum to 1, a uint8 result that wrapped around, the median of the row medians,
...) and names the one that reproduces the student's numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from helpers.checks.core import (CheckFailed, call_student, expect_array, expect_close, expect_floats, expect_int,
                                 expect_shape, name_the_mistake, run_cases, same_numbers, shape_text)
from helpers.convolution import (GAUSSIAN_3x3, MEAN_3x3, MEAN_CENTER_WEIGHTED, MEAN_CORNER_WEIGHTED, SHARPEN_5,
                                  SHARPEN_9, SOBEL_X, SOBEL_Y)
from helpers.convolution import conv2d as reference_conv2d

__all__ = [
    "check_output_size",
    "check_pad_zeros",
    "check_pad_reflect",
    "check_conv2d",
    "check_convolve",
    "check_conv2d_multichannel",
    "check_mean_kernel",
    "check_sharpen_kernels",
    "check_mean_masks",
    "check_filter_uint8",
    "check_median_filter",
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


# ---------------------------------------------------------------- reflect padding, mean masks, uint8 output, median

def _pad_spatial(image: np.ndarray, p: int, mode: str) -> np.ndarray:
    """``np.pad`` of the two spatial axes only, as floats (``mode`` as in NumPy)."""
    widths = [(p, p), (p, p)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(np.asarray(image, dtype=np.float64), widths, mode=mode)


def _mirror_in_order(image: np.ndarray, p: int) -> np.ndarray:
    """Reflect padding with the mirrored rows and columns in the wrong order (``b c | a b c``, not ``c b | a b c``)."""
    x = np.asarray(image, dtype=np.float64)
    x = np.concatenate([x[1:p + 1], x, x[-p - 1:-1]], axis=0)
    return np.concatenate([x[:, 1:p + 1], x, x[:, -p - 1:-1]], axis=1)


def check_pad_reflect(pad_reflect: Callable[..., Any]) -> None:
    """Check ``pad_reflect(image, p)``: floats, p mirrored rows/columns on every side, the edge pixel not repeated.

    Reflect padding is ``np.pad(..., mode="reflect")`` = OpenCV's ``BORDER_REFLECT_101``: ``c b | a b c``.
    """
    imgs = _lab_images()

    def case(image: np.ndarray, p: int) -> Callable[[], None]:
        def run() -> None:
            H, W = image.shape[:2]
            expected = _pad_spatial(image, p, "reflect")
            got = expect_array(call_student(pad_reflect, image.copy(), p), "pad_reflect's result", floats=True)
            if got.shape != expected.shape:
                if got.ndim == 3 and image.ndim == 3 and got.shape[2] == image.shape[2] + 2 * p:
                    hint = "pad only the height and width axes; the channel axis must keep its size (pad it by (0, 0))."
                elif got.shape[:2] == (H + p, W + p):
                    hint = f"pad both sides: {p} mirrored rows on top AND {p} at the bottom (and the same left and right)."
                elif got.shape[:2] == (H + 2 * p, W):
                    hint = "you padded the rows only: mirror the columns too (left and right)."
                elif got.shape[:2] == (H, W + 2 * p):
                    hint = "you padded the columns only: mirror the rows too (top and bottom)."
                else:
                    hint = f"with p={p} an {H}x{W} image becomes {H + 2 * p}x{W + 2 * p}."
                expect_shape(got, expected.shape, "padded image", hint)
            if same_numbers(got, expected):
                return
            hint = name_the_mistake(got, [
                (lambda: _pad_spatial(image, p, "symmetric"),
                 "the edge pixel is repeated (b a | a b c): that is np.pad's 'symmetric' (OpenCV's BORDER_REFLECT). "
                 "Reflect mirrors AROUND the edge pixel without repeating it (c b | a b c): the first padded row is "
                 "image row 1, not row 0."),
                (lambda: _pad_spatial(image, p, "edge"),
                 "you repeated the edge pixel (a a | a b c): that is replicate padding; reflect mirrors the "
                 "neighbouring pixels (c b | a b c)."),
                (lambda: _pad_spatial(image, p, "constant"),
                 "that is zero padding; reflect padding fills the frame with the image's own pixels, mirrored (c b | a b c)."),
                (lambda: _pad_spatial(image, p, "wrap"),
                 "the border shows the opposite side of the image (wrap-around); reflect mirrors the pixels next to "
                 "the edge (c b | a b c)."),
                (lambda: _mirror_in_order(image, p),
                 "the mirrored rows/columns are in the wrong order (b c | a b c): the row next to the edge comes "
                 "first, so reverse the slice (image[p:0:-1] on top)."),
            ])
            if hint is None and not same_numbers(got[p:p + H, p:p + W], image):
                raise CheckFailed("the original pixels are not in the middle of the padded image",
                                  f"copy the image into padded[{p}:{p}+H, {p}:{p}+W].")
            expect_close(got, expected, "padded image", atol=1e-9,
                         hint=hint or "compare with np.pad(image, [(p, p), (p, p)], mode='reflect'): "
                                      "a b c d -> c b | a b c d | c b for p = 2.")
        return run

    run_cases("pad_reflect", {  # p=2 first: with p=1 'symmetric' and 'edge' padding give the same frame
        "gray, p=2": case(imgs["image"], 2),
        "gray, p=1": case(imgs["image"], 1),
        "gray 9x11, p=3": case(imgs["image"], 3),
        "p=0 (unchanged)": case(imgs["image"], 0),
        "colour H x W x 3, p=2": case(imgs["rgb"], 2),
        "uint8 photo, p=2 (floats out)": case(imgs["uint8"], 2),
    })


_MEAN_MASKS = {  # name -> (the mask, the sum of its integer weights, what it looks like)
    "MEAN_10": (MEAN_CENTER_WEIGHTED, 10, "1/10 x [[1, 1, 1], [1, 2, 1], [1, 1, 1]] (the centre counts twice)"),
    "MEAN_16": (MEAN_CORNER_WEIGHTED, 16, "1/16 x [[2, 1, 2], [1, 4, 1], [2, 1, 2]] (2 on the corners)"),
    "GAUSSIAN_16": (GAUSSIAN_3x3, 16, "1/16 x [[1, 2, 1], [2, 4, 2], [1, 2, 1]] (2 on the direct neighbours)"),
}


def check_mean_masks(mean_10: Any, mean_16: Any, gaussian_16: Any) -> None:
    """Check the lecture's weighted 3x3 mean masks ``MEAN_10``, ``MEAN_16`` (corners x2) and ``GAUSSIAN_16``.

    Every weight positive, the weights summing to 1 (so a flat area keeps its brightness).
    """

    def case(got: Any, name: str) -> Callable[[], None]:
        def run() -> None:
            expected, divisor, looks = _MEAN_MASKS[name]
            integers = np.rint(expected * divisor)
            arr = expect_array(got, name)
            expect_shape(arr, (3, 3), name, f"write the mask as a 3x3 array: np.array([[...], [...], [...]]) / {divisor}.")
            if np.allclose(arr, 0):
                raise CheckFailed(f"{name} is all zeros (dtype {arr.dtype})",
                                  f"integer division rounds 1/{divisor} down to 0: divide with /, not //, "
                                  f"e.g. np.array([[...]]) / {divisor}.")
            if (arr < 0).any():
                raise CheckFailed(f"{name} has negative weights", "a mean (smoothing) filter has only positive weights.")
            total = float(arr.sum())
            if not np.isclose(total, 1):
                if np.allclose(arr, integers):
                    hint = f"you wrote the integer weights but did not divide: divide by their sum, {divisor}."
                elif np.allclose(arr * 9, integers):
                    hint = f"you divided by 9, the number of weights; divide by the SUM of the integer weights, {divisor}."
                else:
                    hint = f"divide the integer weights by their sum ({divisor}), so that a flat area keeps its brightness."
                raise CheckFailed(f"{name} sums to {total:g}; a mean filter's weights must sum to 1", hint)
            for other, (mask, _, other_looks) in _MEAN_MASKS.items():
                if other != name and np.allclose(arr, mask):
                    raise CheckFailed(f"{name} is the {other} mask, {other_looks}", f"{name} is {looks}.")
            if np.allclose(arr, MEAN_3x3):
                raise CheckFailed(f"{name} is the plain 1/9 box (all weights equal)", f"{name} is {looks}.")
            expect_close(arr, expected, name, atol=1e-9, hint=f"{name} is {looks}.")
        return run

    run_cases("MEAN_10, MEAN_16, GAUSSIAN_16", {"MEAN_10": case(mean_10, "MEAN_10"), "MEAN_16": case(mean_16, "MEAN_16"),
                                                "GAUSSIAN_16": case(gaussian_16, "GAUSSIAN_16")})


def _filtered_floats(image: np.ndarray, kernel: np.ndarray, mode: str = "reflect") -> np.ndarray:
    """The exact filter result before rounding: correlation after ``mode`` padding by F // 2."""
    return _reference(_pad_spatial(image, kernel.shape[0] // 2, mode), kernel)


def _as_uint8(values: np.ndarray, round_first: bool = True, clip: bool = True) -> np.ndarray:
    """What ``.astype(np.uint8)`` makes of float results, with or without rounding and clipping first."""
    with np.errstate(invalid="ignore", over="ignore"):
        values = np.round(values) if round_first else values
        values = np.clip(values, 0, 255) if clip else values
        return values.astype(np.uint8)


def check_filter_uint8(filter_uint8: Callable[..., Any]) -> None:
    """Check ``filter_uint8(image, kernel)``: reflect padding by F // 2, correlation, then rounded, clipped, uint8."""
    rng = np.random.default_rng(11)
    photo = rng.integers(0, 256, size=(8, 9)).astype(np.uint8)
    wide = rng.integers(0, 256, size=(7, 12)).astype(np.uint8)

    def case(image: np.ndarray, kernel: np.ndarray) -> Callable[[], None]:
        def run() -> None:
            exact = _filtered_floats(image, kernel)
            got = expect_array(call_student(filter_uint8, image.copy(), kernel.copy()), "filter_uint8's result")
            expect_shape(got, image.shape, "filtered image",
                         f"pad by F // 2 = {kernel.shape[0] // 2} with your pad_reflect first, so the result keeps the image's size.")
            if got.dtype != np.uint8:
                raise CheckFailed(f"the filtered image has dtype {got.dtype}, expected uint8",
                                  "return an image ready to show or save: round, clip to 0..255, then convert, "
                                  "np.clip(np.round(out), 0, 255).astype(np.uint8).")
            # right when every pixel is the exact result rounded (either way at .5) and clipped to 0..255
            if np.all(np.abs(got.astype(np.float64) - np.clip(exact, 0, 255)) <= 0.5 + 1e-6):
                return
            hint = name_the_mistake(got, [
                (lambda: _as_uint8(exact, clip=False),
                 "values outside 0..255 wrapped around (uint8 overflow: 300 becomes 44, -1 becomes 255): clip with "
                 "np.clip(out, 0, 255) BEFORE .astype(np.uint8)."),
                (lambda: _as_uint8(exact, round_first=False),
                 ".astype(np.uint8) cuts the decimals off (12.9 becomes 12): round first with np.round."),
                (lambda: _as_uint8(_filtered_floats(image, kernel, "constant")),
                 "that is zero padding (a dark frame): pad with your pad_reflect, then convolve without padding."),
                (lambda: _as_uint8(_filtered_floats(image, kernel, "edge")),
                 "you padded by repeating the edge pixels; this exercise pads with your pad_reflect (c b | a b c)."),
                (lambda: _as_uint8(_filtered_floats(image, kernel, "symmetric")),
                 "you padded with the edge pixel repeated (np.pad's 'symmetric'); use your pad_reflect (c b | a b c)."),
                (lambda: _as_uint8(_filtered_floats(image, kernel[::-1, ::-1])),
                 "you flipped the kernel; filter with correlation, the kernel as written (your conv2d)."),
            ])
            expect_close(got, np.clip(exact, 0, 255), "filtered image (against the exact result before rounding)",
                         atol=0.5 + 1e-6, rtol=0,
                         hint=hint or "out = conv2d(pad_reflect(image, F // 2), kernel), then "
                                      "np.clip(np.round(out), 0, 255).astype(np.uint8).")
        return run

    run_cases("filter_uint8", {  # 5x5 first: with padding 1 'symmetric' and 'edge' padding give the same frame
        "5x5 mean (padding 2)": case(wide, np.full((5, 5), 1 / 25)),
        "1/9 mean": case(photo, MEAN_3x3),
        "sharpen n=9 (results above 255 and below 0)": case(photo, SHARPEN_9),
        "Gaussian 1/16, 7x12 image": case(wide, GAUSSIAN_3x3),
        "asymmetric kernel (a flip shows)": case(photo, np.array([[0.0, 1.0, 0.0], [0.0, 2.0, 3.0], [0.0, 0.0, 2.0]]) / 8),
    })


def _windows(image: np.ndarray, size: int, mode: str = "edge", window: int | None = None) -> np.ndarray:
    """Each pixel's ``window x window`` neighbourhood after ``mode`` padding by ``size // 2``: shape H x W x w x w."""
    window = size if window is None else window
    padded = np.pad(image, size // 2, mode=mode)
    views = np.lib.stride_tricks.sliding_window_view(padded, (window, window))
    return views[:image.shape[0], :image.shape[1]]


def _median_reference(image: np.ndarray, size: int) -> np.ndarray:
    """The median of each size x size window, edges repeated (as ``cv2.medianBlur``), in the image's dtype."""
    return np.median(_windows(image, size), axis=(-2, -1)).astype(image.dtype)


def _uncentred_median(image: np.ndarray, size: int) -> np.ndarray:
    """The median of the window that STARTS at each pixel (no padding; cut short at the bottom and right edges)."""
    out = np.zeros_like(image)
    for i in range(image.shape[0]):
        for j in range(image.shape[1]):
            out[i, j] = np.median(image[i:i + size, j:j + size])
    return out


def check_median_filter(median_filter: Callable[..., Any]) -> None:
    """Check ``median_filter(image, size=3)``: the median of each size x size window, edges repeated, the image's dtype.

    For uint8 images this is ``cv2.medianBlur(image, size)``.
    """
    rng = np.random.default_rng(7)
    noisy = rng.integers(60, 200, size=(10, 13)).astype(np.uint8)
    dots = rng.random(noisy.shape)
    noisy[dots < 0.08] = 0  # pepper
    noisy[dots > 0.92] = 255  # salt
    plain = rng.integers(0, 256, size=(9, 11)).astype(np.uint8)
    floats = rng.random((8, 10))

    def case(image: np.ndarray, size: int) -> Callable[[], None]:
        def run() -> None:
            expected = _median_reference(image, size)
            got = expect_array(call_student(median_filter, image.copy(), size), "median_filter's result")
            r = size // 2
            expect_shape(got, image.shape, "filtered image",
                         f"pad by size // 2 = {r} on every side first (np.pad(image, {r}, mode='edge')), so the result "
                         "keeps the image's size.")
            if got.dtype != image.dtype:
                raise CheckFailed(f"the result has dtype {got.dtype}, but the image is {image.dtype}",
                                  "a median of an odd number of values is one of them, so keep the image's dtype (uint8 "
                                  "in, uint8 out, as cv2.medianBlur): create the output with np.zeros_like(image).")
            if same_numbers(got, expected):
                return
            cast = image.dtype.type
            hint = name_the_mistake(got, [
                *[(lambda f=f: f(_windows(image, size).mean(axis=(-2, -1))).astype(cast),
                   "that is the mean of each window; the median is the middle value of the sorted window (np.median).")
                  for f in (np.asarray, np.round)],
                (lambda: np.median(np.median(_windows(image, size), axis=-1), axis=-1).astype(cast),
                 "the median of the rows' medians is not the median of the window: take np.median of all "
                 f"{size}x{size} values at once (np.median(window) with no axis)."),
                (lambda: np.median(_windows(image, size, mode="constant"), axis=(-2, -1)).astype(cast),
                 "zero padding darkens the borders: repeat the edge pixels, np.pad(image, size // 2, mode='edge'), "
                 "as cv2.medianBlur does."),
                (lambda: np.median(_windows(image, size, mode="reflect"), axis=(-2, -1)).astype(cast),
                 "this exercise repeats the edge pixels (mode='edge', as cv2.medianBlur does), not reflect."),
                (lambda: _uncentred_median(image, size),
                 "your window starts at the pixel instead of being centred on it: pad by size // 2 first; then the "
                 "window of pixel (i, j) is padded[i:i + size, j:j + size]."),
                (lambda: np.median(_windows(image, size, window=size - 1), axis=(-2, -1)).astype(cast),
                 f"your window is {size - 1}x{size - 1}: a slice stops before its end index, so take "
                 "padded[i:i + size, j:j + size]."),
                (lambda: _median_reference(image, 3),
                 f"that is a 3x3 median; use the size argument ({size}x{size} windows)."),
            ])
            expect_close(got, expected, "filtered image", atol=1e-9,
                         hint=hint or "out[i, j] = np.median(padded[i:i + size, j:j + size]) with "
                                      "padded = np.pad(image, size // 2, mode='edge').")
        return run

    run_cases("median_filter", {
        "salt-and-pepper noise, 3x3": case(noisy, 3),
        "random uint8, 3x3": case(plain, 3),
        "salt-and-pepper noise, 5x5": case(noisy, 5),
        "float image, 5x5": case(floats, 5),
    })
