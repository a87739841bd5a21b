"""helpers.data.loaders: the data sets as datasets and tensors, the tensor cache, subsets, splits, constants."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torchvision
from data_fixtures import cifar_files, image_bytes, sha256_of, truncated_jpeg, write_tar_gz

from helpers import data
from helpers.data import loaders

# --- Fashion-MNIST --------------------------------------------------------------------------------------


def test_fashion_mnist_loads_as_tensors_and_as_a_dataset(mirror):
    images, labels = data.load_fashion_mnist_tensors("train")
    expected_images, expected_labels = mirror.written["fashion-mnist"]["train"]
    assert images.shape == (20, 1, 28, 28) and images.dtype == torch.uint8 and labels.dtype == torch.int64
    assert np.array_equal(images[:, 0].numpy(), expected_images)
    assert np.array_equal(labels.numpy(), expected_labels)
    test_set = data.load_fashion_mnist("test")
    assert len(test_set) == 10 and test_set[0][0].size == (28, 28)


def test_fashion_mnist_subset_is_stratified_and_deterministic(mirror):
    a_images, a_labels = data.load_fashion_mnist_tensors("train", limit=10, seed=1)
    b_images, b_labels = data.load_fashion_mnist_tensors("train", limit=10, seed=1)
    assert torch.equal(a_images, b_images) and torch.equal(a_labels, b_labels)
    assert a_labels.bincount(minlength=10).tolist() == [1] * 10
    others = [data.load_fashion_mnist_tensors("train", limit=10, seed=s)[0] for s in range(2, 8)]
    assert any(not torch.equal(a_images, other) for other in others)


def test_damaged_unpacked_fashion_mnist_is_explained(mirror, repo_data):
    data.load_fashion_mnist("train")
    (repo_data / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(data.CorruptFileError, match="FashionMNIST is incomplete or damaged.*Delete"):
        data.load_fashion_mnist("test")


# --- CIFAR-10: both formats, the tensor cache --------------------------------------------------------------

def test_cifar10_imagefolder_tensors_are_cached(mirror, monkeypatch, repo_data):
    dataset = data.load_cifar10("train")
    assert dataset.classes == data.CIFAR10_CLASSES and len(dataset) == 30
    images, labels = data.load_cifar10_tensors("train", progress=False)
    assert images.shape == (30, 3, 32, 32) and images.dtype == torch.uint8
    expected = 20 * labels + 3 * (torch.arange(30) % 3)  # the fixture's gray: 20*class + 3*(index in class)
    assert (images.float().mean(dim=(1, 2, 3)) - expected).abs().max() < 2
    assert (repo_data / "cache" / "cifar10_train_uint8.pt").is_file()
    monkeypatch.setattr(loaders, "_decode_to_tensor", lambda *a, **k: pytest.fail("decoded again despite the cache"))
    cached_images, cached_labels = data.load_cifar10_tensors("train")
    assert torch.equal(cached_images, images) and torch.equal(cached_labels, labels)
    subset = data.load_cifar10_tensors("train", limit=10, seed=4)
    assert subset[1].bincount(minlength=10).tolist() == [1] * 10


def test_cifar10_subset_without_cache_decodes_only_the_subset(mirror, monkeypatch):
    decoded = []
    real_decode = loaders._decode_to_tensor
    monkeypatch.setattr(loaders, "_decode_to_tensor",
                        lambda paths, *a, **k: decoded.append(len(paths)) or real_decode(paths, *a, **k))
    images, labels = data.load_cifar10_tensors("train", limit=10, seed=4, progress=False)
    full_images, full_labels = data.load_cifar10_tensors("train", progress=False)
    keep = torch.from_numpy(data.stratified_indices(full_labels.numpy(), 10, seed=4))
    assert decoded == [10, 30]
    assert torch.equal(images, full_images[keep]) and torch.equal(labels, full_labels[keep])


def test_a_truncated_cifar_jpeg_is_refused_and_never_cached(mirror, use_registry_entry, repo_data):
    files = cifar_files()
    files["cifar10/train/cat/0001.jpg"] = truncated_jpeg()  # OpenCV alone would decode it with a gray part
    archive = write_tar_gz(mirror.path / "cifar10" / "cifar10_jpg_imagefolder.tar.gz", files)
    use_registry_entry("cifar10", files={"cifar10/cifar10_jpg_imagefolder.tar.gz": sha256_of(archive)})
    for limit in (None, 10, 30):
        with pytest.raises(data.CorruptFileError, match=r"cifar10/train/cat/0001.jpg is truncated"):
            data.load_cifar10_tensors("train", limit=limit, seed=0, progress=False)
    assert not (repo_data / "cache").exists()
    images, _ = data.load_cifar10_tensors("test", progress=False)  # the other split is fine
    assert images.shape == (10, 3, 32, 32)


def test_cifar10_wrong_class_order_is_refused(tmp_path, monkeypatch, use_registry_entry):
    files = {f"cifar10/train/{name}/0.jpg": image_bytes("rgb") for name in ["cat", "dog"]}
    archive = write_tar_gz(tmp_path / "mirror" / "cifar10" / "cifar10_jpg_imagefolder.tar.gz", files)
    use_registry_entry("cifar10", files={"cifar10/cifar10_jpg_imagefolder.tar.gz": sha256_of(archive)})
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(data.DataLayoutError, match=r"classes \['cat', 'dog'\], expected \['airplane'"):
        data.load_cifar10("train")


def test_cifar10_pickled_torchvision_format_is_used_when_present(monkeypatch, repo_data):
    """torchvision's own format (what download=True fetches) wins; its tensors come from the pickles."""
    folder = repo_data / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [name for name, _ in torchvision.datasets.CIFAR10.train_list + torchvision.datasets.CIFAR10.test_list]
    for i, name in enumerate(names):
        batch = {"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), "labels": [i, (i + 1) % 10]}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": data.CIFAR10_CLASSES}))
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args: True)  # ours, not their MD5s
    dataset = data.load_cifar10("train")
    assert isinstance(dataset, torchvision.datasets.CIFAR10) and len(dataset) == 10
    images, labels = data.load_cifar10_tensors("train")
    assert images.shape == (10, 3, 32, 32) and labels.tolist() == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]
    first = (folder / "data_batch_1").read_bytes()
    assert torch.equal(images[0].flatten(), torch.from_numpy(pickle.loads(first)["data"][0]))


