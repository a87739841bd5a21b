"""Plots with matplotlib: image grids, learning curves, confusion matrices, bar charts, CNN feature maps and filters,
top-k predictions.

Example::

    >>> from helpers.plots import show_images, plot_history, plot_confusion_matrix
    >>> fig = show_images(images[:16], labels[:16], preds[:16], class_names=FASHION_MNIST_CLASSES)
    >>> fig = plot_history({"small CNN": history_small, "VGG-style": history_vgg})
    >>> fig = plot_confusion_matrix(cm, FASHION_MNIST_CLASSES, normalize=True)
    >>> fig.savefig("confusion.png", dpi=150)        # the returned Figure can still be changed or saved

How figures appear in Jupyter (and papermill): every function draws a new pyplot figure, returns it and
does NOT call ``plt.show()``. The notebook's inline backend shows each open figure once, at the end of
the cell. So **assign the result** (``fig = plot_history(h)``) or end the line with ``;``. A bare call as
the last line of a cell would show the figure twice: once from the inline backend and once as the
cell's value. In a script, call ``plt.show()`` or ``fig.savefig(...)`` yourself; ``plt.close(fig)``
frees a figure you no longer need.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

WRONG_COLOR = "tab:red"


# --------------------------------------------------------------------------------------------
# Image grid
# --------------------------------------------------------------------------------------------
def _image_to_hwc(image: Any, mean: Sequence[float] | float | None, std: Sequence[float] | float | None) -> np.ndarray:
    """One image (tensor CHW/HW, NumPy HWC/HW, or PIL) as a NumPy array HxW or HxWxC ready for imshow."""
    if hasattr(image, "getbands"):  # a PIL image
        array = np.asarray(image.convert("RGB") if image.mode not in ("L", "RGB", "RGBA") else image)
        channels_first = False
    elif hasattr(image, "detach"):  # a torch tensor: channels first
        array = image.detach().cpu().numpy()
        channels_first = True
    else:
        array = np.asarray(image)
        channels_first = array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3, 4)
    if array.ndim == 3 and channels_first:
        array = np.transpose(array, (1, 2, 0))
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (1, 3, 4)):
        raise ValueError(f"Cannot show an image of shape {list(array.shape)}: expected HxW, HxWx1/3/4 "
                         "(NumPy) or 1/3xHxW (torch).")
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255
        if mean is not None:
            raise ValueError("mean/std un-normalise float images; these are uint8 (already 0..255), so leave mean/std out.")
    else:
        array = array.astype(np.float32)
        if mean is not None:  # undo (x - mean) / std channel by channel
            m = np.asarray(mean, dtype=np.float32).reshape(-1)
            s = np.asarray(std, dtype=np.float32).reshape(-1)
            array = array * s + m if array.ndim == 2 else array * s[None, None, :] + m[None, None, :]
        elif array.min() < -0.01 or array.max() > 1.01:  # not in [0, 1]: stretch it so it is visible
            array = (array - array.min()) / max(float(array.max() - array.min()), 1e-12)
        array = np.clip(array, 0.0, 1.0)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    return array


def _as_image_list(images: Any) -> list[Any]:
    if isinstance(images, (list, tuple)):
        return list(images)
    shape = tuple(images.shape)
    is_tensor = hasattr(images, "detach")
    if is_tensor and len(shape) == 4 or (not is_tensor and len(shape) == 4):  # a batch: [N, C, H, W] or [N, H, W, C]
        return [images[i] for i in range(shape[0])]
    if len(shape) == 3 and is_tensor and shape[0] not in (1, 3):  # [N, H, W] gray tensor
        return [images[i] for i in range(shape[0])]
    if len(shape) == 3 and not is_tensor and shape[-1] not in (1, 3, 4):  # [N, H, W] gray array
        return [images[i] for i in range(shape[0])]
    return [images]  # a single image


def _name(value: Any, class_names: Sequence[str] | None) -> str:
    value = value.item() if hasattr(value, "item") else value
    if class_names is not None and isinstance(value, (int, np.integer)):
        return str(class_names[int(value)])
    return str(value)


def show_images(images: Any, labels: Sequence[Any] | None = None, preds: Sequence[Any] | None = None,
                class_names: Sequence[str] | None = None, ncols: int = 8, title: str | None = None, *,
                mean: Sequence[float] | float | None = None, std: Sequence[float] | float | None = None,
                max_images: int = 64, size: float = 1.6, cmap: str = "gray") -> Figure:
    """A grid of images with their labels; with ``preds`` each title is "true: X / pred: Y" (red when wrong).

    ``images``: a torch batch [N, C, H, W] (float or uint8), a NumPy batch [N, H, W, C] or [N, H, W],
    or a list of PIL images / arrays / tensors. ``mean``/``std`` undo a normalisation before showing.

    >>> fig = show_images(x[:16], y[:16], class_names=CIFAR10_CLASSES, mean=MEAN, std=STD, title="training images")
    """
    items = _as_image_list(images)[:max_images]
    if not items:
        raise ValueError("show_images got no images.")
    if (mean is None) != (std is None):
        raise ValueError("Give both mean and std (or neither) to un-normalise the images.")
    for name, values in (("labels", labels), ("preds", preds)):
        if values is not None and len(values) < len(items):
            raise ValueError(f"{len(items)} images but only {len(values)} {name}.")
    n = len(items)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    extra = 0.35 if preds is not None and labels is not None else 0.2
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + extra) * nrows + (0.4 if title else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(_image_to_hwc(items[i], mean, std), cmap=cmap, vmin=0, vmax=1)
        if labels is not None and preds is not None:
            true, pred = _name(labels[i], class_names), _name(preds[i], class_names)
            ax.set_title(f"true: {true}\npred: {pred}", fontsize=8, color="black" if true == pred else WRONG_COLOR)
        elif labels is not None:
            ax.set_title(_name(labels[i], class_names), fontsize=8)
        elif preds is not None:
            ax.set_title(f"pred: {_name(preds[i], class_names)}", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Learning curves
# --------------------------------------------------------------------------------------------
_METRICS = {  # metric name -> (train key, val key, y-axis label, scale)
    "loss": ("train_loss", "val_loss", "loss (cross-entropy, mean per image)", 1.0),
    "acc": ("train_acc", "val_acc", "accuracy (%)", 100.0),
    "lr": ("lr", None, "learning rate", 1.0),
    "seconds": ("seconds", None, "time per epoch (s)", 1.0),
}


def _history_dict(history: Any) -> dict[str, Any]:
    if hasattr(history, "to_dict"):
        return history.to_dict()
    if isinstance(history, Mapping) and "train_loss" in history:
        return dict(history)
    raise TypeError(f"Expected a History (from fit) or its to_dict(); got {type(history).__name__}.")


def plot_history(history: Any, metrics: Sequence[str] = ("loss", "acc"), title: str | None = None) -> Figure:
    """Learning curves side by side (train dashed, validation solid) for one run or several.

    ``history``: a ``History`` (or its dict) or ``{run name: History}`` to compare runs in the same axes.

    >>> fig = plot_history({"no augmentation": h1, "with augmentation": h2}, title="Fashion-MNIST CNN")
    """
    runs = {"": history} if hasattr(history, "to_dict") or (isinstance(history, Mapping) and "train_loss" in history) else dict(history)
    if not runs:
        raise ValueError("plot_history got no runs.")
    unknown = [m for m in metrics if m not in _METRICS]
    if unknown:
        raise ValueError(f"Unknown metric(s) {unknown}: choose from {list(_METRICS)}.")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes.flat, metrics):
        train_key, val_key, ylabel, scale = _METRICS[metric]
        for i, (name, run) in enumerate(runs.items()):
            data = _history_dict(run)
            color = colors[i % len(colors)]
            prefix = f"{name}: " if name else ""
            train = data.get(train_key) or []
            if train:
                label = f"{prefix}train" if val_key else (name or train_key)
                ax.plot(range(1, len(train) + 1), np.asarray(train) * scale, "--" if val_key else "-",
                        color=color, marker="o", markersize=3, label=label)
            val = (data.get(val_key) or []) if val_key else []
            if val:
                ax.plot(range(1, len(val) + 1), np.asarray(val) * scale, "-", color=color, marker="o", markersize=3,
                        label=f"{prefix}validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title({"loss": "Loss", "acc": "Accuracy", "lr": "Learning rate", "seconds": "Epoch time"}[metric])
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Confusion matrix
# --------------------------------------------------------------------------------------------
def plot_confusion_matrix(cm: Any, class_names: Sequence[str], normalize: bool = True, title: str | None = None, *,
                          annotate: bool = True, cmap: str = "Blues") -> Figure:
    """A heat map of a confusion matrix (rows: true class, columns: predicted class).

    ``normalize=True`` divides each row by its total, so a cell is "the fraction of class X predicted as Y".

    >>> fig = plot_confusion_matrix(cm, FASHION_MNIST_CLASSES, normalize=True, title="test set")
    """
    cm = np.asarray(cm.detach().cpu().numpy() if hasattr(cm, "detach") else cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix must be square [classes, classes]; got shape {list(cm.shape)}.")
    if len(class_names) != cm.shape[0]:
        raise ValueError(f"{len(class_names)} class names for a {cm.shape[0]}x{cm.shape[0]} confusion matrix.")
    if normalize:
        totals = cm.sum(axis=1, keepdims=True)
        values = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    else:
        values = cm
    n = cm.shape[0]
    side = max(4.0, 0.55 * n + 2)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    image = ax.imshow(values, cmap=cmap, vmin=0, vmax=1 if normalize else None)
    colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colorbar.set_label("fraction of the true class" if normalize else "number of images")
    ax.set_xticks(range(n), [str(c) for c in class_names], rotation=45, ha="right")
    ax.set_yticks(range(n), [str(c) for c in class_names])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or ("Confusion matrix (each row sums to 1)" if normalize else "Confusion matrix (counts)"))
    if annotate and n <= 30:
        threshold = (1.0 if normalize else values.max()) / 2  # white text on dark cells
        for t in range(n):
            for p in range(n):
                text = f"{values[t, p]:.2f}" if normalize else f"{int(values[t, p])}"
                ax.text(p, t, text, ha="center", va="center", fontsize=7 if n > 10 else 9,
                        color="white" if values[t, p] > threshold else "black")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Bar chart
# --------------------------------------------------------------------------------------------
def plot_bar(values: Mapping[str, float] | Sequence[float], labels: Sequence[str] | None = None, *,
             title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
             horizontal: bool = False, annotate: bool = True, fmt: str = "{:g}", color: Any = None) -> Figure:
    """A labelled bar chart, e.g. images per class or test accuracy per model.

    >>> fig = plot_bar({"MLP": 88.1, "CNN": 91.4}, title="Test accuracy", ylabel="accuracy (%)", fmt="{:.1f}")
    >>> fig = plot_bar(np.bincount(labels), CLASSES, title="Images per class", ylabel="images")
    """
    if isinstance(values, Mapping) or hasattr(values, "index") and hasattr(values, "to_numpy"):  # dict or pandas Series
        names = [str(k) for k in values.keys()]
        numbers = np.asarray(list(values.values()) if isinstance(values, Mapping) else values.to_numpy(), dtype=float)
        if labels is not None:
            names = [str(name) for name in labels]
    else:
        numbers = np.asarray(values.detach().cpu().numpy() if hasattr(values, "detach") else values, dtype=float).reshape(-1)
        names = [str(name) for name in labels] if labels is not None else [str(i) for i in range(len(numbers))]
    if len(names) != len(numbers):
        raise ValueError(f"{len(numbers)} values but {len(names)} labels.")
    if len(numbers) == 0:
        raise ValueError("plot_bar got no values.")
    width = max(4.0, 0.5 * len(numbers) + 1.5)
    fig, ax = plt.subplots(figsize=(6, width * 0.6) if horizontal else (width, 3.8))
    positions = np.arange(len(numbers))
    bars = ax.barh(positions, numbers, color=color) if horizontal else ax.bar(positions, numbers, color=color)
    if horizontal:
        ax.set_yticks(positions, names)
        ax.invert_yaxis()  # first item on top
    else:
        ax.set_xticks(positions, names, rotation=45 if max(len(n) for n in names) > 6 else 0,
                      ha="right" if max(len(n) for n in names) > 6 else "center")
    if annotate:
        ax.bar_label(bars, labels=[fmt.format(v) for v in numbers], fontsize=8, padding=2)
        ax.margins(**{"x" if horizontal else "y": 0.12})  # room for the labels
    ax.set_xlabel(xlabel or "")
    ax.set_ylabel(ylabel or "")
    if title:
        ax.set_title(title)
    ax.grid(axis="x" if horizontal else "y", alpha=0.3)
    ax.set_axisbelow(True)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Feature maps and filters of a CNN
# --------------------------------------------------------------------------------------------
def _one_image_maps(maps: Any) -> np.ndarray:
    array = np.asarray(maps.detach().float().cpu().numpy() if hasattr(maps, "detach") else maps, dtype=np.float32)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3:
        raise ValueError(f"show_feature_maps takes one image's maps [C, H, W] (or [1, C, H, W]); got shape {list(array.shape)}.")
    return array


def show_feature_maps(maps: Any, ncols: int = 8, title: str | None = None, *, channels: Sequence[int] | str | None = None,
                      max_maps: int = 32, cmap: str = "viridis", size: float = 1.5) -> Figure:
    """Channels of feature maps side by side, each on its own colour scale (bright = strong response).

    ``maps``: one image's maps [C, H, W] or [1, C, H, W] (tensor or array), e.g. what a forward hook caught; or a
    dict {layer name: maps}, drawn one layer per row with the name on the left.
    ``channels``: which channels to show: a list of indexes, ``"strongest"`` (the ``max_maps`` channels with the
    highest mean activation, strongest first) or None (the first ``max_maps``). Each panel is titled "ch <index>".

    >>> fig = show_feature_maps(maps[0], title="conv1: 16 channels for one image")
    >>> fig = show_feature_maps({"conv1": m1[0], "conv2": m2[0]}, channels="strongest", max_maps=8)
    """
    rows = {name: _one_image_maps(m) for name, m in maps.items()} if isinstance(maps, Mapping) else {"": _one_image_maps(maps)}
    if not rows:
        raise ValueError("show_feature_maps got an empty dict of maps.")
    picked: dict[str, list[int]] = {}
    for name, array in rows.items():
        if channels is None:
            picked[name] = list(range(min(len(array), max_maps)))
        elif isinstance(channels, str):
            if channels != "strongest":
                raise ValueError(f"channels is a list of indexes, 'strongest' or None; got {channels!r}.")
            picked[name] = np.argsort(-array.mean(axis=(1, 2)), kind="stable")[:max_maps].tolist()
        else:
            picked[name] = [int(c) for c in channels][:max_maps]
            if any(not 0 <= c < len(array) for c in picked[name]):
                raise ValueError(f"channels {picked[name]} outside the {len(array)} channels of {name or 'the maps'}.")
    one_block = not isinstance(maps, Mapping)
    ncols = max(1, min(ncols, max(len(p) for p in picked.values()))) if one_block else max(len(p) for p in picked.values())
    lines = [math.ceil(len(p) / ncols) for p in picked.values()]
    fig, axes = plt.subplots(sum(lines), ncols, figsize=(size * ncols + (0 if one_block else 0.6),
                                                         (size + 0.25) * sum(lines) + (0.5 if title else 0)), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
    line = 0
    for (name, array), n_lines in zip(rows.items(), lines):
        for i, channel in enumerate(picked[name]):
            ax = axes[line + i // ncols, i % ncols]
            ax.imshow(array[channel], cmap=cmap)
            ax.set_title(f"ch {channel}", fontsize=8)
        if name:
            axes[line, 0].set_ylabel(f"{name}\n{array.shape[1]}x{array.shape[2]}", fontsize=9)
        line += n_lines
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_filters(weights: Any, ncols: int = 8, title: str | None = None, *, max_filters: int = 64,
                 size: float = 1.0) -> Figure:
    """A conv layer's filters as small images: ``weights`` [out, in, kH, kW] with 1 or 3 input channels.

    One input channel: a shared diverging scale (red positive, blue negative, white 0) so filters compare.
    Three input channels: each filter as an RGB image, stretched to [0, 1] on its own (what it looks for in colour).

    >>> fig = show_filters(model.features[0].weight, title="first-layer filters")
    """
    w = np.asarray(weights.detach().float().cpu().numpy() if hasattr(weights, "detach") else weights, dtype=np.float32)
    if w.ndim != 4 or w.shape[1] not in (1, 3):
        raise ValueError(f"show_filters takes conv weights [out, in, kH, kW] with in = 1 or 3; got shape {list(w.shape)}. "
                         "For a deeper layer pick one input channel: weights[:, c:c + 1].")
    w = w[:max_filters]
    n = len(w)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.2) * nrows + (0.5 if title else 0)),
                             squeeze=False)
    limit = float(np.abs(w).max()) or 1.0
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        if w.shape[1] == 1:
            ax.imshow(w[i, 0], cmap="RdBu_r", vmin=-limit, vmax=limit)
        else:
            rgb = np.transpose(w[i], (1, 2, 0))
            ax.imshow((rgb - rgb.min()) / max(float(rgb.max() - rgb.min()), 1e-12))
        ax.set_title(f"{i}", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Top-k predictions beside their images
# --------------------------------------------------------------------------------------------
def show_topk(images: Any, names: Sequence[Sequence[str]], probs: Any, *, true: Sequence[str] | None = None,
              ncols: int = 3, title: str | None = None, mean: Sequence[float] | float | None = None,
              std: Sequence[float] | float | None = None, captions: Sequence[str] | None = None) -> Figure:
    """Each image beside a bar chart of its top-k classes and their probabilities (in %, the most likely on top).

    ``names[i]`` / ``probs[i]``: the k class names and probabilities of image i (lists, arrays or a tensor [N, k],
    probabilities in [0, 1]). With ``true`` (one class name per image) the true class's bar is green, and the
    image's caption is red when the top-1 class is wrong. ``captions`` replaces the caption above each image.

    >>> top = logits.softmax(dim=1).topk(5)
    >>> fig = show_topk(photos, [[CLASSES[i] for i in row] for row in top.indices.tolist()], top.values,
    ...                 title="Top-5 predictions")
    """
    items = _as_image_list(images)
    values = np.asarray(probs.detach().float().cpu().numpy() if hasattr(probs, "detach") else probs, dtype=float)
    if not items:
        raise ValueError("show_topk got no images.")
    if len(names) != len(items) or len(values) != len(items) or (true is not None and len(true) != len(items)):
        raise ValueError(f"{len(items)} images need as many rows of names ({len(names)}), probabilities "
                         f"({len(values)}) and true classes ({'-' if true is None else len(true)}).")
    if values.min() < 0 or values.max() > 1 + 1e-6:
        raise ValueError("probs must be probabilities in [0, 1] (softmax of the logits), not raw scores.")
    n = len(items)
    k = max(len(row) for row in names)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    height = max(1.9, 0.3 * k + 0.9) * nrows + (0.5 if title else 0)
    fig, axes = plt.subplots(nrows, 2 * ncols, figsize=(4.6 * ncols, height), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.3] * ncols})
    for i in range(nrows * ncols):
        image_ax, bar_ax = axes[i // ncols, 2 * (i % ncols)], axes[i // ncols, 2 * (i % ncols) + 1]
        image_ax.axis("off")
        if i >= n:
            bar_ax.axis("off")
            continue
        image_ax.imshow(_image_to_hwc(items[i], mean, std), cmap="gray", vmin=0, vmax=1)
        row_names, row_probs = [str(s) for s in names[i]], 100 * values[i][: len(names[i])]
        wrong = true is not None and row_names[0] != str(true[i])
        caption = captions[i] if captions is not None else (f"true: {true[i]}" if true is not None else "")
        image_ax.set_title(caption, fontsize=8, color=WRONG_COLOR if wrong else "black")
        colors = ["tab:green" if true is not None and name == str(true[i]) else "tab:gray" for name in row_names]
        positions = np.arange(len(row_names))
        bars = bar_ax.barh(positions, row_probs, color=colors)
        bar_ax.set_yticks(positions, [name[:22] for name in row_names], fontsize=8)
        bar_ax.invert_yaxis()
        bar_ax.set_xlim(0, 100)
        bar_ax.bar_label(bars, labels=[f"{p:.0f}" for p in row_probs], fontsize=7, padding=2)
        bar_ax.set_xlabel("probability (%)", fontsize=8)
        bar_ax.tick_params(axis="x", labelsize=7)
        bar_ax.grid(axis="x", alpha=0.3)
        bar_ax.set_axisbelow(True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
