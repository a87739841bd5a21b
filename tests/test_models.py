"""helpers.models: VGG networks built from config lists, normalization layers, the MLP, parameter counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers.models import (
    NORM_KINDS,
    VGG_CONFIGS,
    count_parameters,
    make_mlp,
    make_norm,
    make_vgg,
    vgg_feature_shape,
)


@pytest.mark.parametrize("name", sorted(VGG_CONFIGS))
def test_every_named_config_classifies_28x28_images(name):
    model = make_vgg(name)
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_config_list_builds_the_layers_it_names():
    model = make_vgg([8, "M", 16, 16, "M"], hidden=32, dropout=0.0)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16, 16]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.features) == 2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.features) == 3
    assert all(c.bias is None for c in convs), "a conv followed by batch norm needs no bias"
    # 28 -> 14 -> 7: the first linear layer sees 16 * 7 * 7 features
    first_linear = next(m for m in model.classifier if isinstance(m, nn.Linear))
    assert first_linear.in_features == 16 * 7 * 7


def test_parameter_count_matches_a_hand_count():
    model = make_vgg([4, "M"], hidden=5, dropout=0.0, batch_norm=False)
    conv = 1 * 4 * 9 + 4                       # weights + biases (no norm after it, so it has a bias)
    fc1 = 4 * 14 * 14 * 5 + 5
    fc2 = 5 * 10 + 10
    assert count_parameters(model) == conv + fc1 + fc2
    model.classifier[-1].weight.requires_grad_(False)
    assert count_parameters(model) == conv + fc1 + fc2 - 50
    assert count_parameters(model, trainable_only=False) == conv + fc1 + fc2


def test_global_pool_head_is_one_linear_layer_and_takes_any_image_size():
    model = make_vgg("vgg_tiny", global_pool=True, in_channels=3, num_classes=7)
    linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
    assert len(linears) == 1 and linears[0].in_features == 64
    assert model(torch.zeros(2, 3, 28, 28)).shape == (2, 7)
    assert model(torch.zeros(2, 3, 64, 48)).shape == (2, 7)


def test_image_size_sets_the_flatten_size():
    model = make_vgg([8, "M", 8, "M"], in_channels=3, image_size=32, hidden=16)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    assert vgg_feature_shape([8, "M", 8, "M"], 32) == (8, 8, 8)
    assert vgg_feature_shape("vgg_small") == (128, 3, 3)


@pytest.mark.parametrize("kind", NORM_KINDS)
def test_every_norm_kind_builds_and_trains_a_step(kind):
    torch.manual_seed(0)
    model = make_vgg([8, "M", 16, "M"], norm=kind, hidden=16)
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert torch.isfinite(loss)
    assert model.features[0].weight.grad is not None


def test_norm_layers_normalise_over_the_axes_they_claim():
    torch.manual_seed(0)
    x = torch.randn(4, 8, 5, 5) * 3 + 2
    bn = make_norm("batch", 8).train()(x)  # per channel over (N, H, W)
    assert torch.allclose(bn.mean(dim=(0, 2, 3)), torch.zeros(8), atol=1e-5)
    ln = make_norm("layer", 8)(x)  # per image over (C, H, W)
    assert torch.allclose(ln.mean(dim=(1, 2, 3)), torch.zeros(4), atol=1e-5)
    inorm = make_norm("instance", 8)(x)  # per image and channel over (H, W)
    assert torch.allclose(inorm.mean(dim=(2, 3)), torch.zeros(4, 8), atol=1e-5)
    gn = make_norm("group", 8, groups=2)(x)  # per image and group of 4 channels
    assert torch.allclose(gn.reshape(4, 2, -1).mean(-1), torch.zeros(4, 2), atol=1e-5)
    assert isinstance(make_norm("none", 8), nn.Identity)


def test_vgg_has_no_softmax_and_dropout_only_acts_in_training():
    model = make_vgg("vgg_tiny", dropout=0.5)
    assert not any(isinstance(m, (nn.Softmax, nn.LogSoftmax)) for m in model.modules())
    assert any(isinstance(m, nn.Dropout) and m.p == 0.5 for m in model.modules())
    x = torch.randn(8, 1, 28, 28)
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x)), "training mode: dropout must draw a new mask on every call"
    model.eval()
    with torch.inference_mode():
        assert torch.equal(model(x), model(x)), "eval mode must be deterministic"
    without_dropout = make_vgg("vgg_tiny", dropout=0.0)
    without_dropout.load_state_dict(model.state_dict())
    with torch.inference_mode():  # in eval, dropout is the identity: same numbers as the same weights without it
        assert torch.allclose(model(x), without_dropout.eval()(x))


def test_mlp_shapes_and_options():
    mlp = make_mlp(hidden=(32, 16), dropout=0.2, batch_norm=True)
    assert mlp(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    assert sum(isinstance(m, nn.Dropout) for m in mlp) == 2
    assert sum(isinstance(m, nn.BatchNorm1d) for m in mlp) == 2
    assert count_parameters(make_mlp(hidden=())) == 784 * 10 + 10


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"config": "vgg99"}, "Unknown VGG config"),
        ({"config": [32, "X"]}, "positive ints"),
        ({"config": ["M"]}, "at least one conv"),
        ({"config": [8, "M", "M", "M", "M", "M"]}, "pools a 28x28 image down to nothing"),
        ({"config": "vgg_tiny", "dropout": 1.0}, "dropout"),
        ({"config": "vgg_tiny", "norm": "weight"}, "Unknown normalization"),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_vgg(**kwargs)


def test_group_norm_needs_divisible_channels():
    with pytest.raises(ValueError, match="divisible"):
        make_norm("group", 12, groups=8)


# ---------------------------------------------------------------- the VGG paper's six networks (Table 1)
@pytest.mark.parametrize("name, torchvision_name", [("A", "vgg11"), ("B", "vgg13"), ("D", "vgg16"), ("E", "vgg19")])
def test_paper_configs_have_torchvisions_parameter_counts(name, torchvision_name):
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):  # shapes only: 130+ million parameters without allocating them
        ours = make_vgg(name, in_channels=3, num_classes=1000, image_size=224, hidden=(4096, 4096), batch_norm=False)
        reference = getattr(torchvision.models, torchvision_name)(weights=None)
    assert count_parameters(ours) == count_parameters(reference)


def test_paper_config_c_has_1x1_convs_and_a_lrn_has_lrn():
    from helpers.models import VGG_PAPER_CONFIGS, VGG_PAPER_PARAMETERS_MILLIONS

    assert set(VGG_PAPER_CONFIGS) == set(VGG_PAPER_PARAMETERS_MILLIONS) == {"A", "A-LRN", "B", "C", "D", "E"}
    with torch.device("meta"):
        c = make_vgg("C", in_channels=3, num_classes=1000, image_size=224, hidden=(4096, 4096), batch_norm=False)
        a_lrn = make_vgg("A-LRN", in_channels=3, num_classes=1000, image_size=224, hidden=(4096, 4096), batch_norm=False)
    kernels = [m.kernel_size for m in c.features if isinstance(m, nn.Conv2d)]
    assert kernels.count((1, 1)) == 3 and len(kernels) == 13  # 13 convs + 3 FC = the paper's "16 weight layers"
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in a_lrn.features) == 1
    for name, millions in VGG_PAPER_PARAMETERS_MILLIONS.items():
        with torch.device("meta"):
            model = make_vgg(name, in_channels=3, num_classes=1000, image_size=224, hidden=(4096, 4096), batch_norm=False)
        assert round(count_parameters(model) / 1e6) == millions, name


def test_a_1x1_conv_keeps_the_size_and_a_config_runs_forward():
    model = make_vgg([8, (16, 1), "LRN", "M"], hidden=(12, 6), dropout=0.0)
    assert vgg_feature_shape([8, (16, 1), "LRN", "M"]) == (16, 14, 14)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert [m.out_features for m in model.classifier if isinstance(m, nn.Linear)] == [12, 6, 10]


@pytest.mark.parametrize("bad", [[(16, 2)], [(0, 1)], ["LRN"], [8, "X"]])
def test_bad_config_entries_are_refused(bad):
    with pytest.raises(ValueError):
        make_vgg(bad)
