"""Small networks for the lessons: a VGG-style CNN built from a config list, and a plain MLP.

A VGG config lists the feature extractor from input to output: a number is a 3x3 convolution with that many
output channels (each followed by a normalization layer and ReLU), and ``"M"`` is a 2x2 max pooling that halves
the height and width, exactly like the tables in the VGG paper (Simonyan & Zisserman, 2015)::

    >>> from helpers.models import make_vgg, count_parameters
    >>> model = make_vgg("vgg_small")                      # for 1x28x28 Fashion-MNIST images
    >>> model(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> count_parameters(model)
    584618
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "VGG_CONFIGS",
    "VGG_PAPER_CONFIGS",
    "VGG_PAPER_PARAMETERS_MILLIONS",
    "NORM_KINDS",
    "VGG",
    "make_vgg",
    "make_norm",
    "make_mlp",
    "make_fast_vgg",
    "vgg_feature_shape",
    "count_parameters",
]

# Channels per 3x3 conv; "M" = 2x2 max pooling. Sized for 28x28 inputs (28 -> 14 -> 7 -> 3).
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg_tiny": [16, "M", 32, "M", 64, "M"],  # one conv per block: seconds per epoch, for quick experiments
    "vgg_small": [32, 32, "M", 64, 64, "M", 128, 128, "M"],  # two convs per block, like VGG's deeper configs
    "vgg_narrow": [16, 16, "M", 32, 32, "M", 64, 64, "M"],  # vgg_small at half width: ~4x fewer multiply-adds
    "vgg11_28": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M"],  # VGG "A" (VGG11) with 4 of its 5 pools
}

# The six networks of the VGG paper's Table 1 (Simonyan & Zisserman, 2015), for 224x224 RGB photos (5 pools:
# 224 -> 7). Two more kinds of entry than above: "LRN" is a local response normalization (A-LRN only), and a pair
# (channels, 1) is a 1x1 convolution, the paper's "conv1-256" (config C only). Built with
# make_vgg(name, in_channels=3, num_classes=1000, image_size=224, hidden=(4096, 4096), batch_norm=False).
_E_BLOCK = [256, 256, 256, 256]
VGG_PAPER_CONFIGS: dict[str, list[int | str | tuple[int, int]]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],  # VGG11
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],  # VGG13
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M", 512, 512, (512, 1), "M", 512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],  # VGG16
    "E": [64, 64, "M", 128, 128, "M", *_E_BLOCK, "M", *[512] * 4, "M", *[512] * 4, "M"],  # VGG19
}
# Table 2 of the paper: number of parameters in millions (A and A-LRN share one entry).
VGG_PAPER_PARAMETERS_MILLIONS = {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144}

NORM_KINDS = ("batch", "layer", "instance", "group", "none")


def make_norm(kind: str, channels: int, groups: int = 8) -> nn.Module:
    """A normalization layer for a ``channels``-channel feature map (N, C, H, W).

    ``kind`` says over which axes the mean and variance are taken:

    - ``"batch"``: per channel, over N, H, W (``nn.BatchNorm2d``; uses running statistics in eval mode)
    - ``"layer"``: per image, over C, H, W (``nn.GroupNorm`` with one group, the usual LayerNorm for conv nets)
    - ``"instance"``: per image and channel, over H, W (``nn.InstanceNorm2d`` with learnable scale and shift)
    - ``"group"``: per image and group of ``channels // groups`` channels, over those channels and H, W
    - ``"none"``: ``nn.Identity()``

    >>> make_norm("group", 32)
    GroupNorm(8, 32, eps=1e-05, affine=True, bias=True)
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "group":
        groups = min(groups, channels)
        if channels % groups:
            raise ValueError(f"GroupNorm needs channels ({channels}) divisible by groups ({groups}); choose another group count.")
        return nn.GroupNorm(groups, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"Unknown normalization {kind!r}: use one of {', '.join(NORM_KINDS)}.")


def _is_count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _conv_entry(v: object) -> tuple[int, int] | None:
    """(channels, kernel size) of a conv entry: 64 -> (64, 3), (256, 1) -> (256, 1); None for "M" and "LRN"."""
    if _is_count(v):
        return int(v), 3
    if isinstance(v, (tuple, list)) and len(v) == 2 and _is_count(v[0]) and _is_count(v[1]) and v[1] % 2 == 1:
        return int(v[0]), int(v[1])
    return None


