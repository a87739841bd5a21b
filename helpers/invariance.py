"""How a classifier's accuracy changes when the test images are shifted by a few pixels.

    >>> from helpers.invariance import shift_images, accuracy_under_shift
    >>> shift_images(torch.arange(1, 5).reshape(1, 1, 1, 4), dx=1)      # one pixel to the right, 0 comes in
    tensor([[[[0, 1, 2, 3]]]])
    >>> accuracy_under_shift(model, x_test, y_test, shifts=range(5), mean=0.286, std=0.353)
    {0: 0.912, 1: 0.905, 2: 0.871, 3: 0.802, 4: 0.713}

Images are shifted before they are normalised, so the pixels that come in have the background value ``fill``
(0, black, for Fashion-MNIST) rather than whatever 0 means after normalisation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from helpers.training import evaluate, tensor_loader

__all__ = ["DIRECTIONS", "shift_images", "accuracy_under_shift"]

DIRECTIONS = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}


def shift_images(images: torch.Tensor, dx: int = 0, dy: int = 0, fill: float | int = 0) -> torch.Tensor:
    """``images`` [N, C, H, W] (or [N, H, W]) moved ``dx`` pixels right and ``dy`` down; vacated pixels get ``fill``.

    Pixels pushed over the border are lost (no wrap-around, unlike ``torch.roll``). The dtype is kept.
    """
    if images.ndim not in (3, 4):
        raise ValueError(f"images must be [N, C, H, W] or [N, H, W], got shape {list(images.shape)}.")
    height, width = images.shape[-2:]
    if abs(dx) >= width or abs(dy) >= height:
        raise ValueError(f"a shift of ({dx}, {dy}) pixels moves a {height}x{width} image out of the frame.")
    out = torch.full_like(images, fill)
    rows_to = slice(max(dy, 0), height + min(dy, 0))
    rows_from = slice(max(-dy, 0), height + min(-dy, 0))
    cols_to = slice(max(dx, 0), width + min(dx, 0))
    cols_from = slice(max(-dx, 0), width + min(-dx, 0))
    out[..., rows_to, cols_to] = images[..., rows_from, cols_from]
    return out


def accuracy_under_shift(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, shifts: Iterable[int] = range(5), *,
                         directions: Sequence[str] = tuple(DIRECTIONS), fill: float | int = 0,
                         mean: float | Sequence[float] | None = None, std: float | Sequence[float] | None = None,
                         batch_size: int = 1000, device: torch.device | str | None = None) -> dict[int, float]:
    """Accuracy of ``model`` on ``images`` shifted by each of ``shifts`` pixels, averaged over ``directions``.

    ``images``: the un-normalised test images (uint8, or floats in [0, 1]); ``mean``/``std`` normalise them after
    shifting, as the model was trained. Shift 0 is evaluated once. Returns {shift in pixels: accuracy (a fraction)}.
    """
    unknown = [d for d in directions if d not in DIRECTIONS]
    if unknown or not directions:
        raise ValueError(f"directions are some of {list(DIRECTIONS)}, got {list(directions)!r}.")
    results = {}
    for shift in shifts:
        if shift < 0:
            raise ValueError(f"shifts are distances in pixels (0 or more); got {shift}. Use `directions` for the sign.")
        moves = [(0, 0)] if shift == 0 else [(shift * DIRECTIONS[d][0], shift * DIRECTIONS[d][1]) for d in directions]
        accuracies = []
        for dx, dy in moves:
            loader = tensor_loader(shift_images(images, dx, dy, fill), labels, batch_size=batch_size,
                                   mean=mean, std=std, device=device)
            accuracies.append(evaluate(model, loader, device=device)["accuracy"])
        results[int(shift)] = sum(accuracies) / len(accuracies)
    return results
