"""Checks for lab 01, images as arrays (``solutions/01_images_lab.ipynb``).

Each check runs the student's function on small images (random pixels, a hue wheel, crops of scikit-image's sample
photos) and, when an answer is wrong, names the classic mistake that reproduces it: the wrong axis reversed, the plain
mean instead of the luma weights, bits instead of bytes, uint8 wrap-around, hue in degrees, a hue range that does not
wrap around red, the mean of per-image standard deviations, the wrong interpolation, a fingerprint that ignores the
order of the pixels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import torch

from helpers.checks.core import (CheckFailed, call_student, expect_array, expect_close, expect_int, expect_shape,
                                 expect_true, name_the_mistake, return_hint, run_cases, same_numbers, shape_text)

__all__ = [
    "check_bgr_to_rgb",
    "check_to_gray",
    "check_image_bytes",
    "check_brighten",
    "check_hue_mask",
    "check_channel_mean_std",
    "check_resize",
    "check_find_duplicates",
]

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, what cv2.COLOR_RGB2GRAY uses
REC709_WEIGHTS = np.array([0.2125, 0.7154, 0.0721])  # what skimage.color.rgb2gray uses


def _random_image(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Random uint8 pixels over the whole 0..255 range (so uint8 sums overflow and bright pixels exist)."""
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _photo_crop(name: str, top: int, left: int, height: int, width: int) -> np.ndarray:
    """A crop of a scikit-image sample photo (shipped with the package, no download)."""
    from helpers.data import load_sample_photo  # imported here: only the checks that use a photo need it

    return load_sample_photo(name)[top:top + height, left:left + width].copy()


# ---------------------------------------------------------------- 1. BGR -> RGB

def check_bgr_to_rgb(bgr_to_rgb: Callable[..., Any]) -> None:
    """Check ``bgr_to_rgb(image)``: the channel axis (the last one) reversed, uint8 kept, the input left alone."""

    def case(image: np.ndarray) -> Callable[[], None]:
        def run() -> None:
            original = image.copy()
            given = image.copy()
            got = expect_array(call_student(bgr_to_rgb, given), "bgr_to_rgb's result")
            expected = original[..., ::-1]
            expect_shape(got, expected.shape, "the result", "keep the shape: only the order of the channels changes.")
            if not np.array_equal(got, expected):
                b, g, r = original[..., 0], original[..., 1], original[..., 2]
                mistakes = [
                    (original, "the channels are still in BGR order: reverse the channel axis, the last one (image[..., ::-1])."),
                    (original[::-1], "you flipped the image upside down: [::-1] reverses the FIRST axis (the rows); the "
                                     "channels are the last axis: image[..., ::-1]."),
                    (original[:, ::-1], "you reversed the second axis: that mirrors a picture left-right (or swaps the rows "
                                        "of a batch). Reverse the channel axis, the last one: image[..., ::-1]."),
                    (np.stack([g, b, r], axis=-1), "you swapped blue and green; swap blue (channel 0) and red (channel 2), "
                                                   "green stays in the middle."),
                    (np.stack([r, g, r], axis=-1),
                     "red and blue are now the same channel: `a, b = b, a` on two slices of one NumPy array copies one "
                     "slice over the other, because the right-hand side holds views, not copies. Use image[..., ::-1] "
                     "(or copy a channel before overwriting it)."),
                ]
                if original.ndim == 4:
                    mistakes.insert(1, (original[:, :, ::-1],
                                        "image[:, :, ::-1] reverses the third axis, which in a batch N x H x W x 3 is the "
                                        "width: use image[..., ::-1], where ... means 'all axes before the last one'."))
                hint = name_the_mistake(got, mistakes)
                raise CheckFailed("the channels are not in RGB order (expected image[..., ::-1])",
                                  hint or "RGB is BGR with the channel axis reversed: channel 0 (blue) goes last, channel 2 (red) first.")
            expect_true(got.dtype == np.uint8, f"the result has dtype {got.dtype}, expected uint8",
                        "reordering channels does not change the values: keep uint8 (no astype, no division by 255).")
            expect_true(np.array_equal(given, original), "bgr_to_rgb changed the image it was given",
                        "return a new array (image[..., ::-1], or .copy() before swapping): the caller may still need "
                        "the original.")
        return run

    run_cases("bgr_to_rgb", {
        "a 6x7 image": case(_random_image((6, 7, 3), 1)),
        "a photo crop in BGR order": case(cv2.cvtColor(_photo_crop("astronaut", 90, 170, 24, 40), cv2.COLOR_RGB2BGR)),
        "a batch of 4 images (N x H x W x 3)": case(_random_image((4, 5, 6, 3), 2)),
        "one pixel": case(np.array([[[255, 128, 0]]], dtype=np.uint8)),
    })


