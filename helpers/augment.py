"""Data augmentation on whole batches as tensor ops, and a loader that keeps the data on the training device.

torchvision's ``transforms.v2`` ops draw their random numbers once per call: called on a batch, ``RandomCrop``
shifts every image by the same amount. Called image by image in a DataLoader, they cost a Python call per image
(fine for photos, the bottleneck for 32x32 images). The functions here take a batch [N, C, H, W] of any dtype
(uint8 too) on any device and draw one random number per image, so a GPU augments 1,000 images in a few kernels::

    >>> from helpers.augment import random_flip, random_crop, DeviceLoader
    >>> images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    >>> random_crop(random_flip(images), padding=4).shape       # each image flipped or not, shifted by -4..4 px
    torch.Size([8, 3, 32, 32])
    >>> loader = DeviceLoader(x_train, y_train, batch_size=512, shuffle=True, mean=CIFAR10_MEAN, std=CIFAR10_STD,
    ...                       flip=True, crop_padding=4, device="cuda")
    >>> images, labels = next(iter(loader))                      # float32, normalised, on the GPU

Lab 06 has students write ``random_flip`` and ``random_crop`` by hand; these are the versions the course uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from helpers.device import pick_device

__all__ = ["random_flip", "random_crop", "random_cutout", "DeviceLoader"]

PADDING_MODES = ("constant", "reflect", "replicate")


def _check_batch(images: torch.Tensor, what: str) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = list(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{what} needs a batch of images [N, C, H, W]; got {shape}. "
                         "For one image, add the batch dimension: image[None].")


def random_flip(images: torch.Tensor, p: float = 0.5, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip each image left-right with probability ``p``, one coin per image (a new tensor; labels are unchanged).

    >>> random_flip(torch.arange(4.).reshape(2, 1, 1, 2), p=1.0).flatten().tolist()
    [1.0, 0.0, 3.0, 2.0]
    """
    _check_batch(images, "random_flip")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p is a probability in [0, 1]; got {p}.")
    coins = torch.rand(len(images), device=images.device, generator=generator) < p
    return torch.where(coins[:, None, None, None], images.flip(-1), images)


