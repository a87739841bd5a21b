"""Checks for lab 08, evaluating and improving a classifier (``solutions/08_evaluation_lab.ipynb``).

Each check feeds cases built so that the classic wrong answers give different numbers from the right one, and
names the mistake when it recognises one: ties at the k-th place counted in the sample's favour, ``torch.topk``
asked for more classes than there are, rows and columns of a confusion matrix swapped, F1 as the plain mean, a
division by zero turned into NaN, empty calibration bins averaged in, bins not weighted by their size, the signed
gap, the logits multiplied by the temperature instead of divided, probabilities scaled instead of logits, the
softmax at temperature T on one side only, the KL divergence the wrong way round, the missing T² factor, logits of
different scales averaged instead of probabilities, argmax votes, the model left in training mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from helpers.checks.core import (CheckFailed, call_student, expect_close, expect_float, expect_shape, expect_tensor,
                                 expect_true, name_the_mistake, return_hint, run_cases)

__all__ = [
    "check_topk_accuracy",
    "check_precision_recall_f1",
    "check_expected_calibration_error",
    "check_fit_temperature",
    "check_distillation_loss",
    "check_tta_predict",
]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _number(value: Any, what: str, fix: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.requires_grad:
        value = value.detach()
    return expect_float(value, what, return_hint(value, fix))


# ---------------------------------------------------------------- 1. top-k accuracy

def topk_reference(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Ties count against the sample: a hit when fewer than k other classes score at least as high as the true one."""
    true_scores = logits.gather(1, labels[:, None])
    others_at_least_as_high = (logits >= true_scores).sum(dim=1) - 1
    return float((others_at_least_as_high < k).float().mean())


def check_topk_accuracy(topk_accuracy: Callable[..., Any]) -> None:
    """Check ``topk_accuracy(logits, labels, k)``: the fraction of samples whose true class is among the k highest
    scores, a tie at the k-th place counting against the sample, and 1.0 for k >= the number of classes."""

    def wrong_answers(logits: torch.Tensor, labels: torch.Tensor, k: int) -> list[tuple[Any, str]]:
        true_scores = logits.gather(1, labels[:, None])
        reference = topk_reference(logits, labels, k)
        return [
            (lambda: float(((logits > true_scores).sum(1) < k).float().mean()),
             "ties were counted in the sample's favour: when several classes share the k-th highest score, the true "
             "class is not clearly among the top k. Count the classes scoring AT LEAST as high as the true class "
             "(>=, minus the true class itself), so a model whose scores are all equal gets no credit."),
            (lambda: float((logits.topk(min(k, logits.shape[1]), dim=1).indices == labels[:, None]).any(1).float().mean()),
             "torch.topk picks among tied scores arbitrarily, so a model that scores every class the same can get "
             "credit. Compare scores instead: a hit when (logits >= true score).sum(1) - 1 < k."),
            (lambda: float((((logits >= true_scores).sum(1) - 1) <= k).float().mean()),
             "off by one: with k = 1 the true class may have NO class at least as high besides itself (< k, not <= k)."),
            (lambda: float((logits.argsort(dim=1)[:, :k] == labels[:, None]).any(1).float().mean()),
             "you took the k LOWEST scores: sort in descending order (argsort(descending=True)) or compare scores."),
            (lambda: 100 * reference, "return a fraction between 0 and 1 (0.75), not a percentage (75.0)."),
            (lambda: reference * len(labels), "return the fraction of samples (hits / number of samples), not the count."),
        ]

    def case(logits: torch.Tensor, labels: torch.Tensor, k: int) -> Callable[[], None]:
        def run() -> None:
            given = logits.clone()
            if k > logits.shape[1]:
                try:
                    result = call_student(topk_accuracy, given, labels.clone(), k)
                except CheckFailed as err:
                    if "NotImplementedError" in err.message:
                        raise
                    raise CheckFailed(f"with k = {k} and {logits.shape[1]} classes: {err.message}",
                                      "k can be larger than the number of classes (top-5 of a 3-class problem): every "
                                      "class is then among the top k and the accuracy is 1.0. torch.topk refuses "
                                      "k > classes; comparing scores needs no special case.") from err
            else:
                result = call_student(topk_accuracy, given, labels.clone(), k)
            expect_true(torch.equal(given, logits), "topk_accuracy changed the logits it was given",
                        "do not sort or write into the input in place; work on new tensors.")
            got = _number(result, "topk_accuracy's result", "return the accuracy as a number, e.g. hits.float().mean().item().")
            want = topk_reference(logits, labels, k)
            if abs(got - want) > 1e-6:
                hint = name_the_mistake(got, wrong_answers(logits, labels, k), atol=1e-6)
                raise CheckFailed(f"top-{k} accuracy is {got:.4g}, expected {want:.4g}",
                                  hint or "a sample is a hit when fewer than k other classes score at least as high as "
                                          "its true class; return the fraction of hits.")
        return run

    g = _generator(8)
    logits = torch.randn(60, 10, generator=g)
    labels = torch.randint(0, 10, (60,), generator=g)
    constant = torch.zeros(6, 4)                         # a model that cannot tell the classes apart
    tied = torch.tensor([[3.0, 1.0, 1.0, 0.0], [2.0, 2.0, 0.5, 0.0], [1.0, 2.0, 2.0, 2.0], [0.0, 1.0, 1.0, 1.0]])
    ties = torch.cat([constant, tied])
    tie_labels = torch.tensor([0, 1, 2, 3, 0, 3, 1, 0, 3, 1])
    run_cases("topk_accuracy", {
        "top-1 of 60 random samples, 10 classes": case(logits, labels, 1),
        "top-3 of the same samples": case(logits, labels, 3),
        "k equal to the number of classes": case(logits[:10], labels[:10], 10),
        "k = 12 with 10 classes": case(logits[:10], labels[:10], 12),
        "ties: a constant model and classes sharing the k-th score (k = 1)": case(ties, tie_labels, 1),
        "ties at k = 2": case(ties, tie_labels, 2),
    })


