"""Training: a readable ``fit`` / ``evaluate`` pair, a ``History``, checkpoints and a fast tensor loader.

Example::

    >>> from helpers.training import tensor_loader, fit, evaluate
    >>> train_loader = tensor_loader(x_train, y_train, batch_size=128, shuffle=True,
    ...                              mean=0.286, std=0.353, device=device)
    >>> val_loader = tensor_loader(x_val, y_val, batch_size=512, mean=0.286, std=0.353, device=device)
    >>> history = fit(model, train_loader, val_loader, epochs=5, lr=1e-3, scheduler="onecycle", device=device)
    epoch 1/5  train loss 0.612 acc 78.4%  val loss 0.452 acc 83.9%  4.1 s
    ...
    >>> evaluate(model, val_loader)
    {'loss': 0.3805, 'accuracy': 0.862}

Accuracies are fractions (0.862 means 86.2 %) computed over samples: correct images / all images.
Losses are averaged over samples too, so a short last batch counts exactly as much as it should.

``device=None`` everywhere means "the device the model's parameters are already on".
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm as text_tqdm
from tqdm.auto import tqdm

SCHEDULER_NAMES = ("onecycle", "cosine")
MONITORS = ("val_loss", "val_acc")


# --------------------------------------------------------------------------------------------
# History: what happened in each epoch
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
# Data: a DataLoader over tensors kept in memory
# --------------------------------------------------------------------------------------------
class BatchTransform:
    """Turn a batch of images into model input: uint8 -> float in [0, 1], augment, normalise.

    ``augment`` is applied to each image separately (torchvision.transforms.v2 ops draw their
    random numbers once per call, so calling them on a whole batch would flip every image or none).

    >>> to_input = BatchTransform(mean=0.5, std=0.5)
    >>> to_input(torch.full((2, 1, 4, 4), 255, dtype=torch.uint8)).unique()
    tensor([1.])
    """

    def __init__(self, mean: float | Sequence[float] | None = None, std: float | Sequence[float] | None = None,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None):
        if (mean is None) != (std is None):
            raise ValueError("Give both mean and std (or neither) to normalise images.")
        self.mean = None if mean is None else torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.std = None if std is None else torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.augment = augment

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype == torch.uint8:
            images = images.float() / 255
        else:
            images = images.float()
        if self.augment is not None:
            images = torch.stack([self.augment(image) for image in images])
        if self.mean is not None:
            if self.mean.shape[1] not in (1, images.shape[1]):
                raise ValueError(f"mean/std have {self.mean.shape[1]} values but the images have {images.shape[1]} channels.")
            images = (images - self.mean.to(images.device)) / self.std.to(images.device)
        return images

    def __repr__(self) -> str:
        return f"BatchTransform(mean={self.mean}, std={self.std}, augment={self.augment})"


class TensorLoader(DataLoader):
    """A DataLoader over in-memory tensors that moves each batch to ``device`` and applies ``batch_transform`` there."""

    def __init__(self, dataset: TensorDataset, *, batch_transform: BatchTransform, device: torch.device | str | None = None, **kwargs: Any):
        super().__init__(dataset, **kwargs)
        self.batch_transform = batch_transform
        self.device = None if device is None else torch.device(device)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, labels in super().__iter__():
            if self.device is not None:
                images = images.to(self.device, non_blocking=True)
                labels = labels.to(self.device, non_blocking=True)
            yield self.batch_transform(images), labels


def tensor_loader(images: torch.Tensor, labels: torch.Tensor, batch_size: int = 128, shuffle: bool = False, *,
                  mean: float | Sequence[float] | None = None, std: float | Sequence[float] | None = None,
                  augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                  device: torch.device | str | None = None, drop_last: bool = False, seed: int | None = None) -> DataLoader:
    """A fast DataLoader over cached tensors (no per-image file decoding).

    ``images``: uint8 [N, C, H, W] (converted to float / 255 batch by batch) or float [N, C, H, W].
    ``mean``/``std``: normalise each channel (a number or one per channel), done on the batch.
    ``augment``: optional callable applied to each float image of a batch (e.g. a ``transforms.v2.Compose``).
    ``device``: where batches are converted (pass your training device, so uint8 travels to the GPU).

    >>> loader = tensor_loader(images, labels, batch_size=64, shuffle=True, mean=0.286, std=0.353)
    >>> x, y = next(iter(loader)); x.dtype, x.shape
    (torch.float32, torch.Size([64, 1, 28, 28]))
    """
    images, labels = torch.as_tensor(images), torch.as_tensor(labels)
    if images.ndim == 3:  # [N, H, W] gray images: add the channel dimension
        images = images.unsqueeze(1)
    if images.ndim != 4:
        raise ValueError(f"images must have shape [N, C, H, W] (or [N, H, W]); got {list(images.shape)}.")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels: they must match one to one.")
    if len(images) == 0:
        raise ValueError("No images: the tensors are empty (check the split name or the `limit` you asked for).")
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    return TensorLoader(TensorDataset(images, labels.long()), batch_transform=BatchTransform(mean, std, augment),
                        device=device, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                        num_workers=0, generator=generator)  # in-memory tensors: worker processes only add overhead


def default_num_workers() -> int:
    """DataLoader workers for datasets that read files: min(4, cores - 1), or 0 on a 1-core machine."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(4, cores - 1))