def _resolve_config(config: str | Sequence[int | str | tuple[int, int]]) -> list[int | str | tuple[int, int]]:
    if isinstance(config, str):
        if config in VGG_CONFIGS:
            return list(VGG_CONFIGS[config])
        if config in VGG_PAPER_CONFIGS:
            return list(VGG_PAPER_CONFIGS[config])
        raise ValueError(f"Unknown VGG config {config!r}: use one of {', '.join([*VGG_CONFIGS, *VGG_PAPER_CONFIGS])} "
                         "or pass a list like [32, 'M', 64, 'M'].")
    items = list(config)
    if not any(_conv_entry(v) for v in items):
        raise ValueError(f"A VGG config needs at least one conv layer (a positive int), got {items!r}.")
    for v in items:
        if v in ("M", "LRN"):
            continue
        if _conv_entry(v) is None:
            raise ValueError(f"VGG config entries are positive ints (3x3 conv channels), 'M' (max pooling), 'LRN' (local "
                             f"response normalization) or (channels, odd kernel size) such as (256, 1); got {v!r} in {items!r}.")
    return items


def vgg_feature_shape(config: str | Sequence[int | str], image_size: int = 28) -> tuple[int, int, int]:
    """(channels, height, width) that the feature extractor of ``config`` outputs for a square image.

    Each "M" halves the size, rounding down (``nn.MaxPool2d(2)``); 3x3 convs with padding 1 keep it.

    >>> vgg_feature_shape("vgg_small")          # 28 -> 14 -> 7 -> 3
    (128, 3, 3)
    """
    items = _resolve_config(config)
    size, channels = image_size, 0
    for v in items:
        if v == "M":
            size //= 2
            if size < 1:
                raise ValueError(f"Config {items!r} pools a {image_size}x{image_size} image down to nothing; use fewer 'M'.")
        elif v != "LRN":
            channels = _conv_entry(v)[0]
    return channels, size, size


class VGG(nn.Module):
    """A VGG-style network: ``features`` (conv blocks), ``pool`` (global average pool or nothing), ``classifier``."""

    def __init__(self, features: nn.Sequential, pool: nn.Module, classifier: nn.Sequential):
        super().__init__()
        self.features = features
        self.pool = pool
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.pool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def make_vgg(
    config: str | Sequence[int | str] = "vgg_small",
    in_channels: int = 1,
    num_classes: int = 10,
    dropout: float = 0.5,
    batch_norm: bool = True,
    global_pool: bool = False,
    *,
    norm: str | None = None,
    hidden: int | Sequence[int] = 256,
    image_size: int = 28,
) -> VGG:
    """Build a VGG-style classifier from a config (a name in ``VGG_CONFIGS`` or a list like ``[32, "M", 64, "M"]``).

    Each number adds ``Conv2d(3x3, padding=1) -> norm -> ReLU``; each ``"M"`` adds ``MaxPool2d(2)``.
    The classifier is ``Dropout -> Linear(hidden) -> ReLU -> Dropout -> Linear(num_classes)`` on the flattened
    feature map (the paper's FC-4096, FC-4096, FC-1000, much smaller), or, with ``global_pool=True``, a global
    average pool followed by ``Dropout -> Linear(num_classes)``. It returns logits: no softmax
    (``nn.CrossEntropyLoss`` applies log-softmax itself).

    ``batch_norm=True`` is ``norm="batch"``; ``norm`` chooses another kind (see ``make_norm``).
    Convs are bias-free when a normalization follows them (its shift does the bias's job).
    ``hidden`` may also list several widths: ``hidden=(4096, 4096)`` gives the paper's FC-4096, FC-4096, FC-classes.
    Config entries ``"LRN"`` and ``(channels, 1)`` (a 1x1 conv) build the paper's A-LRN and C (``VGG_PAPER_CONFIGS``).

    >>> make_vgg([8, "M", 16, "M"], hidden=32)(torch.zeros(1, 1, 28, 28)).shape
    torch.Size([1, 10])
    """
    items = _resolve_config(config)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout is a probability of dropping a unit, in [0, 1); got {dropout}.")
    kind = norm if norm is not None else ("batch" if batch_norm else "none")
    if kind not in NORM_KINDS:
        raise ValueError(f"Unknown normalization {kind!r}: use one of {', '.join(NORM_KINDS)}.")
    channels_out, height, width = vgg_feature_shape(items, image_size)

    widths = [hidden] if isinstance(hidden, int) else list(hidden)
    if not all(_is_count(w) for w in widths):
        raise ValueError(f"hidden is the width of the classifier's hidden layer(s), positive ints; got {hidden!r}.")

    layers: list[nn.Module] = []
    channels = in_channels
    for v in items:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2))
        elif v == "LRN":  # AlexNet's settings, as in VGG's A-LRN (PyTorch divides alpha by size, so 5 x 1e-4)
            layers.append(nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0))
        else:
            out, kernel = _conv_entry(v)
            layers.append(nn.Conv2d(channels, out, kernel_size=kernel, padding=kernel // 2, bias=(kind == "none")))
            layers.append(make_norm(kind, out))
            layers.append(nn.ReLU(inplace=True))
            channels = out
    features = nn.Sequential(*layers)

    if global_pool:
        pool: nn.Module = nn.AdaptiveAvgPool2d(1)
        classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels_out, num_classes))
    else:
        pool = nn.Identity()
        fc_layers: list[nn.Module] = []
        width = channels_out * height * width
        for w in widths:  # Dropout -> Linear -> ReLU per hidden layer
            fc_layers += [nn.Dropout(dropout), nn.Linear(width, w), nn.ReLU(inplace=True)]
            width = w
        classifier = nn.Sequential(*fc_layers, nn.Dropout(dropout), nn.Linear(width, num_classes))
    return VGG(features, pool, classifier)