# ---------------------------------------------------------------- 2. precision, recall and F1 from a confusion matrix

def prf_reference(cm: np.ndarray, cls: int) -> tuple[float, float, float]:
    tp = float(cm[cls, cls])
    predicted, actual = float(cm[:, cls].sum()), float(cm[cls, :].sum())
    precision = tp / predicted if predicted else 0.0
    recall = tp / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def check_precision_recall_f1(precision_recall_f1: Callable[..., Any]) -> None:
    """Check ``precision_recall_f1(cm, cls) -> (precision, recall, f1)`` for one class of a confusion matrix whose
    rows are the true classes and columns the predicted ones (scikit-learn's layout); 0.0 when a denominator is 0."""

    def wrong_answers(cm: np.ndarray, cls: int) -> list[tuple[Any, str]]:
        p, r, f = prf_reference(cm, cls)
        swapped = prf_reference(cm.T, cls)
        total = float(cm.sum())
        with np.errstate(all="ignore"):
            nan_p = cm[cls, cls] / cm[:, cls].sum()
            nan_r = cm[cls, cls] / cm[cls, :].sum()
        return [
            (swapped, "precision and recall are swapped: rows are the TRUE classes and columns the PREDICTED ones "
                      "(scikit-learn's confusion_matrix(y_true, y_pred)). Precision divides by the column sum "
                      "cm[:, cls].sum() (everything predicted as cls), recall by the row sum cm[cls, :].sum()."),
            ((p, r, (p + r) / 2), "F1 is the harmonic mean 2PR / (P + R), not the plain mean (P + R) / 2: it stays "
                                  "low when either of them is low."),
            ((cm[cls, cls] / total, r, 2 * (cm[cls, cls] / total) * r / ((cm[cls, cls] / total) + r)),
             "precision divides the true positives by the images PREDICTED as the class (the column sum), not by "
             "all images."),
            ((100 * p, 100 * r, 100 * f), "return fractions between 0 and 1, not percentages."),
            ((nan_p, nan_r, f), "a class that is never predicted has no precision to measure: return 0.0 for a score "
                                "whose denominator is 0 (scikit-learn's zero_division=0), not NaN."),
        ]

    def case(cm: np.ndarray, cls: int) -> Callable[[], None]:
        def run() -> None:
            given = cm.copy()
            result = call_student(precision_recall_f1, given, cls)
            if not isinstance(result, (tuple, list)) or len(result) != 3:
                raise CheckFailed(f"precision_recall_f1 returned {type(result).__name__}, expected three numbers",
                                  return_hint(result, "return precision, recall, f1 (a tuple of three floats)."))
            got = tuple(_number(v, f"the {name}", "return plain numbers (float(...)).")
                        for v, name in zip(result, ("precision", "recall", "F1")))
            expect_true(np.array_equal(given, cm), "precision_recall_f1 changed the confusion matrix",
                        "read the matrix; do not write into it.")
            want = prf_reference(cm, cls)
            if any(math.isnan(v) for v in got):
                raise CheckFailed(f"for class {cls}: (precision, recall, F1) = ({got[0]:.4g}, {got[1]:.4g}, {got[2]:.4g})",
                                  "a class that is never predicted (or has no images) has nothing to measure: return "
                                  "0.0 for a score whose denominator is 0 (scikit-learn's zero_division=0), not NaN.")
            if not np.allclose(got, want, atol=1e-6):
                hint = name_the_mistake(np.array(got), [(np.array(v, dtype=float), h) for v, h in wrong_answers(cm, cls)])
                raise CheckFailed(f"for class {cls}: (precision, recall, F1) = ({got[0]:.4g}, {got[1]:.4g}, {got[2]:.4g}), "
                                  f"expected ({want[0]:.4g}, {want[1]:.4g}, {want[2]:.4g})",
                                  hint or "precision = cm[c, c] / cm[:, c].sum(), recall = cm[c, c] / cm[c, :].sum(), "
                                          "F1 = 2PR / (P + R).")
        return run

    cm = np.array([[50, 3, 7], [10, 30, 0], [2, 18, 40]])
    never_predicted = np.array([[20, 0, 5], [4, 0, 6], [1, 0, 30]])
    run_cases("precision_recall_f1", {
        "class 0 of a 3-class matrix": case(cm, 0),
        "class 1 (many images of class 2 predicted as 1)": case(cm, 1),
        "class 2": case(cm, 2),
        "a class that is never predicted": case(never_predicted, 1),
    })


