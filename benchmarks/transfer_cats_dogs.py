"""Benchmark: a frozen ImageNet backbone and a linear head on the 600/200 cats-vs-dogs photos.

Prints validation accuracy, seconds, device and images per second, then one JSON line.

    python benchmarks/transfer_cats_dogs.py                 # target on a 2-core CPU: >= 98 % in <= 60 s
    python benchmarks/transfer_cats_dogs.py --no-flip       # half the backbone passes, no mirror images
    python benchmarks/transfer_cats_dogs.py --size 160      # the photos' own size: faster, less accurate
    python benchmarks/transfer_cats_dogs.py --model mobilenet_v3_large   # when its weights can be had

The time counts everything after the imports: loading the weights, decoding the 800 JPEGs, the backbone passes,
choosing and fitting the head, predicting the validation photos. Features are computed from scratch (no cache).
The recipe (lesson 07 explains each part):

1. Photos resized so the shorter side is 224 px (they are stored at 160 px; ImageNet models see objects at about
   224 px), centre square. Measured with the course MobileNetV2 and a logistic-regression head, over the C values
   tried: 160 px gave 95.5-97 % validation accuracy, 192 px 96-98 %, 224 px 97.5-98.5 %.
2. The backbone frozen, in eval mode, BatchNorm folded into the convolutions (``fuse_for_inference``: about 2x
   faster on a CPU), channels_last, one pass over each photo and one over its mirror image.
3. The head: logistic regression on the 1280 pooled features, trained on the photos and their mirror images, its
   regularisation C chosen by 5-fold cross-validation on the TRAINING photos (a photo and its mirror in the same
   fold). The validation photos are only predicted, once, averaging the probabilities of each photo and its mirror.

Nothing is chosen on the validation set: it is a fair estimate, with 200 photos one photo is 0.5 points.

Measured on the shared 2-core CPU under heavy load (load average 3-4): 98.5 % (3 of 200 wrong) in 108 s of wall
time, 79 s of process CPU time (about 40 s on two idle cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a clone without installing

from helpers.data import IMAGENET_MEAN, IMAGENET_STD, load_cats_vs_dogs, load_pretrained_classifier  # noqa: E402
from helpers.device import device_label, pick_device, set_cpu_threads  # noqa: E402
from helpers.results import record  # noqa: E402
from helpers.training import tensor_loader  # noqa: E402
from helpers.transfer import extract_features, feature_extractor, fit_logistic_head, load_photo_tensors  # noqa: E402

TARGET_ACCURACY, TARGET_SECONDS = 0.98, 60.0


def fold_groups(n_photos: int, n_views: int) -> np.ndarray:
    """The cross-validation group of each row of the training matrix (all photos, then all mirror images, ...):
    every view of a photo gets the photo's number, so a photo and its mirror image never sit in different folds."""
    return np.tile(np.arange(n_photos), n_views)


def average_probabilities(head, views: list[np.ndarray]) -> np.ndarray:
    """The head's class probabilities averaged over views of the same photos (the photo, its mirror image)."""
    return np.mean([head.predict_proba(view) for view in views], axis=0)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mobilenet_v2", help="a torchvision classifier (offline: MobileNetV2)")
    parser.add_argument("--size", type=int, default=224, help="shorter side and crop in pixels (default 224)")
    parser.add_argument("--no-flip", action="store_true", help="no mirror images (half the backbone passes)")
    parser.add_argument("--no-fuse", action="store_true", help="keep BatchNorm separate (slower, same numbers)")
    parser.add_argument("--batch-size", type=int, default=64, help="backbone batch (64 was fastest on 2 CPU cores)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--data-dir", default=None,
                        help="data root (default: $COURSE_DATA, ./data, $COURSE_DATA_MIRROR)")
    parser.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)

    device = pick_device(args.device)
    threads = set_cpu_threads(args.threads)
    flips = not args.no_flip
    start, cpu_start = time.perf_counter(), time.process_time()

    # 1. the frozen backbone and the photos, decoded once
    model, _, weights = load_pretrained_classifier(args.model, args.data_dir)
    backbone = feature_extractor(model).to(device)
    photos = {split: load_photo_tensors(load_cats_vs_dogs(split, args.data_dir), args.size, progress=False)
              for split in ("train", "val")}
    decoded = time.perf_counter()

    # 2. features: one backbone pass per photo and per mirror image
    features: dict[str, list[np.ndarray]] = {}
    labels: dict[str, np.ndarray] = {}
    for split, (images, targets) in photos.items():
        loader = tensor_loader(images, targets, args.batch_size, mean=IMAGENET_MEAN, std=IMAGENET_STD, device=device)
        views = []
        for flip in ([False, True] if flips else [False]):
            x, y = extract_features(backbone, loader, flip=flip, fuse=not args.no_fuse, progress=False)
            views.append(x.numpy())
        features[split], labels[split] = views, y.numpy()
    extracted = time.perf_counter()

    # 3. the head: C chosen by cross-validation on the training photos, then the validation photos predicted once
    views = len(features["train"])
    head, info = fit_logistic_head(np.concatenate(features["train"]), np.tile(labels["train"], views),
                                   groups=fold_groups(len(labels["train"]), views))
    probabilities = average_probabilities(head, features["val"])
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    accuracy = float((probabilities.argmax(axis=1) == labels["val"]).mean())
    passes = sum(len(v) * len(labels[s]) for s, v in features.items())

    results = {
        "model": args.model, "weights": weights, "device": device_label(device), "threads": threads,
        "size": args.size, "flips": flips, "fused": not args.no_fuse, "feature_dim": int(features["train"][0].shape[1]),
        "head": "logistic regression", "C": info["C"], "cv_accuracy": round(max(info["cv_accuracy"].values()), 4),
        "val_accuracy": round(accuracy, 4), "val_errors": int(round((1 - accuracy) * len(labels["val"]))),
        "seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1),
        "load_and_decode_seconds": round(decoded - start, 1),
        "feature_seconds": round(extracted - decoded, 1), "head_seconds": round(seconds - (extracted - start), 1),
        "backbone_images_per_second": round(passes / (extracted - decoded), 1),
        "target": f">= {100 * TARGET_ACCURACY:.0f} % in <= {TARGET_SECONDS:.0f} s on a 2-core CPU",
        "target_met": accuracy >= TARGET_ACCURACY and seconds <= TARGET_SECONDS,
    }
    print(f"frozen {weights} + logistic-regression head (C={info['C']:g}, cross-validated on the training photos)")
    print(f"validation accuracy {100 * accuracy:.1f} % ({results['val_errors']} of {len(labels['val'])} photos wrong) "
          f"| {seconds:.1f} s in all: weights + decoding {results['load_and_decode_seconds']} s, features "
          f"{results['feature_seconds']} s ({results['backbone_images_per_second']:.0f} backbone images/s), head "
          f"{results['head_seconds']} s | {args.size}px, flips {flips} | device {results['device']}")
    if device.type == "cpu":  # on a busy machine the wall time grows; the process's CPU time much less
        print(f"process CPU time {cpu_seconds:.1f} s: on {threads} otherwise idle cores the run would take about "
              f"{cpu_seconds / threads:.0f} s or a little more")
    print(f"target {results['target']}: {'met' if results['target_met'] else 'NOT met'}")
    record(quiet=True, **{f"transfer_benchmark_{key}": value for key, value in results.items()})
    print(json.dumps(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
