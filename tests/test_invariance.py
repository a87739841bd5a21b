"""helpers.invariance: shifting images and measuring accuracy under a shift."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers.invariance import accuracy_under_shift, shift_images


def test_shift_right_and_down_fills_the_gap():
    x = torch.arange(1, 10, dtype=torch.uint8).reshape(1, 1, 3, 3)
    assert shift_images(x, dx=1).tolist() == [[[[0, 1, 2], [0, 4, 5], [0, 7, 8]]]]
    assert shift_images(x, dy=-1, fill=9).tolist() == [[[[4, 5, 6], [7, 8, 9], [9, 9, 9]]]]
    assert shift_images(x, dx=-2, dy=2).tolist() == [[[[0, 0, 0], [0, 0, 0], [3, 0, 0]]]]
    assert shift_images(x).dtype == torch.uint8 and torch.equal(shift_images(x), x)


def test_shift_works_on_gray_batches_and_refuses_too_far():
    x = torch.rand(2, 4, 5)
    assert torch.equal(shift_images(x, dx=1)[..., 1:], x[..., :-1])
    with pytest.raises(ValueError, match="out of the frame"):
        shift_images(x, dx=5)
    with pytest.raises(ValueError, match="N, C, H, W"):
        shift_images(torch.zeros(4, 5))


class BrightColumn(nn.Module):
    """Predicts class 1 when the image's brightest column is column 2, else class 0: it cares where things are."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        column = x.sum(dim=(1, 2)).argmax(dim=1)
        return nn.functional.one_hot((column == 2).long(), 2).float() + self.dummy


def test_accuracy_under_shift_averages_the_directions():
    images = torch.zeros(4, 1, 5, 5, dtype=torch.uint8)
    images[..., 2] = 255  # a bright middle column: label 1
    labels = torch.ones(4, dtype=torch.long)
    result = accuracy_under_shift(BrightColumn(), images, labels, shifts=[0, 1], batch_size=3)
    # left/right shifts move the column (wrong), up/down keep it (right): half the directions stay right
    assert result == {0: 1.0, 1: 0.5}
    assert accuracy_under_shift(BrightColumn(), images, labels, shifts=[2], directions=["up"]) == {2: 1.0}


def test_normalisation_happens_after_the_shift():
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(torch.zeros(()))

        def forward(self, x):
            seen.append(x.clone())
            return torch.zeros(len(x), 2) + self.p

    accuracy_under_shift(Spy(), torch.full((1, 1, 3, 3), 255, dtype=torch.uint8), torch.zeros(1, dtype=torch.long),
                         shifts=[1], directions=["right"], mean=0.5, std=0.5)
    assert seen[0][0, 0, :, 0].tolist() == [-1.0, -1.0, -1.0]  # the black (0) column that came in, normalised
    assert seen[0][0, 0, :, 1:].unique().tolist() == [1.0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="directions"):
        accuracy_under_shift(BrightColumn(), torch.zeros(1, 1, 5, 5), torch.zeros(1, dtype=torch.long), directions=["diagonal"])
    with pytest.raises(ValueError, match="0 or more"):
        accuracy_under_shift(BrightColumn(), torch.zeros(1, 1, 5, 5), torch.zeros(1, dtype=torch.long), shifts=[-1])
