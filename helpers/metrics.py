"""Classification metrics: accuracy, top-k, confusion matrix, per-class scores.

Every function accepts torch tensors or NumPy arrays. Predictions may be class indices [N]
or logits/scores [N, classes] (then the arg-max is the prediction; no softmax needed).

Example::

    >>> from helpers.metrics import accuracy, confusion_matrix, most_confused_pairs
    >>> logits, labels = predict(model, test_loader)
    >>> accuracy(logits, labels)
    0.862
    >>> cm = confusion_matrix(logits, labels, num_classes=10)   # rows: true class, columns: predicted
    >>> most_confused_pairs(cm, FASHION_MNIST_CLASSES, n=2)
    [('shirt', 'T-shirt/top', 112), ('pullover', 'coat', 87)]
    >>> classification_report_table(cm, FASHION_MNIST_CLASSES)   # a pandas DataFrame
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def _as_numpy(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor (on any device)
        x = x.detach().float().cpu().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return np.asarray(x)


def _predictions_and_labels(predictions: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Class indices for both; logits [N, C] become their arg-max."""
    predictions, labels = _as_numpy(predictions, "predictions"), _as_numpy(labels, "labels")
    if labels.ndim != 1:
        raise ValueError(f"labels must be one class index per sample, shape [N]; got shape {list(labels.shape)}.")
    if predictions.ndim == 2:
        predictions = predictions.argmax(axis=1)
    elif predictions.ndim != 1:
        raise ValueError(f"predictions must be class indices [N] or logits [N, classes]; got shape {list(predictions.shape)}.")
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions but {len(labels)} labels: they must match one to one.")
    if len(labels) == 0:
        raise ValueError("No samples: predictions and labels are empty.")
    return predictions.astype(np.int64), labels.astype(np.int64)


def accuracy(predictions: Any, labels: Any) -> float:
    """Fraction of samples whose predicted class is the true class (0.862 means 86.2 %).

    >>> accuracy(torch.tensor([[2.0, 0.1], [0.3, 0.9]]), torch.tensor([0, 0]))
    0.5
    """
    predictions, labels = _predictions_and_labels(predictions, labels)
    return float((predictions == labels).mean())


def topk_accuracy(logits: Any, labels: Any, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """For each k: the fraction of samples whose true class is among the k highest scores.

    >>> topk_accuracy(logits, labels, ks=(1, 5))
    {1: 0.712, 5: 0.903}
    """
    logits, labels = _as_numpy(logits, "logits"), _as_numpy(labels, "labels")
    if logits.ndim != 2:
        raise ValueError(f"topk_accuracy needs scores for every class, shape [N, classes]; got shape {list(logits.shape)}.")
    if labels.ndim != 1 or len(labels) != len(logits):
        raise ValueError(f"labels must have shape [{len(logits)}] to match the logits; got {list(labels.shape)}.")
    if len(labels) == 0:
        raise ValueError("No samples: logits and labels are empty.")
    num_classes = logits.shape[1]
    result = {}
    order = np.argsort(-logits, axis=1, kind="stable")  # class indices from highest to lowest score
    for k in ks:
        if not 1 <= k <= num_classes:
            raise ValueError(f"k={k} is impossible with {num_classes} classes: use 1 <= k <= {num_classes}.")
        hits = (order[:, :k] == labels[:, None]).any(axis=1)
        result[int(k)] = float(hits.mean())
    return result


def confusion_matrix(predictions: Any, labels: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts [num_classes, num_classes]: row = true class, column = predicted class.

    Note the order: predictions first, then labels (scikit-learn's is y_true, y_pred).

    >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), num_classes=2)
    array([[1, 1],
           [0, 1]])
    """
    predictions, labels = _predictions_and_labels(predictions, labels)
    if num_classes is None:
        num_classes = int(max(predictions.max(), labels.max())) + 1
    if min(predictions.min(), labels.min()) < 0 or max(predictions.max(), labels.max()) >= num_classes:
        raise ValueError(f"class indices must be between 0 and {num_classes - 1} for num_classes={num_classes}; "
                         f"got values from {min(predictions.min(), labels.min())} to {max(predictions.max(), labels.max())}.")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels, predictions), 1)
    return cm


def _check_cm(cm: Any) -> np.ndarray:
    cm = _as_numpy(cm, "cm")
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix must be square [classes, classes]; got shape {list(cm.shape)}.")
    return cm


def per_class_accuracy(cm: Any) -> np.ndarray:
    """For each true class, the fraction of its samples predicted correctly (NaN for a class with no samples)."""
    cm = _check_cm(cm).astype(np.float64)
    per_class_total = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(per_class_total > 0, np.diag(cm) / per_class_total, np.nan)


def most_confused_pairs(cm: Any, class_names: Sequence[str], n: int = 5) -> list[tuple[str, str, int]]:
    """The ``n`` largest mistakes as (true class, predicted class, count), largest first.

    >>> most_confused_pairs(cm, ["cat", "dog"], n=1)
    [('cat', 'dog', 12)]
    """
    cm = _check_cm(cm)
    if len(class_names) != cm.shape[0]:
        raise ValueError(f"{len(class_names)} class names for a {cm.shape[0]}x{cm.shape[0]} confusion matrix.")
    mistakes = [(int(cm[t, p]), t, p) for t in range(cm.shape[0]) for p in range(cm.shape[1]) if t != p and cm[t, p] > 0]
    mistakes.sort(key=lambda item: (-item[0], item[1], item[2]))
    return [(class_names[t], class_names[p], count) for count, t, p in mistakes[:n]]


def precision_recall_f1(cm: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per class: precision (of the images predicted as the class, how many are it), recall (of the
    images of the class, how many were found), F1 (their harmonic mean) and support (images of the class).
    A score whose denominator is 0 is reported as 0 (like scikit-learn's zero_division=0)."""
    cm = _check_cm(cm).astype(np.float64)
    true_positives = np.diag(cm)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, true_positives / predicted, 0.0)
        recall = np.where(support > 0, true_positives / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1, support.astype(np.int64)


def classification_report_table(cm: Any, class_names: Sequence[str], averages: bool = True):
    """A pandas DataFrame with precision, recall, f1 and support per class (+ macro and weighted averages).

    >>> classification_report_table(cm, ["cat", "dog"]).round(3)
                  precision  recall     f1  support
    cat               0.900   0.857  0.878       42
    ...
    """
    import pandas as pd  # imported here: only this function needs pandas

    cm = _check_cm(cm)
    if len(class_names) != cm.shape[0]:
        raise ValueError(f"{len(class_names)} class names for a {cm.shape[0]}x{cm.shape[0]} confusion matrix.")
    precision, recall, f1, support = precision_recall_f1(cm)
    table = pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": support},
                         index=[str(name) for name in class_names])
    if averages and support.sum() > 0:
        weights = support / support.sum()
        table.loc["macro avg"] = [precision.mean(), recall.mean(), f1.mean(), support.sum()]
        table.loc["weighted avg"] = [weights @ precision, weights @ recall, weights @ f1, support.sum()]
        table["support"] = table["support"].astype(np.int64)
    return table
