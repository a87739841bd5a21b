"""Tests for helpers/data.py: lookup order, unpacking once, clear errors, loaders, CLI, weights.

Unit tests build tiny real data in tmp_path (tests/data_fixtures.py) and never touch the internet, the
repository's data/ folder or ../shared/data. The last tests use the real mirror ($COURSE_DATA_MIRROR) and
skip cleanly without it; they unpack into the shared data root (as the notebooks do), atomically.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import data

try:
    from tests.data_fixtures import image_bytes, sha256_of, write_fake_mirror, write_tar_gz, write_zip
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    from data_fixtures import image_bytes, sha256_of, write_fake_mirror, write_tar_gz, write_zip

REAL_ENV = {key: os.environ.get(key) for key in ("COURSE_DATA", "COURSE_DATA_MIRROR")}
REAL_REPO_DATA_DIR = data.REPO_DATA_DIR
REPO_ROOT = Path(__file__).resolve().parent.parent


def _offline(root):
    raise RuntimeError("no internet in the tests")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No $COURSE_DATA, no mirror, a temporary 'repo data/' and hub cache, official downloads fail."""
    monkeypatch.delenv("COURSE_DATA", raising=False)
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.setattr(data, "REPO_DATA_DIR", tmp_path / "repo" / "data")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    for name, ds in list(data.DATASETS.items()):
        if ds.download is not None:
            monkeypatch.setitem(data.DATASETS, name, dataclasses.replace(ds, download=_offline))


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A fake mirror with tiny data, its checksums put into the registry, set as $COURSE_DATA_MIRROR."""
    folder = tmp_path / "mirror"
    written = write_fake_mirror(folder)
    for name, ds in list(data.DATASETS.items()):
        if all(rel in written["sha256"] for rel in ds.files):
            files = {rel: written["sha256"][rel] for rel in ds.files}
            md5 = written["md5"] if name == "fashion-mnist" else {}
            monkeypatch.setitem(data.DATASETS, name, dataclasses.replace(ds, files=files, unpacked_md5=md5))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(folder))
    return SimpleNamespace(path=folder, written=written, snapshot=_snapshot(folder))


def _snapshot(folder: Path) -> dict:
    return {str(p): (p.stat().st_mtime_ns, sha256_of(p)) for p in sorted(folder.rglob("*")) if p.is_file()}


# --- roots and lookup order ----------------------------------------------------------------------------

def test_data_root_default_is_repo_data_and_is_created():
    assert not data.REPO_DATA_DIR.exists()
    assert data.data_root() == data.REPO_DATA_DIR
    assert data.REPO_DATA_DIR.is_dir()


def test_data_root_prefers_explicit_then_course_data(tmp_path, monkeypatch):
    explicit, course = tmp_path / "explicit", tmp_path / "course"
    explicit.mkdir(), course.mkdir()
    monkeypatch.setenv("COURSE_DATA", str(course))
    assert data.data_root(explicit) == explicit
    assert data.data_root() == course


def test_nonexistent_roots_give_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(data.DataNotFoundError, match="does not exist.*mkdir -p") as err:
        data.data_root(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value)
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "also-nowhere"))
    with pytest.raises(FileNotFoundError, match=r"\$COURSE_DATA"):
        data.load_fruit()


def test_find_file_lookup_order(tmp_path, monkeypatch):
    roots = {name: tmp_path / name for name in ("explicit", "course", "mirror")}
    roots["repo"] = data.REPO_DATA_DIR
    for name, root in roots.items():
        (root / "sub").mkdir(parents=True)
        (root / "sub" / "f.txt").write_text(name)
    monkeypatch.setenv("COURSE_DATA", str(roots["course"]))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(roots["mirror"]))
    for expected in ("explicit", "course", "repo", "mirror"):
        assert data.find_file("sub/f.txt", roots["explicit"]).read_text() == expected
        (roots[expected] / "sub" / "f.txt").unlink()
    with pytest.raises(data.DataNotFoundError, match="sub/f.txt") as err:
        data.find_file("sub/f.txt", roots["explicit"])
    assert all(str(root) in str(err.value) for root in roots.values())


def test_unpacked_data_lookup_order(mirror, tmp_path, monkeypatch):
    course, explicit = tmp_path / "course", tmp_path / "explicit"
    course.mkdir(), explicit.mkdir()
    data.fetch("fruit")                  # into repo data/
    data.fetch("fruit", root=course)     # and into another root
    assert Path(data.load_fruit().root) == data.REPO_DATA_DIR / "fruit" / "train"
    monkeypatch.setenv("COURSE_DATA", str(course))
    assert Path(data.load_fruit().root) == course / "fruit" / "train"
    assert Path(data.load_fruit(root=explicit).root) == course / "fruit" / "train"  # explicit root is empty
    data.fetch("fruit", root=explicit)
    assert Path(data.load_fruit(root=explicit).root) == explicit / "fruit" / "train"
    assert _snapshot(mirror.path) == mirror.snapshot  # the mirror is never modified


# --- Fashion-MNIST --------------------------------------------------------------------------------------

def test_fashion_mnist_is_gunzipped_once_and_loads(mirror, monkeypatch):
    calls = []
    real_unpack = data._unpack_dataset
    monkeypatch.setattr(data, "_unpack_dataset", lambda *a: calls.append(a[0].name) or real_unpack(*a))
    images, labels = data.load_fashion_mnist_tensors("train")
    expected_images, expected_labels = mirror.written["fashion-mnist"]["train"]
    assert images.shape == (20, 1, 28, 28) and images.dtype == torch.uint8 and labels.dtype == torch.int64
    assert np.array_equal(images[:, 0].numpy(), expected_images)
    assert np.array_equal(labels.numpy(), expected_labels)
    raw = data.REPO_DATA_DIR / "FashionMNIST" / "raw"
    assert (raw / "train-images-idx3-ubyte").is_file() and (raw.parent / data.MARKER).is_file()
    marker_time = (raw.parent / data.MARKER).stat().st_mtime_ns
    test_set = data.load_fashion_mnist("test")
    assert len(test_set) == 10 and test_set[0][0].size == (28, 28)
    assert calls == ["fashion-mnist"]  # the second and third calls did not unpack again
    assert (raw.parent / data.MARKER).stat().st_mtime_ns == marker_time
    assert not list(data.REPO_DATA_DIR.glob(".unpacking-*"))
    assert _snapshot(mirror.path) == mirror.snapshot


def test_fashion_mnist_subset_is_stratified_and_deterministic(mirror):
    a_images, a_labels = data.load_fashion_mnist_tensors("train", limit=10, seed=1)
    b_images, b_labels = data.load_fashion_mnist_tensors("train", limit=10, seed=1)
    assert torch.equal(a_images, b_images) and torch.equal(a_labels, b_labels)
    assert a_labels.bincount(minlength=10).tolist() == [1] * 10
    others = [data.load_fashion_mnist_tensors("train", limit=10, seed=s)[0] for s in range(2, 8)]
    assert any(not torch.equal(a_images, other) for other in others)


def test_damaged_unpacked_fashion_mnist_is_explained(mirror):
    data.load_fashion_mnist("train")
    (data.REPO_DATA_DIR / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(data.CorruptFileError, match="FashionMNIST is incomplete or damaged.*Delete"):
        data.load_fashion_mnist("test")


def test_wrong_unpacked_md5_is_caught(mirror, monkeypatch):
    ds = data.DATASETS["fashion-mnist"]
    wrong = dict(ds.unpacked_md5, **{"raw/t10k-labels-idx1-ubyte": "0" * 32})
    monkeypatch.setitem(data.DATASETS, "fashion-mnist", dataclasses.replace(ds, unpacked_md5=wrong))
    with pytest.raises(data.CorruptFileError, match="t10k-labels-idx1-ubyte.*wrong MD5"):
        data.load_fashion_mnist()
    assert not (data.REPO_DATA_DIR / "FashionMNIST").exists()


# --- stratified subsets --------------------------------------------------------------------------------

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


def test_normalisation_constants_match_the_data():
    """The constants hold the statistics of the training sets they name (the fixture's tiny data differs)."""
    assert (data.FASHION_MNIST_MEAN, data.FASHION_MNIST_STD) == (0.286, 0.353)
    for values in (data.CIFAR10_MEAN, data.CIFAR10_STD, data.IMAGENET_MEAN, data.IMAGENET_STD):
        assert len(values) == 3 and all(0 < v < 1 for v in values)
    assert len(data.FASHION_MNIST_CLASSES) == len(data.CIFAR10_CLASSES) == 10


# --- ImageFolder sets: RGB conversion, layout errors, damaged images ---------------------------------------

def test_cats_vs_dogs_tar_and_fruit_zip_load_as_rgb(mirror):
    train = data.load_cats_vs_dogs("train")
    assert train.classes == ["cat", "dog"] and len(train) == 4
    assert len(data.load_cats_vs_dogs("val")) == 2
    for split in ("train", "test"):
        fruit = data.load_fruit(split)
        for i in range(len(fruit)):
            assert fruit[i][0].mode == "RGB", fruit.samples[i]
    with Image.open(data.REPO_DATA_DIR / "fruit" / "train" / "dog" / "cmyk.jpg") as original:
        assert original.mode == "CMYK"
    rgba = data.pil_rgb_loader(data.REPO_DATA_DIR / "fruit" / "train" / "dog" / "rgba.png")
    assert rgba.getpixel((0, 0)) == (255, 255, 255) and rgba.getpixel((19, 0)) == (200, 0, 0)  # white behind alpha
    assert data.pil_rgb_loader(data.REPO_DATA_DIR / "fruit" / "train" / "cat" / "gray.png").getpixel((0, 0)) == (128,) * 3


def test_verify_images_finds_the_truncated_jpeg(tmp_path):
    folder = tmp_path / "images" / "cat"
    folder.mkdir(parents=True)
    for kind in ("rgb", "gray", "rgba", "cmyk", "palette", "truncated"):
        suffix = "png" if kind in ("gray", "rgba", "palette") else "jpg"
        (folder / f"{kind}.{suffix}").write_bytes(image_bytes(kind))
    assert data.verify_images(tmp_path / "images", progress=False) == [folder / "truncated.jpg"]


def test_loader_verify_option_reports_damaged_images(mirror):
    data.load_cats_vs_dogs("val")
    (data.REPO_DATA_DIR / "cats_vs_dogs" / "val" / "dog" / "bad.jpg").write_bytes(image_bytes("truncated"))
    with pytest.raises(data.CorruptFileError, match="bad.jpg"):
        data.load_cats_vs_dogs("val", verify=True)


def test_wrong_folder_layouts_are_explained(mirror):
    data.load_fruit("train")
    train = data.REPO_DATA_DIR / "fruit" / "train"
    (train / "empty_class").mkdir()
    with pytest.raises(data.DataLayoutError, match=r"\['empty_class'\] hold no images.*'cat': 2"):
        data.load_fruit("train")
    flat = data.REPO_DATA_DIR / "fruit" / "test"
    for image in list(flat.rglob("*.*")):
        image.rename(flat / image.name)
    for folder in [p for p in flat.iterdir() if p.is_dir()]:
        folder.rmdir()
    with pytest.raises(data.DataLayoutError, match="no class folders.*palette.png"):
        data.load_fruit("test")
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_fruit("val")


def test_half_unpacked_folder_is_redone(mirror):
    half = data.REPO_DATA_DIR / "cats_vs_dogs" / "train" / "cat"
    half.mkdir(parents=True)
    (half / "rgb.jpg").write_bytes(image_bytes("rgb"))  # an interrupted run: one file, no marker
    assert len(data.load_cats_vs_dogs("train")) == 4
    assert (data.REPO_DATA_DIR / "cats_vs_dogs" / data.MARKER).is_file()


def test_mirror_layout_inside_the_data_root_is_kept(mirror):
    """data/fruit/fruit.zip (the mirror's layout) unpacks into data/fruit/ next to the zip, which stays."""
    zip_copy = data.REPO_DATA_DIR / "fruit" / "fruit.zip"
    zip_copy.parent.mkdir(parents=True)
    zip_copy.write_bytes((mirror.path / "fruit" / "fruit.zip").read_bytes())
    assert len(data.load_fruit("train")) == 4
    assert sorted(p.name for p in zip_copy.parent.iterdir()) == [data.MARKER, "fruit.zip", "test", "train"]


# --- damaged and missing files -------------------------------------------------------------------------

@pytest.mark.parametrize("name, relative, load", [
    ("fruit", "fruit/fruit.zip", data.load_fruit),
    ("cats-vs-dogs", "cats-vs-dogs/cats_vs_dogs_160.tar.gz", data.load_cats_vs_dogs),
    ("fashion-mnist", "fashion-mnist/train-images-idx3-ubyte.gz", data.load_fashion_mnist),
])
def test_truncated_archives_give_clear_errors(mirror, monkeypatch, name, relative, load):
    archive = mirror.path / relative
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(data.CorruptFileError, match="fails its checksum") as err:
        load()
    assert str(archive) in str(err.value) and f"fetch {name}" in str(err.value)
    # Same truncated file with a matching checksum: unpacking itself must notice.
    ds = data.DATASETS[name]
    monkeypatch.setitem(data.DATASETS, name, dataclasses.replace(ds, files={**ds.files, relative: sha256_of(archive)}))
    with pytest.raises(data.CorruptFileError, match="truncated or damaged") as err:
        load()
    assert str(archive) in str(err.value) and f"python -m helpers.data fetch {name}" in str(err.value)
    assert not [p.name for p in data.REPO_DATA_DIR.iterdir()]  # nothing half-unpacked left behind


def test_archive_without_its_top_folder_is_explained(mirror, monkeypatch):
    archive = write_zip(mirror.path / "fruit" / "fruit.zip", {"train/apple/a.png": image_bytes("gray")})
    ds = data.DATASETS["fruit"]
    monkeypatch.setitem(data.DATASETS, "fruit", dataclasses.replace(ds, files={"fruit/fruit.zip": sha256_of(archive)}))
    with pytest.raises(data.DataLayoutError, match=r"top folder 'fruit/' but holds \['train'\]"):
        data.load_fruit()


def test_missing_data_error_names_file_source_and_fetch_command():
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_fruit()
    message = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    for needle in ("fruit/fruit.zip", "Fruits-360", "no official download URL",
                   "python -m helpers.data fetch fruit --from /path/to/mirror", str(data.REPO_DATA_DIR)):
        assert needle in message, needle
    with pytest.raises(data.DataNotFoundError, match="FashionMNIST.*failed: RuntimeError: no internet"):
        data.load_fashion_mnist()


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="Unknown data set 'mnist'.*fashion-mnist, cifar10"):
        data.prepare_dataset("mnist")


