"""Checks for lab 07, transfer learning (``solutions/07_transfer_lab.ipynb``).

Each check runs the student's code on small cases built here (a zip of tiny images, a small network with BatchNorm
whose statistics are not the identity, torchvision architectures with random weights) and, when an answer is
wrong, names the classic mistake: classes in the zip's order instead of sorted, grayscale or RGBA images passed
through, a split that is not stratified or not reproducible, BatchNorm statistics that move once ``model.train()``
is called, a head appended after the 1000-class layer, one parameter group, features taken in training mode,
probabilities without softmax or in the wrong order.
"""

from __future__ import annotations

import copy
import io
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from helpers.checks.core import (CheckFailed, call_student, construct_student, expect_close, expect_equal,
                                 expect_float, expect_indices, expect_int, expect_logits, expect_module, expect_results,
                                 expect_shape, expect_tensor, expect_true, hint_for_crash, name_the_mistake, return_hint,
                                 run_cases, same_numbers, seed_all, shape_text)

__all__ = [
    "check_zip_image_dataset",
    "check_stratified_split",
    "check_frozen_backbone",
    "check_replace_classifier",
    "check_make_optimizer",
    "check_extract_features",
    "check_train_linear_head",
    "check_top_k",
]


# ---------------------------------------------------------------- exercise 1: a Dataset over a zip file

# (member name, colour, PIL mode) in the order they are written: the class folders appear unsorted in the zip
_ZIP_MEMBERS = [
    ("shop/train/plum/p1.jpg", (150, 20, 90), "RGB"),
    ("shop/train/apple/a1.png", (200, 200, 200), "L"),       # grayscale: must come out RGB
    ("shop/train/cherry/c1.png", (220, 10, 30), "RGBA"),     # transparency: must come out RGB
    ("shop/train/plum/p2.jpg", (120, 40, 120), "RGB"),
    ("shop/train/apple/a2.jpg", (40, 200, 40), "RGB"),
    ("shop/train/cherry/c2.jpg", (180, 0, 0), "RGB"),
    ("shop/test/plum/p3.jpg", (100, 0, 100), "RGB"),
    ("shop/test/apple/a3.jpg", (60, 220, 60), "RGB"),
    ("shop/test/cherry/c3.png", (240, 30, 30), "P"),         # a palette image
]
_ZIP_EXTRA = [("shop/train/plum/notes.txt", b"picked on a Tuesday"),   # not an image: skip it
              ("shop/train/readme.md", b"# fruit"), ("shop/test/apple/Thumbs.db", b"\x00" * 16)]
_ZIP_CLASSES = ["apple", "cherry", "plum"]


def _image_bytes(colour: tuple[int, int, int], mode: str, suffix: str) -> bytes:
    image = Image.new("RGB", (12, 10), colour).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG" if suffix == ".png" else "JPEG", quality=95)
    return buffer.getvalue()


def _write_test_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for folder in _directory_entries():  # directory entries too, as zip tools write them (fruit.zip has them)
            archive.writestr(folder, b"")
        for name, colour, mode in _ZIP_MEMBERS:
            archive.writestr(name, _image_bytes(colour, mode, Path(name).suffix))
        for name, data in _ZIP_EXTRA:
            archive.writestr(name, data)


def _expected_label(colour: np.ndarray, split: str) -> tuple[int, str]:
    """The class of the test image whose mean colour is nearest (JPEG moves colours a little)."""
    members = [(name, c if mode != "L" else (round(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]),) * 3)
               for name, c, mode in _ZIP_MEMBERS if f"/{split}/" in name]   # a gray image's colour as JPEG keeps it
    nearest = min(members, key=lambda member: np.abs(colour - np.array(member[1], float)).sum())[0]
    return _ZIP_CLASSES.index(nearest.split("/")[-2]), nearest


class _Marked:
    """What the check's transform returns: the image it got, wrapped, so an ignored transform shows."""

    def __init__(self, image: Any):
        self.image = image