# ---------------------------------------------------------------- 2. grayscale

def check_to_gray(to_gray: Callable[..., Any]) -> None:
    """Check ``to_gray(rgb)`` = 0.299 R + 0.587 G + 0.114 B as floats in 0..255, one value per pixel."""

    def case(rgb: np.ndarray) -> Callable[[], None]:
        def run() -> None:
            x = rgb.astype(np.float64)
            expected = x @ LUMA_WEIGHTS
            got = expect_array(call_student(to_gray, rgb.copy()), "to_gray's result", floats=True,
                               hint="keep the gray values as floats (0.0 to 255.0 with decimals); a uint8 result (from "
                                    "astype, or from cv2.cvtColor) rounds them. Round only to display.")
            if got.shape == rgb.shape:
                raise CheckFailed(f"the result has shape {shape_text(got.shape)}: still three values per pixel",
                                  "add the three weighted channels into one value per pixel: the result is H x W.")
            expect_shape(got, expected.shape, "the result",
                         "one gray value per pixel: combine the channels (the last axis), e.g. "
                         "0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2].")
            if same_numbers(got, expected, atol=1e-3):
                return
            wrapped_sum = (rgb[..., 0] + rgb[..., 1] + rgb[..., 2]).astype(np.float64)  # uint8: wraps above 255
            hint = name_the_mistake(got, [
                (x.mean(axis=-1), "that is the plain mean of R, G and B. Our eyes find green much brighter than blue, so "
                                  "pure green and pure blue would get the same gray; use the luma weights 0.299, 0.587, 0.114."),
                (wrapped_sum / 3, "you averaged R, G and B in uint8: their sum wrapped around above 255. Convert to float "
                                  "first (rgb.astype(np.float64)), and use the luma weights instead of the plain mean."),
                (x @ LUMA_WEIGHTS[::-1], "the weights are in BGR order: for an RGB image, 0.299 multiplies channel 0 (red) "
                                         "and 0.114 channel 2 (blue)."),
                (expected / 3, "the weights already sum to 1: do not divide by 3."),
                (expected / 255, "keep the 0..255 scale of the input: do not divide by 255."),
                (x @ REC709_WEIGHTS, "those are the Rec. 709 weights (0.2125, 0.7154, 0.0721) that skimage's rgb2gray uses; "
                                     "this lab, like OpenCV, uses 0.299, 0.587, 0.114."),
                (x @ REC709_WEIGHTS / 255, "skimage.color.rgb2gray uses other weights and scales to 0..1; compute "
                                           "0.299 R + 0.587 G + 0.114 B yourself."),
            ], atol=1e-3)
            expect_close(got, expected, "gray", atol=1e-3,
                         hint=hint or "gray = 0.299 * R + 0.587 * G + 0.114 * B, with R = rgb[..., 0] and B = rgb[..., 2].")
        return run

    colours = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0], [200, 200, 100]]], dtype=np.uint8)
    run_cases("to_gray", {
        "pure colours": case(colours),
        "random pixels": case(_random_image((5, 6, 3), 3)),
        "a photo crop": case(_photo_crop("coffee", 150, 250, 20, 30)),
    })


# ---------------------------------------------------------------- 3. memory

