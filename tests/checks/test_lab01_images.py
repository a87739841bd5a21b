"""Lab 01 checks (helpers/checks/lab01_images.py): right answers pass, every classic bug fails with its hint."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import torch

from lab_test_kit import lab_tests, no_return as _no_return  # tests/checks/lab_test_kit.py
from helpers.checks import lab01_images as lab

# ---------------------------------------------------------------- the classic bugs of each exercise
# check -> {classic bug: fragment(s) its failure message or hint must contain}. Each bug has a wrong answer in
# WRONG_ANSWERS below; the tests at the bottom feed every one of them to its check.
CLASSIC_BUGS: dict[str, dict[str, str | list[str]]] = {
    "check_bgr_to_rgb": {
        "returns the image unchanged": "still in BGR order",
        "reverses the rows (image[::-1])": "upside down",
        "reverses the second axis (image[:, ::-1])": "second axis",
        "image[:, :, ::-1] on a batch": ["batch N x H x W x 3", "image[..., ::-1]"],
        "swaps blue and green": "swapped blue and green",
        "tuple swap of two views (both channels red)": ["same channel", "views"],
        "swaps correctly but in place": "changed the image it was given",
        "converts to float": ["dtype float64", "keep uint8"],
        "no return statement": "return statement",
    },
    "check_to_gray": {
        "plain mean of R, G, B": ["plain mean", "0.299"],
        "R + G + B in uint8, divided by 3": ["wrapped around", "float first"],
        "weights in BGR order": "BGR order",
        "weighted sum divided by 3": "already sum to 1",
        "divided by 255": "0..255 scale",
        "Rec. 709 weights (skimage)": "Rec. 709",
        "skimage.color.rgb2gray": "skimage.color.rgb2gray",
        "weighted channels not summed": ["still three values per pixel", "H x W"],
        "cv2.cvtColor (uint8, rounded)": ["dtype uint8", "floats"],
        "no return statement": "return statement",
    },
    "check_image_bytes": {
        "ignores the dtype (1 byte per value)": "itemsize",
        "bits instead of bytes": "that is bits",
        "height x width only (no channels)": "ALL dimensions",
        "forgets count": "multiply by count",
        "4 bytes for every float": "float16 takes 2",
        "returns MiB": ["MiB, not bytes", "int"],
        "true division (a float)": ["float", "int"],
        "no return statement": "return statement",
    },
    "check_brighten": {
        "plain uint8 addition (wraps around)": ["wrapped around", "200 + 100 is 44"],
        "np.clip after a uint8 addition": ["too late", "np.clip"],
        "clips the top only": ["below 0 wrapped around", "Clip both ends"],
        "unsigned uint16 (negative amounts refused)": ["OverflowError", "signed type"],
        "not clipped, returned as int16": "clip to 0..255",
        "not converted back to uint8": ["dtype int16", ".astype(np.uint8)"],
        "changes the image in place": "changed the image it was given",
        "no return statement": "return statement",
    },
    "check_hue_mask": {
        "COLOR_BGR2HSV on an RGB image": "COLOR_RGB2HSV",
        "degrees not halved": "degrees / 2",
        "hue scaled to 0..255": "COLOR_RGB2HSV_FULL",
        "no wrap-around (cv2.inRange with low > high)": ["wraps around", "hue >= low OR hue <= high"],
        "wrap-around with & instead of |": ["wraps around", "&"],
        "saturation and value ignored": "saturation >= min_saturation",
        "one value per channel": "one value per channel",
        "no return statement": "return statement",
    },
    "check_channel_mean_std": {
        "mean of per-image stds": "mean of the per-image standard deviations",
        "std of per-image means": "spread of the per-image means",
        "uint8 squares (E[x^2] - E[x]^2)": ["uint8 values", "wraps around", "64"],
        "per-image statistics (wrong axes)": "one value per IMAGE",
        "N x H x W x C axes": ["channel axis is dim 1", "(0, 2, 3)"],
        "one value for all channels": "not one for all channels",
        "not divided by 255": "divide by 255",
        "variance instead of std": "square root",
        "no return statement": "return statement",
    },
    "check_resize": {
        "(height, width) passed to cv2.resize": "you swapped them",
        "INTER_LINEAR for shrinking": ["INTER_LINEAR looks at only a few", "INTER_AREA"],
        "INTER_NEAREST for shrinking": ["aliasing", "INTER_AREA"],
        "INTER_CUBIC for everything": ["INTER_CUBIC looks at only a few", "INTER_AREA"],
        "INTER_AREA for enlarging too": ["made for shrinking", "INTER_CUBIC"],
        "INTER_NEAREST for enlarging": ["blocky", "INTER_LINEAR"],
        "skimage.transform.resize (floats)": ["dtype float64", "uint8"],
        "no return statement": "return statement",
    },
    "check_find_duplicates": {
        "sum of the pixels as fingerprint": ["flipped copy", "tobytes"],
        "hash without the shape": ["different shapes", "image.shape"],
        "keeps single images": "groups of 2 or more",
        "every pair instead of groups": "not every pair",
        "extra copies only (first one left out)": "first image of each group",
        "flat list of indices": "flat list",
        "no return statement": "return statement",
    },
}


# ---------------------------------------------------------------- right answers (as a student would write them)
def bgr_to_rgb(image):
    return image[..., ::-1]


def to_gray(rgb):
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def image_bytes(shape, dtype, count=1):
    return int(np.prod(shape)) * np.dtype(dtype).itemsize * count


def brighten(image, amount):
    return np.clip(image.astype(np.int16) + amount, 0, 255).astype(np.uint8)


def hue_mask(rgb, low, high, min_saturation=80, min_value=50):
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    lo, hi = low / 2, high / 2
    inside = (h >= lo) & (h <= hi) if lo <= hi else (h >= lo) | (h <= hi)
    return inside & (s >= min_saturation) & (v >= min_value)


def hue_mask_in_range(rgb, low, high, min_saturation=80, min_value=50):
    """With cv2.inRange (0/255 masks), two ranges when the hue wraps around."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    lo, hi = int(np.ceil(low / 2)), int(high // 2)
    if lo <= hi:
        return cv2.inRange(hsv, (lo, min_saturation, min_value), (hi, 255, 255))
    return cv2.inRange(hsv, (lo, min_saturation, min_value), (179, 255, 255)) | \
        cv2.inRange(hsv, (0, min_saturation, min_value), (hi, 255, 255))


