"""Lab 05 checks (helpers/checks/lab05_vgg.py): right answers pass, every classic bug fails with its hint."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lab_test_kit import lab_tests, no_return as _no_return  # tests/checks/lab_test_kit.py
from helpers.checks import lab05_vgg as lab
from helpers.checks.core import seed_all

# ---------------------------------------------------------------- the classic bugs of each exercise
# check -> {classic bug: fragment(s) its failure message or hint must contain}. Each bug has a wrong answer in
# WRONG_ANSWERS below; the tests at the bottom feed every one of them to its check.
CLASSIC_BUGS: dict[str, dict[str, str | list[str]]] = {
    "check_make_features": {
        "no padding": ["padding", "padding=1"],
        "channels not tracked": ["in_channels", "keep track of the channels"],
        "no batch norm": "BatchNorm2d",
        "ReLU before batch norm": "in this order",
        "batch norm sized by the input channels": ["num_features", "channels of the conv before it"],
        "5x5 kernels": ["kernel_size", "3x3"],
        "pooling with stride 1": ["stride=1", "nn.MaxPool2d(2)"],
        "no return statement": ["NoneType", "return statement"],
    },
    "check_flatten_size": {
        "true division / (a float)": ["float", "//"],
        "pooling ignored": "halves the height and the width",
        "first conv's channels": "LAST conv",
        "channels summed over convs": "do not add up",
        "channels forgotten": "number of channels",
        "height only": "WIDTH",
        "7 / 2 rounded up": "rounds down",
        "no return statement": "return statement",
    },
    "check_my_dropout": {
        "kept units not rescaled": ["unchanged", "1 / (1 - p)"],
        "kept units multiplied by 1 - p": "(1 - p) = 0.8",
        "kept units divided by p": ["divided by p", "KEEPING"],
        "active in eval mode": ["training=False", "does nothing"],
        "scaled in eval mode": ["scaled", "eval return x unchanged"],
        "p used as the keep probability": "DROPPING",
        "one coin for the whole tensor": ["whole tensor", "one random number per element"],
        "one coin per row": ["dim 1", "one random number per element"],
        "one coin per feature (column)": ["dim 0", "one random number per element"],
        "one coin per feature map (channel)": ["dim 2, 3", "one random number per element"],
        "seeded inside the function": "new random mask on every call",
        "modifies x in place": "in place",
        "float32 mask turns float16 into float32": ["float16", ".to(x.dtype)"],
        "no return statement": "return statement",
    },
    "check_build_vgg": {
        "Softmax layer at the end": ["Softmax", "CrossEntropyLoss"],
        "LogSoftmax layer at the end": ["Softmax", "logits"],
        "softmax inside forward": ["probabilities", "logits"],
        "wrong flatten size (7 / 2 rounded up)": ["wrong flatten size", "in_features="],
        "no nn.Flatten": ["not flattened", "nn.Flatten()"],
        "3 input channels for gray images": ["in_channels=1", "gray"],
        "no final layer to num_classes": ["4x128", "num_classes"],
        "ReLU after the last layer": ["negative", "ReLU after the last layer"],
        "dropout after the last layer": ["exactly 0", "in front of the fully connected layers"],
        "no return statement": "return statement",
    },
    "check_train_step": {
        "no zero_grad": ["second step", "zero_grad"],
        "softmax before the loss": ["softmax", "logits"],
        "no model.train()": ["eval mode", "model.train()"],
        "zero_grad between backward and step": ["did not change", "BEFORE backward"],
        "no backward": ["did not change", "loss.backward()"],
        "step before backward": ["did not change", "optimizer.step()"],
        "returns the loss tensor": ["tensor", "loss.item()"],
        "no return statement": "return statement",
    },
    "check_evaluate_accuracy": {
        "no model.eval()": ["training mode", "model.eval()"],
        "autograd on": ["autograd", "inference_mode"],
        "mean of per-batch accuracies": ["per-batch", "total number of images"],
        "divides by the number of batches": "len(loader)",
        "integer division //": ["integer division", "use /"],
        "a percentage": ["percentage", "fraction"],
        "return inside the loop": ["number of batches", "every batch"],
        "no return statement": "return statement",
    },
}


# ---------------------------------------------------------------- right answers (as a student would write them)
def make_features(config, in_channels):
    layers, channels = [], in_channels
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(channels, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            channels = v
    return nn.Sequential(*layers)


def make_features_nested(config, in_channels):  # also right: one nn.Sequential per conv
    blocks, channels = [], in_channels
    for v in config:
        if v == "M":
            blocks.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            blocks.append(nn.Sequential(nn.Conv2d(channels, v, kernel_size=3, padding=1), nn.BatchNorm2d(v), nn.ReLU()))
            channels = v
    return nn.Sequential(*blocks)


def flatten_size(config, image_size):
    size, channels = image_size, None
    for v in config:
        if v == "M":
            size //= 2
        else:
            channels = v
    return channels * size * size


def my_dropout(x, p, training):
    if not training or p == 0:
        return x
    mask = (torch.rand_like(x) >= p).to(x.dtype)
    return x * mask / (1 - p)


def build_vgg(config, num_classes):
    return nn.Sequential(make_features(config, 1), nn.Flatten(), nn.Dropout(0.5),
                         nn.Linear(flatten_size(config, 28), 32), nn.ReLU(), nn.Linear(32, num_classes))


def train_step(model, images, labels, loss_fn, optimizer):
    model.train()
    optimizer.zero_grad()
    outputs = model(images)
    loss = loss_fn(outputs, labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def evaluate_accuracy(model, loader):
    model.eval()
    correct = total = 0
    with torch.inference_mode():
        for images, labels in loader:
            correct += (model(images).argmax(dim=1) == labels).sum().item()
            total += len(labels)
    return correct / total


def evaluate_accuracy_tensor_mean(model, loader):  # also right: no_grad, a 0-d tensor, len(loader.dataset)
    model.eval()
    with torch.no_grad():
        hits = sum((model(x).argmax(1) == y).sum() for x, y in loader)
    return hits / len(loader.dataset)


RIGHT_ANSWERS: dict[str, list] = {
    "check_make_features": [make_features, make_features_nested],
    "check_flatten_size": [flatten_size],
    "check_my_dropout": [my_dropout, lambda x, p, training: nn.functional.dropout(x, p, training),
                         lambda x, p, training: x * torch.bernoulli(torch.full_like(x, 1 - p)) / (1 - p) if training else x],
    "check_build_vgg": [build_vgg],
    "check_train_step": [train_step],
    "check_evaluate_accuracy": [evaluate_accuracy, evaluate_accuracy_tensor_mean],
}


# ---------------------------------------------------------------- one wrong answer per classic bug
def features(*, padding=1, track=True, batch_norm=True, relu_first=False, bn_channels="out", kernel=3, pool_stride=2):
    """make_features with switches that each turn on one classic mistake."""
    def make(config, in_channels):
        layers, channels = [], in_channels
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(2, stride=pool_stride))
                continue
            bn = [nn.BatchNorm2d(v if bn_channels == "out" else channels)] if batch_norm else []
            conv = nn.Conv2d(channels if track else in_channels, v, kernel, padding=padding)
            layers += [conv, nn.ReLU(), *bn] if relu_first else [conv, *bn, nn.ReLU()]
            channels = v
        return nn.Sequential(*layers)
    return make


def flatten_with(combine):
    """flatten_size from (config, size, pooled side, last channels) with one mistake in ``combine``."""
    def flatten(config, image_size):
        side = image_size // 2 ** config.count("M")
        return combine(config, image_size, side, [v for v in config if v != "M"][-1])
    return flatten


def flatten_true_division(config, image_size):
    size = image_size
    for v in config:
        if v == "M":
            size /= 2
    return [v for v in config if v != "M"][-1] * size * size


def dropout_with(mask_shape=None, *, scale="divide", in_eval="identity", keep=False, seed=None, in_place=False,
                 float_mask=False):
    """my_dropout with switches that each turn on one classic mistake; ``mask_shape(x)`` picks the shape of the draw."""
    def dropout(x, p, training):
        if not training:
            return x if in_eval == "identity" else (x * (1 - p) if in_eval == "scaled" else x * (torch.rand_like(x) >= p) / (1 - p))
        if seed is not None:
            torch.manual_seed(seed)
        draws = torch.rand(mask_shape(x)) if mask_shape else torch.rand_like(x)
        mask = (draws < p) if keep else (draws >= p)
        mask = mask.float() if float_mask else mask
        factor = {"divide": 1 / (1 - p), "none": 1.0, "multiply": 1 - p, "divide by p": 1 / p}[scale]
        if in_place:
            return x.mul_(mask * factor)
        return x * mask * factor
    return dropout


def vgg_with(*head, in_channels=1, side_fix=0, flatten=True, final=True):
    """build_vgg with one mistake: extra layers at the end, the wrong flatten size, no Flatten, ..."""
    def build(config, num_classes):
        channels = [v for v in config if v != "M"][-1]
        side = 28 // 2 ** config.count("M") + side_fix
        body = [make_features(config, in_channels)] + ([nn.Flatten()] if flatten else [])
        linear_in = channels * side * side if flatten else channels
        classifier = [nn.Linear(linear_in, 128), nn.ReLU()] + ([nn.Linear(128, num_classes)] if final else [])
        return nn.Sequential(*body, *classifier, *[layer() for layer in head])
    return build


class _SoftmaxInForward(nn.Module):
    def __init__(self, config, num_classes):
        super().__init__()
        self.body = build_vgg(config, num_classes)

    def forward(self, x):
        return torch.softmax(self.body(x), dim=1)


def step_with(*, zero_grad="first", softmax=False, train=True, backward=True, step_first=False, item=True):
    """train_step with switches that each turn on one classic mistake."""
    def step(model, images, labels, loss_fn, optimizer):
        if train:
            model.train()
        if zero_grad == "first":
            optimizer.zero_grad()
        outputs = model(images)
        loss = loss_fn(outputs.softmax(dim=1) if softmax else outputs, labels)
        if step_first:
            optimizer.step()
        if backward:
            loss.backward()
        if zero_grad == "between":
            optimizer.zero_grad()
        if not step_first:
            optimizer.step()
        return loss.item() if item else loss
    return step


def evaluate_with(*, eval_mode=True, no_grad=True, result="fraction"):
    """evaluate_accuracy with switches that each turn on one classic mistake in how the result is computed."""
    def evaluate(model, loader):
        if eval_mode:
            model.eval()
        correct = total = 0
        accuracies = []
        with torch.inference_mode(no_grad):
            for images, labels in loader:
                hits = (model(images).argmax(dim=1) == labels).sum().item()
                correct, total = correct + hits, total + len(labels)
                accuracies.append(hits / len(labels))
                if result == "inside the loop":
                    return correct / total
        return {"fraction": correct / total, "batch mean": sum(accuracies) / len(accuracies),
                "per batch count": correct / len(loader), "floor": correct // total, "percent": 100 * correct / total}[result]
    return evaluate


WRONG_ANSWERS: dict[tuple[str, str], object] = {
    ("check_make_features", "no padding"): features(padding=0),
    ("check_make_features", "channels not tracked"): features(track=False),
    ("check_make_features", "no batch norm"): features(batch_norm=False),
    ("check_make_features", "ReLU before batch norm"): features(relu_first=True),
    ("check_make_features", "batch norm sized by the input channels"): features(bn_channels="in"),
    ("check_make_features", "5x5 kernels"): features(kernel=5, padding=2),
    ("check_make_features", "pooling with stride 1"): features(pool_stride=1),
    ("check_make_features", "no return statement"): _no_return,

    ("check_flatten_size", "true division / (a float)"): flatten_true_division,
    ("check_flatten_size", "pooling ignored"): flatten_with(lambda config, size, side, channels: channels * size * size),
    ("check_flatten_size", "first conv's channels"): flatten_with(lambda config, size, side, channels: config[0] * side * side),
    ("check_flatten_size", "channels summed over convs"): flatten_with(
        lambda config, size, side, channels: sum(v for v in config if v != "M") * side * side),
    ("check_flatten_size", "channels forgotten"): flatten_with(lambda config, size, side, channels: side * side),
    ("check_flatten_size", "height only"): flatten_with(lambda config, size, side, channels: channels * side),
    ("check_flatten_size", "7 / 2 rounded up"): flatten_with(
        lambda config, size, side, channels: round(channels * (size / 2 ** config.count("M")) ** 2)),
    ("check_flatten_size", "no return statement"): _no_return,

    ("check_my_dropout", "kept units not rescaled"): dropout_with(scale="none"),
    ("check_my_dropout", "kept units multiplied by 1 - p"): dropout_with(scale="multiply"),
    ("check_my_dropout", "kept units divided by p"): dropout_with(scale="divide by p"),
    ("check_my_dropout", "active in eval mode"): dropout_with(in_eval="active"),
    ("check_my_dropout", "scaled in eval mode"): dropout_with(in_eval="scaled"),
    ("check_my_dropout", "p used as the keep probability"): dropout_with(keep=True),
    ("check_my_dropout", "one coin for the whole tensor"): dropout_with(lambda x: (1,)),
    ("check_my_dropout", "one coin per row"): dropout_with(lambda x: (x.shape[0], *[1] * (x.dim() - 1))),
    ("check_my_dropout", "one coin per feature (column)"): dropout_with(lambda x: x.shape[1:]),
    ("check_my_dropout", "one coin per feature map (channel)"): dropout_with(lambda x: (*x.shape[:2], *[1] * (x.dim() - 2))),
    ("check_my_dropout", "seeded inside the function"): dropout_with(seed=0),
    ("check_my_dropout", "modifies x in place"): dropout_with(in_place=True),
    ("check_my_dropout", "float32 mask turns float16 into float32"): dropout_with(lambda x: x.shape, float_mask=True),
    ("check_my_dropout", "no return statement"): _no_return,

    ("check_build_vgg", "Softmax layer at the end"): vgg_with(lambda: nn.Softmax(dim=1)),
    ("check_build_vgg", "LogSoftmax layer at the end"): vgg_with(lambda: nn.LogSoftmax(dim=1)),
    ("check_build_vgg", "softmax inside forward"): _SoftmaxInForward,
    ("check_build_vgg", "wrong flatten size (7 / 2 rounded up)"): vgg_with(side_fix=1),
    ("check_build_vgg", "no nn.Flatten"): vgg_with(flatten=False),
    ("check_build_vgg", "3 input channels for gray images"): vgg_with(in_channels=3),
    ("check_build_vgg", "no final layer to num_classes"): vgg_with(final=False),
    ("check_build_vgg", "ReLU after the last layer"): vgg_with(nn.ReLU),
    ("check_build_vgg", "dropout after the last layer"): vgg_with(lambda: nn.Dropout(0.3)),
    ("check_build_vgg", "no return statement"): _no_return,

    ("check_train_step", "no zero_grad"): step_with(zero_grad="never"),
    ("check_train_step", "softmax before the loss"): step_with(softmax=True),
    ("check_train_step", "no model.train()"): step_with(train=False),
    ("check_train_step", "zero_grad between backward and step"): step_with(zero_grad="between"),
    ("check_train_step", "no backward"): step_with(backward=False),
    ("check_train_step", "step before backward"): step_with(step_first=True),
    ("check_train_step", "returns the loss tensor"): step_with(item=False),
    ("check_train_step", "no return statement"): _no_return,

    ("check_evaluate_accuracy", "no model.eval()"): evaluate_with(eval_mode=False),
    ("check_evaluate_accuracy", "autograd on"): evaluate_with(no_grad=False),
    ("check_evaluate_accuracy", "mean of per-batch accuracies"): evaluate_with(result="batch mean"),
    ("check_evaluate_accuracy", "divides by the number of batches"): evaluate_with(result="per batch count"),
    ("check_evaluate_accuracy", "integer division //"): evaluate_with(result="floor"),
    ("check_evaluate_accuracy", "a percentage"): evaluate_with(result="percent"),
    ("check_evaluate_accuracy", "return inside the loop"): evaluate_with(result="inside the loop"),
    ("check_evaluate_accuracy", "no return statement"): _no_return,
}


# ---------------------------------------------------------------- tests
# the tests every lab's checks get (lab_test_kit.lab_tests), then this lab's own
globals().update(lab_tests(lab, CLASSIC_BUGS, RIGHT_ANSWERS, WRONG_ANSWERS, pass_line_names_the_check=True))


@pytest.mark.parametrize("seed", range(5))
def test_my_dropout_check_does_not_depend_on_the_global_seed(seed, capsys):
    seed_all(seed)  # the check seeds its own draws; a right answer passes whatever came before
    lab.check_my_dropout(my_dropout)
    assert "✅ my_dropout: all 6 cases passed" in capsys.readouterr().out
