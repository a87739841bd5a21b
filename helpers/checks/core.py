"""The check framework: run the student's code on a few cases, print one pass line or fail with a hint.

A check function runs the student's code on a few cases and stops at the first failure::

    >>> def check_double(double):
    ...     def case(n):
    ...         expect_equal(call_student(double, n), 2 * n, f"double({n})")
    ...     run_cases("double", {"a positive number": lambda: case(3), "zero": lambda: case(0)})
    >>> check_double(lambda n: n + n)
    ✅ double: all 2 cases passed
    >>> check_double(lambda n: n * n)
    Traceback (most recent call last):
    helpers.checks.core.CheckFailed: ❌ double (a positive number): double(3) is 9, expected 6

A failing check raises ``CheckFailed`` (an ``AssertionError``), so the cell fails in Jupyter, in papermill and
under ``pytest --nbval-lax`` (which is how ``python -m helpers.grade`` marks the item).

What is here, top to bottom:

- running: ``CheckFailed``, ``run_cases``, ``call_student``, ``call_on_copies`` (fails when the student's code
  writes into its inputs), ``hint_for_crash`` (a crash of a known kind gets its own hint), ``construct_student``
  (the student's class built, with hints for an instance passed or a missing ``super().__init__()``),
  ``seed_all`` (random, NumPy and torch at once);
- comparing: ``expect_equal``, ``expect_true``, ``expect_shape``, ``expect_dtype``, ``expect_close``;
- the student's result as the type the exercise asks for (each one says "did you forget the return statement?"
  when it gets ``None``): ``expect_array`` (NumPy, optionally floats only), ``expect_tensor``, ``expect_module``,
  ``expect_float``, ``expect_int``, ``expect_results`` (a tuple of a given length), ``expect_indices`` (a 1-D
  array of int indices);
- a model's output: ``expect_logits`` (fails on probabilities, rows that sum to 1);
- a model's evaluation: ``expect_evaluation_mode`` (a spy model's calls: eval mode, no autograd);
- naming the mistake: ``same_numbers``, ``name_the_mistake`` (which classic wrong answer reproduces the
  student's numbers), ``expect_independent_draws`` (one random draw reused for a whole row or tensor),
  ``return_hint``, ``leaf_layers``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

__all__ = [
    "CheckFailed",
    "run_cases",
    "call_student",
    "call_on_copies",
    "hint_for_crash",
    "construct_student",
    "seed_all",
    "expect_equal",
    "expect_true",
    "expect_shape",
    "expect_dtype",
    "expect_close",
    "expect_array",
    "expect_floats",
    "expect_tensor",
    "expect_module",
    "expect_float",
    "expect_int",
    "expect_results",
    "expect_indices",
    "expect_logits",
    "expect_independent_draws",
    "expect_evaluation_mode",
    "same_numbers",
    "name_the_mistake",
    "return_hint",
    "leaf_layers",
    "shape_text",
    "FLOAT_ARRAY_HINT",
]

FLOAT_ARRAY_HINT = (
    "create the result as floats: np.zeros(shape) is float64 by default, or convert with .astype(np.float64). "
    "np.zeros_like(image), dtype=image.dtype and np.pad keep an integer image's dtype (uint8), which cuts off "
    "decimals and wraps negative numbers around (-1 becomes 255)."
)


# ---------------------------------------------------------------- running checks

class CheckFailed(AssertionError):
    """A check found a mistake. ``str(error)`` is the message and, if given, the hint on its own line."""

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\nHint: {hint}")


def run_cases(name: str, cases: Mapping[str, Callable[[], Any]] | Sequence[tuple[str, Callable[[], Any]]]) -> None:
    """Run each case (a label and a function of no arguments); print a pass line or raise the first failure.

    ``name`` is the name of the student's function. A case fails by raising ``CheckFailed`` (the ``expect_*``
    helpers and ``call_student`` do that). The error names the check and the case, e.g.
    ``❌ conv2d (padding 1): output has shape 30x30, ...``.
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
        raise CheckFailed(f"expected a function, got {type(fn).__name__}",
                          "pass the function itself, without calling it: check(my_fn), not check(my_fn()).")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        raise CheckFailed(
            f"{name} raised NotImplementedError: you have not written this yet",
            "replace the `raise NotImplementedError(...)` line with your code, run that cell, then run this check again.",
        ) from err
    except Exception as err:  # the student's bug: report it, keep the traceback for them
        raise CheckFailed(f"{name} crashed with {type(err).__name__}: {err}",
                          "read the traceback above to find the line in your code.") from err


