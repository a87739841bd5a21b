"""helpers.feature_maps: one map per spatial size, for a small Sequential CNN and torchvision's networks."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from helpers.feature_maps import stage_candidates, stage_outputs


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 8, 3, padding=1), nn.ReLU())
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(8 * 14 * 14, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def test_small_cnn_gives_the_last_layer_of_each_size():
    model = SmallCNN().train()
    maps = stage_outputs(model, torch.randn(2, 1, 28, 28))
    assert {k: tuple(v.shape) for k, v in maps.items()} == {"features.1": (2, 4, 28, 28), "features.4": (2, 8, 14, 14)}
    assert bool((maps["features.1"] >= 0).all())  # after the ReLU
    assert model.training  # restored
    x = torch.randn(1, 1, 28, 28)
    assert torch.allclose(stage_outputs(model, x)["features.4"], model.features(x))


@pytest.mark.parametrize("builder, expected", [
    (torchvision.models.resnet18, ["relu", "layer1", "layer2", "layer3", "layer4"]),
    (torchvision.models.mobilenet_v2, ["features.1", "features.3", "features.6", "features.13", "features.18"]),
])
def test_torchvision_networks(builder, expected):
    model = builder(weights=None)
    maps = stage_outputs(model, torch.randn(1, 3, 64, 64))
    assert list(maps) == expected
    assert [m.shape[-1] for m in maps.values()] == [32, 16, 8, 4, 2]


def test_candidates_stop_at_the_classifier():
    assert stage_candidates(torchvision.models.resnet18(weights=None))[-1] == "layer4"
    with pytest.raises(ValueError, match="features"):
        stage_candidates(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)))
