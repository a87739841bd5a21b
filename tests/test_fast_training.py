"""helpers.fast_training and make_fast_vgg: airbench94's network and tricks on the course's fit loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers.augment import DeviceLoader
from helpers.fast_training import Lookahead, fit_fast, init_whitening, make_sgd, predict_with_tta, triangle_schedule
from helpers.models import count_parameters, make_fast_vgg
from helpers.training import predict


def test_make_fast_vgg_has_airbench94s_size_and_handles_cifar_and_fashion_inputs():
    model = make_fast_vgg()
    assert count_parameters(model, trainable_only=False) == 1_971_640 + (64 + 64 + 256 * 4)  # + the frozen BN scales
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert make_fast_vgg((8, 16, 16), in_channels=1)(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(not m.weight.requires_grad and m.bias.requires_grad for m in norms)
    with pytest.raises(ValueError, match="three blocks"):
        make_fast_vgg((8, 16))


def test_make_fast_vgg_convs_start_as_identities_on_their_first_channels():
    conv = [m for m in make_fast_vgg((32, 64, 64)).modules() if isinstance(m, nn.Conv2d)][1]  # 24 -> 32 channels
    x = torch.randn(1, 24, 6, 6)
    assert torch.allclose(conv(x)[:, :24], x, atol=1e-6)


def test_init_whitening_decorrelates_the_patches_and_freezes_the_weights():
    torch.manual_seed(0)
    base = torch.randn(200, 1, 12, 12)
    images = torch.cat([base, 0.8 * base + 0.2 * torch.randn_like(base), 3 * torch.randn_like(base)], dim=1)
    conv = nn.Conv2d(3, 24, kernel_size=2)
    init_whitening(conv, images, eps=1e-6)
    assert not conv.weight.requires_grad
    with torch.no_grad():
        features = nn.functional.conv2d(images, conv.weight)[:, :12]  # the first half; the rest is its negative
    flat = features.permute(0, 2, 3, 1).reshape(-1, 12)
    covariance = flat.T @ flat / len(flat)
    assert torch.allclose(covariance, torch.eye(12), atol=0.05)
    with pytest.raises(ValueError, match="whitening conv"):
        init_whitening(nn.Conv2d(3, 16, 2), images)


def test_make_sgd_uses_airbenchs_per_1024_images_step_for_a_mean_loss():
    model = make_fast_vgg((8, 16, 16))
    optimizer = make_sgd(model, lr=11.5, weight_decay=0.0153, momentum=0.85, batch_size=512)
    others, norms = optimizer.param_groups
    kilostep = 1024 * (1 + 1 / 0.15)
    assert others["lr"] == pytest.approx(11.5 * 512 / kilostep)
    assert norms["lr"] == pytest.approx(64 * others["lr"])
    for group in (others, norms):  # the decay per step, lr * weight_decay, is the same for both groups
        assert group["lr"] * group["weight_decay"] == pytest.approx(0.0153 * 512 / kilostep)
    frozen = {id(p) for p in model.parameters() if not p.requires_grad}
    assert not frozen & {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert optimizer.defaults["nesterov"]


def test_triangle_schedule_rises_to_the_peak_then_falls_to_the_end_value():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = triangle_schedule(optimizer, total_steps=100, start=0.2, peak_at=0.25, end=0.1)
    rates = []
    for _ in range(101):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[0] == pytest.approx(0.2) and rates[25] == pytest.approx(1.0) and rates[100] == pytest.approx(0.1)
    assert max(rates) == pytest.approx(1.0)


def test_lookahead_pulls_towards_the_slow_weights_and_ends_on_them():
    model = nn.Linear(2, 1, bias=False)
    nn.init.zeros_(model.weight)
    lookahead = Lookahead(model, total_steps=10, every=5, decay=0.5)
    for step in range(1, 11):
        with torch.no_grad():
            model.weight += 1.0  # what an optimizer step would do
        before = model.weight.clone()
        lookahead.step(model)
        if step % 5:
            assert torch.equal(model.weight, before), "nothing happens between the every-5th steps"
    # step 5: alpha = 0.5 * (5/10)^3 = 1/16 -> slow = 5 * 15/16; step 10 (the last): the model takes the slow weights
    slow5 = 5 * 15 / 16
    assert torch.allclose(model.weight, torch.full((1, 2), slow5))


def test_predict_with_tta_averages_the_mirror_and_shifted_views():
    torch.manual_seed(0)
    images = torch.randn(6, 1, 5, 5)
    loader = DeviceLoader(images, torch.zeros(6), 4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(25, 3))
    plain, _ = predict(model, loader)
    assert torch.allclose(predict_with_tta(model, loader, flip=False)[0], plain)
    mirrored, _ = predict(model, DeviceLoader(images.flip(-1), torch.zeros(6), 4))
    assert torch.allclose(predict_with_tta(model, loader, flip=True)[0], (plain + mirrored) / 2, atol=1e-6)
    constant = nn.Sequential(nn.Flatten(), nn.Linear(25, 3))
    nn.init.zeros_(constant[1].weight)
    logits, labels = predict_with_tta(constant, loader, flip=True, shift=1)
    assert torch.allclose(logits, constant[1].bias.detach().expand(6, 3)), "the weights of the views add up to 1"
    assert labels.tolist() == [0] * 6


def test_fit_fast_trains_a_small_fast_vgg_on_the_cpu():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (96, 3, 16, 16), dtype=torch.uint8)
    labels = torch.arange(96) % 10
    loader = DeviceLoader(images, labels, 32, shuffle=True, drop_last=True, mean=(0.5,) * 3, std=(0.25,) * 3,
                          flip="alternate", crop_padding=2, seed=0)
    model = make_fast_vgg((8, 16, 16))
    whiten = loader.transform(images[:50], labels[:50], augment=False)[0]
    history = fit_fast(model, loader, 2, whiten_with=whiten, channels_last=False, progress=False, verbose=False)
    assert len(history.train_loss) == 2 and all(torch.isfinite(torch.tensor(history.train_loss)))
    assert not model[0].weight.requires_grad


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fit_fast_on_the_gpu_with_bf16_and_channels_last():
    images = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8)
    loader = DeviceLoader(images, torch.arange(256) % 10, 128, shuffle=True, drop_last=True, mean=(0.5,) * 3,
                          std=(0.25,) * 3, flip="alternate", crop_padding=2, device="cuda", seed=0)
    model = make_fast_vgg((16, 32, 32))
    whiten = loader.transform(images[:64].cuda(), torch.zeros(64, dtype=torch.long, device="cuda"), augment=False)[0]
    history = fit_fast(model, loader, 1, whiten_with=whiten, device="cuda", progress=False, verbose=False)
    assert next(model.parameters()).is_cuda and len(history.train_loss) == 1
    logits, _ = predict_with_tta(model, loader, flip=True, shift=1, channels_last=True)
    assert logits.shape == (256, 10) and logits.dtype == torch.float32