def check_zip_image_dataset(ZipImageDataset: type) -> None:  # noqa: N803 (the student's class)
    """Check ``ZipImageDataset(zip_path, split, transform=None)``: the images under ``<split>/<class>/`` of a zip,
    classes sorted, RGB always, the transform applied, non-image files skipped."""
    tmp = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
    path = Path(tmp.name) / "shop.zip"
    _write_test_zip(path)

    def build(split: str, transform: Any) -> Any:
        dataset = construct_student(ZipImageDataset, str(path), split, transform, what=f"ZipImageDataset(zip, {split!r}, transform)")
        if dataset is None or not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise CheckFailed("the dataset has no __len__ or __getitem__",
                              "a map-style Dataset defines __len__ (how many images) and __getitem__(i) -> (image, label).")
        return dataset

    def classes_case() -> None:
        dataset = build("train", None)
        classes = getattr(dataset, "classes", None)
        if classes is None:
            raise CheckFailed("the dataset has no attribute `classes`",
                              "keep the class names as self.classes, a list like ['apple', 'cherry', 'plum'].")
        classes = list(classes)
        if sorted(classes) == _ZIP_CLASSES and classes != _ZIP_CLASSES:
            raise CheckFailed(f"classes are {classes}, expected {_ZIP_CLASSES}",
                              "sort the folder names (sorted(...)): the order in which the zip lists its files, or a "
                              "set's order, is not stable, and the class index must not change between runs.")
        if any("." in c for c in classes) or any(c in ("train", "test", "shop") for c in classes):
            raise CheckFailed(f"classes are {classes}, expected {_ZIP_CLASSES}",
                              "the class is the name of the folder just above the file: name.split('/')[-2]; "
                              "skip directory entries (names ending in '/') and files that are not images.")
        expect_equal(classes, _ZIP_CLASSES, "dataset.classes",
                     "the classes are the sorted names of the folders under <split>/ that hold images.")

    def length_case(split: str) -> Callable[[], None]:
        def run() -> None:
            dataset = build(split, None)
            expected = sum(f"/{split}/" in name for name, _, _ in _ZIP_MEMBERS)
            got = call_student(len, dataset)
            if got == expected:
                return
            other = "test" if split == "train" else "train"
            entries = sum(f"/{split}/" in n and n.count("/") == 3 for n in _directory_entries())
            extras = sum(f"/{split}/" in n and n.count("/") == 3 for n, _ in _ZIP_EXTRA)
            if got == sum(1 for _ in _ZIP_MEMBERS):
                hint = f"keep only the members under {split}/: the {other} images belong to the other split."
            elif got == expected + extras or got == expected + sum(f"/{split}/" in n for n, _ in _ZIP_EXTRA):
                hint = "skip files that are not images: keep only names ending in .jpg, .jpeg or .png."
            elif got >= expected + entries:
                hint = "skip directory entries (names ending in '/'): a zip lists its folders too."
            else:
                hint = "one sample per image file under <split>/<class>/."
            raise CheckFailed(f"len(dataset) for split {split!r} is {got}, expected {expected}", hint)
        return run

    def items_case(split: str) -> Callable[[], None]:
        def run() -> None:
            dataset = build(split, None)
            seen = set()
            for i in range(call_student(len, dataset)):
                image, label = expect_results(call_student(dataset.__getitem__, i), 2, f"dataset[{i}] (__getitem__)",
                                              "return image, label from __getitem__.")
                if isinstance(label, str):
                    raise CheckFailed(f"dataset[{i}]'s label is the string {label!r}",
                                      "the label is the class INDEX, an int: self.classes.index(name) (or a dict).")
                label = expect_int(label, f"dataset[{i}]'s label", "the label is the class index, an int.")
                if not isinstance(image, Image.Image):
                    raise CheckFailed(f"with transform=None, dataset[{i}]'s image is {type(image).__name__}",
                                      "without a transform return the PIL image itself (Image.open(...), converted).")
                if image.mode != "RGB":
                    raise CheckFailed(f"dataset[{i}] is a {image.mode} image, expected RGB",
                                      "call .convert('RGB') on every image: grayscale (L), palette (P) and RGBA "
                                      "images would otherwise give 1 or 4 channels and break the batch.")
                pixels = np.asarray(image, dtype=float).reshape(-1, 3).mean(axis=0)
                expected, member = _expected_label(pixels, split)
                if int(label) != expected:
                    raise CheckFailed(f"the image {member} has label {int(label)}, expected {expected} "
                                      f"({_ZIP_CLASSES[expected]!r} is class {expected} of {_ZIP_CLASSES})",
                                      "the label is the index of the file's folder in the SORTED class list.")
                seen.add(member)
            expect_true(len(seen) == sum(f"/{split}/" in n for n, _, _ in _ZIP_MEMBERS),
                        f"some images of {split!r} never come out of the dataset, others come out twice",
                        "dataset[i] must give the i-th image of your list of image members.")
        return run

    def transform_case() -> None:
        dataset = build("train", _Marked)
        image, _ = call_student(dataset.__getitem__, 0)
        if not isinstance(image, _Marked):
            raise CheckFailed("dataset[0] did not go through the transform",
                              "apply the transform to the RGB image in __getitem__: if self.transform is not None: "
                              "image = self.transform(image).")
        expect_true(isinstance(image.image, Image.Image) and image.image.mode == "RGB",
                    "the transform got something other than an RGB PIL image",
                    "convert to RGB first, then apply the transform.")

    try:
        run_cases("ZipImageDataset", {
            "classes sorted, from the folder names": classes_case,
            "the number of training images": length_case("train"),
            "the number of test images": length_case("test"),
            "every training image as RGB with its class index": items_case("train"),
            "every test image as RGB with its class index": items_case("test"),
            "the transform applied": transform_case,
        })
    finally:
        tmp.cleanup()


