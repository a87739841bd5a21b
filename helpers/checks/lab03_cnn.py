"""Checks for lab 03, the building blocks of a CNN (``solutions/03_cnn_lab.ipynb``).

Each check runs the student's code on small cases and compares with PyTorch (``nn.Conv2d``, ``F.max_pool2d``) or
``helpers.receptive_field``. When an answer is wrong it tries the classic mistakes of that exercise (the input's
channels instead of the kernels, a forgotten bias, a window that does not move by the stride, a hook that is never
removed or that stores a tensor an in-place ReLU later overwrites, the jump of the receptive field updated too
early, a mean over the wrong axes) and names the one that reproduces the student's numbers.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks.core import (CheckFailed, call_student, construct_student, expect_array, expect_close, expect_equal,
                                 expect_int, expect_logits, expect_module, expect_shape, expect_tensor, expect_true,
                                 name_the_mistake, return_hint, run_cases, same_numbers, shape_text)
from helpers.receptive_field import receptive_fields

__all__ = [
    "check_conv_output_shape",
    "check_conv_parameters",
    "check_max_pool2d",
    "check_conv_block",
    "check_collect_feature_maps",
    "check_receptive_field_sizes",
    "check_gap_head",
]


# ---------------------------------------------------------------- 1. output shape of a conv layer
def _torch_conv_shape(shape: tuple[int, int, int], out_channels: int, kernel: int, stride: int, padding: int) -> tuple[int, ...]:
    """What nn.Conv2d really outputs for one image of ``shape`` (C, H, W)."""
    conv = nn.Conv2d(shape[0], out_channels, kernel, stride=stride, padding=padding, bias=False)
    with torch.no_grad():
        return tuple(conv(torch.zeros(1, *shape)).shape[1:])


def _as_int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if isinstance(value, (torch.Size, tuple, list)):
        return tuple(expect_int(v, f"{what}[{i}]") for i, v in enumerate(value))
    raise CheckFailed(f"{what} is {type(value).__name__}, expected a tuple (channels, height, width)",
                      return_hint(value, "return a tuple of three ints: (out_channels, OH, OW)."))


def check_conv_output_shape(conv_output_shape: Callable[..., Any]) -> None:
    """Check ``conv_output_shape(input_shape, out_channels, kernel_size, stride=1, padding=0)`` -> (C_out, OH, OW)."""

    def case(shape: tuple[int, int, int], c_out: int, k: int, s: int, p: int) -> Callable[[], None]:
        def run() -> None:
            c_in, h, w = shape
            text = f"conv_output_shape({shape}, out_channels={c_out}, kernel_size={k}, stride={s}, padding={p})"
            got = _as_int_tuple(call_student(conv_output_shape, shape, c_out, k, stride=s, padding=p), text)
            expected = _torch_conv_shape(shape, c_out, k, s, p)
            if got == expected:
                return
            if len(got) != 3:
                hint = ("return the channels too: (out_channels, OH, OW)." if len(got) == 2 else
                        "return three numbers: (out_channels, OH, OW) for one image (no batch dimension).")
                raise CheckFailed(f"{text} is {got}, expected {expected}", hint)

            def size(n: int, pad: int = p, stride: int = s, plus: int = 1, rounding: Callable = math.floor) -> int:
                return rounding((n + pad - k) / stride) + plus

            hint = name_the_mistake(got, [
                ((c_in, expected[1], expected[2]), "the channels of the output are out_channels (one feature map per kernel), "
                                                   "not the input's channels."),
                ((c_out, size(h, 0), size(w, 0)), "you left out the padding: the padded size is H + 2 * padding."),
                ((c_out, size(h, p), size(w, p)), "padding goes on both sides: use 2 * padding, not padding."),
                ((c_out, size(h, 2 * p, plus=0), size(w, 2 * p, plus=0)),
                 "you forgot the + 1: the first kernel position counts too."),
                ((c_out, size(h, 2 * p, 1), size(w, 2 * p, 1)), "you ignored the stride: divide (H + 2P - K) by the stride."),
                ((c_out, size(h, 2 * p, rounding=math.ceil), size(w, 2 * p, rounding=math.ceil)),
                 "round down (//): an incomplete last step of the kernel does not count."),
                ((c_out, expected[2], expected[1]), "height and width are swapped: input_shape is (C, H, W)."),
            ], atol=0)
            raise CheckFailed(f"{text} is {got}, expected {expected}",
                              hint or "OH = (H + 2P - K) // S + 1, the same for OW; the channels are out_channels.")
        return run

    run_cases("conv_output_shape", {
        "5x5, padding 2 keeps 32x32": case((3, 32, 32), 8, 5, 1, 2),
        "3x3, padding 1 keeps 28x28": case((1, 28, 28), 16, 3, 1, 1),
        "5x5, no padding": case((3, 32, 32), 8, 5, 1, 0),
        "ResNet's first layer: 7x7, stride 2, padding 3": case((3, 224, 224), 64, 7, 2, 3),
        "not square, stride 2": case((16, 14, 10), 32, 3, 2, 1),
        "stride 2 that does not divide evenly (rounds down)": case((1, 8, 10), 4, 3, 2, 0),
    })


# ---------------------------------------------------------------- 2. parameters of a conv layer
def check_conv_parameters(conv_parameters: Callable[..., Any]) -> None:
    """Check ``conv_parameters(in_channels, out_channels, kernel_size, bias=True)`` -> the number of parameters (int)."""

    def case(c_in: int, c_out: int, k: int, bias: bool) -> Callable[[], None]:
        def run() -> None:
            text = f"conv_parameters({c_in}, {c_out}, kernel_size={k}, bias={bias})"
            got = expect_int(call_student(conv_parameters, c_in, c_out, k, bias=bias), text,
                             "count with whole numbers (k * k, not k ** 2.0 or a division): the result is an int.")
            expected = sum(p.numel() for p in nn.Conv2d(c_in, c_out, k, bias=bias).parameters())
            if got == expected:
                return
            weights = c_out * c_in * k * k
            hint = name_the_mistake(got, [
                (weights, "you forgot the bias: with bias=True each kernel (output channel) adds one bias."),
                (weights + c_out, "bias=False means no bias at all: count only the weights."),
                (c_out * k * k + (c_out if bias else 0),
                 "each kernel covers ALL input channels: it has in_channels x k x k weights."),
                (c_out * c_in * k + (c_out if bias else 0), "a kernel is k x k: multiply by kernel_size twice."),
                (weights + c_in, "one bias per OUTPUT channel (per kernel), not per input channel."),
                (2 * weights, "one bias per kernel, not one per weight."),
                (c_in * k * k + (c_out if bias else 0), "there is one kernel per output channel: multiply by out_channels."),
            ], atol=0)
            raise CheckFailed(f"{text} is {got}, expected {expected}",
                              hint or "weights: out_channels x in_channels x k x k; bias: out_channels (if bias=True).")
        return run

    run_cases("conv_parameters", {
        "conv1 of lesson 03 (1 -> 16, 3x3)": case(1, 16, 3, True),
        "16 -> 32, 3x3": case(16, 32, 3, True),
        "ResNet's first layer without bias (3 -> 64, 7x7)": case(3, 64, 7, False),
        "1x1 conv, 64 -> 128": case(64, 128, 1, True),
        "5x5 without bias (a conv before batch norm)": case(32, 32, 5, False),
    })


# ---------------------------------------------------------------- 3. max pooling by hand
def _pool_reference(x: np.ndarray, size: int, stride: int, reduce: str = "max") -> np.ndarray:
    t = torch.from_numpy(np.asarray(x, dtype=np.float64))[None, None]
    out = F.max_pool2d(t, size, stride) if reduce == "max" else F.avg_pool2d(t, size, stride)
    return out[0, 0].numpy()


def _pool_loop(x: np.ndarray, size: int, stride: int, *, step: int | None = None, rows: int | None = None,
               cols: int | None = None, reduce: Callable = np.max, start: float | None = None) -> np.ndarray:
    """A windowed reduction with knobs for the classic mistakes (windows moved by ``step``, a partial last window)."""
    step = stride if step is None else step
    rows = (x.shape[0] - size) // stride + 1 if rows is None else rows
    cols = (x.shape[1] - size) // stride + 1 if cols is None else cols
    out = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            window = x[i * step:i * step + size, j * step:j * step + size]
            out[i, j] = reduce(window) if start is None else max(start, float(window.max()))
    return out


def _lab_maps() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "4x4": np.array([[1, 3, 2, 0], [4, 6, 1, 1], [0, 2, 8, 5], [1, 1, 7, 4]], dtype=np.float64),
        "7x7": rng.normal(size=(7, 7)).round(2),
        "6x9": rng.normal(size=(6, 9)).round(2),
        "negative": -rng.uniform(0.5, 2.0, size=(4, 6)).round(2),
        "6x6": rng.normal(size=(6, 6)).round(2),
    }


def check_max_pool2d(max_pool2d: Callable[..., Any]) -> None:
    """Check ``max_pool2d(x, size=2, stride=2)`` on a 2-D NumPy array: the maximum of each size x size window, windows
    ``stride`` apart, an incomplete window at the border dropped (as PyTorch does)."""
    maps = _lab_maps()

    def case(name: str, size: int, stride: int) -> Callable[[], None]:
        def run() -> None:
            x = maps[name]
            expected = _pool_reference(x, size, stride)
            got = expect_array(call_student(max_pool2d, x.copy(), size=size, stride=stride),
                               f"max_pool2d(a {shape_text(x.shape)} map, size={size}, stride={stride})")
            if got.shape != expected.shape:
                h, w = x.shape
                one_step = ((h - size) + 1, (w - size) + 1)
                ceil = (math.ceil((h - size) / stride) + 1, math.ceil((w - size) / stride) + 1)
                if got.shape == one_step and stride > 1:
                    hint = f"the windows must move by the stride ({stride}), not by 1: there are (H - size) // stride + 1 of them."
                elif got.shape == ceil:
                    hint = ("round down: an incomplete window at the border is dropped (H = 7, size 2 gives 3, not 4), "
                            "as in nn.MaxPool2d.")
                elif got.shape == expected.shape[::-1]:
                    hint = "rows and columns are swapped: the output has (H - size) // stride + 1 rows."
                else:
                    hint = f"the output has (H - size) // stride + 1 rows and (W - size) // stride + 1 columns: {shape_text(expected.shape)}."
                expect_shape(got, expected.shape, "the pooled map", hint)
            if same_numbers(got, expected):
                return
            hint = name_the_mistake(got, [
                (_pool_reference(x, size, stride, "avg"), "that is average pooling: take the maximum of each window (window.max())."),
                (_pool_loop(x, size, stride, reduce=np.min), "that is the minimum: take the maximum of each window."),
                (_pool_loop(x, size, stride, step=1), f"the output size is right but the windows do not move by the stride: "
                                                      f"start window (i, j) at row i * {stride}, column j * {stride}."),
                (_pool_loop(x, size, stride, start=0.0), "your maximum starts from 0, so a window of negative values gives 0: "
                                                          "start from the window's first value, or use window.max()."),
                (_pool_loop(x, stride, stride, rows=expected.shape[0], cols=expected.shape[1]),
                 f"the window is size x size ({size}x{size}); the stride ({stride}) is only the step between windows."),
            ])
            if hint is None and np.array_equal(got, np.trunc(got)) and not np.array_equal(expected, np.trunc(expected)):
                hint = "your values lost their decimals: create the output as floats (np.zeros((OH, OW)), not dtype=int)."
            expect_close(got, expected, "the pooled map", atol=1e-6,
                         hint=hint or "out[i, j] = x[i*stride : i*stride + size, j*stride : j*stride + size].max().")
        return run

    run_cases("max_pool2d", {
        "4x4, 2x2 windows, stride 2": case("4x4", 2, 2),
        "odd size 7x7 (last row and column dropped)": case("7x7", 2, 2),
        "not square, 6x9": case("6x9", 2, 2),
        "only negative values": case("negative", 2, 2),
        "overlapping 3x3 windows, stride 2 (AlexNet)": case("7x7", 3, 2),
        "stride 1": case("6x6", 2, 1),
    })


# ---------------------------------------------------------------- 4. a conv block as an nn.Module
def _construct(cls: Any, *args: Any, what: str) -> nn.Module:
    """Build the student's module; a missing super().__init__() gets its own hint."""
    module = construct_student(cls, *args, what=what,
                               hint="pass the class itself: check(ConvBlock), not check(ConvBlock(3, 8)).")
    return expect_module(module, what, "the class must subclass nn.Module: class ConvBlock(nn.Module): ...")


