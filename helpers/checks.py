"""Self-checking cells for the labs: friendly pass lines, or a hint that says what is wrong.

A check function runs the student's code on a few cases and stops at the first failure::

    >>> def check_double(double):
    ...     def case(n):
    ...         expect_equal(call_student(double, n), 2 * n, f"double({n})")
    ...     run_cases("double", {"a positive number": lambda: case(3), "zero": lambda: case(0)})
    >>> check_double(lambda n: n + n)
    ✅ double: all 2 cases passed
    >>> check_double(lambda n: n * n)
    Traceback (most recent call last):
    helpers.checks.CheckFailed: ❌ double (a positive number): double(3) is 9, expected 6

A failing check raises ``CheckFailed`` (an ``AssertionError``), so the cell fails in Jupyter, in
papermill and under ``pytest --nbval-lax`` (which is how ``python -m helpers.grade`` marks the item).

The framework is at the top; each lab's check functions live in its own section below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "CheckFailed",
    "run_cases",
    "call_student",
    "expect_shape",
    "expect_close",
    "expect_dtype",
    "expect_equal",
    "expect_true",
]


class CheckFailed(AssertionError):
    """A check found a mistake. ``str(error)`` is the message and, if given, the hint on its own line."""

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\nHint: {hint}")


def run_cases(name: str, cases: Mapping[str, Callable[[], Any]] | Sequence[tuple[str, Callable[[], Any]]]) -> None:
    """Run each case (a label and a function of no arguments); print a pass line or raise the first failure.

    A case fails by raising ``CheckFailed`` (the ``expect_*`` helpers and ``call_student`` do that).
    The error names the check and the case, e.g. ``❌ conv2d (padding 1): output has shape 30x30, ...``.
    """
    items = list(cases.items()) if isinstance(cases, Mapping) else list(cases)
    if not items:
        raise ValueError(f"run_cases({name!r}) got no cases to run.")
    for label, case in items:
        try:
            case()
        except CheckFailed as err:
            raise CheckFailed(f"❌ {name} ({label}): {err.message}", err.hint) from err.__cause__
    print(f"✅ {name}: all {len(items)} cases passed")


def call_student(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the student's ``fn``; turn a crash into a ``CheckFailed`` that says what happened.

    ``NotImplementedError`` (the lab's placeholder) becomes "you have not written this yet";
    any other exception is reported with its type and message (the original traceback is chained).
    """
    name = getattr(fn, "__name__", "your function")
    if not callable(fn):
        raise CheckFailed(f"expected a function, got {type(fn).__name__}", "pass the function itself, without calling it: check(my_fn), not check(my_fn()).")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        raise CheckFailed(
            f"{name} raised NotImplementedError: you have not written this yet",
            "replace the `raise NotImplementedError(...)` line with your code, run that cell, then run this check again.",
        ) from err
    except Exception as err:  # the student's bug: report it, keep the traceback for them
        raise CheckFailed(f"{name} crashed with {type(err).__name__}: {err}", "read the traceback above to find the line in your code.") from err


def _shape_text(shape: Iterable[int]) -> str:
    dims = [str(int(d)) for d in shape]
    return "x".join(dims) if dims else "a scalar (no dimensions)"


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    try:
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError) as err:
        raise CheckFailed(f"{what} should be a tensor or array, but it is a {type(value).__name__}") from err


def expect_shape(actual: Any, expected: Sequence[int], what: str = "output", hint: str | None = None) -> None:
    """Fail unless ``actual.shape == expected``, e.g. "output has shape 30x30, expected 32x32"."""
    if not hasattr(actual, "shape"):
        raise CheckFailed(f"{what} should be a tensor or array, but it is a {type(actual).__name__}", hint)
    got = tuple(int(d) for d in actual.shape)
    if got != tuple(expected):
        raise CheckFailed(f"{what} has shape {_shape_text(got)}, expected {_shape_text(expected)}", hint)


def expect_dtype(actual: Any, expected: Any, what: str = "output", hint: str | None = None) -> None:
    """Fail unless ``actual.dtype == expected`` (torch or NumPy dtypes)."""
    got = getattr(actual, "dtype", None)
    if got is None:
        raise CheckFailed(f"{what} should be a tensor or array, but it is a {type(actual).__name__}", hint)
    if got != expected:
        raise CheckFailed(f"{what} has dtype {got}, expected {expected}", hint)


def expect_close(actual: Any, expected: Any, what: str = "output", atol: float = 1e-5, rtol: float = 1e-4, hint: str | None = None) -> None:
    """Fail unless ``actual`` matches ``expected`` within tolerance; the message shows the worst element.

    Checks the shape first, so a wrong size gets the shape message, not a broadcasting error.
    """
    got, want = _as_tensor(actual, what), _as_tensor(expected, "expected value")
    expect_shape(got, tuple(want.shape), what, hint)
    got, want = got.double(), want.double()
    if got.numel() == 0 or torch.allclose(got, want, atol=atol, rtol=rtol, equal_nan=True):
        return
    diff = (got - want).abs().nan_to_num(nan=float("inf"))
    worst = int(diff.argmax())
    index = tuple(int(i) for i in np.unravel_index(worst, tuple(got.shape))) if got.dim() else ()
    where = f" at index {list(index)}" if index else ""
    raise CheckFailed(
        f"{what} is off by up to {float(diff.max()):.4g}{where}: got {float(got.flatten()[worst]):.6g}, "
        f"expected {float(want.flatten()[worst]):.6g} (tolerance {atol:g})",
        hint,
    )


def expect_equal(actual: Any, expected: Any, what: str = "result", hint: str | None = None) -> None:
    """Fail unless ``actual == expected`` (plain Python values: numbers, strings, tuples)."""
    if actual != expected:
        raise CheckFailed(f"{what} is {actual!r}, expected {expected!r}", hint)


def expect_true(condition: bool, message: str, hint: str | None = None) -> None:
    """Fail with ``message`` unless ``condition`` holds, e.g. ``expect_true(not model.training, "model is in training mode")``."""
    if not condition:
        raise CheckFailed(message, hint)


# Lesson engineers: add check functions only inside your section below. Each check takes the student's
# function (or model/result), uses call_student + expect_* on a few cases including edge cases, and ends with
# run_cases("name", {...}). For each check, tests feed it at least two wrong implementations and the right one.


# === checks: convolution (lesson 02 lab) ===


# === checks: training and VGG (lesson 05 lab) ===
