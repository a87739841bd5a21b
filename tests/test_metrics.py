"""Unit tests for helpers.metrics, checked against scikit-learn on random predictions."""

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import precision_recall_fscore_support, top_k_accuracy_score

from helpers.metrics import (accuracy, classification_report_table, confusion_matrix, most_confused_pairs,
                             per_class_accuracy, precision_recall_f1, topk_accuracy)


@pytest.fixture
def predictions():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=200)
    logits = rng.normal(size=(200, 5)).astype(np.float32)
    logits[np.arange(200), labels] += 1.0  # better than chance, far from perfect
    return logits, labels


def test_accuracy_accepts_logits_or_indices_as_torch_or_numpy(predictions):
    logits, labels = predictions
    expected = float((logits.argmax(1) == labels).mean())
    assert accuracy(logits, labels) == pytest.approx(expected)
    assert accuracy(torch.from_numpy(logits), torch.from_numpy(labels)) == pytest.approx(expected)
    assert accuracy(torch.from_numpy(logits.argmax(1)), labels) == pytest.approx(expected)
    assert accuracy(torch.tensor([[2.0, 0.1], [0.3, 0.9]]), torch.tensor([0, 0])) == 0.5
    assert isinstance(accuracy(logits, labels), float)


def test_topk_accuracy_matches_sklearn(predictions):
    logits, labels = predictions
    result = topk_accuracy(torch.from_numpy(logits), labels, ks=(1, 3, 5))
    for k in (1, 3):
        assert result[k] == pytest.approx(top_k_accuracy_score(labels, logits, k=k, labels=range(5)))
    assert result[5] == 1.0 and result[1] <= result[3] <= result[5]


def test_confusion_matrix_matches_sklearn_rows_true_columns_predicted(predictions):
    logits, labels = predictions
    cm = confusion_matrix(torch.from_numpy(logits), torch.from_numpy(labels), num_classes=5)
    np.testing.assert_array_equal(cm, sk_confusion_matrix(labels, logits.argmax(1), labels=range(5)))
    assert cm.sum() == 200 and cm.dtype == np.int64
    small = confusion_matrix(np.array([0, 1, 1]), np.array([0, 0, 1]), num_classes=3)
    np.testing.assert_array_equal(small, [[1, 1, 0], [0, 1, 0], [0, 0, 0]])  # true 0 predicted as 1 is row 0, col 1


def test_per_class_accuracy_and_precision_recall_f1_match_sklearn(predictions):
    logits, labels = predictions
    preds = logits.argmax(1)
    preds[preds == 4] = 3  # class 4 is never predicted: precision 0/0 must be reported as 0
    cm = confusion_matrix(preds, labels, num_classes=5)
    precision, recall, f1, support = precision_recall_f1(cm)
    sk = precision_recall_fscore_support(labels, preds, labels=range(5), zero_division=0)
    for ours, theirs in zip((precision, recall, f1, support), sk):
        np.testing.assert_allclose(ours, theirs)
    np.testing.assert_allclose(per_class_accuracy(cm), recall)

    table = classification_report_table(cm, ["a", "b", "c", "d", "e"])
    assert list(table.columns) == ["precision", "recall", "f1", "support"]
    assert list(table.index) == ["a", "b", "c", "d", "e", "macro avg", "weighted avg"]
    assert table.loc["macro avg", "f1"] == pytest.approx(f1.mean())
    weighted = precision_recall_fscore_support(labels, preds, labels=range(5), average="weighted", zero_division=0)
    assert table.loc["weighted avg", "precision"] == pytest.approx(weighted[0])
    assert table.loc["weighted avg", "support"] == 200
    assert len(classification_report_table(cm, list("abcde"), averages=False)) == 5


def test_per_class_accuracy_is_nan_for_a_class_without_samples():
    cm = np.array([[3, 1], [0, 0]])
    result = per_class_accuracy(cm)
    assert result[0] == 0.75 and np.isnan(result[1])


def test_most_confused_pairs_are_sorted_and_skip_the_diagonal():
    cm = np.array([[50, 3, 9], [1, 40, 0], [7, 0, 60]])
    pairs = most_confused_pairs(cm, ["cat", "dog", "fox"], n=3)
    assert pairs == [("cat", "fox", 9), ("fox", "cat", 7), ("cat", "dog", 3)]
    assert len(most_confused_pairs(np.eye(3, dtype=int), ["a", "b", "c"])) == 0


def test_clear_errors_for_bad_shapes():
    with pytest.raises(ValueError, match="3 predictions but 2 labels"):
        accuracy(np.array([0, 1, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"labels must be one class index per sample, shape \[N\]"):
        accuracy(np.zeros((4, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="No samples"):
        accuracy(np.array([]), np.array([]))
    with pytest.raises(ValueError, match="k=5 is impossible with 3 classes"):
        topk_accuracy(np.zeros((4, 3)), np.zeros(4, dtype=int), ks=(1, 5))
    with pytest.raises(ValueError, match=r"shape \[N, classes\]"):
        topk_accuracy(np.zeros(4), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="between 0 and 1 for num_classes=2"):
        confusion_matrix(np.array([0, 2]), np.array([0, 1]), num_classes=2)
    with pytest.raises(ValueError, match="must be square"):
        per_class_accuracy(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="3 class names for a 2x2"):
        most_confused_pairs(np.eye(2), ["a", "b", "c"])
