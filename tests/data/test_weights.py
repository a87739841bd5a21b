"""helpers.data.weights: pretrained classifiers from a data root, the hub cache or the offline fallback."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision
from data_fixtures import sha256_of

from helpers import data
from helpers.data import weights as weights_module


def test_weights_that_do_not_fit_the_model(tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(torch.nn.Conv2d(3, 4, 3).state_dict(), path)
    loaded = data.load_state_dict_file(torch.nn.Conv2d(3, 4, 3), path)
    assert torch.equal(loaded.weight, torch.load(path, weights_only=True)["weight"])
    with pytest.raises(data.WeightsMismatchError, match=r"weight: file \[4, 3, 3, 3\] vs model \[8, 3, 3, 3\]"):
        data.load_state_dict_file(torch.nn.Conv2d(3, 8, 3), path)
    with pytest.raises(data.WeightsMismatchError, match=r"Sequential.*4 missing .*2 unexpected"):
        data.load_state_dict_file(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)), path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(data.CorruptFileError, match="tiny.pth.*truncated"):
        data.load_state_dict_file(torch.nn.Conv2d(3, 4, 3), path)


def test_pretrained_weights_come_from_the_hub_cache(tmp_path, monkeypatch, capsys):
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    model = torchvision.models.mobilenet_v3_small()
    torch.save(model.state_dict(), checkpoints / "mobilenet_v3_small-047dcff4.pth")
    with pytest.raises(data.CorruptFileError, match="fails its checksum"):  # not torchvision's real file
        data.load_pretrained_classifier("mobilenet_v3_small", download=False)
    monkeypatch.setattr(weights_module, "_hash_matches_name", lambda path: True)
    loaded, transforms, name = data.load_pretrained_classifier("mobilenet_v3_small", download=False)
    assert name == "MobileNet_V3_Small_Weights.IMAGENET1K_V1" and not loaded.training
    assert torch.equal(loaded.classifier[3].weight, model.classifier[3].weight)
    assert transforms.crop_size == [224]
    assert "torch hub cache" in capsys.readouterr().out


def _fallback_in_mirror(tmp_path, monkeypatch, use_registry_entry) -> torch.nn.Module:
    weights = tmp_path / "mirror" / data.FALLBACK_WEIGHTS
    weights.parent.mkdir(parents=True)
    expected = torchvision.models.mobilenet_v2()
    torch.save(expected.state_dict(), weights)
    use_registry_entry("mobilenet-v2-weights", files={data.FALLBACK_WEIGHTS: sha256_of(weights)})
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(weights.parent.parent))
    return expected


def test_pretrained_fallback_to_the_mirror_mobilenet_v2(tmp_path, monkeypatch, capsys, use_registry_entry):
    with pytest.raises(data.DataNotFoundError, match="(?s)mobilenet_v3_small-047dcff4.pth.*fetch mobilenet-v2-weights"):
        data.load_pretrained_classifier("mobilenet_v3_small", download=False)
    with pytest.raises(data.DataNotFoundError, match="mobilenet_v3_small-047dcff4.pth") as err:
        data.load_pretrained_classifier("mobilenet_v3_small", download=False, fallback=False)
    assert "missing too" not in str(err.value)  # fallback=False: the fallback was not even looked for
    expected = _fallback_in_mirror(tmp_path, monkeypatch, use_registry_entry)
    model, transforms, name = data.load_pretrained_classifier("mobilenet_v3_small", download=False)
    assert name == "mobilenet_v2_imagenet_from_qnnpack" and isinstance(model, torchvision.models.MobileNetV2)
    assert torch.equal(model.classifier[1].weight, expected.classifier[1].weight)
    assert "Using the fallback instead: the course's MobileNetV2" in capsys.readouterr().out
    with pytest.raises(ValueError, match="Unknown torchvision model"):
        data.load_pretrained_classifier("no_such_net")
    with pytest.raises(ValueError, match="choose one of.*IMAGENET1K_V1"):
        data.load_pretrained_classifier("mobilenet_v3_small", weights="IMAGENET99")


def test_offline_resnet18_says_what_was_missing_where_and_how_to_get_it(tmp_path, monkeypatch, capsys,
                                                                         use_registry_entry, repo_data):
    _fallback_in_mirror(tmp_path, monkeypatch, use_registry_entry)

    def no_internet(url, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_internet)
    model, _, name = data.load_pretrained_classifier("resnet18")
    out = capsys.readouterr().out
    missing, fallback = out.split("Using the fallback instead")
    for needle in ("resnet18's ImageNet weights (ResNet18_Weights.IMAGENET1K_V1, file resnet18-f37072fd.pth) were "
                   "not found", str(repo_data / "weights" / "resnet18-f37072fd.pth"),
                   str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"),
                   "https://download.pytorch.org/models/resnet18-f37072fd.pth: failed (URLError",
                   "torchvision.models.get_model('resnet18', weights='DEFAULT')", "into <data root>/weights/"):
        assert needle in missing, needle
    assert "MobileNetV2 ImageNet weights" in fallback and isinstance(model, torchvision.models.MobileNetV2)
    data.load_pretrained_classifier("resnet18", download=False)
    assert "official download https://download.pytorch.org/models/resnet18-f37072fd.pth: not tried (download=False)" \
        in capsys.readouterr().out


def test_imagenet_class_names():
    names = data.imagenet_class_names()
    assert len(names) == 1000 and names[285] == "Egyptian cat"


def test_real_mobilenet_v2_fallback_knows_a_cat(real_mirror, capsys):
    model, transforms, name = data.load_pretrained_classifier("mobilenet_v3_small", download=False)
    assert name == "mobilenet_v2_imagenet_from_qnnpack"
    assert "Using the fallback instead: the course's MobileNetV2" in capsys.readouterr().out
    batch = transforms(torch.from_numpy(data.load_sample_photo("chelsea")).permute(2, 0, 1)).unsqueeze(0)
    with torch.inference_mode():
        top3 = model(batch).topk(3).indices[0].tolist()
    names = data.imagenet_class_names()
    assert {names[i] for i in top3} == {"Egyptian cat", "tabby", "tiger cat"}
