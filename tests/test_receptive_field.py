"""helpers.receptive_field: the layer-by-layer recurrence agrees with the gradient measurement, and bad input is named."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers.receptive_field import LayerField, field_span, input_gradient_map, receptive_fields


def test_a_single_conv_sees_its_kernel():
    (field,) = receptive_fields(nn.Conv2d(1, 1, 5))
    assert (field.size, field.jump, field.start) == (5, 1, 2.0)


def test_the_recurrence_on_a_known_stack():
    # conv3 -> pool2 -> conv3 -> pool2 -> conv3, the lesson's small CNN: 3, 4, 8, 10, 18 pixels
    features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
    fields = receptive_fields(features)
    assert [f.name for f in fields] == ["0", "2", "3", "5", "6"]
    assert [f.size for f in fields] == [3, 4, 8, 10, 18]
    assert [f.jump for f in fields] == [1, 2, 2, 4, 4]
    assert field_span(fields[-1], 3) == (5, 22)
    assert field_span(fields[-1], 0) == (-7, 10)  # the corner unit's field reaches into the padding


def test_dilation_and_tuples():
    assert [f.size for f in receptive_fields([(3, 1), (3, 1), (2, 2), (3, 1, 1, 2)])] == [3, 5, 6, 14]
    assert receptive_fields([(3, 1, 2, 2)])[0].size == 5
    assert receptive_fields([(7, 2, 3), (3, 2, 1)])[-1].size == 11  # ResNet's stem: 7x7/2 conv, 3x3/2 max pool


def test_non_square_layers_per_axis():
    conv = nn.Conv2d(1, 1, kernel_size=(1, 5), stride=(1, 2))
    assert receptive_fields([conv, conv], axis=0)[-1].size == 1
    assert receptive_fields([conv, conv], axis=1)[-1].size == 13


def test_nested_sequentials_and_pointwise_layers():
    block = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
    fields = receptive_fields(nn.Sequential(block, nn.Sequential(block, nn.Dropout(0.1))))
    assert [f.size for f in fields] == [3, 5]


@pytest.mark.parametrize("layer, words", [
    (nn.Linear(4, 2), "feature extractor"),
    (nn.Flatten(), "whole image"),
    (nn.Upsample(scale_factor=2), "not a plain conv"),
])
def test_layers_it_cannot_follow_are_named(layer, words):
    with pytest.raises(ValueError, match=words):
        receptive_fields(nn.Sequential(nn.Conv2d(1, 1, 3), layer))


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="no conv or pooling"):
        receptive_fields(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="kernel, stride"):
        receptive_fields([(3, 0)])
    with pytest.raises(ValueError, match="layer spec"):
        receptive_fields([(3, 1, 0, 1, 9)])
    with pytest.raises(ValueError, match="axis"):
        receptive_fields([(3, 1)], axis=2)


@pytest.mark.parametrize("specs", [
    [(3, 1, 1), (2, 2, 0), (3, 1, 1), (2, 2, 0), (3, 1, 1)],
    [(5, 2, 2), (3, 1, 2, 2), (3, 2, 1)],
    [(3, 1, 0), (3, 1, 0, 3), (2, 2, 0), (3, 1, 1)],
])
def test_the_recurrence_matches_the_gradient_measurement(specs):
    """Random weights, linear layers only (average pooling, no ReLU), so no gradient vanishes by chance."""
    torch.manual_seed(0)
    layers = [nn.Conv2d(2, 2, k, stride=s, padding=p, dilation=d) if (k, s) != (2, 2) else nn.AvgPool2d(2)
              for k, s, p, d in [(*spec, *(1, 0, 1)[len(spec) - 1:]) for spec in specs]]
    model = nn.Sequential(*layers)
    out = model(torch.zeros(1, 2, 64, 64))
    row = col = out.shape[-1] // 2
    field = receptive_fields(model)[-1]
    seen = (input_gradient_map(model, torch.randn(4, 2, 64, 64), (row, col)) > 0).any(dim=0)
    rows, cols = seen.any(dim=1).nonzero().flatten(), seen.any(dim=0).nonzero().flatten()
    first, last = field_span(field, row)
    assert (int(rows.min()), int(rows.max())) == (max(first, 0), min(last, 63))
    assert (int(cols.min()), int(cols.max())) == (max(first, 0), min(last, 63))


def test_input_gradient_map_shape_channel_and_mode():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Dropout(0.5)).train()
    grad = input_gradient_map(model, torch.randn(5, 3, 8, 8), (2, 2), channel=1)
    assert grad.shape == (5, 8, 8)
    inside = torch.zeros(8, 8, dtype=torch.bool)
    inside[1:4, 1:4] = True
    assert bool((grad[:, inside] > 0).all()) and bool((grad[:, ~inside] == 0).all())
    assert model.training  # restored


def test_input_gradient_map_errors():
    model = nn.Conv2d(1, 1, 3)
    with pytest.raises(ValueError, match="outside"):
        input_gradient_map(model, torch.randn(1, 1, 5, 5), (3, 0))
    with pytest.raises(ValueError, match="batch"):
        input_gradient_map(model, torch.randn(1, 5, 5), (0, 0))
    with pytest.raises(ValueError, match="feature maps"):
        input_gradient_map(nn.Sequential(model, nn.Flatten()), torch.randn(1, 1, 5, 5), (0, 0))


def test_layer_field_is_a_plain_record():
    field = LayerField("c", "Conv2d", 3, 1, 1, 1, 3, 1, 0.0)
    assert field_span(field, 4) == (3, 5)
