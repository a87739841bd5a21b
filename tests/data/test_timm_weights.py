"""helpers.data.weights offline: timm weights from the Hugging Face cache or not at all, downloads that cannot hang."""

from __future__ import annotations

import socket
import urllib.error

import huggingface_hub
import pytest
import timm
import torch

from helpers import data
from helpers.data import weights as weights_module

SMALL = "mobilenetv3_small_050"


@pytest.fixture
def no_hub(monkeypatch):
    """Nothing in the Hugging Face cache; a real pretrained download would fail the test."""
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda repo_id, filename, **kwargs: None)
    create = timm.create_model

    def create_offline(name, pretrained=False, **kwargs):
        assert not pretrained, "offline, timm must not be asked to download"
        return create(name, pretrained=False, **kwargs)

    monkeypatch.setattr(timm, "create_model", create_offline)


def test_offline_timm_model_is_the_architecture_alone_and_says_so(no_hub, monkeypatch, capsys):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(weights_module, "_host_answers", lambda url, timeout=None: False)
    model, pretrained = data.load_timm_model(SMALL, num_classes=3)
    out = capsys.readouterr().out
    assert not pretrained and not model.training and model.get_classifier().out_features == 3
    for needle in ("not in the Hugging Face cache", "did not answer within 3 s", "architecture alone",
                   f"timm.create_model('{SMALL}', pretrained=True)", "models--timm--mobilenetv3_small_050"):
        assert needle in out, needle


def test_hf_hub_offline_skips_the_hub_without_asking_it(no_hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(weights_module, "_host_answers", lambda url, timeout=None: pytest.fail("the Hub was asked"))
    _, pretrained = data.load_timm_model(SMALL)
    assert not pretrained and "$HF_HUB_OFFLINE is set" in capsys.readouterr().out
    _, pretrained = data.load_timm_model(SMALL, pretrained=False)
    assert not pretrained and capsys.readouterr().out == "", "no weights asked for: nothing to say"


def test_timm_weights_from_the_hugging_face_cache(tmp_path, monkeypatch, capsys):
    torch.manual_seed(0)
    saved = timm.create_model(SMALL, pretrained=False)
    path = tmp_path / "pytorch_model.bin"
    torch.save(saved.state_dict(), path)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache",
                        lambda repo_id, filename, **kwargs: str(path) if filename == "pytorch_model.bin" else None)
    monkeypatch.setattr(weights_module, "_host_answers", lambda url, timeout=None: pytest.fail("the Hub was asked"))
    model, pretrained = data.load_timm_model(SMALL)
    assert pretrained and "Hugging Face cache" in capsys.readouterr().out
    assert torch.equal(model.get_classifier().weight, saved.get_classifier().weight)
    model, _ = data.load_timm_model(SMALL, num_classes=2)  # a new head, the backbone's weights kept
    assert model.get_classifier().out_features == 2
    assert torch.equal(model.conv_stem.weight, saved.conv_stem.weight)


def test_host_answers_is_false_for_a_host_that_does_not_exist():
    assert not weights_module._host_answers("https://no-such-host.invalid", timeout=1.0)


def test_torchvision_downloads_run_with_a_socket_timeout(monkeypatch, capsys, tmp_path):
    seen = []

    def no_internet(url, **kwargs):
        seen.append(socket.getdefaulttimeout())
        raise urllib.error.URLError("timed out")

    before = socket.getdefaulttimeout()
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_internet)
    with pytest.raises(data.DataNotFoundError, match="failed \\(URLError"):
        data.load_pretrained_classifier("resnet18", fallback=False)
    assert seen == [weights_module.DOWNLOAD_TIMEOUT_S], "the download must not wait forever for a silent network"
    assert socket.getdefaulttimeout() == before, "the process's default timeout is put back"
