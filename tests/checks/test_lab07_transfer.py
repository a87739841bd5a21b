"""Lab 07 checks (helpers/checks/lab07_transfer.py): right answers pass, every classic bug fails with its hint."""

from __future__ import annotations

import zipfile
from pathlib import PurePosixPath

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from lab_test_kit import lab_tests, no_return as _no_return  # tests/checks/lab_test_kit.py
from helpers.checks import lab07_transfer as lab
from helpers.checks.core import seed_all

# ---------------------------------------------------------------- the classic bugs of each exercise
# check -> {classic bug: fragment(s) its failure message or hint must contain}. Each bug has a wrong answer in
# WRONG_ANSWERS below; the tests at the bottom feed every one of them to its check.
CLASSIC_BUGS: dict[str, dict[str, str | list[str]]] = {
    "check_zip_image_dataset": {
        "classes in the zip's order": ["sorted(", "not stable"],
        "no RGB conversion": ["convert('RGB')", "L image"],
        "transform ignored": "did not go through the transform",
        "directory entries counted": "directory entries",
        "non-image files kept": "not images",
        "other split included": "other split",
        "label is the class name": "class INDEX",
        "class from the file name": ["classes are", "folder just above"],
        "no classes attribute": "self.classes",
    },
    "check_stratified_split": {
        "random split, not stratified": ["stratified", "EACH class"],
        "global random state": ["different splits", "default_rng(seed)"],
        "first images of each class": ["same validation images", "shuffle"],
        "fraction rounded down to 0": ["no validation image", "max(1"],
        "val_fraction used for training": "share that goes to VALIDATION",
        "drawn with replacement": ["appear twice", "without replacement"],
        "labels instead of indices": "INDICES",
        "no return statement": "return statement",
    },
    "check_frozen_backbone": {
        "only requires_grad_(False)": ["statistics changed", "Override train()"],
        "eval() in __init__ only": ["statistics changed", "model.train() undoes"],
        "BatchNorm momentum 0": ["other features than in eval mode", "batch statistics"],
        "gradients not switched off": ["requires_grad=True", "requires_grad_(False)"],
        "train() without super().train(mode)": "super().train(mode)",
        "train() without return self": "return self",
        "the whole model put in eval mode": "training=False",
        "forward without return": "return statement",
    },
    "check_replace_classifier": {
        "appends after the 1000-class layer": "1000-class",
        "sets out_features": ["out_features", "does not resize"],
        "hard-coded 1280 inputs": ["in_features", "do not type 1280"],
        "whole classifier replaced": ["keep the rest of the classifier", "LAST layer"],
        "a new model without pretrained weights": ["pretrained", "throws away"],
        "softmax at the end": "logits",
        "only MobileNet's classifier": ["model.fc", "handle both"],
        "no return statement": "return statement",
    },
    "check_make_optimizer": {
        "one parameter group": ["1 parameter group", "same learning rate"],
        "learning rates swapped": "swapped",
        "lr only as the optimizer's default": ["lr=0.001", "each group's dict"],
        "the head's last layer only": ["in no group", "model.classifier"],
        "model.parameters() for the backbone": ["model.parameters()", "model.features.parameters()"],
        "returns the groups, not an optimizer": "torch.optim.AdamW([",
        "SGD instead of AdamW": "AdamW",
        "no return statement": "return statement",
    },
    "check_extract_features": {
        "training mode": ["backbone.eval()", "BatchNorm"],
        "autograd on": ["require gradients", "no_grad"],
        "flatten instead of mean": ["flattening keeps every position", "mean(dim=(2, 3))"],
        "maps not pooled": ["[N, C]", "average over height and width"],
        "max instead of mean": "max pooling",
        "last batch only": ["features for 2 images", "torch.cat"],
        "labels of the last batch only": "labels do not match",
        "no return statement": "return statement",
    },
    "check_train_linear_head": {
        "no optimizer.step()": ["did not learn", "optimizer.step()"],
        "softmax layer at the end": ["softmax", "logits"],
        "a single output": ["out_features", "one output per class"],
        "features normalised in place": "changed in place",
        "a hidden layer": "ONE nn.Linear",
        "no return statement": "return statement",
    },
    "check_top_k": {
        "no softmax": ["raw logits", "softmax(dim=1)"],
        "softmax over the images": "dim=0",
        "least probable first": "most probable first",
        "the first k names": "INDICES",
        "percentages": "fractions",
        "k ignored": "use the k",
        "log-probabilities": "log_softmax",
        "no return statement": "return statement",
    },
}

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