def test_official_download_is_used_when_nothing_else_is_there(monkeypatch):
    """The download runs into a temporary folder which is then moved into the data root."""
    def fake_cifar_download(root):
        (Path(root) / "cifar-10-batches-py").mkdir()
        (Path(root) / "cifar-10-python.tar.gz").write_bytes(b"archive")
    ds = data.DATASETS["cifar10"]
    monkeypatch.setitem(data.DATASETS, "cifar10", dataclasses.replace(ds, download=fake_cifar_download))
    assert data.prepare_dataset("cifar10") == data.REPO_DATA_DIR / "cifar-10-batches-py"
    assert sorted(p.name for p in data.REPO_DATA_DIR.iterdir()) == ["cifar-10-batches-py"]


# --- CIFAR-10: both formats, the tensor cache --------------------------------------------------------------

def test_cifar10_imagefolder_tensors_are_cached(mirror, monkeypatch):
    dataset = data.load_cifar10("train")
    assert dataset.classes == data.CIFAR10_CLASSES and len(dataset) == 30
    images, labels = data.load_cifar10_tensors("train", progress=False)
    assert images.shape == (30, 3, 32, 32) and images.dtype == torch.uint8
    expected = 20 * labels + 3 * (torch.arange(30) % 3)  # the fixture's gray: 20*class + 3*(index in class)
    assert (images.float().mean(dim=(1, 2, 3)) - expected).abs().max() < 2
    cache = data.REPO_DATA_DIR / "cache" / "cifar10_train_uint8.pt"
    assert cache.is_file()
    monkeypatch.setattr(data, "_decode_images", lambda *a, **k: pytest.fail("decoded again despite the cache"))
    cached_images, cached_labels = data.load_cifar10_tensors("train")
    assert torch.equal(cached_images, images) and torch.equal(cached_labels, labels)
    subset = data.load_cifar10_tensors("train", limit=10, seed=4)
    assert subset[1].bincount(minlength=10).tolist() == [1] * 10