def channel_mean_std(images):
    x = images.float() / 255
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))


def resize(image, width, height):
    shrink = width <= image.shape[1] and height <= image.shape[0]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def find_duplicates(images):
    groups = {}
    for i, image in enumerate(images):
        key = hashlib.sha256(str(image.shape).encode() + str(image.dtype).encode() + image.tobytes()).hexdigest()
        groups.setdefault(key, []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def channel_mean_std_numpy(images):
    """With NumPy: channels last, one row per pixel, population std (np.std's default)."""
    pixels = np.moveaxis(images.numpy() / 255, 1, -1).reshape(-1, images.shape[1])
    return pixels.mean(axis=0), pixels.std(axis=0)


def find_duplicates_by_comparing(images):
    """Slow but right: compare every pair (shape and pixels)."""
    groups = []
    for i, image in enumerate(images):
        if any(i in group for group in groups):
            continue
        same = [j for j in range(i, len(images)) if images[j].shape == image.shape and np.array_equal(images[j], image)]
        if len(same) > 1:
            groups.append(same)
    return groups


RIGHT_ANSWERS: dict[str, list[object]] = {
    "check_bgr_to_rgb": [bgr_to_rgb, lambda image: cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else image[..., ::-1],
                         lambda image: image[..., [2, 1, 0]]],
    "check_to_gray": [to_gray, lambda rgb: rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)],
    "check_image_bytes": [image_bytes, lambda shape, dtype, count=1: int(np.zeros(shape, dtype=dtype).nbytes) * count],
    "check_brighten": [brighten, lambda image, amount: np.clip(image.astype(float) + amount, 0, 255).astype(np.uint8)],
    "check_hue_mask": [hue_mask, hue_mask_in_range],
    "check_channel_mean_std": [channel_mean_std, channel_mean_std_numpy],
    "check_resize": [resize, lambda image, width, height: cv2.resize(
        image, (width, height), interpolation=cv2.INTER_AREA if width < image.shape[1] else cv2.INTER_LINEAR)],
    "check_find_duplicates": [find_duplicates, find_duplicates_by_comparing],
}