# ---------------------------------------------------------------- 3. expected calibration error

def ece_reference(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 10) -> float:
    confidence, prediction = probs.max(dim=1)
    correct = (prediction == labels).double()
    confidence = confidence.double()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.double().mean().item() * abs(correct[inside].mean().item() - confidence[inside].mean().item())
    return total


def _ece_variant(probs: torch.Tensor, labels: torch.Tensor, n_bins: int, *, weighted: bool = True,
                 all_bins: bool = False, signed: bool = False, squared: bool = False, true_class: bool = False,
                 left_closed: bool = False) -> float:
    confidence, prediction = probs.max(dim=1)
    if true_class:
        confidence = probs.gather(1, labels[:, None]).squeeze(1)
    correct = (prediction == labels).double()
    confidence = confidence.double()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    gaps, weights = [], []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = ((confidence >= low) & (confidence < high)) if left_closed else ((confidence > low) & (confidence <= high))
        if not inside.any():
            if all_bins:
                gaps.append(0.0)
                weights.append(0.0)
            continue
        gap = correct[inside].mean().item() - confidence[inside].mean().item()
        gaps.append(gap ** 2 if squared else (gap if signed else abs(gap)))
        weights.append(inside.double().mean().item())
    if weighted:
        value = sum(w * g for w, g in zip(weights, gaps))
        return math.sqrt(value) if squared else value
    return sum(gaps) / len(gaps)