def test_cifar10_subset_without_cache_decodes_only_the_subset(mirror, monkeypatch):
    decoded = []
    real_decode = data._decode_images
    monkeypatch.setattr(data, "_decode_images", lambda paths, *a, **k: decoded.append(len(paths)) or real_decode(paths, *a, **k))
    images, labels = data.load_cifar10_tensors("train", limit=10, seed=4, progress=False)
    full_images, full_labels = data.load_cifar10_tensors("train", progress=False)
    keep = torch.from_numpy(data.stratified_indices(full_labels.numpy(), 10, seed=4))
    assert decoded == [10, 30]
    assert torch.equal(images, full_images[keep]) and torch.equal(labels, full_labels[keep])


def test_cifar10_wrong_class_order_is_refused(tmp_path, monkeypatch):
    files = {f"cifar10/train/{name}/0.jpg": image_bytes("rgb") for name in ["cat", "dog"]}
    archive = write_tar_gz(tmp_path / "mirror" / "cifar10" / "cifar10_jpg_imagefolder.tar.gz", files)
    ds = data.DATASETS["cifar10"]
    monkeypatch.setitem(data.DATASETS, "cifar10", dataclasses.replace(ds, files={
        "cifar10/cifar10_jpg_imagefolder.tar.gz": sha256_of(archive)}))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(data.DataLayoutError, match=r"classes \['cat', 'dog'\], expected \['airplane'"):
        data.load_cifar10("train")


