"""Checks for lab 06, data augmentation on CIFAR-10 (``solutions/06_augmentation_lab.ipynb``).

The student's augmentations are random, so each check feeds images built to be read back: pixels that hold their
own coordinates (a crop's shift can be read off any pixel), images that are one-hot along the channels (a mixed
image says which two images were mixed and with which weight), constant images (a cutmix box shows where it was
pasted). The checks seed Python, NumPy and torch first (``seed_all``). A wrong answer gets the classic mistake
named: one coin for the whole batch, ``torch.roll``'s wrap-around, ``randint``'s exclusive end, ``[p:-p]`` with
``p = 0``, the box side without the square root, labels mixed with another λ or pairing than the images, ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from helpers.checks.core import (CheckFailed, call_on_copies, call_student, expect_close, expect_dtype,
                                 expect_evaluation_mode, expect_float, expect_floats, expect_int, expect_results,
                                 expect_shape, expect_tensor, expect_true, name_the_mistake, return_hint, run_cases,
                                 seed_all)

__all__ = ["check_normalize", "check_random_flip", "check_random_crop", "check_mixup", "check_cutmix_box",
           "check_cutmix", "check_shift_images", "check_accuracy_under_shift"]

CIFAR_MEAN = (0.4913, 0.4821, 0.4465)  # the values of helpers.data.CIFAR10_MEAN / _STD, repeated to stay standalone
CIFAR_STD = (0.2452, 0.2428, 0.2606)


# ---------------------------------------------------------------- 1. normalisation with the data set's statistics

def check_normalize(normalize: Callable[..., Any]) -> None:
    """Check ``normalize(images, mean, std)``: uint8 [N, C, H, W] -> float32 (images / 255 - mean[c]) / std[c]."""

    def case(shape: tuple[int, ...], mean: Sequence[float], std: Sequence[float], seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)
        images[:, :, 0, 0] = 255  # bright corners: the batch's own statistics differ from the data set's
        got = expect_tensor(call_on_copies(normalize, images, list(mean), list(std), hint="build a new tensor: "
                                           "images.float() / 255 makes a copy, nothing is written into images."),
                            "normalize's result", "return the normalised images as a tensor.")
        x = images.float() / 255
        m, s = (torch.tensor(v).view(1, -1, 1, 1) for v in (mean, std))
        expected = (x - m) / s
        expect_shape(got, tuple(expected.shape), "normalize's result")
        expect_dtype(got, torch.float32, "normalize's result", "the model's weights are float32: build mean and std with "
                     "torch.tensor(mean) (float32), not np.array (float64), and convert the images with .float()."
                     if got.is_floating_point() else "convert the uint8 images to floats first: images.float() / 255.")
        if torch.allclose(got, expected, atol=1e-4):
            return
        wrong = [
            (lambda: (images.float() - m) / s, "divide by 255 first: the data set's mean and std are for pixels "
                                               "in [0, 1] (images.float() / 255), not 0..255."),
            *[(lambda u=u: (x - x.mean(dim=(0, 2, 3), keepdim=True)) / x.std(dim=(0, 2, 3), keepdim=True, unbiased=u),
               "you used this batch's own mean and std. Use the data set's statistics that are passed in (computed "
               "once on the training set): a batch's statistics change from batch to batch, and at test time the "
               "images must be normalised exactly as in training.") for u in (True, False)],
            (lambda: (x - x.mean(dim=(2, 3), keepdim=True)) / x.std(dim=(2, 3), keepdim=True),
             "you normalised each image with its own statistics. Use the data set's mean and std that are passed in, "
             "the same numbers for every image."),
            (lambda: (x - x.mean()) / x.std(), "you used one mean and std over the whole batch: use the data set's "
                                               "statistics that are passed in, one per channel."),
            (lambda: (x - torch.tensor(mean)) / torch.tensor(std),
             "mean and std of shape [C] line up with the LAST axis (the width), not the channels: reshape them to "
             "[1, C, 1, 1], e.g. torch.tensor(mean).view(1, -1, 1, 1)."),
            (lambda: (x - s) / m, "mean and std are swapped: subtract the mean, divide by the std."),
            (lambda: (x - m) * s, "divide by the std instead of multiplying: (x - mean) / std."),
            (lambda: x / s - m, "subtract the mean before dividing: (x - mean) / std."),
        ]
        hint = name_the_mistake(got, wrong, atol=1e-3)
        expect_close(got, expected, "normalize's result", atol=1e-4,
                     hint=hint or "(images.float() / 255 - mean) / std, with mean and std shaped [1, C, 1, 1].")

    run_cases("normalize", {
        "CIFAR-10 statistics, images 3 pixels wide": lambda: case((2, 3, 4, 3), CIFAR_MEAN, CIFAR_STD, 1),
        "CIFAR-10 statistics, 6x5 images": lambda: case((4, 3, 6, 5), CIFAR_MEAN, CIFAR_STD, 0),
        "gray images, one channel": lambda: case((3, 1, 5, 5), (0.286,), (0.353,), 2),
    })


# ---------------------------------------------------------------- 2. random horizontal flip, one coin per image

_WRONG_FLIPS = {  # what an image came back as -> the hint
    "upside down": "left-right is the last axis (the width): images.flip(-1). flip(-2) turns images upside down, "
                   "which photos of cars and ships never are.",
    "channels reversed": "images.flip(1) reverses the colour channels (RGB becomes BGR): flip the last axis, the "
                         "width: images.flip(-1).",
    "rotated": "flip only the width (the last axis): flipping both height and width rotates the image by 180 degrees.",
}


def _flip_kind(out: torch.Tensor, image: torch.Tensor) -> str | None:
    for name, candidate in (("kept", image), ("mirrored", image.flip(-1)), ("upside down", image.flip(-2)),
                            ("channels reversed", image.flip(-3)), ("rotated", image.flip(-1).flip(-2))):
        if out.shape == candidate.shape and torch.equal(out, candidate):
            return name
    return None


def check_random_flip(random_flip: Callable[..., Any]) -> None:
    """Check ``random_flip(images, labels, p=0.5) -> (images, labels)``: each image mirrored left-right with
    probability p (its own coin), labels unchanged, the input left alone."""
    per_image = ("draw one coin per image: flip = torch.rand(len(images)) < p, then "
                 "torch.where(flip[:, None, None, None], images.flip(-1), images). A single torch.rand(1) flips the "
                 "whole batch or none of it, so the network sees batches that are all mirrored.")

    def call(images: torch.Tensor, labels: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
        result = call_on_copies(random_flip, images, labels, p, hint="build a new tensor (torch.where(...) or "
                                "images.clone()): images[flip] = images[flip].flip(-1) changes the caller's batch.")
        out, out_labels = expect_results(result, 2, "random_flip", "return images, labels (the labels unchanged).")
        out = expect_tensor(out, "the images random_flip returned")
        out_labels = expect_tensor(out_labels, "the labels random_flip returned", "return the labels tensor as it came in.")
        expect_shape(out, tuple(images.shape), "the flipped images")
        expect_dtype(out, images.dtype, "the flipped images", "flipping moves pixels: keep the dtype (uint8 stays uint8).")
        if not torch.equal(out_labels, labels):
            reversed_ = torch.equal(out_labels, labels.flip(0))
            raise CheckFailed("the labels came back in reverse order" if reversed_ else "the labels changed",
                              "return the labels exactly as they came in: a mirrored cat is a cat, and the labels' order "
                              "must still match the images.")
        return out, labels

    def one_call(p: float, seed: int) -> list[str | None]:
        seed_all(seed)
        images = torch.randint(0, 256, (200, 3, 5, 6), dtype=torch.uint8)
        labels = torch.randint(0, 10, (200,))
        out, _ = call(images, labels, p)
        if torch.equal(out, images.flip(0)):
            raise CheckFailed("the images came back in reverse order (the batch axis was flipped)",
                              "flip the width, the last axis: images.flip(-1). flip(0) reverses the order of the "
                              "images in the batch, so they no longer match their labels.")
        kinds = [_flip_kind(o, i) for o, i in zip(out, images)]
        for bad, hint in _WRONG_FLIPS.items():
            if bad in kinds:
                raise CheckFailed(f"some images came back {bad}", hint)
        expect_true(None not in kinds, "some images are neither the original nor its mirror image",
                    "each image is either returned as it is or mirrored left-right: images.flip(-1).")
        return kinds

    def half() -> None:
        kinds = one_call(0.5, 0)
        mirrored = kinds.count("mirrored")
        if mirrored in (0, len(kinds)):
            raise CheckFailed(f"all 200 images of the batch were {'mirrored' if mirrored else 'kept'}: one coin for "
                              "the whole batch", per_image)
        expect_true(60 <= mirrored <= 140, f"{mirrored} of 200 images were mirrored with p = 0.5",
                    "mirror each image with probability p: torch.rand(len(images)) < p.")
        expect_true(one_call(0.5, 1) != kinds, "two calls flipped exactly the same images",
                    "do not seed inside the function: draw new coins on every call.")

    def small_p() -> None:
        mirrored = one_call(0.2, 5).count("mirrored")
        if 120 <= mirrored <= 200:
            raise CheckFailed(f"{mirrored} of 200 images were mirrored with p = 0.2, expected about 40",
                              "p is the probability of FLIPPING an image: flip where torch.rand(n) < p.")
        expect_true(15 <= mirrored <= 70, f"{mirrored} of 200 images were mirrored with p = 0.2, expected about 40",
                    "use the p you are given: flip where torch.rand(len(images)) < p.")

    def certain() -> None:
        seed_all(6)
        images = torch.rand(8, 1, 4, 4)
        out, _ = call(images, torch.arange(8), 1.0)
        expect_true(torch.equal(out, images.flip(-1)), "with p = 1 not every image was mirrored",
                    "flip where torch.rand(n) < p (with p = 1 that is every image).")
        out, _ = call(images, torch.arange(8), 0.0)
        expect_true(torch.equal(out, images), "with p = 0 some images were mirrored", "flip where torch.rand(n) < p.")

    run_cases("random_flip", {"p = 0.5 on 200 uint8 images": half, "p = 0.2": small_p, "p = 1 and p = 0": certain})


# ---------------------------------------------------------------- 3. random crop with zero padding

def _coordinate_images(n: int, h: int, w: int) -> torch.Tensor:
    """Float images [n, 2, h, w] whose pixel (r, c) holds 100 * (r + 1) + (c + 1) in both channels (0 never occurs)."""
    grid = 100 * (torch.arange(h)[:, None] + 1) + torch.arange(w)[None, :] + 1
    return grid.float().expand(n, 2, h, w).clone()


def _shifted(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """The right answer of exercise 7: content moved dy px down and dx px right, zeros shifted in."""
    out = torch.zeros_like(images)
    h, w = images.shape[-2:]
    if abs(dy) < h and abs(dx) < w:
        out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            images[..., max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def _read_shift(out: torch.Tensor, h: int, w: int) -> tuple[int, int] | str:
    """The (dy, dx) by which a crop of a coordinate image moved its content, or what else happened to it."""
    if not torch.equal(out[0], out[1]):
        return "channels differ"
    image = out[0]
    rows, cols = torch.nonzero(image != 0, as_tuple=True)
    if len(rows) == 0:
        return "all zero"
    values = image[rows, cols].round().long()  # 100 * (source row + 1) + source column + 1
    dy, dx = (rows - values // 100 + 1).unique(), (cols - values % 100 + 1).unique()
    if len(dy) != 1 or len(dx) != 1:
        return "not a translation"
    dy, dx = int(dy), int(dx)
    return (dy, dx) if torch.equal(image, _shifted(_coordinate_images(1, h, w)[0, 0], dy, dx)) else "fill"


def check_random_crop(random_crop: Callable[..., Any]) -> None:
    """Check ``random_crop(images, padding)``: pad every side with ``padding`` zeros, cut a random H x W window per
    image, i.e. move each image by its own (dy, dx) in -padding..padding with black filled in."""

    def shifts(n: int, padding: int, h: int, w: int, seed: int, uint8: bool = False) -> list[tuple[int, int]]:
        seed_all(seed)
        images = _coordinate_images(n, h, w)
        if uint8:
            images = torch.randint(0, 256, (n, 2, h, w), dtype=torch.uint8)
        out = expect_tensor(call_on_copies(random_crop, images, padding, hint="build the result from a padded copy "
                                           "(torch.nn.functional.pad returns a new tensor)."),
                            "random_crop's result", "return the cropped batch.")
        if padding and tuple(out.shape) == (n, 2, h + 2 * padding, w + 2 * padding):
            raise CheckFailed(f"the result is {h + 2 * padding}x{w + 2 * padding}, the padded size",
                              f"after padding, cut out a window of the original size {h}x{w}: "
                              "padded[:, :, top:top + H, left:left + W].")
        if padding == 0 and out.numel() == 0:
            raise CheckFailed("with padding = 0 the result is empty",
                              "x[..., p:-p] with p = 0 is x[..., 0:0], an empty slice. Cut the window with "
                              "padded[..., top:top + H, left:left + W] instead; with padding 0 it returns the images.")
        expect_shape(out, (n, 2, h, w), f"random_crop's result for a {h}x{w} batch")
        if uint8:
            expect_dtype(out, torch.uint8, "random_crop's result for uint8 images",
                         "keep the dtype: pad with zeros of the same dtype (F.pad does) and cut a window.")
            return []
        read = [_read_shift(o, h, w) for o in out]
        if "channels differ" in read:
            raise CheckFailed("the two channels of an image were moved differently",
                              "draw one (dy, dx) per image and cut the same window from all of its channels.")
        if any(isinstance(r, str) for r in read):
            image, offsets = _coordinate_images(1, h, w), range(2 * padding + 1)
            rolled = [image[0, 0].roll((y - padding, x - padding), (0, 1)) for y in offsets for x in offsets]
            views = [nn.functional.pad(image, (padding,) * 4, mode=mode)[0, 0, y:y + h, x:x + w]
                     for mode in ("reflect", "replicate") if padding < min(h, w) for y in offsets for x in offsets]
            if any(torch.equal(o[0], view) for o in out[:20] for view in rolled):
                raise CheckFailed("pixels that leave one side come back on the other (torch.roll)",
                                  "torch.roll wraps around: pad with zeros first, then cut a window, so what is "
                                  "shifted in is black.")
            if "fill" in read or any(torch.equal(o[0], view) for o in out[:20] for view in views):
                raise CheckFailed("the pixels shifted in from outside the image are not zero",
                                  "pad with zeros: torch.nn.functional.pad(images, (p, p, p, p)) fills with 0 "
                                  "(black); reflect or replicate padding is another policy, not the one asked here.")
            raise CheckFailed("a crop is not the image moved as a whole", "cut one H x W window per image "
                              "out of the padded batch: padded[i, :, top:top + H, left:left + W].")
        return read

    def spread() -> None:
        read = shifts(500, 2, 6, 7, 0)
        dys, dxs = {dy for dy, _ in read}, {dx for _, dx in read}
        if len(set(read)) == 1:
            raise CheckFailed(f"all 500 images moved by the same (dy, dx) = {read[0]}: one draw for the whole batch",
                              "draw the offsets per image: top = torch.randint(0, 2 * p + 1, (n,)), and the same for left.")
        if all(dy == dx for dy, dx in read):
            raise CheckFailed("every image moved as far down as it moved right (dy == dx)",
                              "draw the vertical and the horizontal offset separately.")
        if dys <= {-2, -1, 0} or dys <= {0, 1, 2} or dxs <= {-2, -1, 0} or dxs <= {0, 1, 2}:
            raise CheckFailed(f"the images only moved by {sorted(dys)} vertically and {sorted(dxs)} horizontally "
                              "with padding 2, never the other way",
                              "the padded image is H + 2 * padding tall, so the window's top is 0 .. 2 * padding: "
                              "torch.randint(0, 2 * padding + 1, (n,)). Padding only p pixels in all (P instead of 2P) "
                              "or offsets 0 .. padding move the image one way only.")
        if dys == {-2, -1, 0, 1} or dys == {-1, 0, 1, 2} or dxs == {-2, -1, 0, 1} or dxs == {-1, 0, 1, 2}:
            raise CheckFailed(f"with padding 2 the shifts were {sorted(dys)} (vertical) and {sorted(dxs)} "
                              "(horizontal): one of -2 or 2 never occurs",
                              "torch.randint's upper end is exclusive: torch.randint(0, 2 * padding + 1, ...) gives "
                              "0 .. 2 * padding.")
        expect_true(dys == dxs == set(range(-2, 3)),
                    f"with padding 2 the shifts were {sorted(dys)} (vertical) and {sorted(dxs)} (horizontal)",
                    "every shift from -padding to padding should be possible: top and left in 0 .. 2 * padding.")
        expect_true(shifts(500, 2, 6, 7, 1) != read, "two calls moved every image in the same way",
                    "do not seed inside the function: draw new offsets on every call.")

    run_cases("random_crop", {
        "padding 2 on 500 images 6x7": spread,
        "padding 0 returns the images": lambda: shifts(4, 0, 5, 5, 2),
        "a uint8 batch stays uint8": lambda: shifts(4, 3, 8, 8, 3, uint8=True),
        "padding 4, 32x32 (CIFAR-10's setting)": lambda: shifts(64, 4, 32, 32, 4),
    })


# ---------------------------------------------------------------- 4. mixup by hand

def _mix(fn: Callable[..., Any], name: str, images: torch.Tensor, labels: torch.Tensor, classes: int, alpha: float,
         copy_hint: str, labels_hint: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Call the student's mixup or cutmix on a copy of ``images``: (mixed images, soft labels as float64), after the
    checks both share (two results, the input untouched, the shapes, soft float labels)."""
    result = call_on_copies(fn, images, labels, alpha, classes, hint=copy_hint)
    if isinstance(result, (tuple, list)) and len(result) == 4:
        raise CheckFailed(f"{name} returned four things (images, labels, partner labels, λ?)",
                          "return two: the mixed images and the mixed labels as one soft-label tensor [N, num_classes] "
                          "(each row: how much of each class the image holds). fit and CrossEntropyLoss take such "
                          "soft labels directly.")
    mixed, soft = expect_results(result, 2, name, "return mixed_images, mixed_labels.")
    mixed = expect_tensor(mixed, f"the images {name} returned")
    soft = expect_tensor(soft, f"the labels {name} returned", "return the labels as a float tensor [N, num_classes].")
    expect_shape(mixed, tuple(images.shape), f"the images {name} returned")
    if soft.shape == (len(images),):
        raise CheckFailed("the labels came back as one class per image", labels_hint)
    expect_shape(soft, (len(images), classes), f"the labels {name} returned", "one column per class: [N, num_classes].")
    expect_floats(soft, f"the labels {name} returned", "mix one-hot labels as floats: one_hot(...).float().")
    return mixed.detach(), soft.detach().double()


