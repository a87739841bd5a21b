"""The course's data sets, ready to train on: class names, normalisation constants, datasets and tensors, splits.

    >>> from helpers.data import load_fashion_mnist_tensors, train_val_split, FASHION_MNIST_CLASSES
    >>> images, labels = load_fashion_mnist_tensors("train", limit=1000)   # 100 per class, uint8 [1000, 1, 28, 28]
    >>> train_idx, val_idx = train_val_split(labels, val_size=200, seed=0)  # 20 per class for validation
    >>> FASHION_MNIST_CLASSES[int(labels[0])]
    'Sneaker'

Every loader takes the split first and the data root second (``root=DATA_DIR``; None searches the usual
places, see ``helpers.data.storage``). The first call unpacks the data set once; later calls are instant.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

from helpers.common import progress_bar, usable_cpu_count
from helpers.data.errors import CorruptFileError, DataLayoutError
from helpers.data.image_files import is_image_file, pil_rgb_loader, read_rgb_array, to_rgb, verify_images
from helpers.data.storage import MARKER, ensure_dataset

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FASHION_MNIST_MEAN = 0.286  # pixel mean and standard deviation of the 60,000 training images, pixels in [0, 1]
FASHION_MNIST_STD = 0.353

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
# Per-channel (R, G, B) mean and standard deviation of the course mirror's 50,000 JPEG training images, pixels in
# [0, 1] (computed once with load_cifar10_tensors("train")). The JPEG copies are slightly smoother than the original
# CIFAR-10 pickles, whose often-quoted std is (0.2470, 0.2435, 0.2616).
CIFAR10_MEAN = (0.4913, 0.4821, 0.4465)
CIFAR10_STD = (0.2452, 0.2428, 0.2606)

# The ImageNet statistics every torchvision/timm pretrained classifier expects its inputs normalised with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

SAMPLE_PHOTOS = ("chelsea", "astronaut", "coffee", "rocket", "camera", "coins", "moon", "page", "text", "logo")
TENSOR_CACHE_VERSION = 2  # bump when decoding changes; 2: truncated JPEGs are refused instead of decoded gray


# --- 1. Fashion-MNIST -------------------------------------------------------------------------------------

def load_fashion_mnist(split: str = "train", root: str | os.PathLike | None = None, *,
                       transform: Callable | None = None) -> torchvision.datasets.FashionMNIST:
    """Fashion-MNIST as torchvision's dataset (PIL images, int labels).

    >>> ds = load_fashion_mnist("test"); len(ds), ds.classes[0]
    (10000, 'T-shirt/top')
    """
    _check_split(split, ("train", "test"))
    folder = ensure_dataset("fashion-mnist", root)  # <root>/FashionMNIST
    return _torchvision_dataset(torchvision.datasets.FashionMNIST, folder, split, transform)


def load_fashion_mnist_tensors(split: str = "train", root: str | os.PathLike | None = None, *,
                               limit: int | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST as tensors: images uint8 [N, 1, 28, 28] and labels int64 [N].

    ``limit`` takes a class-balanced subset, the same one for the same ``seed``.

    >>> images, labels = load_fashion_mnist_tensors("train", limit=100); labels.bincount()
    tensor([10, 10, 10, 10, 10, 10, 10, 10, 10, 10])
    """
    ds = load_fashion_mnist(split, root)
    images, labels = ds.data.unsqueeze(1), ds.targets.long()
    if limit is not None:
        keep = torch.from_numpy(stratified_indices(labels.numpy(), limit, seed=seed))
        images, labels = images[keep], labels[keep]
    return images.contiguous(), labels


# --- 2. CIFAR-10 ------------------------------------------------------------------------------------------

def load_cifar10(split: str = "train", root: str | os.PathLike | None = None, *, transform: Callable | None = None,
                 verify: bool = False) -> torch.utils.data.Dataset:
    """CIFAR-10: torchvision's CIFAR10 when its pickled batches are there, else the JPEG ImageFolder.

    Both give PIL RGB images and labels in the standard order (``CIFAR10_CLASSES``).

    >>> ds = load_cifar10("test"); len(ds), ds.classes[:2]
    (10000, ['airplane', 'automobile'])
    """
    _check_split(split, ("train", "test"))
    folder = ensure_dataset("cifar10", root)
    if folder.name == "cifar-10-batches-py":
        ds = _torchvision_dataset(torchvision.datasets.CIFAR10, folder, split, transform)
        if ds.classes != CIFAR10_CLASSES:
            raise DataLayoutError(f"{folder} has classes {ds.classes}, expected {CIFAR10_CLASSES}.")
        return ds
    return _image_folder(folder / split, transform, CIFAR10_CLASSES, verify)