def _hidden_in_lists(module: nn.Module) -> bool:
    """True when layers sit in a plain Python list or dict attribute, where PyTorch cannot see them."""
    for value in vars(module).values():
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else []
        if any(isinstance(item, nn.Module) for item in items):
            return True
    return False


def _no_layers_hint(module: nn.Module) -> str:
    if _hidden_in_lists(module):
        return ("your layers are in a plain Python list: PyTorch cannot see them (no parameters to train, .to(device) "
                "skips them). Use nn.Sequential(...) or nn.ModuleList([...]), or assign each layer to self.")
    return ("create the layers in __init__ and assign them to self (self.conv = nn.Conv2d(...)); a layer created inside "
            "forward gets new random weights at every call and is never trained.")


def check_conv_block(ConvBlock: type) -> None:  # noqa: N803 (the student's class)
    """Check ``ConvBlock(in_channels, out_channels)``: Conv2d 3x3 (padding 1) -> ReLU -> MaxPool2d(2), as an nn.Module."""

    def case(c_in: int, c_out: int, h: int, w: int) -> Callable[[], None]:
        def run() -> None:
            torch.manual_seed(0)
            block = _construct(ConvBlock, c_in, c_out, what=f"ConvBlock({c_in}, {c_out})")
            convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
            if not convs:
                raise CheckFailed(f"ConvBlock({c_in}, {c_out}) has no registered nn.Conv2d "
                                  f"(it has {sum(p.numel() for p in block.parameters())} parameters)", _no_layers_hint(block))
            expect_equal(len(convs), 1, "the number of Conv2d layers in the block", "one conv per block: conv -> ReLU -> pool.")
            conv = convs[0]
            expect_equal(conv.in_channels, c_in, "the conv's in_channels",
                         "use the in_channels argument (not a fixed number): the block must work for any input.")
            expect_equal(conv.out_channels, c_out, "the conv's out_channels", "use the out_channels argument.")
            expect_equal(conv.kernel_size, (3, 3), "the conv's kernel_size", "the block uses 3x3 kernels: kernel_size=3.")
            x = torch.randn(2, c_in, h, w)
            out = expect_tensor(call_student(block, x), f"ConvBlock({c_in}, {c_out})(x)",
                                "forward must return the result: return self.pool(self.relu(self.conv(x))).")
            expected_shape = (2, c_out, h // 2, w // 2)
            if tuple(out.shape) != expected_shape:
                if tuple(out.shape) == (2, c_out, h, w):
                    hint = "the height and width did not shrink: add nn.MaxPool2d(2) after the ReLU."
                elif tuple(out.shape) == (2, c_out, (h - 2) // 2, (w - 2) // 2):
                    hint = "padding=1 keeps the size through a 3x3 conv; without it the maps lose 2 pixels."
                else:
                    hint = f"conv (3x3, padding 1) keeps {h}x{w}, pooling halves it (rounding down): {h // 2}x{w // 2}."
                expect_shape(out, expected_shape, f"the output for a {shape_text(x.shape)} input", hint)
            with torch.no_grad():
                convolved = conv(x)
                expected = F.max_pool2d(F.relu(convolved), 2)
            got = out.detach()
            if same_numbers(got, expected):
                grad_ok = True
                try:
                    out.sum().backward()
                    grad_ok = conv.weight.grad is not None and bool(conv.weight.grad.abs().sum() > 0)
                except RuntimeError:
                    grad_ok = False
                expect_true(grad_ok, "no gradient reaches the conv's weights",
                            "do not use torch.no_grad() or .detach() inside forward: training needs the gradients.")
                return
            hint = name_the_mistake(got, [
                (F.max_pool2d(convolved, 2), "there is no ReLU: conv -> ReLU -> pool (the output has negative values)."),
                (lambda: conv(F.max_pool2d(x, 2)).relu(), "pool after the conv, not before: conv -> ReLU -> pool."),
                (F.avg_pool2d(F.relu(convolved), 2), "use max pooling (nn.MaxPool2d(2)), not average pooling."),
            ])
            expect_close(got, expected, "the output", atol=1e-5,
                         hint=hint or "forward: x -> self.conv -> ReLU -> MaxPool2d(2), using the layers made in __init__.")
        return run

    run_cases("ConvBlock", {
        "RGB input, 3 -> 8 maps, 12x10": case(3, 8, 12, 10),
        "gray 28x28, 1 -> 4 maps": case(1, 4, 28, 28),
        "odd size 7x7 (pooled to 3x3)": case(16, 32, 7, 7),
    })


# ---------------------------------------------------------------- 5. a forward hook that collects feature maps
def _hook_model() -> nn.Module:
    """conv1 is followed by an in-place ReLU, so a stored conv1 output that was not cloned gets overwritten."""
    torch.manual_seed(1)
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 4, 3, padding=1)), ("relu1", nn.ReLU(inplace=True)), ("pool1", nn.MaxPool2d(2)),
        ("drop", nn.Dropout(0.5)), ("conv2", nn.Conv2d(4, 6, 3, padding=1)), ("relu2", nn.ReLU()),
        ("flatten", nn.Flatten()), ("fc", nn.Linear(6 * 4 * 4, 3)),
    ]))


