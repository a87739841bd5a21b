"""The lesson 05 lab checks: each one passes the right answer and fails plausible wrong ones with the right hint."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers.checks import (
    CheckFailed,
    check_dropout,
    check_evaluate,
    check_flatten_size,
    check_train_step,
    check_vgg_features,
    check_vgg_model,
)


def fails_with(check, student, *fragments):
    """Run ``check(student)``; it must raise CheckFailed whose text contains every fragment."""
    with pytest.raises(CheckFailed) as info:
        check(student)
    text = str(info.value)
    for fragment in fragments:
        assert fragment in text, f"expected {fragment!r} in the check's message:\n{text}"


# ---------------------------------------------------------------- VGG feature extractor
def features_right(config, in_channels):
    layers, channels = [], in_channels
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(channels, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            channels = v
    return nn.Sequential(*layers)


def features_nested_blocks(config, in_channels):  # also right: one nn.Sequential per conv
    blocks, channels = [], in_channels
    for v in config:
        if v == "M":
            blocks.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            blocks.append(nn.Sequential(nn.Conv2d(channels, v, kernel_size=3, padding=1), nn.BatchNorm2d(v), nn.ReLU()))
            channels = v
    return nn.Sequential(*blocks)


def features_no_padding(config, in_channels):
    layers, channels = [], in_channels
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(channels, v, 3), nn.BatchNorm2d(v), nn.ReLU()]
            channels = v
    return nn.Sequential(*layers)


def features_channels_not_tracked(config, in_channels):
    layers = []
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(in_channels, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
    return nn.Sequential(*layers)


def features_no_batch_norm(config, in_channels):
    layers, channels = [], in_channels
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU()]
            channels = v
    return nn.Sequential(*layers)


def features_forgot_return(config, in_channels):
    nn.Sequential(*[nn.MaxPool2d(2) for _ in config])


def test_vgg_features_right_answers_pass(capsys):
    check_vgg_features(features_right)
    check_vgg_features(features_nested_blocks)
    assert "✅ vgg_features" in capsys.readouterr().out


@pytest.mark.parametrize("student, fragments", [
    (features_no_padding, ["padding", "padding=1"]),
    (features_channels_not_tracked, ["in_channels", "keep track of the channels"]),
    (features_no_batch_norm, ["BatchNorm2d"]),
    (features_forgot_return, ["NoneType", "return statement"]),
])
def test_vgg_features_wrong_answers_fail_with_a_hint(student, fragments):
    fails_with(check_vgg_features, student, *fragments)


# ---------------------------------------------------------------- flatten size
def flatten_right(config, image_size):
    size, channels = image_size, None
    for v in config:
        if v == "M":
            size //= 2
        else:
            channels = v
    return channels * size * size


def flatten_true_division(config, image_size):
    size, channels = image_size, None
    for v in config:
        if v == "M":
            size /= 2
        else:
            channels = v
    return channels * size * size


def flatten_ignores_pooling(config, image_size):
    channels = [v for v in config if v != "M"][-1]
    return channels * image_size * image_size


def flatten_first_channels(config, image_size):
    size = image_size // 2 ** config.count("M")
    return config[0] * size * size


def flatten_rounded_float(config, image_size):
    size = image_size
    for v in config:
        if v == "M":
            size = size / 2
    return round([v for v in config if v != "M"][-1] * size * size)


def test_flatten_size_right_answer_passes(capsys):
    check_flatten_size(flatten_right)
    assert "✅ flatten_size: all 5 cases passed" in capsys.readouterr().out


@pytest.mark.parametrize("student, fragments", [
    (flatten_true_division, ["float", "//"]),
    (flatten_ignores_pooling, ["halves the height and the width"]),
    (flatten_first_channels, ["LAST conv"]),
    (flatten_rounded_float, ["rounds down"]),
])
def test_flatten_size_wrong_answers_fail_with_a_hint(student, fragments):
    fails_with(check_flatten_size, student, *fragments)


# ---------------------------------------------------------------- whole model
def build_right(config, num_classes):
    channels = [v for v in config if v != "M"][-1]
    side = 28 // 2 ** config.count("M")
    return nn.Sequential(features_right(config, 1), nn.Flatten(), nn.Dropout(0.5),
                         nn.Linear(channels * side * side, 32), nn.ReLU(), nn.Linear(32, num_classes))


def build_with_softmax(config, num_classes):
    return nn.Sequential(build_right(config, num_classes), nn.Softmax(dim=1))


def build_softmax_in_forward(config, num_classes):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = build_right(config, num_classes)

        def forward(self, x):
            return torch.softmax(self.body(x), dim=1)
    return Net()


def build_wrong_flatten(config, num_classes):  # forgot that 7 // 2 == 3: assumes 28 / 8 = 3.5 -> 4
    channels = [v for v in config if v != "M"][-1]
    side = 28 // 2 ** config.count("M") + 1
    return nn.Sequential(features_right(config, 1), nn.Flatten(), nn.Linear(channels * side * side, num_classes))


def build_no_flatten(config, num_classes):
    channels = [v for v in config if v != "M"][-1]
    return nn.Sequential(features_right(config, 1), nn.Linear(channels, num_classes))


def test_vgg_model_right_answer_passes(capsys):
    check_vgg_model(build_right)
    assert "✅ vgg_model" in capsys.readouterr().out


@pytest.mark.parametrize("student, fragments", [
    (build_with_softmax, ["Softmax", "CrossEntropyLoss"]),
    (build_softmax_in_forward, ["probabilities", "logits"]),
    (build_wrong_flatten, ["wrong flatten size", "in_features="]),
    (build_no_flatten, ["not flattened", "nn.Flatten()"]),
])
def test_vgg_model_wrong_answers_fail_with_a_hint(student, fragments):
    fails_with(check_vgg_model, student, *fragments)


# ---------------------------------------------------------------- training step
def step_right(model, images, labels, loss_fn, optimizer):
    model.train()
    optimizer.zero_grad()
    outputs = model(images)
    loss = loss_fn(outputs, labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_no_zero_grad(model, images, labels, loss_fn, optimizer):
    model.train()
    loss = loss_fn(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_softmax_before_loss(model, images, labels, loss_fn, optimizer):
    model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(images).softmax(dim=1), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_no_train_mode(model, images, labels, loss_fn, optimizer):
    optimizer.zero_grad()
    loss = loss_fn(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_zero_grad_after_backward(model, images, labels, loss_fn, optimizer):
    model.train()
    loss = loss_fn(model(images), labels)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def step_returns_tensor(model, images, labels, loss_fn, optimizer):
    model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss


def test_train_step_right_answer_passes(capsys):
    check_train_step(step_right)
    assert "✅ train_step: all 2 cases passed" in capsys.readouterr().out


@pytest.mark.parametrize("student, fragments", [
    (step_no_zero_grad, ["second step", "zero_grad"]),
    (step_softmax_before_loss, ["softmax", "logits"]),
    (step_no_train_mode, ["eval mode", "model.train()"]),
    (step_zero_grad_after_backward, ["did not change", "BEFORE backward"]),
    (step_returns_tensor, ["tensor", "loss.item()"]),
])
def test_train_step_wrong_answers_fail_with_a_hint(student, fragments):
    fails_with(check_train_step, student, *fragments)


# ---------------------------------------------------------------- evaluation
def evaluate_right(model, loader):
    model.eval()
    correct = total = 0
    with torch.inference_mode():
        for images, labels in loader:
            correct += (model(images).argmax(dim=1) == labels).sum().item()
            total += len(labels)
    return correct / total


def evaluate_no_grad_is_fine_too(model, loader):
    model.eval()
    with torch.no_grad():
        hits = [(model(x).argmax(1) == y).float() for x, y in loader]
    return torch.cat(hits).mean()


def evaluate_forgot_eval(model, loader):
    correct = total = 0
    with torch.inference_mode():
        for images, labels in loader:
            correct += (model(images).argmax(dim=1) == labels).sum().item()
            total += len(labels)
    return correct / total


def evaluate_with_autograd(model, loader):
    model.eval()
    correct = total = 0
    for images, labels in loader:
        correct += (model(images).argmax(dim=1) == labels).sum().item()
        total += len(labels)
    return correct / total


def evaluate_mean_of_batches(model, loader):
    model.eval()
    with torch.inference_mode():
        accs = [(model(x).argmax(1) == y).float().mean().item() for x, y in loader]
    return sum(accs) / len(accs)


def evaluate_percent(model, loader):
    return 100 * evaluate_right(model, loader)


def test_evaluate_right_answers_pass(capsys):
    check_evaluate(evaluate_right)
    check_evaluate(evaluate_no_grad_is_fine_too)
    assert "✅ evaluate_accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("student, fragments", [
    (evaluate_forgot_eval, ["training mode", "model.eval()"]),
    (evaluate_with_autograd, ["autograd", "inference_mode"]),
    (evaluate_mean_of_batches, ["per-batch", "total number of images"]),
    (evaluate_percent, ["percentage", "fraction"]),
])
def test_evaluate_wrong_answers_fail_with_a_hint(student, fragments):
    fails_with(check_evaluate, student, *fragments)


# ---------------------------------------------------------------- dropout by hand
def dropout_right(x, p, training):
    if not training or p == 0:
        return x
    mask = (torch.rand_like(x) >= p).to(x.dtype)
    return x * mask / (1 - p)


def dropout_no_rescaling(x, p, training):
    if not training:
        return x
    return x * (torch.rand_like(x) >= p)


def dropout_active_in_eval(x, p, training):
    return x * (torch.rand_like(x) >= p) / (1 - p)


def dropout_scaled_in_eval(x, p, training):  # the original paper's way, mixed with inverted dropout
    if not training:
        return x * (1 - p)
    return x * (torch.rand_like(x) >= p) / (1 - p)


def dropout_keep_probability(x, p, training):
    if not training:
        return x
    return x * (torch.rand_like(x) < p) / (1 - p)


def dropout_one_coin(x, p, training):
    if not training:
        return x
    return x * float(torch.rand(()) >= p) / (1 - p)


def dropout_in_place(x, p, training):
    if not training:
        return x
    x.mul_((torch.rand_like(x) >= p) / (1 - p))
    return x


def test_dropout_right_answer_passes(capsys):
    check_dropout(dropout_right)
    check_dropout(lambda x, p, training: nn.functional.dropout(x, p, training))  # PyTorch's own
    assert "✅ dropout: all 4 cases passed" in capsys.readouterr().out


@pytest.mark.parametrize("student, fragments", [
    (dropout_no_rescaling, ["unchanged", "1 / (1 - p)"]),
    (dropout_active_in_eval, ["training=False", "does nothing"]),
    (dropout_scaled_in_eval, ["scaled", "eval return x unchanged"]),
    (dropout_keep_probability, ["DROPPING"]),
    (dropout_one_coin, ["one random number per element"]),
    (dropout_in_place, ["in place"]),
])
def test_dropout_wrong_answers_fail_with_a_hint(student, fragments):
    fails_with(check_dropout, student, *fragments)
