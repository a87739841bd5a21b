"""Training: a readable ``fit`` / ``evaluate`` pair, a fast tensor loader, and the bookkeeping beside them.

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
Labels are class indices (int64 [N]) or soft labels, one probability per class (float [N, classes], what mixup
and cutmix make); with soft labels a prediction counts as correct when it is the label's most likely class.

``device=None`` everywhere means "the device the model's parameters are already on".
``History``, ``save_checkpoint`` and ``load_checkpoint`` live in ``helpers.checkpoints`` and are re-exported here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from helpers.checkpoints import (History, WeightsMismatchError, check_checkpoint_path, load_checkpoint,
                                 save_checkpoint)
from helpers.common import progress_bar, usable_cpu_count
from helpers.device import pick_device
from helpers.distributed import is_main_process, sum_over_shards, unwrap

__all__ = ["BatchTransform", "BestEpoch", "History", "TensorLoader", "default_num_workers", "evaluate", "fit",
           "load_checkpoint", "make_scheduler", "predict", "resume_from_checkpoint", "save_checkpoint",
           "tensor_loader", "train_one_epoch"]

SCHEDULER_NAMES = ("onecycle", "cosine")
MONITORS = ("val_loss", "val_acc")
AMP_CHOICES = (True, False, None, "auto", "bf16", "bfloat16", "fp16", "float16")

ImageTransform = Callable[[torch.Tensor], torch.Tensor]
BatchAugment = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


# --------------------------------------------------------------------------------------------
# Data: a DataLoader over tensors kept in memory
# --------------------------------------------------------------------------------------------
class BatchTransform:
    """Turn a batch into model input: uint8 -> float in [0, 1], augment, normalise.

    ``augment`` is applied to each image separately (torchvision.transforms.v2 ops draw their
    random numbers once per call, so calling them on a whole batch would flip every image or none).
    ``batch_augment(images, labels) -> (images, labels)`` then sees the whole float batch in [0, 1], on the
    training device: tensor ops that draw one random number per image, or ``v2.CutMix`` / ``v2.MixUp``.

    >>> to_input = BatchTransform(mean=0.5, std=0.5)
    >>> images, labels = to_input(torch.full((2, 1, 4, 4), 255, dtype=torch.uint8), torch.tensor([0, 1]))
    >>> images.unique()
    tensor([1.])
    """

    def __init__(self, mean: float | Sequence[float] | None = None, std: float | Sequence[float] | None = None,
                 augment: ImageTransform | None = None, batch_augment: BatchAugment | None = None):
        if (mean is None) != (std is None):
            raise ValueError("Give both mean and std (or neither) to normalise images.")
        self.mean = None if mean is None else torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.std = None if std is None else torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.augment = augment
        self.batch_augment = batch_augment

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        if self.augment is not None:
            images = torch.stack([self.augment(image) for image in images])
        if self.batch_augment is not None:
            images, labels = self.batch_augment(images, labels)
        if self.mean is not None:
            if self.mean.shape[1] not in (1, images.shape[1]):
                raise ValueError(f"mean/std have {self.mean.shape[1]} values but the images have {images.shape[1]} channels.")
            images = (images - self.mean.to(images.device)) / self.std.to(images.device)
        return images, labels

    def __repr__(self) -> str:
        return (f"BatchTransform(mean={self.mean}, std={self.std}, augment={self.augment}, "
                f"batch_augment={self.batch_augment})")


class TensorLoader(DataLoader):
    """A DataLoader over in-memory tensors that moves each batch to ``device`` and applies ``batch_transform`` there."""

    def __init__(self, dataset: TensorDataset, *, batch_transform: BatchTransform, device: torch.device | str | None = None, **kwargs: Any):
        super().__init__(dataset, **kwargs)
        self.batch_transform = batch_transform
        self.device = None if device is None else pick_device(device)
        labels = dataset.tensors[1]
        # the largest class index, known here on the CPU, so the loops need no GPU round trip to check labels
        self.label_bound = int(labels.max()) + 1 if labels.ndim == 1 and len(labels) else None

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, labels in super().__iter__():
            if self.device is not None:
                images = images.to(self.device, non_blocking=True)
                labels = labels.to(self.device, non_blocking=True)
            yield self.batch_transform(images, labels)


def _as_labels(labels: torch.Tensor) -> torch.Tensor:
    """int64 class indices [N] or float32 soft labels [N, classes], or a clear error."""
    if labels.ndim == 2 and labels.is_floating_point():
        return labels.float()
    if labels.ndim != 1:
        raise ValueError(f"labels must be class indices [N] or soft labels [N, classes]; got shape {list(labels.shape)}.")
    if labels.is_floating_point():
        if not torch.equal(labels, labels.round()):
            raise ValueError("labels are float numbers that are not whole (e.g. 0.3): class indices must be whole "
                             "numbers 0..classes-1, and soft labels need one probability per class, shape [N, classes].")
        labels = labels.long()
    elif labels.dtype == torch.bool or labels.is_complex():
        raise ValueError(f"labels must be whole numbers (class indices); got dtype {labels.dtype}.")
    if len(labels) and int(labels.min()) < 0:
        position = int((labels < 0).nonzero()[0])
        raise ValueError(f"label {position} is {int(labels[position])}: labels must be class indices 0..classes-1 "
                         "(a negative label is often a 'missing' marker such as -1; drop or fix those samples).")
    return labels.long()


def tensor_loader(images: torch.Tensor, labels: torch.Tensor, batch_size: int = 128, shuffle: bool = False, *,
                  mean: float | Sequence[float] | None = None, std: float | Sequence[float] | None = None,
                  augment: ImageTransform | None = None, batch_augment: BatchAugment | None = None,
                  device: torch.device | str | None = None, drop_last: bool = False, seed: int | None = None) -> DataLoader:
    """A fast DataLoader over cached tensors (no per-image file decoding).

    ``images``: uint8 [N, C, H, W] (converted to float / 255 batch by batch) or float [N, C, H, W].
    ``labels``: class indices [N], or soft labels [N, classes].
    ``mean``/``std``: normalise each channel (a number or one per channel), done on the batch.
    ``augment``: optional callable applied to each float image of a batch (e.g. a ``transforms.v2.Compose``).
    ``batch_augment``: optional ``f(images, labels) -> (images, labels)`` applied to the whole float batch in
    [0, 1] after ``augment`` and before normalising, on ``device``: e.g. ``v2.CutMix(num_classes=10)``.
    ``device``: where batches are converted (pass your training device, so uint8 travels to the GPU).

    >>> loader = tensor_loader(images, labels, batch_size=64, shuffle=True, mean=0.286, std=0.353)
    >>> x, y = next(iter(loader)); x.dtype, x.shape
    (torch.float32, torch.Size([64, 1, 28, 28]))
    >>> def flip_half(x, y):  # one coin per image, as tensor ops: fast on a GPU
    ...     flip = torch.rand(len(x), device=x.device) < 0.5
    ...     return torch.where(flip[:, None, None, None], x.flip(-1), x), y
    >>> loader = tensor_loader(images, labels, 64, shuffle=True, batch_augment=flip_half, device="cuda")
    >>> loader = tensor_loader(images, labels, 64, shuffle=True, batch_augment=v2.CutMix(num_classes=10))
    >>> next(iter(loader))[1].shape   # cutmix makes soft labels
    torch.Size([64, 10])
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1 (e.g. 128); got {batch_size!r}.")
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
    return TensorLoader(TensorDataset(images, _as_labels(labels)), device=device,
                        batch_transform=BatchTransform(mean, std, augment, batch_augment),
                        batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                        num_workers=0, generator=generator)  # in-memory tensors: worker processes only add overhead


