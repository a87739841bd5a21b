"""Lab 02 checks (helpers/checks/lab02_convolution.py): right answers pass, every classic bug fails with its hint."""

from __future__ import annotations

import math

import cv2
import numpy as np

from lab_test_kit import lab_tests, no_return as _no_return  # tests/checks/lab_test_kit.py
from helpers.checks import lab02_convolution as lab
from helpers.convolution import (MEAN_3x3, MEAN_CENTER_WEIGHTED, MEAN_CORNER_WEIGHTED, SHARPEN_5, SHARPEN_9, SOBEL_X,
                                 SOBEL_Y)

# ---------------------------------------------------------------- the classic bugs of each exercise
# check -> {classic bug: fragment(s) its failure message or hint must contain}. Each bug has a wrong answer in
# WRONG_ANSWERS below; the tests at the bottom feed every one of them to its check.
CLASSIC_BUGS: dict[str, dict[str, str | list[str]]] = {
    "check_output_size": {
        "forgot the + 1": "forgot the + 1",
        "P instead of 2P": "2 * P",
        "padding left out": "left out the padding",
        "stride ignored": "ignored the stride",
        "true division / (a float)": ["float", "//"],
        "rounds up": "round down",
        "no return statement": "return statement",
    },
    "check_pad_zeros": {
        "pads the channel axis too": ["channel axis", "shape 9x10x5"],
        "pads one side only": ["pad both sides", "11x13"],
        "repeats the edge pixels": "zeros",
        "np.pad keeps a uint8 image's dtype": ["dtype uint8", "floats", "np.pad"],
        "integer array (dtype=int)": ["dtype int64", "floats"],
        "forgot to copy the image in": "not in the middle",
        "image copied into the corner": "not in the middle",
        "no return statement": "return statement",
    },
    "check_pad_reflect": {
        "symmetric: edge pixel repeated (np.pad 'symmetric', cv2.BORDER_REFLECT)": ["edge pixel is repeated", "symmetric"],
        "edge: replicate padding": "replicate padding",
        "zero padding": "zero padding",
        "wrap-around": "wrap-around",
        "mirrored rows in the wrong order": "wrong order",
        "rows padded, columns not": "columns too",
        "pads the channel axis too": "channel axis",
        "np.pad keeps a uint8 image's dtype": ["dtype uint8", "floats", "np.pad"],
        "no return statement": "return statement",
    },
    "check_conv2d": {
        "kernel flipped": "flipped the kernel",
        "output one too small": ["off by one", "range(OH)", "shape 6x8, expected 7x9"],
        "windows do not move by the stride": "i * 2",
        "np.zeros_like(image) on a uint8 image": ["dtype uint8", "zeros_like"],
        "integer output (dtype=int)": ["dtype int64", "floats"],
        "values rounded with int()": "decimals",
        "padding ignored": "ignored the padding",
        "stride ignored": "ignored the stride",
        "kernel transposed": "transposed",
        "pads with the edge pixels": "edge pixels",
        "no return statement": "return statement",
    },
    "check_convolve": {
        "no flip": "forgot to flip",
        "flips the rows only": "BOTH axes",
        "flips the columns only": "BOTH axes",
        "transposes instead of flipping": "BOTH axes",
        "np.zeros_like(image) on a uint8 image": ["dtype uint8", "zeros_like"],
        "no return statement": "return statement",
    },
    "check_conv2d_multichannel": {
        "one map per channel (no sum)": "sum over the channel axis",
        "first channel only": "only one channel",
        "channels averaged": "averaged",
        "kernel flipped": "flipped the kernel",
        "np.zeros_like on a uint8 photo": ["dtype uint8", "zeros_like"],
        "no return statement": "return statement",
    },
    "check_mean_kernel": {
        "ones, not divided": ["sums to 9", "3*3 = 9"],
        "divided by size, not size**2": ["sums to 3", "3*3 = 9"],
        "integer division 1 // 9": "integer",
        "always 3x3": "5x5",
        "no return statement": "return statement",
    },
    "check_sharpen_kernels": {
        "centre 8: an edge detector": ["sums to 0", "edge detector"],
        "the two masks swapped": "other mask",
        "not 3x3": "3x3",
        "centre 10": ["sums to 2", "centre weight"],
        "signs inverted": "sums to -1",
        "SHARPEN_5 with the diagonal neighbours": "expected [[0, -1, 0]",
    },
    "check_mean_masks": {
        "integer weights, not divided": ["sums to 10", "did not divide"],
        "divided by 9, the number of weights": ["divided by 9", "SUM"],
        "integer division // 10": ["all zeros", "//"],
        "the two 1/16 masks swapped": "GAUSSIAN_16 mask",
        "the plain 1/9 box for MEAN_10": "1/9 box",
        "the 2 in a corner of MEAN_10": "centre counts twice",
        "a negative weight": "negative weights",
        "not 3x3": "3x3",
    },
    "check_filter_uint8": {
        "no clip: uint8 overflow wraps around": ["wrapped around", "np.clip", "BEFORE"],
        "no round and no clip (the rounding is named first)": ["cuts the decimals", "np.round"],
        "astype truncates instead of rounding": ["cuts the decimals", "np.round"],
        "zero padding": ["zero padding", "pad_reflect"],
        "replicate padding": ["repeating the edge pixels", "pad_reflect"],
        "symmetric padding": ["symmetric", "pad_reflect"],
        "float result (dtype)": ["dtype float64", "uint8"],
        "no padding (smaller output)": ["shape 3x8, expected 7x12", "pad_reflect"],
        "kernel flipped": "flipped the kernel",
        "no return statement": "return statement",
    },
    "check_median_filter": {
        "mean instead of median": "mean of each window",
        "median of the rows' medians": "rows' medians",
        "zero padding": ["zero padding", "mode='edge'"],
        "reflect padding": "not reflect",
        "window starts at the pixel (not centred)": "centred",
        "window one too small": ["window is 2x2", "padded[i:i + size"],
        "always 3x3 (size ignored)": "size argument",
        "no padding (smaller output)": ["shape 8x11, expected 10x13", "size // 2"],
        "float output from np.zeros (dtype)": ["dtype float64", "np.zeros_like"],
        "no return statement": "return statement",
    },
    "check_sobel_magnitude": {
        "|gx| + |gy|": "|gx| + |gy|",
        "no square root": "square root",
        "x gradient only": "only the x gradient",
        "y gradient only": "only the y gradient",
        "Sobel x used twice": "SOBEL_Y = SOBEL_X.T",
        "gx + gy": "square the two gradients",
        "no padding": "pad by 1",
        "cast to uint8 for display": ["dtype uint8", "floats", "only to display"],
        "no return statement": "return statement",
    },
}


