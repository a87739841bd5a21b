"""Training on several processes at once with DistributedDataParallel (DDP), launched by ``torchrun``.

Every process runs the same script on its own share (shard) of the data; after each backward pass DDP averages the
gradients of all processes, so every copy of the model takes the same step and the weights stay identical. One
process per GPU (NCCL moves the gradients), or a few CPU processes (gloo) to try it on a laptop::

    torchrun --standalone --nproc_per_node=2 benchmarks/ddp_fashion_mnist.py --epochs 2

What a script changes compared to one process (the rest, ``fit`` included, stays as it is)::

    >>> from torch.nn.parallel import DistributedDataParallel
    >>> from helpers.distributed import setup, teardown, sharded_loader, is_main_process
    >>> device = setup()                                   # 1. join the process group (gloo on CPU, NCCL on GPUs)
    >>> train_loader = sharded_loader(x, y, batch_size=64, shuffle=True, seed=0, device=device)  # 2. its own shard
    >>> model = DistributedDataParallel(model.to(device))  # 3. gradients averaged across processes
    >>> history = fit(model, train_loader, val_loader, epochs=3)   # 4. unchanged (see below)
    >>> if is_main_process(): torch.save(unwrap(model).state_dict(), "model.pt")  # 5. one process writes files
    >>> teardown()

``fit`` (``helpers.training``) does its part by itself: it calls ``sampler.set_epoch(epoch)`` so each epoch is
shuffled differently (and the same way in every process), prints, draws progress bars and saves checkpoints in
process 0 only, and adds up the loss and accuracy counts of all shards with ``sum_over_shards`` before dividing, so
every process reports the metrics of the whole data set. Run without ``torchrun``, everything here falls back to
one process: ``setup()`` returns the usual device and the sums are the process's own.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler, TensorDataset

__all__ = ["setup", "teardown", "is_distributed", "rank", "world_size", "is_main_process", "is_sharded",
           "sum_over_shards", "sharded_loader", "unwrap"]


def is_distributed() -> bool:
    """True inside a process group (a script launched by torchrun, after ``setup()``)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's number, 0..world_size-1 (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """How many processes train together (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """True in process 0 (and in a plain single-process run): the one that prints, logs and saves files."""
    return rank() == 0


def setup(backend: str | None = None) -> torch.device:
    """Join the process group torchrun describes in the environment; return this process's device.

    torchrun sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` for every process it
    starts. ``backend``: None picks NCCL when CUDA is available (process ``LOCAL_RANK`` gets GPU ``LOCAL_RANK``) and
    gloo otherwise (CPU processes). Without those variables (a plain ``python script.py``) nothing is joined and
    the device is ``cuda`` if there is one, else ``cpu``.
    """
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not dist.is_available():
        raise RuntimeError("This PyTorch build has no torch.distributed: train with one process (python script.py).")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"process {local_rank} has no GPU of its own ({torch.cuda.device_count()} visible): "
                               "start at most one process per GPU (--nproc_per_node), or use backend='gloo'.")
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if not is_distributed():
        dist.init_process_group(backend)
    return device


def teardown() -> None:
    """Leave the process group (call it once at the end of the script; harmless without one)."""
    if is_distributed():
        dist.destroy_process_group()


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a ``DistributedDataParallel`` (or ``DataParallel``) wrapper; other models unchanged.

    Save ``unwrap(model).state_dict()``: its keys have no ``module.`` prefix, so one process can load the file.
    """
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


def is_sharded(loader: Any) -> bool:
    """True when ``loader`` gives each process only its own shard (a ``DistributedSampler`` in a process group)."""
    return is_distributed() and isinstance(getattr(loader, "sampler", None), DistributedSampler)


def sum_over_shards(loader: Any, *values: torch.Tensor | float) -> tuple[float, ...]:
    """Add up sums (loss x images, correct images, images) over every process's shard of ``loader``.

    Each process only saw its shard; one ``all_reduce`` adds the numbers of all processes, so dividing afterwards
    gives the metric of the whole data set in every process. Without a process group, or when every process saw
    all of ``loader`` (no ``DistributedSampler``), the values come back unchanged, as Python floats.

    A ``DistributedSampler`` pads the data set with repeated images until each process has the same number of
    them (at most ``world_size - 1`` extra), so the sums can count a few images twice.
    """
    if not is_sharded(loader):
        return tuple(float(v) for v in values)
    device = next((v.device for v in values if isinstance(v, torch.Tensor)), torch.device("cpu"))
    if dist.get_backend() == "nccl" and device.type != "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    totals = torch.stack([torch.as_tensor(v, device=device).detach().double() for v in values])
    dist.all_reduce(totals, op=dist.ReduceOp.SUM)
    return tuple(totals.tolist())


def sharded_loader(images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, shuffle: bool = False,
                   seed: int = 0, drop_last: bool = False, mean: float | Sequence[float] | None = None,
                   std: float | Sequence[float] | None = None, augment: Any = None, batch_augment: Any = None,
                   device: torch.device | str | None = None, num_replicas: int | None = None,
                   shard: int | None = None):
    """``tensor_loader``'s batches, but only this process's shard, picked by a ``DistributedSampler``.

    ``batch_size`` is per process: with 2 processes and ``batch_size=64`` each optimizer step sees 128 images, as
    one process with ``batch_size=128`` would. Every epoch the sampler shuffles all indices with ``seed + epoch``
    (the same order in every process; ``fit`` calls ``set_epoch``) and gives process r the indices r, r + W,
    r + 2W, ... of that order. ``num_replicas`` / ``shard`` override the process group's (e.g. ``num_replicas=1,
    shard=0``: one process that shuffles exactly like the group does, for comparisons).
    """
    from helpers.training import BatchTransform, TensorLoader, _as_labels  # (training imports this module)

    images, labels = torch.as_tensor(images), torch.as_tensor(labels)
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"need as many labels as images, and at least one; got {len(images)} and {len(labels)}.")
    dataset = TensorDataset(images, _as_labels(labels))
    sampler = DistributedSampler(dataset, num_replicas=world_size() if num_replicas is None else num_replicas,
                                 rank=rank() if shard is None else shard, shuffle=shuffle, seed=seed)
    return TensorLoader(dataset, batch_transform=BatchTransform(mean, std, augment, batch_augment), device=device,
                        batch_size=batch_size, sampler=sampler, drop_last=drop_last, num_workers=0)