def test_cifar10_pickled_torchvision_format_is_used_when_present(monkeypatch):
    """torchvision's own format (what download=True fetches) wins; its tensors come from the pickles."""
    import pickle
    import torchvision

    folder = data.REPO_DATA_DIR / "cifar-10-batches-py"
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


# --- weights --------------------------------------------------------------------------------------------

def test_weights_that_do_not_fit_the_model(tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(torch.nn.Conv2d(3, 4, 3).state_dict(), path)
    loaded = data.load_state_dict_file(torch.nn.Conv2d(3, 4, 3), path)
    assert torch.equal(loaded.weight, torch.load(path, weights_only=True)["weight"])
    with pytest.raises(data.WeightsMismatchError, match=r"weight: file \(4, 3, 3, 3\) vs model \(8, 3, 3, 3\)"):
        data.load_state_dict_file(torch.nn.Conv2d(3, 8, 3), path)
    with pytest.raises(data.WeightsMismatchError, match=r"Sequential: 4 missing .*2 unexpected"):
        data.load_state_dict_file(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)), path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(data.CorruptFileError, match="truncated"):
        data.load_state_dict_file(torch.nn.Conv2d(3, 4, 3), path)


def test_pretrained_weights_come_from_the_hub_cache(tmp_path, monkeypatch, capsys):
    import torchvision

    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    model = torchvision.models.mobilenet_v3_small()
    torch.save(model.state_dict(), checkpoints / "mobilenet_v3_small-047dcff4.pth")
    with pytest.raises(data.CorruptFileError, match="fails its checksum"):  # not torchvision's real file
        data.load_pretrained_classifier("mobilenet_v3_small", download=False)
    monkeypatch.setattr(data, "_hash_matches_name", lambda path: True)
    loaded, transforms, name = data.load_pretrained_classifier("mobilenet_v3_small", download=False)
    assert name == "MobileNet_V3_Small_Weights.IMAGENET1K_V1" and not loaded.training
    assert torch.equal(loaded.classifier[3].weight, model.classifier[3].weight)
    assert transforms.crop_size == [224]
    assert "torch hub cache" in capsys.readouterr().out