def default_num_workers() -> int:
    """DataLoader workers for datasets that read files: min(4, cores - 1), or 0 on a 1-core machine."""
    return max(0, min(4, usable_cpu_count() - 1))


# --------------------------------------------------------------------------------------------
# Small pieces used by the loops below: devices, checks with messages that say what to fix
# --------------------------------------------------------------------------------------------
def _resolve_device(model: nn.Module, device: torch.device | str | None) -> torch.device:
    """``device`` checked by ``pick_device`` (clear errors for 'tpu' or a missing 'cuda:7'), or the model's device."""
    if device is not None:
        return pick_device(device)
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _to_device(batch: Any, device: torch.device, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError("Each batch must be a pair (images, labels); this loader yields "
                         f"{type(batch).__name__}{'' if not isinstance(batch, (tuple, list)) else f' of length {len(batch)}'}.")
    images, labels = batch
    if labels.ndim == 0:
        raise ValueError("The loader yields single samples, not batches (each label is one number): "
                         "give the DataLoader a batch_size, e.g. DataLoader(dataset, batch_size=128).")
    images = images.to(device, non_blocking=True)
    labels = labels.to(device, non_blocking=True)
    if channels_last and images.ndim == 4:
        images = images.contiguous(memory_format=torch.channels_last)
    if not labels.is_floating_point() and labels.dtype != torch.long:
        labels = labels.long()  # CrossEntropyLoss wants int64 class indices
    return images, labels


def _check_outputs(outputs: torch.Tensor, labels: torch.Tensor, loss_name: str) -> None:
    """Catch the usual shape mistake of a model with a message that says what to fix."""
    if outputs.ndim != 2 or outputs.shape[0] != labels.shape[0]:
        raise ValueError(f"model returned shape {list(outputs.shape)} for a batch of {labels.shape[0]} labels; "
                         f"{loss_name} needs [batch, classes] (here [{labels.shape[0]}, num_classes]). "
                         "Check the last layers: flatten before the classifier (nn.Flatten()) and end with nn.Linear(..., num_classes).")


def _check_labels(labels: torch.Tensor, classes: int, batch: int, loss_name: str) -> None:
    """Labels must be class indices 0..classes-1 or soft labels [N, classes]; checked on every batch (``batch`` is 1-based)."""
    where = f"batch {batch}"
    if labels.is_floating_point():
        if labels.ndim != 2 or labels.shape[1] != classes:
            raise ValueError(f"the labels of {where} are float numbers of shape {list(labels.shape)}. {loss_name} needs "
                             f"class indices as whole numbers (labels.long()), or soft labels with one probability per "
                             f"class, shape [{labels.shape[0]}, {classes}] for this model.")
        return
    if labels.ndim != 1:
        raise ValueError(f"the labels of {where} have shape {list(labels.shape)}; class indices must be one number per image.")
    low, high = torch.stack(torch.aminmax(labels)).tolist()  # one trip to the CPU for both
    if high >= classes:
        raise ValueError(f"a label is {high} but the model only outputs {classes} classes (labels must be "
                         f"0..{classes - 1}; first seen in {where}). Make the last layer's out_features the number of classes.")
    if low < 0:
        raise ValueError(f"a label is {low} in {where}: labels must be class indices 0..{classes - 1} "
                         "(a negative label is often a 'missing' marker such as -1; drop or fix those samples).")


def _check_labels_cheaply(original: torch.Tensor, labels: torch.Tensor, classes: int, batch: int, loss_name: str,
                          label_bound: int | None) -> None:
    """``_check_labels`` where it costs no wait for the GPU: on the batch's CPU labels (before they were moved),
    against a ``TensorLoader``'s largest label, or, for labels that arrive on the GPU, on the first batch only."""
    if not isinstance(original, torch.Tensor) or original.device.type == "cpu" or labels.is_floating_point():
        _check_labels(original if isinstance(original, torch.Tensor) else labels, classes, batch, loss_name)
    elif label_bound is not None:
        if batch == 1 and label_bound > classes:
            _check_labels(torch.tensor([label_bound - 1]), classes, batch, loss_name)
    elif batch == 1:
        _check_labels(labels, classes, batch, loss_name)


def _must_sync(device: torch.device, step: int, total: int | None) -> bool:
    """Whether to look at a loss now: every step on the CPU (free); on a GPU every 10th step and the last one,
    because reading a number from the GPU makes the CPU wait and stops it queueing the next steps' work."""
    return device.type == "cpu" or step % 10 == 0 or (total is not None and step + 1 == total)


def _bad_inputs(images: torch.Tensor) -> str | None:
    """Say which images of a batch hold NaN or infinite values (None if all are finite)."""
    bad = ~torch.isfinite(images).flatten(1).all(dim=1)
    if not bad.any():
        return None
    kind = "NaN" if torch.isnan(images).any() else "infinite"
    positions = bad.nonzero().flatten().tolist()
    return (f"its inputs contain {kind} values ({len(positions)} of its {len(images)} images, at positions "
            f"{positions[:5]}{' ...' if len(positions) > 5 else ''} in the batch). Find them in your data with "
            "torch.isnan(images).flatten(1).any(dim=1).nonzero(), then fix or drop those images.")


def _count_correct(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """How many predictions are right; a soft label [N, classes] counts as its most likely class."""
    targets = labels.argmax(dim=1) if labels.ndim == 2 else labels
    return (outputs.argmax(dim=1) == targets).sum()


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None  # an iterable without len(): the bar counts without a total


def _check_loader(loader: Any, name: str) -> None:
    if _length(loader) == 0:  # (an iterable without len(): we find out while looping)
        raise ValueError(f"{name} is empty: it yields no batches (the dataset has no images, or drop_last=True "
                         "with fewer images than batch_size).")


def _autocast_dtype(amp: bool | str | None, device: torch.device) -> torch.dtype | None:
    """Which float type autocast uses: bf16 (or fp16 on older GPUs) on CUDA, never on CPU."""
    if amp not in AMP_CHOICES:
        raise ValueError(f"Unknown amp={amp!r}: use 'auto', True, False, 'bf16' or 'fp16'.")
    if amp is False or amp is None or device.type != "cuda":
        return None
    if amp in (True, "auto"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if amp in ("bf16", "bfloat16") else torch.float16


# --------------------------------------------------------------------------------------------
# One pass over the data
# --------------------------------------------------------------------------------------------
def train_one_epoch(model: nn.Module, loader: DataLoader, loss_fn: Callable, optimizer: torch.optim.Optimizer,
                    device: torch.device | str | None = None, *, scaler: torch.amp.GradScaler | None = None,
                    scheduler: Any = None, channels_last: bool = False, amp: bool | str = "auto",
                    on_step: Callable[[nn.Module], None] | None = None, progress: bool = True,
                    desc: str = "train") -> dict[str, float]:
    """Train for one pass over ``loader``; return {'loss': mean loss, 'accuracy': fraction correct}.

    ``scheduler`` (optional) is stepped after every batch, then ``on_step(model)`` is called (e.g. to update an EMA).
    ``amp``: autocast on CUDA ('auto', 'bf16', 'fp16' or False); fp16 needs a ``scaler`` (one is made if none given).
    """
    device = _resolve_device(model, device)
    _check_loader(loader, "the training loader")
    amp_dtype = _autocast_dtype(amp, device)
    if scaler is None and amp_dtype == torch.float16:
        scaler = torch.amp.GradScaler("cuda")
    loss_name = type(loss_fn).__name__
    model.train()
    total_loss = torch.zeros((), device=device)
    total_correct = torch.zeros((), device=device, dtype=torch.long)
    total_count = 0
    # (a bar we update by hand: tqdm.auto would call iter(loader) twice, starting DataLoader workers twice)
    total = _length(loader)
    label_bound = getattr(loader, "label_bound", None)
    finite = torch.ones((), dtype=torch.bool, device=device)
    bar = progress_bar(total, desc, enabled=progress)
    for step, batch in enumerate(loader):
        images, labels = _to_device(batch, device, channels_last)

        # 1. forward: the model turns images into one score (logit) per class
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            outputs = model(images)
            _check_outputs(outputs, labels, loss_name)
            _check_labels_cheaply(batch[1], labels, outputs.shape[1], step + 1, loss_name, label_bound)
            # 2. loss: how wrong the scores are (a single number to make smaller)
            loss = loss_fn(outputs, labels)
        finite = finite & torch.isfinite(loss).detach()  # (stays on the device: no waiting)
        if _must_sync(device, step, total) and not finite:  # a nan loss spreads nan into every weight
            where = f"batch {step + 1}" if device.type == "cpu" else f"one of batches {max(1, step - 8)}-{step + 1}"
            raise FloatingPointError(f"The training loss became {loss.item()} in {where} of {desc}: "
                                     + (_bad_inputs(images) or "the inputs of this batch are finite, so training diverged "
                                        "(or an earlier batch held NaN inputs). Lower the learning rate (e.g. 10x) and try again."))

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
        if on_step is not None:
            on_step(model)

        # keep score: sums over samples (not an average of batch averages)
        count = labels.shape[0]
        total_loss += loss.detach().float() * count
        total_correct += _count_correct(outputs, labels)
        total_count += count
        bar.update(1)
        if progress and _must_sync(torch.device("cuda"), step, total):  # every 10th step, on any device
            bar.set_postfix(loss=f"{total_loss.item() / total_count:.3f}", acc=f"{100 * total_correct.item() / total_count:.1f}%",
                            refresh=False)  # the bar redraws on its own schedule
    bar.close()
    if total_count == 0:
        raise ValueError("the training loader yielded no batches.")
    # under torchrun each process saw its own shard: add up the sums of all processes (else: unchanged)
    loss_sum, correct_sum, count = sum_over_shards(loader, total_loss, total_correct, total_count)
    return {"loss": loss_sum / count, "accuracy": correct_sum / count}


def _run_inference(model: nn.Module, loader: Any, device: torch.device | str | None, on_batch: Callable[[torch.Tensor, torch.Tensor], Any], *,
                   channels_last: bool, amp: bool | str, progress: bool, desc: str, label_check: str | None) -> list[Any]:
    """Run ``model`` over ``loader`` in eval mode without gradients; return ``on_batch(outputs, labels)`` of every batch.

    The one inference loop behind ``evaluate`` and ``predict``: autocast on CUDA, NaN inputs named, labels checked
    against the model's classes when ``label_check`` names the loss, training mode restored afterwards.
    """
    device = _resolve_device(model, device)
    _check_loader(loader, f"the {desc} loader")
    amp_dtype = _autocast_dtype(amp, device)
    was_training = model.training
    model.eval()
    results = []
    total = _length(loader)
    label_bound = getattr(loader, "label_bound", None)
    finite = torch.ones((), dtype=torch.bool, device=device)
    bar = progress_bar(total, desc, enabled=progress)
    try:
        with torch.inference_mode():
            for number, batch in enumerate(loader, start=1):
                images, labels = _to_device(batch, device, channels_last)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    outputs = model(images)
                _check_outputs(outputs, labels, label_check or "a classifier")
                if label_check is not None:
                    _check_labels_cheaply(batch[1], labels, outputs.shape[1], number, label_check, label_bound)
                finite = finite & torch.isfinite(outputs).all()  # (stays on the device: no waiting)
                if _must_sync(device, number - 1, total) and not finite:
                    where = f"Batch {number}" if device.type == "cpu" else f"One of batches {max(1, number - 9)}-{number}"
                    problem = _bad_inputs(images)
                    if problem is not None:
                        raise ValueError(f"{where} of the {desc}: {problem}")
                    raise FloatingPointError(f"{where} of the {desc}: the model's outputs contain NaN or inf although "
                                             "its inputs are finite, so its weights hold NaN or inf (did training diverge?).")
                results.append(on_batch(outputs, labels))
                bar.update(1)
    finally:
        bar.close()
        model.train(was_training)
    if not results:
        raise ValueError(f"the {desc} loader yielded no batches.")
    return results


def evaluate(model: nn.Module, loader: DataLoader, loss_fn: Callable | None = None,
             device: torch.device | str | None = None, *, channels_last: bool = False, amp: bool | str = "auto",
             progress: bool = False, desc: str = "evaluation") -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``loader`` (no gradients; training mode restored afterwards).

    >>> evaluate(model, test_loader)
    {'loss': 0.3805, 'accuracy': 0.862}
    """
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn

    def score(outputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        return loss_fn(outputs.float(), labels) * len(labels), _count_correct(outputs, labels), len(labels)

    losses, corrects, counts = zip(*_run_inference(model, loader, device, score, channels_last=channels_last, amp=amp,
                                                   progress=progress, desc=desc, label_check=type(loss_fn).__name__))
    # under torchrun with a sharded loader: the sums of all processes' shards (else: this process's own)
    loss_sum, correct_sum, count = sum_over_shards(loader, torch.stack(losses).sum(), torch.stack(corrects).sum(), sum(counts))
    return {"loss": loss_sum / count, "accuracy": correct_sum / count}


def predict(model: nn.Module, loader: DataLoader, device: torch.device | str | None = None, *,
            channels_last: bool = False, amp: bool | str = "auto", progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """All logits and labels of ``loader``: (float32 [N, classes], int64 [N]), both on the CPU.

    Labels are passed through unchecked (an unlabelled set may use -1); soft labels come back as float [N, classes].

    >>> logits, labels = predict(model, test_loader)
    >>> predictions = logits.argmax(dim=1)
    """
    def keep(outputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return outputs.float().cpu(), labels.cpu()

    logits, labels = zip(*_run_inference(model, loader, device, keep, channels_last=channels_last, amp=amp,
                                         progress=progress, desc="prediction", label_check=None))
    labels = torch.cat(labels)
    return torch.cat(logits), labels if labels.is_floating_point() else labels.long()


# --------------------------------------------------------------------------------------------
# Bookkeeping beside fit: schedules, the best epoch, resuming
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


@dataclass
class BestEpoch:
    """The best epoch so far by ``monitor`` ('val_loss': lower is better, 'val_acc': higher), and (``keep_weights``)
    a CPU copy of its weights for ``restore_best``.

    >>> best = BestEpoch("val_acc")
    >>> [best.update(accuracy, epoch, model) for epoch, accuracy in enumerate([0.80, 0.85, 0.84], start=1)]
    [True, True, False]
    >>> best.epoch, best.value
    (2, 0.85)
    """

    monitor: str = "val_loss"
    keep_weights: bool = False
    value: float | None = None
    epoch: int | None = None
    weights: dict[str, torch.Tensor] | None = None

    def update(self, value: float, epoch: int, model: nn.Module) -> bool:
        """Remember ``epoch`` (and copy the weights) if ``value`` beats the best so far; True if it did."""
        if self.value is not None and not (value < self.value if self.monitor == "val_loss" else value > self.value):
            return False
        self.value, self.epoch = value, epoch
        if self.keep_weights:
            self.weights = {k: v.detach().to("cpu", copy=True) for k, v in unwrap(model).state_dict().items()}
        return True

    @classmethod
    def from_history(cls, history: History, monitor: str, keep_weights: bool,
                     weights: dict[str, torch.Tensor] | None) -> "BestEpoch":
        """The best epoch of a run read back from a checkpoint (the first one, if several tie)."""
        best = cls(monitor, keep_weights, weights=weights if keep_weights else None)
        values = getattr(history, monitor)
        if values:
            best.value = min(values) if monitor == "val_loss" else max(values)
            best.epoch = values.index(best.value) + 1
        return best


def resume_from_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, *, scheduler: Any = None,
                           scaler: Any = None, device: torch.device | None = None, epochs: int,
                           scheduler_name: str | None = None, monitor: str = "val_loss", keep_best_weights: bool = False,
                           verbose: bool = True) -> tuple[int, History, BestEpoch]:
    """Load ``path`` into model, optimizer, scheduler and scaler; return (epochs done, History, BestEpoch).

    Without a file at ``path`` nothing is loaded: (0, an empty History, no best epoch). The random number generator
    is put back as it was when the checkpoint was saved, so the resumed run shuffles like an uninterrupted one.

    >>> done, history, best = resume_from_checkpoint("checkpoints/cnn.pt", model, optimizer, epochs=10)
    resumed from checkpoints/cnn.pt after epoch 3
    """
    if not Path(path).is_file():
        if verbose:
            print(f"no checkpoint at {path} yet: starting from scratch")
        return 0, History(monitor=monitor), BestEpoch(monitor, keep_best_weights)
    try:
        saved = load_checkpoint(path, model, optimizer, scheduler=scheduler, scaler=scaler,
                                map_location=device or "cpu")
    except WeightsMismatchError as error:
        raise WeightsMismatchError(f"{error} Or delete {path} / pass resume=False to train this model from scratch.") from error
    planned = saved.get("planned_epochs")
    if scheduler_name is not None and planned not in (None, epochs):
        raise ValueError(f"{path} was saved during a {planned}-epoch {scheduler_name!r} schedule; resume it "
                         f"with epochs={planned}, or pass resume=False to start a new {epochs}-epoch run.")
    if saved.get("rng_state") is not None:
        torch.set_rng_state(saved["rng_state"])
    history = saved["history"] or History()
    history.monitor = monitor
    best = BestEpoch.from_history(history, monitor, keep_best_weights, saved.get("best_model"))
    if best.epoch is not None:
        history.best_epoch = best.epoch
    if verbose:
        print(f"resumed from {path} after epoch {saved['epoch']}")
    return saved["epoch"], history, best


def _check_fit_arguments(epochs: Any, monitor: str, scheduler_step: str, val_loader: Any, early_stopping_patience: Any,
                         restore_best: bool, checkpoint_path: Any, resume: bool, train_loader: Any) -> None:
    """Refuse what cannot work before any time is spent training."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a whole number >= 1; got {epochs!r}.")
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {MONITORS}; got {monitor!r}.")
    if (early_stopping_patience is not None or restore_best) and val_loader is None:
        raise ValueError("Early stopping and restore_best compare epochs on validation data: pass a val_loader.")
    if scheduler_step not in ("epoch", "batch"):
        raise ValueError(f"scheduler_step must be 'epoch' or 'batch'; got {scheduler_step!r}.")
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs checkpoint_path (the file to continue from).")
    if checkpoint_path is not None:
        check_checkpoint_path(checkpoint_path)
    _check_loader(train_loader, "train_loader")
    if val_loader is not None:
        _check_loader(val_loader, "val_loader")


def _step_once_per_epoch(scheduler: Any, history: History) -> None:
    """Step a caller's scheduler after an epoch; ReduceLROnPlateau watches the validation (else training) loss."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(history.val_loss[-1] if history.val_loss else history.train_loss[-1])
    else:
        scheduler.step()


def _epoch_line(history: History, epoch: int, epochs: int, validated: bool) -> str:
    line = f"epoch {epoch}/{epochs}  train loss {history.train_loss[-1]:.3f} acc {100 * history.train_acc[-1]:.1f}%"
    if validated:
        line += f"  val loss {history.val_loss[-1]:.3f} acc {100 * history.val_acc[-1]:.1f}%"
    return line + f"  {history.seconds[-1]:.1f} s"


# --------------------------------------------------------------------------------------------
# fit: the whole training run
# --------------------------------------------------------------------------------------------
def fit(model: nn.Module, train_loader: DataLoader, val_loader: DataLoader | None = None, *, epochs: int,
        optimizer: torch.optim.Optimizer | None = None, lr: float = 1e-3, loss_fn: Callable | None = None,
        scheduler: str | Any | None = None, scheduler_step: str = "epoch", device: torch.device | str | None = None,
        amp: bool | str = "auto", channels_last: bool = False, checkpoint_path: str | Path | None = None,
        resume: bool = False, early_stopping_patience: int | None = None, monitor: str = "val_loss",
        restore_best: bool = False, on_step: Callable[[nn.Module], None] | None = None,
        progress: bool = True, verbose: bool = True) -> History:
    """Train ``model`` for ``epochs`` epochs; return a ``History`` (per-epoch loss, accuracy, lr, seconds).

    optimizer       None: AdamW(lr=lr) without weight decay (build your own optimizer to add it).
    scheduler       'onecycle' or 'cosine' (built here, stepped every batch), or a scheduler you made
                    (stepped every epoch, or every batch with scheduler_step='batch').
    amp             'auto': bfloat16/float16 autocast on CUDA, off on CPU; False: always float32.
    checkpoint_path save everything after each epoch; resume=True continues from that file's epoch.
    early_stopping_patience  stop when ``monitor`` ('val_loss' or 'val_acc') has not improved for this many epochs.
    restore_best    at the end, put back the weights of the best epoch (by ``monitor``).
    on_step         called as ``on_step(model)`` after every optimizer step, e.g. to keep an EMA of the weights.

    Under ``torchrun`` (``helpers.distributed``): pass a ``DistributedDataParallel`` model and loaders from
    ``sharded_loader``; fit calls the sampler's ``set_epoch`` every epoch, reports metrics summed over all processes,
    and prints, shows progress and saves checkpoints in process 0 only.

    >>> history = fit(model, train_loader, val_loader, epochs=10, lr=3e-3, scheduler="onecycle")
    epoch 1/10  train loss 0.612 acc 78.4%  val loss 0.452 acc 83.9%  4.1 s
    >>> from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    >>> ema = AveragedModel(model.to(device), multi_avg_fn=get_ema_multi_avg_fn(0.999), use_buffers=True)
    >>> history = fit(model, train_loader, val_loader, epochs=10, on_step=ema.update_parameters)
    >>> evaluate(ema, val_loader)
    {'loss': 0.3617, 'accuracy': 0.871}
    """
    _check_fit_arguments(epochs, monitor, scheduler_step, val_loader, early_stopping_patience, restore_best,
                         checkpoint_path, resume, train_loader)
    main = is_main_process()  # under torchrun only process 0 prints and saves; always True for one process
    verbose, progress = verbose and main, progress and main

    # --- set up model, loss, optimizer, scheduler, mixed precision ---
    device = _resolve_device(model, device)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    if optimizer is None:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    scheduler_name = scheduler if isinstance(scheduler, str) else None
    if scheduler_name is not None:
        scheduler = make_scheduler(scheduler_name, optimizer, epochs=epochs, steps_per_epoch=len(train_loader))
        scheduler_step = "batch"
    scaler = torch.amp.GradScaler("cuda") if _autocast_dtype(amp, device) == torch.float16 else None

    # --- start, or continue from a checkpoint if asked (and if one exists) ---
    done, history, best = 0, History(monitor=monitor), BestEpoch(monitor, keep_weights=restore_best)
    if resume:
        done, history, best = resume_from_checkpoint(
            checkpoint_path, unwrap(model), optimizer, scheduler=scheduler, scaler=scaler, device=device, epochs=epochs,
            scheduler_name=scheduler_name, monitor=monitor, keep_best_weights=restore_best, verbose=verbose)

    # --- the epochs ---
    for epoch in range(done + 1, epochs + 1):
        if history.stopped_early:
            break
        start = time.perf_counter()
        history.lr.append(optimizer.param_groups[0]["lr"])
        if hasattr(getattr(train_loader, "sampler", None), "set_epoch"):  # a DistributedSampler: a new order per epoch
            train_loader.sampler.set_epoch(epoch)
        train = train_one_epoch(model, train_loader, loss_fn, optimizer, device, scaler=scaler,
                                scheduler=scheduler if scheduler_step == "batch" else None, channels_last=channels_last,
                                amp=amp, on_step=on_step, progress=progress, desc=f"epoch {epoch}/{epochs}")
        history.train_loss.append(train["loss"])
        history.train_acc.append(train["accuracy"])

        if val_loader is not None:
            val = evaluate(model, val_loader, loss_fn, device, channels_last=channels_last, amp=amp)
            history.val_loss.append(val["loss"])
            history.val_acc.append(val["accuracy"])
            best.update(val["loss"] if monitor == "val_loss" else val["accuracy"], epoch, model)
            history.best_epoch = best.epoch

        if scheduler is not None and scheduler_step == "epoch":
            _step_once_per_epoch(scheduler, history)
        history.seconds.append(time.perf_counter() - start)
        if verbose:
            print(_epoch_line(history, epoch, epochs, validated=val_loader is not None))

        if early_stopping_patience is not None and epoch - history.best_epoch >= early_stopping_patience:
            history.stopped_early = True
            if verbose:
                print(f"early stopping: {monitor.replace('_', ' ')} has not improved for {early_stopping_patience} "
                      f"epochs (best {best.value:.3f} at epoch {history.best_epoch})")
        if checkpoint_path is not None and main:
            save_checkpoint(checkpoint_path, unwrap(model), optimizer, epoch, history, scheduler=scheduler, scaler=scaler,
                            best_model=best.weights, planned_epochs=epochs)

    if restore_best and best.weights is not None:
        unwrap(model).load_state_dict(best.weights)
        if verbose:
            print(f"restored the weights of epoch {history.best_epoch} (best {monitor.replace('_', ' ')})")
    return history
