"""Feature maps of a CNN: the output of each stage, taken with torchvision's ``create_feature_extractor``.

A stage is where a network works at one spatial size; its last layer hands the features to the next, smaller
stage. ``stage_outputs`` returns those hand-over maps, one per spatial size, for a small ``nn.Sequential``
feature extractor as well as for torchvision's ResNets, VGGs and MobileNets::

    >>> maps = stage_outputs(model, images)           # images: a normalised batch [N, C, H, W]
    >>> {name: tuple(m.shape) for name, m in maps.items()}
    {'relu': (1, 64, 112, 112), 'layer1': (1, 64, 56, 56), 'layer2': (1, 128, 28, 28), ...}
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

__all__ = ["stage_candidates", "stage_outputs"]

HEAD_LAYERS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten, nn.Linear, nn.Dropout)


def stage_candidates(model: nn.Module) -> list[str]:
    """Names of the layers a stage can end with: the children of ``model.features`` when it has that
    ``nn.Sequential`` (VGG, MobileNet, EfficientNet, the course's small CNNs), else the model's own children up to
    its global pooling or classifier (ResNet: conv1, bn1, relu, maxpool, layer1 ... layer4)."""
    features = getattr(model, "features", None)
    if isinstance(features, nn.Sequential):
        return [f"features.{name}" for name, _ in features.named_children()]
    names = []
    for name, child in model.named_children():
        if isinstance(child, HEAD_LAYERS) or name in ("classifier", "fc", "head"):
            break
        names.append(name)
    if not names:
        raise ValueError(f"{type(model).__name__} has neither a `features` nn.Sequential nor children before its "
                         "classifier: pass the layers to watch to create_feature_extractor yourself.")
    return names


def stage_outputs(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """{layer name: feature maps [N, C, H, W]} for the last layer at each spatial size, in network order.

    Runs ``model`` in eval mode without gradients on ``images`` (already preprocessed) and returns CPU tensors.
    """
    candidates = stage_candidates(model)
    extractor = create_feature_extractor(model, return_nodes=candidates)
    was_training = model.training
    model.eval()
    extractor.eval()
    try:
        with torch.inference_mode():
            outputs = extractor(images)
    finally:
        model.train(was_training)
    last_at_size: dict[tuple[int, int], str] = {}
    for name in candidates:
        value = outputs[name]
        if isinstance(value, torch.Tensor) and value.ndim == 4:
            last_at_size[tuple(value.shape[-2:])] = name  # a later layer at the same size replaces an earlier one
    keep = set(last_at_size.values())
    return {name: outputs[name].cpu() for name in candidates if name in keep}