# --- photo folders: cats vs dogs, fruit ---------------------------------------------------------------------

def test_cats_vs_dogs_tar_and_fruit_zip_load_as_rgb(mirror):
    train = data.load_cats_vs_dogs("train")
    assert train.classes == ["cat", "dog"] and len(train) == 4
    assert len(data.load_cats_vs_dogs("val")) == 2
    for split in ("train", "test"):
        fruit = data.load_fruit(split)
        for i in range(len(fruit)):
            assert fruit[i][0].mode == "RGB", fruit.samples[i]


@pytest.mark.parametrize("kind", ["truncated", "empty", "not_image"])
def test_a_bad_photo_is_named_by_verify_and_by_the_loader(mirror, repo_data, kind):
    data.load_cats_vs_dogs("val")
    bad = repo_data / "cats_vs_dogs" / "val" / "dog" / "zz_bad.jpg"
    bad.write_bytes(image_bytes(kind))
    with pytest.raises(data.CorruptFileError, match="1 damaged image.*zz_bad.jpg"):
        data.load_cats_vs_dogs("val", verify=True)
    dataset = data.load_cats_vs_dogs("val")
    with pytest.raises(data.CorruptFileError, match=f"{bad}"):
        list(torch.utils.data.DataLoader(dataset, batch_size=None))


def test_wrong_folder_layouts_are_explained(mirror, repo_data):
    data.load_fruit("train")
    train = repo_data / "fruit" / "train"
    (train / "empty_class").mkdir()
    with pytest.raises(data.DataLayoutError, match=r"\['empty_class'\] hold no images.*'cat': 2"):
        data.load_fruit("train")
    flat = repo_data / "fruit" / "test"
    for image in list(flat.rglob("*.*")):
        image.rename(flat / image.name)
    for folder in [p for p in flat.iterdir() if p.is_dir()]:
        folder.rmdir()
    with pytest.raises(data.DataLayoutError, match="no class folders.*palette.png"):
        data.load_fruit("test")
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_fruit("val")


# --- subsets and splits --------------------------------------------------------------------------------

def test_stratified_indices():
    labels = np.repeat(np.arange(4), [10, 10, 10, 3])
    picked = data.stratified_indices(labels, 10, seed=0)
    assert len(picked) == 10 and np.all(np.diff(picked) > 0)
    assert sorted(np.bincount(labels[picked])) == [2, 2, 3, 3]
    assert np.array_equal(picked, data.stratified_indices(labels, 10, seed=0))
    assert not all(np.array_equal(picked, data.stratified_indices(labels, 10, seed=s)) for s in range(1, 6))
    assert np.bincount(labels[data.stratified_indices(labels, 24)]).tolist() == [7, 7, 7, 3]  # a small class
    assert len(data.stratified_indices(labels, 1000)) == len(labels)
    assert np.bincount(labels[data.stratified_indices(labels, per_class=2)]).tolist() == [2, 2, 2, 2]
    with pytest.raises(ValueError, match="exactly one"):
        data.stratified_indices(labels)