# ---------------------------------------------------------------- right answers (as a student would write them)
def output_size(H, F, P, S):
    return (H + 2 * P - F) // S + 1


def pad_zeros(image, p):
    padded = np.zeros((image.shape[0] + 2 * p, image.shape[1] + 2 * p) + image.shape[2:], dtype=np.float64)
    padded[p:p + image.shape[0], p:p + image.shape[1]] = image
    return padded


def make_conv2d(*, flip=False, out_dtype=np.float64, size_fix=0, use_stride_in_position=True, pad_fn=pad_zeros,
                transpose=False, ignore_padding=False, ignore_stride=False, whole_numbers=False):
    """A loop conv2d with switches that each turn on one classic mistake."""

    def conv2d(image, kernel, stride=1, padding=0):
        k = kernel[::-1, ::-1] if flip else kernel
        k = k.T if transpose else k
        p = 0 if ignore_padding else padding
        s = 1 if ignore_stride else stride
        x = pad_fn(image, p)
        FH, FW = k.shape
        OH = (x.shape[0] - FH) // s + 1 + size_fix
        OW = (x.shape[1] - FW) // s + 1 + size_fix
        out = np.zeros((OH, OW), dtype=out_dtype) if out_dtype is not None else np.zeros_like(image, shape=(OH, OW))
        step = s if use_stride_in_position else 1
        for i in range(OH):
            for j in range(OW):
                value = np.sum(x[i * step:i * step + FH, j * step:j * step + FW] * k)
                out[i, j] = int(value) if whole_numbers else value
        return out

    return conv2d