def _expect_permutation(partner: torch.Tensor) -> None:
    if len(set(partner.tolist())) < len(partner):
        raise CheckFailed("some images are the partner of several images and others of none",
                          "draw the partners as a permutation, perm = torch.randperm(n): every image is used exactly "
                          "once. torch.randint(n, (n,)) can pick the same image twice.")


def _label_mixtures(labels: torch.Tensor, partner: torch.Tensor, own: float, classes: int) -> tuple[torch.Tensor, ...]:
    """The right soft labels (``own`` for the image's class, the rest for its partner's), the same with the weights
    swapped, and the labels left unmixed."""
    mine, theirs = (nn.functional.one_hot(x, classes).double() for x in (labels, labels[partner]))
    return own * mine + (1 - own) * theirs, (1 - own) * mine + own * theirs, mine


def _one_hot_images(n: int) -> torch.Tensor:
    """Images [n, n, 2, 2]: image k is 1 in channel k and 0 elsewhere, so a mixture shows which images it mixes."""
    return torch.eye(n)[:, :, None, None].expand(n, n, 2, 2).clone()


def _read_mixture(mixed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(weight of the image itself, partner) per mixed one-hot image, or None if they are not two-image mixtures."""
    n = len(mixed)
    if mixed.shape[1:] != (n, 2, 2) or not torch.allclose(mixed, mixed[:, :, :1, :1].expand_as(mixed), atol=1e-6):
        return None
    weights = mixed[:, :, 0, 0].double()
    if ((weights < -1e-6).any() or ((weights > 1e-6).sum(1) > 2).any()
            or not torch.allclose(weights.sum(1), torch.ones(n, dtype=torch.double), atol=1e-5)):
        return None
    own = weights.diagonal()
    partner = torch.where(own > 1 - 1e-6, torch.arange(n), (weights - 2 * torch.eye(n, dtype=torch.double)).argmax(1))
    return own, partner


def check_mixup(mixup: Callable[..., Any]) -> None:
    """Check ``mixup(images, labels, alpha, num_classes) -> (images, soft labels)``: one λ ~ Beta(alpha, alpha) per
    batch, a random permutation as partners, images and labels mixed with the same λ and the same pairs."""
    n, classes = 64, 10
    labels = torch.arange(n) % classes

    def call(alpha: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        seed_all(seed)
        return _mix(mixup, "mixup", _one_hot_images(n), labels, classes, alpha,
                    "compute lam * images + (1 - lam) * images[perm] into a new tensor.",
                    "mix the labels too: one_hot(labels, num_classes).float() mixed with the same lam and perm as the "
                    "images gives soft labels [N, num_classes].")

    def lambdas(alpha: float, calls: int, seed: int) -> list[float]:
        values, unmixed = [], 0
        for i in range(calls):
            mixed, soft = call(alpha, seed + i)
            read = _read_mixture(mixed)
            if read is None:
                raise CheckFailed("a mixed image is not lam * image + (1 - lam) * one other image",
                                  "mixed = lam * images + (1 - lam) * images[perm], with one lam for the batch.")
            own, partner = read
            if torch.equal(partner, torch.arange(n)):  # nothing mixed (or lam within 1e-6 of 1: Beta(0.2, 0.2) does that)
                unmixed += 1
                values.append(float(own.mean()))
                continue
            lam = own[partner != torch.arange(n)]
            if (lam.max() - lam.min()) > 1e-5:
                raise CheckFailed("the images of one batch were mixed with different weights",
                                  "draw one lam per batch, as the mixup paper and v2.MixUp do.")
            _expect_permutation(partner)
            lam = float(lam[0])
            expected, swapped, one_hot = _label_mixtures(labels, partner, lam, classes)
            if not torch.allclose(soft, expected, atol=1e-4):
                hint = name_the_mistake(soft, [
                    (swapped, "the labels are mixed the other way round: the image keeps lam of itself, so its own "
                              "label gets lam and the partner's label 1 - lam."),
                    (one_hot, "the labels were not mixed: each row is the one-hot label of the image itself. Mix it "
                              "with the partner's label using the same lam."),
                ])
                if hint is None and torch.allclose(soft.sum(1), torch.ones(n, dtype=torch.double), atol=1e-4):
                    hint = ("the labels were mixed with another lam or other partners than the images: draw lam and "
                            "perm once and use both for the images and the labels.")
                raise CheckFailed("the mixed labels do not match the mixed images", hint or
                                  "mixed labels = lam * one_hot(labels) + (1 - lam) * one_hot(labels[perm]).")
            values.append(lam)
        if unmixed == calls:
            raise CheckFailed("every image was mixed with itself, so nothing changed",
                              "mix each image with a partner from the batch: images[perm] with "
                              "perm = torch.randperm(len(images)).")
        return values

    def distribution(alpha: float, seed: int) -> None:
        from scipy import stats  # imported here: only this check needs it

        values = lambdas(alpha, 150, seed)
        if max(values) - min(values) < 1e-9:
            raise CheckFailed(f"lam was {values[0]:.3f} in every call", "draw a new lam ~ Beta(alpha, alpha) on every "
                              "call: np.random.beta(alpha, alpha) or torch.distributions.Beta(alpha, alpha).sample().")
        p_value = stats.kstest(values, "beta", args=(alpha, alpha)).pvalue
        if p_value < 1e-5:
            uniform = stats.kstest(values, "uniform").pvalue
            hint = ("lam looks uniformly distributed: draw it from Beta(alpha, alpha) (np.random.beta(alpha, alpha)); "
                    "with alpha = 0.2 most lam are close to 0 or 1, so a mixed image stays close to one of the two."
                    if uniform > 1e-3 else
                    f"draw lam from Beta(alpha, alpha) with the alpha you are given ({alpha}): "
                    "np.random.beta(alpha, alpha) or torch.distributions.Beta(alpha, alpha).sample().")
            raise CheckFailed(f"150 values of lam do not follow Beta({alpha}, {alpha}) (Kolmogorov-Smirnov p = "
                              f"{p_value:.1g}; mean distance from 0.5 is {np.mean(np.abs(np.array(values) - 0.5)):.2f})", hint)

    def new_pairs() -> None:
        firsts = [_read_mixture(call(1.0, seed)[0]) for seed in (100, 101, 102)]
        partners = [tuple(r[1].tolist()) for r in firsts if r is not None]
        expect_true(len(set(partners)) > 1, "every call paired the images in exactly the same way",
                    "draw a new random permutation on every call (torch.randperm(n)), not a fixed pairing such as "
                    "images.flip(0), and do not seed inside the function.")

    run_cases("mixup", {
        "alpha = 0.2 (150 batches)": lambda: distribution(0.2, 0),
        "alpha = 1.0 (150 batches)": lambda: distribution(1.0, 1000),
        "a new pairing on every call": new_pairs,
    })


# ---------------------------------------------------------------- 5. the cutmix box and its area

def _box(result: Any, lam: float, h: int, w: int) -> tuple[int, int, int, int]:
    box = expect_results(result, 4, f"cutmix_box({lam}, {h}, {w})", "return four whole numbers: top, bottom, left, right.")
    top, bottom, left, right = (expect_int(v, f"the box's {name}", "return whole pixel positions (int(...)).")
                                for v, name in zip(box, ("top", "bottom", "left", "right")))
    if not (0 <= top <= bottom <= h and 0 <= left <= right <= w):
        hint = ("return (top, bottom, left, right) with top <= bottom and left <= right." if top > bottom or left > right
                else "clip the box to the image: top = max(cy - bh // 2, 0), bottom = min(cy + bh // 2, H), and the "
                     "same for left/right with W.")
        raise CheckFailed(f"cutmix_box({lam}, {h}, {w}) gave (top={top}, bottom={bottom}, left={left}, right={right}), "
                          f"which is not inside a {h}x{w} image", hint)
    return top, bottom, left, right


def check_cutmix_box(cutmix_box: Callable[..., Any]) -> None:
    """Check ``cutmix_box(lam, height, width) -> (top, bottom, left, right)``: a box of sides sqrt(1 - lam) * H and
    sqrt(1 - lam) * W (area (1 - lam) * H * W) centred on a uniformly random pixel, clipped to the image."""

    def boxes(lam: float, h: int, w: int, seed: int, count: int = 300) -> list[tuple[int, int, int, int]]:
        seed_all(seed)
        return [_box(call_student(cutmix_box, lam, h, w), lam, h, w) for _ in range(count)]

    def sides(lam: float, h: int, w: int, seed: int) -> None:
        found = boxes(lam, h, w, seed)
        expect_true(len({(t, l) for t, _, l, _ in found}) > 3, "the box is always in the same place",
                    "draw a new random centre on every call: cy in 0..H-1 and cx in 0..W-1.")
        tallest, widest = max(b - t for t, b, _, _ in found), max(r - l for _, _, l, r in found)
        for got, side, size in ((tallest, "height", h), (widest, "width", w)):
            want = np.sqrt(1 - lam) * size
            if abs(got - want) <= 2:
                continue
            other = w if side == "height" else h
            hint = name_the_mistake(got, [
                (round((1 - lam) * size), "each side must be sqrt(1 - lam) times the image's side, so that the AREA "
                                          "is (1 - lam) * H * W; (1 - lam) * H by (1 - lam) * W has area (1 - lam)^2 * H * W."),
                (round(np.sqrt(lam) * size), "the box is the part that comes from the OTHER image: its area is "
                                             "(1 - lam) * H * W, so its sides are sqrt(1 - lam) * H and sqrt(1 - lam) * W."),
                (min(size, round(np.sqrt(1 - lam) * other)), "the box's height comes from the image's height and its "
                                                             "width from its width: you mixed up H and W."),
            ], atol=2.5)
            raise CheckFailed(f"for lam = {lam} on a {h}x{w} image the box is at most {got} pixels in {side}, expected "
                              f"about {want:.1f} = sqrt(1 - lam) * {size}", hint or
                              "box height = int(H * sqrt(1 - lam)), width = int(W * sqrt(1 - lam)).")
        clipped = sum(1 for t, b, l, r in found if t == 0 or b == h or l == 0 or r == w)
        expect_true(clipped > len(found) // 3, f"only {clipped} of {len(found)} boxes touch the border",
                    "draw the centre anywhere in the image (cy = random in 0..H-1, cx in 0..W-1) and clip the box at "
                    "the border, as the CutMix paper does; a box kept inside the image pastes the border less often.")

    def nothing() -> None:
        for t, b, l, r in boxes(1.0, 16, 16, 7, count=20):
            if (b - t) * (r - l) != 0:
                raise CheckFailed(f"for lam = 1 the box is {b - t}x{r - l}, expected empty",
                                  "lam = 1 keeps all of the original image: the box's sides are sqrt(1 - lam) * H = 0.")

    run_cases("cutmix_box", {
        "lam = 0.75 on 32x32": lambda: sides(0.75, 32, 32, 0),
        "lam = 0.5 on a 24x40 image": lambda: sides(0.5, 24, 40, 1),
        "lam = 0.9 on 28x28": lambda: sides(0.9, 28, 28, 2),
        "lam = 1: nothing pasted": nothing,
    })


# ---------------------------------------------------------------- 6. cutmix: the labels follow the box's real area

def check_cutmix(cutmix: Callable[..., Any]) -> None:
    """Check ``cutmix(images, labels, alpha, num_classes) -> (images, soft labels)``: one box per batch pasted from a
    randomly permuted partner, labels weighted by the share of pixels each image really has after clipping."""
    n, classes, h, w = 32, 10, 12, 16
    labels = torch.arange(n) % classes

    def call(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        seed_all(seed)
        images = (torch.arange(n, dtype=torch.float32) + 1)[:, None, None, None].expand(n, 3, h, w).clone()
        return _mix(cutmix, "cutmix", images, labels, classes, 1.0,
                    "paste into a copy: out = images.clone(), then out[:, :, top:bottom, left:right] = "
                    "images[perm, :, top:bottom, left:right].",
                    "mix the labels by area: (1 - share) * one_hot(labels) + share * one_hot(labels[perm]), "
                    "share = box area / (H * W).")

    def read(mixed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The pasted region (a mask shared by the batch) and each image's partner."""
        source = mixed[:, 0].round().long() - 1
        if not torch.equal(mixed, mixed[:, :1].expand_as(mixed)):
            raise CheckFailed("the channels of an image were mixed differently", "paste the same box in all channels.")
        own = torch.arange(n)[:, None, None]
        pasted = source != own
        partner = torch.full((n,), -1)
        for k in range(n):
            others = source[k][pasted[k]].unique()
            if len(others) > 1:
                raise CheckFailed("one image got pixels from several other images", "paste from one partner per image: "
                                  "images[perm], perm = torch.randperm(n).")
            partner[k] = int(others[0]) if len(others) else k
        return pasted, partner, source

    def one_batch(seed: int) -> tuple[float, bool]:
        mixed, soft = call(seed)
        pasted, partner, _ = read(mixed)
        moved = partner != torch.arange(n)
        if not moved.any():
            return -1.0, False
        masks = pasted[moved]
        union = masks.any(0)
        rows, cols = torch.nonzero(union, as_tuple=True)
        top, bottom, left, right = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
        box = torch.zeros(h, w, dtype=torch.bool)
        box[top:bottom, left:right] = True
        if not torch.equal(union, box) or not all(torch.equal(m, box) for m in masks):
            raise CheckFailed("the pasted region is not one rectangle shared by the whole batch",
                              "draw one box per batch (like v2.CutMix) and paste out[:, :, top:bottom, left:right] = "
                              "images[perm, :, top:bottom, left:right]; check that you did not swap height and width.")
        _expect_permutation(partner)
        share = (bottom - top) * (right - left) / (h * w)
        expected, swapped, unmixed = _label_mixtures(labels, partner, 1 - share, classes)
        if not torch.allclose(soft, expected, atol=1e-4):
            k = torch.nonzero(labels != labels[partner]).flatten()  # images whose partner has another class
            other_share = float(soft[k[0], labels[partner[k[0]]]]) if len(k) else None
            hint = name_the_mistake(soft, [
                (swapped, "the weights are the wrong way round: the box (share = box area / (H * W)) comes from the "
                          "partner, so the partner's label gets share and the image's own label 1 - share."),
                (unmixed, "the labels were not mixed: give the partner's label the share of pixels it pasted."),
            ])
            if hint is None and other_share is not None and abs(other_share - share) > 1e-3:
                clipped = top == 0 or left == 0 or bottom == h or right == w
                hint = (f"the pasted box covers {share:.3f} of the image{' (it was clipped at the border)' if clipped else ''}, "
                        f"but the partner's label got {other_share:.3f}. After rounding and clipping the box is not "
                        "(1 - lam) of the image: recompute lam from the box you really pasted, "
                        "lam = 1 - (bottom - top) * (right - left) / (H * W).")
            raise CheckFailed("the cutmix labels do not match the pixels", hint or
                              "labels = (1 - share) * one_hot(labels) + share * one_hot(labels[perm]), share = box area / (H * W).")
        return share, top == 0 or left == 0 or bottom == h or right == w

    def batches() -> None:
        results = [one_batch(seed) for seed in range(40)]
        pasted = [share for share, _ in results if share >= 0]
        if not pasted:
            raise CheckFailed("no pixels were pasted in 40 batches", "paste the box from the partners: "
                              "out[:, :, top:bottom, left:right] = images[perm, :, top:bottom, left:right].")
        expect_true(any(clipped for _, clipped in results), "no box in 40 batches touched the border",
                    "use your cutmix_box: its centre is anywhere in the image, so boxes are often clipped.")
        expect_true(len({round(s, 6) for s in pasted}) > 3, "the box had the same size in every batch",
                    "draw a new lam ~ Beta(alpha, alpha) for every batch.")

    run_cases("cutmix", {"40 batches of 32 constant 12x16 images": batches})


# ---------------------------------------------------------------- 7. shifting images by whole pixels

def check_shift_images(shift_images: Callable[..., Any]) -> None:
    """Check ``shift_images(images, dy, dx)``: content moved dy pixels down and dx right (negative: up/left), the
    uncovered pixels black (0), shape and dtype kept, the input left alone."""
    zero_slice = ("with a shift of 0, a slice like images[..., :-dx] is images[..., :0], which is empty: write the end "
                  "as W - dx (or handle 0 on its own).")

    def case(dy: int, dx: int, shape: tuple[int, ...] = (3, 2, 6, 9)) -> None:
        generator = torch.Generator().manual_seed(dy * 31 + dx)
        images = torch.randint(1, 256, shape, dtype=torch.uint8, generator=generator)
        text = f"shift_images(images, dy={dy}, dx={dx})"
        try:
            result = call_on_copies(shift_images, images, dy, dx, hint="write into a new tensor: out = "
                                    "torch.zeros_like(images), then copy the part that stays visible.")
        except CheckFailed as err:
            if dy == 0 or dx == 0:
                raise CheckFailed(err.message, f"{zero_slice} Otherwise read the traceback above.") from err
            raise
        got = expect_tensor(result, text, "return the shifted images.")
        expected = _shifted(images, dy, dx)
        if (dy == 0 or dx == 0) and got.numel() == 0:
            raise CheckFailed(f"{text} is empty", zero_slice)
        expect_shape(got, tuple(images.shape), text)
        expect_dtype(got, images.dtype, text, "keep the dtype: torch.zeros_like(images) is uint8 for uint8 images.")
        if torch.equal(got, expected):
            return
        hint = name_the_mistake(got, [
            (lambda: images.roll((dy, dx), dims=(-2, -1)),
             "torch.roll wraps around: what leaves one side comes back on the other. Fill the uncovered pixels "
             "with 0 (black) instead, like a camera that moved."),
            (lambda: _shifted(images, -dy, -dx), "the image moved the wrong way: a positive dx moves the content "
                                                  "to the right (and a positive dy down)."),
            (lambda: _shifted(images, dx, dy), "dy moves along the height (axis -2), dx along the width (axis -1): "
                                                "you swapped them."),
            (lambda: _shifted(images, 0, dx), "the vertical shift dy was left out."),
            (lambda: _shifted(images, dy, 0), "the horizontal shift dx was left out."),
        ])
        if hint is None and bool((expected[got != expected] == 0).all()):
            hint = "the uncovered pixels must be 0 (black), not a copy of the edge or anything else."
        raise CheckFailed(f"{text} is not the images moved {dy} px down and {dx} px right with black filled in",
                          hint or "out[..., dy:, dx:] = images[..., :H - dy, :W - dx] for positive shifts "
                                  "(and the mirror image of that for negative ones), zeros elsewhere.")

    run_cases("shift_images", {
        "3 px right": lambda: case(0, 3),
        "2 px down, 4 px left": lambda: case(2, -4),
        "1 px up": lambda: case(-1, 0),
        "no shift": lambda: case(0, 0),
        "as far as the image is wide": lambda: case(0, 9),
        "5 px down, 5 px right, 3 channels 32x32": lambda: case(5, 5, (2, 3, 32, 32)),
    })


# ---------------------------------------------------------------- 8. accuracy on shifted test images

class _BlackColumnCounter(nn.Module):
    """Predicts, for each image, how many of its leftmost columns are black (the data set's black after
    normalising, -mean / std), up to 9; in training mode it guesses at random. Records how it was called."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.black = -mean / std
        self.scale = nn.Parameter(torch.ones(()))
        self.calls: list[dict[str, Any]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append({"training": self.training, "grad": torch.is_grad_enabled(), "n": len(x)})
        black_columns = (x - self.black).abs().amax(dim=(1, 2)) < 1e-3  # [N, W]
        count = torch.cumprod(black_columns.long(), dim=1).sum(dim=1).clamp(max=9)
        logits = nn.functional.one_hot(count, 10).float() * self.scale
        if self.training:
            logits = logits + torch.randn_like(logits) * 5
        return logits


def check_accuracy_under_shift(accuracy_under_shift: Callable[..., Any]) -> None:
    """Check ``accuracy_under_shift(model, images, labels, shifts, mean, std, batch_size)``: for each shift, the
    fraction of images classified correctly after moving them ``shift`` px right (black filled in) and then
    normalising; eval mode, no autograd, counted over images. It uses your shift_images and normalize."""
    mean, std = (0.3,), (0.2,)

    def case(classes: list[int], batch_size: int, shifts: list[int]) -> None:
        seed_all(0)
        n = len(classes)
        images = torch.randint(60, 256, (n, 1, 6, 12), dtype=torch.uint8)
        labels = torch.tensor(classes)
        model = _BlackColumnCounter(mean[0], std[0]).train()
        result = call_on_copies(accuracy_under_shift, model, images, labels, list(shifts), list(mean), list(std),
                                batch_size)
        result = [result.get(s) for s in shifts] if isinstance(result, dict) else \
            result.tolist() if isinstance(result, torch.Tensor) else result
        if not isinstance(result, (list, tuple)) or len(result) != len(shifts):
            raise CheckFailed(f"accuracy_under_shift returned {type(result).__name__}, expected a list of "
                              f"{len(shifts)} accuracies (one per shift)",
                              return_hint(result, "return [accuracy for shift 0, accuracy for shift 1, ...]."))
        got = [expect_float(v, f"the accuracy for shift {s}") for v, s in zip(result, shifts)]
        expect_evaluation_mode(model.calls)
        expect_true(max(c["n"] for c in model.calls) <= batch_size,
                    f"the model got {max(c['n'] for c in model.calls)} images at once, more than batch_size={batch_size}",
                    "evaluate in batches of batch_size images: a whole test set at once can run out of memory.")
        predictions = {s: min(s, 9) for s in shifts}
        expected = [float((labels == predictions[s]).double().mean()) for s in shifts]
        if np.allclose(got, expected, atol=1e-6):
            return
        batch_mean = [float(np.mean([(labels[i:i + batch_size] == predictions[s]).double().mean().item()
                                     for i in range(0, n, batch_size)])) for s in shifts]
        hint = name_the_mistake(got, [
            ([100 * e for e in expected], "those are percentages: return fractions (0.25, not 25)."),
            ([float((labels == 0).double().mean())] * len(shifts),
             "the shifted-in pixels are not black after normalising: shift the uint8 images first, then "
             "normalise. Zeros filled in after normalising are the data set's mean colour, not black."),
            (batch_mean, "you averaged the per-batch accuracies, but the last batch is smaller: count the correct "
                         "images over all batches and divide by the number of images."),
            ([expected[0]] * len(shifts), "every shift gave the accuracy of the first: shift the images by each "
                                          "shift in turn (shift_images(images, 0, shift))."),
        ], atol=1e-6)
        raise CheckFailed(f"accuracies {[round(v, 4) for v in got]} for shifts {shifts}, expected "
                          f"{[round(v, 4) for v in expected]}", hint or
                          "for each shift: shift_images(images, 0, shift), normalize(...), predict batch by batch "
                          "under model.eval() and torch.inference_mode(), count correct / number of images. "
                          "(This uses your shift_images and normalize: make their checks pass first.)")

    run_cases("accuracy_under_shift", {
        "10 images in batches of 4, shifts 1, 2, 3, 0": lambda: case([0, 1, 1, 2, 2, 2, 3, 3, 3, 3], 4, [1, 2, 3, 0]),
        "20 images in batches of 8, shifts 8 and 2": lambda: case([8] * 5 + [2] * 3 + [0] * 2 + [5] * 10, 8, [8, 2]),
    })