# --------------------------------------------------------------------------------------------
# Small pieces used by the loops below
# --------------------------------------------------------------------------------------------
def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _to_device(batch: Any, device: torch.device, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError("Each batch must be a pair (images, labels); this loader yields "
                         f"{type(batch).__name__}{'' if not isinstance(batch, (tuple, list)) else f' of length {len(batch)}'}.")
    images, labels = batch
    images = images.to(device, non_blocking=True)
    labels = labels.to(device, non_blocking=True)
    if channels_last and images.ndim == 4:
        images = images.contiguous(memory_format=torch.channels_last)
    if not labels.is_floating_point() and labels.dtype != torch.long:
        labels = labels.long()  # CrossEntropyLoss wants int64 class indices
    return images, labels


def _check_outputs(outputs: torch.Tensor, labels: torch.Tensor, loss_fn: Callable) -> None:
    """Catch the usual shape mistakes with a message that says what to fix (called on the first batch)."""
    name = type(loss_fn).__name__
    if outputs.ndim != 2 or outputs.shape[0] != labels.shape[0]:
        raise ValueError(f"model returned shape {list(outputs.shape)} for a batch of {labels.shape[0]} labels; "
                         f"{name} needs [batch, classes] (here [{labels.shape[0]}, num_classes]). "
                         "Check the last layers: flatten before the classifier (nn.Flatten()) and end with nn.Linear(..., num_classes).")
    if labels.ndim == 1 and labels.numel() and int(labels.max()) >= outputs.shape[1]:
        raise ValueError(f"a label is {int(labels.max())} but the model only outputs {outputs.shape[1]} classes "
                         f"(labels must be 0..{outputs.shape[1] - 1}). Make the last layer's out_features the number of classes.")


def _progress_bar(total: int | None, desc: str, enabled: bool) -> Any:
    """A progress bar that disappears when done: a widget in Jupyter, text in a terminal.

    $COURSE_PROGRESS=text forces text bars (useful for papermill runs; they redraw at most every 5 s, so an
    executed notebook keeps a few lines per epoch, not hundreds), =off hides them.
    """
    mode = os.environ.get("COURSE_PROGRESS", "auto").strip().lower()
    if mode == "text":
        return text_tqdm(total=total, desc=desc, leave=False, mininterval=5.0, disable=not enabled)
    return tqdm(total=total, desc=desc, leave=False, disable=not enabled or mode == "off")


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None  # an iterable without len(): the bar counts without a total


def _check_loader(loader: Any, name: str) -> None:
    try:
        n = len(loader)
    except TypeError:
        return  # an iterable without len(): we find out while looping
    if n == 0:
        raise ValueError(f"{name} is empty: it yields no batches (the dataset has no images, or drop_last=True "
                         "with fewer images than batch_size).")


def _autocast_dtype(amp: bool | str, device: torch.device) -> torch.dtype | None:
    """Which float type autocast uses: bf16 (or fp16 on older GPUs) on CUDA, never on CPU."""
    if amp is False or amp is None or device.type != "cuda":
        return None
    if amp in (True, "auto"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp in ("bf16", "bfloat16"):
        return torch.bfloat16
    if amp in ("fp16", "float16"):
        return torch.float16
    raise ValueError(f"Unknown amp={amp!r}: use 'auto', True, False, 'bf16' or 'fp16'.")


# --------------------------------------------------------------------------------------------
# One pass over the data
# --------------------------------------------------------------------------------------------
def train_one_epoch(model: nn.Module, loader: DataLoader, loss_fn: Callable, optimizer: torch.optim.Optimizer,
                    device: torch.device | str | None = None, *, scaler: torch.amp.GradScaler | None = None,
                    scheduler: Any = None, channels_last: bool = False, progress: bool = True,
                    amp_dtype: torch.dtype | None = None, desc: str = "train") -> dict[str, float]:
    """Train for one pass over ``loader``; return {'loss': mean loss, 'accuracy': fraction correct}.

    ``scheduler`` (optional) is stepped after every batch. ``amp_dtype``: autocast float type (None: off).
    """
    device = _model_device(model) if device is None else torch.device(device)
    _check_loader(loader, "the training loader")
    model.train()
    total_loss = torch.zeros((), device=device)
    total_correct = torch.zeros((), device=device, dtype=torch.long)
    total_count = 0
    # (a bar we update by hand: tqdm.auto would call iter(loader) twice, starting DataLoader workers twice)
    bar = _progress_bar(_length(loader), desc, progress)
    for step, batch in enumerate(loader):
        images, labels = _to_device(batch, device, channels_last)

        # 1. forward: the model turns images into one score (logit) per class
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            outputs = model(images)
            if step == 0:
                _check_outputs(outputs, labels, loss_fn)
            # 2. loss: how wrong the scores are (a single number to make smaller)
            loss = loss_fn(outputs, labels)

        # 3. zero_grad: forget the gradients of the previous batch
        optimizer.zero_grad(set_to_none=True)
        # 4. backward: compute d(loss)/d(weight) for every weight
        if scaler is not None:  # fp16 only: scale the loss so small gradients do not round to zero
            scaler.scale(loss).backward()
            # 5. step: move every weight a little against its gradient
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            # 5. step: move every weight a little against its gradient
            optimizer.step()
        if scheduler is not None:
            scheduler.step()

        # keep score: sums over samples (not an average of batch averages)
        count = labels.shape[0]
        total_loss += loss.detach().float() * count
        total_correct += (outputs.argmax(dim=1) == labels).sum()
        total_count += count
        bar.update(1)
        if progress and (step % 10 == 0 or step + 1 == bar.total):
            bar.set_postfix(loss=f"{total_loss.item() / total_count:.3f}", acc=f"{100 * total_correct.item() / total_count:.1f}%",
                            refresh=False)  # the bar redraws on its own schedule
    bar.close()
    if total_count == 0:
        raise ValueError("the training loader yielded no batches.")
    return {"loss": total_loss.item() / total_count, "accuracy": total_correct.item() / total_count}


def evaluate(model: nn.Module, loader: DataLoader, loss_fn: Callable | None = None,
             device: torch.device | str | None = None, *, channels_last: bool = False, progress: bool = False,
             amp_dtype: torch.dtype | None = None, desc: str = "eval") -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``loader`` (no gradients; training mode restored afterwards).

    >>> evaluate(model, test_loader)
    {'loss': 0.3805, 'accuracy': 0.862}
    """
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    device = _model_device(model) if device is None else torch.device(device)
    _check_loader(loader, "the evaluation loader")
    was_training = model.training
    model.eval()
    total_loss, total_correct, total_count = 0.0, 0, 0
    bar = _progress_bar(_length(loader), desc, progress)
    try:
        with torch.inference_mode():
            for step, batch in enumerate(loader):
                images, labels = _to_device(batch, device, channels_last)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    outputs = model(images)
                if step == 0:
                    _check_outputs(outputs, labels, loss_fn)
                total_loss += loss_fn(outputs.float(), labels).item() * labels.shape[0]
                total_correct += (outputs.argmax(dim=1) == labels).sum().item()
                total_count += labels.shape[0]
                bar.update(1)
    finally:
        bar.close()
        model.train(was_training)
    if total_count == 0:
        raise ValueError("the evaluation loader yielded no batches.")
    return {"loss": total_loss / total_count, "accuracy": total_correct / total_count}


def predict(model: nn.Module, loader: DataLoader, device: torch.device | str | None = None, *,
            channels_last: bool = False, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """All logits and labels of ``loader``: (float32 [N, classes], int64 [N]), both on the CPU.

    >>> logits, labels = predict(model, test_loader)
    >>> predictions = logits.argmax(dim=1)
    """
    device = _model_device(model) if device is None else torch.device(device)
    _check_loader(loader, "the loader")
    was_training = model.training
    model.eval()
    all_logits, all_labels = [], []
    bar = _progress_bar(_length(loader), "predict", progress)
    try:
        with torch.inference_mode():
            for batch in loader:
                images, labels = _to_device(batch, device, channels_last)
                all_logits.append(model(images).float().cpu())
                all_labels.append(labels.cpu())
                bar.update(1)
    finally:
        bar.close()
        model.train(was_training)
    if not all_logits:
        raise ValueError("the loader yielded no batches.")
    return torch.cat(all_logits), torch.cat(all_labels).long()


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------
def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, epoch: int = 0,
                    history: History | None = None, *, scheduler: Any = None, scaler: Any = None,
                    best_model: dict[str, torch.Tensor] | None = None, planned_epochs: int | None = None) -> Path:
    """Save model, optimizer, scheduler, epoch and history to ``path`` (plain tensors, dicts and lists).

    >>> save_checkpoint("checkpoints/cnn.pt", model, optimizer, epoch=3, history=history)
    """
    path = Path(path)
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
    torch.save(checkpoint, temporary)
    os.replace(temporary, path)  # never leave a half-written checkpoint behind
    return path


def _check_state_dict_matches(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [f"{k}: checkpoint {list(state[k].shape)} vs model {list(expected[k].shape)}"
                   for k in expected if k in state and hasattr(state[k], "shape") and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong_shape:
        def first(items: list[str]) -> str:
            return ", ".join(items[:5]) + (f" ... (+{len(items) - 5} more)" if len(items) > 5 else "")
        problems = [f"missing keys: {first(missing)}" if missing else "",
                    f"unexpected keys: {first(unexpected)}" if unexpected else "",
                    f"shape mismatches: {first(wrong_shape)}" if wrong_shape else ""]
        raise ValueError(f"Checkpoint {path} does not match this model ({type(model).__name__}); "
                         + "; ".join(p for p in problems if p)
                         + ". Build the same architecture that was saved (same class, layer sizes, number of classes), "
                         "or delete the file / pass resume=False to train from scratch.")


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *,
                    scheduler: Any = None, scaler: Any = None, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint saved by ``save_checkpoint`` (or a bare state_dict) into ``model`` (and optimizer...).

    Returns the checkpoint dict with 'epoch' and 'history' (a ``History`` or None).

    >>> info = load_checkpoint("checkpoints/cnn.pt", model, optimizer)
    >>> info["epoch"]
    3
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}. Train first (fit(..., checkpoint_path=...)) or check the path.")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise ValueError(f"Could not read checkpoint {path} ({type(error).__name__}: {error}). "
                         "The file may be truncated or not a PyTorch checkpoint; delete it and train again.") from error
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path} holds a {type(checkpoint).__name__}, not a checkpoint or state_dict.")
    if "model" not in checkpoint:  # a bare state_dict, e.g. torch.save(model.state_dict(), path)
        checkpoint = {"model": checkpoint, "epoch": 0, "history": None}
    _check_state_dict_matches(model, checkpoint["model"], path)
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


# --------------------------------------------------------------------------------------------
# fit: the whole training run
# --------------------------------------------------------------------------------------------
def make_scheduler(name: str, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int,
                   max_lr: float | None = None) -> torch.optim.lr_scheduler.LRScheduler:
    """'onecycle' (warm up, then anneal) or 'cosine' (anneal to 0), both stepped after every batch."""
    total_steps = epochs * steps_per_epoch
    if name == "onecycle":
        max_lr = optimizer.param_groups[0]["lr"] if max_lr is None else max_lr
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    raise ValueError(f"Unknown scheduler {name!r}: use one of {', '.join(SCHEDULER_NAMES)}, None, or pass a scheduler object you made.")


def _is_better(value: float, best: float | None, monitor: str) -> bool:
    if best is None:
        return True
    return value < best if monitor == "val_loss" else value > best


def fit(model: nn.Module, train_loader: DataLoader, val_loader: DataLoader | None = None, *, epochs: int,
        optimizer: torch.optim.Optimizer | None = None, lr: float = 1e-3, weight_decay: float = 0.0,
        loss_fn: Callable | None = None, scheduler: str | Any | None = None, scheduler_step: str = "epoch",
        device: torch.device | str | None = None, amp: bool | str = "auto", channels_last: bool = False,
        checkpoint_path: str | Path | None = None, resume: bool = False,
        early_stopping_patience: int | None = None, monitor: str = "val_loss", restore_best: bool = False,
        progress: bool = True, verbose: bool = True) -> History:
    """Train ``model`` for ``epochs`` epochs; return a ``History`` (per-epoch loss, accuracy, lr, seconds).

    optimizer       None: AdamW(lr=lr, weight_decay=weight_decay).
    scheduler       'onecycle' or 'cosine' (built here, stepped every batch), or a scheduler you made
                    (stepped every epoch, or every batch with scheduler_step='batch').
    amp             'auto': bfloat16/float16 autocast on CUDA, off on CPU; False: always float32.
    checkpoint_path save everything after each epoch; resume=True continues from that file's epoch.
    early_stopping_patience  stop when ``monitor`` ('val_loss' or 'val_acc') has not improved for this many epochs.
    restore_best    at the end, put back the weights of the best epoch (by ``monitor``).

    >>> history = fit(model, train_loader, val_loader, epochs=10, lr=3e-3, scheduler="onecycle")
    epoch 1/10  train loss 0.612 acc 78.4%  val loss 0.452 acc 83.9%  4.1 s
    """
    # --- check the arguments before any work is done ---
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a whole number >= 1; got {epochs!r}.")
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {MONITORS}; got {monitor!r}.")
    if (early_stopping_patience is not None or restore_best) and val_loader is None:
        raise ValueError("Early stopping and restore_best compare epochs on validation data: pass a val_loader.")
    if scheduler_step not in ("epoch", "batch"):
        raise ValueError(f"scheduler_step must be 'epoch' or 'batch'; got {scheduler_step!r}.")
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs checkpoint_path (the file to continue from).")
    _check_loader(train_loader, "train_loader")
    if val_loader is not None:
        _check_loader(val_loader, "val_loader")

    # --- set up model, loss, optimizer, scheduler, mixed precision ---
    device = _model_device(model) if device is None else torch.device(device)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    if optimizer is None:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler_name = scheduler
    if isinstance(scheduler, str):
        scheduler = make_scheduler(scheduler, optimizer, epochs=epochs, steps_per_epoch=len(train_loader))
        scheduler_step = "batch"
    amp_dtype = _autocast_dtype(amp, device)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None

    # --- resume from a checkpoint if asked (and if one exists) ---
    history = History(monitor=monitor)
    best_value: float | None = None
    best_state: dict[str, torch.Tensor] | None = None
    start_epoch = 0
    if resume and Path(checkpoint_path).is_file():
        saved = load_checkpoint(checkpoint_path, model, optimizer, scheduler=scheduler, scaler=scaler, map_location=device)
        planned = saved.get("planned_epochs")
        if isinstance(scheduler_name, str) and planned not in (None, epochs):
            raise ValueError(f"{checkpoint_path} was saved during a {planned}-epoch {scheduler_name!r} schedule; resume it "
                             f"with epochs={planned}, or pass resume=False to start a new {epochs}-epoch run.")
        start_epoch = saved["epoch"]
        history = saved["history"] or history
        history.monitor = monitor
        best_state = saved.get("best_model")
        if saved.get("rng_state") is not None:
            torch.set_rng_state(saved["rng_state"])
        monitored = getattr(history, monitor)
        if monitored:  # the best epoch so far, by this run's monitor
            best_value = min(monitored) if monitor == "val_loss" else max(monitored)
            history.best_epoch = monitored.index(best_value) + 1
        if verbose:
            print(f"resumed from {checkpoint_path} after epoch {start_epoch}")
    elif resume and verbose:
        print(f"no checkpoint at {checkpoint_path} yet: starting from scratch")

    # --- the epochs ---
    for epoch in range(start_epoch + 1, epochs + 1):
        if history.stopped_early:
            break
        start = time.perf_counter()
        history.lr.append(optimizer.param_groups[0]["lr"])
        train = train_one_epoch(model, train_loader, loss_fn, optimizer, device, scaler=scaler,
                                scheduler=scheduler if scheduler_step == "batch" else None,
                                channels_last=channels_last, progress=progress, amp_dtype=amp_dtype,
                                desc=f"epoch {epoch}/{epochs}")
        if not math.isfinite(train["loss"]):
            raise FloatingPointError(f"The training loss became {train['loss']} in epoch {epoch}: "
                                     "training diverged. Lower the learning rate (e.g. 10x) and try again.")
        history.train_loss.append(train["loss"])
        history.train_acc.append(train["accuracy"])
        line = f"epoch {epoch}/{epochs}  train loss {train['loss']:.3f} acc {100 * train['accuracy']:.1f}%"

        if val_loader is not None:
            val = evaluate(model, val_loader, loss_fn, device, channels_last=channels_last, amp_dtype=amp_dtype)
            history.val_loss.append(val["loss"])
            history.val_acc.append(val["accuracy"])
            line += f"  val loss {val['loss']:.3f} acc {100 * val['accuracy']:.1f}%"
            value = val["loss"] if monitor == "val_loss" else val["accuracy"]
            if _is_better(value, best_value, monitor):
                best_value, history.best_epoch = value, epoch
                if restore_best:  # keep a copy of the best weights on the CPU
                    best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}

        if scheduler is not None and scheduler_step == "epoch":
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(history.val_loss[-1] if history.val_loss else train["loss"])
            else:
                scheduler.step()
        history.seconds.append(time.perf_counter() - start)
        line += f"  {history.seconds[-1]:.1f} s"
        if verbose:
            print(line)

        if early_stopping_patience is not None and epoch - history.best_epoch >= early_stopping_patience:
            history.stopped_early = True
            if verbose:
                print(f"early stopping: {monitor.replace('_', ' ')} has not improved for {early_stopping_patience} "
                      f"epochs (best {best_value:.3f} at epoch {history.best_epoch})")
        if checkpoint_path is not None:
            save_checkpoint(checkpoint_path, model, optimizer, epoch, history, scheduler=scheduler, scaler=scaler,
                            best_model=best_state if restore_best else None, planned_epochs=epochs)

    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
        if verbose:
            print(f"restored the weights of epoch {history.best_epoch} (best {monitor.replace('_', ' ')})")
    return history