def test_pretrained_fallback_to_the_mirror_mobilenet_v2(tmp_path, monkeypatch, capsys):
    import torchvision

    with pytest.raises(data.DataNotFoundError, match="fetch mobilenet-v2-weights"):
        data.load_pretrained_classifier("mobilenet_v3_small", download=False)
    with pytest.raises(data.DataNotFoundError, match="mobilenet_v3_small-047dcff4.pth"):
        data.load_pretrained_classifier("mobilenet_v3_small", download=False, fallback=False)
    weights = tmp_path / "mirror" / data.FALLBACK_WEIGHTS
    weights.parent.mkdir(parents=True)
    expected = torchvision.models.mobilenet_v2()
    torch.save(expected.state_dict(), weights)
    ds = data.DATASETS["mobilenet-v2-weights"]
    monkeypatch.setitem(data.DATASETS, ds.name, dataclasses.replace(ds, files={data.FALLBACK_WEIGHTS: sha256_of(weights)}))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(weights.parent.parent))
    model, transforms, name = data.load_pretrained_classifier("mobilenet_v3_small", download=False)
    assert name == "mobilenet_v2_imagenet_from_qnnpack" and isinstance(model, torchvision.models.MobileNetV2)
    assert torch.equal(model.classifier[1].weight, expected.classifier[1].weight)
    assert "using the course's MobileNetV2" in capsys.readouterr().out
    with pytest.raises(ValueError, match="Unknown torchvision model"):
        data.load_pretrained_classifier("no_such_net")
    with pytest.raises(ValueError, match="choose one of.*IMAGENET1K_V1"):
        data.load_pretrained_classifier("mobilenet_v3_small", weights="IMAGENET99")