def check_image_bytes(image_bytes: Callable[..., Any]) -> None:
    """Check ``image_bytes(shape, dtype, count=1)`` = product of the shape x bytes per value x count, an int."""
    examples = [
        ("a Full HD photo as uint8", (1080, 1920, 3), "uint8", 1),
        ("the same photo as float32", (1080, 1920, 3), "float32", 1),
        ("Fashion-MNIST train as float64 (2-D images)", (28, 28), "float64", 60_000),
        ("a batch of 256 C x H x W images in float16", (3, 224, 224), "float16", 256),
        ("CIFAR-10 train, dtype given as np.uint8", (32, 32, 3), np.uint8, 50_000),
    ]

    def case(shape: tuple[int, ...], dtype: Any, count: int) -> Callable[[], None]:
        def run() -> None:
            values = int(np.prod(shape))
            size = np.dtype(dtype).itemsize
            expected = values * size * count
            text = f"image_bytes({shape}, {np.dtype(dtype).name!r}, count={count})"
            got = call_student(image_bytes, shape, dtype, count=count)
            if isinstance(got, (float, np.floating)):
                unit = name_the_mistake(got, [(expected / 1024, "KiB"), (expected / 2**20, "MiB"), (expected / 1e6, "MB"),
                                              (expected / 2**30, "GiB")], atol=1e-9)
                if unit:
                    raise CheckFailed(f"{text} is {got:g}: that is {unit}, not bytes",
                                      "return the number of bytes as an int; convert to KiB or MiB only to print it.")
            got = expect_int(got, text, "return a whole number of bytes (an int): np.prod(shape) * itemsize * count.")
            if got == expected:
                return
            four_for_floats = values * (4 if np.dtype(dtype).kind == "f" else 1) * count
            hint = name_the_mistake(got, [
                (values * count, "every value took 1 byte: multiply by the size of one value, np.dtype(dtype).itemsize "
                                 "(uint8 1, float16 2, float32 4, float64 8)."),
                (expected * 8, "that is bits: a byte has 8 bits, and np.dtype(dtype).itemsize is already in bytes."),
                (shape[0] * shape[1] * size * count, "multiply ALL dimensions of the shape (the channels too): np.prod(shape)."),
                (values * size, "multiply by count, the number of images."),
                (four_for_floats, "not every float is 4 bytes: float16 takes 2, float64 takes 8 (np.dtype(dtype).itemsize)."),
            ], atol=0)
            raise CheckFailed(f"{text} is {got:,}, expected {expected:,}",
                              hint or "bytes = (number of values: the product of the shape) x bytes per value x count.")
        return run

    run_cases("image_bytes", {label: case(shape, dtype, count) for label, shape, dtype, count in examples})


# ---------------------------------------------------------------- 4. uint8 arithmetic

def _call_with_uint8(fn: Callable[..., Any], image: np.ndarray, amount: int) -> Any:
    """``call_student`` that explains NumPy's refusal to add a negative Python int to a uint8 array."""
    try:
        return call_student(fn, image, amount)
    except CheckFailed as err:
        if isinstance(err.__cause__, OverflowError):
            raise CheckFailed(err.message, f"NumPy refuses to add {amount} to an unsigned array (uint8 holds 0..255, "
                                           "uint16 0..65535, no negative numbers): convert to a signed type first, "
                                           "image.astype(np.int16) + amount, then clip to 0..255 and convert back to uint8.") from err.__cause__
        raise


