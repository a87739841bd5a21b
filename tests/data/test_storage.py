"""helpers.data.storage: lookup order, unpacking once and atomically, checksums, clear errors, verifying again."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from data_fixtures import image_bytes, sha256_of, snapshot, write_zip

from helpers import data
from helpers.data import storage

# --- data roots and lookup order -----------------------------------------------------------------------


def test_writable_root_default_is_repo_data_and_is_created(repo_data):
    assert not repo_data.exists()
    assert data.writable_root() == repo_data
    assert repo_data.is_dir()


def test_writable_root_prefers_the_root_argument_then_course_data(tmp_path, monkeypatch):
    explicit, course = tmp_path / "explicit", tmp_path / "course"
    explicit.mkdir(), course.mkdir()
    monkeypatch.setenv("COURSE_DATA", str(course))
    assert data.writable_root(explicit) == explicit
    assert data.writable_root() == course


def test_missing_roots_give_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(data.DataNotFoundError, match="does not exist.*mkdir -p") as err:
        data.writable_root(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value)
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "also-nowhere"))
    with pytest.raises(FileNotFoundError, match=r"\$COURSE_DATA"):
        data.load_fruit()


def test_a_data_root_that_is_a_file_is_named_as_such(tmp_path, monkeypatch):
    a_file = tmp_path / "data.txt"
    a_file.write_text("not a folder")
    for call in (lambda: data.writable_root(a_file), lambda: data.load_fruit(root=a_file),
                 lambda: data.search_roots(mirror=a_file)):
        with pytest.raises(data.DataNotFoundError, match="is a file, not a folder") as err:
            call()
        assert str(a_file) in str(err.value) and "mkdir" not in str(err.value)
    monkeypatch.setenv("COURSE_DATA", str(a_file))
    with pytest.raises(data.DataNotFoundError, match=r"data.txt \(\$COURSE_DATA\) is a file, not a folder"):
        data.ensure_dataset("fruit")


def test_find_file_lookup_order(tmp_path, monkeypatch, repo_data):
    roots = {name: tmp_path / name for name in ("explicit", "course", "mirror")}
    roots["repo"] = repo_data
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


def test_unpacked_data_lookup_order(mirror, tmp_path, monkeypatch, repo_data):
    course, explicit = tmp_path / "course", tmp_path / "explicit"
    course.mkdir(), explicit.mkdir()
    data.fetch_dataset("fruit")                  # into repo data/
    data.fetch_dataset("fruit", course)          # and into another root
    assert Path(data.load_fruit().root) == repo_data / "fruit" / "train"
    monkeypatch.setenv("COURSE_DATA", str(course))
    assert Path(data.load_fruit().root) == course / "fruit" / "train"
    assert Path(data.load_fruit(root=explicit).root) == course / "fruit" / "train"  # explicit root is empty
    data.fetch_dataset("fruit", explicit)
    assert Path(data.load_fruit(root=explicit).root) == explicit / "fruit" / "train"
    assert snapshot(mirror.path) == mirror.snapshot  # the mirror is never modified


def test_file_digest_computes_the_algorithm_it_is_asked_for(tmp_path):
    path = tmp_path / "abc.txt"
    path.write_bytes(b"abc")
    assert data.file_digest(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert data.file_digest(path, "md5") == "900150983cd24fb0d6963f7d28e17f72"


# --- unpacking once, damaged and missing files ------------------------------------------------------------

def test_fashion_mnist_is_gunzipped_once(mirror, monkeypatch, repo_data):
    calls = []
    real_unpack = storage._check_and_unpack
    monkeypatch.setattr(storage, "_check_and_unpack", lambda *a: calls.append(a[0].name) or real_unpack(*a))
    data.load_fashion_mnist_tensors("train")
    raw = repo_data / "FashionMNIST" / "raw"
    marker = raw.parent / data.MARKER
    assert (raw / "train-images-idx3-ubyte").is_file() and marker.is_file()
    recorded = json.loads(marker.read_text())
    assert recorded["entries"] == ["raw"] and recorded["file_count"] == 4
    marker_time = marker.stat().st_mtime_ns
    data.load_fashion_mnist("test")
    assert calls == ["fashion-mnist"]  # the second call did not unpack again
    assert marker.stat().st_mtime_ns == marker_time
    assert not list(repo_data.glob(".unpacking-*"))
    assert snapshot(mirror.path) == mirror.snapshot


def test_wrong_unpacked_md5_is_caught(mirror, use_registry_entry, repo_data):
    ds = data.DATASETS["fashion-mnist"]
    use_registry_entry("fashion-mnist", unpacked_md5=dict(ds.unpacked_md5, **{"raw/t10k-labels-idx1-ubyte": "0" * 32}))
    with pytest.raises(data.CorruptFileError, match="t10k-labels-idx1-ubyte.*wrong MD5"):
        data.load_fashion_mnist()
    assert not (repo_data / "FashionMNIST").exists()


def test_half_unpacked_folder_is_redone(mirror, repo_data):
    half = repo_data / "cats_vs_dogs" / "train" / "cat"
    half.mkdir(parents=True)
    (half / "rgb.jpg").write_bytes(image_bytes("rgb"))  # an interrupted run: one file, no marker
    assert len(data.load_cats_vs_dogs("train")) == 4
    assert (repo_data / "cats_vs_dogs" / data.MARKER).is_file()


def test_mirror_layout_inside_the_data_root_is_kept(mirror, repo_data):
    """data/fruit/fruit.zip (the mirror's layout) unpacks into data/fruit/ next to the zip, which stays."""
    zip_copy = repo_data / "fruit" / "fruit.zip"
    zip_copy.parent.mkdir(parents=True)
    zip_copy.write_bytes((mirror.path / "fruit" / "fruit.zip").read_bytes())
    assert len(data.load_fruit("train")) == 4
    assert sorted(p.name for p in zip_copy.parent.iterdir()) == [data.MARKER, "fruit.zip", "test", "train"]
    assert data.verify_unpacked("fruit", zip_copy.parent) == []  # the zip beside it is not counted as damage


@pytest.mark.parametrize("name, relative, load", [
    ("fruit", "fruit/fruit.zip", data.load_fruit),
    ("cats-vs-dogs", "cats-vs-dogs/cats_vs_dogs_160.tar.gz", data.load_cats_vs_dogs),
    ("fashion-mnist", "fashion-mnist/train-images-idx3-ubyte.gz", data.load_fashion_mnist),
])
def test_truncated_archives_give_clear_errors(mirror, use_registry_entry, repo_data, name, relative, load):
    archive = mirror.path / relative
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(data.CorruptFileError, match="fails its checksum") as err:
        load()
    assert str(archive) in str(err.value) and f"fetch {name}" in str(err.value)
    # Same truncated file with a matching checksum: unpacking itself must notice.
    use_registry_entry(name, files={**data.DATASETS[name].files, relative: sha256_of(archive)})
    with pytest.raises(data.CorruptFileError, match="truncated or damaged") as err:
        load()
    assert str(archive) in str(err.value) and f"python -m helpers.data fetch {name}" in str(err.value)
    assert not [p.name for p in repo_data.iterdir()]  # nothing half-unpacked left behind


def test_archive_without_its_top_folder_is_explained(mirror, use_registry_entry):
    archive = write_zip(mirror.path / "fruit" / "fruit.zip", {"train/apple/a.png": image_bytes("gray")})
    use_registry_entry("fruit", files={"fruit/fruit.zip": sha256_of(archive)})
    with pytest.raises(data.DataLayoutError, match=r"top folder 'fruit/' but holds \['train'\]"):
        data.load_fruit()


def test_missing_data_error_names_file_source_and_fetch_command(repo_data):
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_fruit()
    message = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    for needle in ("fruit/fruit.zip", "Fruits-360", "no official download URL",
                   "python -m helpers.data fetch fruit --from /path/to/mirror", str(repo_data)):
        assert needle in message, needle
    with pytest.raises(data.DataNotFoundError, match="FashionMNIST.*failed: RuntimeError: no internet"):
        data.load_fashion_mnist()


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="Unknown data set 'mnist'.*fashion-mnist, cifar10"):
        data.ensure_dataset("mnist")


