"""Checks for lab 05, a VGG-style network built, trained and evaluated by hand (``solutions/05_vgg_lab.ipynb``).

Each check runs the student's code on small cases; when an answer is wrong it looks for the classic mistake that
explains it (a missing model.eval(), softmax before CrossEntropyLoss, a wrong flatten size, dropout without
rescaling or with one random draw for many units, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from helpers.checks.core import (CheckFailed, call_student, expect_close, expect_dtype, expect_equal, expect_float,
                                 expect_independent_draws, expect_int, expect_logits, expect_module, expect_shape,
                                 expect_tensor, expect_true, leaf_layers, name_the_mistake, return_hint, run_cases)

__all__ = [
    "check_make_features",
    "check_flatten_size",
    "check_my_dropout",
    "check_build_vgg",
    "check_train_step",
    "check_evaluate_accuracy",
]


def _feature_shape(config: Sequence[int | str], in_channels: int, size: int) -> tuple[int, int, int]:
    """Channels, height and width after the feature extractor of ``config`` for a square input."""
    channels = in_channels
    for v in config:
        if v == "M":
            size //= 2
        else:
            channels = int(v)
    return channels, size, size


def check_make_features(make_features: Callable[..., Any]) -> None:
    """Check ``make_features(config, in_channels)``: per number Conv2d(3x3, padding=1) -> BatchNorm2d -> ReLU, per "M" MaxPool2d(2)."""

    def case(config: list[int | str], in_channels: int, size: int) -> Callable[[], None]:
        def run() -> None:
            features = expect_module(call_student(make_features, list(config), in_channels), "make_features(...)")
            layers = leaf_layers(features)
            convs = [m for m in layers if isinstance(m, nn.Conv2d)]
            numbers = [int(v) for v in config if v != "M"]
            expect_equal(len(convs), len(numbers), f"the number of Conv2d layers for config {config}",
                         "add one nn.Conv2d for every number in the config (and one nn.MaxPool2d for every 'M').")
            channels = in_channels
            for i, (conv, out) in enumerate(zip(convs, numbers), start=1):
                expect_equal(conv.kernel_size, (3, 3), f"conv {i}'s kernel_size", "this exercise's convolutions are 3x3 (the paper's conv3 layers): kernel_size=3.")
                expect_equal(conv.padding, (1, 1), f"conv {i}'s padding",
                             "use padding=1 with a 3x3 kernel so the convolution keeps the height and width (only 'M' halves them).")
                expect_equal(conv.in_channels, channels, f"conv {i}'s in_channels",
                             "keep track of the channels: the first conv takes in_channels, every later conv takes the "
                             "out_channels of the conv before it.")
                expect_equal(conv.out_channels, out, f"conv {i}'s out_channels", "a number in the config is that conv's out_channels.")
                channels = out
            expected_types: list[type] = []
            for v in config:
                expected_types += [nn.MaxPool2d] if v == "M" else [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
            got_types = [type(m) for m in layers if not isinstance(m, (nn.Identity, nn.Dropout))]
            if got_types != expected_types:
                got = ", ".join(t.__name__ for t in got_types)
                want = ", ".join(t.__name__ for t in expected_types)
                hint = ("after each conv add nn.BatchNorm2d(out_channels), then nn.ReLU()."
                        if nn.BatchNorm2d not in got_types else
                        "each number becomes Conv2d -> BatchNorm2d -> ReLU (in this order), each 'M' one nn.MaxPool2d(2).")
                raise CheckFailed(f"the layers are [{got}], expected [{want}]", hint)
            for i, (bn, out) in enumerate(zip([m for m in layers if isinstance(m, nn.BatchNorm2d)], numbers), start=1):
                expect_equal(bn.num_features, out, f"batch norm {i}'s num_features",
                             "nn.BatchNorm2d(channels) takes the channels of the conv before it.")
            for pool in (m for m in layers if isinstance(m, nn.MaxPool2d)):
                expect_true(pool.kernel_size in (2, (2, 2)) and pool.stride in (2, (2, 2)),
                            f"a pooling layer has kernel_size={pool.kernel_size}, stride={pool.stride}, expected 2 and 2",
                            "nn.MaxPool2d(2) halves height and width (its stride defaults to its kernel size).")
            features.eval()
            with torch.inference_mode():
                out = call_student(features, torch.randn(2, in_channels, size, size))
            expect_shape(out, (2, *_feature_shape(config, in_channels, size)), f"the feature map for a {in_channels}x{size}x{size} input")
        return run

    run_cases("make_features", {
        "two blocks, gray 28x28": case([8, "M", 16, 16, "M"], 1, 28),
        "three blocks, RGB 32x32": case([4, 4, "M", 8, "M", 8, "M"], 3, 32),
        "one conv, no pooling": case([6], 2, 10),
    })


def check_flatten_size(flatten_size: Callable[..., Any]) -> None:
    """Check ``flatten_size(config, image_size)`` = channels x height x width after the feature extractor (an int)."""

    def case(config: list[int | str], size: int) -> Callable[[], None]:
        def run() -> None:
            channels, height, width = _feature_shape(config, 1, size)
            expected = channels * height * width
            text = f"flatten_size({config}, {size})"
            got = expect_int(call_student(flatten_size, list(config), size), text,
                             "use // for halving (7 // 2 == 3), so the result stays a whole number: nn.Linear needs an int.")
            if got == expected:
                return
            pools = sum(v == "M" for v in config)
            numbers = [int(v) for v in config if v != "M"]
            wrong_answers = [
                (channels * size * size, "each 'M' (max pooling) halves the height and the width."),
                (numbers[0] * height * width, "the channels that reach the classifier are those of the LAST conv."),
                (sum(numbers) * height * width, "channels do not add up across convs: take the last conv's channels."),
                (height * width, "multiply by the number of channels too: the feature map is channels x height x width."),
                (channels * height, "the feature map is channels x height x WIDTH: multiply by both sizes."),
            ]
            exact = size / 2 ** pools
            if exact != height:
                wrong_answers.append((round(channels * exact * exact),
                                      f"pooling rounds down: a side of {size} pooled {pools} times is {height}, not {exact:g}."))
            hint = name_the_mistake(got, wrong_answers)
            raise CheckFailed(f"{text} is {got}, expected {expected}",
                              hint or "follow the size through the config: 3x3 convs with padding 1 keep it, each 'M' halves "
                                      "it (rounding down); multiply by the last conv's channels.")
        return run

    run_cases("flatten_size", {
        "two blocks on 28x28": case([8, "M", 16, "M"], 28),
        "vgg_small on 28x28 (7 -> 3)": case([32, 32, "M", 64, 64, "M", 128, 128, "M"], 28),
        "RGB-sized 32x32": case([8, "M"], 32),
        "four pools (28 -> 1)": case([16, "M", 32, "M", 64, "M", 64, "M"], 28),
        "no pooling": case([4], 5),
    })


def check_my_dropout(my_dropout: Callable[..., Any]) -> None:
    """Check ``my_dropout(x, p, training)``: inverted dropout (drop each value with probability p, scale the kept
    ones by 1/(1-p)), one random draw per element, a new tensor of x's dtype; identity in eval."""
    per_element = ("draw one random number per element: mask = torch.rand_like(x) >= p has x's shape. torch.rand(1), "
                   "or torch.rand(len(x), 1) for a whole row, is one coin reused for many values, so they are dropped together.")

    def in_training() -> None:
        p = 0.2
        x = torch.ones(200, 500)
        torch.manual_seed(0)
        out = expect_tensor(call_student(my_dropout, x, p, True), "my_dropout(x)", "return a tensor like x.")
        expect_shape(out, tuple(x.shape), "my_dropout(x)")
        expect_true(bool((x == 1).all()), "my_dropout changed its input x in place",
                    "build a new tensor (x * mask / (1 - p)) instead of writing into x.")
        if torch.equal(out, x):
            raise CheckFailed("with training=True nothing was dropped and nothing was scaled",
                              "in training, zero each value with probability p and divide the kept ones by 1 - p.")
        expect_independent_draws(out == 0, "the dropped units", per_element)
        dropped = float((out == 0).float().mean())
        if abs(dropped - (1 - p)) < 0.02:
            raise CheckFailed(f"{100 * dropped:.1f} % of the units were dropped, expected about {100 * p:.0f} %",
                              "p is the probability of DROPPING a unit: keep a unit when its random number is >= p.")
        expect_true(abs(dropped - p) < 0.02, f"{100 * dropped:.1f} % of the units were dropped, expected about {100 * p:.0f} %",
                    "drop each unit with probability p: mask = (torch.rand_like(x) >= p).")
        kept = out[out != 0]
        if torch.allclose(kept, torch.ones_like(kept)):
            raise CheckFailed("the kept units are unchanged (1.0), expected 1 / (1 - p) = 1.25",
                              "inverted dropout scales the kept units by 1 / (1 - p) during training, so the expected value "
                              "stays the same and nothing needs rescaling at test time.")
        if torch.allclose(kept, torch.full_like(kept, 1 - p)):
            raise CheckFailed("the kept units are multiplied by (1 - p) = 0.8, expected 1 / (1 - p) = 1.25",
                              "divide by (1 - p) instead of multiplying: x * mask / (1 - p).")
        if torch.allclose(kept, torch.full_like(kept, 1 / p)):
            raise CheckFailed("the kept units are divided by p = 0.2 (they became 5.0), expected 1 / (1 - p) = 1.25",
                              "scale by one over the probability of KEEPING a unit, 1 - p: then the mean stays the same.")
        expect_close(kept, torch.full_like(kept, 1 / (1 - p)), "the kept units", atol=1e-5, hint="kept units are x / (1 - p).")

    def feature_maps() -> None:
        x = torch.ones(16, 8, 12, 12)  # a batch of feature maps: N x C x H x W
        torch.manual_seed(3)
        out = expect_tensor(call_student(my_dropout, x, 0.3, True), "my_dropout(x)", "return a tensor like x.")
        expect_shape(out, tuple(x.shape), "my_dropout(x) for a 16x8x12x12 batch")
        expect_independent_draws(out == 0, "the dropped units", per_element)

    def signed_values() -> None:
        torch.manual_seed(1)
        x = torch.randn(50, 40)
        out = expect_tensor(call_student(my_dropout, x, 0.5, True), "my_dropout(x)", "return a tensor like x.")
        expect_shape(out, tuple(x.shape), "my_dropout(x)")
        kept = out != 0
        expect_close(out[kept], x[kept] * 2, "the kept values for p = 0.5", atol=1e-5, hint="kept units are x / (1 - p): here 2 x.")
        again = expect_tensor(call_student(my_dropout, x, 0.5, True), "my_dropout(x)")
        expect_true(not torch.equal(again, out), "two calls dropped exactly the same units",
                    "draw a new random mask on every call (do not seed inside the function).")

    def half_precision() -> None:
        x = torch.randn(20, 30).half()  # what mixed precision (AMP) hands a dropout layer
        torch.manual_seed(4)
        out = expect_tensor(call_student(my_dropout, x, 0.5, True), "my_dropout(x) for a float16 x")
        expect_dtype(out, x.dtype, "my_dropout(x) for a float16 x",
                     "keep x's dtype: build the mask with torch.rand_like(x) (same dtype and device as x) and convert it "
                     "with .to(x.dtype); a float32 mask turns a float16 x into float32.")

    def in_eval() -> None:
        torch.manual_seed(2)
        x = torch.randn(30, 20)
        out = expect_tensor(call_student(my_dropout, x, 0.5, False), "my_dropout(x, training=False)", "return x unchanged.")
        expect_shape(out, tuple(x.shape), "my_dropout(x, training=False)")
        if bool((out == 0).any()) and not bool((x == 0).any()):
            raise CheckFailed("units were dropped with training=False",
                              "at evaluation time dropout does nothing: `if not training: return x` (model.eval() sets training=False).")
        if torch.allclose(out, x * 0.5) or torch.allclose(out, x * 2):
            raise CheckFailed("with training=False the output is x scaled",
                              "with inverted dropout all the scaling happens in training; in eval return x unchanged.")
        expect_close(out, x, "my_dropout(x, training=False)", atol=0, rtol=0, hint="in eval mode return x unchanged.")

    def p_zero() -> None:
        x = torch.randn(10, 10)
        out = expect_tensor(call_student(my_dropout, x, 0.0, True), "my_dropout(x, p=0)", "return x unchanged.")
        expect_close(out, x, "my_dropout(x, p=0, training=True)", atol=1e-6, hint="with p = 0 nothing is dropped and 1 / (1 - p) = 1.")

    run_cases("my_dropout", {"training, p = 0.2": in_training, "training, a batch of feature maps": feature_maps,
                             "training, signed values": signed_values, "training, float16 input": half_precision,
                             "eval mode": in_eval, "p = 0": p_zero})