def check_brighten(brighten: Callable[..., Any]) -> None:
    """Check ``brighten(image, amount)``: image + amount clipped to 0..255 (no wrap-around), uint8, input untouched."""

    def case(image: np.ndarray, amount: int) -> Callable[[], None]:
        def run() -> None:
            original = image.copy()
            given = image.copy()
            wide = original.astype(np.int64) + amount
            expected = np.clip(wide, 0, 255)
            got = expect_array(_call_with_uint8(brighten, given, amount), "brighten's result")
            expect_shape(got, expected.shape, "the result", "brightening keeps the shape of the image.")
            if not same_numbers(got, expected, atol=0):
                if amount >= 0:
                    wrapped = ("values wrapped around: in uint8, 200 + 100 is 44 (300 - 256). Compute in a wider signed "
                               "type (image.astype(np.int16) + amount), clip to 0..255 with np.clip, then convert back with "
                               ".astype(np.uint8). Clipping after a uint8 addition is too late: it has already wrapped.")
                else:
                    wrapped = ("values below 0 wrapped around: 20 - 60 must become 0, not 216. Clip both ends, "
                               "np.clip(x, 0, 255), in a wider signed type (image.astype(np.int16) + amount).")
                hint = name_the_mistake(got, [
                    (wide % 256, wrapped),
                    (wide, "values went above 255 or below 0: clip to 0..255 (np.clip) before converting back to uint8."),
                ], atol=0)
                where = tuple(np.argwhere(got.astype(np.int64) != expected)[0])
                raise CheckFailed(f"brighten(image, {amount}): a pixel of {original[where]} became {got[where]}, "
                                  f"expected {expected[where]}",
                                  hint or "result = np.clip(image.astype(np.int16) + amount, 0, 255).astype(np.uint8).")
            expect_true(got.dtype == np.uint8, f"the result has dtype {got.dtype}, expected uint8",
                        "convert back with .astype(np.uint8) after clipping: images are stored, shown and saved as uint8.")
            expect_true(np.array_equal(given, original), "brighten changed the image it was given",
                        "return a new array; `image += amount` and np.clip(..., out=image) overwrite the caller's image.")
        return run

    bright = np.array([[0, 20, 100, 155, 156], [200, 230, 250, 255, 60]], dtype=np.uint8)
    run_cases("brighten", {
        "+100 on bright pixels": case(bright, 100),
        "-60 on dark pixels": case(bright, -60),
        "an RGB image, +50": case(_random_image((4, 5, 3), 4), 50),
        "amount 0 (unchanged)": case(bright, 0),
        "+300 (everything white)": case(bright, 300),
    })


# ---------------------------------------------------------------- 5. hue mask

def _hue_wheel() -> np.ndarray:
    """An RGB test image: every OpenCV hue (columns) at strong and weak saturation and brightness, plus grays."""
    hue = np.arange(180, dtype=np.uint8)
    rows = [(255, 255), (200, 140), (40, 255), (255, 30), (120, 90)]  # (saturation, value) per row
    hsv = np.stack([np.stack([hue, np.full(180, s, np.uint8), np.full(180, v, np.uint8)], axis=-1) for s, v in rows])
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    grays = np.repeat(np.linspace(0, 255, 180).astype(np.uint8)[None, :, None], 3, axis=2)  # hue 0, saturation 0
    return np.ascontiguousarray(np.concatenate([rgb, grays[None, 0]], axis=0))


def _hue_mask(rgb: np.ndarray, low: float, high: float, min_saturation: int, min_value: int, *,
              code: int = cv2.COLOR_RGB2HSV, scale: float = 0.5, wrap: bool = True, use_sv: bool = True) -> np.ndarray:
    """The right mask (defaults) or one of the classic wrong ones (a switch changed)."""
    h, s, v = [c.astype(np.float64) for c in cv2.split(cv2.cvtColor(rgb, code))]
    lo, hi = low * scale, high * scale
    if lo <= hi:
        inside = (h >= lo) & (h <= hi)
    else:
        inside = ((h >= lo) | (h <= hi)) if wrap else np.zeros_like(h, dtype=bool)
    if use_sv:
        inside &= (s >= min_saturation) & (v >= min_value)
    return inside


