"""Receptive fields: which input pixels one unit of a feature map can see, computed and measured.

The recurrence, layer by layer, along one axis (Araujo et al., "Computing receptive fields of convolutional
neural networks", Distill 2019). A layer with kernel ``k``, stride ``s``, padding ``p`` and dilation ``d`` turns the
field ``r`` and the jump ``j`` (input pixels between two neighbouring units) of its input into::

    r_out = r_in + (k - 1) * d * j_in
    j_out = j_in * s
    start_out = start_in + ((k - 1) / 2 * d - p) * j_in      # centre of the first unit's field

    >>> from torch import nn
    >>> fields = receptive_fields(nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    ...                                         nn.Conv2d(8, 8, 3, padding=1)))
    >>> [(f.name, f.size, f.jump) for f in fields]
    [('0', 3, 1), ('2', 4, 2), ('3', 8, 2)]
    >>> field_span(fields[-1], 3)        # unit 3 of the last map sees input pixels 3..10
    (3, 10)

``input_gradient_map`` measures it instead: the input pixels whose value can change one output unit are those
where the gradient of that unit with respect to the input is not zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["LayerField", "receptive_fields", "field_span", "input_gradient_map"]

# Layers that act on each pixel (or each pixel's channels) alone: they leave the field unchanged.
POINTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.ELU,
             nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.Dropout, nn.Dropout2d, nn.Identity)
SLIDING = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
WHOLE_IMAGE = (nn.Flatten, nn.Linear, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


@dataclass(frozen=True)
class LayerField:
    """The field of one unit after a layer, along one axis, in input pixels.

    ``size``: how many input pixels one unit sees; ``jump``: the input distance between two neighbouring units;
    ``start``: the centre of the first unit's field (a half pixel when ``size`` is even; negative when the
    field begins in the padding).
    """

    name: str
    kind: str
    kernel: int
    stride: int
    padding: int
    dilation: int
    size: int
    jump: int
    start: float


def _one_axis(value: int | Sequence[int], axis: int) -> int:
    return int(value[axis]) if isinstance(value, (tuple, list)) else int(value)


def _geometry(name: str, layer: nn.Module | Sequence[int], axis: int) -> tuple[str, int, int, int, int] | None:
    """(kind, kernel, stride, padding, dilation) of a sliding layer; None for a layer that keeps the field."""
    if isinstance(layer, (tuple, list)):
        if not 1 <= len(layer) <= 4 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in layer):
            raise ValueError(f"layer {name}: a layer spec is (kernel, stride=1, padding=0, dilation=1) as ints, got {layer!r}.")
        kernel, stride, padding, dilation = [*layer, *(1, 0, 1)[len(layer) - 1:]]
        return "spec", kernel, stride, padding, dilation
    if isinstance(layer, POINTWISE):
        return None
    if isinstance(layer, SLIDING):
        kernel = _one_axis(layer.kernel_size, axis)
        stride = _one_axis(layer.stride if layer.stride is not None else layer.kernel_size, axis)
        padding = layer.padding
        if isinstance(padding, str):  # Conv2d(padding="same"/"valid"), stride 1
            padding = 0 if padding == "valid" else (_one_axis(getattr(layer, "dilation", 1), axis) * (kernel - 1)) // 2
        dilation = _one_axis(getattr(layer, "dilation", 1), axis)
        return type(layer).__name__, kernel, stride, _one_axis(padding, axis), dilation
    if isinstance(layer, WHOLE_IMAGE):
        raise ValueError(f"layer {name} ({type(layer).__name__}) mixes the whole feature map: its units see the whole "
                         "image. Pass only the feature extractor (e.g. model.features).")
    raise ValueError(f"layer {name} ({type(layer).__name__}) is not a plain conv, pooling or pointwise layer; "
                     "receptive_fields follows a chain of layers in order (nn.Sequential). Describe other layers as "
                     "(kernel, stride, padding, dilation) tuples.")


def receptive_fields(layers: nn.Module | Sequence[nn.Module | Sequence[int]], axis: int = 0) -> list[LayerField]:
    """The receptive field after every conv or pooling layer of a chain of layers (pointwise layers are skipped).

    ``layers``: a module whose leaf layers run in the order they were registered (an ``nn.Sequential``, nested
    ones too), or a list of modules or ``(kernel, stride, padding, dilation)`` tuples (trailing items optional).
    ``axis``: 0 for the height, 1 for the width (they differ only for non-square kernels or strides).

    >>> [f.size for f in receptive_fields([(3, 1), (3, 1), (2, 2), (3, 1, 1, 2)])]
    [3, 5, 6, 14]
    """
    if axis not in (0, 1):
        raise ValueError(f"axis is 0 (height) or 1 (width), got {axis!r}.")
    if isinstance(layers, nn.Module):
        named = [(name or type(layers).__name__, m) for name, m in layers.named_modules(remove_duplicate=False)
                 if not list(m.children())]
    else:
        named = [(str(i), layer) for i, layer in enumerate(layers)]
    size, jump, start = 1, 1, 0.0
    fields = []
    for name, layer in named:
        geometry = _geometry(name, layer, axis)
        if geometry is None:
            continue
        kind, kernel, stride, padding, dilation = geometry
        if kernel < 1 or stride < 1 or dilation < 1:
            raise ValueError(f"layer {name}: kernel, stride and dilation must be at least 1 (got {kernel}, {stride}, {dilation}).")
        start = start + ((kernel - 1) / 2 * dilation - padding) * jump
        size = size + (kernel - 1) * dilation * jump
        jump = jump * stride
        fields.append(LayerField(name, kind, kernel, stride, padding, dilation, size, jump, start))
    if not fields:
        raise ValueError("no conv or pooling layer found: the receptive field of the input is one pixel.")
    return fields


def field_span(field: LayerField, index: int) -> tuple[int, int]:
    """First and last input pixel (inclusive) seen by unit ``index`` along the field's axis; may reach into the padding.

    >>> field_span(LayerField("c", "Conv2d", 3, 1, 1, 1, size=3, jump=1, start=0.0), 0)
    (-1, 1)
    """
    centre = field.start + index * field.jump
    half = (field.size - 1) / 2
    return math.floor(centre - half + 1e-9), math.floor(centre + half + 1e-9)


def input_gradient_map(model: nn.Module, images: torch.Tensor, position: tuple[int, int],
                       channel: int | None = None) -> torch.Tensor:
    """|d unit / d input| for one spatial ``position`` of ``model``'s output map: float [N, H, W] on the CPU.

    The unit is ``model(images)[n, channel, row, col]``, or the sum over all channels when ``channel`` is None;
    the gradient is summed (as absolute values) over the input channels. Pixels where it is 0 cannot change the
    unit: the non-zero pixels, over many images, are the empirical receptive field. The model runs in eval mode.

    >>> grad = input_gradient_map(model.features, images[:64], position=(3, 3))
    >>> seen = (grad > 0).any(dim=0)       # pixels that reached the unit in at least one image
    """
    if images.ndim != 4:
        raise ValueError(f"images must be a batch [N, C, H, W], got shape {list(images.shape)}.")
    was_training = model.training
    model.eval()
    try:
        x = images.detach().float().clone().requires_grad_(True)
        with torch.enable_grad():
            out = model(x)
            if out.ndim != 4:
                raise ValueError(f"the model's output has shape {list(out.shape)}: pass a model that returns feature "
                                 "maps [N, C, H, W] (e.g. model.features).")
            row, col = position
            if not (0 <= row < out.shape[2] and 0 <= col < out.shape[3]):
                raise ValueError(f"position {position} is outside the {out.shape[2]}x{out.shape[3]} output map.")
            unit = out[:, :, row, col] if channel is None else out[:, channel:channel + 1, row, col]
            unit.sum().backward()  # images are independent, so one backward gives every image's gradient
    finally:
        model.train(was_training)
    return x.grad.abs().sum(dim=1).cpu()