def check_build_vgg(build_vgg: Callable[..., Any]) -> None:
    """Check ``build_vgg(config, num_classes)`` for 1x28x28 images: returns logits [N, num_classes], no softmax."""

    def case(config: list[int | str], num_classes: int) -> Callable[[], None]:
        def run() -> None:
            model = expect_module(call_student(build_vgg, list(config), num_classes), "build_vgg(...)")
            channels, height, width = _feature_shape(config, 1, 28)
            if any(isinstance(m, (nn.Softmax, nn.LogSoftmax)) for m in model.modules()):
                raise CheckFailed("the model contains a Softmax layer",
                                  "return raw scores (logits): nn.CrossEntropyLoss applies log-softmax itself, and a softmax "
                                  "before it squashes the gradients so training stalls. Use softmax only to show probabilities.")
            model.eval()
            torch.manual_seed(0)
            try:
                with torch.inference_mode():
                    out = model(torch.randn(4, 1, 28, 28))
            except RuntimeError as err:
                shapes = re.search(r"\((\d+)x(\d+) and (\d+)x(\d+)\)", str(err))
                if shapes and int(shapes.group(2)) == width and channels * height * width != width:
                    raise CheckFailed(
                        f"the model crashed: {err}",
                        f"the feature map was not flattened: the nn.Linear saw rows of {width} numbers (one image row). Add "
                        f"nn.Flatten() before the first nn.Linear, which then needs in_features={channels * height * width}.") from err
                if shapes:
                    raise CheckFailed(
                        f"the model crashed: {err}",
                        f"wrong flatten size: after the features a 28x28 image is {channels}x{height}x{width}, so the first "
                        f"nn.Linear needs in_features={channels * height * width} (use your flatten_size).") from err
                if "channels" in str(err):
                    raise CheckFailed(f"the model crashed: {err}",
                                      "Fashion-MNIST images are gray (1 channel): build the features with "
                                      "make_features(config, in_channels=1).") from err
                raise CheckFailed(f"the model crashed with RuntimeError: {err}", "read the traceback above to find the layer.") from err
            expect_shape(out, (4, num_classes), "the model's output for 4 images",
                         "flatten the feature map (nn.Flatten()) and end with nn.Linear(..., num_classes).")
            expect_logits(out, "the outputs",
                          "return logits: remove the softmax, nn.CrossEntropyLoss applies log-softmax itself.")
            if bool((out >= 0).all()) and bool((out == 0).any()):
                raise CheckFailed("no output score is negative, and some are exactly 0",
                                  "end with the nn.Linear to num_classes and nothing after it: a ReLU after the last layer "
                                  "clips every negative score to 0, so the network cannot say 'surely not this class'.")
            model.train()
            with torch.inference_mode():
                zeros = float((model(torch.randn(8, 1, 28, 28)) == 0).float().mean())
            if zeros > 0.1:
                raise CheckFailed(f"in training mode {100 * zeros:.0f} % of the output scores are exactly 0",
                                  "dropout belongs in front of the fully connected layers, not after the last one: dropping "
                                  "output scores hides classes from the loss at random.")
        return run

    run_cases("build_vgg", {
        "two blocks, 10 classes": case([8, "M", 16, "M"], 10),
        "three blocks (7 -> 3), 5 classes": case([8, 8, "M", 16, "M", 16, "M"], 5),
    })