def check_hue_mask(hue_mask: Callable[..., Any]) -> None:
    """Check ``hue_mask(rgb, low, high, min_saturation=80, min_value=50)``: hue in degrees (0..360, wrapping through
    red when low > high), OpenCV's HSV (hue = degrees / 2), saturated and bright enough; an H x W mask."""

    def case(rgb: np.ndarray, low: float, high: float, min_saturation: int = 80, min_value: int = 50) -> Callable[[], None]:
        def run() -> None:
            args = dict(min_saturation=min_saturation, min_value=min_value)
            expected = _hue_mask(rgb, low, high, min_saturation, min_value)
            text = f"hue_mask(rgb, {low}, {high})"
            raw = expect_array(call_student(hue_mask, rgb.copy(), low, high, **args), f"{text}'s result")
            if raw.shape == rgb.shape:
                raise CheckFailed(f"the mask has shape {shape_text(raw.shape)}: one value per channel",
                                  "return one True/False per pixel (H x W): combine the hue, saturation and value "
                                  "conditions with &, or use cv2.inRange on the whole HSV image.")
            expect_shape(raw, expected.shape, "the mask", "one True/False per pixel: the mask is H x W.")
            values = set(np.unique(raw).tolist())
            if not values <= {0, 1, 255, False, True}:
                raise CheckFailed(f"the mask holds the values {sorted(values)[:6]}",
                                  "return a mask: True where the pixel is inside the range, False elsewhere "
                                  "(cv2.inRange gives 255 and 0, which is fine too).")
            got = raw > 0
            # pixels on a bound may go either way (rounding degrees / 2, < versus <=): they are not compared
            h, s, v = [c.astype(np.float64) for c in cv2.split(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV))]
            ambiguous = ((np.abs(h - low / 2) <= 1) | (np.abs(h - high / 2) <= 1) | (np.abs(s - min_saturation) <= 1)
                         | (np.abs(v - min_value) <= 1))
            keep = ~ambiguous
            if np.array_equal(got[keep], expected[keep]):
                return
            hint = name_the_mistake(got[keep], [
                (_hue_mask(rgb, low, high, min_saturation, min_value, code=cv2.COLOR_BGR2HSV)[keep],
                 "the image is RGB: convert with cv2.COLOR_RGB2HSV. COLOR_BGR2HSV swaps red and blue, so a blue range "
                 "finds orange pixels."),
                (_hue_mask(rgb, low, high, min_saturation, min_value, scale=1.0)[keep],
                 "OpenCV stores hue as degrees / 2 (0..179, so that it fits in uint8): divide low and high by 2."),
                (_hue_mask(rgb, low, high, min_saturation, min_value, scale=255 / 360)[keep],
                 "hue 0..255 is COLOR_RGB2HSV_FULL; with COLOR_RGB2HSV it is 0..179: divide the degrees by 2."),
                (_hue_mask(rgb, low, high, min_saturation, min_value, wrap=False)[keep],
                 f"when low > high ({low} > {high}) the range wraps around through red (0 degrees): keep hue >= low OR "
                 "hue <= high, two ranges combined with | (no hue is both above 170 and below 10, so & finds nothing)."),
                (_hue_mask(rgb, low, high, min_saturation, min_value, use_sv=False)[keep],
                 "gray, white and black pixels have hue 0 (red) or a meaningless hue: also require "
                 "saturation >= min_saturation and value >= min_value."),
            ], atol=0)
            wrong = int((got[keep] != expected[keep]).sum())
            raise CheckFailed(f"{text}: {wrong} of {int(keep.sum())} pixels are on the wrong side of the mask",
                              hint or "convert with cv2.COLOR_RGB2HSV, compare hue with low / 2 and high / 2, and require "
                                      "saturation >= min_saturation and value >= min_value.")
        return run

    wheel = _hue_wheel()
    coffee = cv2.resize(_photo_crop("coffee", 0, 0, 400, 600), (60, 40), interpolation=cv2.INTER_AREA)
    run_cases("hue_mask", {
        "blue, 200-260 degrees": case(wheel, 200, 260),
        "green, 90-150 degrees": case(wheel, 90, 150),
        "red wraps around: 340-20 degrees": case(wheel, 340, 20),
        "red on a photo (coffee), 330-25 degrees": case(coffee, 330, 25),
        "stricter saturation and value": case(wheel, 200, 260, min_saturation=150, min_value=100),
    })


# ---------------------------------------------------------------- 6. per-channel mean and std

