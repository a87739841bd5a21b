"""Lesson 08: the course's ``fit`` on several processes with DistributedDataParallel, launched by torchrun.

    torchrun --standalone --nproc_per_node=2 benchmarks/ddp_fashion_mnist.py            # 2 CPU processes (gloo)
    torchrun --standalone --nproc_per_node=4 benchmarks/ddp_fashion_mnist.py --epochs 5  # 4 GPUs (NCCL)
    python benchmarks/ddp_fashion_mnist.py                                                # one process, same code

Every process runs this file. ``--batch-size`` is the global batch size (the images of one optimizer step, all
processes together); each process takes ``batch_size / world_size`` of them from its own shard, so one process
and N processes make the same steps on the same batches: the weights of a run with N processes and those of a
single-process run agree to float rounding (``tests/test_distributed.py`` checks it with a model without batch
norm, whose statistics would be per process). Process 0 prints the summary and saves ``--out``/``model.pt``;
every process writes ``--out``/``rank<r>.json`` (its metrics and a checksum of its weights) and, with
``--save-every-rank``, its weights, so the test can compare the processes.

What changes compared to a one-process script carries a DDP comment below.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a clone without installing

from helpers import distributed  # noqa: E402
from helpers.data import FASHION_MNIST_MEAN, FASHION_MNIST_STD, load_fashion_mnist_tensors  # noqa: E402
from helpers.device import device_label, seed_everything, set_cpu_threads  # noqa: E402
from helpers.models import count_parameters, make_vgg  # noqa: E402
from helpers.training import evaluate, fit  # noqa: E402


def tiny_cnn() -> nn.Sequential:
    """A small CNN without batch norm (about 6,000 weights): the same step in every process, to float rounding."""
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(32, 10))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("tiny", "vgg_tiny"), default="vgg_tiny",
                        help="tiny: a CNN without batch norm; vgg_tiny: lesson 05's network (batch norm per process)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=6000, help="training images (class-balanced; 0: all 60,000)")
    parser.add_argument("--test-limit", type=int, default=2000, help="test images (0: all 10,000)")
    parser.add_argument("--batch-size", type=int, default=128, help="global batch size (all processes together)")
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (momentum 0.9)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per process (default 1)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=None, help="folder for model.pt (process 0) and rank<r>.json (every process)")
    parser.add_argument("--save-every-rank", action="store_true",
                        help="every process also saves its weights as rank<r>.pt (for comparing them)")
    args = parser.parse_args(argv)

    device = distributed.setup()                                 # DDP: join the group (gloo on CPU, NCCL on GPU)
    rank, world = distributed.rank(), distributed.world_size()
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} must be divisible by the {world} processes.")
    set_cpu_threads(args.threads)
    seed_everything(args.seed)                                   # the same initial weights in every process
    x_train, y_train = load_fashion_mnist_tensors("train", args.data_dir, limit=args.limit or None, seed=args.seed)
    x_test, y_test = load_fashion_mnist_tensors("test", args.data_dir, limit=args.test_limit or None, seed=args.seed)
    per_process = args.batch_size // world
    common = dict(mean=FASHION_MNIST_MEAN, std=FASHION_MNIST_STD, device=device)
    train_loader = distributed.sharded_loader(x_train, y_train, per_process, shuffle=True, seed=args.seed, **common)  # DDP
    test_loader = distributed.sharded_loader(x_test, y_test, 500, **common)                                          # DDP

    model = (tiny_cnn() if args.model == "tiny" else make_vgg("vgg_tiny")).to(device)
    if distributed.is_distributed():  # DDP: gradients averaged across the processes in backward
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)  # DDP
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    if distributed.is_main_process():
        print(f"{world} process(es) on {device_label(device)}, backend {torch.distributed.get_backend() if world > 1 else 'none'}: "
              f"{len(x_train):,} training images, {per_process} per process per step "
              f"({args.batch_size} per step in all), {args.model} with {count_parameters(model):,} weights")

    start = time.perf_counter()
    history = fit(model, train_loader, epochs=args.epochs, optimizer=optimizer, device=device, progress=False)
    seconds = time.perf_counter() - start
    test = evaluate(model, test_loader)                        # summed over the shards: the whole test set

    weights = torch.cat([p.detach().flatten().cpu() for p in distributed.unwrap(model).parameters()])
    results = {"rank": rank, "world_size": world, "test_accuracy": test["accuracy"], "test_loss": test["loss"],
               "train_accuracy": history.train_acc[-1], "weights_sum": float(weights.double().sum()),
               "weights_abs_sum": float(weights.double().abs().sum()), "seconds": round(seconds, 2),
               "device": device_label(device)}
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"rank{rank}.json").write_text(json.dumps(results, indent=2))
        if args.save_every_rank:
            torch.save(distributed.unwrap(model).state_dict(), out / f"rank{rank}.pt")
        if distributed.is_main_process():                      # DDP: one process writes the model file
            torch.save(distributed.unwrap(model).state_dict(), out / "model.pt")
    if distributed.is_main_process():                          # DDP: one process reports and saves
        print(f"test accuracy {100 * test['accuracy']:.2f} % after {args.epochs} epoch(s), {seconds:.1f} s of training")
        print(json.dumps(results))
    distributed.teardown()                                     # DDP: leave the group
    return results


if __name__ == "__main__":
    main()
