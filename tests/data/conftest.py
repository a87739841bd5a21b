"""Shared by the tests of helpers.data: every test runs isolated, on tiny data it makes itself.

``isolated`` (automatic): no $COURSE_DATA and no mirror, a temporary 'repo data/' and torch hub cache, and
official downloads that fail as they do offline. ``mirror``: a fake mirror of tiny data whose checksums are put
into the registry. ``real_mirror``: undoes the isolation for the tests on the real data ($COURSE_DATA_MIRROR,
e.g. ../shared/data), which skip cleanly without it and unpack into the shared data root, atomically.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from data_fixtures import snapshot, write_fake_mirror

from helpers.data import storage

REAL_ENV = {key: os.environ.get(key) for key in ("COURSE_DATA", "COURSE_DATA_MIRROR")}
REAL_REPO_DATA_DIR = storage.REPO_DATA_DIR


def _offline(root):
    raise RuntimeError("no internet in the tests")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No $COURSE_DATA, no mirror, a temporary 'repo data/' and hub cache, official downloads fail."""
    monkeypatch.delenv("COURSE_DATA", raising=False)
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    monkeypatch.setattr(storage, "REPO_DATA_DIR", tmp_path / "repo" / "data")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    for name, ds in list(storage.DATASETS.items()):
        if ds.download is not None:
            monkeypatch.setitem(storage.DATASETS, name, dataclasses.replace(ds, download=_offline))


@pytest.fixture
def repo_data() -> Path:
    """The (temporary) repository data/ folder of this test."""
    return storage.REPO_DATA_DIR


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A fake mirror with tiny data, its checksums put into the registry, set as $COURSE_DATA_MIRROR."""
    folder = tmp_path / "mirror"
    written = write_fake_mirror(folder)
    for name, ds in list(storage.DATASETS.items()):
        if all(rel in written["sha256"] for rel in ds.files):
            files = {rel: written["sha256"][rel] for rel in ds.files}
            md5 = written["md5"] if name == "fashion-mnist" else {}
            monkeypatch.setitem(storage.DATASETS, name, dataclasses.replace(ds, files=files, unpacked_md5=md5))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(folder))
    return SimpleNamespace(path=folder, written=written, snapshot=snapshot(folder))


@pytest.fixture
def use_registry_entry(monkeypatch):
    """``use_registry_entry(name, **changes)``: change one registry entry for this test only."""
    def change(name: str, **changes):
        monkeypatch.setitem(storage.DATASETS, name, dataclasses.replace(storage.DATASETS[name], **changes))
    return change


@pytest.fixture
def real_mirror(monkeypatch):
    """Undo the isolation: the real mirror and the shared data root (unpacked once, atomically)."""
    mirror = REAL_ENV["COURSE_DATA_MIRROR"]
    if not mirror or not Path(mirror).is_dir():
        pytest.skip("needs the course data mirror: set COURSE_DATA_MIRROR (e.g. ../shared/data)")
    monkeypatch.setenv("COURSE_DATA_MIRROR", mirror)
    if REAL_ENV["COURSE_DATA"]:
        monkeypatch.setenv("COURSE_DATA", REAL_ENV["COURSE_DATA"])
    monkeypatch.setattr(storage, "REPO_DATA_DIR", REAL_REPO_DATA_DIR)
    return Path(mirror)