def _nested_model() -> nn.Module:
    torch.manual_seed(2)
    return nn.Sequential(OrderedDict([
        ("features", nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))),
        ("classifier", nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2))),
    ]))


def _true_outputs(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every submodule's output in eval mode, computed with our own (removed) hooks and clones."""
    outputs: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda _m, _i, o, name=name: outputs.__setitem__(name, o.detach().clone()))
               for name, m in model.named_modules() if name]
    inputs: dict[str, torch.Tensor] = {}
    handles += [m.register_forward_pre_hook(lambda _m, i, name=name: inputs.__setitem__(name, i[0].detach().clone()))
                for name, m in model.named_modules() if name]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(images)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    outputs.update({f"{name} (input)": value for name, value in inputs.items()})
    return outputs


def _leftover_hooks(model: nn.Module) -> list[str]:
    return [name or "the model" for name, m in model.named_modules() if m._forward_hooks]


def check_collect_feature_maps(collect_feature_maps: Callable[..., Any]) -> None:
    """Check ``collect_feature_maps(model, images, layer_names)`` -> {name: that layer's output}: forward hooks, the model
    in eval mode without gradients, outputs cloned, every hook removed afterwards."""

    def case(make_model: Callable[[], nn.Module], names: list[str]) -> Callable[[], None]:
        def run() -> None:
            model = make_model().train()  # as after training: the function must switch to eval mode itself
            images = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(4))
            truth = _true_outputs(model, images)
            try:
                result = call_student(collect_feature_maps, model, images.clone(), list(names))
            except CheckFailed as err:
                if isinstance(err.__cause__, (KeyError, AttributeError)) and any("." in n for n in names):
                    raise CheckFailed(f"{err.message}",
                                      "find a layer by its dotted name with model.get_submodule(name) (e.g. "
                                      "'features.0'); dict(model.named_children()) only knows the top level.") from err.__cause__
                raise
            leftovers = _leftover_hooks(model)
            expect_true(not leftovers, f"hooks are still attached after the call (on {', '.join(leftovers)})",
                        "keep the handle of every hook (handle = layer.register_forward_hook(...)) and call "
                        "handle.remove() after the forward pass (in a finally block), or every later forward runs them again.")
            if not isinstance(result, dict):
                raise CheckFailed(f"the result is {type(result).__name__}, expected a dict {{layer name: feature maps}}",
                                  return_hint(result, "return the dict your hooks filled in."))
            if not result:
                raise CheckFailed("the dict is empty", "run the model once on the images (model(images)) so the hooks fire.")
            if set(result) != set(names):
                if len(result) == 1 and next(iter(result)) == names[-1]:
                    hint = ("only the last name got an output: the hook function reads `name` when it RUNS, after the loop "
                            "has finished. Bind it when you create the hook: lambda module, inputs, output, name=name: ...")
                else:
                    hint = "use the layer names you were given as the keys of the dict."
                raise CheckFailed(f"the dict has the keys {sorted(result)}, expected {sorted(names)}", hint)
            for name in names:
                got = expect_tensor(result[name], f"result[{name!r}]", "store the hook's output tensor.")
                expect_true(not got.requires_grad, f"result[{name!r}] still records gradients (requires_grad=True)",
                            "run the forward pass inside torch.no_grad() (or torch.inference_mode()), or store "
                            "output.detach(): the stored maps would otherwise keep the whole graph in memory.")
                want = truth[name]
                if same_numbers(got, want, atol=1e-5):
                    continue
                hint = name_the_mistake(got, [
                    (truth.get(f"{name} (input)"), "that is the layer's input: a forward hook gets (module, inputs, output); "
                                                   "store the output."),
                    (want.clamp(min=0) if name == "conv1" else None,
                     "the stored conv1 maps have no negative values: the in-place ReLU after conv1 overwrote the tensor you "
                     "kept. Store output.detach().clone()."),
                ], atol=1e-5)
                if hint is None:
                    hint = ("these are not the eval-mode outputs: call model.eval() before the forward pass (dropout and batch "
                            "norm behave differently while training).")
                expect_close(got, want, f"result[{name!r}]", atol=1e-5, hint=hint)
        return run

    run_cases("collect_feature_maps", {
        "three layers of a small CNN": case(_hook_model, ["conv1", "pool1", "conv2"]),
        "one layer": case(_hook_model, ["relu2"]),
        "nested names (features.0)": case(_nested_model, ["features.0", "features"]),
    })


