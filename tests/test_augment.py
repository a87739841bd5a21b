"""helpers.augment: batched flips, crops and cutout draw one random number per image; DeviceLoader feeds fit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers.augment import DeviceLoader, random_crop, random_cutout, random_flip
from helpers.training import fit


def coordinates(n: int, h: int = 8, w: int = 8) -> torch.Tensor:
    """Float images whose pixel (r, c) holds 100 * (r + 1) + (c + 1): a crop's source can be read off any pixel."""
    grid = 100 * (torch.arange(h)[:, None] + 1) + torch.arange(w)[None, :] + 1
    return grid.float().expand(n, 2, h, w).clone()


def shift_of(image: torch.Tensor, padding: int) -> tuple[int, int]:
    """(dy, dx) of a crop of ``coordinates`` (checking that every pixel agrees and the rest is the fill 0)."""
    rows, cols = torch.nonzero(image > 0, as_tuple=True)
    values = image[rows, cols].long()
    dy = values // 100 - 1 - rows
    dx = values % 100 - 1 - cols
    assert dy.unique().numel() == 1 and dx.unique().numel() == 1, "a crop must move the whole image by one (dy, dx)"
    return int(dy[0]), int(dx[0])


def test_random_flip_draws_one_coin_per_image_and_keeps_dtype_and_input():
    torch.manual_seed(0)
    images = torch.arange(64 * 3 * 4 * 5, dtype=torch.uint8).reshape(64, 3, 4, 5)
    before = images.clone()
    out = random_flip(images)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    assert torch.equal(images, before), "the input must not change"
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, images)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, images)])
    assert bool((flipped | kept).all()), "each image is either mirrored left-right or unchanged"
    assert 16 < int(flipped.sum()) < 48, "about half of 64 images are flipped, each with its own coin"
    assert torch.equal(random_flip(images, p=1.0), images.flip(-1))
    assert torch.equal(random_flip(images, p=0.0), images)


def test_random_crop_is_a_translation_by_at_most_padding_with_zero_fill():
    torch.manual_seed(0)
    out = random_crop(coordinates(400), padding=2)
    assert out.shape == (400, 2, 8, 8)
    shifts = {shift_of(image[0], 2) for image in out}
    assert shifts == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}, "every shift in -2..2 x -2..2 occurs"
    assert torch.equal(out[:, 0], out[:, 1]), "both channels of an image move together"


def test_random_crop_reflect_mirrors_the_border_and_works_on_uint8():
    torch.manual_seed(1)
    images = torch.arange(2 * 1 * 5 * 5, dtype=torch.uint8).reshape(2, 1, 5, 5)
    out = random_crop(images, padding=2, padding_mode="reflect")
    assert out.dtype == torch.uint8
    padded = nn.functional.pad(images.float(), (2, 2, 2, 2), mode="reflect")
    for image, source in zip(out, padded):
        windows = [source[:, y:y + 5, x:x + 5] for y in range(5) for x in range(5)]
        assert any(torch.equal(image.float(), w) for w in windows), "a reflect crop is a window of the reflect-padded image"
    with pytest.raises(ValueError, match="smaller than the image"):
        random_crop(images, padding=5, padding_mode="reflect")


def test_random_crop_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        random_crop(torch.zeros(3, 8, 8), 2)
    with pytest.raises(ValueError, match="whole number"):
        random_crop(torch.zeros(1, 3, 8, 8), 1.5)
    with pytest.raises(ValueError, match="padding_mode"):
        random_crop(torch.zeros(1, 3, 8, 8), 1, padding_mode="wrap")
    assert torch.equal(random_crop(torch.ones(2, 1, 4, 4), 0), torch.ones(2, 1, 4, 4))


def test_random_cutout_fills_one_square_per_image_at_its_own_place():
    torch.manual_seed(0)
    out = random_cutout(torch.ones(50, 3, 10, 10), size=4)
    holes = out[:, 0] == 0
    assert bool((holes.flatten(1).sum(1) == 16).all()), "one 4x4 square per image"
    assert torch.equal(out[:, 0], out[:, 2]), "the square goes through every channel"
    corners = {tuple(torch.nonzero(h)[0].tolist()) for h in holes}
    assert len(corners) > 10, "each image gets its own place"


