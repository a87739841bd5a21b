"""Benchmark: CIFAR-10 from scratch (50,000 train / 10,000 test images) with lesson 06's fast recipe.

Prints test accuracy, seconds, images per second and the device, then one JSON line. With ``--airbench`` it also
trains airbench94 (Jordan 2024, ``pip install airbench``) in the same process on the same GPU and prints both times
and their ratio.

    python benchmarks/cifar10.py --quick                         # target on a 2-core CPU: >= 75 % in <= 5 min
    python benchmarks/cifar10.py --full --device cuda --airbench # target on a GPU: >= 94 % in <= 2x airbench94's time
    python benchmarks/cifar10.py --full --epochs 14 --seed 1     # try a variant (--widths, --batch-size, ...)

Measured: ``--quick`` 82.54 % (81.26 % without test-time augmentation) in 1,244 s on 2 CPU cores shared with other
jobs (load about 6; 667 CPU-seconds on 2 threads), so the 5-minute target is still to be timed on idle cores. The
GPU run is not measured yet.

The recipe (lesson 06 explains each piece, and which the lesson itself leaves out): the images stay on the training
device as uint8 and are augmented there in whole batches (derandomised flips, random 2-pixel translations with
reflected borders); airbench94's VGG-style network (``helpers.models.make_fast_vgg``) with a patch-whitening first
layer and identity-initialised convs; Nesterov SGD with batch 1024, label smoothing 0.2, a triangular learning-rate
schedule and Lookahead; bf16 autocast and channels_last on a GPU; test-time augmentation (flips and 1-pixel
shifts). The test set is used once, at the end (``--curve`` also prints it after every epoch, untimed decisions:
nothing is chosen on it).

Timing: on a GPU each method first trains once untimed (kernel selection, allocations), as airbench's own
``warmup94`` does; the timed run counts building the network, whitening, training and the test-time-augmented
evaluation, not loading the data set onto the device.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a clone without installing

from helpers.augment import DeviceLoader  # noqa: E402
from helpers.data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, load_cifar10_tensors  # noqa: E402
from helpers.data.storage import writable_root  # noqa: E402
from helpers.device import device_label, pick_device, seed_everything, set_cpu_threads  # noqa: E402
from helpers.fast_training import fit_fast, predict_with_tta  # noqa: E402
from helpers.models import count_parameters, make_fast_vgg  # noqa: E402
from helpers.results import record  # noqa: E402

TARGETS = {"quick": 0.75, "full": 0.94}
# mode: widths of the three blocks, epochs, batch size. Quick: a quarter of the channels for a 2-core CPU.
SETTINGS = {
    "quick": ((16, 64, 64), 5, 512),
    "full": ((64, 256, 256), 12, 1024),
}
AIRBENCH_HINT = ("airbench is not installed. It is only needed for this comparison (not by the course): "
                 "pip install airbench")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_and_test(x_train, y_train, x_test, y_test, *, widths, epochs, batch_size, device, seed, curve=False,
                   progress=False, verbose=True) -> dict:
    """One run of the recipe; returns accuracy (with and without test-time augmentation) and seconds."""
    on_gpu = device.type == "cuda"
    seed_everything(seed)
    train_loader = DeviceLoader(x_train, y_train, batch_size, shuffle=True, drop_last=True, mean=CIFAR10_MEAN,
                                std=CIFAR10_STD, flip="alternate", crop_padding=2, padding_mode="reflect",
                                device=device, seed=seed)
    test_loader = DeviceLoader(x_test, y_test, 2000, mean=CIFAR10_MEAN, std=CIFAR10_STD, device=device)
    synchronize(device)
    start = time.perf_counter()
    model = make_fast_vgg(widths, num_classes=len(CIFAR10_CLASSES))
    whiten_with = test_loader.transform(x_train[:5000].to(device), y_train[:5000].to(device), augment=False)[0]
    history = fit_fast(model, train_loader, epochs, whiten_with=whiten_with, device=device, channels_last=on_gpu,
                       val_loader=test_loader if curve else None, progress=progress, verbose=verbose)
    logits, labels = predict_with_tta(model, test_loader, device, flip=True, shift=1, channels_last=on_gpu)
    synchronize(device)
    seconds = time.perf_counter() - start
    plain_logits, _ = predict_with_tta(model, test_loader, device, flip=False, shift=0, channels_last=on_gpu)
    return {"test_accuracy": (logits.argmax(1) == labels).float().mean().item(),
            "test_accuracy_without_tta": (plain_logits.argmax(1) == labels).float().mean().item(),
            "seconds": seconds, "train_seconds": history.total_seconds,
            "images_per_second": epochs * len(train_loader) * batch_size / history.total_seconds,
            "parameters": count_parameters(model)}


def write_airbench_data(x_train, y_train, x_test, y_test, folder: Path) -> Path:
    """airbench reads ``cifar10/train.pt`` and ``cifar10/test.pt`` (uint8 N x 32 x 32 x 3) from the working
    directory and downloads CIFAR-10 when they are missing; write them from the course's copy so it runs offline."""
    target = folder / "cifar10"
    target.mkdir(parents=True, exist_ok=True)
    for name, images, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
        path = target / f"{name}.pt"
        if not path.is_file():
            partial = path.with_suffix(".partial")
            torch.save({"images": images.permute(0, 2, 3, 1).contiguous().cpu(), "labels": labels.cpu(),
                        "classes": list(CIFAR10_CLASSES)}, partial)
            os.replace(partial, path)
    return folder