# ---------------------------------------------------------------- right answers (as in the solution)
class ZipImageDataset(Dataset):
    def __init__(self, zip_path, split, transform=None):
        self.zip_path, self.transform = zip_path, transform
        with zipfile.ZipFile(zip_path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/") and n.lower().endswith(IMAGE_SUFFIXES)]
        names = [n for n in names if len(PurePosixPath(n).parts) >= 3 and PurePosixPath(n).parts[-3] == split]
        self.classes = sorted({PurePosixPath(n).parts[-2] for n in names})
        index = {name: i for i, name in enumerate(self.classes)}
        self.samples = [(n, index[PurePosixPath(n).parts[-2]]) for n in sorted(names)]
        self._archive = None

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        if self._archive is None:
            self._archive = zipfile.ZipFile(self.zip_path)
        name, label = self.samples[i]
        with self._archive.open(name) as f:
            image = Image.open(f)
            image.load()
        image = image.convert("RGB")
        return (self.transform(image) if self.transform is not None else image), label


def stratified_split(labels, val_fraction, seed):
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = max(1, round(val_fraction * len(idx)))
        val.extend(idx[:n_val])
        train.extend(idx[n_val:])
    return np.sort(train), np.sort(val)


def stratified_split_sklearn(labels, val_fraction, seed):  # also right: scikit-learn, tiny classes handled
    from sklearn.model_selection import train_test_split

    return train_test_split(np.arange(len(labels)), test_size=val_fraction, stratify=labels, random_state=seed)


class FrozenBackbone(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.backbone.requires_grad_(False)

    def train(self, mode=True):
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x):
        return self.backbone(x)


class FrozenBatchNormBackbone(nn.Module):  # also right: torchvision's FrozenBatchNorm2d in place of every BatchNorm
    def __init__(self, backbone):
        super().__init__()
        from torchvision.ops import FrozenBatchNorm2d

        for name, module in list(backbone.named_children()):
            if isinstance(module, nn.BatchNorm2d):
                frozen = FrozenBatchNorm2d(module.num_features, eps=module.eps)
                frozen.weight.copy_(module.weight.detach())
                frozen.bias.copy_(module.bias.detach())
                frozen.running_mean.copy_(module.running_mean)
                frozen.running_var.copy_(module.running_var)
                setattr(backbone, name, frozen)
        self.backbone = backbone.requires_grad_(False)

    def forward(self, x):
        return self.backbone(x)


def replace_classifier(model, num_classes):
    if isinstance(getattr(model, "fc", None), nn.Linear):
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    else:
        model.classifier[-1] = nn.Linear(model.classifier[-1].in_features, num_classes)
    return model


def make_optimizer(model, backbone_lr, head_lr):
    return torch.optim.AdamW([{"params": model.features.parameters(), "lr": backbone_lr},
                              {"params": model.classifier.parameters(), "lr": head_lr}])


def extract_features(backbone, loader):
    backbone.eval()
    features, labels = [], []
    with torch.inference_mode():
        for images, targets in loader:
            features.append(backbone(images).mean(dim=(2, 3)).cpu())
            labels.append(targets)
    return torch.cat(features), torch.cat(labels)


def train_linear_head(features, labels, num_classes, epochs, lr):
    head = nn.Linear(features.shape[1], num_classes)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for batch in torch.randperm(len(features), generator=generator).split(32):
            loss = F.cross_entropy(head(features[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return head


def top_k(logits, class_names, k):
    top = logits.softmax(dim=1).topk(k, dim=1)
    return [[(class_names[i], p) for p, i in zip(values.tolist(), indices.tolist())]
            for values, indices in zip(top.values, top.indices)]


RIGHT_ANSWERS: dict[str, list] = {
    "check_zip_image_dataset": [ZipImageDataset],
    "check_stratified_split": [stratified_split, stratified_split_sklearn],
    "check_frozen_backbone": [FrozenBackbone, FrozenBatchNormBackbone],
    "check_replace_classifier": [replace_classifier],
    "check_make_optimizer": [make_optimizer],
    "check_extract_features": [extract_features],
    "check_train_linear_head": [train_linear_head],
    "check_top_k": [top_k],
}


# ---------------------------------------------------------------- wrong answers, one per classic bug
def dataset_with(*, sort=True, rgb=True, transform=True, keep_dirs=False, keep_other=False, keep_text=False,
                 name_label=False, folder=-2, classes_attr=True):
    class Wrong(ZipImageDataset):
        def __init__(self, zip_path, split, transform_=None):
            self.zip_path, self.transform = zip_path, transform_
            with zipfile.ZipFile(zip_path) as archive:
                names = archive.namelist()
            if not keep_dirs:
                names = [n for n in names if not n.endswith("/")]
            if not keep_text:
                names = [n for n in names if n.endswith("/") or n.lower().endswith(IMAGE_SUFFIXES)]
            if not keep_other:
                names = [n for n in names if f"/{split}/" in n]
            parts = [n.rstrip("/").split("/") for n in names]
            found = list(dict.fromkeys(p[folder] for p in parts))
            classes = sorted(found) if sort else found
            if classes_attr:
                self.classes = classes
            self._names = classes
            self.samples = [(n, p[folder]) for n, p in zip(names, parts)]
            self._archive = None

        def __getitem__(self, i):
            if self._archive is None:
                self._archive = zipfile.ZipFile(self.zip_path)
            name, folder_name = self.samples[i]
            with self._archive.open(name) as f:
                image = Image.open(f)
                image.load()
            if rgb:
                image = image.convert("RGB")
            if transform and self.transform is not None:
                image = self.transform(image)
            return image, folder_name if name_label else self._names.index(folder_name)

    return Wrong


def split_with(*, stratify=True, seeded=True, shuffle=True, rounding=round, flip=False, replace=False,
               as_labels=False):
    def wrong(labels, val_fraction, seed):
        labels = np.asarray(labels)
        rng = np.random.default_rng(seed) if seeded else np.random
        fraction = 1 - val_fraction if flip else val_fraction
        if not stratify:
            idx = rng.permutation(len(labels))
            n_val = round(fraction * len(labels))
            return idx[n_val:], idx[:n_val]
        train, val = [], []
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            if shuffle:
                idx = rng.permutation(idx)
            n_val = rounding(fraction * len(idx))
            chosen = rng.choice(idx, n_val, replace=True) if replace else idx[:n_val]
            val.extend(chosen)
            train.extend(idx if replace else idx[n_val:])
        if as_labels:
            return labels[train], labels[val]
        return np.array(train), np.array(val)

    return wrong


def _only_requires_grad(eval_in_init=False):
    class Wrong(nn.Module):
        def __init__(self, backbone):
            super().__init__()
            self.backbone = backbone.requires_grad_(False)
            if eval_in_init:
                self.backbone.eval()

        def forward(self, x):
            return self.backbone(x)

    return Wrong


class MomentumZero(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone.requires_grad_(False)
        for m in backbone.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.0

    def forward(self, x):
        return self.backbone(x)


class NoRequiresGrad(FrozenBackbone):
    def __init__(self, backbone):
        nn.Module.__init__(self)
        self.backbone = backbone


class NoSuperTrain(FrozenBackbone):
    def train(self, mode=True):
        self.backbone.eval()
        return self


class NoReturnSelf(FrozenBackbone):
    def train(self, mode=True):
        super().train(mode)
        self.backbone.eval()


class AllEval(FrozenBackbone):
    def train(self, mode=True):
        return super().train(False)


class NoForwardReturn(FrozenBackbone):
    def forward(self, x):
        self.backbone(x)


def replace_with(kind):
    def wrong(model, num_classes):
        layer = model.fc if isinstance(getattr(model, "fc", None), nn.Linear) else model.classifier[-1]
        if kind == "append":
            return nn.Sequential(model, nn.Linear(1000, num_classes))
        if kind == "out_features":
            layer.out_features = num_classes
        elif kind == "1280":
            new = nn.Linear(1280, num_classes)
            if hasattr(model, "fc"):
                model.fc = new
            else:
                model.classifier[-1] = new
        elif kind == "whole classifier":
            model.classifier = nn.Linear(layer.in_features, num_classes)
        elif kind == "new model":
            import torchvision

            name = {"MobileNetV2": "mobilenet_v2", "MobileNetV3": "mobilenet_v3_small", "ResNet": "resnet18"}
            return torchvision.models.get_model(name[type(model).__name__], weights=None, num_classes=num_classes)
        elif kind == "softmax":
            model = replace_classifier(model, num_classes)
            return nn.Sequential(model, nn.Softmax(dim=1))
        elif kind == "classifier only":
            model.classifier[-1] = nn.Linear(model.classifier[-1].in_features, num_classes)
        return model

    return wrong


def optimizer_with(kind):
    def wrong(model, backbone_lr, head_lr):
        features, head = model.features.parameters(), model.classifier.parameters()
        if kind == "one group":
            return torch.optim.AdamW(model.parameters(), lr=head_lr)
        if kind == "swapped":
            return torch.optim.AdamW([{"params": features, "lr": head_lr}, {"params": head, "lr": backbone_lr}])
        if kind == "default lr":
            return torch.optim.AdamW([{"params": features}, {"params": head}], lr=head_lr)
        if kind == "last layer":
            return torch.optim.AdamW([{"params": features, "lr": backbone_lr},
                                      {"params": model.classifier[-1].parameters(), "lr": head_lr}])
        if kind == "model.parameters":
            return torch.optim.AdamW([{"params": model.parameters(), "lr": backbone_lr},
                                      {"params": head, "lr": head_lr}])
        if kind == "groups":
            return [{"params": features, "lr": backbone_lr}, {"params": head, "lr": head_lr}]
        if kind == "sgd":
            return torch.optim.SGD([{"params": features, "lr": backbone_lr}, {"params": head, "lr": head_lr}])
        raise AssertionError(kind)

    return wrong


def features_with(*, eval_mode=True, no_grad=True, pool="mean", last_only=False, labels_last=False):
    def wrong(backbone, loader):
        if eval_mode:
            backbone.eval()
        features, labels = [], []
        with torch.set_grad_enabled(not no_grad):
            for images, targets in loader:
                maps = backbone(images)
                if pool == "mean":
                    out = maps.mean(dim=(2, 3))
                elif pool == "max":
                    out = maps.amax(dim=(2, 3))
                elif pool == "flatten":
                    out = maps.flatten(1)
                else:
                    out = maps
                if last_only:
                    features, labels = [out], [targets]
                else:
                    features.append(out)
                    labels = [targets] if labels_last else labels + [targets]
        return torch.cat(features), torch.cat(labels)

    return wrong


def head_with(*, step=True, softmax=False, outputs=None, in_place=False, hidden=False):
    def wrong(features, labels, num_classes, epochs, lr):
        if in_place:
            features -= features.mean(dim=0)
        out = outputs or num_classes
        head = (nn.Sequential(nn.Linear(features.shape[1], 16), nn.ReLU(), nn.Linear(16, out)) if hidden
                else nn.Linear(features.shape[1], out))
        optimizer = torch.optim.AdamW(head.parameters(), lr=lr)
        for _ in range(epochs):
            for batch in torch.arange(len(features)).split(32):
                logits = head(features[batch])
                loss = (F.cross_entropy(logits, labels[batch]) if out > 1
                        else F.binary_cross_entropy_with_logits(logits[:, 0], (labels[batch] > 0).float()))
                optimizer.zero_grad()
                loss.backward()
                if step:
                    optimizer.step()
        return nn.Sequential(head, nn.Softmax(dim=1)) if softmax else head

    return wrong


def topk_with(kind):
    def wrong(logits, class_names, k):
        if kind == "no softmax":
            probs = logits
        elif kind == "dim0":
            probs = logits.softmax(dim=0)
        elif kind == "log":
            probs = logits.log_softmax(dim=1)
        else:
            probs = logits.softmax(dim=1)
        kk = 5 if kind == "k ignored" else k
        top = probs.topk(kk, dim=1, largest=kind != "ascending")
        scale = 100 if kind == "percent" else 1
        rows = []
        for values, indices in zip(top.values.tolist(), top.indices.tolist()):
            names = class_names[:kk] if kind == "first names" else [class_names[i] for i in indices]
            rows.append([(n, scale * v) for n, v in zip(names, values)])
        return rows

    return wrong


WRONG_ANSWERS = {
    ("check_zip_image_dataset", "classes in the zip's order"): dataset_with(sort=False),
    ("check_zip_image_dataset", "no RGB conversion"): dataset_with(rgb=False),
    ("check_zip_image_dataset", "transform ignored"): dataset_with(transform=False),
    ("check_zip_image_dataset", "directory entries counted"): dataset_with(keep_dirs=True),
    ("check_zip_image_dataset", "non-image files kept"): dataset_with(keep_text=True),
    ("check_zip_image_dataset", "other split included"): dataset_with(keep_other=True),
    ("check_zip_image_dataset", "label is the class name"): dataset_with(name_label=True),
    ("check_zip_image_dataset", "class from the file name"): dataset_with(folder=-1),
    ("check_zip_image_dataset", "no classes attribute"): dataset_with(classes_attr=False),

    ("check_stratified_split", "random split, not stratified"): split_with(stratify=False),
    ("check_stratified_split", "global random state"): split_with(seeded=False),
    ("check_stratified_split", "first images of each class"): split_with(shuffle=False),
    ("check_stratified_split", "fraction rounded down to 0"): split_with(rounding=int),
    ("check_stratified_split", "val_fraction used for training"): split_with(flip=True),
    ("check_stratified_split", "drawn with replacement"): split_with(replace=True),
    ("check_stratified_split", "labels instead of indices"): split_with(as_labels=True),
    ("check_stratified_split", "no return statement"): _no_return,

    ("check_frozen_backbone", "only requires_grad_(False)"): _only_requires_grad(),
    ("check_frozen_backbone", "eval() in __init__ only"): _only_requires_grad(eval_in_init=True),
    ("check_frozen_backbone", "BatchNorm momentum 0"): MomentumZero,
    ("check_frozen_backbone", "gradients not switched off"): NoRequiresGrad,
    ("check_frozen_backbone", "train() without super().train(mode)"): NoSuperTrain,
    ("check_frozen_backbone", "train() without return self"): NoReturnSelf,
    ("check_frozen_backbone", "the whole model put in eval mode"): AllEval,
    ("check_frozen_backbone", "forward without return"): NoForwardReturn,

    ("check_replace_classifier", "appends after the 1000-class layer"): replace_with("append"),
    ("check_replace_classifier", "sets out_features"): replace_with("out_features"),
    ("check_replace_classifier", "hard-coded 1280 inputs"): replace_with("1280"),
    ("check_replace_classifier", "whole classifier replaced"): replace_with("whole classifier"),
    ("check_replace_classifier", "a new model without pretrained weights"): replace_with("new model"),
    ("check_replace_classifier", "softmax at the end"): replace_with("softmax"),
    ("check_replace_classifier", "only MobileNet's classifier"): replace_with("classifier only"),
    ("check_replace_classifier", "no return statement"): _no_return,

    ("check_make_optimizer", "one parameter group"): optimizer_with("one group"),
    ("check_make_optimizer", "learning rates swapped"): optimizer_with("swapped"),
    ("check_make_optimizer", "lr only as the optimizer's default"): optimizer_with("default lr"),
    ("check_make_optimizer", "the head's last layer only"): optimizer_with("last layer"),
    ("check_make_optimizer", "model.parameters() for the backbone"): optimizer_with("model.parameters"),
    ("check_make_optimizer", "returns the groups, not an optimizer"): optimizer_with("groups"),
    ("check_make_optimizer", "SGD instead of AdamW"): optimizer_with("sgd"),
    ("check_make_optimizer", "no return statement"): _no_return,

    ("check_extract_features", "training mode"): features_with(eval_mode=False),
    ("check_extract_features", "autograd on"): features_with(no_grad=False),
    ("check_extract_features", "flatten instead of mean"): features_with(pool="flatten"),
    ("check_extract_features", "maps not pooled"): features_with(pool=None),
    ("check_extract_features", "max instead of mean"): features_with(pool="max"),
    ("check_extract_features", "last batch only"): features_with(last_only=True),
    ("check_extract_features", "labels of the last batch only"): features_with(labels_last=True),
    ("check_extract_features", "no return statement"): _no_return,

    ("check_train_linear_head", "no optimizer.step()"): head_with(step=False),
    ("check_train_linear_head", "softmax layer at the end"): head_with(softmax=True),
    ("check_train_linear_head", "a single output"): head_with(outputs=1),
    ("check_train_linear_head", "features normalised in place"): head_with(in_place=True),
    ("check_train_linear_head", "a hidden layer"): head_with(hidden=True),
    ("check_train_linear_head", "no return statement"): _no_return,

    ("check_top_k", "no softmax"): topk_with("no softmax"),
    ("check_top_k", "softmax over the images"): topk_with("dim0"),
    ("check_top_k", "least probable first"): topk_with("ascending"),
    ("check_top_k", "the first k names"): topk_with("first names"),
    ("check_top_k", "percentages"): topk_with("percent"),
    ("check_top_k", "k ignored"): topk_with("k ignored"),
    ("check_top_k", "log-probabilities"): topk_with("log"),
    ("check_top_k", "no return statement"): _no_return,
}

CLASS_CHECKS = ("check_zip_image_dataset", "check_frozen_backbone")


# ---------------------------------------------------------------- tests
# the tests every lab's checks get (lab_test_kit.lab_tests), then this lab's own
globals().update(lab_tests(lab, CLASSIC_BUGS, RIGHT_ANSWERS, WRONG_ANSWERS, class_checks=CLASS_CHECKS))


def test_a_class_instance_instead_of_the_class_is_named(fails_with):
    fails_with(lab.check_frozen_backbone, FrozenBackbone(nn.Identity()), words="pass the class itself")


@pytest.mark.parametrize("seed", range(3))
def test_checks_do_not_depend_on_the_global_seed(seed, capsys):
    seed_all(seed)  # the checks seed their own draws; a right answer passes whatever came before
    lab.check_stratified_split(stratified_split)
    lab.check_train_linear_head(train_linear_head)
    assert capsys.readouterr().out.count("✅") == 2


def test_the_dataset_check_reads_a_zip_with_directory_entries_and_junk(tmp_path):
    path = tmp_path / "shop.zip"
    lab._write_test_zip(path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert any(n.endswith("/") for n in names) and any(n.endswith(".txt") for n in names)
    dataset = ZipImageDataset(path, "train")
    assert dataset.classes == ["apple", "cherry", "plum"] and len(dataset) == 6
    assert {dataset[i][0].mode for i in range(len(dataset))} == {"RGB"}