def call_on_copies(fn: Callable[..., Any], *args: Any, hint: str | None = None, **kwargs: Any) -> Any:
    """``call_student`` with copies of the tensor and array arguments; fail if ``fn`` wrote into one of them.

    >>> def shift(x):
    ...     x[1:] = x[:-1].clone()
    ...     return x
    >>> call_on_copies(shift, torch.arange(3), hint="start from x.clone().")
    Traceback (most recent call last):
    helpers.checks.core.CheckFailed: shift changed its input in place
    Hint: start from x.clone().
    """
    copies = [a.clone() if isinstance(a, torch.Tensor) else a.copy() if isinstance(a, np.ndarray) else a for a in args]
    result = call_student(fn, *copies, **kwargs)
    for given, original in zip(copies, args):
        if isinstance(original, (torch.Tensor, np.ndarray)) and not torch.equal(*map(torch.as_tensor, (given, original))):
            raise CheckFailed(f"{getattr(fn, '__name__', 'your function')} changed its input in place", hint or
                              "build the result in a new tensor or array (x.clone(), x.copy(), torch.where(...)) instead "
                              "of writing into the one you were given: the caller still needs it.")
    return result


@contextmanager
def hint_for_crash(error: type[BaseException], words: str | Sequence[str], hint: str,
                   message: str | None = None) -> Iterator[None]:
    """Around ``call_student``: a crash with an ``error`` whose text holds one of ``words`` gets ``hint`` instead of
    "read the traceback"; ``message`` (where ``{cause}`` stands for the error's text) replaces the message if given.

    >>> with hint_for_crash(KeyError, "fc", "ResNets call their head model.fc."):
    ...     call_student(lambda: {}["fc"])
    Traceback (most recent call last):
    helpers.checks.core.CheckFailed: <lambda> crashed with KeyError: 'fc'
    Hint: ResNets call their head model.fc.
    """
    try:
        yield
    except CheckFailed as err:
        cause = err.__cause__
        if isinstance(cause, error) and any(w in str(cause) for w in ([words] if isinstance(words, str) else words)):
            raise CheckFailed(err.message if message is None else message.replace("{cause}", str(cause)), hint) from cause
        raise


def construct_student(cls: Any, *args: Any, what: str, hint: str | None = None) -> Any:
    """Build the student's object from their class (``call_student(cls, *args)``); ``what`` names the call.

    An instance instead of the class fails with ``hint`` (default: pass the class itself), and a module whose
    ``__init__`` assigns a layer before ``super().__init__()`` gets that hint instead of PyTorch's message.
    """
    if not isinstance(cls, type):
        raise CheckFailed(f"expected a class, got {type(cls).__name__}",
                          hint or "pass the class itself: check(MyClass), not check(MyClass(...)).")
    with hint_for_crash(AttributeError, "Module.__init__()", "call super().__init__() as the first line of __init__, "
                        "before assigning any layer.", message=what + " crashed: {cause}"):
        return call_student(cls, *args)