def test_official_download_is_used_when_nothing_else_is_there(use_registry_entry, repo_data):
    """The download runs into a temporary folder which is then moved into the data root."""
    def fake_cifar_download(root):
        (Path(root) / "cifar-10-batches-py").mkdir()
        (Path(root) / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"batch")
        (Path(root) / "cifar-10-python.tar.gz").write_bytes(b"archive")
    use_registry_entry("cifar10", download=fake_cifar_download)
    assert data.ensure_dataset("cifar10") == repo_data / "cifar-10-batches-py"
    assert sorted(p.name for p in repo_data.iterdir()) == ["cifar-10-batches-py"]


# --- a data root that cannot be written to ------------------------------------------------------------------

def _deny_writes(monkeypatch):
    """Make copying and creating folders fail as they do in a read-only folder (the tests may run as root)."""
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(args[-1] if args else ""))
    monkeypatch.setattr(storage.shutil, "copyfile", denied)
    monkeypatch.setattr(storage.tempfile, "mkdtemp", denied)


def _fallback_weights_in(mirror: Path, use_registry_entry) -> Path:
    weights = mirror / data.FALLBACK_WEIGHTS
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(b"weights")
    use_registry_entry("mobilenet-v2-weights", files={data.FALLBACK_WEIGHTS: sha256_of(weights)})
    return weights