def test_device_loader_batches_normalises_and_covers_every_image_once():
    images = torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8)
    labels = torch.arange(10)
    loader = DeviceLoader(images, labels, 4, shuffle=True, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), seed=0)
    assert len(loader) == 3 and loader.label_bound == 10
    batches = list(loader)
    assert [len(y) for _, y in batches] == [4, 4, 2]
    seen = torch.cat([y for _, y in batches])
    assert sorted(seen.tolist()) == list(range(10))
    x, y = batches[0]
    assert x.dtype == torch.float32
    assert torch.allclose(x, (images[y].float() / 255 - 0.5) / 0.25)
    assert len(DeviceLoader(images, labels, 4, drop_last=True)) == 2


def test_device_loader_seed_repeats_the_order_and_the_augmentation():
    images = torch.randint(0, 256, (32, 1, 6, 6), dtype=torch.uint8)
    make = lambda: DeviceLoader(images, torch.zeros(32), 8, shuffle=True, flip=True, crop_padding=1, seed=3)
    first, second = list(make()), list(make())
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, second))


def test_device_loader_alternate_flip_shows_each_image_both_ways_in_two_epochs():
    images = torch.arange(8 * 2, dtype=torch.uint8).reshape(8, 1, 1, 2)
    loader = DeviceLoader(images, torch.arange(8), 8, flip="alternate", seed=0)
    (a, _), = list(loader)
    (b, _), = list(loader)
    (c, _), = list(loader)
    assert torch.equal(a, c) and torch.equal(b, a.flip(-1))
    assert not torch.equal(a, images.float() / 255) and not torch.equal(a, images.flip(-1).float() / 255), \
        "the first epoch flips a random half, not all or none"


def test_device_loader_batch_augment_and_clear_errors():
    images = torch.zeros(6, 3, 4, 4, dtype=torch.uint8)

    def to_soft(x, y):
        return x + 1, nn.functional.one_hot(y, 10).float()

    x, y = next(iter(DeviceLoader(images, torch.arange(6), 3, batch_augment=to_soft)))
    assert y.shape == (3, 10) and bool((x == 1).all())
    with pytest.raises(ValueError, match="3 channels"):
        DeviceLoader(images, torch.arange(6), 3, mean=(0.1, 0.2), std=(1.0, 1.0))
    with pytest.raises(ValueError, match="match one to one"):
        DeviceLoader(images, torch.arange(5), 3)
    with pytest.raises(ValueError, match="flip"):
        DeviceLoader(images, torch.arange(6), 3, flip="sometimes")
    with pytest.raises(ValueError, match="leaves no batch"):
        DeviceLoader(images, torch.arange(6), 8, drop_last=True)


def test_fit_trains_from_a_device_loader():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (64, 1, 8, 8), dtype=torch.uint8)
    labels = (images.float().mean(dim=(1, 2, 3)) > 127).long()
    loader = DeviceLoader(images, labels, 16, shuffle=True, mean=0.5, std=0.3, flip=True, crop_padding=1, seed=0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    history = fit(model, loader, loader, epochs=2, lr=1e-2, progress=False, verbose=False)
    assert len(history.train_loss) == 2 and 0 <= history.val_acc[-1] <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_everything_runs_on_the_gpu_without_leaving_it():
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    loader = DeviceLoader(images, torch.arange(64) % 10, 16, shuffle=True, mean=(0.5,) * 3, std=(0.2,) * 3,
                          flip="alternate", crop_padding=2, cutout=3, channels_last=True, device="cuda", seed=0)
    x, y = next(iter(loader))
    assert x.is_cuda and y.is_cuda and x.is_contiguous(memory_format=torch.channels_last)
    gpu = images.cuda()
    assert random_crop(gpu, 2, padding_mode="reflect").is_cuda and random_flip(gpu).is_cuda
    assert random_cutout(gpu, 3).is_cuda