def seed_all(seed: int) -> None:
    """Seed every generator a student's random code might use (``random``, NumPy and torch), so a check's result
    does not depend on what ran before it."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def return_hint(value: Any, fix: str) -> str:
    """The hint for a result of the wrong type: a missing ``return`` when it is ``None``, else ``fix``.

    >>> return_hint(None, "return a tensor like x.")
    'did you forget the return statement?'
    """
    return "did you forget the return statement?" if value is None else fix


# ---------------------------------------------------------------- comparing values

def shape_text(shape: Iterable[int]) -> str:
    """``(30, 30)`` -> ``"30x30"``, ``()`` -> ``"a scalar (no dimensions)"``."""
    dims = [str(int(d)) for d in shape]
    return "x".join(dims) if dims else "a scalar (no dimensions)"


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    try:
        return torch.as_tensor(np.array(value))  # a copy: read-only arrays (constants) are fine
    except (TypeError, ValueError) as err:
        raise CheckFailed(f"{what} should be a tensor or array, but it is a {type(value).__name__}") from err


def expect_equal(actual: Any, expected: Any, what: str = "result", hint: str | None = None) -> None:
    """Fail unless ``actual == expected`` (plain Python values: numbers, strings, tuples)."""
    if actual != expected:
        raise CheckFailed(f"{what} is {actual!r}, expected {expected!r}", hint)


def expect_true(condition: bool, message: str, hint: str | None = None) -> None:
    """Fail with ``message`` unless ``condition`` holds, e.g. ``expect_true(not model.training, "model is in training mode")``."""
    if not condition:
        raise CheckFailed(message, hint)


def expect_shape(actual: Any, expected: Sequence[int], what: str = "output", hint: str | None = None) -> None:
    """Fail unless ``actual.shape == expected``, e.g. "output has shape 30x30, expected 32x32"."""
    if not hasattr(actual, "shape"):
        raise CheckFailed(f"{what} should be a tensor or array, but it is a {type(actual).__name__}", hint)
    got = tuple(int(d) for d in actual.shape)
    if got != tuple(expected):
        raise CheckFailed(f"{what} has shape {shape_text(got)}, expected {shape_text(expected)}", hint)


def expect_dtype(actual: Any, expected: Any, what: str = "output", hint: str | None = None) -> None:
    """Fail unless ``actual.dtype == expected`` (torch or NumPy dtypes)."""
    got = getattr(actual, "dtype", None)
    if got is None:
        raise CheckFailed(f"{what} should be a tensor or array, but it is a {type(actual).__name__}", hint)
    if got != expected:
        raise CheckFailed(f"{what} has dtype {got}, expected {expected}", hint)


def expect_close(actual: Any, expected: Any, what: str = "output", atol: float = 1e-5, rtol: float = 1e-4,
                 hint: str | None = None) -> None:
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


# ---------------------------------------------------------------- the result as the type the exercise asks for

def expect_array(value: Any, what: str, *, floats: bool = False, hint: str | None = None) -> np.ndarray:
    """The student's result as a writable NumPy array (a tensor or a rectangular list is accepted).

    ``floats=True``: an integer or boolean array fails with ``FLOAT_ARRAY_HINT`` (or ``hint``), e.g. an output
    made with ``np.zeros_like`` of a uint8 image. Use it wherever the exercise asks for floats.
    """
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)):
        try:
            value = np.array(value, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise CheckFailed(f"{what} is a list that is not a rectangular grid of numbers",
                              "every row needs the same number of values, e.g. np.array([[1, 2], [3, 4]]).") from err
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise CheckFailed(f"{what} should be a NumPy array, but it is {type(value).__name__}",
                          return_hint(value, "return a NumPy array (np.zeros(...), np.array(...))."))
    array = np.array(value)  # a writable copy
    if floats:
        expect_floats(array, what, hint)
    return array


def expect_floats(array: Any, what: str, hint: str | None = None) -> None:
    """Fail when ``array`` (NumPy or torch) holds integers or booleans where the exercise asks for floats."""
    dtype = array.dtype
    is_float = dtype.is_floating_point if isinstance(dtype, torch.dtype) else np.issubdtype(dtype, np.floating)
    if not is_float:
        raise CheckFailed(f"{what} has dtype {dtype}, but this exercise asks for floats", hint or FLOAT_ARRAY_HINT)


def expect_tensor(value: Any, what: str, hint: str | None = None) -> torch.Tensor:
    """The student's result if it is a ``torch.Tensor``; otherwise fail (``None``: a missing return)."""
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(f"{what} should be a tensor, but it is {type(value).__name__}",
                          return_hint(value, hint or "return a torch tensor (the result of operations on the input tensor)."))
    return value


def expect_module(value: Any, what: str, hint: str | None = None) -> torch.nn.Module:
    """The student's result if it is an ``nn.Module`` (a layer or a model); otherwise fail."""
    if not isinstance(value, torch.nn.Module):
        raise CheckFailed(f"{what} should be an nn.Module, but it is {type(value).__name__}",
                          return_hint(value, hint or "return nn.Sequential(*layers) (an nn.Module)."))
    return value


def expect_results(value: Any, count: int, what: str, fix: str) -> tuple[Any, ...]:
    """The student's ``count`` results (a tuple or list of that length), e.g. ``images, labels = expect_results(
    result, 2, "random_flip", "return images, labels.")``; ``fix`` is the hint for anything else."""
    if not isinstance(value, (tuple, list)) or len(value) != count:
        got = f" of {len(value)} things" if isinstance(value, (tuple, list)) else ""
        number = {2: "two", 3: "three", 4: "four"}.get(count, str(count))
        raise CheckFailed(f"{what} returned a {type(value).__name__}{got}, expected {number} results", return_hint(value, fix))
    return tuple(value)


def expect_indices(value: Any, what: str) -> np.ndarray:
    """The student's indices as a 1-D NumPy array of ints (a list, an array or a tensor is accepted; empty is fine)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except Exception as err:  # ragged
        raise CheckFailed(f"{what} is not a list of indices", return_hint(value, "return 1-D arrays (or lists) of "
                                                                            "int indices.")) from err
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise CheckFailed(f"{what} has dtype {array.dtype} and shape {shape_text(array.shape)}",
                          return_hint(value, "return 1-D arrays of int indices (np.array(indices) or a list of ints)."))
    return array


def expect_logits(out: torch.Tensor, what: str = "the outputs", hint: str | None = None) -> None:
    """Fail when a model's ``[N, classes]`` output holds probabilities (no negative score, each row sums to 1)."""
    rows = out.detach().float().sum(dim=1)
    if bool((out >= 0).all()) and torch.allclose(rows, torch.ones_like(rows), atol=1e-4):
        raise CheckFailed(f"{what} are probabilities (each row sums to 1)",
                          hint or "return logits: no softmax; nn.CrossEntropyLoss applies it itself.")


