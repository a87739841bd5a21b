"""Weights on disk: read a state_dict safely and check that it fits a model, with errors that say what to do.

    >>> from helpers.checkpoints import read_state_dict, check_state_dict
    >>> state = read_state_dict("data/weights/mobilenet_v2_imagenet_from_qnnpack.pth")
    >>> check_state_dict(torchvision.models.mobilenet_v2(), state, "the course's MobileNetV2 weights")

Files are always read with ``torch.load(..., weights_only=True)``: a weights file cannot run code.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn


class WeightsMismatchError(ValueError):
    """A state_dict does not fit the model (missing, unexpected or differently shaped entries)."""


def _first(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f" ... (+{len(items) - n} more)" if len(items) > n else "")


def check_state_dict(model: nn.Module, state: dict, source: str) -> None:
    """Raise ``WeightsMismatchError`` unless ``state`` has exactly the keys and shapes of ``model.state_dict()``.

    ``source`` names where the weights came from (a path, "the checkpoint ..."), so the message can say it.
    """
    expected = model.state_dict()
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise WeightsMismatchError(
            f"The weights in {source} are not a plain state_dict: {len(not_tensors)} entries are not tensors "
            f"(e.g. {_first(not_tensors, 3)}). A state_dict maps parameter names to tensors, as model.state_dict() does.")
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: file {list(state[k].shape)} vs model {list(v.shape)}"
              for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        problems = [f"{len(missing)} missing ({_first(missing)})" if missing else "",
                    f"{len(unexpected)} unexpected ({_first(unexpected)})" if unexpected else "",
                    f"{len(shapes)} with another shape ({_first(shapes, 3)})" if shapes else ""]
        raise WeightsMismatchError(
            f"The weights in {source} do not match this model ({type(model).__name__}): "
            + "; ".join(p for p in problems if p)
            + ". Build the same architecture the weights were saved from (same class, layer sizes and number of classes).")


def read_state_dict(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """The dict saved in ``path`` (``weights_only=True``), or a clear error for a missing, damaged or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No weights file at {path}" + (" (it is a folder)" if path.is_dir() else "") + ".")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        first_line = (str(err).strip().splitlines() or [""])[0]
        raise ValueError(f"{path} cannot be read as PyTorch weights ({type(err).__name__}: {first_line}). It may be "
                         "truncated (fetch or save it again) or another format (a TorchScript file needs torch.jit.load).") from err
    if not isinstance(state, dict):
        raise WeightsMismatchError(f"{path} holds a {type(state).__name__}, not a state_dict (a dict of tensors).")
    return state