def _image_set(n: int, channels: int, height: int, width: int, seed: int) -> torch.Tensor:
    """uint8 [N, C, H, W] with channel offsets and a brightness per image (so per-image and global statistics differ)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 25, size=(n, channels, height, width))
    per_image = rng.normal(0, 60, size=(n, 1, 1, 1))
    per_channel = np.linspace(90, 170, channels).reshape(1, channels, 1, 1)
    images = np.clip(base + per_image + per_channel, 0, 255)
    images[0, :, 0, 0] = 255  # bright pixels: squares of uint8 values overflow
    return torch.from_numpy(images.round().astype(np.uint8))


def _vector(value: Any, what: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise CheckFailed(f"{what} is {type(value).__name__}, expected a tensor or array of numbers",
                          return_hint(value, "return mean and std as tensors (or arrays), one number per channel.")) from err


def check_channel_mean_std(channel_mean_std: Callable[..., Any]) -> None:
    """Check ``channel_mean_std(images)`` for uint8 [N, C, H, W]: per-channel mean and std over all pixels of all
    images, pixels scaled to [0, 1] (population or sample std both pass)."""

    def case(images: torch.Tensor) -> Callable[[], None]:
        def run() -> None:
            n, c, h, w = images.shape
            x = images.double() / 255
            mean = x.mean(dim=(0, 2, 3)).numpy()
            std = x.std(dim=(0, 2, 3), unbiased=False).numpy()
            result = call_student(channel_mean_std, images.clone())
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise CheckFailed(f"channel_mean_std returned {type(result).__name__}, expected two results (mean, std)",
                                  return_hint(result, "return mean, std (a tuple), each with one number per channel."))
            got_mean, got_std = _vector(result[0], "the mean"), _vector(result[1], "the std")
            for got, name in ((got_mean, "mean"), (got_std, "std")):
                if got.shape == (c,):
                    continue
                hints = {(n,): "one value per IMAGE: average over images, height and width (dims 0, 2, 3) to get one per channel.",
                         (w,): "the tensors are N x C x H x W (PyTorch's layout): the channel axis is dim 1, so reduce dims "
                               "(0, 2, 3). Dims (0, 1, 2) are for N x H x W x C arrays.",
                         (): "one value per channel, not one for all channels: reduce dims (0, 2, 3) only.",
                         (c, h, w): "average over the height and width too: dims (0, 2, 3).",
                         (n, c): "average over the images too: dims (0, 2, 3)."}
                expect_shape(got, (c,), f"the {name}", hints.get(got.shape, f"one {name} per channel: a vector of {c} numbers."))
            if not same_numbers(got_mean, mean, atol=5e-4):
                hint = name_the_mistake(got_mean, [
                    (mean * 255, "divide by 255: normalisation constants are for pixels scaled to [0, 1], what ToTensor "
                                 "and the course's tensor_loader feed the network."),
                ], atol=5e-4)
                expect_close(got_mean, mean, "the mean", atol=5e-4, hint=hint or "mean over all pixels of all images, per channel.")
            if np.isnan(got_std).any():
                raise CheckFailed("the std is NaN: the variance came out negative",
                                  "did you square uint8 values? 200 ** 2 wraps around in uint8 (it gives 64). Convert to "
                                  "float before squaring, or use x.std(dim=(0, 2, 3)).")
            if same_numbers(got_std, std, atol=5e-4):
                return
            squares = (images ** 2).double().mean(dim=(0, 2, 3)).numpy() / 255**2  # squares taken in uint8: wrapped
            hint = name_the_mistake(got_std, [
                (x.std(dim=(2, 3)).mean(dim=0).numpy(),
                 "that is the mean of the per-image standard deviations: it leaves out how much the images differ from "
                 "each other (a dark and a bright photo), so it comes out too small. Take the std over all pixels of all "
                 "images at once: dims (0, 2, 3)."),
                (x.std(dim=(2, 3), unbiased=False).mean(dim=0).numpy(), "that is the mean of the per-image standard "
                 "deviations, which leaves out how much the images differ from each other: take the std over dims (0, 2, 3)."),
                (x.mean(dim=(2, 3)).std(dim=0).numpy(), "that is the spread of the per-image means only: take the std over "
                                                        "all pixels of all images, dims (0, 2, 3)."),
                (std**2, "that is the variance: take its square root."),
                (std * 255, "divide by 255: the std is for pixels scaled to [0, 1]."),
                (np.sqrt(np.clip(squares - mean**2, 0, None)), "you squared uint8 values: 200 ** 2 wraps around in uint8 "
                                                               "(it gives 64). Convert to float before squaring."),
            ], atol=5e-4)
            expect_close(got_std, std, "the std", atol=5e-4,
                         hint=hint or "std over all pixels of all images, per channel: x.std(dim=(0, 2, 3)).")
        return run

    run_cases("channel_mean_std", {
        "RGB set, 24 images of 5x7": case(_image_set(24, 3, 5, 7, seed=5)),
        "gray set (1 channel)": case(_image_set(30, 1, 6, 4, seed=6)),
        "RGB set, 50 images of 8x8": case(_image_set(50, 3, 8, 8, seed=7)),
    })


# ---------------------------------------------------------------- 7. resizing

ENLARGE_METHODS = {"INTER_LINEAR": cv2.INTER_LINEAR, "INTER_LINEAR_EXACT": cv2.INTER_LINEAR_EXACT,
                   "INTER_CUBIC": cv2.INTER_CUBIC, "INTER_LANCZOS4": cv2.INTER_LANCZOS4}


def check_resize(resize: Callable[..., Any]) -> None:
    """Check ``resize(image, width, height)``: cv2.resize with INTER_AREA to shrink, INTER_LINEAR or INTER_CUBIC to
    enlarge; the result is height x width (x channels), uint8."""

    def case(image: np.ndarray, width: int, height: int) -> Callable[[], None]:
        def run() -> None:
            H, W = image.shape[:2]
            shrink = width <= W and height <= H
            allowed = {"INTER_AREA": cv2.INTER_AREA} if shrink else ENLARGE_METHODS
            results = {name: cv2.resize(image, (width, height), interpolation=flag).astype(np.int64)
                       for name, flag in allowed.items()}
            expected_shape = (height, width) + image.shape[2:]
            got = expect_array(call_student(resize, image.copy(), width, height), "resize's result")
            if got.shape[:2] == (width, height) and width != height:
                raise CheckFailed(f"the result is {got.shape[0]} rows x {got.shape[1]} columns, expected {height} x {width}",
                                  "cv2.resize takes the size as (width, height), but NumPy shapes are (height, width): "
                                  "you swapped them.")
            expect_shape(got, expected_shape, "the result", f"resize to {width} wide and {height} high: cv2.resize(image, (width, height), ...).")
            if got.dtype != np.uint8:
                raise CheckFailed(f"the result has dtype {got.dtype}, expected uint8",
                                  "keep the image's dtype: cv2.resize does (skimage's resize returns floats in 0..1).")
            if any(np.abs(got.astype(np.int64) - r).max() <= 1 for r in results.values()):
                return
            other = {flag: cv2.resize(image, (width, height), interpolation=flag)
                     for flag in (cv2.INTER_NEAREST, cv2.INTER_AREA, *ENLARGE_METHODS.values())}
            if shrink:
                hint = name_the_mistake(got, [
                    (other[cv2.INTER_NEAREST], "INTER_NEAREST keeps one pixel out of every few and drops the rest: fine "
                                               "detail breaks up into jagged noise (aliasing). Shrink with INTER_AREA, which "
                                               "averages all the pixels that merge into one."),
                    *[(other[flag], f"{name} looks at only a few source pixels per output pixel, so shrinking by more "
                                    "than 2x skips most pixels (aliasing). Shrink with INTER_AREA, which averages every "
                                    "pixel that merges into one.")
                      for name, flag in ENLARGE_METHODS.items()],
                ], atol=1)
            else:
                hint = name_the_mistake(got, [
                    (other[cv2.INTER_NEAREST], "INTER_NEAREST copies pixels, so an enlarged image looks blocky: use "
                                               "INTER_LINEAR or INTER_CUBIC, which blend neighbours smoothly."),
                    (other[cv2.INTER_AREA], "INTER_AREA is made for shrinking; for enlarging use INTER_LINEAR or "
                                            "INTER_CUBIC, which blend neighbours smoothly."),
                ], atol=1)
            raise CheckFailed(f"resize to {width}x{height} does not match cv2.resize with "
                              f"{' or '.join(allowed) if shrink else 'INTER_LINEAR or INTER_CUBIC'}",
                              hint or "shrinking: cv2.INTER_AREA; enlarging: cv2.INTER_LINEAR or cv2.INTER_CUBIC.")
        return run

    cat = _photo_crop("chelsea", 100, 150, 90, 120)
    gray = cv2.cvtColor(cat, cv2.COLOR_RGB2GRAY)
    small = cat[30:50, 40:70]
    run_cases("resize", {
        "shrink a photo 120x90 -> 27x20": case(cat, 27, 20),
        "shrink a gray photo 120x90 -> 35x19": case(gray, 35, 19),
        "enlarge 30x20 -> 75x52": case(small, 75, 52),
        "enlarge a gray crop 120x90 -> 300x220": case(gray, 300, 220),
    })


# ---------------------------------------------------------------- 8. duplicates

def _as_groups(result: Any) -> list[list[int]]:
    """The student's groups as sorted lists of ints, sorted; CheckFailed if it is not a list of groups."""
    if result is None or isinstance(result, (str, bytes)) or not hasattr(result, "__iter__"):
        raise CheckFailed(f"find_duplicates returned {type(result).__name__}, expected a list of groups",
                          return_hint(result, "return a list of groups, each a list of indices, e.g. [[0, 2], [1, 4, 5]]."))
    items = list(result.values()) if isinstance(result, dict) else list(result)
    if any(isinstance(item, (int, np.integer)) for item in items):
        raise CheckFailed(f"find_duplicates returned a flat list of indices {items[:6]}",
                          "return groups: one list per set of identical images, e.g. [[0, 2], [1, 4, 5]].")
    try:
        return sorted(sorted(int(i) for i in group) for group in items)
    except (TypeError, ValueError) as err:
        raise CheckFailed("find_duplicates returned something that is not a list of groups of indices",
                          "return a list of groups, each a list of indices, e.g. [[0, 2], [1, 4, 5]].") from err


