"""What training leaves on disk: state_dicts checked against a model, training checkpoints and their ``History``.

    >>> from helpers.checkpoints import read_state_dict, check_state_dict, save_checkpoint, load_checkpoint
    >>> state = read_state_dict("data/weights/mobilenet_v2_imagenet_from_qnnpack.pth")
    >>> check_state_dict(torchvision.models.mobilenet_v2(), state, "the course's MobileNetV2 weights")
    >>> save_checkpoint("checkpoints/cnn.pt", model, optimizer, epoch=3, history=history)
    >>> load_checkpoint("checkpoints/cnn.pt", model, optimizer)["epoch"]
    3

Files are always read with ``torch.load(..., weights_only=True)``: a weights file cannot run code.
``helpers.training`` re-exports ``History``, ``save_checkpoint`` and ``load_checkpoint``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

TRAINING_CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "scaler", "epoch", "history")


# --------------------------------------------------------------------------------------------
# History: what happened in each epoch (fit returns it; every checkpoint holds it)
# --------------------------------------------------------------------------------------------
@dataclass
class History:
    """Per-epoch numbers of one training run (epoch 1 is index 0 of every list).

    ``best_epoch`` (1-based) is the epoch with the best ``monitor`` value ('val_loss' or 'val_acc');
    it is the epoch whose weights ``fit(..., restore_best=True)`` puts back.

    >>> h = History(train_loss=[0.9, 0.5], train_acc=[0.70, 0.83], val_loss=[0.6, 0.55], val_acc=[0.79, 0.81])
    >>> h.epochs, h.best_val_acc
    (2, 0.81)
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)  # learning rate at the start of each epoch
    seconds: list[float] = field(default_factory=list)  # wall-clock seconds of each epoch (train + val)
    monitor: str = "val_loss"
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    @property
    def best_val_acc(self) -> float | None:
        return max(self.val_acc) if self.val_acc else None

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds))

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers (for json.dump and for checkpoints loaded with weights_only=True)."""
        return {**asdict(self), "best_val_acc": self.best_val_acc, "total_seconds": self.total_seconds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "History":
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


# --------------------------------------------------------------------------------------------
# State dicts: read one safely, check that it fits a model
# --------------------------------------------------------------------------------------------
class WeightsMismatchError(ValueError):
    """A state_dict does not fit the model (missing, unexpected or differently shaped entries)."""


def _first(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f" ... (+{len(items) - n} more)" if len(items) > n else "")


def _is_training_checkpoint(state: Mapping) -> bool:
    return isinstance(state.get("model"), Mapping) and ("optimizer" in state or "epoch" in state)


def check_state_dict(model: nn.Module, state: Mapping, source: str) -> None:
    """Raise ``WeightsMismatchError`` unless ``state`` has exactly the keys and shapes of ``model.state_dict()``.

    ``source`` names where the weights came from (a path, "the checkpoint ..."), so the message can say it.

    >>> check_state_dict(model, torch.load("cnn.pt", weights_only=True), "cnn.pt")  # a fit() checkpoint
    WeightsMismatchError: cnn.pt holds a training checkpoint ... load_checkpoint(path, model) ... checkpoint["model"]
    """
    if not isinstance(state, Mapping):
        raise WeightsMismatchError(f"The weights in {source} are a {type(state).__name__}, not a state_dict "
                                   "(a dict of tensors, as model.state_dict() returns).")
    if _is_training_checkpoint(state):
        keys = [k for k in TRAINING_CHECKPOINT_KEYS if k in state]
        raise WeightsMismatchError(
            f"{source} holds a training checkpoint (a dict with {', '.join(repr(k) for k in keys)}), not a state_dict. "
            "Load it with load_checkpoint(path, model) (from helpers.checkpoints or helpers.training), "
            'or take its weights with checkpoint["model"].')
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


# --------------------------------------------------------------------------------------------
# Training checkpoints: everything a run needs to continue where it stopped
# --------------------------------------------------------------------------------------------
def check_checkpoint_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path if a checkpoint can be written there; else a clear error (before any training is done).

    >>> check_checkpoint_path("checkpoints")   # an existing folder
    IsADirectoryError: checkpoint_path checkpoints is a folder; give a file in it, e.g. checkpoints/model.pt.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint_path {path} is a folder; give a file in it, e.g. {path / 'model.pt'}.")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the nearest folder that exists: save_checkpoint creates the rest
    if not folder.is_dir():
        raise NotADirectoryError(f"checkpoint_path {path} cannot be created: {folder} is a file, not a folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"checkpoint_path {path} cannot be written: no write permission in {folder}. "
                              "Choose a folder you can write to.")
    return path


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    epoch: int = 0, history: History | None = None, *, scheduler: Any = None, scaler: Any = None,
                    best_model: dict[str, torch.Tensor] | None = None, planned_epochs: int | None = None) -> Path:
    """Save model, optimizer, scheduler, epoch and history to ``path`` (plain tensors, dicts and lists).

    The file is written to ``path.tmp`` and then renamed, so a crash never leaves a half-written checkpoint.

    >>> save_checkpoint("checkpoints/cnn.pt", model, optimizer, epoch=3, history=history)
    PosixPath('checkpoints/cnn.pt')
    """
    path = check_checkpoint_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "scaler": None if scaler is None else scaler.state_dict(),
        "epoch": int(epoch),
        "history": None if history is None else history.to_dict(),
        "best_model": best_model,  # kept by fit(restore_best=True)
        "planned_epochs": planned_epochs,  # the `epochs` of the fit() call (its schedule depends on it)
        "rng_state": torch.get_rng_state(),  # so a resumed run shuffles like an uninterrupted one
    }
    temporary = path.with_name(path.name + ".tmp")
    try:
        torch.save(checkpoint, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)  # gone after a successful replace; removed here after a failure
    return path


def load_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *,
                    scheduler: Any = None, scaler: Any = None, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint saved by ``save_checkpoint`` (or a bare state_dict) into ``model`` (and optimizer...).

    Returns the checkpoint dict with 'epoch' and 'history' (a ``History`` or None).

    >>> info = load_checkpoint("checkpoints/cnn.pt", model, optimizer)
    >>> info["epoch"], info["history"].best_epoch
    (3, 2)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}" + (" (it is a folder)" if path.is_dir() else "")
                                + ". Train first (fit(..., checkpoint_path=...)) or check the path.")
    checkpoint = read_state_dict(path, map_location=map_location)
    if not isinstance(checkpoint.get("model"), Mapping):  # a bare state_dict, e.g. torch.save(model.state_dict(), path)
        checkpoint = {"model": checkpoint, "epoch": 0, "history": None}
    check_state_dict(model, checkpoint["model"], f"checkpoint {path}")
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None and checkpoint.get("optimizer") is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None and checkpoint.get("scheduler") is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    if scaler is not None and checkpoint.get("scaler") is not None:
        scaler.load_state_dict(checkpoint["scaler"])
    if checkpoint.get("history") is not None:
        checkpoint["history"] = History.from_dict(checkpoint["history"])
    return checkpoint