def make_mlp(
    in_features: int = 28 * 28,
    hidden: Sequence[int] = (512, 512),
    num_classes: int = 10,
    dropout: float = 0.0,
    batch_norm: bool = False,
) -> nn.Sequential:
    """A multilayer perceptron for flattened images: ``Flatten -> [Linear -> (BatchNorm1d) -> ReLU -> (Dropout)] * k -> Linear``.

    >>> make_mlp(hidden=(64,), dropout=0.5)
    Sequential(
      (0): Flatten(start_dim=1, end_dim=-1)
      (1): Linear(in_features=784, out_features=64, bias=True)
      (2): ReLU()
      (3): Dropout(p=0.5, inplace=False)
      (4): Linear(in_features=64, out_features=10, bias=True)
    )
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout is a probability of dropping a unit, in [0, 1); got {dropout}.")
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for h in hidden:
        layers.append(nn.Linear(width, h, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(nn.ReLU())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


class _Scale(nn.Module):
    """Multiply by a constant (airbench94 scales its logits by 1/9 instead of tuning the last layer's init)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:g}"


def make_fast_vgg(widths: Sequence[int] = (64, 256, 256), in_channels: int = 3, num_classes: int = 10, *,
                  batchnorm_momentum: float = 0.4, logit_scale: float = 1 / 9) -> nn.Sequential:
    """The VGG-style network of airbench94 (Jordan, 2024), the fastest published CIFAR-10 trainer to 94 %.

    In the lecture's table notation, with the default widths: conv2-24 (a 2x2 "patch whitening" conv, see
    ``helpers.fast_training.init_whitening``), then three blocks ``conv3-w, maxpool, conv3-w`` (w = 64, 256, 256),
    a global max pool and FC-10. Each block pools right after its first conv, so batch norm and GELU run on a 4x
    smaller map; batch norm learns only its shift; every 3x3 conv starts as an identity on its first input
    channels (Dirac init). Works for 32x32 (CIFAR-10) and 28x28 (Fashion-MNIST) inputs; returns logits.

    >>> make_fast_vgg((16, 32, 32))(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    widths = [int(w) for w in widths]
    if len(widths) != 3 or min(widths) < 1:
        raise ValueError(f"widths are the channels of the three blocks, e.g. (64, 256, 256); got {widths}.")
    whiten = nn.Conv2d(in_channels, 2 * in_channels * 4, kernel_size=2, padding=0, bias=True)
    layers: list[nn.Module] = [whiten, nn.GELU()]
    channels = whiten.out_channels
    for width in widths:
        for i in range(2):
            conv = nn.Conv2d(channels, width, kernel_size=3, padding=1, bias=False)
            nn.init.dirac_(conv.weight.data[:min(channels, width)])  # start as an identity on the first channels
            norm = nn.BatchNorm2d(width, eps=1e-12, momentum=batchnorm_momentum)
            norm.weight.requires_grad_(False)  # scale fixed at 1: only the shift is learned
            layers += [conv, nn.MaxPool2d(2)] if i == 0 else [conv]
            layers += [norm, nn.GELU()]
            channels = width
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes, bias=False), _Scale(logit_scale)]
    return nn.Sequential(*layers)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters (weights and biases) in ``model``; buffers such as BN running means are not counted.

    >>> count_parameters(nn.Linear(784, 10))   # 784*10 weights + 10 biases
    7850
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