def test_sample_photos_and_imagenet_names():
    for name in data.SAMPLE_PHOTOS:
        photo = data.load_sample_photo(name)
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3, name
    with pytest.raises(ValueError, match="chelsea"):
        data.load_sample_photo("no_such_photo")
    names = data.imagenet_class_names()
    assert len(names) == 1000 and names[285] == "Egyptian cat"


# --- command line ---------------------------------------------------------------------------------------

def test_cli_status_and_fetch(mirror, capsys):
    assert data.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "name" in out and "checksum" in out
    assert "fruit" in out and "archive" in out and "mobilenet-v2-weights" in out and "missing" in out
    assert data.main(["fetch", "fruit", "cats-vs-dogs", "--from", str(mirror.path)]) == 0
    assert (data.REPO_DATA_DIR / "fruit" / data.MARKER).is_file()
    assert (data.REPO_DATA_DIR / "cats_vs_dogs" / data.MARKER).is_file()
    capsys.readouterr()
    assert data.main(["status", "--verify-images"]) == 0
    out = capsys.readouterr().out
    assert "ready" in out and "ok (checked when unpacked)" in out and "fruit: 0 damaged image(s)" in out
    assert data.main(["fetch", "--all", "--no-download"]) == 1  # the weights are not in the fake mirror
    assert "mobilenet-v2-weights: FAILED" in capsys.readouterr().err
    assert (data.REPO_DATA_DIR / "FashionMNIST" / data.MARKER).is_file()