def test_fetch_into_a_read_only_data_root_says_what_to_do(mirror, monkeypatch, use_registry_entry, repo_data):
    _fallback_weights_in(mirror.path, use_registry_entry)
    _deny_writes(monkeypatch)
    for name in ("mobilenet-v2-weights", "fruit"):
        with pytest.raises(PermissionError, match="Cannot write into the data root") as err:
            data.fetch_dataset(name)
        message = str(err.value)
        assert str(repo_data) in message and "$COURSE_DATA" in message and "$COURSE_DATA_MIRROR" in message
    assert not (repo_data / data.FALLBACK_WEIGHTS).exists() and not (repo_data / "fruit").exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write into read-only folders")
def test_fetch_into_a_really_read_only_folder(mirror, tmp_path, use_registry_entry):
    _fallback_weights_in(mirror.path, use_registry_entry)
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="Cannot write into the data root"):
            data.fetch_dataset("mobilenet-v2-weights", read_only)
    finally:
        read_only.chmod(0o755)


# --- verifying an unpacked copy again ---------------------------------------------------------------------

def test_verify_unpacked_finds_damage_made_after_unpacking(mirror, repo_data):
    folder = data.ensure_dataset("fashion-mnist")
    assert data.verify_unpacked("fashion-mnist", folder, progress=False) == []
    labels = folder / "raw" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-3] + b"\x09\x09\x09")  # same size, three labels changed
    problems = data.verify_unpacked("fashion-mnist", folder, progress=False)
    assert len(problems) == 1 and "t10k-labels-idx1-ubyte has the wrong MD5" in problems[0]
    row = data.dataset_status("fashion-mnist", verify=True)
    assert row["checksum"] == "DAMAGED (1 problem(s))" and row["problems"] == problems
    assert data.dataset_status("fashion-mnist")["checksum"] == "ok (checked when unpacked)"  # without verify: trusted

    images = data.ensure_dataset("cats-vs-dogs")
    (images / "val" / "dog" / "rgb2.jpg").write_bytes(image_bytes("truncated"))
    (images / "train" / "cat" / "gray.png").unlink()
    problems = data.verify_unpacked("cats-vs-dogs", images, progress=False)
    assert any("holds 5 files" in p and "held 6 files" in p for p in problems), problems
    assert any("rgb2.jpg cannot be decoded" in p for p in problems), problems


def test_verify_unpacked_checks_torchvision_cifar_pickles_by_md5(repo_data):
    folder = repo_data / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in data.DATASETS["cifar10"].also_ready_md5:
        (folder / name).write_bytes(b"not the real batch")
    problems = data.verify_unpacked("cifar10", folder, progress=False)
    assert len(problems) == len(data.DATASETS["cifar10"].also_ready_md5) == 7
    assert all("wrong MD5" in p for p in problems)
    shutil.rmtree(folder)
