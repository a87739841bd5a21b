"""benchmarks/transfer_cats_dogs.py: folds that keep a photo with its mirror image, and a whole run on tiny fakes."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import nn

from helpers.common import REPO_ROOT
from helpers.data.image_files import pil_rgb_loader


def load_benchmark():
    path = REPO_ROOT / "benchmarks" / "transfer_cats_dogs.py"
    spec = importlib.util.spec_from_file_location("transfer_cats_dogs_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_fold_groups_keep_every_view_of_a_photo_together():
    bench = load_benchmark()
    assert bench.fold_groups(3, 2).tolist() == [0, 1, 2, 0, 1, 2]
    assert bench.fold_groups(3, 1).tolist() == [0, 1, 2]


def test_average_probabilities_over_views():
    bench = load_benchmark()

    class Head:
        def predict_proba(self, x):
            return np.stack([1 - x[:, 0], x[:, 0]], axis=1)

    views = [np.array([[0.2], [0.9]]), np.array([[0.6], [0.7]])]
    assert np.allclose(bench.average_probabilities(Head(), views), [[0.6, 0.4], [0.2, 0.8]])


def test_a_whole_run_on_tiny_photos_prints_the_numbers_and_a_json_line(tmp_path, monkeypatch, capsys):
    bench = load_benchmark()
    for split in ("train", "val"):
        for label, colour in (("cat", (220, 120, 40)), ("dog", (40, 120, 220))):
            for i in range(10 if split == "train" else 4):
                path = tmp_path / split / label / f"{i}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                shade = tuple(min(255, c + 3 * i) for c in colour)
                Image.new("RGB", (36 + i, 30), shade).save(path)

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
            self.classifier = nn.Linear(8, 1000)

    monkeypatch.setattr(bench, "load_pretrained_classifier", lambda name, root=None: (Tiny().eval(), None, "Tiny.V1"))
    monkeypatch.setattr(bench, "load_cats_vs_dogs", lambda split, root=None: torchvision.datasets.ImageFolder(
        str(tmp_path / split), loader=pil_rgb_loader))
    monkeypatch.setenv("COURSE_RESULTS_FILE", str(tmp_path / "recorded.json"))
    results = bench.main(["--size", "24", "--device", "cpu", "--json", str(tmp_path / "out.json")])
    out = capsys.readouterr().out
    assert results["val_accuracy"] == 1.0, "red-orange cats and blue dogs are easy"
    assert results["flips"] and results["feature_dim"] == 8 and results["weights"] == "Tiny.V1"
    assert "validation accuracy 100.0 % (0 of 8 photos wrong)" in out and "process CPU time" in out
    assert json.loads(out.strip().splitlines()[-1]) == results == json.loads((tmp_path / "out.json").read_text())
    assert json.loads((tmp_path / "recorded.json").read_text())["transfer_benchmark_val_accuracy"] == 1.0
    no_flip = bench.main(["--size", "24", "--device", "cpu", "--no-flip", "--no-fuse"])
    assert not no_flip["flips"] and not no_flip["fused"] and no_flip["val_accuracy"] == 1.0