def run_airbench(folder: Path, device: torch.device) -> dict:
    """airbench94 as its package ships it: one untimed warm-up, then a timed run (training + its TTA evaluation)."""
    try:
        import airbench
        from airbench.lib_airbench94 import hyp
    except ImportError as err:
        raise SystemExit(AIRBENCH_HINT) from err
    here = Path.cwd()
    os.chdir(folder)  # airbench reads ./cifar10/*.pt
    try:
        airbench.warmup94()
        loader = airbench.CifarLoader("cifar10", train=True, batch_size=hyp["opt"]["batch_size"], aug=hyp["aug"],
                                      altflip=True)
        test_loader = airbench.CifarLoader("cifar10", train=False, batch_size=2000)
        synchronize(device)
        start = time.perf_counter()
        model = airbench.train94(loader, verbose=False)
        accuracy = airbench.evaluate(model, test_loader, tta_level=hyp["net"]["tta_level"])
        synchronize(device)
        return {"test_accuracy": accuracy, "seconds": time.perf_counter() - start}
    finally:
        os.chdir(here)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="short run for a CPU (default)")
    mode.add_argument("--full", action="store_true", help="the full recipe (a GPU run of seconds; hours on a CPU)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    parser.add_argument("--epochs", type=int, default=None, help="override the mode's number of epochs")
    parser.add_argument("--widths", type=int, nargs=3, default=None, metavar="W", help="channels of the three blocks")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--airbench", action="store_true", help="also time airbench94 in this process (GPU only)")
    parser.add_argument("--curve", action="store_true", help="print the test accuracy after every epoch (slower)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="data root (default: $COURSE_DATA, ./data, $COURSE_DATA_MIRROR)")
    parser.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)

    name = "full" if args.full else "quick"
    device = pick_device(args.device)
    on_gpu = device.type == "cuda"
    if args.airbench and not on_gpu:
        parser.error("--airbench needs a CUDA GPU (airbench94 is written for one).")
    widths, epochs, batch_size = SETTINGS[name]
    widths = tuple(args.widths or widths)
    epochs = args.epochs or epochs
    batch_size = args.batch_size or batch_size
    threads = set_cpu_threads(args.threads)
    if on_gpu:
        torch.backends.cudnn.benchmark = True  # pick the fastest conv kernels once (airbench does the same)
    if name == "full" and not on_gpu:
        print("Full mode on a CPU trains a 2-million-parameter network for 12 epochs: expect hours on a laptop "
              "(the progress bar shows the rate). --quick trains 5 epochs of a smaller network instead.", flush=True)

    start = time.perf_counter()
    x_train, y_train = load_cifar10_tensors("train", root=args.data_dir, progress=sys.stderr.isatty())
    x_test, y_test = load_cifar10_tensors("test", root=args.data_dir, progress=sys.stderr.isatty())
    load_seconds = time.perf_counter() - start
    if on_gpu:  # 180 MB of uint8 on the device, once
        x_train, y_train, x_test, y_test = (t.to(device) for t in (x_train, y_train, x_test, y_test))
    print(f"mode {name} | device {device_label(device)} | fast VGG widths {widths} | {epochs} epochs | batch "
          f"{batch_size} | data loaded in {load_seconds:.1f} s", flush=True)

    settings = dict(widths=widths, batch_size=batch_size, device=device, seed=args.seed)
    if on_gpu:  # untimed warm-up: cuDNN tries its kernels, the allocator fills its cache
        train_and_test(x_train[:4096], y_train[:4096], x_test[:2000], y_test[:2000], epochs=1, verbose=False, **settings)
    ours = train_and_test(x_train, y_train, x_test, y_test, epochs=epochs, curve=args.curve,
                          progress=sys.stderr.isatty(), **settings)
    results = {
        "mode": name, "device": device_label(device), "threads": threads, "widths": list(widths),
        "parameters": ours["parameters"], "epochs": epochs, "batch_size": batch_size, "seed": args.seed,
        "test_accuracy": round(ours["test_accuracy"], 4),
        "test_accuracy_without_tta": round(ours["test_accuracy_without_tta"], 4),
        "seconds": round(ours["seconds"], 2), "train_seconds": round(ours["train_seconds"], 2),
        "images_per_second": round(ours["images_per_second"], 1), "target": TARGETS[name],
    }
    print(f"\ntest accuracy {100 * ours['test_accuracy']:.2f} % (without test-time augmentation "
          f"{100 * ours['test_accuracy_without_tta']:.2f} %) | {ours['seconds']:.1f} s (network, training, "
          f"evaluation) | {ours['images_per_second']:,.0f} training images/s | device {results['device']}")
    print(f"target >= {100 * TARGETS[name]:.0f} %: {'reached' if ours['test_accuracy'] >= TARGETS[name] else 'NOT reached'}")

    if args.airbench:
        folder = write_airbench_data(x_train, y_train, x_test, y_test, writable_root(args.data_dir) / "cache" / "airbench")
        theirs = run_airbench(folder, device)
        ratio = ours["seconds"] / theirs["seconds"]
        results.update(airbench94_test_accuracy=round(theirs["test_accuracy"], 4),
                       airbench94_seconds=round(theirs["seconds"], 2), time_ratio_to_airbench94=round(ratio, 2))
        print(f"airbench94 on the same GPU: {100 * theirs['test_accuracy']:.2f} % in {theirs['seconds']:.2f} s | "
              f"ours / airbench94 = {ratio:.2f}x (target <= 2x)")

    record(quiet=True, **{f"cifar10_benchmark_{key}": value for key, value in results.items()
                          if not isinstance(value, list)})
    print(json.dumps(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