conv2d = make_conv2d()


def convolve(image, kernel, stride=1, padding=0):
    return conv2d(image, kernel[::-1, ::-1], stride=stride, padding=padding)


def conv2d_multichannel(image, kernel, stride=1, padding=0):
    return sum(conv2d(image[..., c], kernel[..., c], stride=stride, padding=padding) for c in range(image.shape[2]))


def mean_kernel(size):
    return np.ones((size, size)) / size**2


def pad_reflect(image, p):
    top, bottom = image[p:0:-1], image[-2:-p - 2:-1]
    x = np.concatenate([top, image, bottom], axis=0).astype(np.float64)
    left, right = x[:, p:0:-1], x[:, -2:-p - 2:-1]
    return np.concatenate([left, x, right], axis=1)


MEAN_10 = np.array([[1, 1, 1], [1, 2, 1], [1, 1, 1]]) / 10
MEAN_16 = np.array([[2, 1, 2], [1, 4, 1], [2, 1, 2]]) / 16
GAUSSIAN_16 = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16


def filter_uint8(image, kernel):
    out = conv2d(pad_reflect(image, kernel.shape[0] // 2), kernel)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def median_filter(image, size=3):
    r = size // 2
    padded = np.pad(image, r, mode="edge")
    out = np.zeros_like(image)
    for i in range(image.shape[0]):
        for j in range(image.shape[1]):
            out[i, j] = np.median(padded[i:i + size, j:j + size])
    return out


def sobel_magnitude(gray):
    return np.sqrt(conv2d(gray, SOBEL_X, padding=1) ** 2 + conv2d(gray, SOBEL_Y, padding=1) ** 2)


RIGHT_ANSWERS: dict[str, list[tuple]] = {
    "check_output_size": [(output_size,)],
    "check_pad_zeros": [(pad_zeros,), (lambda image, p: np.pad(image.astype(float), [(p, p), (p, p)] + [(0, 0)] * (image.ndim - 2)),)],
    "check_pad_reflect": [(pad_reflect,), (lambda image, p: np.pad(image.astype(float), [(p, p), (p, p)] + [(0, 0)] * (image.ndim - 2), mode="reflect"),)],
    "check_conv2d": [(conv2d,)],
    "check_convolve": [(convolve,)],
    "check_conv2d_multichannel": [(conv2d_multichannel,)],
    "check_mean_kernel": [(mean_kernel,), (lambda size: np.full((size, size), 1 / (size * size), dtype=np.float32),)],
    "check_sharpen_kernels": [(SHARPEN_9.copy(), np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])),
                              ([[-1, -1, -1], [-1, 9, -1], [-1, -1, -1]], SHARPEN_5.astype(int))],
    "check_mean_masks": [(MEAN_10, MEAN_16, GAUSSIAN_16),
                         (MEAN_CENTER_WEIGHTED, MEAN_CORNER_WEIGHTED, np.outer([1, 2, 1], [1, 2, 1]) / 16)],
    "check_filter_uint8": [(filter_uint8,),  # OpenCV's filter2D with BORDER_REFLECT_101 (= reflect) rounds and saturates
                           (lambda image, kernel: cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101),)],
    "check_median_filter": [(median_filter,), (lambda image, size=3: _sliding_median(image, size),)],
    "check_sobel_magnitude": [(sobel_magnitude,)],
}