def check_find_duplicates(find_duplicates: Callable[..., Any]) -> None:
    """Check ``find_duplicates(images)``: groups (2 or more) of indices of pixel-identical images, shape included."""
    rng = np.random.default_rng(8)
    a, b, c, d = (rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8) for _ in range(4))
    gray = rng.integers(0, 256, size=(8, 8), dtype=np.uint8)

    def case(images: list[np.ndarray]) -> Callable[[], None]:
        def run() -> None:
            keys = [(img.shape, img.dtype.str, img.tobytes()) for img in images]
            by_key: dict[Any, list[int]] = {}
            for i, key in enumerate(keys):
                by_key.setdefault(key, []).append(i)
            expected = sorted(g for g in by_key.values() if len(g) > 1)
            got = _as_groups(call_student(find_duplicates, [img.copy() for img in images]))
            if got == expected:
                return

            def grouped(key_of: Callable[[np.ndarray], Any], min_size: int = 2) -> list[list[int]]:
                groups: dict[Any, list[int]] = {}
                for i, img in enumerate(images):
                    groups.setdefault(key_of(img), []).append(i)
                return sorted(g for g in groups.values() if len(g) >= min_size)

            pairs = sorted([g[i], g[j]] for g in expected for i in range(len(g)) for j in range(i + 1, len(g)))
            mistakes = [
                (grouped(lambda img: hashlib.sha256(img.tobytes()).hexdigest()),
                 "two arrays with the same bytes but different shapes got grouped: they are different images. Put the "
                 "shape (and dtype) into the hash too, e.g. hash str(image.shape).encode() + image.tobytes()."),
                (grouped(lambda img: int(img.astype(np.int64).sum())),
                 "images with the same pixel values in another order (a flipped copy) got grouped: their sum, mean or "
                 "histogram is the same, but they are different pictures. Hash all the pixel bytes in order: "
                 "hashlib.sha256(image.tobytes())."),
                (grouped(lambda img: (img.shape, img.tobytes()), min_size=1),
                 "keep only groups of 2 or more images: an image alone is not a duplicate."),
                (pairs, "return one group per set of identical images ([0, 2, 5]), not every pair of them."),
                ([g[1:] for g in expected],
                 "include the first image of each group too: a group lists every copy."),
            ]
            hint = next((h for value, h in mistakes if _normalised(value) == got), None)
            raise CheckFailed(f"find_duplicates returned {got}, expected {expected}",
                              hint or "hash each image (its shape and its bytes), collect the indices per hash in a dict, "
                                      "and keep the groups with 2 or more indices.")
        return run

    run_cases("find_duplicates", {
        "two copies of one image": case([a, b, a.copy(), c]),
        "three copies and two copies": case([a, b, a.copy(), c, b.copy(), a.copy()]),
        "a flipped image is a different picture": case([a, a[:, ::-1].copy(), b, c]),
        "same bytes, other shape": case([a, a.reshape(16, 4, 3).copy(), b]),
        "no duplicates": case([a, b, c, d]),
        "gray and colour images mixed": case([gray, a, gray.copy(), d]),
    })


def _normalised(groups: list[list[int]]) -> list[list[int]]:
    return sorted(sorted(int(i) for i in g) for g in groups)
