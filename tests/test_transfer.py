"""helpers.transfer: feature extractors, fused inference, photos as tensors, cached features, logistic heads."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
import torchvision
from PIL import Image
from torch import nn

from helpers import transfer
from helpers.training import tensor_loader


def _small_cnn() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten())
    for bn in (net[1], net[4]):  # statistics that are not the identity, so a wrong fold shows
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
    return net


def test_feature_extractor_of_torchvision_and_timm_models():
    x = torch.randn(2, 3, 64, 64)
    mobilenet = torchvision.models.mobilenet_v2().eval()
    backbone = transfer.feature_extractor(mobilenet)
    with torch.no_grad():
        features = backbone(x)
        assert features.shape == (2, 1280)
        assert torch.allclose(mobilenet.classifier(features), mobilenet(x), atol=1e-5), "head(features) is the model"
    assert backbone[0] is mobilenet.features, "a view that shares the weights, not a copy"

    resnet = torchvision.models.resnet18().eval()
    with torch.no_grad():
        features = transfer.feature_extractor(resnet)(x)
        assert features.shape == (2, 512) and torch.allclose(resnet.fc(features), resnet(x), atol=1e-5)

    small = timm.create_model("mobilenetv3_small_050", pretrained=False).eval()
    with torch.no_grad():
        features = transfer.feature_extractor(small)(x)
        assert torch.allclose(small.get_classifier()(features), small(x), atol=1e-5)

    with pytest.raises(ValueError, match="head .* begins"):
        transfer.feature_extractor(nn.Sequential(nn.Linear(2, 2)))


def test_fuse_for_inference_gives_the_same_features_and_leaves_the_original_alone():
    net = _small_cnn().train()
    x = torch.randn(5, 3, 16, 16)
    fused = transfer.fuse_for_inference(net)
    assert net.training, "the original keeps its mode"
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules()), "BatchNorm folded into the convs"
    with torch.no_grad():
        assert torch.allclose(fused(x), net.eval()(x), atol=1e-5)


def test_load_photo_tensors_resizes_the_shorter_side_and_crops_the_centre(tmp_path):
    for name, size, mode in [("cat/wide.jpg", (60, 40), "RGB"), ("cat/gray.png", (30, 50), "L"),
                             ("dog/alpha.png", (40, 40), "RGBA")]:
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        Image.new(mode, size, 128).save(path)
    from helpers.data.image_files import pil_rgb_loader
    dataset = torchvision.datasets.ImageFolder(str(tmp_path), loader=pil_rgb_loader)
    images, labels = transfer.load_photo_tensors(dataset, 24, progress=False)
    assert images.shape == (3, 3, 24, 24) and images.dtype == torch.uint8
    assert labels.tolist() == [0, 0, 1] and labels.dtype == torch.int64
    with pytest.raises(ValueError, match="no images"):
        transfer.load_photo_tensors(torch.utils.data.TensorDataset(torch.zeros(0)), 24)


def test_extract_features_runs_the_backbone_once_in_eval_mode_with_and_without_flips():
    net = _small_cnn().train()
    images = torch.randint(0, 256, (10, 3, 16, 16), dtype=torch.uint8)
    labels = torch.arange(10) % 3
    loader = tensor_loader(images, labels, batch_size=4, mean=0.5, std=0.25)
    with torch.no_grad():
        expected = net.eval()(((images.float() / 255) - 0.5) / 0.25)
        expected_flipped = net(((images.flip(-1).float() / 255) - 0.5) / 0.25)
    net.train()
    features, got_labels = transfer.extract_features(net, loader, progress=False)
    assert net.training and features.dtype == torch.float32 and features.shape == (10, 6)
    assert torch.allclose(features, expected, atol=1e-5) and torch.equal(got_labels, labels)
    flipped, _ = transfer.extract_features(net, loader, flip=True, fuse=False, progress=False)
    assert torch.allclose(flipped, expected_flipped, atol=1e-5)
    with pytest.raises(ValueError, match="one vector per image"):
        transfer.extract_features(net[:3], loader, progress=False)


def test_fit_logistic_head_chooses_c_by_cross_validation_and_becomes_a_linear_layer():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 30)
    features = rng.normal(size=(90, 8)) + 3 * np.eye(3, 8)[labels]
    head, info = transfer.fit_logistic_head(features, labels, Cs=(0.01, 1.0), folds=3)
    assert info["C"] in (0.01, 1.0) and set(info["cv_accuracy"]) == {0.01, 1.0}
    assert head.score(features, labels) > 0.9
    layer = transfer.linear_from_logistic(head)
    with torch.no_grad():
        probabilities = layer(torch.as_tensor(features, dtype=torch.float32)).softmax(dim=1).numpy()
    assert np.allclose(probabilities, head.predict_proba(features), atol=1e-5)

    binary = labels[:60]
    doubled = np.concatenate([features[:60], features[:60]])  # each sample twice, like a photo and its mirror
    head, _ = transfer.fit_logistic_head(doubled, np.tile(binary, 2), Cs=(0.1,), folds=3,
                                         groups=np.tile(np.arange(60), 2))
    layer = transfer.linear_from_logistic(head)
    assert layer.out_features == 2
    with torch.no_grad():
        probabilities = layer(torch.as_tensor(features[:60], dtype=torch.float32)).softmax(dim=1).numpy()
    assert np.allclose(probabilities, head.predict_proba(features[:60]), atol=1e-5)
    with pytest.raises(ValueError, match="one label each"):
        transfer.fit_logistic_head(features, labels[:10])


@pytest.fixture
def fake_cats_and_dogs(tmp_path, monkeypatch):
    """cats_vs_dogs_features over 6 tiny photos and a tiny backbone, its cache in tmp_path; counts the passes."""
    calls = {"backbone": 0}
    folder = tmp_path / "cats_vs_dogs"
    for split in ("train", "val"):
        for label, colour in (("cat", (200, 90, 40)), ("dog", (40, 90, 200))):
            for i in range(3):
                path = folder / split / label / f"{i}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                photo = Image.new("RGB", (40 + 10 * i, 30), colour)
                photo.paste((0, 0, 0), (0, 0, 12, 30))  # a dark left edge: the mirror image differs
                photo.save(path)

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 5, 3), nn.ReLU())
            self.classifier = nn.Linear(5, 1000)

        def forward(self, x):
            return self.classifier(self.features(x).mean((2, 3)))

    def count(module, inputs):
        calls["backbone"] += 1

    def fake_model(name, root=None):
        torch.manual_seed(0)  # the same "pretrained" weights on every load
        model = Tiny()
        model.features.register_forward_pre_hook(count)
        return model, None, "Fake_Weights.V1"

    from helpers.data.image_files import pil_rgb_loader
    monkeypatch.setattr(transfer, "load_pretrained_classifier", fake_model)
    monkeypatch.setattr(transfer, "ensure_dataset", lambda name, root=None: folder)
    monkeypatch.setattr(transfer, "writable_root", lambda root=None: tmp_path)
    monkeypatch.setattr(transfer, "load_cats_vs_dogs", lambda split, root=None: torchvision.datasets.ImageFolder(
        str(folder / split), loader=pil_rgb_loader))
    monkeypatch.setattr(transfer, "fuse_for_inference", lambda module: module)  # to count the passes
    return calls


def test_cats_vs_dogs_features_are_computed_once_then_read_from_the_cache(fake_cats_and_dogs, tmp_path, capsys):
    first = transfer.cats_vs_dogs_features(size=16, device="cpu", progress=False)
    assert not first.from_cache and first.train.shape == (6, 5) and first.val_flipped.shape == (6, 5)
    assert first.train_labels.tolist() == [0, 0, 0, 1, 1, 1] and first.weights == "Fake_Weights.V1"
    assert fake_cats_and_dogs["backbone"] == 4, "one batch each: train, train flipped, val, val flipped"
    assert not torch.allclose(first.train, first.train_flipped), "the mirror images are other inputs"
    cache = tmp_path / "cache" / "cats_vs_dogs_features_Fake_Weights_V1_16.pt"
    assert cache.is_file()

    second = transfer.cats_vs_dogs_features(size=16, device="cpu", progress=False)
    assert second.from_cache and fake_cats_and_dogs["backbone"] == 4, "read from the cache, no backbone pass"
    assert torch.equal(second.train, first.train) and second.seconds == first.seconds
    assert "read from the cache" in capsys.readouterr().out

    no_flips = transfer.cats_vs_dogs_features(size=16, flips=False, device="cpu", progress=False)
    assert not no_flips.from_cache and no_flips.train_flipped is None, "another recipe: computed again"

    cache.write_bytes(b"not a torch file")
    again = transfer.cats_vs_dogs_features(size=16, flips=False, device="cpu", progress=False)
    assert not again.from_cache and "Ignoring the unreadable cache" in capsys.readouterr().out
    assert torch.allclose(again.train, first.train)
