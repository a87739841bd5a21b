"""The benchmark scripts' logic, on tiny stand-in data (the real runs are timed by hand, never in tests).

The batched augmentation both benchmarks use is tested in tests/test_augment.py, the recipe in
tests/test_fast_training.py.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
import torch

from helpers.common import REPO_ROOT
from helpers.training import History


def load_benchmark(name: str):
    path = REPO_ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def tiny_data(n: int, channels: int, size: int):
    def load(split="train", root=None, **kwargs):
        generator = torch.Generator().manual_seed(0 if split == "train" else 1)
        count = n if split == "train" else n // 2
        images = torch.randint(0, 256, (count, channels, size, size), dtype=torch.uint8, generator=generator)
        return images, torch.arange(count) % 10
    return load


def last_json_line(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def test_time_to_target_adds_up_the_seconds_of_the_epochs_until_the_target():
    bench = load_benchmark("fashion_mnist_vgg")
    history = History()
    for acc, seconds in [(0.90, 10.0), (0.934, 11.0), (0.936, 12.0), (0.94, 13.0)]:
        history.val_acc.append(acc)
        history.seconds.append(seconds)
    assert bench.time_to_target(history, 0.935) == (3, 33.0)
    assert bench.time_to_target(history, 0.99) == (None, None)


@pytest.mark.parametrize("args", [["--quick", "--epochs", "1"],
                                  ["--full", "--epochs", "1", "--config", "vgg_tiny"],
                                  ["--full", "--epochs", "1", "--config", "fast", "--widths", "4", "8", "8", "--shift", "2",
                                   "--flip", "alternate", "--batch-size", "32"]])
def test_fashion_mnist_benchmark_runs_end_to_end_and_prints_its_numbers(args, monkeypatch, capsys, tmp_path):
    bench = load_benchmark("fashion_mnist_vgg")
    monkeypatch.setattr(bench, "load_fashion_mnist_tensors", tiny_data(128, 1, 28))
    results = bench.main([*args, "--device", "cpu", "--threads", "1", "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert last_json_line(out) == results == json.loads((tmp_path / "r.json").read_text())
    assert 0 <= results["test_accuracy"] <= 1 and results["seconds"] >= 0 and results["images_per_second"] > 0  # 0.0 s: rounded, on tiny data
    assert "test accuracy" in out and results["device"].startswith("cpu")
    if "--full" in args and "fast" not in args:
        assert results["tta"] == "flip" and "time to 93.5 %" in out  # flips in training, so flip TTA; curve printed
    if "fast" in args:
        assert results["tta"] == "flip + 1-px shifts" and results["config"] == "fast[4, 8, 8]"


def test_cifar10_benchmark_runs_end_to_end_and_prints_its_numbers(monkeypatch, capsys, tmp_path):
    bench = load_benchmark("cifar10")
    monkeypatch.setattr(bench, "load_cifar10_tensors", tiny_data(256, 3, 32))
    results = bench.main(["--quick", "--epochs", "1", "--widths", "4", "8", "8", "--batch-size", "64", "--device", "cpu",
                          "--threads", "1", "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert last_json_line(out) == results == json.loads((tmp_path / "r.json").read_text())
    for key in ("test_accuracy", "test_accuracy_without_tta", "seconds", "images_per_second", "device", "target"):
        assert key in results
    assert results["target"] == 0.75 and "target >= 75 %" in out and "airbench94_seconds" not in results


def test_cifar10_benchmark_refuses_airbench_without_a_gpu(monkeypatch):
    bench = load_benchmark("cifar10")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as info:
        bench.main(["--full", "--airbench", "--device", "cpu"])
    assert info.value.code == 2  # argparse's error exit, before any data is loaded


def test_airbench_missing_gives_the_install_command(monkeypatch, tmp_path):
    bench = load_benchmark("cifar10")
    monkeypatch.setitem(sys.modules, "airbench", None)  # import airbench now raises ImportError
    with pytest.raises(SystemExit, match="pip install airbench"):
        bench.run_airbench(tmp_path, torch.device("cpu"))


def test_airbench_data_is_written_in_its_format_once(tmp_path):
    bench = load_benchmark("cifar10")
    x_train = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    x_test = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    folder = bench.write_airbench_data(x_train, torch.arange(6), x_test, torch.arange(4), tmp_path / "airbench")
    saved = torch.load(folder / "cifar10" / "train.pt", weights_only=True)
    assert saved["images"].shape == (6, 32, 32, 3) and saved["images"].dtype == torch.uint8  # N, H, W, C like CIFAR10.data
    assert torch.equal(saved["images"].permute(0, 3, 1, 2), x_train) and saved["labels"].tolist() == list(range(6))
    assert saved["classes"][0] == "airplane" and len(saved["classes"]) == 10
    before = (folder / "cifar10" / "test.pt").stat().st_mtime_ns
    bench.write_airbench_data(x_train, torch.arange(6), x_test, torch.arange(4), tmp_path / "airbench")
    assert (folder / "cifar10" / "test.pt").stat().st_mtime_ns == before, "existing files are reused, not rewritten"
