"""Tricks of the fastest CIFAR-10 trainers (airbench94, Jordan 2024) that the course's benchmarks add to ``fit``.

Lesson 06 explains each one in a table; ``benchmarks/cifar10.py`` and ``benchmarks/fashion_mnist_vgg.py`` use them::

    >>> from helpers.models import make_fast_vgg
    >>> from helpers.fast_training import (init_whitening, make_sgd, Lookahead, triangle_schedule,
    ...                                    predict_with_tta)
    >>> model = make_fast_vgg().to(device)
    >>> init_whitening(model[0], normalised_train_images[:5000])      # first layer: frozen patch whitening
    >>> optimizer = make_sgd(model, lr=11.5, weight_decay=0.0153, momentum=0.85, batch_size=1024)
    >>> schedule = triangle_schedule(optimizer, total_steps=len(loader) * epochs)
    >>> lookahead = Lookahead(model, total_steps=len(loader) * epochs)
    >>> fit(model, loader, epochs=epochs, optimizer=optimizer, scheduler=schedule, scheduler_step="batch",
    ...     on_step=lookahead.step, amp="auto", channels_last=True)
    >>> logits, labels = predict_with_tta(model, test_loader, flip=True, shift=1)

Everything runs unchanged on a CPU and on a GPU (no host synchronisation per step).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from helpers.device import pick_device
from helpers.training import fit, predict

__all__ = ["init_whitening", "make_sgd", "triangle_schedule", "Lookahead", "predict_with_tta", "fit_fast"]


@torch.no_grad()
def init_whitening(conv: nn.Conv2d, images: torch.Tensor, eps: float = 5e-4) -> None:
    """Set a k x k conv with 2 * C * k * k filters to whiten the k x k patches of ``images``, and freeze its weights.

    The filters are the eigenvectors of the patches' covariance divided by the square root of their eigenvalues
    (and their negatives, so a ReLU/GELU after it loses nothing): the network starts from decorrelated inputs of
    equal variance instead of learning that in its first epochs. ``images``: normalised float [N, C, H, W].
    """
    c, k = conv.in_channels, conv.kernel_size[0]
    if conv.out_channels != 2 * c * k * k or conv.kernel_size != (k, k):
        raise ValueError(f"a whitening conv needs 2 * {c} * {k}^2 = {2 * c * k * k} square filters; this one has "
                         f"{conv.out_channels} of size {conv.kernel_size}.")
    patches = images.float().unfold(2, k, 1).unfold(3, k, 1)  # [N, C, H', W', k, k]
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    filters = (eigenvectors.T / torch.sqrt(eigenvalues + eps)[:, None]).reshape(c * k * k, c, k, k)
    conv.weight.copy_(torch.cat([filters, -filters]).to(conv.weight))
    conv.weight.requires_grad_(False)


def make_sgd(model: nn.Module, *, lr: float, weight_decay: float, momentum: float, batch_size: int,
             bias_lr_scale: float = 64.0) -> torch.optim.SGD:
    """Nesterov SGD with airbench's decoupled hyperparameters: ``lr`` and ``weight_decay`` are per 1,024 images
    and independent of the momentum; batch norm shifts learn ``bias_lr_scale`` times faster (same decay).

    airbench sums the loss over the batch; ``fit``'s loss is the batch mean, so the step size is multiplied by
    ``batch_size`` here to make the same updates.
    """
    kilostep = 1024 * (1 + 1 / (1 - momentum))
    base_lr, decay = lr * batch_size / kilostep, weight_decay * batch_size / kilostep
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    norm_ids = {id(p) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) for p in m.parameters()}
    norms = [p for _, p in trainable if id(p) in norm_ids]
    others = [p for _, p in trainable if id(p) not in norm_ids]
    groups = [dict(params=others, lr=base_lr, weight_decay=decay / base_lr)]
    if norms:
        groups.append(dict(params=norms, lr=base_lr * bias_lr_scale, weight_decay=decay / (base_lr * bias_lr_scale)))
    return torch.optim.SGD(groups, momentum=momentum, nesterov=True)


def triangle_schedule(optimizer: torch.optim.Optimizer, total_steps: int, *, start: float = 0.2, peak_at: float = 0.23,
                      end: float = 0.07) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate x ``start`` rising linearly to x1 at ``peak_at`` of the run, then falling to x ``end``.

    Step it after every batch (``fit(..., scheduler=..., scheduler_step="batch")``).
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1; got {total_steps}.")
    peak = max(1, int(peak_at * total_steps))

    def factor(step: int) -> float:
        if step <= peak:
            return start + (1 - start) * step / peak
        return 1 + (end - 1) * min(1.0, (step - peak) / max(1, total_steps - peak))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Lookahead:
    """Every ``every`` steps, move a slow copy of the weights towards the model's and put the model back on it
    (Zhang et al. 2019, scheduled as in airbench94: no pull at first, a stronger one towards the end; after the
    last step the model takes the slow weights). Pass ``lookahead.step`` as ``fit``'s ``on_step``.

    Batch norm's running statistics are averaged too (every floating-point entry of the state dict).
    """

    def __init__(self, model: nn.Module, total_steps: int, every: int = 5, decay: float = 0.95 ** 5):
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1; got {total_steps}.")
        self.slow = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}
        self.total_steps, self.every, self.decay, self.steps = total_steps, every, decay, 0

    @torch.no_grad()
    def step(self, model: nn.Module) -> None:
        self.steps += 1
        last = self.steps == self.total_steps
        if self.steps % self.every and not last:
            return
        # weight of the slow copy: 0 at the start, `decay` at the end; 1 after the last step (keep the slow weights)
        alpha = 1.0 if last else self.decay * (self.steps / self.total_steps) ** 3
        for name, weight in model.state_dict().items():
            if name in self.slow:
                self.slow[name].lerp_(weight, 1 - alpha)
                weight.copy_(self.slow[name])


class _Viewed:
    """A loader whose images pass through ``view`` (for test-time augmentation)."""

    def __init__(self, loader: DataLoader, view):
        self.loader, self.view = loader, view

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for images, labels in self.loader:
            yield self.view(images), labels


def _shifted(shift: int, flip: bool):
    """A view that moves each image by ``shift`` pixels along both axes (borders reflected), then maybe mirrors it."""
    def view(x: torch.Tensor) -> torch.Tensor:
        pad = abs(shift)
        padded = nn.functional.pad(x, (pad,) * 4, mode="reflect")
        start = pad - shift
        moved = padded[..., start:start + x.shape[-2], start:start + x.shape[-1]]
        return moved.flip(-1) if flip else moved
    return view


def predict_with_tta(model: nn.Module, loader: DataLoader, device: torch.device | str | None = None, *,
                     flip: bool = True, shift: int = 0, channels_last: bool = False,
                     amp: bool | str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Test-time augmentation: average the logits of each image and its mirror image (``flip``); with ``shift``,
    give half the weight to copies moved by ``shift`` pixels down-right and up-left (and their mirror images),
    as airbench's ``tta_level=2`` does.

    Returns (logits float32 [N, classes], labels) on the CPU, like ``helpers.training.predict``.
    """
    plain = [_shifted(0, False)] + ([_shifted(0, True)] if flip else [])
    moved = [_shifted(s, f) for s in ((shift, -shift) if shift else ()) for f in ((False, True) if flip else (False,))]
    share = 0.5 if moved else 1.0
    weighted = [(view, share / len(plain)) for view in plain] + [(view, 0.5 / len(moved)) for view in moved]
    total, labels = None, None
    for view, weight in weighted:
        logits, labels = predict(model, _Viewed(loader, view), device, channels_last=channels_last, amp=amp)
        total = weight * logits if total is None else total + weight * logits
    return total, labels