def _small_cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def check_train_step(train_step: Callable[..., Any]) -> None:
    """Check ``train_step(model, images, labels, loss_fn, optimizer) -> float`` (train mode, zero_grad, forward, loss, backward, step)."""
    generator = torch.Generator().manual_seed(5)
    batches = [(torch.randn(8, 1, 6, 6, generator=generator), torch.randint(0, 3, (8,), generator=generator)) for _ in range(2)]

    def reference_steps(n: int) -> tuple[nn.Module, list[float]]:
        model = _small_cnn(1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        losses = []
        for images, labels in batches[:n]:
            model.train()
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return model, losses

    def student_steps(n: int) -> tuple[nn.Module, list[Any]]:
        model = _small_cnn(1)
        model.eval()  # as after an evaluation: the step must switch back to training mode
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        results = [call_student(train_step, model, images.clone(), labels.clone(), nn.CrossEntropyLoss(), optimizer)
                   for images, labels in batches[:n]]
        return model, results

    def same_weights(a: nn.Module, b: nn.Module) -> bool:
        return all(torch.allclose(p, q, atol=1e-5, rtol=1e-4) for p, q in zip(a.parameters(), b.parameters()))

    def first_step() -> None:
        model, (result,) = student_steps(1)
        reference, (loss,) = reference_steps(1)
        if isinstance(result, torch.Tensor):
            raise CheckFailed("train_step returned a tensor",
                              "return loss.item(): a plain float, so the graph of this batch is freed and can be summed up safely.")
        result = expect_float(result, "train_step's result", return_hint(result, "return loss.item()."))
        expect_true(model.training, "after train_step the model is still in eval mode",
                    "start with model.train(): batch norm (and dropout) must use their training behaviour while you train.")
        with torch.no_grad():
            logits = _small_cnn(1).train()(batches[0][0])
            after_softmax = nn.functional.cross_entropy(logits.softmax(dim=1), batches[0][1]).item()
        if abs(result - after_softmax) < 1e-5:
            raise CheckFailed("the loss was computed on softmax probabilities",
                              "pass the raw model outputs (logits) to nn.CrossEntropyLoss: it applies log-softmax itself.")
        expect_close(result, loss, "the returned loss", atol=1e-4, hint="compute loss_fn(model(images), labels) on this batch and return loss.item().")
        if same_weights(model, _small_cnn(1)):
            raise CheckFailed("the weights did not change",
                              "call loss.backward() and then optimizer.step(), and call optimizer.zero_grad() BEFORE backward, "
                              "not between backward and step.")
        expect_true(same_weights(model, reference), "the weights after one step differ from a correct step",
                    "the order is: optimizer.zero_grad(), outputs = model(images), loss = loss_fn(outputs, labels), "
                    "loss.backward(), optimizer.step().")

    def second_step() -> None:
        model, results = student_steps(2)
        reference, losses = reference_steps(2)
        if not same_weights(model, reference):
            raise CheckFailed("the weights after a second step differ from two correct steps",
                              "gradients add up across steps unless you clear them: call optimizer.zero_grad() at the start of every step.")
        expect_close(expect_float(results[1], "train_step's result"), losses[1], "the loss of the second step", atol=1e-4)

    run_cases("train_step", {"one step from eval mode": first_step, "a second step": second_step})


class _SpyClassifier(nn.Module):
    """Predicts the class written in each image's first pixel and records how it was called (mode, autograd)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls: list[dict[str, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append({"training": self.training, "grad": torch.is_grad_enabled()})
        predicted = x[:, 0, 0, 0].long()
        logits = nn.functional.one_hot(predicted, 10).float() * self.scale
        if self.training:  # like dropout: train-mode predictions are noisy
            logits = logits + torch.randn_like(logits) * 3
        return logits


def _spy_loader(predictions: list[int], labels: list[int], batch_size: int) -> DataLoader:
    """A real DataLoader whose images make ``_SpyClassifier`` predict ``predictions`` (the last batch may be short)."""
    images = torch.zeros(len(predictions), 1, 4, 4)
    images[:, 0, 0, 0] = torch.tensor(predictions, dtype=torch.float32)
    return DataLoader(TensorDataset(images, torch.tensor(labels)), batch_size=batch_size)


def check_evaluate_accuracy(evaluate_accuracy: Callable[..., Any]) -> None:
    """Check ``evaluate_accuracy(model, loader) -> float`` in [0, 1]: eval mode, no autograd, counted over images."""

    def case(predictions: list[int], labels: list[int], batch_size: int) -> Callable[[], None]:
        def run() -> None:
            model = _SpyClassifier().train()  # as after training
            loader = _spy_loader(predictions, labels, batch_size)
            torch.manual_seed(0)
            result = expect_float(call_student(evaluate_accuracy, model, loader), "evaluate_accuracy's result",
                                  "return correct / total as a float.")
            expect_equal(len(model.calls), len(loader), "the number of batches the model saw", "run the model on every batch of the loader.")
            expect_true(not any(c["training"] for c in model.calls), "the model ran in training mode",
                        "call model.eval() before the loop: dropout would drop units and batch norm would use batch statistics.")
            expect_true(not any(c["grad"] for c in model.calls), "autograd was recording the evaluation",
                        "wrap the loop in `with torch.inference_mode():` (no graph is built: faster and less memory).")
            correct = sum(int(p == y) for p, y in zip(predictions, labels))
            total = len(labels)
            expected = correct / total
            if abs(result - expected) < 1e-6:
                return
            starts = range(0, total, batch_size)
            batch_mean = float(np.mean([np.mean(np.equal(predictions[i:i + batch_size], labels[i:i + batch_size])) for i in starts]))
            hint = name_the_mistake(result, [
                (100 * expected, f"that is a percentage: return a fraction, {expected:g}, not {100 * expected:g}."),
                (correct // total, f"integer division: correct // total rounds {expected:g} down to {correct // total}; use /."),
                (batch_mean, "you averaged the per-batch accuracies, but the last batch is smaller: add up the correct "
                             "images and divide by the total number of images."),
                (correct / len(loader), "you divided by the number of batches (len(loader)); divide by the number of "
                                        "images: add len(labels) of every batch, or use len(loader.dataset)."),
            ], atol=1e-6)
            expect_close(result, expected, "the accuracy", atol=1e-6,
                         hint=hint or "count predictions (logits.argmax(dim=1)) equal to the labels over all batches, "
                                      "divide by the number of images.")
        return run

    run_cases("evaluate_accuracy", {
        "batches of 4, 4 and 2": case([1, 2, 3, 4, 0, 0, 0, 0, 5, 6], [1, 2, 3, 4, 0, 1, 2, 3, 0, 0], 4),
        "all correct": case([7, 8, 9, 1], [7, 8, 9, 1], 3),
    })
