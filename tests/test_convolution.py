"""helpers.convolution: the hand-written conv2d agrees with the loop, OpenCV and PyTorch; bad input is refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio

from helpers import convolution as C

OPENCV_BORDER = {"zero": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT_101, "replicate": cv2.BORDER_REPLICATE}
TORCH_PAD = {"zero": "zeros", "reflect": "reflect", "replicate": "replicate"}


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def photo_gray():
    """A real photo (scikit-image's camera man), cropped to keep the test fast, scaled to 0..1."""
    return skdata.camera()[100:228, 200:328].astype(np.float32) / 255


@pytest.fixture(scope="module")
def photo_rgb():
    return skdata.astronaut()[:96, 160:288].astype(np.float32) / 255


def torch_conv(image: np.ndarray, kernel: np.ndarray, stride=1, padding=0, pad_mode="zero") -> np.ndarray:
    """Reference: per-channel 2-D filtering with torch (groups=C), padded the same way."""
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
    x = x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]
    channels = x.shape[1]
    w = torch.from_numpy(np.ascontiguousarray(kernel, dtype=np.float32))[None, None].repeat(channels, 1, 1, 1)
    if padding:
        x = F.pad(x, (padding,) * 4, mode="constant" if pad_mode == "zero" else TORCH_PAD[pad_mode])
    y = F.conv2d(x, w, stride=stride, groups=channels)[0]
    return (y[0] if image.ndim == 2 else y.permute(1, 2, 0)).numpy()


# ------------------------------------------------------------------------------------------ output size
@pytest.mark.parametrize(
    "H, F_, P, S, expected",
    [(7, 3, 0, 1, 5), (7, 3, 0, 2, 3), (32, 3, 1, 1, 32), (32, 5, 2, 1, 32), (32, 3, 1, 2, 16),
     (28, 5, 0, 1, 24), (224, 7, 3, 2, 112), (8, 3, 0, 2, 3), (3, 3, 0, 1, 1)],
)
def test_output_size_matches_the_formula(H, F_, P, S, expected):
    assert C.output_size(H, F_, P, S) == expected
    # and it is what torch actually produces
    y = F.conv2d(torch.zeros(1, 1, H, H), torch.zeros(1, 1, F_, F_), stride=S, padding=P)
    assert y.shape[-1] == expected


@pytest.mark.parametrize(
    "args, error, words",
    [((5, 3, 0, 0), ValueError, "stride"), ((5, 3, -1, 1), ValueError, "negative"), ((2, 5, 0, 1), ValueError, "larger"),
     ((0, 3, 0, 1), ValueError, "at least 1"), ((5.0, 3, 0, 1), TypeError, "whole number"), ((5, 3, 0, True), TypeError, "whole")],
)
def test_output_size_rejects_bad_numbers(args, error, words):
    with pytest.raises(error, match=words):
        C.output_size(*args)


# ------------------------------------------------------------------------------------------------ pad
def test_pad_modes_match_numpy_and_opencv():
    row = np.array([[1, 2, 3, 4]], dtype=np.uint8).repeat(3, axis=0)
    assert C.pad_image(row, (0, 2), "zero")[0].tolist() == [0, 0, 1, 2, 3, 4, 0, 0]
    assert C.pad_image(row, (0, 2), "reflect")[0].tolist() == [3, 2, 1, 2, 3, 4, 3, 2]
    assert C.pad_image(row, (0, 2), "replicate")[0].tolist() == [1, 1, 1, 2, 3, 4, 4, 4]
    for mode, border in OPENCV_BORDER.items():
        expected = cv2.copyMakeBorder(row, 1, 1, 2, 2, border, value=0)
        np.testing.assert_array_equal(C.pad_image(row, (1, 2), mode), expected)


def test_pad_keeps_channels_and_refuses_bad_modes():
    img = np.zeros((4, 5, 3), np.uint8)
    assert C.pad_image(img, 2).shape == (8, 9, 3)
    with pytest.raises(ValueError, match="Unknown padding mode"):
        C.pad_image(img, 1, "mirror")
    with pytest.raises(ValueError, match="pad < image size"):
        C.pad_image(img, 4, "reflect")


# ------------------------------------------------------------------------------------------ agreement
@pytest.mark.parametrize("pad_mode", ["zero", "reflect", "replicate"])
@pytest.mark.parametrize("shape", [(17, 23), (12, 9, 3)])
def test_vectorised_matches_naive_loop(rng, shape, pad_mode):
    image = rng.random(shape).astype(np.float32)
    kernel = rng.normal(size=(3, 5))
    for stride in (1, 2, (2, 3)):
        fast = C.conv2d(image, kernel, stride=stride, padding=(1, 2), pad_mode=pad_mode)
        slow = C.conv2d_naive(image, kernel, stride=stride, padding=(1, 2), pad_mode=pad_mode)
        np.testing.assert_allclose(fast, slow, atol=1e-5)