# ---------------------------------------------------------------- one wrong answer per classic bug
def _tuple_swap(image):
    image[..., 0], image[..., 2] = image[..., 2], image[..., 0]
    return image


def _swap_in_place(image):
    blue = image[..., 0].copy()
    image[..., 0] = image[..., 2]
    image[..., 2] = blue
    return image


def _weighted_not_summed(rgb):
    return rgb * np.array([0.299, 0.587, 0.114])


def _uint8_mean(rgb):
    return (rgb[..., 0] + rgb[..., 1] + rgb[..., 2]) / 3


def _bytes(itemsize=None, use_count=True, dims=None, scale=1):
    def image_bytes(shape, dtype, count=1):
        size = np.dtype(dtype).itemsize if itemsize is None else itemsize(np.dtype(dtype))
        values = int(np.prod(shape if dims is None else shape[:dims]))
        return values * size * (count if use_count else 1) * scale
    return image_bytes


def _hue(code=cv2.COLOR_RGB2HSV, scale=0.5, wrap="or", use_sv=True, per_channel=False):
    def hue_mask(rgb, low, high, min_saturation=80, min_value=50):
        hsv = cv2.cvtColor(rgb, code)
        h, s, v = hsv[..., 0].astype(float), hsv[..., 1], hsv[..., 2]
        lo, hi = low * scale, high * scale
        if lo <= hi:
            inside = (h >= lo) & (h <= hi)
        elif wrap == "or":
            inside = (h >= lo) | (h <= hi)
        elif wrap == "and":
            inside = (h >= lo) & (h <= hi)
        else:
            return cv2.inRange(hsv, (lo, min_saturation, min_value), (hi, 255, 255))
        mask = inside & (s >= min_saturation) & (v >= min_value) if use_sv else inside
        return np.repeat(mask[..., None], 3, axis=-1) if per_channel else mask
    return hue_mask


def _mean_std(mean_dims=(0, 2, 3), std=None, scale=255):
    def channel_mean_std(images):
        x = images.double() / scale
        return x.mean(dim=mean_dims), (x.std(dim=mean_dims) if std is None else std(images, x))
    return channel_mean_std


def _uint8_squares(images, x):
    mean = x.mean(dim=(0, 2, 3))
    return torch.sqrt((images ** 2).double().mean(dim=(0, 2, 3)) / 255**2 - mean**2)


def _cv2_resize(shrink_flag, enlarge_flag, swap=False):
    def resize(image, width, height):
        shrink = width <= image.shape[1] and height <= image.shape[0]
        size = (height, width) if swap else (width, height)
        return cv2.resize(image, size, interpolation=shrink_flag if shrink else enlarge_flag)
    return resize


def _skimage_resize(image, width, height):
    from skimage.transform import resize as sk_resize

    return sk_resize(image, (height, width) + image.shape[2:], anti_aliasing=True)


def _duplicates(key, min_size=2):
    def find_duplicates(images):
        groups = {}
        for i, image in enumerate(images):
            groups.setdefault(key(image), []).append(i)
        return [g for g in groups.values() if len(g) >= min_size]
    return find_duplicates


def _pairs(images):
    return [[g[i], g[j]] for g in find_duplicates(images) for i in range(len(g)) for j in range(i + 1, len(g))]