def test_cli_errors(capsys, tmp_path):
    assert data.main(["fetch", "mnist"]) == 2
    assert "Unknown data set 'mnist'" in capsys.readouterr().err
    assert data.main(["fetch", "fruit", "--root", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        data.main(["fetch"])


def test_cli_runs_as_a_module_and_import_has_no_side_effects(tmp_path):
    """`python -m helpers.data status` works; importing the module printed and created nothing."""
    env = {**os.environ, "COURSE_DATA": str(tmp_path)}
    env.pop("COURSE_DATA_MIRROR", None)
    run = subprocess.run([sys.executable, "-m", "helpers.data", "status"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert run.stdout.splitlines()[0].split() == ["name", "state", "size", "checksum", "where"]  # nothing before
    assert all(name in run.stdout for name in data.DATASETS)
    assert list(tmp_path.iterdir()) == []


# --- the real data ($COURSE_DATA_MIRROR, e.g. ../shared/data); skipped without it -------------------------

@pytest.fixture
def real_mirror(monkeypatch):
    """Undo the isolation: the real mirror and the shared data root (unpacked once, atomically)."""
    mirror = REAL_ENV["COURSE_DATA_MIRROR"]
    if not mirror or not Path(mirror).is_dir():
        pytest.skip("needs the course data mirror: set COURSE_DATA_MIRROR (e.g. ../shared/data)")
    monkeypatch.setenv("COURSE_DATA_MIRROR", mirror)
    if REAL_ENV["COURSE_DATA"]:
        monkeypatch.setenv("COURSE_DATA", REAL_ENV["COURSE_DATA"])
    monkeypatch.setattr(data, "REPO_DATA_DIR", REAL_REPO_DATA_DIR)
    return Path(mirror)


def test_real_fashion_mnist(real_mirror):
    images, labels = data.load_fashion_mnist_tensors("train")
    assert images.shape == (60000, 1, 28, 28) and labels.bincount().tolist() == [6000] * 10
    assert abs(images.float().mean().item() - 72.94) < 0.01  # Fashion-MNIST's known mean pixel
    test_images, test_labels = data.load_fashion_mnist_tensors("test", limit=1000, seed=0)
    assert test_images.shape == (1000, 1, 28, 28) and test_labels.bincount().tolist() == [100] * 10
    assert 60 < test_images.float().mean().item() < 85
    pixels = images.float() / 255
    assert abs(pixels.mean().item() - data.FASHION_MNIST_MEAN) < 5e-4 and abs(pixels.std().item() - data.FASHION_MNIST_STD) < 5e-4


def test_real_image_folders(real_mirror):
    assert [len(data.load_cats_vs_dogs(s)) for s in ("train", "val")] == [600, 200]
    fruit = data.load_fruit("test")
    assert len(fruit) == 272 and len(fruit.classes) == 8 and fruit[0][0].size == (100, 100)
    images, labels = data.load_cifar10_tensors("test", limit=200, progress=False)
    assert images.shape == (200, 3, 32, 32) and labels.bincount().tolist() == [20] * 10
    assert 100 < images.float().mean().item() < 140  # CIFAR-10's mean pixel is about 120


def test_real_mobilenet_v2_fallback_knows_a_cat(real_mirror, capsys):
    model, transforms, name = data.load_pretrained_classifier("mobilenet_v3_small", download=False)
    assert name == "mobilenet_v2_imagenet_from_qnnpack"
    assert "using the course's MobileNetV2" in capsys.readouterr().out
    batch = transforms(torch.from_numpy(data.load_sample_photo("chelsea")).permute(2, 0, 1)).unsqueeze(0)
    with torch.inference_mode():
        top3 = model(batch).topk(3).indices[0].tolist()
    names = data.imagenet_class_names()
    assert {names[i] for i in top3} == {"Egyptian cat", "tabby", "tiger cat"}