def test_train_val_split_is_seeded_stratified_and_disjoint():
    labels = np.repeat(np.arange(5), [40, 40, 40, 40, 20])
    train, val = data.train_val_split(labels, 18, seed=3)
    assert len(val) == 18 and len(train) == 162 and not set(train) & set(val)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(180))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)
    assert np.bincount(labels[val]).tolist() == [4, 4, 4, 4, 2]  # each class keeps its share
    again = data.train_val_split(torch.from_numpy(labels), 18, seed=3)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], val)
    assert not all(np.array_equal(data.train_val_split(labels, 18, seed=s)[1], val) for s in range(4, 8))
    assert len(data.train_val_split(labels, 0.1)[1]) == 18  # a fraction of all images
    plain = data.train_val_split(labels, 18, seed=3, stratified=False)[1]
    assert len(plain) == 18 and not np.array_equal(plain, val)
    images = torch.arange(180)
    assert torch.equal(images[val], torch.from_numpy(val))  # the indices index tensors directly


@pytest.mark.parametrize("labels, val_size, stratified, message", [
    (np.repeat(np.arange(4), 5), 20, True, "leaves no training images"),
    (np.repeat(np.arange(4), 5), 0, True, "at least 1"),
    (np.repeat(np.arange(4), 5), 1.0, True, "strictly between 0 and 1"),
    (np.repeat(np.arange(4), 5), 3, True, "3 validation image.*4 classes"),
    (np.repeat(np.arange(4), 5), 17, True, "3 training image.*4 classes"),
    (np.array([0, 0, 0, 1, 2, 2]), 3, True, r"class\(es\) \[1\] have a single image"),
    (np.array([0, 0, 0] + [1] * 17), 18, False, r"leaves class\(es\) \[0\] with no training images"),
])
def test_train_val_split_refuses_sizes_that_empty_a_class_or_the_training_set(labels, val_size, stratified, message):
    with pytest.raises(ValueError, match=message):
        data.train_val_split(labels, val_size, seed=0, stratified=stratified)


def test_normalisation_constants_and_class_names():
    """The fixture's tiny data has other statistics; test_real_* check the constants against the real data."""
    assert (data.FASHION_MNIST_MEAN, data.FASHION_MNIST_STD) == (0.286, 0.353)
    assert data.IMAGENET_MEAN == (0.485, 0.456, 0.406) and data.IMAGENET_STD == (0.229, 0.224, 0.225)
    for values in (data.CIFAR10_MEAN, data.CIFAR10_STD):
        assert isinstance(values, tuple) and len(values) == 3 and all(0 < v < 1 for v in values)
    assert len(data.FASHION_MNIST_CLASSES) == len(data.CIFAR10_CLASSES) == 10


def test_sample_photos():
    for name in data.SAMPLE_PHOTOS:
        photo = data.load_sample_photo(name)
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3, name
    with pytest.raises(ValueError, match="chelsea"):
        data.load_sample_photo("no_such_photo")


# --- the real data ($COURSE_DATA_MIRROR, e.g. ../shared/data); skipped without it -------------------------

def test_real_fashion_mnist(real_mirror):
    images, labels = data.load_fashion_mnist_tensors("train")
    assert images.shape == (60000, 1, 28, 28) and labels.bincount().tolist() == [6000] * 10
    assert abs(images.float().mean().item() - 72.94) < 0.01  # Fashion-MNIST's known mean pixel
    pixels = images.float() / 255
    assert abs(pixels.mean().item() - data.FASHION_MNIST_MEAN) < 5e-4
    assert abs(pixels.std().item() - data.FASHION_MNIST_STD) < 5e-4
    test_images, test_labels = data.load_fashion_mnist_tensors("test", limit=1000, seed=0)
    assert test_images.shape == (1000, 1, 28, 28) and test_labels.bincount().tolist() == [100] * 10


def test_real_image_folders(real_mirror):
    assert [len(data.load_cats_vs_dogs(s)) for s in ("train", "val")] == [600, 200]
    fruit = data.load_fruit("test")
    assert len(fruit) == 272 and len(fruit.classes) == 8 and fruit[0][0].size == (100, 100)
    images, labels = data.load_cifar10_tensors("test", limit=200, progress=False)
    assert images.shape == (200, 3, 32, 32) and labels.bincount().tolist() == [20] * 10
    assert 100 < images.float().mean().item() < 140  # CIFAR-10's mean pixel is about 120


def test_real_cifar10_statistics_match_the_constants(real_mirror):
    images, labels = data.load_cifar10_tensors("train", progress=False)  # decoded once, then cached
    assert images.shape == (50000, 3, 32, 32) and labels.bincount().tolist() == [5000] * 10
    pixels = images.double() / 255
    assert torch.allclose(pixels.mean(dim=(0, 2, 3)), torch.tensor(data.CIFAR10_MEAN, dtype=torch.double), atol=1e-4)
    assert torch.allclose(pixels.std(dim=(0, 2, 3)), torch.tensor(data.CIFAR10_STD, dtype=torch.double), atol=1e-4)