def load_cifar10_tensors(split: str = "train", root: str | os.PathLike | None = None, *, limit: int | None = None,
                         seed: int = 0, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 as tensors: images uint8 [N, 3, 32, 32] and labels int64 [N].

    From JPEGs, the whole split is decoded once (a few seconds) and cached as
    ``<data root>/cache/cifar10_<split>_uint8.pt``; with ``limit`` and no cache yet only the subset is decoded.
    A truncated or damaged image raises ``CorruptFileError`` naming it, and nothing is cached.

    >>> images, labels = load_cifar10_tensors("test", limit=500); images.shape
    torch.Size([500, 3, 32, 32])
    """
    ds = load_cifar10(split, root)
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    keep = None if limit is None else torch.from_numpy(stratified_indices(labels.numpy(), limit, seed=seed))
    if isinstance(ds, torchvision.datasets.CIFAR10):
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2)
    else:
        split_dir = Path(ds.root)
        cache = split_dir.parent.parent / "cache" / f"cifar10_{split}_uint8.pt"
        marker = split_dir.parent / MARKER
        stamp = f"v{TENSOR_CACHE_VERSION} " + (marker.read_text() if marker.is_file() else "")
        images = _read_tensor_cache(cache, stamp, len(labels))
        if images is None and keep is not None:  # quick mode: decode only the subset
            return _decode_to_tensor([ds.samples[i][0] for i in keep.tolist()], progress), labels[keep]
        if images is None:
            images = _decode_to_tensor([path for path, _ in ds.samples], progress)
            _write_tensor_cache(cache, images, labels, stamp)
    if keep is not None:
        images, labels = images[keep], labels[keep]
    return images.contiguous(), labels


def _decode_to_tensor(paths: list[str], progress: bool = True, chunk: int = 1000) -> torch.Tensor:
    """Decode equally sized images into one uint8 tensor [N, 3, H, W], chunks of files in parallel threads.

    Measured for CIFAR-10's 50,000 JPEGs on 2 busy cores: PIL in one loop 27 s (processes do not help),
    OpenCV in 2 threads 7 s, with identical pixels.
    """
    def decode_chunk(chunk_paths: list[str]) -> np.ndarray:
        images = [read_rgb_array(p) for p in chunk_paths]
        if len({im.shape for im in images}) > 1:
            sizes = {p: im.shape for p, im in zip(chunk_paths, images)}
            raise DataLayoutError(f"Images of different sizes cannot be stacked: {dict(list(sizes.items())[:5])}")
        return np.stack(images)

    if not paths:
        raise DataLayoutError("No images to decode.")
    chunks = [paths[i:i + chunk] for i in range(0, len(paths), chunk)]
    parts = []
    with ThreadPoolExecutor(max_workers=min(4, usable_cpu_count())) as pool, \
            progress_bar(total=len(paths), desc="decoding images", unit=" img", enabled=progress) as bar:
        for part in pool.map(decode_chunk, chunks):
            parts.append(part)
            bar.update(len(part))
    return torch.from_numpy(np.concatenate(parts)).permute(0, 3, 1, 2).contiguous()


def _read_tensor_cache(cache: Path, stamp: str, count: int) -> torch.Tensor | None:
    """The cached images if the cache exists and was made from the same unpacked data, else None."""
    if not cache.is_file():
        return None
    try:
        saved = torch.load(cache, map_location="cpu", weights_only=True)
    except Exception as err:
        print(f"Ignoring the unreadable cache {cache} ({type(err).__name__}); decoding again.")
        return None
    if not isinstance(saved, dict) or saved.get("stamp") != stamp or len(saved.get("images", ())) != count:
        return None
    return saved["images"]


def _write_tensor_cache(cache: Path, images: torch.Tensor, labels: torch.Tensor, stamp: str) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f".{cache.name}.{os.getpid()}.partial")
        torch.save({"images": images, "labels": labels, "stamp": stamp}, partial)
        os.replace(partial, cache)
    except OSError as err:  # a read-only data folder: work without the cache
        print(f"Could not write the cache {cache} ({err}); next time the images are decoded again.")


# --- 3. Photo folders: cats vs dogs, fruit ----------------------------------------------------------------

def load_cats_vs_dogs(split: str = "train", root: str | os.PathLike | None = None, *,
                      transform: Callable | None = None, verify: bool = False) -> torchvision.datasets.ImageFolder:
    """Cats vs dogs photos as an ImageFolder (classes ['cat', 'dog']; train 600, val 200).

    >>> ds = load_cats_vs_dogs("val"); len(ds), ds.classes
    (200, ['cat', 'dog'])
    """
    _check_split(split, ("train", "val"))
    return _image_folder(ensure_dataset("cats-vs-dogs", root) / split, transform, verify=verify)


def load_fruit(split: str = "train", root: str | os.PathLike | None = None, *,
               transform: Callable | None = None, verify: bool = False) -> torchvision.datasets.ImageFolder:
    """The lecture's fruit.zip (8 Fruits-360 classes) as an ImageFolder; unzipped once into the data root.

    >>> ds = load_fruit("test"); len(ds), ds.classes[:2]
    (272, ['apple_golden', 'apple_red_delicious'])
    """
    _check_split(split, ("train", "test"))
    return _image_folder(ensure_dataset("fruit", root) / split, transform, verify=verify)


def _image_folder(split_dir: Path, transform: Callable | None, classes: Sequence[str] | None = None,
                  verify: bool = False) -> torchvision.datasets.ImageFolder:
    """ImageFolder over ``split_dir``/<class>/<images>, with layout errors a person can act on.

    Its loader is ``pil_rgb_loader``: a bad file met while training raises ``CorruptFileError`` naming it;
    ``verify=True`` decodes every image first and lists the bad ones before training starts.
    """
    if not split_dir.is_dir():
        found = sorted(p.name for p in split_dir.parent.iterdir()) if split_dir.parent.is_dir() else []
        raise DataLayoutError(f"{split_dir} does not exist; {split_dir.parent} holds {found}.")
    class_dirs = sorted(p for p in split_dir.iterdir() if p.is_dir())
    if not class_dirs:
        found = sorted(p.name for p in split_dir.iterdir())[:10]
        raise DataLayoutError(f"{split_dir} has no class folders (it holds {found}). An ImageFolder needs "
                              f"{split_dir}/<class name>/<image files>.")
    counts = {d.name: sum(is_image_file(p) for p in d.iterdir()) for d in class_dirs}
    if empty := [name for name, n in counts.items() if n == 0]:
        raise DataLayoutError(f"{split_dir}: class folder(s) {empty} hold no images. Images per class: {counts}. "
                              "Delete the folder and unpack the data set again.")
    if classes is not None and list(counts) != list(classes):
        raise DataLayoutError(f"{split_dir} has classes {list(counts)}, expected {list(classes)}.")
    if verify and (bad := verify_images(split_dir)):
        raise CorruptFileError(f"{len(bad)} damaged image(s) in {split_dir}, e.g. {[str(b) for b in bad[:3]]}. "
                               "Delete the folder and unpack the data set again.")
    return torchvision.datasets.ImageFolder(str(split_dir), transform=transform, loader=pil_rgb_loader)


def _torchvision_dataset(cls: type, folder: Path, split: str, transform: Callable | None):
    """torchvision's FashionMNIST / CIFAR10 over ``folder``, whose damage is reported in our words."""
    try:
        return cls(str(folder.parent), train=split == "train", transform=transform, download=False)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted. You can use download=True"
        raise CorruptFileError(f"{folder} is incomplete or damaged (torchvision says: {err}). Delete {folder}; "
                               "the next load unpacks it again (or downloads it).") from err


def _check_split(split: str, allowed: tuple[str, ...]) -> None:
    if split not in allowed:
        raise ValueError(f"split must be one of {allowed}, not {split!r}.")


# --- 4. Subsets and splits --------------------------------------------------------------------------------

def stratified_indices(labels: Sequence[int] | np.ndarray | torch.Tensor, limit: int | None = None, *,
                       per_class: int | None = None, seed: int = 0) -> np.ndarray:
    """Indices of a class-balanced subset, sorted, the same for the same seed.

    ``limit`` images in total (class counts differ by at most one) or ``per_class`` images of each class.

    >>> stratified_indices([0, 0, 0, 1, 1, 1], limit=4, seed=0)
    array([0, 2, 4, 5])
    """
    labels = np.asarray(labels)
    if (limit is None) == (per_class is None):
        raise ValueError("Give exactly one of limit= or per_class=.")
    rng = np.random.default_rng(seed)
    shuffled = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    if per_class is not None:
        return np.sort(np.concatenate([idx[:per_class] for idx in shuffled]))
    # Deal like cards: the 1st image of every class (classes in a seeded order), then the 2nd, ...
    rank = np.concatenate([np.arange(len(idx)) for idx in shuffled])
    tie = np.concatenate([np.full(len(idx), order) for idx, order in zip(shuffled, rng.permutation(len(shuffled)))])
    dealt = np.concatenate(shuffled)[np.lexsort((tie, rank))]
    return np.sort(dealt[:limit])


def train_val_split(labels: Sequence[int] | np.ndarray | torch.Tensor, val_size: int | float, *, seed: int = 0,
                    stratified: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Split the indices 0..N-1 of ``labels`` into (training indices, validation indices), each sorted.

    ``val_size`` is a number of validation images (an int) or a fraction of all of them (a float between 0 and 1).
    ``stratified=True`` gives every class the same share in both parts (scikit-learn's ``train_test_split``).
    The same ``seed`` gives the same split.

    >>> train_idx, val_idx = train_val_split([0, 0, 0, 0, 1, 1, 1, 1], val_size=2, seed=0)
    >>> len(train_idx), len(val_idx), sorted(np.asarray([0, 0, 0, 0, 1, 1, 1, 1])[val_idx])
    (6, 2, [0, 1])
    """
    from sklearn.model_selection import train_test_split  # imported here: only this function needs it

    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D sequence of class indices, not shape {labels.shape}.")
    n = len(labels)
    n_val = _validation_count(val_size, n)
    classes, counts = np.unique(labels, return_counts=True)
    if stratified:
        if n_val < len(classes):
            raise ValueError(f"val_size={val_size!r} gives {n_val} validation image(s) for {len(classes)} classes: a "
                             "stratified split needs at least one per class. Use a larger val_size or stratified=False.")
        if n - n_val < len(classes):
            raise ValueError(f"val_size={val_size!r} leaves {n - n_val} training image(s) for {len(classes)} classes: "
                             "every class needs at least one. Use a smaller val_size.")
        if len(single := classes[counts < 2]):
            raise ValueError(f"class(es) {single.tolist()} have a single image, which cannot be in both the training "
                             "and the validation part. Use stratified=False or leave those classes out.")
    train, val = train_test_split(np.arange(n), test_size=n_val, random_state=seed,
                                  stratify=labels if stratified else None)
    if missing := sorted(set(classes.tolist()) - set(labels[train].tolist())):
        raise ValueError(f"val_size={val_size!r} leaves class(es) {missing} with no training images "
                         f"(images per class: {dict(zip(classes.tolist(), counts.tolist()))}). Use a smaller val_size.")
    return np.sort(train), np.sort(val)


def _validation_count(val_size: int | float, n: int) -> int:
    """``val_size`` as a number of images (a fraction is rounded up, as scikit-learn does), with clear errors."""
    if isinstance(val_size, (bool, np.bool_)) or not isinstance(val_size, (int, float, np.integer, np.floating)):
        raise TypeError(f"val_size must be a number of images (int) or a fraction (float), not {val_size!r}.")
    if isinstance(val_size, (int, np.integer)):
        if val_size < 1:
            raise ValueError(f"val_size={val_size} must be at least 1 (or a fraction such as 0.1).")
        count = int(val_size)
    else:
        if not 0 < val_size < 1:
            raise ValueError(f"val_size={val_size} as a fraction must lie strictly between 0 and 1 (e.g. 0.1); "
                             "give an int for a number of images.")
        count = int(np.ceil(val_size * n))
    if count >= n:
        raise ValueError(f"val_size={val_size!r} leaves no training images: there are only {n} images in all.")
    return count


# --- 5. Sample photos (shipped with scikit-image, no download) ------------------------------------------

def load_sample_photo(name: str = "chelsea") -> np.ndarray:
    """A real photo shipped with scikit-image, as RGB uint8 [H, W, 3].

    >>> load_sample_photo("chelsea").shape
    (300, 451, 3)
    """
    import skimage.data  # imported here: scikit-image is only needed for the photos

    if name not in SAMPLE_PHOTOS:
        raise ValueError(f"Unknown sample photo {name!r}; choose one of {', '.join(SAMPLE_PHOTOS)}.")
    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    elif image.shape[-1] == 4:
        image = np.asarray(to_rgb(Image.fromarray(image, "RGBA")))
    return np.ascontiguousarray(image, dtype=np.uint8)
