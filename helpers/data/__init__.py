"""The course's data: data sets, class names and statistics, splits, pretrained weights. Offline first.

Notebooks import from here (``from helpers.data import load_fashion_mnist_tensors``); the code lives in one
module per reader:

- ``loaders``: for students. ``load_fashion_mnist(_tensors)``, ``load_cifar10(_tensors)``, ``load_cats_vs_dogs``,
  ``load_fruit``, ``load_sample_photo``; the constants ``FASHION_MNIST_CLASSES``, ``FASHION_MNIST_MEAN``/``_STD``,
  ``CIFAR10_CLASSES``, ``CIFAR10_MEAN``/``_STD``, ``IMAGENET_MEAN``/``_STD``; ``stratified_indices`` and
  ``train_val_split``.
- ``image_files``: any image file as RGB (``pil_rgb_loader``), damaged images found (``verify_images``).
- ``weights``: for the transfer lessons. ``load_pretrained_classifier``, ``load_timm_model``, ``load_state_dict_file``,
  ``imagenet_class_names`` (files read and checked by ``helpers.checkpoints``).
- ``storage``: for instructors. The registry ``DATASETS``, data roots and their search order, checksums,
  unpacking, ``ensure_dataset``, ``fetch_dataset``, ``print_status``.
- ``errors``: ``DataNotFoundError``, ``CorruptFileError``, ``DataLayoutError``.
- ``__main__``: the command line, ``python -m helpers.data status | fetch ...``.

    >>> from helpers.data import load_fashion_mnist_tensors, train_val_split, FASHION_MNIST_MEAN
    >>> images, labels = load_fashion_mnist_tensors("train", limit=1000)   # 100 per class
    >>> train_idx, val_idx = train_val_split(labels, val_size=200, seed=0)
    >>> images.shape, len(train_idx), len(val_idx)
    (torch.Size([1000, 1, 28, 28]), 800, 200)

Importing this package creates, downloads and prints nothing.
"""

from helpers.checkpoints import WeightsMismatchError
from helpers.data.errors import CorruptFileError, DataLayoutError, DataNotFoundError
from helpers.data.image_files import pil_rgb_loader, read_rgb_array, to_rgb, verify_images
from helpers.data.loaders import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    SAMPLE_PHOTOS,
    load_cats_vs_dogs,
    load_cifar10,
    load_cifar10_tensors,
    load_fashion_mnist,
    load_fashion_mnist_tensors,
    load_fruit,
    load_sample_photo,
    stratified_indices,
    train_val_split,
)
from helpers.data.storage import (
    DATASETS,
    FALLBACK_WEIGHTS,
    MARKER,
    DataSet,
    dataset_status,
    ensure_dataset,
    fetch_dataset,
    file_digest,
    find_file,
    get_dataset,
    print_status,
    search_roots,
    verify_unpacked,
    writable_root,
)
from helpers.data.weights import imagenet_class_names, load_pretrained_classifier, load_state_dict_file, load_timm_model

__all__ = [
    "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "DATASETS", "FALLBACK_WEIGHTS", "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_MEAN", "FASHION_MNIST_STD", "IMAGENET_MEAN", "IMAGENET_STD", "MARKER", "SAMPLE_PHOTOS",
    "CorruptFileError", "DataLayoutError", "DataNotFoundError", "DataSet", "WeightsMismatchError",
    "dataset_status", "ensure_dataset", "fetch_dataset", "file_digest", "find_file", "get_dataset",
    "imagenet_class_names", "load_cats_vs_dogs", "load_cifar10", "load_cifar10_tensors", "load_fashion_mnist",
    "load_fashion_mnist_tensors", "load_fruit", "load_pretrained_classifier", "load_sample_photo",
    "load_state_dict_file", "load_timm_model", "pil_rgb_loader", "print_status", "read_rgb_array", "search_roots",
    "stratified_indices", "to_rgb", "train_val_split", "verify_images", "verify_unpacked", "writable_root",
]