# ---------------------------------------------------------------- one wrong answer per classic bug
def _sliding_median(image, size, mode="edge", window=None, reduce=lambda w: np.median(w, axis=(-2, -1))):
    """A vectorised median filter (or another reduction) with switches for the classic window and padding bugs."""
    window = size if window is None else window
    views = np.lib.stride_tricks.sliding_window_view(np.pad(image, size // 2, mode=mode), (window, window))
    return reduce(views[:image.shape[0], :image.shape[1]]).astype(image.dtype)


def _uncentred_median(image, size=3):
    out = np.zeros_like(image)
    for i in range(image.shape[0]):
        for j in range(image.shape[1]):
            out[i, j] = np.median(image[i:i + size, j:j + size])
    return out


def _filter_then(convert, mode="reflect", flip=False):
    """filter_uint8 with another padding, a flipped kernel or another conversion to uint8."""
    def filter_(image, kernel):
        k = kernel[::-1, ::-1] if flip else kernel
        r = k.shape[0] // 2
        padded = pad_reflect(image, r) if mode == "reflect" else np.pad(image.astype(float), r, mode=mode)
        with np.errstate(invalid="ignore", over="ignore"):
            return convert(conv2d(padded, k))
    return filter_


def _mirror_unreversed(image, p):
    """Reflect padding whose mirrored slices were not reversed: image[1:p + 1] on top instead of image[p:0:-1]."""
    x = np.concatenate([image[1:p + 1], image, image[-p - 1:-1]], axis=0).astype(float)
    return np.concatenate([x[:, 1:p + 1], x, x[:, -p - 1:-1]], axis=1)


def _rounded_clipped(out):
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _gradients(gray):
    return conv2d(gray, SOBEL_X, padding=1), conv2d(gray, SOBEL_Y, padding=1)


def _sharpen(centre, neighbours, value=-1.0):
    mask = np.zeros((3, 3))
    for r, c in neighbours:
        mask[r, c] = value
    mask[1, 1] = centre
    return mask


_ALL = [(r, c) for r in range(3) for c in range(3) if (r, c) != (1, 1)]
_DIRECT = [(0, 1), (1, 0), (1, 2), (2, 1)]
_DIAGONAL = [(0, 0), (0, 2), (2, 0), (2, 2)]


def _single_channel(kernel_transform, fn=conv2d):
    return lambda image, kernel, stride=1, padding=0: fn(image, kernel_transform(kernel), stride=stride, padding=padding)


def _pad_into(corner):
    def pad(image, p):
        padded = np.zeros((image.shape[0] + 2 * p, image.shape[1] + 2 * p) + image.shape[2:])
        if not corner:
            return padded
        padded[:image.shape[0], :image.shape[1]] = image
        return padded
    return pad


WRONG_ANSWERS: dict[tuple[str, str], object] = {
    ("check_output_size", "forgot the + 1"): lambda H, F, P, S: (H + 2 * P - F) // S,
    ("check_output_size", "P instead of 2P"): lambda H, F, P, S: (H + P - F) // S + 1,
    ("check_output_size", "padding left out"): lambda H, F, P, S: (H - F) // S + 1,
    ("check_output_size", "stride ignored"): lambda H, F, P, S: H + 2 * P - F + 1,
    ("check_output_size", "true division / (a float)"): lambda H, F, P, S: (H + 2 * P - F) / S + 1,
    ("check_output_size", "rounds up"): lambda H, F, P, S: math.ceil((H + 2 * P - F) / S) + 1,
    ("check_output_size", "no return statement"): _no_return,

    ("check_pad_zeros", "pads the channel axis too"): lambda image, p: np.pad(image, p),
    ("check_pad_zeros", "pads one side only"): lambda image, p: np.pad(image, [(p, 0), (p, 0)] + [(0, 0)] * (image.ndim - 2)),
    ("check_pad_zeros", "repeats the edge pixels"): lambda image, p: np.pad(image, [(p, p), (p, p)] + [(0, 0)] * (image.ndim - 2), mode="edge"),
    ("check_pad_zeros", "np.pad keeps a uint8 image's dtype"): lambda image, p: np.pad(image, [(p, p), (p, p)] + [(0, 0)] * (image.ndim - 2)),
    ("check_pad_zeros", "integer array (dtype=int)"): lambda image, p: pad_zeros(image, p).astype(int),
    ("check_pad_zeros", "forgot to copy the image in"): _pad_into(corner=False),
    ("check_pad_zeros", "image copied into the corner"): _pad_into(corner=True),
    ("check_pad_zeros", "no return statement"): _no_return,

    ("check_conv2d", "kernel flipped"): make_conv2d(flip=True),
    ("check_conv2d", "output one too small"): make_conv2d(size_fix=-1),
    ("check_conv2d", "windows do not move by the stride"): make_conv2d(use_stride_in_position=False),
    ("check_conv2d", "np.zeros_like(image) on a uint8 image"): make_conv2d(out_dtype=None),
    ("check_conv2d", "integer output (dtype=int)"): make_conv2d(out_dtype=int),
    ("check_conv2d", "values rounded with int()"): make_conv2d(whole_numbers=True),
    ("check_conv2d", "padding ignored"): make_conv2d(ignore_padding=True),
    ("check_conv2d", "stride ignored"): make_conv2d(ignore_stride=True),
    ("check_conv2d", "kernel transposed"): make_conv2d(transpose=True),
    ("check_conv2d", "pads with the edge pixels"): make_conv2d(pad_fn=lambda image, p: np.pad(image.astype(float), p, mode="edge")),
    ("check_conv2d", "no return statement"): _no_return,

    ("check_convolve", "no flip"): conv2d,
    ("check_convolve", "flips the rows only"): _single_channel(lambda k: k[::-1]),
    ("check_convolve", "flips the columns only"): _single_channel(lambda k: k[:, ::-1]),
    ("check_convolve", "transposes instead of flipping"): _single_channel(lambda k: k.T),
    ("check_convolve", "np.zeros_like(image) on a uint8 image"): make_conv2d(flip=True, out_dtype=None),
    ("check_convolve", "no return statement"): _no_return,

    ("check_conv2d_multichannel", "one map per channel (no sum)"): lambda image, kernel, stride=1, padding=0: np.stack(
        [conv2d(image[..., c], kernel[..., c], stride=stride, padding=padding) for c in range(image.shape[2])], axis=-1),
    ("check_conv2d_multichannel", "first channel only"): lambda image, kernel, stride=1, padding=0: conv2d(
        image[..., 0], kernel[..., 0], stride=stride, padding=padding),
    ("check_conv2d_multichannel", "channels averaged"): lambda image, kernel, stride=1, padding=0: conv2d_multichannel(
        image, kernel, stride, padding) / image.shape[2],
    ("check_conv2d_multichannel", "kernel flipped"): lambda image, kernel, stride=1, padding=0: conv2d_multichannel(
        image, kernel[::-1, ::-1], stride, padding),
    ("check_conv2d_multichannel", "np.zeros_like on a uint8 photo"): lambda image, kernel, stride=1, padding=0: sum(
        make_conv2d(out_dtype=None)(image[..., c], kernel[..., c], stride=stride, padding=padding) for c in range(image.shape[2])),
    ("check_conv2d_multichannel", "no return statement"): _no_return,

    ("check_mean_kernel", "ones, not divided"): lambda size: np.ones((size, size)),
    ("check_mean_kernel", "divided by size, not size**2"): lambda size: np.ones((size, size)) / size,
    ("check_mean_kernel", "integer division 1 // 9"): lambda size: np.ones((size, size), dtype=int) // size**2,
    ("check_mean_kernel", "always 3x3"): lambda size: np.ones((3, 3)) / 9,
    ("check_mean_kernel", "no return statement"): _no_return,

    ("check_sharpen_kernels", "centre 8: an edge detector"): (_sharpen(8, _ALL), SHARPEN_5),
    ("check_sharpen_kernels", "the two masks swapped"): (SHARPEN_5, SHARPEN_9),
    ("check_sharpen_kernels", "not 3x3"): (SHARPEN_9, [[0, -1, 0], [-1, 5, -1]]),
    ("check_sharpen_kernels", "centre 10"): (_sharpen(10, _ALL), SHARPEN_5),
    ("check_sharpen_kernels", "signs inverted"): (-SHARPEN_9, SHARPEN_5),
    ("check_sharpen_kernels", "SHARPEN_5 with the diagonal neighbours"): (SHARPEN_9, _sharpen(5, _DIAGONAL)),

    ("check_pad_reflect", "symmetric: edge pixel repeated (np.pad 'symmetric', cv2.BORDER_REFLECT)"): lambda image, p: np.pad(
        image.astype(float), [(p, p), (p, p)] + [(0, 0)] * (image.ndim - 2), mode="symmetric"),
    ("check_pad_reflect", "edge: replicate padding"): lambda image, p: np.pad(
        image.astype(float), [(p, p), (p, p)] + [(0, 0)] * (image.ndim - 2), mode="edge"),
    ("check_pad_reflect", "zero padding"): pad_zeros,
    ("check_pad_reflect", "wrap-around"): lambda image, p: np.pad(
        image.astype(float), [(p, p), (p, p)] + [(0, 0)] * (image.ndim - 2), mode="wrap"),
    ("check_pad_reflect", "mirrored rows in the wrong order"): _mirror_unreversed,
    ("check_pad_reflect", "rows padded, columns not"): lambda image, p: np.concatenate(
        [image[p:0:-1], image, image[-2:-p - 2:-1]], axis=0).astype(float),
    ("check_pad_reflect", "pads the channel axis too"): lambda image, p: np.pad(image.astype(float), p, mode="reflect"),
    ("check_pad_reflect", "np.pad keeps a uint8 image's dtype"): lambda image, p: np.pad(
        image, [(p, p), (p, p)] + [(0, 0)] * (image.ndim - 2), mode="reflect"),
    ("check_pad_reflect", "no return statement"): _no_return,

    ("check_mean_masks", "integer weights, not divided"): (MEAN_10 * 10, MEAN_16, GAUSSIAN_16),
    ("check_mean_masks", "divided by 9, the number of weights"): (MEAN_10 * 10 / 9, MEAN_16, GAUSSIAN_16),
    ("check_mean_masks", "integer division // 10"): (np.array([[1, 1, 1], [1, 2, 1], [1, 1, 1]]) // 10, MEAN_16, GAUSSIAN_16),
    ("check_mean_masks", "the two 1/16 masks swapped"): (MEAN_10, GAUSSIAN_16, MEAN_16),
    ("check_mean_masks", "the plain 1/9 box for MEAN_10"): (MEAN_3x3, MEAN_16, GAUSSIAN_16),
    ("check_mean_masks", "the 2 in a corner of MEAN_10"): (np.array([[2, 1, 1], [1, 1, 1], [1, 1, 1]]) / 10, MEAN_16, GAUSSIAN_16),
    ("check_mean_masks", "a negative weight"): (MEAN_10, MEAN_16, np.array([[-1, 2, 1], [2, 8, 2], [1, 2, 1]]) / 16),
    ("check_mean_masks", "not 3x3"): (MEAN_10, MEAN_16, np.array([1, 2, 1, 2, 4, 2, 1, 2, 1]) / 16),

    ("check_filter_uint8", "no clip: uint8 overflow wraps around"): _filter_then(lambda out: np.round(out).astype(np.uint8)),
    ("check_filter_uint8", "no round and no clip (the rounding is named first)"): _filter_then(lambda out: out.astype(np.uint8)),
    ("check_filter_uint8", "astype truncates instead of rounding"): _filter_then(lambda out: np.clip(out, 0, 255).astype(np.uint8)),
    ("check_filter_uint8", "zero padding"): _filter_then(_rounded_clipped, mode="constant"),
    ("check_filter_uint8", "replicate padding"): _filter_then(_rounded_clipped, mode="edge"),
    ("check_filter_uint8", "symmetric padding"): _filter_then(_rounded_clipped, mode="symmetric"),
    ("check_filter_uint8", "float result (dtype)"): _filter_then(lambda out: np.clip(np.round(out), 0, 255)),
    ("check_filter_uint8", "no padding (smaller output)"): lambda image, kernel: _rounded_clipped(conv2d(image, kernel)),
    ("check_filter_uint8", "kernel flipped"): _filter_then(_rounded_clipped, flip=True),
    ("check_filter_uint8", "no return statement"): _no_return,

    ("check_median_filter", "mean instead of median"): lambda image, size=3: _sliding_median(
        image, size, reduce=lambda w: w.mean(axis=(-2, -1))),
    ("check_median_filter", "median of the rows' medians"): lambda image, size=3: _sliding_median(
        image, size, reduce=lambda w: np.median(np.median(w, axis=-1), axis=-1)),
    ("check_median_filter", "zero padding"): lambda image, size=3: _sliding_median(image, size, mode="constant"),
    ("check_median_filter", "reflect padding"): lambda image, size=3: _sliding_median(image, size, mode="reflect"),
    ("check_median_filter", "window starts at the pixel (not centred)"): _uncentred_median,
    ("check_median_filter", "window one too small"): lambda image, size=3: _sliding_median(image, size, window=size - 1),
    ("check_median_filter", "always 3x3 (size ignored)"): lambda image, size=3: median_filter(image, 3),
    ("check_median_filter", "no padding (smaller output)"): lambda image, size=3: np.median(
        np.lib.stride_tricks.sliding_window_view(image, (size, size)), axis=(-2, -1)).astype(image.dtype),
    ("check_median_filter", "float output from np.zeros (dtype)"): lambda image, size=3: median_filter(image, size).astype(np.float64),
    ("check_median_filter", "no return statement"): _no_return,

    ("check_sobel_magnitude", "|gx| + |gy|"): lambda g: np.abs(_gradients(g)[0]) + np.abs(_gradients(g)[1]),
    ("check_sobel_magnitude", "no square root"): lambda g: _gradients(g)[0] ** 2 + _gradients(g)[1] ** 2,
    ("check_sobel_magnitude", "x gradient only"): lambda g: np.abs(_gradients(g)[0]),
    ("check_sobel_magnitude", "y gradient only"): lambda g: np.abs(_gradients(g)[1]),
    ("check_sobel_magnitude", "Sobel x used twice"): lambda g: np.hypot(conv2d(g, SOBEL_X, padding=1), conv2d(g, SOBEL_X, padding=1)),
    ("check_sobel_magnitude", "gx + gy"): lambda g: _gradients(g)[0] + _gradients(g)[1],
    ("check_sobel_magnitude", "no padding"): lambda g: np.hypot(conv2d(g, SOBEL_X), conv2d(g, SOBEL_Y)),
    ("check_sobel_magnitude", "cast to uint8 for display"): lambda g: np.clip(sobel_magnitude(g), 0, 255).astype(np.uint8),
    ("check_sobel_magnitude", "no return statement"): _no_return,
}


# ---------------------------------------------------------------- tests
# the tests every lab's checks get (lab_test_kit.lab_tests), then this lab's own
globals().update(lab_tests(lab, CLASSIC_BUGS, RIGHT_ANSWERS, WRONG_ANSWERS, spread_args=True,
                           placeholder_checks=sorted(set(lab.__all__) - {"check_sharpen_kernels", "check_mean_masks"})))


def test_pass_lines_name_the_students_function(capsys):
    lab.check_conv2d(conv2d)
    lab.check_sharpen_kernels(SHARPEN_9, SHARPEN_5)
    assert capsys.readouterr().out.splitlines() == ["✅ conv2d: all 8 cases passed", "✅ SHARPEN_9, SHARPEN_5: all 2 cases passed"]


def test_the_median_reference_is_opencvs_median_blur():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(23, 31)).astype(np.uint8)
    for size in (3, 5, 7):
        assert np.array_equal(lab._median_reference(image, size), cv2.medianBlur(image, size))
        assert np.array_equal(median_filter(image, size), cv2.medianBlur(image, size))


def test_the_reflect_padding_answer_is_numpys_reflect():
    image = np.arange(20.0).reshape(4, 5)
    assert np.array_equal(pad_reflect(image, 2), np.pad(image, 2, mode="reflect"))
    assert pad_reflect(np.array([[1, 2, 3, 4]] * 3, dtype=np.uint8), 2)[2].tolist() == [3, 2, 1, 2, 3, 4, 3, 2]