def check_expected_calibration_error(expected_calibration_error: Callable[..., Any]) -> None:
    """Check ``expected_calibration_error(probs, labels, n_bins=10)``: the confidence (highest probability) of each
    sample put into ``n_bins`` equal-width bins (low, high]; the sum over non-empty bins of (samples in the bin / all
    samples) x |accuracy in the bin - mean confidence in the bin|."""

    def wrong_answers(probs: torch.Tensor, labels: torch.Tensor, n_bins: int) -> list[tuple[Any, str]]:
        v = lambda **kw: (lambda: _ece_variant(probs, labels, n_bins, **kw))  # noqa: E731
        return [
            (lambda: abs(float((probs.argmax(1) == labels).double().mean()) - float(probs.max(1).values.double().mean())),
             "that is |overall accuracy - overall mean confidence|, one bin for everything (a signed gap per bin adds "
             "up to the same): split the samples into n_bins bins by confidence and take the absolute gap per bin."),
            (v(weighted=False), "weight each bin by its share of the samples (bin count / all samples): a bin with 2 "
                                "samples must count less than one with 200. The plain mean over the bins ignores that."),
            (v(weighted=False, all_bins=True), "empty bins were averaged in as 0 and the bins were not weighted: skip "
                                               "empty bins and weight each bin by its share of the samples."),
            (v(signed=True), "take the absolute gap |accuracy - confidence| per bin: over- and under-confident bins "
                             "must not cancel out."),
            (v(squared=True), "that is the root of the mean SQUARED gap; ECE weighs the absolute gaps."),
            (v(true_class=True), "the confidence is the probability of the PREDICTED class (probs.max(dim=1)), not "
                                 "of the true class."),
            (v(left_closed=True), "a confidence of exactly 1.0 fell outside every bin: use bins (low, high], i.e. "
                                  "confidence > low and confidence <= high, so the last bin includes 1.0."),
            (lambda: _ece_variant(probs, labels, 10), "use the n_bins you are given (not always 10)."),
            (lambda: 100 * ece_reference(probs, labels, n_bins), "return a fraction (0.05), not a percentage."),
        ]

    def case(probs: torch.Tensor, labels: torch.Tensor, n_bins: int) -> Callable[[], None]:
        def run() -> None:
            given = probs.clone()
            result = call_student(expected_calibration_error, given, labels.clone(), n_bins)
            expect_true(torch.equal(given, probs), "expected_calibration_error changed the probabilities it was given",
                        "do not write into the input.")
            got = _number(result, "the ECE", "return the ECE as a number, e.g. float(total).")
            if math.isnan(got):
                raise CheckFailed("the ECE is NaN",
                                  "an empty bin has no mean (the mean of nothing is NaN): skip bins without samples.")
            want = ece_reference(probs, labels, n_bins)
            if abs(got - want) > 1e-5:
                hint = name_the_mistake(got, wrong_answers(probs, labels, n_bins), atol=1e-6)
                raise CheckFailed(f"the ECE is {got:.6g}, expected {want:.6g} ({n_bins} bins)",
                                  hint or "for each bin (low, high] with samples: weight = count / N, gap = |accuracy - "
                                          "mean confidence|; add up weight x gap.")
        return run

    def make(seed: int, n: int, classes: int, *, certain: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        g = _generator(seed)
        logits = torch.randn(n, classes, generator=g) * torch.linspace(0.3, 4.0, n)[:, None]  # low to high confidence
        probs = logits.softmax(dim=1).double()
        labels = torch.where(torch.rand(n, generator=g) < 0.7, probs.argmax(1), torch.randint(0, classes, (n,), generator=g))
        if certain:  # a few samples predicted wrongly with probability exactly 1.0
            probs[:certain] = F.one_hot((labels[:certain] + 1) % classes, classes).double()
        return probs, labels

    skewed, skewed_labels = make(3, 40, 4, certain=3)
    run_cases("expected_calibration_error", {
        "200 samples, 10 bins": case(*make(1, 200, 5), 10),
        "few samples: some bins empty, bins of very different sizes": case(skewed, skewed_labels, 10),
        "5 bins": case(*make(2, 150, 3), 5),
    })


# ---------------------------------------------------------------- 4. temperature scaling

def _nll_at(logits: torch.Tensor, labels: torch.Tensor, temperature: float, *, probabilities: bool = False) -> float:
    scores = logits.softmax(dim=1) if probabilities else logits
    return float(F.cross_entropy(scores / temperature, labels))


def best_temperature(logits: torch.Tensor, labels: torch.Tensor, *, probabilities: bool = False) -> float:
    """The temperature with the lowest validation NLL, by golden-section search on log T in [1/20, 20]."""
    low, high = math.log(0.05), math.log(20.0)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa = _nll_at(logits, labels, math.exp(a), probabilities=probabilities)
    fb = _nll_at(logits, labels, math.exp(b), probabilities=probabilities)
    for _ in range(80):
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = _nll_at(logits, labels, math.exp(a), probabilities=probabilities)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = _nll_at(logits, labels, math.exp(b), probabilities=probabilities)
    return math.exp((low + high) / 2)


def check_fit_temperature(fit_temperature: Callable[..., Any]) -> None:
    """Check ``fit_temperature(logits, labels) -> T``: the T > 0 that minimises the cross-entropy of
    ``logits / T`` on these (validation) samples, to within 2 %."""

    def case(true_temperature: float, seed: int) -> Callable[[], None]:
        def run() -> None:
            g = _generator(seed)
            n, classes = 2000, 10
            calibrated = torch.randn(n, classes, generator=g) * 2.0
            labels = torch.multinomial(calibrated.softmax(dim=1), 1, generator=g).squeeze(1)
            logits = calibrated * true_temperature      # over-confident when true_temperature > 1
            given = logits.clone()
            result = call_student(fit_temperature, given, labels.clone())
            expect_true(torch.equal(given, logits), "fit_temperature changed the logits it was given",
                        "divide into a new tensor (logits / T), not in place (logits /= T).")
            got = _number(result, "the temperature", "return T as a number, e.g. temperature.item().")
            want = best_temperature(logits, labels)
            if got <= 0:
                raise CheckFailed(f"the temperature is {got:.4g}",
                                  "T must be positive: optimise log T (T = log_t.exp()) so it cannot cross zero.")
            if abs(got - want) <= 0.02 * want:
                return
            wrong = [
                (1 / want, "you multiplied the logits by T: temperature scaling DIVIDES them, softmax(logits / T)."),
                (1.0, "T is still 1.0: nothing was fitted. Minimise F.cross_entropy(logits / T, labels) over T, e.g. "
                      "with torch.optim.LBFGS on log T, and return the T you end with."),
                (lambda: best_temperature(logits, labels, probabilities=True),
                 "you scaled the probabilities (softmax first, then / T). Divide the LOGITS: softmax(logits / T)."),
            ]
            if want < 1:  # an under-confident model (checked after an over-confident one): T = 1 means T was kept >= 1
                wrong.insert(0, (1.0, "T was kept at 1 or above: a model can also be UNDER-confident (then T < 1 "
                                      "sharpens its probabilities). Let the optimiser choose any T > 0."))
            hint = name_the_mistake(got, wrong, atol=0.02 * want)
            raise CheckFailed(f"T = {got:.4g}, but the cross-entropy of logits / T is lowest at T = {want:.4g} "
                              f"(cross-entropy {_nll_at(logits, labels, got):.4f} vs {_nll_at(logits, labels, want):.4f})",
                              hint or "minimise F.cross_entropy(logits / T, labels) over T until it converges (LBFGS "
                                      "on log T, or Adam for a few hundred steps), and return T.")
        return run

    run_cases("fit_temperature", {
        "an over-confident model (its logits 2.5x too large)": case(2.5, 0),
        "an under-confident model (its logits half as large as they should be)": case(0.5, 1),
        "a calibrated model": case(1.0, 2),
    })


# ---------------------------------------------------------------- 5. the distillation loss

def distillation_reference(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, temperature: float,
                           alpha: float) -> torch.Tensor:
    soft = F.kl_div(F.log_softmax(student / temperature, dim=1), F.log_softmax(teacher / temperature, dim=1),
                    reduction="batchmean", log_target=True)
    return alpha * temperature ** 2 * soft + (1 - alpha) * F.cross_entropy(student, labels)


def check_distillation_loss(distillation_loss: Callable[..., Any]) -> None:
    """Check ``distillation_loss(student_logits, teacher_logits, labels, T, alpha)``:
    alpha * T² * KL(softmax(teacher / T) || softmax(student / T)) (averaged over the batch)
    + (1 - alpha) * cross_entropy(student_logits, labels), as a tensor the student's gradient flows through."""

    def variants(s: torch.Tensor, t: torch.Tensor, y: torch.Tensor, T: float, a: float) -> list[tuple[Any, str]]:
        hard = F.cross_entropy(s, y)
        log_ps, log_pt = F.log_softmax(s / T, 1), F.log_softmax(t / T, 1)

        def kl(log_p_target, log_q):  # KL(target || q), batch mean
            return (log_p_target.exp() * (log_p_target - log_q)).sum(1).mean()
        return [
            (lambda: a * kl(log_pt, log_ps) + (1 - a) * hard,
             "the soft term is multiplied by T²: softening by T shrinks its gradients by 1 / T², and T² puts them back "
             "on the scale of the hard-label loss (Hinton et al. 2015)."),
            (lambda: a * T ** 2 * kl(F.log_softmax(t, 1), log_ps) + (1 - a) * hard,
             "soften the teacher too: both softmaxes at temperature T, softmax(teacher_logits / T)."),
            (lambda: a * T ** 2 * kl(log_pt, F.log_softmax(s, 1)) + (1 - a) * hard,
             "soften the student too: both softmaxes at temperature T, log_softmax(student_logits / T)."),
            (lambda: a * T ** 2 * kl(log_ps, log_pt) + (1 - a) * hard,
             "the KL divergence goes the other way: KL(teacher || student) = sum p_teacher * (log p_teacher - log "
             "p_student). F.kl_div(input, target) takes the STUDENT's log-probabilities as input and the teacher's "
             "probabilities as target."),
            (lambda: a * T ** 2 * F.kl_div(log_ps.exp(), log_pt.exp(), reduction="batchmean") + (1 - a) * hard,
             "F.kl_div expects LOG-probabilities as its first argument: F.log_softmax(student_logits / T, dim=1), "
             "not softmax."),
            (lambda: a * T ** 2 * kl(log_pt, log_ps) / s.shape[1] + (1 - a) * hard,
             "reduction='mean' also divides by the number of classes: use reduction='batchmean' (the KL of each "
             "sample, averaged over the batch)."),
            (lambda: (1 - a) * T ** 2 * kl(log_pt, log_ps) + a * hard,
             "alpha weighs the SOFT (teacher) term and 1 - alpha the hard-label term; they are swapped."),
            (lambda: a * T ** 2 * kl(log_pt, log_ps) + (1 - a) * F.cross_entropy(s / T, y),
             "the hard-label loss uses the student's plain logits (temperature 1), not logits / T."),
            (lambda: a * T ** 2 * -(log_pt.exp() * log_ps).sum(1).mean() + (1 - a) * hard,
             "that is the cross-entropy with the teacher's soft targets: it equals the KL divergence plus the teacher's "
             "entropy (same gradient, but never 0). The exercise asks for the KL divergence, 0 when the student "
             "matches the teacher."),
        ]

    def case(n: int, classes: int, temperature: float, alpha: float, seed: int) -> Callable[[], None]:
        def run() -> None:
            g = _generator(seed)
            student = (torch.randn(n, classes, generator=g) * 2).requires_grad_(True)
            teacher = torch.randn(n, classes, generator=g) * 3
            labels = torch.randint(0, classes, (n,), generator=g)
            result = call_student(distillation_loss, student, teacher.clone(), labels.clone(), temperature, alpha)
            loss = expect_tensor(result, "distillation_loss's result",
                                 "return the loss as a tensor (not loss.item()): training needs its gradient.")
            expect_shape(loss, (), "the loss", "average over the batch: one number (a 0-dimensional tensor).")
            want = distillation_reference(student, teacher, labels, temperature, alpha)
            value, wanted = float(loss.detach()), float(want.detach())
            if abs(value - wanted) > 1e-4 * max(1.0, abs(wanted)):
                hint = name_the_mistake(value, [(lambda f=f: float(f()), h) for f, h in
                                                              variants(student.detach(), teacher, labels, temperature, alpha)],
                                        atol=1e-5)
                raise CheckFailed(f"the loss is {value:.6g}, expected {wanted:.6g} (T = {temperature}, "
                                  f"alpha = {alpha})",
                                  hint or "alpha * T² * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * "
                                          "cross_entropy(student, labels).")
            expect_true(loss.requires_grad, "the loss has no gradient: it was detached from the student's logits",
                        "compute it with torch operations on student_logits (no .item(), .detach() or .numpy()).")
            got_grad, = torch.autograd.grad(loss, student)
            want_grad, = torch.autograd.grad(want, student)
            expect_close(got_grad, want_grad, "the gradient with respect to the student's logits", atol=1e-5,
                         hint="the loss must flow back into the student only; the teacher's logits are fixed targets.")
        return run

    run_cases("distillation_loss", {
        "T = 4, alpha = 0.7": case(16, 5, 4.0, 0.7, 0),
        "T = 2, alpha = 0.5, 10 classes": case(8, 10, 2.0, 0.5, 1),
        "alpha = 1: the teacher's soft labels only": case(8, 4, 3.0, 1.0, 2),
        "alpha = 0: the hard labels only": case(8, 4, 3.0, 0.0, 3),
    })


# ---------------------------------------------------------------- 6. test-time augmentation

class _ScaledNet(nn.Module):
    """A small classifier with dropout whose logits grow with the brightness of its input: views of different
    brightness give logits of very different scales."""

    def __init__(self, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(0.5)
        self.linear = nn.Linear(2 * 3 * 3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(self.flatten(x)))


def check_tta_predict(tta_predict: Callable[..., Any]) -> None:
    """Check ``tta_predict(model, images, views) -> probabilities [N, classes]``: the model in eval mode, without
    gradients, on every view of the batch; the softmax probabilities of the views averaged."""

    def case(seed: int, views: list[Callable[[torch.Tensor], torch.Tensor]]) -> Callable[[], None]:
        def run() -> None:
            model = _ScaledNet(seed)
            images = torch.rand(12, 2, 3, 3, generator=_generator(seed + 100))
            model.eval()
            with torch.no_grad():
                logits = [model(view(images)) for view in views]
            want = torch.stack([l.softmax(1) for l in logits]).mean(0)
            model.train()  # as a model comes out of training
            torch.manual_seed(seed + 7)
            given = images.clone()
            result = call_student(tta_predict, model, given, views)
            got = expect_tensor(result, "tta_predict's result", "return the averaged probabilities as a tensor [N, classes].")
            expect_true(torch.equal(given, images), "tta_predict changed the images it was given",
                        "each view makes a new tensor: do not write into the batch.")
            expect_shape(got, tuple(want.shape), "the averaged probabilities",
                         "one row per image and one column per class: average over the views (dim 0 of the stack).")
            expect_true(not got.requires_grad, "the result carries gradients",
                        "predict under torch.inference_mode() (or torch.no_grad()): no graph is needed at test time.")
            got = got.detach().float()
            if torch.allclose(got, want, atol=1e-5):
                return
            votes = torch.stack([F.one_hot(l.argmax(1), l.shape[1]).float() for l in logits]).mean(0)
            wrong = [
                (torch.stack(logits).mean(0).softmax(1),
                 "you averaged the LOGITS, then took the softmax. The views' logits can have very different scales "
                 "(here a brighter view gives larger logits), so one view dominates: average the probabilities, "
                 "softmax of each view first."),
                (torch.stack(logits).mean(0), "return probabilities (softmax of each view, then the mean), not logits."),
                (votes, "majority voting of argmaxes throws away how confident each view is: average the probabilities."),
                (torch.stack([l.softmax(1) for l in logits]).sum(0), "average the views (mean), do not add them up: "
                                                                     "each row must sum to 1."),
                (torch.stack([l.softmax(0) for l in logits]).mean(0), "softmax over the classes, dim=1, not over the "
                                                                      "images of the batch (dim=0)."),
                (logits[0].softmax(1), "only the first view was used: run the model on every view in `views`."),
                (torch.stack([l.log_softmax(1) for l in logits]).mean(0).exp(),
                 "you averaged log-probabilities (a geometric mean, whose rows do not sum to 1): average the "
                 "probabilities themselves."),
            ]
            if not torch.allclose(got.sum(1), torch.ones(len(got)), atol=1e-4) or not got.ge(0).all():
                hint = name_the_mistake(got, wrong) or "each row must be probabilities that sum to 1: the mean of the views' softmaxes."
                raise CheckFailed("the rows of the result are not probabilities that sum to 1", hint)
            hint = name_the_mistake(got, wrong)
            if hint is None and model.training:
                hint = ("the model was left in training mode, so dropout changed its outputs at random: call "
                        "model.eval() before predicting.")
            expect_close(got, want, "the averaged probabilities", atol=1e-5,
                         hint=hint or "model.eval(); for each view: softmax(model(view(images)), dim=1); then the mean.")
        return run

    identity = lambda x: x  # noqa: E731
    mirror = lambda x: x.flip(-1)  # noqa: E731
    brighter = lambda x: 8 * x  # noqa: E731
    run_cases("tta_predict", {
        "the image and its mirror image": case(0, [identity, mirror]),
        "views whose logits have different scales": case(1, [identity, mirror, brighter]),
        "a single view": case(2, [mirror]),
    })
