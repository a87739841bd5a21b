"""The lesson 02 lab checks pass the right answers and catch plausible wrong ones with the right hint."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import checks
from helpers.checks import CheckFailed
from helpers.convolution import SHARPEN_5, SHARPEN_9, SOBEL_X, SOBEL_Y


# ---------------------------------------------------------------- the solutions (as a student would write them)
def output_size(H, F, P, S):
    return (H + 2 * P - F) // S + 1


def pad_zeros(image, p):
    padded = np.zeros((image.shape[0] + 2 * p, image.shape[1] + 2 * p) + image.shape[2:], dtype=np.float64)
    padded[p:p + image.shape[0], p:p + image.shape[1]] = image
    return padded


def make_conv2d(*, flip=False, out_dtype=np.float64, size_fix=0, use_stride_in_position=True, pad_fn=pad_zeros,
                transpose=False, ignore_padding=False, ignore_stride=False):
    """A loop conv2d with switches that turn on one typical mistake each."""

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
                out[i, j] = np.sum(x[i * step:i * step + FH, j * step:j * step + FW] * k)
        return out

    return conv2d


conv2d = make_conv2d()


def convolve(image, kernel, stride=1, padding=0):
    return conv2d(image, kernel[::-1, ::-1], stride=stride, padding=padding)


def conv2d_multichannel(image, kernel, stride=1, padding=0):
    return sum(conv2d(image[..., c], kernel[..., c], stride=stride, padding=padding) for c in range(image.shape[2]))


def mean_kernel(size):
    return np.ones((size, size)) / size**2


def sobel_magnitude(gray):
    return np.sqrt(conv2d(gray, SOBEL_X, padding=1) ** 2 + conv2d(gray, SOBEL_Y, padding=1) ** 2)


def fails_with(check, *args, words):
    with pytest.raises(CheckFailed) as info:
        check(*args)
    text = str(info.value)
    for word in words if isinstance(words, (list, tuple)) else [words]:
        assert word in text, f"expected {word!r} in the check's message:\n{text}"
    return text


# ------------------------------------------------------------------------------------------------ tests
def test_right_answers_pass(capsys):
    checks.check_output_size(output_size)
    checks.check_pad_zeros(pad_zeros)
    checks.check_conv2d(conv2d)
    checks.check_convolve(convolve)
    checks.check_conv2d_multichannel(conv2d_multichannel)
    checks.check_mean_kernel(mean_kernel)
    checks.check_sharpen_kernels(SHARPEN_9.copy(), np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]))
    checks.check_sobel_magnitude(sobel_magnitude)
    out = capsys.readouterr().out
    assert out.count("✅") == 8


def test_the_lab_placeholder_is_reported_as_not_written():
    def placeholder(*args, **kwargs):
        raise NotImplementedError("Write your code here, then run the check cell below.")

    fails_with(checks.check_conv2d, placeholder, words="not written this yet")


def test_output_size_catches_wrong_formulas():
    fails_with(checks.check_output_size, lambda H, F, P, S: (H + 2 * P - F) // S, words="forgot the + 1")
    fails_with(checks.check_output_size, lambda H, F, P, S: (H + P - F) // S + 1, words="2 * P")
    fails_with(checks.check_output_size, lambda H, F, P, S: (H + 2 * P - F) / S + 1, words=["float", "//"])
    fails_with(checks.check_output_size, lambda H, F, P, S: H + 2 * P - F + 1, words="ignored the stride")


def test_pad_zeros_catches_wrong_padding():
    fails_with(checks.check_pad_zeros, lambda img, p: np.pad(img, p), words=["channel axis", "shape 9x10x5"])  # pads channels
    one_side = lambda img, p: np.pad(img, [(p, 0), (p, 0)] + [(0, 0)] * (img.ndim - 2))  # noqa: E731
    fails_with(checks.check_pad_zeros, one_side, words=["pad both sides", "11x13"])
    edge = lambda img, p: np.pad(img, [(p, p), (p, p)] + [(0, 0)] * (img.ndim - 2), mode="edge")  # noqa: E731
    fails_with(checks.check_pad_zeros, edge, words="zeros")


def test_conv2d_catches_typical_mistakes():
    fails_with(checks.check_conv2d, make_conv2d(flip=True), words="flipped the kernel")
    fails_with(checks.check_conv2d, make_conv2d(size_fix=-1), words=["off by one", "range(OH)", "shape 6x8, expected 7x9"])
    fails_with(checks.check_conv2d, make_conv2d(use_stride_in_position=False), words="i * 2")
    fails_with(checks.check_conv2d, make_conv2d(out_dtype=None), words=["dtype uint8", "zeros_like"])
    fails_with(checks.check_conv2d, make_conv2d(ignore_padding=True), words="ignored the padding")
    fails_with(checks.check_conv2d, make_conv2d(ignore_stride=True), words="ignored the stride")
    fails_with(checks.check_conv2d, make_conv2d(transpose=True), words="transposed")
    edge_pad = lambda img, p: np.pad(img.astype(float), p, mode="edge")  # noqa: E731
    fails_with(checks.check_conv2d, make_conv2d(pad_fn=edge_pad), words="edge pixels")


def test_convolve_catches_a_missing_or_half_flip():
    fails_with(checks.check_convolve, conv2d, words="forgot to flip")
    half = lambda image, kernel, stride=1, padding=0: conv2d(image, kernel[::-1], stride=stride, padding=padding)  # noqa: E731
    fails_with(checks.check_convolve, half, words="BOTH axes")
    transposed = lambda image, kernel, stride=1, padding=0: conv2d(image, kernel.T, stride=stride, padding=padding)  # noqa: E731
    fails_with(checks.check_convolve, transposed, words="BOTH axes")


def test_conv2d_multichannel_catches_channel_mistakes():
    per_channel = lambda image, kernel, stride=1, padding=0: np.stack(  # noqa: E731
        [conv2d(image[..., c], kernel[..., c], stride=stride, padding=padding) for c in range(image.shape[2])], axis=-1)
    fails_with(checks.check_conv2d_multichannel, per_channel, words="sum over the channel axis")
    first_only = lambda image, kernel, stride=1, padding=0: conv2d(image[..., 0], kernel[..., 0], stride=stride, padding=padding)  # noqa: E731
    fails_with(checks.check_conv2d_multichannel, first_only, words="only one channel")
    averaged = lambda image, kernel, stride=1, padding=0: conv2d_multichannel(image, kernel, stride, padding) / image.shape[2]  # noqa: E731
    fails_with(checks.check_conv2d_multichannel, averaged, words="averaged")


def test_mean_kernel_catches_wrong_sums_and_integer_division():
    fails_with(checks.check_mean_kernel, lambda size: np.ones((size, size)), words=["sums to 9", "3*3 = 9"])
    fails_with(checks.check_mean_kernel, lambda size: np.ones((size, size), dtype=int) // size**2, words="integer")
    fails_with(checks.check_mean_kernel, lambda size: np.ones((3, 3)) / 9, words="5x5")


def test_sharpen_kernels_catch_edge_detectors_and_swaps():
    laplacian_like = -np.ones((3, 3))
    laplacian_like[1, 1] = 8
    fails_with(checks.check_sharpen_kernels, laplacian_like, SHARPEN_5, words=["sums to 0", "edge detector"])
    fails_with(checks.check_sharpen_kernels, SHARPEN_5, SHARPEN_9, words="other mask")
    fails_with(checks.check_sharpen_kernels, SHARPEN_9, [[0, -1, 0], [-1, 5, -1]], words="3x3")


def test_sobel_magnitude_catches_wrong_combinations():
    def gradients(gray):
        return conv2d(gray, SOBEL_X, padding=1), conv2d(gray, SOBEL_Y, padding=1)

    fails_with(checks.check_sobel_magnitude, lambda g: np.abs(gradients(g)[0]) + np.abs(gradients(g)[1]), words="|gx| + |gy|")
    fails_with(checks.check_sobel_magnitude, lambda g: gradients(g)[0] ** 2 + gradients(g)[1] ** 2, words="square root")
    fails_with(checks.check_sobel_magnitude, lambda g: np.abs(gradients(g)[0]), words="only the x gradient")
    no_pad = lambda g: np.hypot(conv2d(g, SOBEL_X), conv2d(g, SOBEL_Y))  # noqa: E731
    fails_with(checks.check_sobel_magnitude, no_pad, words="pad by 1")