# ---------------------------------------------------------------- 6. the receptive-field recurrence
def _rf_reference(layers: Sequence[tuple[int, int, int]]) -> list[int]:
    return [f.size for f in receptive_fields([(k, s, 0, d) for k, s, d in layers])]


def _rf_variant(layers: Sequence[tuple[int, int, int]], *, jump: str = "multiply", early: bool = False,
                dilation: bool = True, minus_one: bool = True, start: int = 1) -> list[int]:
    r, j, sizes = start, 1, []
    for k, s, d in layers:
        if early:
            j = j * s
        r += ((k - 1) if minus_one else k) * (d if dilation else 1) * (1 if jump == "ignore" else j)
        if not early:
            j = j * s if jump in ("multiply", "ignore") else (j + s if jump == "add" else s)
        sizes.append(r)
    return sizes


def check_receptive_field_sizes(receptive_field_sizes: Callable[..., Any]) -> None:
    """Check ``receptive_field_sizes(layers)``: layers are (kernel, stride, dilation) tuples; the result lists the
    receptive field (in input pixels) after each layer, from r = 1, j = 1: r += (k - 1) * d * j, then j *= s."""

    def case(layers: list[tuple[int, int, int]]) -> Callable[[], None]:
        def run() -> None:
            text = f"receptive_field_sizes({layers})"
            result = call_student(receptive_field_sizes, [tuple(layer) for layer in layers])
            expected = _rf_reference(layers)
            if isinstance(result, (int, np.integer)) and not isinstance(result, bool):
                raise CheckFailed(f"{text} is the single number {result}",
                                  "return a list with one size per layer (append r after each layer), not only the last one.")
            if not isinstance(result, (list, tuple, np.ndarray, torch.Tensor)):
                raise CheckFailed(f"{text} is {type(result).__name__}, expected a list of ints",
                                  return_hint(result, "return a list of ints, one receptive field size per layer."))
            got = [expect_int(v, f"{text}[{i}]") for i, v in enumerate(result)]
            if got == expected:
                return
            if len(got) != len(expected):
                raise CheckFailed(f"{text} has {len(got)} values, expected {len(expected)} (one per layer): {expected}",
                                  "append the receptive field once per layer, after updating it.")
            hint = name_the_mistake(got, [
                (_rf_variant(layers, jump="ignore"), "each layer adds (k - 1) * d * j: multiply by the jump j, the input "
                                                     "distance between neighbouring units (j *= stride after each layer)."),
                (_rf_variant(layers, early=True), "update the jump AFTER the field: a layer's kernel spans units of its "
                                                  "INPUT, whose jump does not yet include this layer's stride."),
                (_rf_variant(layers, dilation=False), "a dilated kernel spreads its k taps d pixels apart: it adds (k - 1) * d * j."),
                (_rf_variant(layers, minus_one=False), "a k-wide kernel adds k - 1 pixels to the field, not k (a 3x3 conv "
                                                       "on single pixels sees 3, that is 1 + 2)."),
                (_rf_variant(layers, jump="add"), "strides multiply: j = j * stride, not j + stride."),
                (_rf_variant(layers, jump="replace"), "the jump accumulates over the layers: j = j * stride, not j = stride."),
                (_rf_variant(layers, start=0), "start from r = 1 (before any layer a unit is one pixel), not 0."),
            ], atol=0)
            raise CheckFailed(f"{text} is {got}, expected {expected}",
                              hint or "start with r = 1, j = 1; for each (k, s, d): r += (k - 1) * d * j, then j *= s.")
        return run

    run_cases("receptive_field_sizes", {
        "one 3x3 conv": case([(3, 1, 1)]),
        "two 3x3 convs": case([(3, 1, 1), (3, 1, 1)]),
        "lesson 03's CNN (conv, pool, conv, pool, conv)": case([(3, 1, 1), (2, 2, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1)]),
        "dilated convs": case([(3, 1, 2), (3, 1, 4)]),
        "ResNet's stem, then a 3x3 conv": case([(7, 2, 1), (3, 2, 1), (3, 1, 1)]),
        "a dilated conv after a stride": case([(3, 2, 1), (3, 1, 2), (5, 1, 1)]),
    })


