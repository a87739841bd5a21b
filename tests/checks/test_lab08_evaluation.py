"""Lab 08 checks (helpers/checks/lab08_evaluation.py): right answers pass, every classic bug fails with its hint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from lab_test_kit import lab_tests, no_return as _no_return  # tests/checks/lab_test_kit.py
from helpers.checks import lab08_evaluation as lab
from helpers.checks.core import seed_all

# ---------------------------------------------------------------- the classic bugs of each exercise
# check -> {classic bug: fragment(s) its failure message or hint must contain}. Each bug has a wrong answer in
# WRONG_ANSWERS below; the tests at the bottom feed every one of them to its check.
CLASSIC_BUGS: dict[str, dict[str, str | list[str]]] = {
    "check_topk_accuracy": {
        "ties counted in the sample's favour (>)": ["ties were counted in the sample's favour", "AT LEAST"],
        "torch.topk picks among ties": "torch.topk picks among tied scores",
        "torch.topk with k larger than the classes": ["k = 12", "every class is then among the top k"],
        "off by one (<= k)": "off by one",
        "the k lowest scores": "LOWEST",
        "a percentage": "not a percentage",
        "the number of hits": "not the count",
        "no return statement": "return statement",
    },
    "check_precision_recall_f1": {
        "rows and columns swapped": ["swapped", "rows are the TRUE classes"],
        "F1 as the plain mean": "harmonic mean",
        "precision over all images": "PREDICTED as the class",
        "percentages": "not percentages",
        "NaN for a class never predicted": ["zero_division=0", "not NaN"],
        "no return statement": "return statement",
    },
    "check_expected_calibration_error": {
        "bins not weighted by their size": "weight each bin by its share",
        "empty bins averaged in": "empty bins were averaged in",
        "NaN from empty bins": ["NaN", "skip bins without samples"],
        "signed gap": "absolute gap",
        "root mean squared gap": "SQUARED",
        "confidence of the true class": "PREDICTED class",
        "bins [low, high) lose a confidence of 1.0": "(low, high]",
        "n_bins ignored": "n_bins you are given",
        "one bin for everything": "one bin for everything",
        "a percentage": "not a percentage",
        "no return statement": "return statement",
    },
    "check_fit_temperature": {
        "logits multiplied by T": "DIVIDES",
        "nothing fitted": "T is still 1.0",
        "probabilities scaled instead of logits": "scaled the probabilities",
        "T kept at 1 or above": "UNDER-confident",
        "T unconstrained goes negative": "must be positive",
        "divides the logits in place": "not in place",
        "not converged": "until it converges",
        "no return statement": "return statement",
    },
    "check_distillation_loss": {
        "no T² factor": "multiplied by T²",
        "teacher not softened": "soften the teacher",
        "student not softened": "soften the student",
        "KL the wrong way round": "other way",
        "F.kl_div given probabilities": "LOG-probabilities",
        "reduction='mean'": "batchmean",
        "alpha on the wrong term": "swapped",
        "hard loss at temperature T": "temperature 1",
        "cross-entropy with soft targets": "teacher's entropy",
        "returns loss.item()": ["tensor", "not loss.item()"],
        "student's logits detached": "gradient",
        "no return statement": "return statement",
    },
    "check_tta_predict": {
        "logits averaged": "averaged the LOGITS",
        "logits returned": "not logits",
        "argmax votes": "voting",
        "views added up": "do not add them up",
        "softmax over the batch": "dim=1",
        "first view only": "only the first view",
        "log-probabilities averaged": "geometric mean",
        "no model.eval()": "model.eval()",
        "gradients kept": "inference_mode",
        "no return statement": "return statement",
    },
}


# ---------------------------------------------------------------- right answers (as a student would write them)
def topk_accuracy(logits, labels, k):
    true_scores = logits.gather(1, labels[:, None])
    at_least_as_high = (logits >= true_scores).sum(dim=1) - 1
    return (at_least_as_high < k).float().mean().item()


def topk_accuracy_by_rank(logits, labels, k):  # also right: in NumPy, with a loop
    scores, labels = np.asarray(logits), np.asarray(labels)
    hits = [np.sum(row >= row[y]) - 1 < k for row, y in zip(scores, labels)]
    return float(np.mean(hits))


def precision_recall_f1(cm, cls):
    tp = cm[cls, cls]
    predicted, actual = cm[:, cls].sum(), cm[cls, :].sum()
    precision = tp / predicted if predicted > 0 else 0.0
    recall = tp / actual if actual > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return float(precision), float(recall), float(f1)


def expected_calibration_error(probs, labels, n_bins=10):
    confidence, prediction = probs.max(dim=1)
    correct = (prediction == labels).float()
    edges = torch.linspace(0, 1, n_bins + 1)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.sum() > 0:
            ece += in_bin.float().mean() * (correct[in_bin].mean() - confidence[in_bin].mean()).abs()
    return float(ece)


def expected_calibration_error_bucketize(probs, labels, n_bins=10):  # also right: one bin index per sample
    confidence, prediction = probs.max(dim=1)
    correct = (prediction == labels).double()
    bins = torch.bucketize(confidence, torch.linspace(0, 1, n_bins + 1, dtype=confidence.dtype)[1:-1])  # (low, high]
    ece = 0.0
    for b in bins.unique():
        mask = bins == b
        ece += mask.sum().item() / len(probs) * abs(correct[mask].mean().item() - confidence[mask].mean().item())
    return ece


def fit_temperature(logits, labels):
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss
    optimizer.step(closure)
    return log_t.exp().item()


def fit_temperature_grid(logits, labels):  # also right: a fine grid search
    grid = torch.exp(torch.linspace(np.log(0.1), np.log(10), 4000))
    losses = torch.stack([F.cross_entropy(logits / t, labels) for t in grid])
    return float(grid[losses.argmin()])


def distillation_loss(student_logits, teacher_logits, labels, T, alpha):
    soft = F.kl_div(F.log_softmax(student_logits / T, dim=1), F.softmax(teacher_logits / T, dim=1),
                    reduction="batchmean")
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)


def distillation_loss_by_hand(student_logits, teacher_logits, labels, T, alpha):  # also right: the sum written out
    p_teacher = (teacher_logits / T).softmax(1)
    kl = (p_teacher * (p_teacher.log() - (student_logits / T).log_softmax(1))).sum(1).mean()
    return alpha * T ** 2 * kl + (1 - alpha) * F.cross_entropy(student_logits, labels)


def tta_predict(model, images, views):
    model.eval()
    with torch.inference_mode():
        return torch.stack([model(view(images)).softmax(dim=1) for view in views]).mean(dim=0)


def tta_predict_running_sum(model, images, views):  # also right: a running sum under no_grad
    model.eval()
    total = 0
    with torch.no_grad():
        for view in views:
            total = total + F.softmax(model(view(images)), dim=1)
    return total / len(views)


RIGHT_ANSWERS = {
    "check_topk_accuracy": [topk_accuracy, topk_accuracy_by_rank],
    "check_precision_recall_f1": [precision_recall_f1],
    "check_expected_calibration_error": [expected_calibration_error, expected_calibration_error_bucketize],
    "check_fit_temperature": [fit_temperature, fit_temperature_grid],
    "check_distillation_loss": [distillation_loss, distillation_loss_by_hand],
    "check_tta_predict": [tta_predict, tta_predict_running_sum],
}


# ---------------------------------------------------------------- wrong answers, one per classic bug
def topk_with(rule):
    def topk_accuracy(logits, labels, k):
        return rule(logits, labels, k)
    return topk_accuracy


def _topk_ties_for(logits, labels, k):
    return ((logits > logits.gather(1, labels[:, None])).sum(1) < k).float().mean().item()


def _topk_torch(logits, labels, k):
    return (logits.topk(k, dim=1).indices == labels[:, None]).any(1).float().mean().item()


def _topk_torch_clamped(logits, labels, k):
    return (logits.topk(min(k, logits.shape[1]), dim=1).indices == labels[:, None]).any(1).float().mean().item()


def prf_with(rule):
    def precision_recall_f1(cm, cls):
        return rule(np.asarray(cm, dtype=float), cls)
    return precision_recall_f1


def _prf_swapped(cm, cls):
    return precision_recall_f1(cm.T, cls)


def _prf_plain_mean(cm, cls):
    p, r, _ = precision_recall_f1(cm, cls)
    return p, r, (p + r) / 2


def _prf_over_all(cm, cls):
    p = cm[cls, cls] / cm.sum()
    r = cm[cls, cls] / cm[cls].sum()
    return p, r, 2 * p * r / (p + r)


def _prf_percent(cm, cls):
    return tuple(100 * v for v in precision_recall_f1(cm, cls))


def _prf_nan(cm, cls):
    with np.errstate(all="ignore"):
        p = cm[cls, cls] / cm[:, cls].sum()
        r = cm[cls, cls] / cm[cls].sum()
        f = 2 * p * r / (p + r)
    return p, r, (0.0 if np.isnan(f) else f)


def ece_with(**kwargs):
    def expected_calibration_error(probs, labels, n_bins=10):
        return lab._ece_variant(probs, labels, n_bins, **kwargs)
    return expected_calibration_error


def _ece_nan(probs, labels, n_bins=10):
    confidence, prediction = probs.max(dim=1)
    correct = (prediction == labels).float()
    edges = torch.linspace(0, 1, n_bins + 1)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        ece += in_bin.float().mean() * (correct[in_bin].mean() - confidence[in_bin].mean()).abs()  # NaN when empty
    return float(ece)


def _ece_ten_bins(probs, labels, n_bins=10):
    return expected_calibration_error(probs, labels, 10)


def _ece_one_bin(probs, labels, n_bins=10):
    return expected_calibration_error(probs, labels, 1)


def _ece_percent(probs, labels, n_bins=10):
    return 100 * expected_calibration_error(probs, labels, n_bins)


def temperature_with(kind):
    def fit_temperature(logits, labels):
        if kind == "in place":
            best = fit_temperature_right(logits, labels)
            logits /= best
            return best
        if kind == "nothing fitted":
            return 1.0
        if kind == "multiplied":
            return 1 / fit_temperature_right(logits, labels)
        if kind == "probabilities":
            grid = torch.exp(torch.linspace(np.log(0.05), np.log(20), 3000))
            probs = logits.softmax(1)
            return float(grid[torch.stack([F.cross_entropy(probs / t, labels) for t in grid]).argmin()])
        if kind == "at least 1":
            return max(1.0, fit_temperature_right(logits, labels))
        if kind == "negative":
            return -fit_temperature_right(logits, labels)
        if kind == "not converged":  # a few small steps of plain gradient descent on T
            t = torch.ones(1, requires_grad=True)
            for _ in range(5):
                loss = F.cross_entropy(logits / t, labels)
                grad, = torch.autograd.grad(loss, t)
                t = (t - 0.01 * grad).detach().requires_grad_(True)
            return t.item()
        raise ValueError(kind)
    return fit_temperature


fit_temperature_right = fit_temperature


def distill_with(kind):
    def distillation_loss(student_logits, teacher_logits, labels, T, alpha):
        s, t, hard = student_logits, teacher_logits, F.cross_entropy(student_logits, labels)
        log_ps, pt = F.log_softmax(s / T, 1), F.softmax(t / T, 1)
        kl = F.kl_div(log_ps, pt, reduction="batchmean")
        if kind == "no T²":
            return alpha * kl + (1 - alpha) * hard
        if kind == "teacher hard":
            return alpha * T ** 2 * F.kl_div(log_ps, F.softmax(t, 1), reduction="batchmean") + (1 - alpha) * hard
        if kind == "student hard":
            return alpha * T ** 2 * F.kl_div(F.log_softmax(s, 1), pt, reduction="batchmean") + (1 - alpha) * hard
        if kind == "reversed":
            return alpha * T ** 2 * F.kl_div(F.log_softmax(t / T, 1), F.softmax(s / T, 1), reduction="batchmean") + (1 - alpha) * hard
        if kind == "probabilities":
            return alpha * T ** 2 * F.kl_div(F.softmax(s / T, 1), pt, reduction="batchmean") + (1 - alpha) * hard
        if kind == "mean":
            return alpha * T ** 2 * (pt * (pt.log() - log_ps)).mean() + (1 - alpha) * hard  # kl_div(reduction="mean")
        if kind == "alpha swapped":
            return (1 - alpha) * T ** 2 * kl + alpha * hard
        if kind == "hard at T":
            return alpha * T ** 2 * kl + (1 - alpha) * F.cross_entropy(s / T, labels)
        if kind == "soft cross-entropy":
            return alpha * T ** 2 * -(pt * log_ps).sum(1).mean() + (1 - alpha) * hard
        if kind == "item":
            return (alpha * T ** 2 * kl + (1 - alpha) * hard).item()
        if kind == "teacher gradient":  # the right value, but the student's logits are detached: no gradient flows
            return (alpha * T ** 2 * F.kl_div(F.log_softmax(s.detach() / T, 1), pt, reduction="batchmean")
                    + (1 - alpha) * F.cross_entropy(s.detach(), labels))
        raise ValueError(kind)
    return distillation_loss


def tta_with(kind):
    def tta_predict(model, images, views):
        if kind != "no eval":
            model.eval()
        with torch.inference_mode() if kind != "gradients" else torch.enable_grad():
            logits = [model(view(images)) for view in views]
        if kind == "logits averaged":
            return torch.stack(logits).mean(0).softmax(1)
        if kind == "logits":
            return torch.stack(logits).mean(0)
        if kind == "votes":
            return torch.stack([F.one_hot(l.argmax(1), l.shape[1]).float() for l in logits]).mean(0)
        if kind == "sum":
            return torch.stack([l.softmax(1) for l in logits]).sum(0)
        if kind == "softmax over the batch":
            return torch.stack([l.softmax(0) for l in logits]).mean(0)
        if kind == "first view":
            return logits[0].softmax(1)
        if kind == "log-probabilities":
            return torch.stack([l.log_softmax(1) for l in logits]).mean(0).exp()
        return torch.stack([l.softmax(1) for l in logits]).mean(0)  # "no eval", "gradients"
    return tta_predict


WRONG_ANSWERS = {
    ("check_topk_accuracy", "ties counted in the sample's favour (>)"): topk_with(_topk_ties_for),
    ("check_topk_accuracy", "torch.topk picks among ties"): topk_with(_topk_torch_clamped),
    ("check_topk_accuracy", "torch.topk with k larger than the classes"): topk_with(_topk_torch),
    ("check_topk_accuracy", "off by one (<= k)"): topk_with(
        lambda lg, y, k: (((lg >= lg.gather(1, y[:, None])).sum(1) - 1) <= k).float().mean().item()),
    ("check_topk_accuracy", "the k lowest scores"): topk_with(
        lambda lg, y, k: (lg.argsort(1)[:, :k] == y[:, None]).any(1).float().mean().item()),
    ("check_topk_accuracy", "a percentage"): topk_with(lambda lg, y, k: 100 * topk_accuracy(lg, y, k)),
    ("check_topk_accuracy", "the number of hits"): topk_with(lambda lg, y, k: topk_accuracy(lg, y, k) * len(y)),
    ("check_topk_accuracy", "no return statement"): _no_return,
    ("check_precision_recall_f1", "rows and columns swapped"): prf_with(_prf_swapped),
    ("check_precision_recall_f1", "F1 as the plain mean"): prf_with(_prf_plain_mean),
    ("check_precision_recall_f1", "precision over all images"): prf_with(_prf_over_all),
    ("check_precision_recall_f1", "percentages"): prf_with(_prf_percent),
    ("check_precision_recall_f1", "NaN for a class never predicted"): prf_with(_prf_nan),
    ("check_precision_recall_f1", "no return statement"): _no_return,
    ("check_expected_calibration_error", "bins not weighted by their size"): ece_with(weighted=False),
    ("check_expected_calibration_error", "empty bins averaged in"): ece_with(weighted=False, all_bins=True),
    ("check_expected_calibration_error", "NaN from empty bins"): _ece_nan,
    ("check_expected_calibration_error", "signed gap"): ece_with(signed=True),
    ("check_expected_calibration_error", "root mean squared gap"): ece_with(squared=True),
    ("check_expected_calibration_error", "confidence of the true class"): ece_with(true_class=True),
    ("check_expected_calibration_error", "bins [low, high) lose a confidence of 1.0"): ece_with(left_closed=True),
    ("check_expected_calibration_error", "n_bins ignored"): _ece_ten_bins,
    ("check_expected_calibration_error", "one bin for everything"): _ece_one_bin,
    ("check_expected_calibration_error", "a percentage"): _ece_percent,
    ("check_expected_calibration_error", "no return statement"): _no_return,
    ("check_fit_temperature", "logits multiplied by T"): temperature_with("multiplied"),
    ("check_fit_temperature", "nothing fitted"): temperature_with("nothing fitted"),
    ("check_fit_temperature", "probabilities scaled instead of logits"): temperature_with("probabilities"),
    ("check_fit_temperature", "T kept at 1 or above"): temperature_with("at least 1"),
    ("check_fit_temperature", "T unconstrained goes negative"): temperature_with("negative"),
    ("check_fit_temperature", "divides the logits in place"): temperature_with("in place"),
    ("check_fit_temperature", "not converged"): temperature_with("not converged"),
    ("check_fit_temperature", "no return statement"): _no_return,
    ("check_distillation_loss", "no T² factor"): distill_with("no T²"),
    ("check_distillation_loss", "teacher not softened"): distill_with("teacher hard"),
    ("check_distillation_loss", "student not softened"): distill_with("student hard"),
    ("check_distillation_loss", "KL the wrong way round"): distill_with("reversed"),
    ("check_distillation_loss", "F.kl_div given probabilities"): distill_with("probabilities"),
    ("check_distillation_loss", "reduction='mean'"): distill_with("mean"),
    ("check_distillation_loss", "alpha on the wrong term"): distill_with("alpha swapped"),
    ("check_distillation_loss", "hard loss at temperature T"): distill_with("hard at T"),
    ("check_distillation_loss", "cross-entropy with soft targets"): distill_with("soft cross-entropy"),
    ("check_distillation_loss", "returns loss.item()"): distill_with("item"),
    ("check_distillation_loss", "student's logits detached"): distill_with("teacher gradient"),
    ("check_distillation_loss", "no return statement"): _no_return,
    ("check_tta_predict", "logits averaged"): tta_with("logits averaged"),
    ("check_tta_predict", "logits returned"): tta_with("logits"),
    ("check_tta_predict", "argmax votes"): tta_with("votes"),
    ("check_tta_predict", "views added up"): tta_with("sum"),
    ("check_tta_predict", "softmax over the batch"): tta_with("softmax over the batch"),
    ("check_tta_predict", "first view only"): tta_with("first view"),
    ("check_tta_predict", "log-probabilities averaged"): tta_with("log-probabilities"),
    ("check_tta_predict", "no model.eval()"): tta_with("no eval"),
    ("check_tta_predict", "gradients kept"): tta_with("gradients"),
    ("check_tta_predict", "no return statement"): _no_return,
}


# ---------------------------------------------------------------- tests
# the tests every lab's checks get (lab_test_kit.lab_tests), then this lab's own
globals().update(lab_tests(lab, CLASSIC_BUGS, RIGHT_ANSWERS, WRONG_ANSWERS, pass_line_names_the_check=True))


def test_the_references_agree_with_scikit_learn():
    from sklearn.metrics import precision_recall_fscore_support, top_k_accuracy_score

    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(300, 6, generator=g), torch.randint(0, 6, (300,), generator=g)
    for k in (1, 3):  # no ties in random floats: every convention agrees
        assert lab.topk_reference(logits, labels, k) == pytest.approx(
            top_k_accuracy_score(labels.numpy(), logits.numpy(), k=k, labels=range(6)))
    predictions = logits.argmax(1).numpy()
    cm = np.zeros((6, 6), dtype=int)
    np.add.at(cm, (labels.numpy(), predictions), 1)
    p, r, f, _ = precision_recall_fscore_support(labels.numpy(), predictions, labels=range(6), zero_division=0)
    for cls in range(6):
        assert lab.prf_reference(cm, cls) == pytest.approx((p[cls], r[cls], f[cls]))


@pytest.mark.parametrize("seed", range(3))
def test_the_tta_check_does_not_depend_on_the_global_seed(seed, capsys):
    seed_all(seed)  # the check seeds its own draws; a right answer passes whatever came before
    lab.check_tta_predict(tta_predict)
    assert "✅ tta_predict" in capsys.readouterr().out