def _source_index(offsets: torch.Tensor, size: int, padding: int, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """For a crop starting at ``offsets`` of the padded image: the source index of each output pixel along one
    axis ([N, size], always inside the image) and whether it lies inside the original image."""
    index = offsets[:, None] + torch.arange(size, device=offsets.device) - padding
    inside = (index >= 0) & (index < size)
    if mode == "reflect":  # -1 -> 1, size -> size - 2 (the edge pixel is not repeated, like numpy's 'reflect')
        index = torch.where(index < 0, -index, index)
        index = torch.where(index >= size, 2 * (size - 1) - index, index)
    return index.clamp(0, size - 1), inside


def random_crop(images: torch.Tensor, padding: int, *, padding_mode: str = "constant", fill: float = 0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Pad each image by ``padding`` pixels on every side and cut out a random crop of the original size.

    The same as shifting each image by its own random (dy, dx) in -padding..padding. ``padding_mode``:
    'constant' fills with ``fill`` (0 = black for images in [0, 1] or uint8), 'reflect' mirrors the image at
    its border, 'replicate' repeats the edge pixels. No padded copy is made: the crop reads the original.

    >>> random_crop(torch.ones(4, 3, 32, 32), padding=4).shape
    torch.Size([4, 3, 32, 32])
    """
    _check_batch(images, "random_crop")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a whole number of pixels >= 0; got {padding!r}.")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}; got {padding_mode!r}.")
    n, _, h, w = images.shape
    if padding_mode == "reflect" and padding >= min(h, w):
        raise ValueError(f"reflect padding must be smaller than the image ({h}x{w}); got {padding}.")
    if padding == 0 or n == 0:
        return images.clone()
    dy = torch.randint(0, 2 * padding + 1, (n,), device=images.device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), device=images.device, generator=generator)
    rows, rows_inside = _source_index(dy, h, padding, padding_mode)
    cols, cols_inside = _source_index(dx, w, padding, padding_mode)
    batch = torch.arange(n, device=images.device)[:, None, None]
    # one gather for the whole batch: [N, H, W, C], viewed back as [N, C, H, W] (stored channels_last)
    out = images[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if padding_mode == "constant":
        inside = (rows_inside[:, :, None] & cols_inside[:, None, :])[:, None]
        out = torch.where(inside, out, torch.as_tensor(fill, dtype=images.dtype, device=images.device))
    return out


def random_cutout(images: torch.Tensor, size: int, *, fill: float = 0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill one ``size`` x ``size`` square per image, at a random place inside it, with ``fill`` (DeVries & Taylor
    2017; ``v2.RandomErasing`` does the same with a random shape, one draw per call).

    >>> (random_cutout(torch.ones(2, 1, 8, 8), size=4) == 0).sum().item()
    32
    """
    _check_batch(images, "random_cutout")
    n, _, h, w = images.shape
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= min(h, w):
        raise ValueError(f"size must be a whole number of pixels between 0 and {min(h, w)}; got {size!r}.")
    if size == 0:
        return images.clone()
    top = torch.randint(0, h - size + 1, (n, 1, 1, 1), device=images.device, generator=generator)
    left = torch.randint(0, w - size + 1, (n, 1, 1, 1), device=images.device, generator=generator)
    y = torch.arange(h, device=images.device)[None, None, :, None]
    x = torch.arange(w, device=images.device)[None, None, None, :]
    square = (y >= top) & (y < top + size) & (x >= left) & (x < left + size)
    return images.masked_fill(square, fill)


BatchAugment = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class DeviceLoader:
    """Batches cut from images kept on the training device, augmented there as whole batches.

    ``images``: uint8 [N, C, H, W] (or float in [0, 1]); they are moved to ``device`` once (CIFAR-10's 50,000
    training images are 150 MB as uint8). Each batch is one gather from a shuffled index, then, on the device:
    ``flip`` / ``crop_padding`` / ``cutout`` (the functions above, on the uint8 pixels), conversion to ``dtype``
    in [0, 1], ``batch_augment(images, labels)`` (e.g. ``v2.CutMix(num_classes=10)``), normalisation with
    ``mean``/``std``, and ``channels_last`` if asked. No worker processes, no copy from the CPU per batch: the GPU
    never waits for a loader.

    ``flip="alternate"`` is airbench's derandomised flip: each image gets one coin at the start, and every other
    epoch all images are flipped the other way, so in any two epochs in a row the network sees both versions.

    ``label_bound`` (the largest label + 1) lets ``helpers.training.fit`` check labels without a GPU round trip.
    ``seed`` makes the order and the augmentation repeatable (else the global torch seed decides).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 512, *, shuffle: bool = False,
                 mean: float | Sequence[float] | None = None, std: float | Sequence[float] | None = None,
                 flip: bool | str = False, crop_padding: int = 0, padding_mode: str = "reflect", cutout: int = 0,
                 batch_augment: BatchAugment | None = None, drop_last: bool = False, channels_last: bool = False,
                 dtype: torch.dtype = torch.float32, device: torch.device | str | None = None, seed: int | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1; got {batch_size!r}.")
        _check_batch(images, "DeviceLoader")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels: they must match one to one.")
        if len(images) == 0:
            raise ValueError("No images: the tensors are empty.")
        if (mean is None) != (std is None):
            raise ValueError("Give both mean and std (or neither) to normalise images.")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}; got {padding_mode!r}.")
        if flip not in (True, False, "alternate"):
            raise ValueError(f"flip must be True, False or 'alternate'; got {flip!r}.")
        self.device = images.device if device is None else pick_device(device)
        self.images = images.to(self.device)
        self.labels = torch.as_tensor(labels).long().to(self.device)
        channels = images.shape[1]
        self.mean = None if mean is None else self._per_channel(mean, channels, dtype)
        self.std = None if std is None else self._per_channel(std, channels, dtype)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.flip, self.crop_padding, self.padding_mode, self.cutout = flip, crop_padding, padding_mode, cutout
        self.batch_augment, self.channels_last, self.dtype = batch_augment, channels_last, dtype
        self.generator = None if seed is None else torch.Generator(device=self.device).manual_seed(seed)
        self.epoch = 0  # epochs started so far (for flip="alternate")
        self._coins = (torch.rand(len(images), device=self.device, generator=self.generator) < 0.5
                       if flip == "alternate" else None)
        self.label_bound = int(torch.as_tensor(labels).max()) + 1  # read from the CPU copy: no GPU round trip
        if len(self) == 0:
            raise ValueError(f"drop_last=True with {len(images)} images and batch_size {batch_size} leaves no batch.")

    def _per_channel(self, values: float | Sequence[float], channels: int, dtype: torch.dtype) -> torch.Tensor:
        tensor = torch.as_tensor(values, dtype=torch.float32).reshape(1, -1, 1, 1)
        if tensor.shape[1] not in (1, channels):
            raise ValueError(f"mean/std have {tensor.shape[1]} values but the images have {channels} channels.")
        return tensor.to(self.device, dtype)

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.images)
        order = (torch.randperm(n, device=self.device, generator=self.generator) if self.shuffle
                 else torch.arange(n, device=self.device))
        odd_epoch = self.epoch % 2 == 1
        self.epoch += 1
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start:start + self.batch_size]
            images = self.images[index]
            if self._coins is not None:
                images = torch.where((self._coins[index] ^ odd_epoch)[:, None, None, None], images.flip(-1), images)
            yield self.transform(images, self.labels[index], augment=True)

    def transform(self, images: torch.Tensor, labels: torch.Tensor, augment: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch as the model gets it: augmented (if ``augment``), as ``dtype`` in [0, 1], normalised."""
        if augment and self.flip is True:
            images = random_flip(images, generator=self.generator)
        if augment and self.crop_padding:
            images = random_crop(images, self.crop_padding, padding_mode=self.padding_mode, generator=self.generator)
        if augment and self.cutout:
            images = random_cutout(images, self.cutout, generator=self.generator)
        images = images.to(self.dtype) / 255 if images.dtype == torch.uint8 else images.to(self.dtype)
        if augment and self.batch_augment is not None:
            images, labels = self.batch_augment(images, labels)
        if self.mean is not None:
            images = (images - self.mean) / self.std
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels

    def __repr__(self) -> str:
        return (f"DeviceLoader({len(self.images)} images on {self.device}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, flip={self.flip}, crop_padding={self.crop_padding}, cutout={self.cutout})")
