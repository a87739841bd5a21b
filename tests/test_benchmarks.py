"""The pieces of benchmarks/fashion_mnist_vgg.py that decide its numbers: batched augmentation, time to target."""

from __future__ import annotations

import importlib.util
import sys

import torch

from helpers.common import REPO_ROOT
from helpers.training import History


def load_benchmark():
    path = REPO_ROOT / "benchmarks" / "fashion_mnist_vgg.py"
    spec = importlib.util.spec_from_file_location("fashion_mnist_vgg_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_shift_flip_moves_each_image_by_at_most_pad_pixels_and_fills_with_background():
    bench = load_benchmark()
    torch.manual_seed(0)
    images = torch.zeros(64, 1, 28, 28)
    images[:, :, 10:18, 12:16] = 1.0  # one bright 8x4 block per image
    out = bench.ShiftFlip([], pad=2, background=-5.0).augment(images)
    assert out.shape == images.shape
    shifts = set()
    for image in out[:, 0]:
        assert torch.all((image == 1.0) | (image == 0.0) | (image == -5.0))
        assert int((image == 1.0).sum()) == 32, "the block must move as a whole, never be cut (it is far from the edge)"
        rows, cols = torch.nonzero(image == 1.0, as_tuple=True)
        dy = int(rows.min()) - 10
        left = int(cols.min())
        dx = {left - 12, 28 - 1 - int(cols.max()) - 12}  # unflipped, or flipped then shifted
        assert abs(dy) <= 2 and any(abs(d) <= 2 for d in dx)
        shifts.add((dy, left))
    assert len(shifts) > 5, "every image should get its own random shift"
    assert (out == -5.0).any(), "pixels shifted in from outside get the background value"


def test_shift_flip_keeps_length_and_labels_of_the_wrapped_loader():
    bench = load_benchmark()
    batches = [(torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])), (torch.rand(2, 1, 28, 28), torch.tensor([4, 5]))]
    wrapped = bench.ShiftFlip(batches, pad=1)
    assert len(wrapped) == 2
    out = list(wrapped)
    assert [labels.tolist() for _, labels in out] == [[0, 1, 2, 3], [4, 5]]
    assert [tuple(images.shape) for images, _ in out] == [(4, 1, 28, 28), (2, 1, 28, 28)]


def test_time_to_target_adds_up_the_seconds_of_the_epochs_until_the_target():
    bench = load_benchmark()
    history = History()
    for acc, seconds in [(0.90, 10.0), (0.934, 11.0), (0.936, 12.0), (0.94, 13.0)]:
        history.val_acc.append(acc)
        history.seconds.append(seconds)
    assert bench.time_to_target(history, 0.935) == (3, 33.0)
    assert bench.time_to_target(history, 0.99) == (None, None)