def fit_fast(model: nn.Module, train_loader, epochs: int, *, lr: float = 11.5, weight_decay: float = 0.0153,
             momentum: float = 0.85, label_smoothing: float = 0.2, whiten_with: torch.Tensor | None = None,
             lookahead: bool = True, val_loader=None, device: torch.device | str | None = None,
             channels_last: bool = True, amp: bool | str = "auto", progress: bool = True, verbose: bool = True):
    """``fit`` with airbench94's recipe: patch-whitening init (from ``whiten_with``, normalised training images),
    decoupled Nesterov SGD, label smoothing, the triangular schedule and Lookahead. Returns fit's ``History``.

    ``train_loader`` needs ``batch_size`` (a ``DeviceLoader`` or a DataLoader); ``val_loader`` is optional.
    """
    if device is not None:
        model.to(pick_device(device))
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if whiten_with is not None:
        first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
        init_whitening(first, whiten_with.to(next(model.parameters()).device))
    total_steps = len(train_loader) * epochs
    optimizer = make_sgd(model, lr=lr, weight_decay=weight_decay, momentum=momentum, batch_size=train_loader.batch_size)
    schedule = triangle_schedule(optimizer, total_steps)
    slow = Lookahead(model, total_steps) if lookahead else None
    return fit(model, train_loader, val_loader, epochs=epochs, optimizer=optimizer,
               loss_fn=nn.CrossEntropyLoss(label_smoothing=label_smoothing), scheduler=schedule,
               scheduler_step="batch", device=device, amp=amp, channels_last=channels_last,
               on_step=None if slow is None else slow.step, progress=progress, verbose=verbose)