@pytest.mark.parametrize("pad_mode", ["zero", "reflect", "replicate"])
def test_matches_opencv_filter2d_on_random_and_real_images(rng, photo_gray, photo_rgb, pad_mode):
    kernel = rng.normal(size=(5, 5)).astype(np.float32)  # asymmetric: a flip would show
    for image in (rng.random((40, 52), dtype=np.float32), photo_gray, photo_rgb):
        ours = C.conv2d(image, kernel, padding="same", pad_mode=pad_mode)
        theirs = cv2.filter2D(image, -1, kernel, borderType=OPENCV_BORDER[pad_mode])
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("pad_mode", ["zero", "reflect", "replicate"])
@pytest.mark.parametrize("stride", [1, 2])
def test_matches_torch_conv2d_on_random_and_real_images(rng, photo_gray, photo_rgb, pad_mode, stride):
    kernel = rng.normal(size=(3, 3)).astype(np.float32)
    for image in (rng.random((33, 31), dtype=np.float32), photo_gray, photo_rgb):
        ours = C.conv2d(image, kernel, stride=stride, padding=1, pad_mode=pad_mode)
        np.testing.assert_allclose(ours, torch_conv(image, kernel, stride, 1, pad_mode), atol=1e-5)


def test_a_3d_kernel_sums_over_channels_like_one_cnn_filter(rng, photo_rgb):
    kernel = rng.normal(size=(3, 3, 3)).astype(np.float32)  # FH x FW x C
    ours = C.conv2d(photo_rgb, kernel, padding=1)
    x = torch.from_numpy(photo_rgb).permute(2, 0, 1)[None]
    w = torch.from_numpy(kernel).permute(2, 0, 1)[None]  # 1 x C x FH x FW
    expected = F.conv2d(x, w, padding=1)[0, 0].numpy()
    assert ours.shape == photo_rgb.shape[:2]
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    crop = photo_rgb[:20, :20]
    np.testing.assert_allclose(C.conv2d_naive(crop, kernel, padding=1), C.conv2d(crop, kernel, padding=1), atol=1e-5)


def test_lecture_stride_example():
    """The lecture's 7x7 input and 3x3 kernel: first output 15, with stride 2 the next one is 17."""
    i, j = np.indices((7, 7))
    image = ((j - i + 1) % 4).astype(float)  # the lecture's table: rows 1 2 3 0 1 2 3 / 0 1 2 3 0 1 2 / ...
    assert image[:3].tolist() == [[1, 2, 3, 0, 1, 2, 3], [0, 1, 2, 3, 0, 1, 2], [3, 0, 1, 2, 3, 0, 1]]
    kernel = np.array([[2, 0, 1], [0, 1, 2], [1, 0, 2]], dtype=float)
    assert C.conv2d(image, kernel)[0, 0] == 15
    out = C.conv2d(image, kernel, stride=2)
    assert out.shape == (3, 3) and out[0, :2].tolist() == [15, 17]


def test_flip_turns_correlation_into_convolution(rng):
    image = rng.random((20, 20))
    np.testing.assert_allclose(C.convolve(image, C.SOBEL_X), -C.correlate(image, C.SOBEL_X))  # antisymmetric
    np.testing.assert_allclose(C.convolve(image, C.GAUSSIAN_3x3), C.correlate(image, C.GAUSSIAN_3x3))  # symmetric
    # true convolution is what scipy calls convolve: an impulse reproduces the kernel itself
    impulse = np.zeros((5, 5))
    impulse[2, 2] = 1
    kernel = np.arange(9.0).reshape(3, 3)
    np.testing.assert_allclose(C.convolve(impulse, kernel, padding=1)[1:4, 1:4], kernel)
    np.testing.assert_allclose(C.correlate(impulse, kernel, padding=1)[1:4, 1:4], kernel[::-1, ::-1])


def test_dtypes_uint8_and_float64(rng):
    img8 = (rng.random((10, 10)) * 255).astype(np.uint8)
    out = C.conv2d(img8, C.SHARPEN_9, padding=1)
    assert out.dtype == np.float32 and out.min() < 0  # not clipped or wrapped around
    assert C.conv2d(img8.astype(np.float64), C.MEAN_3x3).dtype == np.float64


# -------------------------------------------------------------------------------------------- kernels
def test_classic_kernels():
    for k in (C.MEAN_3x3, C.MEAN_CENTER_WEIGHTED, C.MEAN_CORNER_WEIGHTED, C.GAUSSIAN_3x3, C.SHARPEN_9, C.SHARPEN_5):
        assert k.shape == (3, 3) and k.sum() == pytest.approx(1.0)
    for k in (C.SOBEL_X, C.SOBEL_Y, C.PREWITT_X, C.PREWITT_Y, C.LAPLACIAN):
        assert k.sum() == 0
    assert C.MEAN_CENTER_WEIGHTED[1, 1] == pytest.approx(0.2) and C.GAUSSIAN_3x3[0, 0] == pytest.approx(1 / 16)
    with pytest.raises(ValueError):
        C.MEAN_3x3[0, 0] = 5  # read-only constants


def test_mean_and_gaussian_kernels_match_opencv():
    np.testing.assert_allclose(C.mean_kernel(5), np.full((5, 5), 1 / 25))
    g = cv2.getGaussianKernel(7, 1.5)
    np.testing.assert_allclose(C.gaussian_kernel(7, 1.5), g @ g.T, atol=1e-7)
    with pytest.raises(ValueError, match="sigma"):
        C.gaussian_kernel(5, 0)


