"""Transfer learning plumbing: a pretrained classifier's feature extractor, features computed once and cached,
and a linear head fitted on them in seconds.

    >>> from helpers.data import load_cats_vs_dogs, load_pretrained_classifier
    >>> from helpers.transfer import feature_extractor, load_photo_tensors, extract_features
    >>> model, preprocess, weights_name = load_pretrained_classifier("mobilenet_v2")
    >>> backbone = feature_extractor(model)                    # images -> pooled features [N, 1280]
    >>> images, labels = load_photo_tensors(load_cats_vs_dogs("val"), size=224)   # uint8 [200, 3, 224, 224]
    >>> loader = tensor_loader(images, labels, batch_size=32, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    >>> features, labels = extract_features(backbone, loader)   # float32 [200, 1280], int64 [200]
    >>> cats = cats_vs_dogs_features(size=224)                  # lessons 07 and 08, the benchmark: cached on disk
    >>> head, info = fit_logistic_head(cats.train, cats.train_labels)   # C chosen by cross-validation

Lesson 07 teaches what happens here (a frozen backbone, its features, a head on top); lab 07 has students write
``extract_features`` and the head themselves. This module only makes it fast and shared: Conv+BatchNorm fused for
inference, decoded photos kept as tensors, features saved once in ``<data root>/cache/``.
"""

from __future__ import annotations

import copy
import os
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2 as T

from helpers.common import progress_bar, usable_cpu_count
from helpers.data.loaders import IMAGENET_MEAN, IMAGENET_STD, load_cats_vs_dogs
from helpers.data.storage import MARKER, ensure_dataset, writable_root
from helpers.data.weights import load_pretrained_classifier
from helpers.device import pick_device
from helpers.training import predict, tensor_loader

__all__ = ["FeatureSet", "cats_vs_dogs_features", "extract_features", "feature_extractor", "fit_logistic_head",
           "fuse_for_inference", "linear_from_logistic", "load_photo_tensors"]

FEATURE_CACHE_VERSION = 1  # bump when the way features are computed changes


# --------------------------------------------------------------------------------------------
# 1. The feature extractor of a pretrained classifier
# --------------------------------------------------------------------------------------------
class _TimmPreLogits(nn.Module):
    """A timm model up to (not including) its classifier: ``forward_head(forward_features(x), pre_logits=True)``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)


def feature_extractor(model: nn.Module) -> nn.Module:
    """The part of an image classifier before its classification head, returning one vector per image [N, D].

    torchvision models with ``features`` + ``classifier`` (MobileNet, EfficientNet, ...): the features, then
    global average pooling. Models with ``fc`` (ResNet, RegNet, ...): every layer but ``fc``. timm models: up to
    the pre-logits. The extractor shares its weights with ``model`` (it is a view, not a copy).

    >>> feature_extractor(torchvision.models.mobilenet_v2())(torch.zeros(2, 3, 224, 224)).shape
    torch.Size([2, 1280])
    """
    if hasattr(model, "forward_features") and hasattr(model, "forward_head"):
        return _TimmPreLogits(model)
    if isinstance(getattr(model, "features", None), nn.Module) and hasattr(model, "classifier"):
        return nn.Sequential(model.features, nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
    if isinstance(getattr(model, "fc", None), nn.Linear):
        layers = [module for name, module in model.named_children() if name != "fc"]
        return nn.Sequential(*layers, nn.Flatten(1))
    raise ValueError(f"Do not know where the head of a {type(model).__name__} begins: expected `features` + "
                     "`classifier` (MobileNet, EfficientNet), `fc` (ResNet) or a timm model.")


def fuse_for_inference(module: nn.Module) -> nn.Module:
    """An eval-mode copy of ``module`` with each BatchNorm folded into the convolution before it.

    The same outputs (to float rounding) with fewer passes over memory: for MobileNetV2 on a 2-core CPU this made
    inference about 1.5-2x faster (measured under load). Only for inference: the copy must not be trained. Uses
    ``torch.fx.experimental.optimization.fuse``; a module that torch.fx cannot trace is returned unfused.
    """
    from torch.fx.experimental.optimization import fuse

    frozen = copy.deepcopy(module).eval()
    try:
        return fuse(frozen)
    except Exception as err:  # torch.fx cannot trace data-dependent Python control flow
        warnings.warn(f"Could not fuse {type(module).__name__} for inference ({type(err).__name__}); using it as is.")
        return frozen


# --------------------------------------------------------------------------------------------
# 2. Photos as tensors, and their features
# --------------------------------------------------------------------------------------------
def load_photo_tensors(dataset: torch.utils.data.Dataset, size: int, *, progress: bool = True
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode every photo of ``dataset`` once: uint8 [N, 3, size, size] (shorter side resized to ``size``,
    antialiased, then the centre square) and int64 labels [N].

    ``dataset[i]`` must give (PIL image or uint8 tensor, label), as an ImageFolder without a transform does. The
    photos are decoded in a few threads (PIL releases the GIL while decoding), so the dataset must allow that.
    """
    if len(dataset) == 0:
        raise ValueError("The dataset holds no images.")
    prepare = T.Compose([T.ToImage(), T.Resize(size, antialias=True), T.CenterCrop(size)])

    def one(index: int) -> tuple[torch.Tensor, int]:
        image, label = dataset[index]
        return prepare(image).as_subclass(torch.Tensor), int(label)

    images, labels = [], []
    with ThreadPoolExecutor(max_workers=min(4, usable_cpu_count())) as pool, \
            progress_bar(total=len(dataset), desc=f"decoding photos at {size}px", unit=" img", enabled=progress) as bar:
        for image, label in pool.map(one, range(len(dataset))):
            images.append(image)
            labels.append(label)
            bar.update(1)
    return torch.stack(images).contiguous(), torch.tensor(labels, dtype=torch.int64)


