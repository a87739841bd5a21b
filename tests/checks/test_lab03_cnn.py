"""Lab 03 checks (helpers/checks/lab03_cnn.py): right answers pass, every classic bug fails with its hint."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lab_test_kit import lab_tests, no_return as _no_return  # tests/checks/lab_test_kit.py
from helpers.checks import lab03_cnn as lab

# ---------------------------------------------------------------- the classic bugs of each exercise
# check -> {classic bug: fragment(s) its failure message or hint must contain}. Each bug has a wrong answer in
# WRONG_ANSWERS below; the tests at the bottom feed every one of them to its check.
CLASSIC_BUGS: dict[str, dict[str, str | list[str]]] = {
    "check_conv_output_shape": {
        "the input's channels": "out_channels (one feature map per kernel)",
        "padding left out": "left out the padding",
        "P instead of 2P": "2 * padding",
        "forgot the + 1": "forgot the + 1",
        "stride ignored": "ignored the stride",
        "rounds up": "round down",
        "true division / (a float)": ["float", "//"],
        "height and width swapped": "swapped",
        "no channels (only OH, OW)": "return the channels too",
        "no return statement": "return statement",
    },
    "check_conv_parameters": {
        "bias forgotten": "forgot the bias",
        "bias counted with bias=False": "bias=False means no bias",
        "in_channels forgotten": "ALL input channels",
        "kernel_size used once (k, not k x k)": "k x k",
        "one bias per input channel": "per OUTPUT channel",
        "one bias per weight": "not one per weight",
        "kernel_size ** 2.0 (a float)": ["float", "int"],
        "no return statement": "return statement",
    },
    "check_max_pool2d": {
        "average instead of max": "average pooling",
        "minimum instead of max": "minimum",
        "windows move by 1, not by the stride": ["shape 3x3, expected 2x2", "move by the stride"],
        "windows start at i, not i * stride": "i * 2",
        "partial windows kept (rounds up)": ["round down", "expected 3x3"],
        "maximum starts from 0": "starts from 0",
        "integer output array": "decimals",
        "window size taken from the stride": "only the step between windows",
        "no return statement": "return statement",
    },
    "check_conv_block": {
        "no super().__init__()": "super().__init__()",
        "layers in a Python list": ["Python list", "nn.ModuleList"],
        "conv created inside forward": "inside forward",
        "no padding": "padding=1",
        "no ReLU": "no ReLU",
        "no pooling": "MaxPool2d(2)",
        "pooling before the conv": "pool after the conv",
        "average pooling": "max pooling",
        "in_channels fixed to 3": "in_channels argument",
        "forward without return": "return statement",
        "forward under torch.no_grad()": "no gradient",
    },
    "check_collect_feature_maps": {
        "hooks never removed": ["still attached", "handle.remove()"],
        "stores the layer's input": "store the output",
        "no clone (overwritten by an in-place ReLU)": ["in-place ReLU", "clone()"],
        "name looked up late in the hook (closure)": ["only the last name", "name=name"],
        "no model.eval()": "model.eval()",
        "gradients recorded": ["requires_grad", "torch.no_grad()"],
        "forward pass never run": ["empty", "run the model"],
        "named_children for dotted names": "get_submodule",
        "no return statement": "return statement",
    },
    "check_receptive_field_sizes": {
        "jump ignored": "multiply by the jump",
        "jump updated before the field": "AFTER the field",
        "dilation ignored": "(k - 1) * d * j",
        "k instead of k - 1": "not k",
        "strides added": "j * stride, not j + stride",
        "jump replaced by the stride": "j = j * stride, not j = stride",
        "starts from r = 0": "r = 1",
        "only the last size": "list with one size per layer",
        "no return statement": "return statement",
    },
    "check_gap_head": {
        "flatten instead of GAP": "flatten head",
        "max instead of mean": "global MAX pooling",
        "sum instead of mean": "summed each map",
        "mean over the batch too": "do not average over the batch",
        "keepdim without flatten": ["dims 2 and 3", "flatten"],
        "softmax at the end": ["probabilities", "logits"],
        "Linear in a Python list": "Python list",
        "no return statement": "return statement",
    },
}


# ---------------------------------------------------------------- right answers (as a student would write them)
def conv_output_shape(input_shape, out_channels, kernel_size, stride=1, padding=0):
    _, h, w = input_shape
    return out_channels, (h + 2 * padding - kernel_size) // stride + 1, (w + 2 * padding - kernel_size) // stride + 1


def conv_parameters(in_channels, out_channels, kernel_size, bias=True):
    return out_channels * in_channels * kernel_size * kernel_size + (out_channels if bias else 0)


def max_pool2d(x, size=2, stride=2):
    rows, cols = (x.shape[0] - size) // stride + 1, (x.shape[1] - size) // stride + 1
    out = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            out[i, j] = x[i * stride:i * stride + size, j * stride:j * stride + size].max()
    return out


def max_pool2d_strided(x, size=2, stride=2):  # also right: NumPy's sliding windows
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size))[::stride, ::stride]
    return windows.max(axis=(2, 3))


class ConvBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(self.relu(self.conv(x)))


class ConvBlockSequential(nn.Module):  # also right: one nn.Sequential, ReLU after the pooling (they commute)
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                                    nn.MaxPool2d(kernel_size=2, stride=2), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.layers(x)


def collect_feature_maps(model, images, layer_names):
    maps, handles = {}, []
    for name in layer_names:
        def hook(module, inputs, output, name=name):
            maps[name] = output.detach().clone()
        handles.append(model.get_submodule(name).register_forward_hook(hook))
    model.eval()
    try:
        with torch.no_grad():
            model(images)
    finally:
        for handle in handles:
            handle.remove()
    return maps


def collect_feature_maps_inference_mode(model, images, layer_names):  # also right: inference_mode, a hook factory
    maps = {}

    def keep(name):
        return lambda module, inputs, output: maps.__setitem__(name, output.clone())

    handles = [model.get_submodule(name).register_forward_hook(keep(name)) for name in layer_names]
    model.eval()
    with torch.inference_mode():
        model(images)
    for handle in handles:
        handle.remove()
    return maps


def receptive_field_sizes(layers):
    r, j, sizes = 1, 1, []
    for k, s, d in layers:
        r += (k - 1) * d * j
        j *= s
        sizes.append(r)
    return sizes


class GAPHead(nn.Module):
    def __init__(self, channels, num_classes):
        super().__init__()
        self.linear = nn.Linear(channels, num_classes)

    def forward(self, maps):
        return self.linear(maps.mean(dim=(2, 3)))


class GAPHeadLayers(nn.Module):  # also right: AdaptiveAvgPool2d(1) + Flatten
    def __init__(self, channels, num_classes):
        super().__init__()
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))

    def forward(self, maps):
        return self.head(maps)


RIGHT_ANSWERS: dict[str, list] = {
    "check_conv_output_shape": [conv_output_shape,
                                lambda shape, c, k, stride=1, padding=0: torch.Size([c, *((n + 2 * padding - k) // stride + 1 for n in shape[1:])])],
    "check_conv_parameters": [conv_parameters,
                              lambda c_in, c_out, k, bias=True: sum(p.numel() for p in nn.Conv2d(c_in, c_out, k, bias=bias).parameters())],
    "check_max_pool2d": [max_pool2d, max_pool2d_strided],
    "check_conv_block": [ConvBlock, ConvBlockSequential],
    "check_collect_feature_maps": [collect_feature_maps, collect_feature_maps_inference_mode],
    "check_receptive_field_sizes": [receptive_field_sizes],
    "check_gap_head": [GAPHead, GAPHeadLayers],
}


# ---------------------------------------------------------------- one wrong answer per classic bug
def shape_with(*, channels="out", pad=2, plus=1, stride=True, rounding=math.floor, swap=False, division="floor", only_hw=False):
    """conv_output_shape with switches that each turn on one classic mistake."""
    def shape(input_shape, out_channels, kernel_size, stride_=1, padding=0, **kwargs):
        stride_value = kwargs.get("stride", stride_)
        c, h, w = input_shape
        s = stride_value if stride else 1

        def side(n):
            value = (n + pad * padding - kernel_size) / s
            return (value + plus) if division == "true" else rounding(value) + plus
        sides = (side(w), side(h)) if swap else (side(h), side(w))
        return sides if only_hw else (out_channels if channels == "out" else c, *sides)
    return lambda input_shape, out_channels, kernel_size, stride=1, padding=0: shape(
        input_shape, out_channels, kernel_size, padding=padding, stride=stride)


def params_with(formula):
    return lambda c_in, c_out, k, bias=True: formula(c_in, c_out, k, bias)


def pool_with(*, reduce=np.max, step="stride", rows="floor", start=None, dtype=float, window="size"):
    """max_pool2d with switches that each turn on one classic mistake."""
    def pool(x, size=2, stride=2):
        w = stride if window == "stride" else size
        count = {"floor": lambda n: (n - size) // stride + 1, "ceil": lambda n: math.ceil((n - size) / stride) + 1,
                 "one": lambda n: n - size + 1}[rows]
        r, c = count(x.shape[0]), count(x.shape[1])
        move = 1 if step == "one" else stride
        out = np.zeros((r, c), dtype=dtype)
        for i in range(r):
            for j in range(c):
                win = x[i * move:i * move + w, j * move:j * move + w]
                if start is not None:
                    best = start
                    for v in win.ravel():
                        best = max(best, v)
                    out[i, j] = best
                else:
                    out[i, j] = reduce(win)
        return out
    return pool


class NoSuper(nn.Module):
    def __init__(self, in_channels, out_channels):
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x):
        return F.max_pool2d(F.relu(self.conv(x)), 2)


class InAList(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.layers = [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class ConvInForward(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels

    def forward(self, x):
        conv = nn.Conv2d(self.in_channels, self.out_channels, 3, padding=1)
        return F.max_pool2d(F.relu(conv(x)), 2)


def block_with(*, padding=1, relu=True, pool="max", pool_first=False, fixed_in=None, returns=True, no_grad=False):
    """ConvBlock with switches that each turn on one classic mistake."""
    class Block(nn.Module):
        def __init__(self, in_channels, out_channels):
            super().__init__()
            self.conv = nn.Conv2d(fixed_in or in_channels, out_channels, 3, padding=padding)

        def forward(self, x):
            with torch.set_grad_enabled(not no_grad):
                if pool_first:
                    x = F.max_pool2d(x, 2)
                y = self.conv(x)
                y = F.relu(y) if relu else y
                if not pool_first:
                    y = {"max": F.max_pool2d, "avg": F.avg_pool2d, None: lambda t, k: t}[pool](y, 2)
            if returns:
                return y
    return Block


def hooks_with(*, remove=True, store="output", clone=True, late_name=False, eval_mode=True, no_grad=True, run=True,
               lookup="get_submodule"):
    """collect_feature_maps with switches that each turn on one classic mistake."""
    def collect(model, images, layer_names):
        maps, handles = {}, []
        for name in layer_names:
            layer = model.get_submodule(name) if lookup == "get_submodule" else dict(model.named_children())[name]

            def hook(module, inputs, output, bound=name):
                key = name if late_name else bound
                value = inputs[0] if store == "input" else output
                value = value.detach() if no_grad else value
                maps[key] = value.clone() if clone else value
            handles.append(layer.register_forward_hook(hook))
        if eval_mode:
            model.eval()
        if run:
            with torch.set_grad_enabled(not no_grad):
                model(images)
        if remove:
            for handle in handles:
                handle.remove()
        return maps
    return collect


def rf_with(**switches):
    return lambda layers: lab._rf_variant(layers, **switches)


class FlattenHead(nn.Module):
    def __init__(self, channels, num_classes):
        super().__init__()
        self.linear = nn.Linear(channels * 7 * 7, num_classes)

    def forward(self, maps):
        return self.linear(maps.flatten(1))


def head_with(pooling, *, softmax=False, returns=True):
    """GAPHead whose pooling step is ``pooling(maps)``; optionally a softmax at the end or no return."""
    class Head(nn.Module):
        def __init__(self, channels, num_classes):
            super().__init__()
            self.linear = nn.Linear(channels, num_classes)

        def forward(self, maps):
            out = self.linear(pooling(maps))
            out = out.softmax(dim=-1) if softmax else out
            if returns:
                return out
    return Head


class HeadInAList(nn.Module):
    def __init__(self, channels, num_classes):
        super().__init__()
        self.parts = [nn.Linear(channels, num_classes)]

    def forward(self, maps):
        return self.parts[0](maps.mean(dim=(2, 3)))


WRONG_ANSWERS: dict[tuple[str, str], object] = {
    ("check_conv_output_shape", "the input's channels"): shape_with(channels="in"),
    ("check_conv_output_shape", "padding left out"): shape_with(pad=0),
    ("check_conv_output_shape", "P instead of 2P"): shape_with(pad=1),
    ("check_conv_output_shape", "forgot the + 1"): shape_with(plus=0),
    ("check_conv_output_shape", "stride ignored"): shape_with(stride=False),
    ("check_conv_output_shape", "rounds up"): shape_with(rounding=math.ceil),
    ("check_conv_output_shape", "true division / (a float)"): shape_with(division="true"),
    ("check_conv_output_shape", "height and width swapped"): shape_with(swap=True),
    ("check_conv_output_shape", "no channels (only OH, OW)"): shape_with(only_hw=True),
    ("check_conv_output_shape", "no return statement"): _no_return,

    ("check_conv_parameters", "bias forgotten"): params_with(lambda i, o, k, b: o * i * k * k),
    ("check_conv_parameters", "bias counted with bias=False"): params_with(lambda i, o, k, b: o * i * k * k + o),
    ("check_conv_parameters", "in_channels forgotten"): params_with(lambda i, o, k, b: o * k * k + (o if b else 0)),
    ("check_conv_parameters", "kernel_size used once (k, not k x k)"): params_with(lambda i, o, k, b: o * i * k + (o if b else 0)),
    ("check_conv_parameters", "one bias per input channel"): params_with(lambda i, o, k, b: o * i * k * k + (i if b else 0)),
    ("check_conv_parameters", "one bias per weight"): params_with(lambda i, o, k, b: o * i * k * k * (2 if b else 1)),
    ("check_conv_parameters", "kernel_size ** 2.0 (a float)"): params_with(lambda i, o, k, b: o * i * k ** 2.0 + (o if b else 0)),
    ("check_conv_parameters", "no return statement"): _no_return,

    ("check_max_pool2d", "average instead of max"): pool_with(reduce=np.mean),
    ("check_max_pool2d", "minimum instead of max"): pool_with(reduce=np.min),
    ("check_max_pool2d", "windows move by 1, not by the stride"): pool_with(rows="one", step="one"),
    ("check_max_pool2d", "windows start at i, not i * stride"): pool_with(step="one"),
    ("check_max_pool2d", "partial windows kept (rounds up)"): pool_with(rows="ceil"),
    ("check_max_pool2d", "maximum starts from 0"): pool_with(start=0.0),
    ("check_max_pool2d", "integer output array"): pool_with(dtype=int),
    ("check_max_pool2d", "window size taken from the stride"): pool_with(window="stride"),
    ("check_max_pool2d", "no return statement"): _no_return,

    ("check_conv_block", "no super().__init__()"): NoSuper,
    ("check_conv_block", "layers in a Python list"): InAList,
    ("check_conv_block", "conv created inside forward"): ConvInForward,
    ("check_conv_block", "no padding"): block_with(padding=0),
    ("check_conv_block", "no ReLU"): block_with(relu=False),
    ("check_conv_block", "no pooling"): block_with(pool=None),
    ("check_conv_block", "pooling before the conv"): block_with(pool_first=True),
    ("check_conv_block", "average pooling"): block_with(pool="avg"),
    ("check_conv_block", "in_channels fixed to 3"): block_with(fixed_in=3),
    ("check_conv_block", "forward without return"): block_with(returns=False),
    ("check_conv_block", "forward under torch.no_grad()"): block_with(no_grad=True),

    ("check_collect_feature_maps", "hooks never removed"): hooks_with(remove=False),
    ("check_collect_feature_maps", "stores the layer's input"): hooks_with(store="input"),
    ("check_collect_feature_maps", "no clone (overwritten by an in-place ReLU)"): hooks_with(clone=False),
    ("check_collect_feature_maps", "name looked up late in the hook (closure)"): hooks_with(late_name=True),
    ("check_collect_feature_maps", "no model.eval()"): hooks_with(eval_mode=False),
    ("check_collect_feature_maps", "gradients recorded"): hooks_with(no_grad=False),
    ("check_collect_feature_maps", "forward pass never run"): hooks_with(run=False),
    ("check_collect_feature_maps", "named_children for dotted names"): hooks_with(lookup="named_children"),
    ("check_collect_feature_maps", "no return statement"): _no_return,

    ("check_receptive_field_sizes", "jump ignored"): rf_with(jump="ignore"),
    ("check_receptive_field_sizes", "jump updated before the field"): rf_with(early=True),
    ("check_receptive_field_sizes", "dilation ignored"): rf_with(dilation=False),
    ("check_receptive_field_sizes", "k instead of k - 1"): rf_with(minus_one=False),
    ("check_receptive_field_sizes", "strides added"): rf_with(jump="add"),
    ("check_receptive_field_sizes", "jump replaced by the stride"): rf_with(jump="replace"),
    ("check_receptive_field_sizes", "starts from r = 0"): rf_with(start=0),
    ("check_receptive_field_sizes", "only the last size"): lambda layers: receptive_field_sizes(layers)[-1],
    ("check_receptive_field_sizes", "no return statement"): _no_return,

    ("check_gap_head", "flatten instead of GAP"): FlattenHead,
    ("check_gap_head", "max instead of mean"): head_with(lambda m: m.amax(dim=(2, 3))),
    ("check_gap_head", "sum instead of mean"): head_with(lambda m: m.sum(dim=(2, 3))),
    ("check_gap_head", "mean over the batch too"): head_with(lambda m: m.mean(dim=(0, 2, 3))),
    ("check_gap_head", "keepdim without flatten"): head_with(lambda m: m.mean(dim=(2, 3), keepdim=True)),
    ("check_gap_head", "softmax at the end"): head_with(lambda m: m.mean(dim=(2, 3)), softmax=True),
    ("check_gap_head", "Linear in a Python list"): HeadInAList,
    ("check_gap_head", "no return statement"): head_with(lambda m: m.mean(dim=(2, 3)), returns=False),
}


# ---------------------------------------------------------------- tests
# the tests every lab's checks get (lab_test_kit.lab_tests), then this lab's own
globals().update(lab_tests(lab, CLASSIC_BUGS, RIGHT_ANSWERS, WRONG_ANSWERS, class_checks=("check_conv_block", "check_gap_head")))


def test_pass_lines_name_the_students_code(capsys):
    lab.check_conv_block(ConvBlock)
    lab.check_receptive_field_sizes(receptive_field_sizes)
    assert capsys.readouterr().out.splitlines() == ["✅ ConvBlock: all 3 cases passed",
                                                    "✅ receptive_field_sizes: all 6 cases passed"]


def test_hook_check_leaves_no_hook_behind_on_its_own_models(capsys):
    lab.check_collect_feature_maps(collect_feature_maps)
    for make in (lab._hook_model, lab._nested_model):
        assert all(not m._forward_hooks and not m._forward_pre_hooks for m in make().modules())


def test_a_class_instance_instead_of_the_class_is_named(fails_with):
    fails_with(lab.check_conv_block, ConvBlock(3, 8), words="pass the class itself")
