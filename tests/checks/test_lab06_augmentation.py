"""Lab 06 checks (helpers/checks/lab06_augmentation.py): right answers pass, every classic bug fails with its hint."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from torch.nn import functional as F
from torchvision.transforms import v2

from helpers import augment
from lab_test_kit import lab_tests, no_return as _no_return  # tests/checks/lab_test_kit.py
from helpers.checks import lab06_augmentation as lab
from helpers.checks.core import seed_all

# ---------------------------------------------------------------- the classic bugs of each exercise
# check -> {classic bug: fragment(s) its failure message or hint must contain}. Each bug has a wrong answer in
# WRONG_ANSWERS below; the tests at the bottom feed every one of them to its check.
CLASSIC_BUGS: dict[str, dict[str, str | list[str]]] = {
    "check_normalize": {
        "pixels not divided by 255": "divide by 255",
        "the batch's own mean and std": "this batch's own mean and std",
        "each image's own mean and std": "each image with its own statistics",
        "one mean and std for all channels of the batch": "one mean and std over the whole batch",
        "mean and std of shape [C] line up with the width": ["LAST axis", "view(1, -1, 1, 1)"],
        "mean and std swapped": "swapped",
        "multiplied by the std": "divide by the std",
        "float64 constants (NumPy)": ["float64", "np.array"],
        "no return statement": "return statement",
    },
    "check_random_flip": {
        "one coin for the whole batch": ["one coin for the whole batch", "one coin per image"],
        "vertical flip": ["upside down", "flip(-1)"],
        "colour channels reversed": ["BGR", "flip(-1)"],
        "order of the batch reversed": ["batch axis", "flip(-1)"],
        "labels reversed as well": "labels came back in reverse order",
        "p used as the probability of keeping": "FLIPPING",
        "flips the caller's batch in place": "in place",
        "seeded inside the function": "new coins",
        "returns only the images": ["two results", "return images, labels"],
        "no return statement": "return statement",
    },
    "check_random_crop": {
        "one offset for the whole batch": ["one draw for the whole batch", "per image"],
        "the same offset down and right": "separately",
        "offsets 0..padding (P instead of 2P)": ["never the other way", "2 * padding + 1"],
        "randint's upper end taken as inclusive": ["never occurs", "exclusive"],
        "torch.roll instead of padding": ["torch.roll", "wraps around"],
        "reflect padding instead of zeros": "pad with zeros",
        "returns the padded batch": "the padded size",
        "x[p:-p] with p = 0": ["empty", "p = 0"],
        "each channel cropped on its own": "moved differently",
        "uint8 turned into floats": ["dtype", "uint8"],
        "seeded inside the function": "new offsets",
        "no return statement": "return statement",
    },
    "check_mixup": {
        "lam drawn uniformly": ["Beta(0.2, 0.2)", "uniformly distributed"],
        "lam fixed to alpha": "in every call",
        "alpha ignored (always 0.2)": ["Beta(1.0, 1.0)", "the alpha you are given"],
        "labels mixed the other way round": "other way round",
        "labels left as one-hot": "labels were not mixed",
        "labels left as class indices": "one class per image",
        "another lam for the labels": "another lam or other partners",
        "another permutation for the labels": "another lam or other partners",
        "partners drawn with randint": ["permutation", "randperm"],
        "one lam per image": ["different weights", "one lam per batch"],
        "each image mixed with itself": "mixed with itself",
        "a fixed pairing (flip of the batch)": "exactly the same way",
        "returns the four values of the lecture's snippet": "four things",
        "mixes the caller's batch in place": "in place",
        "no return statement": "return statement",
    },
    "check_cutmix_box": {
        "sides (1 - lam) instead of sqrt(1 - lam)": ["(1 - lam)^2", "AREA"],
        "sides sqrt(lam): the box is the kept part": "OTHER image",
        "height and width mixed up": "mixed up H and W",
        "box always inside the image": "touch the border",
        "centre fixed in the corner": "same place",
        "no clipping at the border": ["clip the box", "not inside"],
        "float positions": ["int", "whole"],
        "no return statement": "return statement",
    },
    "check_cutmix": {
        "labels from the drawn lam, not the pasted box": ["recompute lam", "box you really pasted"],
        "label weights the wrong way round": "wrong way round",
        "labels left as one-hot": "labels were not mixed",
        "labels left as class indices": "one class per image",
        "one box per image": "shared by the whole batch",
        "pasted from the image itself (no partner)": "no pixels were pasted",
        "partners drawn with randint": ["permutation", "randperm"],
        "pastes into the caller's batch": "in place",
        "no return statement": "return statement",
    },
    "check_shift_images": {
        "torch.roll wraps around": ["wraps around", "black"],
        "moves the wrong way": "wrong way",
        "dy and dx swapped": "swapped them",
        "images[..., :-dx] with dx = 0": ["empty", ":-dx"],
        "edge pixels repeated instead of black": "0 (black)",
        "writes into the input": "changed its input",
        "float result for uint8 images": ["dtype", "zeros_like"],
        "no return statement": "return statement",
    },
    "check_accuracy_under_shift": {
        "no model.eval()": ["training mode", "model.eval()"],
        "autograd on": ["autograd", "inference_mode"],
        "normalised before shifting": ["shift the uint8 images first", "not black"],
        "percentages": "percentages",
        "mean of per-batch accuracies": ["per-batch", "number of images"],
        "the whole set in one batch": "more than batch_size",
        "every shift evaluated at the first shift": "each shift in turn",
        "no return statement": "return statement",
    },
}


# ---------------------------------------------------------------- right answers (as a student would write them)
def normalize(images, mean, std):
    mean = torch.tensor(mean).view(1, -1, 1, 1)
    std = torch.tensor(std).view(1, -1, 1, 1)
    return (images.float() / 255 - mean) / std


def normalize_with_v2(images, mean, std):
    return v2.Normalize(mean, std)(v2.functional.to_dtype(images, torch.float32, scale=True))


def random_flip(images, labels, p=0.5):
    flip = torch.rand(len(images)) < p
    return torch.where(flip[:, None, None, None], images.flip(-1), images), labels


def random_flip_by_index(images, labels, p=0.5):
    out = images.clone()
    flip = torch.rand(len(images)) < p
    out[flip] = out[flip].flip(-1)
    return out, labels


def random_crop(images, padding):
    n, _, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    tops = torch.randint(0, 2 * padding + 1, (n,)).tolist()
    lefts = torch.randint(0, 2 * padding + 1, (n,)).tolist()
    return torch.stack([padded[i, :, t:t + h, l:l + w] for i, (t, l) in enumerate(zip(tops, lefts))])


def mixup(images, labels, alpha=0.2, num_classes=10):
    lam = float(np.random.beta(alpha, alpha))
    perm = torch.randperm(len(images))
    one_hot = F.one_hot(labels, num_classes).float()
    return lam * images + (1 - lam) * images[perm], lam * one_hot + (1 - lam) * one_hot[perm]


def mixup_torch(images, labels, alpha=0.2, num_classes=10):
    lam = torch.distributions.Beta(alpha, alpha).sample()
    perm = torch.randperm(images.shape[0])
    one_hot = F.one_hot(labels, num_classes).to(images.dtype)
    return torch.lerp(images[perm], images, lam), torch.lerp(one_hot[perm], one_hot, lam)


def cutmix_box(lam, height, width):
    cut_h, cut_w = int(height * math.sqrt(1 - lam)), int(width * math.sqrt(1 - lam))
    cy, cx = random.randrange(height), random.randrange(width)
    return max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height), max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)


def cutmix_box_torch(lam, height, width):  # also right: torchvision's v2.CutMix computes its box like this
    r = 0.5 * math.sqrt(1.0 - lam)
    cy, cx = torch.randint(height, (1,)).item(), torch.randint(width, (1,)).item()
    half_h, half_w = int(r * height), int(r * width)
    return max(cy - half_h, 0), min(cy + half_h, height), max(cx - half_w, 0), min(cx + half_w, width)


def cutmix(images, labels, alpha=1.0, num_classes=10):
    lam = np.random.beta(alpha, alpha)
    perm = torch.randperm(len(images))
    height, width = images.shape[-2:]
    top, bottom, left, right = cutmix_box(lam, height, width)
    out = images.clone()
    out[:, :, top:bottom, left:right] = images[perm, :, top:bottom, left:right]
    share = (bottom - top) * (right - left) / (height * width)
    one_hot = F.one_hot(labels, num_classes).float()
    return out, (1 - share) * one_hot + share * one_hot[perm]


def shift_images(images, dy, dx):
    out = torch.zeros_like(images)
    h, w = images.shape[-2:]
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[..., max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def shift_images_with_pad(images, dy, dx):  # also right: pad with zeros on one side, cut on the other
    h, w = images.shape[-2:]
    padded = F.pad(images, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)))
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top:top + h, left:left + w]


def accuracy_under_shift(model, images, labels, shifts, mean, std, batch_size=500):
    model.eval()
    device = next(model.parameters()).device
    accuracies = []
    with torch.inference_mode():
        for shift in shifts:
            correct = 0
            for start in range(0, len(images), batch_size):
                x = normalize(shift_images(images[start:start + batch_size], 0, shift), mean, std).to(device)
                correct += (model(x).argmax(dim=1).cpu() == labels[start:start + batch_size]).sum().item()
            accuracies.append(correct / len(images))
    return accuracies


RIGHT_ANSWERS: dict[str, list] = {
    "check_normalize": [normalize, normalize_with_v2],
    "check_random_flip": [random_flip, random_flip_by_index,
                          lambda images, labels, p=0.5: (augment.random_flip(images, p), labels)],
    "check_random_crop": [random_crop, lambda images, padding: augment.random_crop(images, padding)],
    "check_mixup": [mixup, mixup_torch],
    "check_cutmix_box": [cutmix_box, cutmix_box_torch],
    "check_cutmix": [cutmix],
    "check_shift_images": [shift_images, shift_images_with_pad],
    "check_accuracy_under_shift": [accuracy_under_shift],
}


# ---------------------------------------------------------------- one wrong answer per classic bug
def normalize_with(formula, dtype=torch.float32):
    def wrong(images, mean, std):
        x = images.float() / 255
        m = torch.tensor(mean, dtype=dtype).view(1, -1, 1, 1)
        s = torch.tensor(std, dtype=dtype).view(1, -1, 1, 1)
        return formula(images, x.to(dtype), m, s, mean, std)
    return wrong


def flip_with(*, coins="per image", dim=-1, p_is_keep=False, labels_too=False, in_place=False, seed=None,
              only_images=False):
    def wrong(images, labels, p=0.5):
        if seed is not None:
            torch.manual_seed(seed)
        draws = torch.rand(len(images)) if coins == "per image" else torch.rand(1).expand(len(images))
        flip = (draws >= p) if p_is_keep else (draws < p)
        if in_place:
            images[flip] = images[flip].flip(dim)
            out = images
        else:
            out = torch.where(flip[:, None, None, None], images.flip(dim), images)
        if only_images:
            return out
        return out, labels.flip(0) if labels_too else labels
    return wrong


def crop_with(*, offsets="per image", high=lambda p: 2 * p + 1, same=False, mode="constant", seed=None,
              per_channel=False, to_float=False):
    def wrong(images, padding):
        if seed is not None:
            torch.manual_seed(seed)
        if to_float:
            images = images.float()
        n, c, h, w = images.shape
        padded = F.pad(images.float() if mode != "constant" else images, (padding,) * 4,
                       mode=mode).to(images.dtype) if padding else images
        size = (n, c) if per_channel else (n,)
        if offsets == "per image":
            tops = torch.randint(0, high(padding), size)
            lefts = tops if same else torch.randint(0, high(padding), size)
        else:
            tops = lefts = torch.randint(0, high(padding), (1,)).expand(*size)
        if per_channel:
            return torch.stack([torch.stack([padded[i, j, tops[i, j]:tops[i, j] + h, lefts[i, j]:lefts[i, j] + w]
                                             for j in range(c)]) for i in range(n)])
        return torch.stack([padded[i, :, t:t + h, l:l + w] for i, (t, l) in enumerate(zip(tops.tolist(), lefts.tolist()))])
    return wrong


def crop_with_roll(images, padding):
    n = len(images)
    shifts = torch.randint(-padding, padding + 1, (n, 2)).tolist()
    return torch.stack([im.roll((dy, dx), dims=(1, 2)) for im, (dy, dx) in zip(images, shifts)])


def crop_returning_padded(images, padding):
    return F.pad(images, (padding,) * 4)


def crop_minus_p(images, padding):
    """Pads, moves each padded image by up to p pixels (the zeros wrap around), then cuts [p:-p]: empty for p = 0."""
    padded = F.pad(images, (padding,) * 4)
    shifts = torch.randint(-padding, padding + 1, (len(images), 2)).tolist()
    moved = torch.stack([im.roll((dy, dx), dims=(1, 2)) for im, (dy, dx) in zip(padded, shifts)])
    return moved[..., padding:-padding, padding:-padding]


def mixup_with(*, lam="beta", labels_mode="same", partners="randperm", per_image=False, fixed_alpha=None,
               in_place=False, four=False):
    def wrong(images, labels, alpha=0.2, num_classes=10):
        a = fixed_alpha or alpha
        n = len(images)
        draw = {"beta": lambda: float(np.random.beta(a, a)), "uniform": lambda: float(np.random.rand()),
                "alpha": lambda: a}[lam]
        weight = torch.tensor([draw() for _ in range(n)])[:, None, None, None] if per_image else draw()
        perm = {"randperm": lambda: torch.randperm(n), "randint": lambda: torch.randint(0, n, (n,)),
                "itself": lambda: torch.arange(n), "flip": lambda: torch.arange(n).flip(0)}[partners]()
        one_hot = F.one_hot(labels, num_classes).float()
        if four:
            return weight * images + (1 - weight) * images[perm], labels, labels[perm], weight
        if in_place:
            mixed = images.mul_(weight).add_((1 - weight) * images[perm])
        else:
            mixed = weight * images + (1 - weight) * images[perm]
        if labels_mode == "same":
            soft = weight * one_hot + (1 - weight) * one_hot[perm] if not per_image else \
                weight[:, :, 0, 0] * one_hot + (1 - weight[:, :, 0, 0]) * one_hot[perm]
        elif labels_mode == "swapped":
            soft = (1 - weight) * one_hot + weight * one_hot[perm]
        elif labels_mode == "one-hot":
            soft = one_hot
        elif labels_mode == "indices":
            soft = labels
        elif labels_mode == "another lam":
            other = draw()
            soft = other * one_hot + (1 - other) * one_hot[perm]
        else:  # another permutation
            other = torch.randperm(n)
            soft = weight * one_hot + (1 - weight) * one_hot[other]
        return mixed, soft
    return wrong


def box_with(*, side=lambda lam: math.sqrt(1 - lam), swap=False, inside=False, corner=False, clip=True, floats=False):
    def wrong(lam, height, width):
        cut_h, cut_w = int(height * side(lam)), int(width * side(lam))
        if swap:
            cut_h, cut_w = int(width * side(lam)), int(height * side(lam))
        if corner:
            cy, cx = 0, 0
        elif inside:
            cy = random.randrange(cut_h // 2, height - cut_h // 2 + 1)
            cx = random.randrange(cut_w // 2, width - cut_w // 2 + 1)
        else:
            cy, cx = random.randrange(height), random.randrange(width)
        box = [cy - cut_h // 2, cy + cut_h // 2, cx - cut_w // 2, cx + cut_w // 2]
        if clip:
            box = [max(box[0], 0), min(box[1], height), max(box[2], 0), min(box[3], width)]
        return tuple(float(v) for v in box) if floats else tuple(box)
    return wrong


def cutmix_with(*, labels_mode="area", per_image_box=False, partners="randperm", in_place=False):
    def wrong(images, labels, alpha=1.0, num_classes=10):
        lam = np.random.beta(alpha, alpha)
        n, _, height, width = images.shape
        perm = {"randperm": lambda: torch.randperm(n), "randint": lambda: torch.randint(0, n, (n,)),
                "itself": lambda: torch.arange(n)}[partners]()
        out = images if in_place else images.clone()
        source = images.clone()
        if per_image_box:
            shares = []
            for i in range(n):
                top, bottom, left, right = cutmix_box(np.random.beta(alpha, alpha), height, width)
                out[i, :, top:bottom, left:right] = source[perm[i], :, top:bottom, left:right]
                shares.append((bottom - top) * (right - left) / (height * width))
            share = torch.tensor(shares)[:, None]
        else:
            top, bottom, left, right = cutmix_box(lam, height, width)
            out[:, :, top:bottom, left:right] = source[perm, :, top:bottom, left:right]
            share = (bottom - top) * (right - left) / (height * width)
        one_hot = F.one_hot(labels, num_classes).float()
        soft = {"area": lambda: (1 - share) * one_hot + share * one_hot[perm],
                "drawn lam": lambda: lam * one_hot + (1 - lam) * one_hot[perm],
                "swapped": lambda: share * one_hot + (1 - share) * one_hot[perm],
                "one-hot": lambda: one_hot, "indices": lambda: labels}[labels_mode]()
        return out, soft
    return wrong


def shift_with(*, how="right", in_place=False, to_float=False):
    def wrong(images, dy, dx):
        h, w = images.shape[-2:]
        if how == "roll":
            return images.roll((dy, dx), dims=(-2, -1))
        if how == "reversed":
            return shift_images(images, -dy, -dx)
        if how == "swapped":
            return shift_images(images, dx, dy)
        if how == "edge":
            index_y = (torch.arange(h) - dy).clamp(0, h - 1)
            index_x = (torch.arange(w) - dx).clamp(0, w - 1)
            return images[..., index_y[:, None], index_x[None, :]]
        if how == "minus slice":  # out[..., dx:] = images[..., :-dx]: fine, except for a shift of 0
            out = torch.zeros_like(images)
            rows = (slice(dy, None), slice(None, -dy)) if dy >= 0 else (slice(None, dy), slice(-dy, None))
            cols = (slice(dx, None), slice(None, -dx)) if dx >= 0 else (slice(None, dx), slice(-dx, None))
            out[..., rows[0], cols[0]] = images[..., rows[1], cols[1]]
            return out
        out = shift_images(images, dy, dx)
        if in_place:
            images.copy_(out)
            return images
        return out.float() if to_float else out
    return wrong


def shift_accuracy_with(*, eval_mode=True, no_grad=True, order="shift first", result="fraction", one_batch=False,
                        first_shift_only=False):
    def wrong(model, images, labels, shifts, mean, std, batch_size=500):
        if eval_mode:
            model.eval()
        size = len(images) if one_batch else batch_size
        accuracies = []
        with torch.inference_mode(no_grad):
            for shift in shifts:
                shift = shifts[0] if first_shift_only else shift
                correct, batch_accuracies = 0, []
                for start in range(0, len(images), size):
                    chunk = images[start:start + size]
                    x = (normalize(shift_images(chunk, 0, shift), mean, std) if order == "shift first"
                         else shift_images(normalize(chunk, mean, std), 0, shift))
                    hits = (model(x).argmax(dim=1) == labels[start:start + size]).sum().item()
                    correct += hits
                    batch_accuracies.append(hits / len(chunk))
                accuracies.append({"fraction": correct / len(images), "percent": 100 * correct / len(images),
                                   "batch mean": sum(batch_accuracies) / len(batch_accuracies)}[result])
        return accuracies
    return wrong


WRONG_ANSWERS: dict[tuple[str, str], object] = {
    ("check_normalize", "pixels not divided by 255"): normalize_with(lambda im, x, m, s, mean, std: (im.float() - m) / s),
    ("check_normalize", "the batch's own mean and std"): normalize_with(
        lambda im, x, m, s, mean, std: (x - x.mean(dim=(0, 2, 3), keepdim=True)) / x.std(dim=(0, 2, 3), keepdim=True)),
    ("check_normalize", "each image's own mean and std"): normalize_with(
        lambda im, x, m, s, mean, std: (x - x.mean(dim=(2, 3), keepdim=True)) / x.std(dim=(2, 3), keepdim=True)),
    ("check_normalize", "one mean and std for all channels of the batch"): normalize_with(
        lambda im, x, m, s, mean, std: (x - x.mean()) / x.std()),
    ("check_normalize", "mean and std of shape [C] line up with the width"): normalize_with(
        lambda im, x, m, s, mean, std: (x - torch.tensor(mean)) / torch.tensor(std)),
    ("check_normalize", "mean and std swapped"): normalize_with(lambda im, x, m, s, mean, std: (x - s) / m),
    ("check_normalize", "multiplied by the std"): normalize_with(lambda im, x, m, s, mean, std: (x - m) * s),
    ("check_normalize", "float64 constants (NumPy)"): normalize_with(
        lambda im, x, m, s, mean, std: (x - m) / s, dtype=torch.float64),
    ("check_normalize", "no return statement"): _no_return,

    ("check_random_flip", "one coin for the whole batch"): flip_with(coins="batch"),
    ("check_random_flip", "vertical flip"): flip_with(dim=-2),
    ("check_random_flip", "colour channels reversed"): flip_with(dim=1),
    ("check_random_flip", "order of the batch reversed"): lambda images, labels, p=0.5: (images.flip(0), labels),
    ("check_random_flip", "labels reversed as well"): flip_with(labels_too=True),
    ("check_random_flip", "p used as the probability of keeping"): flip_with(p_is_keep=True),
    ("check_random_flip", "flips the caller's batch in place"): flip_with(in_place=True),
    ("check_random_flip", "seeded inside the function"): flip_with(seed=0),
    ("check_random_flip", "returns only the images"): flip_with(only_images=True),
    ("check_random_flip", "no return statement"): _no_return,

    ("check_random_crop", "one offset for the whole batch"): crop_with(offsets="batch"),
    ("check_random_crop", "the same offset down and right"): crop_with(same=True),
    ("check_random_crop", "offsets 0..padding (P instead of 2P)"): crop_with(high=lambda p: p + 1),
    ("check_random_crop", "randint's upper end taken as inclusive"): crop_with(high=lambda p: max(2 * p, 1)),
    ("check_random_crop", "torch.roll instead of padding"): crop_with_roll,
    ("check_random_crop", "reflect padding instead of zeros"): crop_with(mode="reflect"),
    ("check_random_crop", "returns the padded batch"): crop_returning_padded,
    ("check_random_crop", "x[p:-p] with p = 0"): crop_minus_p,
    ("check_random_crop", "each channel cropped on its own"): crop_with(per_channel=True),
    ("check_random_crop", "uint8 turned into floats"): crop_with(to_float=True),
    ("check_random_crop", "seeded inside the function"): crop_with(seed=0),
    ("check_random_crop", "no return statement"): _no_return,

    ("check_mixup", "lam drawn uniformly"): mixup_with(lam="uniform"),
    ("check_mixup", "lam fixed to alpha"): mixup_with(lam="alpha"),
    ("check_mixup", "alpha ignored (always 0.2)"): mixup_with(fixed_alpha=0.2),
    ("check_mixup", "labels mixed the other way round"): mixup_with(labels_mode="swapped"),
    ("check_mixup", "labels left as one-hot"): mixup_with(labels_mode="one-hot"),
    ("check_mixup", "labels left as class indices"): mixup_with(labels_mode="indices"),
    ("check_mixup", "another lam for the labels"): mixup_with(labels_mode="another lam"),
    ("check_mixup", "another permutation for the labels"): mixup_with(labels_mode="another perm"),
    ("check_mixup", "partners drawn with randint"): mixup_with(partners="randint"),
    ("check_mixup", "one lam per image"): mixup_with(per_image=True),
    ("check_mixup", "each image mixed with itself"): mixup_with(partners="itself"),
    ("check_mixup", "a fixed pairing (flip of the batch)"): mixup_with(partners="flip"),
    ("check_mixup", "returns the four values of the lecture's snippet"): mixup_with(four=True),
    ("check_mixup", "mixes the caller's batch in place"): mixup_with(in_place=True),
    ("check_mixup", "no return statement"): _no_return,

    ("check_cutmix_box", "sides (1 - lam) instead of sqrt(1 - lam)"): box_with(side=lambda lam: 1 - lam),
    ("check_cutmix_box", "sides sqrt(lam): the box is the kept part"): box_with(side=lambda lam: math.sqrt(lam)),
    ("check_cutmix_box", "height and width mixed up"): box_with(swap=True),
    ("check_cutmix_box", "box always inside the image"): box_with(inside=True),
    ("check_cutmix_box", "centre fixed in the corner"): box_with(corner=True),
    ("check_cutmix_box", "no clipping at the border"): box_with(clip=False),
    ("check_cutmix_box", "float positions"): box_with(floats=True),
    ("check_cutmix_box", "no return statement"): _no_return,

    ("check_cutmix", "labels from the drawn lam, not the pasted box"): cutmix_with(labels_mode="drawn lam"),
    ("check_cutmix", "label weights the wrong way round"): cutmix_with(labels_mode="swapped"),
    ("check_cutmix", "labels left as one-hot"): cutmix_with(labels_mode="one-hot"),
    ("check_cutmix", "labels left as class indices"): cutmix_with(labels_mode="indices"),
    ("check_cutmix", "one box per image"): cutmix_with(per_image_box=True),
    ("check_cutmix", "pasted from the image itself (no partner)"): cutmix_with(partners="itself"),
    ("check_cutmix", "partners drawn with randint"): cutmix_with(partners="randint"),
    ("check_cutmix", "pastes into the caller's batch"): cutmix_with(in_place=True),
    ("check_cutmix", "no return statement"): _no_return,

    ("check_shift_images", "torch.roll wraps around"): shift_with(how="roll"),
    ("check_shift_images", "moves the wrong way"): shift_with(how="reversed"),
    ("check_shift_images", "dy and dx swapped"): shift_with(how="swapped"),
    ("check_shift_images", "images[..., :-dx] with dx = 0"): shift_with(how="minus slice"),
    ("check_shift_images", "edge pixels repeated instead of black"): shift_with(how="edge"),
    ("check_shift_images", "writes into the input"): shift_with(in_place=True),
    ("check_shift_images", "float result for uint8 images"): shift_with(to_float=True),
    ("check_shift_images", "no return statement"): _no_return,

    ("check_accuracy_under_shift", "no model.eval()"): shift_accuracy_with(eval_mode=False),
    ("check_accuracy_under_shift", "autograd on"): shift_accuracy_with(no_grad=False),
    ("check_accuracy_under_shift", "normalised before shifting"): shift_accuracy_with(order="normalise first"),
    ("check_accuracy_under_shift", "percentages"): shift_accuracy_with(result="percent"),
    ("check_accuracy_under_shift", "mean of per-batch accuracies"): shift_accuracy_with(result="batch mean"),
    ("check_accuracy_under_shift", "the whole set in one batch"): shift_accuracy_with(one_batch=True),
    ("check_accuracy_under_shift", "every shift evaluated at the first shift"): shift_accuracy_with(first_shift_only=True),
    ("check_accuracy_under_shift", "no return statement"): _no_return,
}


# ---------------------------------------------------------------- tests
# the tests every lab's checks get (lab_test_kit.lab_tests), then this lab's own
globals().update(lab_tests(lab, CLASSIC_BUGS, RIGHT_ANSWERS, WRONG_ANSWERS, pass_line_names_the_check=True))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("check_name, answer", [("check_random_flip", random_flip), ("check_random_crop", random_crop),
                                                ("check_mixup", mixup), ("check_cutmix", cutmix)])
def test_random_checks_do_not_depend_on_the_global_seed(seed, check_name, answer, capsys):
    seed_all(seed)  # the checks seed their own draws; a right answer passes whatever came before
    getattr(lab, check_name)(answer)


def _v2_cutmix_shuffled(images, labels, alpha, num_classes):
    perm = torch.randperm(len(images))  # v2.CutMix pastes from the neighbour in the batch: shuffle around it
    inverse = torch.argsort(perm)
    mixed, soft = v2.CutMix(alpha=alpha, num_classes=num_classes)(images[perm], labels[perm])
    return mixed[inverse], soft[inverse]


def test_torchvisions_cutmix_passes_the_cutmix_check(capsys):
    """v2.CutMix also recomputes lam from the clipped box, so around a random pairing it is a right answer."""
    lab.check_cutmix(lambda images, labels, alpha=1.0, num_classes=10: _v2_cutmix_shuffled(images, labels, alpha, num_classes))


def test_torchvisions_mixup_mixes_correctly_but_always_pairs_neighbours(fails_with):
    """What the lab's comparison shows: v2.MixUp pairs each image with the one before it in the batch (it relies on
    the loader's shuffling), so on the same batch it pairs the same images every time."""
    fails_with(lab.check_mixup, lambda images, labels, alpha=0.2, num_classes=10:
               v2.MixUp(alpha=alpha, num_classes=num_classes)(images, labels), words="exactly the same way")
