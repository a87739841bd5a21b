"""``python -m helpers.data status | fetch``: the table, fetching from a mirror, verifying, exit codes."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest
from data_fixtures import image_bytes, sha256_of

from helpers import data
from helpers.common import REPO_ROOT
from helpers.data import storage
from helpers.data.__main__ import main


def test_cli_status_and_fetch(mirror, capsys, repo_data):
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["name", "state", "size", "checksum", "where"]
    assert "fruit" in out and "archive" in out and "mobilenet-v2-weights" in out and "missing" in out
    assert main(["fetch", "fruit", "cats-vs-dogs", "--from", str(mirror.path)]) == 0
    assert (repo_data / "fruit" / data.MARKER).is_file()
    assert (repo_data / "cats_vs_dogs" / data.MARKER).is_file()
    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "ok (checked when unpacked)" in out and "status --verify-images" in out
    assert main(["status", "--verify-images"]) == 0
    out = capsys.readouterr().out
    assert "ok (verified now)" in out and "problem" not in out
    assert main(["fetch", "--all", "--no-download"]) == 1  # the weights are not in the fake mirror
    assert "mobilenet-v2-weights: FAILED" in capsys.readouterr().err
    assert (repo_data / "FashionMNIST" / data.MARKER).is_file()


def test_status_verify_images_checks_the_files_now(mirror, capsys, repo_data):
    """Damaging an unpacked file after unpacking: plain status trusts the marker, --verify-images finds it."""
    assert main(["fetch", "fashion-mnist", "fruit"]) == 0
    idx = repo_data / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
    damaged = bytearray(idx.read_bytes())
    damaged[500:520] = b"\x5a" * 20  # twenty pixels changed: same size, same header
    idx.write_bytes(bytes(damaged))
    (repo_data / "fruit" / "test" / "cat" / "palette.png").write_bytes(image_bytes("not_image"))
    capsys.readouterr()
    assert main(["status", "--verify-images"]) == 1
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "DAMAGED (1 problem(s))" in lines["fashion-mnist"] and "ok (checked when unpacked)" not in out
    assert "train-images-idx3-ubyte has the wrong MD5" in out
    assert "DAMAGED" in lines["fruit"] and "palette.png cannot be decoded" in out
    assert "fetch fashion-mnist" in out


def test_cli_errors(capsys, tmp_path):
    assert main(["fetch", "mnist"]) == 2
    assert "Unknown data set 'mnist'" in capsys.readouterr().err
    assert main(["fetch", "fruit", "--root", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("")
    assert main(["status", "--root", str(tmp_path / "a-file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fetch"])


def test_cli_fetch_of_weights_into_a_read_only_root(tmp_path, monkeypatch, capsys, use_registry_entry):
    weights = tmp_path / "usb" / data.FALLBACK_WEIGHTS
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"state dict bytes")
    use_registry_entry("mobilenet-v2-weights", files={data.FALLBACK_WEIGHTS: sha256_of(weights)})

    def denied(source, target):
        raise PermissionError(errno.EROFS, "Read-only file system", str(target))
    monkeypatch.setattr(storage.shutil, "copyfile", denied)
    assert main(["fetch", "mobilenet-v2-weights", "--from", str(tmp_path / "usb")]) == 1
    err = capsys.readouterr().err
    assert "mobilenet-v2-weights: FAILED" in err and "Cannot write into the data root" in err
    assert "Read-only file system" in err and "Traceback" not in err


def test_cli_runs_as_a_module_and_import_has_no_side_effects(tmp_path):
    """`python -m helpers.data status` works; importing the package printed and created nothing."""
    env = {**os.environ, "COURSE_DATA": str(tmp_path)}
    env.pop("COURSE_DATA_MIRROR", None)
    run = subprocess.run([sys.executable, "-m", "helpers.data", "status"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert run.stdout.splitlines()[0].split() == ["name", "state", "size", "checksum", "where"]  # nothing before
    assert all(name in run.stdout for name in data.DATASETS)
    assert list(tmp_path.iterdir()) == []
    imported = subprocess.run([sys.executable, "-c", "import helpers.data"], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
    assert imported.returncode == 0 and imported.stdout == "" and imported.stderr == ""