# ---------------------------------------------------------------- 7. a GAP head
def check_gap_head(GAPHead: type) -> None:  # noqa: N803 (the student's class)
    """Check ``GAPHead(channels, num_classes)``: global average pooling of each map, then one nn.Linear(channels,
    num_classes); logits [N, num_classes] for feature maps of any height and width."""

    def case(channels: int, classes: int, h: int, w: int) -> Callable[[], None]:
        def run() -> None:
            torch.manual_seed(0)
            head = _construct(GAPHead, channels, classes, what=f"GAPHead({channels}, {classes})")
            linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
            if not linears:
                raise CheckFailed(f"GAPHead({channels}, {classes}) has no registered nn.Linear", _no_layers_hint(head))
            expect_equal(len(linears), 1, "the number of nn.Linear layers", "the head is GAP followed by ONE nn.Linear.")
            linear = linears[0]
            if linear.in_features != channels:
                hint = ("that is a flatten head: GAP turns each map into one number, so the Linear takes `channels` inputs "
                        "(and works for any map size)." if linear.in_features > channels else
                        f"after GAP there is one number per map: nn.Linear({channels}, {classes}).")
                raise CheckFailed(f"the Linear layer has in_features={linear.in_features}, expected {channels}", hint)
            expect_equal(linear.out_features, classes, "the Linear layer's out_features", "one output per class: num_classes.")
            maps = torch.randn(4, channels, h, w)
            try:
                out = call_student(head, maps)
            except CheckFailed as err:
                if isinstance(err.__cause__, RuntimeError) and "shapes cannot be multiplied" in str(err.__cause__):
                    raise CheckFailed(err.message, "average over the height and width only (dims 2 and 3), giving [N, C]; "
                                                   "with keepdim=True or AdaptiveAvgPool2d(1) flatten the result first.") from err.__cause__
                raise
            out = expect_tensor(out, f"GAPHead({channels}, {classes})(maps)", "forward must return the logits.")
            with torch.no_grad():
                expected = linear(maps.mean(dim=(2, 3)))
                if out.shape == (classes,) or (out.ndim == 2 and out.shape[0] == 1):
                    raise CheckFailed(f"the output for 4 images has shape {shape_text(out.shape)}",
                                      "do not average over the batch (dim 0): average each image's maps over dims 2 and 3.")
                expect_shape(out, (4, classes), f"the output for maps of shape {shape_text(maps.shape)}",
                             "GAP: maps.mean(dim=(2, 3)) gives [N, C]; the Linear then gives [N, num_classes].")
                got = out.detach()
                if same_numbers(got, expected, atol=1e-5):
                    return
                expect_logits(got, "the outputs", "return logits: no softmax; nn.CrossEntropyLoss applies it itself.")
                hint = name_the_mistake(got, [
                    (linear(maps.amax(dim=(2, 3))), "that is global MAX pooling: average each map (mean over dims 2, 3)."),
                    (linear(maps.sum(dim=(2, 3))), "you summed each map: take the mean (divide by height x width)."),
                    (linear(maps.mean(dim=(0, 2, 3)))[None].expand(4, -1),
                     "every image got the same output: do not average over the batch (dim 0)."),
                ], atol=1e-5)
            expect_close(got, expected, "the logits", atol=1e-5, hint=hint or "logits = linear(maps.mean(dim=(2, 3))).")
        return run

    run_cases("GAPHead", {
        "64 maps of 7x7, 10 classes": case(64, 10, 7, 7),
        "8 maps of 5x3 (any size works)": case(8, 4, 5, 3),
        "one map of 1x1": case(1, 3, 1, 1),
    })