def test_sobel_magnitude_matches_opencv(photo_gray):
    gx = cv2.Sobel(photo_gray, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_CONSTANT)
    gy = cv2.Sobel(photo_gray, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_CONSTANT)
    np.testing.assert_allclose(C.sobel_magnitude(photo_gray), np.hypot(gx, gy), atol=1e-5)


def test_salt_and_pepper_and_psnr():
    photo = skdata.camera()[:100, :100]
    noisy = C.add_salt_and_pepper(photo, amount=0.1, seed=1)
    changed = noisy != photo
    assert 0.07 < changed.mean() < 0.11  # some hits land on pixels that already were 0 or 255
    assert set(np.unique(noisy[changed])) <= {0, 255}
    np.testing.assert_array_equal(noisy, C.add_salt_and_pepper(photo, amount=0.1, seed=1))  # seeded
    assert C.psnr(photo, noisy) == pytest.approx(peak_signal_noise_ratio(photo, noisy), rel=1e-9)
    assert C.psnr(photo, photo) == float("inf")
    f = photo / 255.0
    assert C.psnr(f, f + 0.01) == pytest.approx(40.0)
    with pytest.raises(ValueError, match="same shape"):
        C.psnr(photo, photo[:50])
    with pytest.raises(ValueError, match="between 0 and 1"):
        C.add_salt_and_pepper(photo, amount=1.5)
    with pytest.raises(TypeError, match="uint8"):
        C.add_salt_and_pepper(photo.astype(np.float32))


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("fn", [C.conv2d, C.conv2d_naive])
def test_bad_input_gets_a_clear_error(fn):
    img = np.zeros((8, 8), np.float32)
    with pytest.raises(ValueError, match="odd kernel size"):
        fn(img, np.ones((4, 4)), padding="same")
    with pytest.raises(ValueError, match="2-D array"):
        fn(img, np.ones(3))
    with pytest.raises(ValueError, match="2-D array"):
        fn(img, np.ones((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="same number of channels"):
        fn(img, np.ones((3, 3, 3)))
    with pytest.raises(ValueError, match="stride must be at least 1"):
        fn(img, C.MEAN_3x3, stride=0)
    with pytest.raises(ValueError, match="4 channels.*RGBA"):
        fn(np.zeros((8, 8, 4), np.uint8), C.MEAN_3x3)
    with pytest.raises(TypeError, match="dtype bool"):
        fn(np.zeros((8, 8), bool), C.MEAN_3x3)
    with pytest.raises(ValueError, match="empty"):
        fn(np.zeros((0, 8), np.float32), C.MEAN_3x3)
    with pytest.raises(ValueError, match="larger than the padded input"):
        fn(np.zeros((2, 2), np.float32), C.MEAN_3x3)
    with pytest.raises(ValueError, match="NaN"):
        fn(img, np.full((3, 3), np.nan))


def test_kernel_builders_need_odd_sizes():
    with pytest.raises(ValueError, match="odd kernel size"):
        C.mean_kernel(4)
    with pytest.raises(ValueError, match="odd kernel size"):
        C.gaussian_kernel(6, 1.0)


def test_benchmark_conv2d_reports_four_methods(rng):
    rows = C.benchmark_conv2d(rng.random((32, 32), dtype=np.float32), repeats=1, naive_crop=16)
    assert [r["method"].split(" ")[0] for r in rows] == ["python", "NumPy", "OpenCV", "PyTorch"]
    assert all(r["seconds"] > 0 for r in rows)
    assert rows[0]["measured_on"] == "16x16, extrapolated" and rows[1]["measured_on"] == "32x32"
    with pytest.raises(ValueError, match="gray"):
        C.benchmark_conv2d(rng.random((8, 8, 3), dtype=np.float32))


def test_benchmark_conv2d_keeps_the_best_run_scales_the_crop_and_compares_with_opencv(rng, monkeypatch):
    """With a fake timer the table's arithmetic is known exactly: best of the repeats, per call, pixel ratio."""
    import timeit

    totals = iter([0.16, 0.02, 0.01, 0.04])  # best total per method: loop (1 call), NumPy, OpenCV, PyTorch (10 calls)
    numbers = []

    def fake_repeat(call, number, repeat):
        call()  # every method still runs on the image
        numbers.append(number)
        assert repeat == 3
        best = next(totals)
        return [best * 3, best, best * 2]

    monkeypatch.setattr(timeit, "repeat", fake_repeat)
    rows = C.benchmark_conv2d(rng.random((32, 32), dtype=np.float32), repeats=3, naive_crop=16)
    assert numbers == [1, 10, 10, 10]
    seconds = [r["seconds"] for r in rows]
    # the loop ran on 16x16 and is scaled by the pixel ratio 4; the others are per call
    assert seconds == pytest.approx([0.64, 0.002, 0.001, 0.004])
    assert [r["vs_opencv"] for r in rows] == pytest.approx([640.0, 2.0, 1.0, 4.0])