class _Flip(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(-1)


def extract_features(backbone: nn.Module, loader: torch.utils.data.DataLoader, *,
                     device: torch.device | str | None = None, flip: bool = False, fuse: bool = True,
                     channels_last: bool = True, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a frozen ``backbone`` over ``loader`` once: (features float32 [N, D], labels [N]), both on the CPU.

    In eval mode and without gradients (``helpers.training.predict``); ``flip=True`` mirrors every image left-right
    first (the features of the flipped photos, for augmentation or test-time averaging); ``fuse=True`` folds
    BatchNorm into the convolutions first (``fuse_for_inference``), which changes nothing but the speed.
    """
    device = pick_device(device) if device is not None else next(backbone.parameters()).device
    net = fuse_for_inference(backbone) if fuse else backbone
    if flip:
        net = nn.Sequential(_Flip(), net)
    net = net.to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    try:
        return predict(net, loader, device, channels_last=channels_last, progress=progress)
    except ValueError as err:
        if "model returned shape" not in str(err):
            raise
        raise ValueError(f"A feature extractor must return one vector per image [N, D], but {err.args[0].split(';')[0]} "
                         "(pool and flatten the feature maps: see feature_extractor).") from err


# --------------------------------------------------------------------------------------------
# 3. Cats vs dogs features, computed once per weights and size (lesson 07, lesson 08, the benchmark)
# --------------------------------------------------------------------------------------------
@dataclass
class FeatureSet:
    """Pooled backbone features of the cats-vs-dogs photos (float32 [N, D]) and their labels (0 cat, 1 dog).

    ``*_flipped`` hold the features of the mirrored photos (None when not computed). ``seconds`` is the time the
    features took to compute (also when they now came from the cache, ``from_cache=True``).
    """

    train: torch.Tensor
    train_labels: torch.Tensor
    val: torch.Tensor
    val_labels: torch.Tensor
    train_flipped: torch.Tensor | None
    val_flipped: torch.Tensor | None
    weights: str
    size: int
    seconds: float
    from_cache: bool
    classes: tuple[str, ...] = ("cat", "dog")


def _cache_stamp(folder: Path, weights: str, size: int, flips: bool) -> str:
    marker = folder / MARKER
    data = marker.read_text() if marker.is_file() else str(sorted(p.name for p in folder.rglob("*.jpg"))[:5])
    return f"v{FEATURE_CACHE_VERSION} torch {torch.__version__} {weights} {size}px flips={flips} {data}"


def cats_vs_dogs_features(size: int = 224, *, model_name: str = "mobilenet_v2", flips: bool = True,
                          root: str | os.PathLike | None = None, device: torch.device | str = "auto",
                          cache: bool = True, batch_size: int = 32, progress: bool = True) -> FeatureSet:
    """Features of the 600 training and 200 validation photos from a frozen ImageNet backbone, cached on disk.

    The photos are resized so the shorter side is ``size`` and centre-cropped (the originals' shorter side is
    160 px). ``model_name`` goes through ``load_pretrained_classifier`` (offline: the course's MobileNetV2). The
    first call computes the features (tens of seconds on a CPU) and saves them in
    ``<data root>/cache/cats_vs_dogs_features_<weights>_<size>.pt``; later calls read them in well under a second.
    """
    model, _, weights = load_pretrained_classifier(model_name, root)
    folder = ensure_dataset("cats-vs-dogs", root)
    path = writable_root(root) / "cache" / f"cats_vs_dogs_features_{weights.replace('.', '_')}_{size}.pt"
    stamp = _cache_stamp(folder, weights, size, flips)
    if cache and path.is_file():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            if saved.get("stamp") == stamp:
                print(f"Cats-vs-dogs features read from the cache {path} (computed once in {saved['seconds']:.1f} s).")
                return FeatureSet(**saved["features"], weights=weights, size=size, seconds=saved["seconds"],
                                  from_cache=True)
        except Exception as err:  # an unreadable cache is recomputed, never trusted
            print(f"Ignoring the unreadable cache {path} ({type(err).__name__}); computing the features again.")
    device = pick_device(device)
    start = time.perf_counter()
    backbone = feature_extractor(model).to(device)
    parts: dict[str, torch.Tensor | None] = {}
    for split in ("train", "val"):
        images, labels = load_photo_tensors(load_cats_vs_dogs(split, root), size, progress=progress)
        loader = tensor_loader(images, labels, batch_size, mean=IMAGENET_MEAN, std=IMAGENET_STD, device=device)
        parts[split], parts[f"{split}_labels"] = extract_features(backbone, loader, progress=progress)
        parts[f"{split}_flipped"] = (extract_features(backbone, loader, flip=True, progress=progress)[0]
                                     if flips else None)
    seconds = time.perf_counter() - start
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
            torch.save({"features": parts, "seconds": seconds, "stamp": stamp}, partial)
            os.replace(partial, path)
        except OSError as err:  # a read-only data root: work without the cache
            print(f"Could not write the feature cache {path} ({err}).")
    return FeatureSet(**parts, weights=weights, size=size, seconds=seconds, from_cache=False)


# --------------------------------------------------------------------------------------------
# 4. A linear head on cached features: logistic regression, regularisation chosen by cross-validation
# --------------------------------------------------------------------------------------------
def fit_logistic_head(features: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, *,
                      Cs: Sequence[float] = (0.01, 0.03, 0.1, 0.3), folds: int = 5,
                      groups: Sequence[int] | np.ndarray | None = None, seed: int = 0):
    """Multinomial logistic regression (scikit-learn) on features, its strength ``C`` chosen by k-fold
    cross-validation on these training features only (never on the validation set).

    ``groups``: samples that must stay in the same fold, e.g. a photo and its mirror image (give both the same
    number), or the validation folds would contain near-copies of training samples. Returns the model refitted on
    all the features with the best C, and {"C": best C, "cv_accuracy": {C: mean fold accuracy}}.

    >>> head, info = fit_logistic_head(train_features, train_labels)
    >>> info["C"], head.score(val_features, val_labels)
    (0.03, 0.985)
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, StratifiedKFold

    x = features.numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    y = labels.numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"features must be [N, D] with one label each; got {list(x.shape)} and {len(y)} labels.")
    if groups is None:
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    else:
        cv = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    search = GridSearchCV(LogisticRegression(max_iter=3000, tol=1e-3), {"C": list(Cs)}, cv=cv, n_jobs=1)
    search.fit(x, y, groups=None if groups is None else np.asarray(groups))
    scores = {float(c): float(s) for c, s in zip(search.cv_results_["param_C"], search.cv_results_["mean_test_score"])}
    return search.best_estimator_, {"C": float(search.best_params_["C"]), "cv_accuracy": scores}


def linear_from_logistic(classifier) -> nn.Linear:
    """A fitted scikit-learn LogisticRegression as an ``nn.Linear`` giving the same class probabilities (softmax).

    With two classes scikit-learn keeps one weight vector w (the log-odds of class 1); the layer gets -w/2 and
    +w/2, whose softmax is the same sigmoid. Put it on top of a feature extractor to get one PyTorch model.
    """
    weight = torch.as_tensor(classifier.coef_, dtype=torch.float32)
    bias = torch.as_tensor(classifier.intercept_, dtype=torch.float32)
    if weight.shape[0] == 1:  # binary: one vector of log-odds
        weight, bias = torch.cat([-weight / 2, weight / 2]), torch.cat([-bias / 2, bias / 2])
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return layer