def _directory_entries() -> list[str]:
    """Every folder above an image (``shop/``, ``shop/train/``, ...), each once, in the order the images need them."""
    return list(dict.fromkeys("/".join(name.split("/")[:depth]) + "/" for name, _, _ in _ZIP_MEMBERS
                              for depth in range(1, name.count("/") + 1)))


# ---------------------------------------------------------------- exercise 2: a stratified split

def check_stratified_split(stratified_split: Callable[..., Any]) -> None:
    """Check ``stratified_split(labels, val_fraction, seed)`` -> (train indices, val indices): disjoint, complete,
    each class split in proportion (at least one validation image per class), the same for the same seed."""
    rng = np.random.default_rng(7)
    labels = rng.permutation(np.repeat([0, 1, 2, 3], [200, 60, 20, 3]))  # imbalanced, shuffled; class 3 is tiny
    fraction = 0.25

    def split(labels_: np.ndarray, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
        train, val = expect_results(call_student(stratified_split, labels_.copy(), fraction, seed), 2, what,
                                    "return train_indices, val_indices.")
        return expect_indices(train, "the training indices"), expect_indices(val, "the validation indices")

    def partition_case() -> None:
        train, val = split(labels, 0, "stratified_split(labels, 0.25, seed=0)")
        n = len(labels)
        if len(val) and len(train) and max(val.max(), train.max()) < 4:
            raise CheckFailed("the validation part holds only the numbers 0-3", "return INDICES into labels (positions "
                              "0..N-1), not the labels themselves.")
        if len(val) > len(train):
            raise CheckFailed(f"{len(val)} validation and {len(train)} training indices for val_fraction={fraction}",
                              "val_fraction is the share that goes to VALIDATION (here a quarter), the rest trains.")
        both = np.concatenate([train, val])
        if len(np.unique(both)) != len(both):
            raise CheckFailed(f"{len(both) - len(np.unique(both))} indices appear twice (in both parts, or twice in one)",
                              "draw without replacement: shuffle each class's indices once and cut the list in two "
                              "(np.random.choice replaces by default).")
        expect_equal(sorted(both.tolist()) == list(range(n)), True, "every index 0..N-1 in exactly one part",
                     "the two parts together must hold every index once.")

    def proportion_case(seed: int) -> Callable[[], None]:
        def run() -> None:
            train, val = split(labels, seed, f"stratified_split(labels, 0.25, seed={seed})")
            for c, count in enumerate(np.bincount(labels)):
                got = int((labels[val] == c).sum())
                if got == 0:
                    raise CheckFailed(f"class {c} ({count} images) has no validation image",
                                      "give every class at least one validation image: max(1, round(fraction * n)); "
                                      "int(0.25 * 3) rounds 0.75 down to 0.")
                if abs(got - fraction * count) > 1:
                    raise CheckFailed(f"class {c} has {got} of its {count} images in validation, expected about "
                                      f"{fraction * count:g} (seed {seed})",
                                      "split EACH class separately (stratified): shuffle the indices of one class, put "
                                      "a val_fraction of them in validation, repeat for every class.")
        return run

    def reproducible_case() -> None:
        seed_all(1)
        first = split(labels, 3, "stratified_split(labels, 0.25, seed=3)")
        seed_all(2)
        second = split(labels, 3, "stratified_split(labels, 0.25, seed=3)")
        if not all(np.array_equal(np.sort(a), np.sort(b)) for a, b in zip(first, second)):
            raise CheckFailed("two calls with seed=3 gave different splits",
                              "make the randomness depend on `seed` only: rng = np.random.default_rng(seed) (or "
                              "torch.Generator().manual_seed(seed)), not the global np.random / torch state.")
        other = split(labels, 4, "stratified_split(labels, 0.25, seed=4)")
        if np.array_equal(np.sort(first[1]), np.sort(other[1])):
            raise CheckFailed("seeds 3 and 4 gave the same validation images",
                              "shuffle each class's indices with the seed before cutting (taking the first images "
                              "of each class, or ignoring the seed, always gives the same split).")

    run_cases("stratified_split", {
        "two disjoint parts that cover every index": partition_case,
        "every class split in proportion, seed 0": proportion_case(0),
        "every class split in proportion, seeds 1-5": lambda: [proportion_case(s)() for s in range(1, 6)],
        "the same seed gives the same split, another seed another": reproducible_case,
    })


# ---------------------------------------------------------------- exercise 3: a frozen backbone

def _bn_backbone(seed: int = 0) -> nn.Sequential:
    """A small conv net with BatchNorm statistics far from (0, 1), so training-mode BatchNorm shows in the numbers."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
                        nn.Conv2d(6, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
    with torch.no_grad():
        for bn in (net[1], net[4]):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(2, 4)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.3, 0.3)
    return net.eval()


def _bn_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()
            if k.endswith(("running_mean", "running_var"))}


def _bn_changed(module: nn.Module, before: dict[str, torch.Tensor]) -> list[str]:
    """The BatchNorm statistics of ``module`` that moved since ``before = _bn_state(module)``."""
    return [k for k, v in _bn_state(module).items() if not torch.equal(v, before[k])]


def check_frozen_backbone(FrozenBackbone: type) -> None:  # noqa: N803 (the student's class)
    """Check ``FrozenBackbone(backbone)``: no gradients for the backbone, and its BatchNorm layers stay in eval mode
    (ImageNet statistics, not the batch's) even after ``model.train()``; ``train()`` returns self."""

    def build() -> tuple[nn.Module, nn.Module, nn.Module, nn.Module]:
        backbone = _bn_backbone()
        reference = copy.deepcopy(backbone).eval()
        frozen = construct_student(FrozenBackbone, backbone, what="FrozenBackbone(backbone)")
        frozen = expect_module(frozen, "FrozenBackbone(backbone)", "the class must subclass nn.Module.")
        model = nn.Sequential(frozen, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(8, 3))
        return backbone, reference, frozen, model

    def gradients_case() -> None:
        backbone, _, frozen, model = build()
        trainable = [name for name, p in frozen.named_parameters() if p.requires_grad]
        if trainable:
            raise CheckFailed(f"{len(trainable)} backbone parameters still have requires_grad=True (e.g. {trainable[0]})",
                              "call backbone.requires_grad_(False) in __init__: then no gradient is computed or "
                              "stored for them, and an optimizer cannot change them.")
        model.train()
        x = torch.randn(4, 3, 8, 8)
        expect_tensor(call_student(frozen, x), "FrozenBackbone(backbone)(x)",
                      "FrozenBackbone.forward must return the backbone's output: return self.backbone(x).")
        out = model(x)
        out.sum().backward()
        expect_true(all(p.grad is None for p in backbone.parameters()), "the backbone's parameters got gradients",
                    "backbone.requires_grad_(False).")
        expect_true(model[-1].weight.grad is not None, "the head after the frozen backbone got no gradient",
                    "freeze only the backbone's parameters; the layers after it must still learn.")

    def batchnorm_case() -> None:
        backbone, reference, frozen, model = build()
        before = _bn_state(backbone)
        call_student(model.train)
        x = torch.randn(6, 3, 8, 8) * 3 + 1
        out = call_student(frozen, x)
        out = expect_tensor(out, "FrozenBackbone(backbone)(x)", "forward must return self.backbone(x).")
        changed = _bn_changed(backbone, before)
        if changed:
            raise CheckFailed(f"after model.train() and one batch, the BatchNorm statistics changed ({changed[0]})",
                              "model.train() switches every submodule to training mode, and a BatchNorm in training "
                              "mode updates its running statistics (requires_grad_(False) does not stop that, nor does "
                              "a backbone.eval() in __init__, which model.train() undoes). Override train(): "
                              "def train(self, mode=True): super().train(mode); self.backbone.eval(); return self.")
        with torch.no_grad():
            expected = reference(x)
        if not same_numbers(out.detach(), expected, atol=1e-4):
            raise CheckFailed("in training mode the frozen backbone gives other features than in eval mode",
                              "the BatchNorm layers normalise with the batch statistics in training mode (momentum=0 "
                              "only stops the running statistics from moving): keep the backbone in eval mode, "
                              "override train() so that it calls self.backbone.eval().")

    def modes_case() -> None:
        _, _, frozen, model = build()
        returned = call_student(frozen.train)
        if returned is not frozen:
            raise CheckFailed(f"frozen.train() returned {type(returned).__name__}, expected the module itself",
                              "end train() with `return self`, as nn.Module.train does (model = model.train() is common).")
        model.train()
        expect_true(frozen.training, "after model.train(), the FrozenBackbone module itself says training=False",
                    "call super().train(mode) first in train(), then put only the backbone in eval mode.")
        expect_true(model[3].training, "after model.train(), the Dropout after the backbone is not in training mode",
                    "put only the backbone in eval mode, not the whole model.")
        model.eval()
        expect_true(not frozen.training and not any(m.training for m in frozen.modules()),
                    "after model.eval(), part of the FrozenBackbone is still in training mode",
                    "call super().train(mode) in train(): model.eval() is model.train(False).")

    run_cases("FrozenBackbone", {
        "no gradients for the backbone, the head still learns": gradients_case,
        "BatchNorm keeps its statistics after model.train()": batchnorm_case,
        "train() and eval() switch the modes, train() returns self": modes_case,
    })


# ---------------------------------------------------------------- exercise 4: a new classifier for N classes

def _head_layer(model: nn.Module) -> tuple[str, nn.Linear]:
    """The name and layer of the last nn.Linear of a torchvision classifier (classifier[-1] or fc)."""
    if isinstance(getattr(model, "fc", None), nn.Linear):
        return "fc", model.fc
    index = max(i for i, m in enumerate(model.classifier) if isinstance(m, nn.Linear))
    return f"classifier.{index}", model.classifier[index]


def check_replace_classifier(replace_classifier: Callable[..., Any]) -> None:
    """Check ``replace_classifier(model, num_classes)``: the last nn.Linear of ``model.classifier`` (MobileNet,
    EfficientNet) or ``model.fc`` (ResNet) replaced by a new nn.Linear(in_features, num_classes); nothing else
    changed; returns the model."""
    import torchvision

    def case(name: str, num_classes: int) -> Callable[[], None]:
        def run() -> None:
            torch.manual_seed(0)
            original = torchvision.models.get_model(name, weights=None).eval()
            layer_name, old = _head_layer(original)
            in_features = old.in_features
            others = {k: v.clone() for k, v in original.state_dict().items() if not k.startswith(layer_name + ".")}
            structure = [type(m).__name__ for m in (original.classifier if hasattr(original, "classifier") else [])]
            with hint_for_crash(AttributeError, ("fc", "classifier"), "ResNets call their head model.fc, MobileNets "
                                "model.classifier (a Sequential whose last layer is the Linear): handle both."):
                model = call_student(replace_classifier, original, num_classes)
            model = expect_module(model, f"replace_classifier({name}, {num_classes})", "return the model.")
            x = torch.randn(2, 3, 64, 64)
            model.eval()
            try:
                with torch.no_grad():
                    out = model(x)
            except RuntimeError as err:
                raise CheckFailed(f"the {name} with your new classifier crashed: {str(err).splitlines()[0]}",
                                  f"read in_features from the layer you replace ({layer_name}.in_features is "
                                  f"{in_features} here); do not type 1280, each model has its own.") from err
            expect_tensor(out, "the model's output")
            if out.shape == (2, 1000):
                raise CheckFailed(f"{name} still gives 1000 outputs per image",
                                  "setting layer.out_features = n does not resize the weights: assign a NEW "
                                  f"nn.Linear({in_features}, num_classes) in place of the old layer.")
            expect_shape(out, (2, num_classes), f"{name}'s output for 2 images",
                         "the new last layer has num_classes outputs.")
            expect_logits(out, "the model's outputs", "return logits: no softmax layer; nn.CrossEntropyLoss applies it itself.")
            linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
            if any(m.out_features == 1000 for m in linears):
                raise CheckFailed("the old 1000-class layer is still in the model",
                                  "replace the 1000-class Linear instead of adding a new layer after it: after it, the "
                                  "image is squeezed through ImageNet's 1000 class scores first.")
            if hasattr(original, "classifier"):
                got = [type(m).__name__ for m in model.classifier] if isinstance(model.classifier, nn.Sequential) else \
                    [type(model.classifier).__name__]
                if len(got) != len(structure):
                    raise CheckFailed(f"{name}'s classifier is now [{', '.join(got)}], was [{', '.join(structure)}]",
                                      "keep the rest of the classifier (its Dropout, MobileNetV3's hidden Linear): "
                                      "replace only its LAST layer, model.classifier[-1] = nn.Linear(...).")
            state = model.state_dict()
            lost = [k for k, v in others.items() if k not in state or not torch.equal(state[k], v)]
            if lost:
                raise CheckFailed(f"{len(lost)} pretrained tensors changed or vanished (e.g. {lost[0]})",
                                  "change only the last layer of the model you were given; building a new model "
                                  "(e.g. mobilenet_v2(num_classes=n)) throws away the pretrained weights.")
        return run

    run_cases("replace_classifier", {
        "MobileNetV2 (classifier[1], 1280 inputs) for 8 classes": case("mobilenet_v2", 8),
        "MobileNetV3 small (classifier[3], 1024 inputs) for 2 classes": case("mobilenet_v3_small", 2),
        "ResNet-18 (fc, 512 inputs) for 5 classes": case("resnet18", 5),
    })


# ---------------------------------------------------------------- exercise 5: two parameter groups

class _Net(nn.Module):
    """A MobileNet-shaped model: ``features`` (conv + BatchNorm) and ``classifier`` (two Linear layers)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 16, 3),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Sequential(nn.Linear(16, 12), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(12, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def check_make_optimizer(make_optimizer: Callable[..., Any]) -> None:
    """Check ``make_optimizer(model, backbone_lr, head_lr)``: an AdamW with two parameter groups, every parameter of
    ``model.features`` at backbone_lr and every parameter of ``model.classifier`` at head_lr."""

    def case(backbone_lr: float, head_lr: float) -> Callable[[], None]:
        def run() -> None:
            model = _Net()
            with hint_for_crash(ValueError, "more than one parameter group", "model.parameters() holds the head's "
                                "parameters too: give the first group model.features.parameters() and the second "
                                "model.classifier.parameters()."):
                optimizer = call_student(make_optimizer, model, backbone_lr, head_lr)
            if isinstance(optimizer, (list, tuple)):
                raise CheckFailed("make_optimizer returned a list (the parameter groups?), not an optimizer",
                                  "pass the list of groups to the optimizer: torch.optim.AdamW([{...}, {...}]).")
            if not isinstance(optimizer, torch.optim.Optimizer):
                raise CheckFailed(f"make_optimizer returned {type(optimizer).__name__}, expected a torch optimizer",
                                  return_hint(optimizer, "return torch.optim.AdamW([...])."))
            expect_true(isinstance(optimizer, torch.optim.AdamW), f"the optimizer is {type(optimizer).__name__}",
                        "use torch.optim.AdamW, as the lesson does.")
            groups = optimizer.param_groups
            if len(groups) != 2:
                raise CheckFailed(f"the optimizer has {len(groups)} parameter group(s), expected 2",
                                  "pass two dicts: [{'params': model.features.parameters(), 'lr': backbone_lr}, "
                                  "{'params': model.classifier.parameters(), 'lr': head_lr}]; one group gives every "
                                  "layer the same learning rate.")
            backbone = {id(p) for p in model.features.parameters()}
            head = {id(p) for p in model.classifier.parameters()}
            kinds = []
            for group in groups:
                ids = {id(p) for p in group["params"]}
                if ids & backbone and ids & head:
                    raise CheckFailed("one group holds parameters of both the backbone and the head",
                                      "one group per part: model.features and model.classifier.")
                kinds.append("backbone" if ids & backbone else "head")
            covered = {id(p) for g in groups for p in g["params"]}
            if missing := (backbone | head) - covered:
                part = "head" if missing & head else "backbone"
                raise CheckFailed(f"{len(missing)} parameter tensors of the {part} are in no group",
                                  f"give the group all of model.{'classifier' if part == 'head' else 'features'}"
                                  ".parameters(), not only those of its last layer.")
            lrs = {kind: group["lr"] for kind, group in zip(kinds, groups)}
            if lrs.get("backbone") == head_lr and lrs.get("head") == backbone_lr:
                raise CheckFailed(f"the backbone's group has lr={head_lr} and the head's lr={backbone_lr}",
                                  "the learning rates are swapped: the pretrained backbone gets the SMALL rate.")
            if lrs.get("backbone") != backbone_lr:
                raise CheckFailed(f"the backbone's group has lr={lrs.get('backbone')}, expected {backbone_lr}",
                                  "write the learning rate into each group's dict ({'params': ..., 'lr': backbone_lr}); "
                                  "the lr= argument of the optimizer is only the default for groups without one.")
            expect_equal(lrs.get("head"), head_lr, "the head's learning rate", "{'params': ..., 'lr': head_lr}.")
        return run

    run_cases("make_optimizer", {
        "backbone 1e-4, head 1e-3": case(1e-4, 1e-3),
        "backbone 3e-5, head 3e-3": case(3e-5, 3e-3),
    })


# ---------------------------------------------------------------- exercise 6a: features, once

def check_extract_features(extract_features: Callable[..., Any]) -> None:
    """Check ``extract_features(backbone, loader)`` -> (features [N, C], labels [N]): the backbone's feature maps
    averaged over height and width, in eval mode, without gradients, for every batch in order, on the CPU."""

    def case(n: int, batch_size: int) -> Callable[[], None]:
        def run() -> None:
            backbone = nn.Sequential(_bn_backbone(1), nn.Dropout2d(0.5)).train()
            reference = copy.deepcopy(backbone).eval()
            before = _bn_state(backbone)
            generator = torch.Generator().manual_seed(0)
            images = torch.randn(n, 3, 6, 5, generator=generator) * 2 + 0.5
            labels = torch.arange(n) % 3
            loader = DataLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=False)
            features, got_labels = expect_results(call_student(extract_features, backbone, loader), 2, "extract_features",
                                                  "return features, labels (two tensors).")
            features = expect_tensor(features, "the features", "torch.cat the per-batch features into one tensor.")
            got_labels = expect_tensor(got_labels, "the labels", "torch.cat the per-batch labels into one tensor.")
            with torch.no_grad():
                maps = reference(images)
            expected = maps.mean(dim=(2, 3))
            if features.shape[0] in (batch_size, n % batch_size) and features.shape[0] != n:
                raise CheckFailed(f"features for {features.shape[0]} images, expected {n} (batches of {batch_size})",
                                  "collect every batch in a list and torch.cat them after the loop; do not return "
                                  "or overwrite inside the loop.")
            if features.ndim == 2 and features.shape[1] == maps[0].numel():
                raise CheckFailed(f"the features have shape {shape_text(features.shape)}", "average each feature map "
                                  "over its height and width (global average pooling): maps.mean(dim=(2, 3)) gives "
                                  "[N, C]; flattening keeps every position.")
            if features.ndim == 4:
                raise CheckFailed(f"the features have shape {shape_text(features.shape)}",
                                  "average over height and width: maps.mean(dim=(2, 3)) gives one vector per image, [N, C].")
            expect_shape(features, tuple(expected.shape), "the features")
            if features.requires_grad:
                raise CheckFailed("the features require gradients (autograd recorded the whole backbone)",
                                  "run the backbone under torch.no_grad() or torch.inference_mode(): a frozen "
                                  "backbone needs no gradients, and recording them costs memory and time.")
            expect_true(features.device.type == "cpu", f"the features are on {features.device}",
                        "move them to the CPU (.cpu()) so they can be cached and reused anywhere.")
            changed = _bn_changed(backbone, before)
            if changed or not same_numbers(features, expected, atol=1e-4):
                hint = name_the_mistake(features, [
                    (lambda: maps.amax(dim=(2, 3)), "that is max pooling: average the maps (mean over dims 2, 3)."),
                    (lambda: maps.sum(dim=(2, 3)), "you summed the maps: take the mean over dims 2 and 3."),
                ])
                if hint is None:
                    hint = ("call backbone.eval() first: in training mode BatchNorm normalises with each batch's own "
                            "statistics (and updates its running statistics) and dropout zeroes random features, so "
                            "the same image would get other features in every run.")
                expect_close(features, expected, "the features", atol=1e-4, hint=hint)
            expect_true(torch.equal(got_labels.cpu().long(), labels), "the labels do not match the images in order",
                        "return the labels of every batch, concatenated in the loader's order.")
        return run

    run_cases("extract_features", {
        "10 images in batches of 4 (the last one short)": case(10, 4),
        "7 images in one batch": case(7, 16),
    })


# ---------------------------------------------------------------- exercise 6b: a linear head on cached features

def _blobs(n_per_class: int, dim: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(99)) * 2.0
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    features = centres[labels] + torch.randn(len(labels), dim, generator=g)
    order = torch.randperm(len(labels), generator=g)
    return features[order] + 3.0, labels[order]   # an offset, as ReLU features have


def check_train_linear_head(train_linear_head: Callable[..., Any]) -> None:
    """Check ``train_linear_head(features, labels, num_classes, epochs, lr)`` -> an nn.Linear(D, num_classes) trained
    with cross-entropy on the cached features: it must classify well-separated features (>= 90 % of new ones)."""

    def case(classes: int, dim: int) -> Callable[[], None]:
        def run() -> None:
            features, labels = _blobs(40, dim, classes, seed=0)
            kept = features.clone()
            torch.manual_seed(0)
            head = call_student(train_linear_head, features, labels, classes, 30, 0.01)
            if isinstance(head, nn.Sequential) and any(isinstance(m, (nn.Softmax, nn.LogSoftmax)) for m in head):
                raise CheckFailed("the head ends in a softmax layer",
                                  "return the nn.Linear itself: logits; nn.CrossEntropyLoss applies the softmax.")
            head = expect_module(head, "train_linear_head(...)", "return the trained nn.Linear.")
            expect_true(isinstance(head, nn.Linear), f"train_linear_head returned a {type(head).__name__}",
                        "the head is ONE nn.Linear(features.shape[1], num_classes).")
            expect_equal((head.in_features, head.out_features), (dim, classes), "(in_features, out_features)",
                         "nn.Linear(features.shape[1], num_classes): one output per class.")
            expect_true(torch.equal(features, kept), "the cached features were changed in place",
                        "do not modify the features (e.g. features -= mean): they are cached and reused.")
            new_features, new_labels = _blobs(30, dim, classes, seed=1)
            with torch.no_grad():
                accuracy = float((head(new_features).argmax(dim=1) == new_labels).float().mean())
            if accuracy < 0.9:
                raise CheckFailed(f"the trained head classifies {100 * accuracy:.0f} % of new, well-separated features "
                                  "correctly, expected at least 90 %",
                                  "the head did not learn: in each step call optimizer.zero_grad(), compute "
                                  "loss = F.cross_entropy(head(x), y), loss.backward(), optimizer.step(); for `epochs` "
                                  "passes, with an optimizer built on head.parameters().")
        return run

    run_cases("train_linear_head", {
        "3 classes, 16 features": case(3, 16),
        "5 classes, 32 features": case(5, 32),
    })


# ---------------------------------------------------------------- exercise 7: top-k with names

def check_top_k(top_k: Callable[..., Any]) -> None:
    """Check ``top_k(logits, class_names, k)`` -> for every image a list of k (class name, probability) pairs, most
    probable first; probabilities from the softmax over the classes, as fractions."""
    names = ["apple", "banana", "cherry", "grape", "kiwi", "lemon", "mango"]

    def expected_for(logits: torch.Tensor, k: int) -> list[list[tuple[str, float]]]:
        top = logits.softmax(dim=1).topk(k, dim=1)
        return [[(names[i], float(p)) for p, i in zip(vals.tolist(), idx.tolist())]
                for vals, idx in zip(top.values, top.indices)]

    def case(logits: torch.Tensor, k: int) -> Callable[[], None]:
        def run() -> None:
            result = call_student(top_k, logits.clone(), list(names), k)
            if not isinstance(result, (list, tuple)):
                raise CheckFailed(f"top_k returned {type(result).__name__}, expected a list (one entry per image)",
                                  return_hint(result, "return a list with one list of (name, probability) per image."))
            expect_equal(len(result), len(logits), "the number of entries (one per image)",
                         "one list per image (per row of logits).")
            expected = expected_for(logits, k)
            for row, (got, want) in enumerate(zip(result, expected)):
                got = list(got)
                if len(got) != k:
                    raise CheckFailed(f"image {row} has {len(got)} pairs, expected k={k}", "use the k you are given.")
                pairs = []
                for item in got:
                    if not isinstance(item, (tuple, list)) or len(item) != 2:
                        raise CheckFailed(f"image {row}'s entries are {type(item).__name__}, expected (name, probability)",
                                          "each entry is a pair: (class_names[index], probability).")
                    pairs.append((item[0], expect_float(item[1], f"a probability of image {row}")))
                got_names, got_probs = [p[0] for p in pairs], np.array([p[1] for p in pairs])
                want_names, want_probs = [w[0] for w in want], np.array([w[1] for w in want])
                if got_probs.min() < 0 or got_probs.max() > 1:
                    if got_probs.max() <= 100 and np.allclose(got_probs / 100, want_probs, atol=1e-4):
                        hint = "return probabilities as fractions between 0 and 1, not percentages."
                    elif got_probs.max() <= 0:
                        hint = "those are log-probabilities (log_softmax): use softmax(dim=1)."
                    else:
                        hint = "those are raw logits: turn them into probabilities with logits.softmax(dim=1) first."
                    raise CheckFailed(f"image {row}'s 'probabilities' are {np.round(got_probs, 3).tolist()}", hint)
                if k > 1 and (got_names == want_names[::-1] or got_probs[0] < got_probs[-1]):
                    raise CheckFailed(f"image {row}'s pairs go from the least to the most probable",
                                      "most probable first: tensor.topk(k) sorts in descending order.")
                if got_names == names[:k] and want_names != names[:k]:
                    raise CheckFailed(f"image {row}'s names are {got_names}, the first {k} classes",
                                      "take the names at the INDICES topk returns: class_names[i] for i in indices.")
                if not np.allclose(got_probs, want_probs, atol=1e-4):
                    column = logits.softmax(dim=0)[row].topk(k)
                    if np.allclose(got_probs, column.values.numpy(), atol=1e-4):
                        hint = "softmax over the classes, dim=1; dim=0 normalises each class over the images."
                    else:
                        hint = "probabilities = logits.softmax(dim=1), then .topk(k, dim=1)."
                    raise CheckFailed(f"image {row}'s probabilities are {np.round(got_probs, 4).tolist()}, expected "
                                      f"{np.round(want_probs, 4).tolist()}", hint)
                if got_names != want_names:
                    raise CheckFailed(f"image {row}'s names are {got_names}, expected {want_names}",
                                      "take the names at the indices topk returns: class_names[i].")
        return run

    g = torch.Generator().manual_seed(3)
    run_cases("top_k", {
        "3 images, 7 classes, k=3": case(torch.randn(3, 7, generator=g) * 2, 3),
        "1 image, k=1": case(torch.tensor([[0.1, 2.0, -1.0, 0.5, 3.0, 0.0, 1.0]]), 1),
        "4 images, k=5": case(torch.randn(4, 7, generator=g) * 3, 5),
    })
