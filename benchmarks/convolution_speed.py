"""How fast is the hand-written convolution? Naive loop vs vectorised NumPy vs OpenCV vs PyTorch.

    python benchmarks/convolution_speed.py                 # 512x512 camera photo, 3x3 Gaussian, full naive loop
    python benchmarks/convolution_speed.py --naive-crop 128 --kernel-size 5

Prints the device, the image size and, per method, the seconds per call and the ratio to OpenCV.
Goal for the vectorised helper (helpers.convolution.conv2d): within 5x of OpenCV.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage import data as skdata

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a clone without installing

from helpers.convolution import GAUSSIAN_3x3, benchmark_conv2d, gaussian_kernel  # noqa: E402
from helpers.device import device_label, pick_device, set_cpu_threads  # noqa: E402

GOAL = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (camera photo, resized)")
    parser.add_argument("--kernel-size", type=int, default=3, help="odd kernel side: 3 uses the lecture's 1/16 Gaussian")
    parser.add_argument("--repeats", type=int, default=5, help="timeit repeats (best one counts)")
    parser.add_argument("--naive-crop", type=int, default=None, help="time the Python loop on an N x N crop and extrapolate")
    parser.add_argument("--device", default="cpu", help="device for the PyTorch row: cpu, cuda, auto")
    args = parser.parse_args()

    threads = set_cpu_threads()
    device = pick_device(args.device)
    image = cv2.resize(skdata.camera(), (args.size, args.size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    kernel = GAUSSIAN_3x3 if args.kernel_size == 3 else gaussian_kernel(args.kernel_size, args.kernel_size / 4)
    rows = benchmark_conv2d(image, kernel, repeats=args.repeats, naive_crop=args.naive_crop, torch_device=str(device))

    print(f"python {platform.python_version()} | numpy {np.__version__} | opencv {cv2.__version__} | torch {torch.__version__}")
    print(f"CPU: {os.cpu_count()} cores visible, {threads} torch threads, OpenCV threads {cv2.getNumThreads()} | "
          f"torch device: {device_label(device)}")
    print(f"image {args.size}x{args.size} float32, kernel {kernel.shape[0]}x{kernel.shape[1]}, 'same' zero padding, "
          f"best of {args.repeats}\n")
    print(f"{'method':<34} {'ms per call':>12} {'x OpenCV':>9}  measured on")
    for row in rows:
        print(f"{row['method']:<34} {row['seconds'] * 1e3:>12.3f} {row['vs_opencv']:>9.1f}  {row['measured_on']}")
    ratio = rows[1]["vs_opencv"]
    verdict = "meets" if ratio <= GOAL else "misses"
    print(f"\nvectorised NumPy is {ratio:.1f}x OpenCV's time: {verdict} the goal of {GOAL:g}x.")


if __name__ == "__main__":
    main()