def _scalar(value: Any) -> Any:
    """A one-element tensor or array as its Python number; anything else unchanged."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.item()
    return value


def expect_float(value: Any, what: str, hint: str | None = None) -> float:
    """The student's number as a float (ints, NumPy numbers and one-element tensors are accepted; bools are not)."""
    number = _scalar(value)
    if isinstance(number, (bool, np.bool_)) or not isinstance(number, (int, float, np.integer, np.floating)):
        raise CheckFailed(f"{what} is {type(value).__name__}, expected a number (a float)",
                          return_hint(value, hint or "return a plain number, e.g. correct / total."))
    return float(number)


def expect_int(value: Any, what: str, hint: str | None = None) -> int:
    """The student's number as an int: a whole-number count or size (a float such as ``3.0`` fails)."""
    number = _scalar(value)
    if isinstance(number, (float, np.floating)):
        raise CheckFailed(f"{what} is the float {number!r}; expected a whole number (an int)",
                          hint or "use integer division // (7 // 2 == 3); / always gives a float (7 / 2 == 3.5).")
    if isinstance(number, (bool, np.bool_)) or not isinstance(number, (int, np.integer)):
        raise CheckFailed(f"{what} is {value!r} ({type(value).__name__}), expected an int",
                          return_hint(value, hint or "return a whole number (an int)."))
    return int(number)


# ---------------------------------------------------------------- naming the mistake

def same_numbers(actual: Any, expected: Any, atol: float = 1e-4) -> bool:
    """True when ``actual`` is array-like with ``expected``'s shape and values (never raises)."""
    try:
        got = np.asarray(actual.detach().cpu() if isinstance(actual, torch.Tensor) else actual, dtype=np.float64)
        want = np.asarray(expected.detach().cpu() if isinstance(expected, torch.Tensor) else expected, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return got.shape == want.shape and bool(np.allclose(got, want, atol=atol, rtol=1e-4))


def name_the_mistake(actual: Any, wrong_answers: Iterable[tuple[Any, str]], atol: float = 1e-4) -> str | None:
    """The hint of the first classic wrong answer that reproduces the student's numbers, or None.

    ``wrong_answers`` holds ``(value or function of no arguments that computes it, hint)`` pairs, e.g.
    ``[(lambda: conv(image, kernel[::-1, ::-1]), "you flipped the kernel ..."), ...]``; a function that
    cannot compute its value for this case (it raises) is skipped. Call it only when the answer is wrong.
    """
    for make, hint in wrong_answers:
        try:
            wrong = make() if callable(make) else make
        except Exception:  # a wrong answer that makes no sense for this case
            continue
        if same_numbers(actual, wrong, atol):
            return hint
    return None


def expect_independent_draws(draws: Any, what: str = "the random draws", hint: str | None = None) -> None:
    """Fail when one random draw was reused along a whole axis (one coin for the tensor, a row or a column).

    ``draws`` is what the randomness decided per element (e.g. a dropout mask, ``out == 0``). Feed an input big
    enough that independent draws cannot repeat along an axis by chance (say 20 or more per axis, p >= 0.1).
    """
    values = _as_tensor(draws, what)
    shared = [d for d in range(values.dim()) if values.shape[d] > 1 and bool((values == values.narrow(d, 0, 1)).all())]
    if not shared:
        return
    size = shape_text(values.shape)
    if len(shared) == values.dim():
        message = f"{what} are the same for every element of a {size} input: one random draw was used for the whole tensor"
    else:
        dims = ", ".join(str(d) for d in shared)
        count = int(np.prod([values.shape[d] for d in shared]))
        message = (f"{what} never change along dim {dims} of a {size} input: one random draw was reused "
                   f"for {count} elements at a time")
    raise CheckFailed(message, hint or "draw one random number per element, e.g. torch.rand_like(x), not torch.rand(1).")


def expect_evaluation_mode(calls: Sequence[Mapping[str, Any]]) -> None:
    """Fail unless a spy model was called, never in training mode and never while autograd was recording.

    ``calls`` holds one dict per forward pass, ``{"training": self.training, "grad": torch.is_grad_enabled()}``,
    as a spy model's ``forward`` records them.
    """
    expect_true(bool(calls), "the model was never called", "run the model on the images.")
    expect_true(not any(c["training"] for c in calls), "the model ran in training mode",
                "call model.eval() first: dropout and batch norm must behave as at test time.")
    expect_true(not any(c["grad"] for c in calls), "autograd was recording the evaluation",
                "wrap the evaluation in `with torch.inference_mode():` (no graph is built: faster and less memory).")


def leaf_layers(module: torch.nn.Module) -> list[torch.nn.Module]:
    """The layers of a (possibly nested) module in order, without the containers."""
    return [m for m in module.modules() if not list(m.children())]