WRONG_ANSWERS: dict[tuple[str, str], object] = {
    ("check_bgr_to_rgb", "returns the image unchanged"): lambda image: image,
    ("check_bgr_to_rgb", "reverses the rows (image[::-1])"): lambda image: image[::-1],
    ("check_bgr_to_rgb", "reverses the second axis (image[:, ::-1])"): lambda image: image[:, ::-1],
    ("check_bgr_to_rgb", "image[:, :, ::-1] on a batch"): lambda image: image[:, :, ::-1],
    ("check_bgr_to_rgb", "swaps blue and green"): lambda image: image[..., [1, 0, 2]],
    ("check_bgr_to_rgb", "tuple swap of two views (both channels red)"): _tuple_swap,
    ("check_bgr_to_rgb", "swaps correctly but in place"): _swap_in_place,
    ("check_bgr_to_rgb", "converts to float"): lambda image: image[..., ::-1].astype(np.float64),
    ("check_bgr_to_rgb", "no return statement"): _no_return,

    ("check_to_gray", "plain mean of R, G, B"): lambda rgb: rgb.mean(axis=-1),
    ("check_to_gray", "R + G + B in uint8, divided by 3"): _uint8_mean,
    ("check_to_gray", "weights in BGR order"): lambda rgb: 0.114 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.299 * rgb[..., 2],
    ("check_to_gray", "weighted sum divided by 3"): lambda rgb: to_gray(rgb) / 3,
    ("check_to_gray", "divided by 255"): lambda rgb: to_gray(rgb) / 255,
    ("check_to_gray", "Rec. 709 weights (skimage)"): lambda rgb: rgb @ np.array([0.2125, 0.7154, 0.0721]),
    ("check_to_gray", "skimage.color.rgb2gray"): lambda rgb: __import__("skimage.color").color.rgb2gray(rgb),
    ("check_to_gray", "weighted channels not summed"): _weighted_not_summed,
    ("check_to_gray", "cv2.cvtColor (uint8, rounded)"): lambda rgb: cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY),
    ("check_to_gray", "no return statement"): _no_return,

    ("check_image_bytes", "ignores the dtype (1 byte per value)"): _bytes(itemsize=lambda dtype: 1),
    ("check_image_bytes", "bits instead of bytes"): _bytes(scale=8),
    ("check_image_bytes", "height x width only (no channels)"): _bytes(dims=2),
    ("check_image_bytes", "forgets count"): _bytes(use_count=False),
    ("check_image_bytes", "4 bytes for every float"): _bytes(itemsize=lambda dtype: 4 if dtype.kind == "f" else 1),
    ("check_image_bytes", "returns MiB"): lambda shape, dtype, count=1: image_bytes(shape, dtype, count) / 2**20,
    ("check_image_bytes", "true division (a float)"): lambda shape, dtype, count=1: np.prod(shape) * np.dtype(dtype).itemsize * count / 1,
    ("check_image_bytes", "no return statement"): _no_return,

    ("check_brighten", "plain uint8 addition (wraps around)"): lambda image, amount: image + np.uint8(amount % 256),
    ("check_brighten", "np.clip after a uint8 addition"): lambda image, amount: np.clip(image + np.uint8(amount % 256), 0, 255),
    ("check_brighten", "clips the top only"): lambda image, amount: np.minimum(image.astype(np.int16) + amount, 255).astype(np.uint8),
    ("check_brighten", "unsigned uint16 (negative amounts refused)"): lambda image, amount: np.clip(
        image.astype(np.uint16) + amount, 0, 255).astype(np.uint8),
    ("check_brighten", "not clipped, returned as int16"): lambda image, amount: image.astype(np.int16) + amount,
    ("check_brighten", "not converted back to uint8"): lambda image, amount: np.clip(image.astype(np.int16) + amount, 0, 255),
    ("check_brighten", "changes the image in place"): lambda image, amount: np.clip(
        image.astype(np.int16) + amount, 0, 255, out=image, casting="unsafe"),
    ("check_brighten", "no return statement"): _no_return,

    ("check_hue_mask", "COLOR_BGR2HSV on an RGB image"): _hue(code=cv2.COLOR_BGR2HSV),
    ("check_hue_mask", "degrees not halved"): _hue(scale=1.0),
    ("check_hue_mask", "hue scaled to 0..255"): _hue(scale=255 / 360),
    ("check_hue_mask", "no wrap-around (cv2.inRange with low > high)"): _hue(wrap="inRange"),
    ("check_hue_mask", "wrap-around with & instead of |"): _hue(wrap="and"),
    ("check_hue_mask", "saturation and value ignored"): _hue(use_sv=False),
    ("check_hue_mask", "one value per channel"): _hue(per_channel=True),
    ("check_hue_mask", "no return statement"): _no_return,

    ("check_channel_mean_std", "mean of per-image stds"): _mean_std(std=lambda images, x: x.std(dim=(2, 3)).mean(dim=0)),
    ("check_channel_mean_std", "std of per-image means"): _mean_std(std=lambda images, x: x.mean(dim=(2, 3)).std(dim=0)),
    ("check_channel_mean_std", "uint8 squares (E[x^2] - E[x]^2)"): _mean_std(std=_uint8_squares),
    ("check_channel_mean_std", "per-image statistics (wrong axes)"): _mean_std(mean_dims=(1, 2, 3)),
    ("check_channel_mean_std", "N x H x W x C axes"): _mean_std(mean_dims=(0, 1, 2)),
    ("check_channel_mean_std", "one value for all channels"): lambda images: ((images.double() / 255).mean(), (images.double() / 255).std()),
    ("check_channel_mean_std", "not divided by 255"): _mean_std(scale=1),
    ("check_channel_mean_std", "variance instead of std"): _mean_std(std=lambda images, x: x.var(dim=(0, 2, 3))),
    ("check_channel_mean_std", "no return statement"): _no_return,

    ("check_resize", "(height, width) passed to cv2.resize"): _cv2_resize(cv2.INTER_AREA, cv2.INTER_CUBIC, swap=True),
    ("check_resize", "INTER_LINEAR for shrinking"): _cv2_resize(cv2.INTER_LINEAR, cv2.INTER_LINEAR),
    ("check_resize", "INTER_NEAREST for shrinking"): _cv2_resize(cv2.INTER_NEAREST, cv2.INTER_CUBIC),
    ("check_resize", "INTER_CUBIC for everything"): _cv2_resize(cv2.INTER_CUBIC, cv2.INTER_CUBIC),
    ("check_resize", "INTER_AREA for enlarging too"): _cv2_resize(cv2.INTER_AREA, cv2.INTER_AREA),
    ("check_resize", "INTER_NEAREST for enlarging"): _cv2_resize(cv2.INTER_AREA, cv2.INTER_NEAREST),
    ("check_resize", "skimage.transform.resize (floats)"): _skimage_resize,
    ("check_resize", "no return statement"): _no_return,

    ("check_find_duplicates", "sum of the pixels as fingerprint"): _duplicates(lambda image: int(image.astype(np.int64).sum())),
    ("check_find_duplicates", "hash without the shape"): _duplicates(lambda image: hashlib.sha256(image.tobytes()).hexdigest()),
    ("check_find_duplicates", "keeps single images"): _duplicates(lambda image: (image.shape, image.tobytes()), min_size=1),
    ("check_find_duplicates", "every pair instead of groups"): _pairs,
    ("check_find_duplicates", "extra copies only (first one left out)"): lambda images: [g[1:] for g in find_duplicates(images)],
    ("check_find_duplicates", "flat list of indices"): lambda images: [i for g in find_duplicates(images) for i in g[1:]],
    ("check_find_duplicates", "no return statement"): _no_return,
}


# ---------------------------------------------------------------- tests
# the tests every lab's checks get (lab_test_kit.lab_tests), then this lab's own
globals().update(lab_tests(lab, CLASSIC_BUGS, RIGHT_ANSWERS, WRONG_ANSWERS, pass_line_names_the_check=True))
