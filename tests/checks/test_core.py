"""helpers/checks/core.py, the check framework, and the package that re-exports every lab's checks."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import warnings

import nbformat
import numpy as np
import pytest
import torch
from torch import nn

import helpers.checks
from helpers.checks import core
from helpers.checks.core import (FLOAT_ARRAY_HINT, CheckFailed, call_on_copies, call_student, construct_student,
                                 expect_array, expect_close, expect_dtype, expect_equal, expect_evaluation_mode,
                                 expect_float, expect_floats, expect_independent_draws, expect_indices, expect_int,
                                 expect_logits, expect_module, expect_results, expect_shape, expect_tensor, expect_true,
                                 hint_for_crash, leaf_layers, name_the_mistake, return_hint, run_cases, same_numbers,
                                 seed_all, shape_text)
from helpers.labs import REPO_ROOT, graded_cells, python_source


# ---------------------------------------------------------------- running checks
def test_check_failed_is_an_assertion_error_with_hint():
    err = CheckFailed("output is wrong", hint="flip the kernel")
    assert isinstance(err, AssertionError)
    assert err.message == "output is wrong" and err.hint == "flip the kernel"
    assert str(err) == "output is wrong\nHint: flip the kernel"
    assert str(CheckFailed("plain")) == "plain"


def test_run_cases_prints_the_pass_line(capsys):
    run_cases("double", {"three": lambda: expect_equal(2 * 3, 6), "zero": lambda: expect_equal(2 * 0, 0)})
    assert capsys.readouterr().out == "✅ double: all 2 cases passed\n"


def test_run_cases_reports_the_first_failure_with_check_and_case_names(capsys):
    ran = []

    def case(label, ok):
        ran.append(label)
        expect_true(ok, f"{label} went wrong", hint="look again")

    with pytest.raises(CheckFailed) as info:
        run_cases("conv2d", [("first", lambda: case("first", True)), ("second", lambda: case("second", False)),
                             ("third", lambda: case("third", False))])
    assert ran == ["first", "second"]  # stops at the first failure
    assert info.value.message == "❌ conv2d (second): second went wrong"
    assert info.value.hint == "look again"
    assert "✅" not in capsys.readouterr().out


def test_run_cases_needs_cases():
    with pytest.raises(ValueError, match="no cases"):
        run_cases("empty", {})


def test_call_student_turns_the_placeholder_into_a_friendly_hint():
    def conv2d(x):
        raise NotImplementedError("Write your code here")

    with pytest.raises(CheckFailed) as info:
        call_student(conv2d, 1)
    assert "conv2d" in info.value.message and "you have not written this yet" in info.value.message
    assert "NotImplementedError" in info.value.hint
    assert isinstance(info.value.__cause__, NotImplementedError)  # the traceback stays available


def test_call_student_reports_other_crashes_and_passes_results_through():
    def broken(x, scale=1):
        return [1, 2][x * scale]

    assert call_student(broken, 0, scale=5) == 1
    with pytest.raises(CheckFailed, match="broken crashed with IndexError"):
        call_student(broken, 1, scale=5)
    with pytest.raises(CheckFailed, match="expected a function"):
        call_student(broken(0), 1)


def test_crash_inside_run_cases_keeps_the_original_exception_chained():
    def bad(x):
        raise ZeroDivisionError("boom")

    with pytest.raises(CheckFailed) as info:
        run_cases("ratio", {"one": lambda: call_student(bad, 1)})
    assert info.value.message.startswith("❌ ratio (one): bad crashed with ZeroDivisionError: boom")
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_return_hint_names_the_missing_return_only_for_none():
    assert return_hint(None, "return a tensor.") == "did you forget the return statement?"
    assert return_hint(3, "return a tensor.") == "return a tensor."


# ---------------------------------------------------------------- comparing values
def test_expect_shape_names_both_sizes():
    expect_shape(torch.zeros(1, 3, 32, 32), (1, 3, 32, 32))
    expect_shape(np.zeros((2, 5)), [2, 5])
    with pytest.raises(CheckFailed) as info:
        expect_shape(torch.zeros(30, 30), (32, 32), "your output", hint="with padding 1 and a 3x3 kernel it should stay 32x32")
    assert info.value.message == "your output has shape 30x30, expected 32x32"
    assert "padding 1" in info.value.hint
    with pytest.raises(CheckFailed, match="should be a tensor or array, but it is a list"):
        expect_shape([1, 2], (2,))
    with pytest.raises(CheckFailed, match="a scalar"):
        expect_shape(torch.tensor(1.0), (1,))
    assert shape_text((3, 4)) == "3x4" and shape_text(()) == "a scalar (no dimensions)"


def test_expect_close_accepts_within_tolerance_and_points_at_the_worst_element():
    expect_close(torch.tensor([1.0, 2.0]), np.array([1.0, 2.0 + 1e-7]))
    expect_close(torch.ones(2, 2, dtype=torch.float16), torch.ones(2, 2, dtype=torch.float64))
    wrong = torch.zeros(2, 3)
    wrong[1, 2] = 0.5
    with pytest.raises(CheckFailed) as info:
        expect_close(wrong, torch.zeros(2, 3), "feature map", atol=1e-3)
    message = info.value.message
    assert message.startswith("feature map is off by up to 0.5 at index [1, 2]") and "got 0.5, expected 0" in message
    with pytest.raises(CheckFailed, match="has shape 3, expected 4"):  # shape before values, no broadcasting surprise
        expect_close(torch.zeros(3), torch.zeros(4))
    with pytest.raises(CheckFailed, match="off by up to inf"):
        expect_close(torch.tensor([float("nan")]), torch.tensor([1.0]))
    with pytest.raises(CheckFailed, match="should be a tensor or array"):
        expect_close(object(), torch.zeros(1))


def test_expect_dtype_and_equal():
    expect_dtype(torch.zeros(1), torch.float32)
    expect_dtype(np.zeros(1, dtype=np.uint8), np.uint8)
    with pytest.raises(CheckFailed, match="logits has dtype torch.float64, expected torch.float32"):
        expect_dtype(torch.zeros(1, dtype=torch.float64), torch.float32, "logits")
    with pytest.raises(CheckFailed, match="should be a tensor"):
        expect_dtype(3, torch.float32)
    with pytest.raises(CheckFailed, match=r"size is \(30, 30\), expected \(32, 32\)"):
        expect_equal((30, 30), (32, 32), "size")


# ---------------------------------------------------------------- the result as the type the exercise asks for
def test_expect_array_accepts_arrays_tensors_and_grids_and_returns_a_copy():
    original = np.arange(4.0)
    got = expect_array(original, "result")
    got[0] = 99
    assert original[0] == 0  # a copy: the check may not change the student's array
    assert expect_array(torch.ones(2, 2), "result").shape == (2, 2)
    assert expect_array([[1, 2], [3, 4]], "result", floats=True).dtype == np.float64
    with pytest.raises(CheckFailed, match="not a rectangular grid"):
        expect_array([[1, 2], [3]], "result")
    with pytest.raises(CheckFailed) as info:
        expect_array(None, "conv2d's output")
    assert info.value.message == "conv2d's output should be a NumPy array, but it is NoneType"
    assert info.value.hint == "did you forget the return statement?"


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.bool_])
def test_expect_array_with_floats_rejects_integer_arrays(dtype):
    """The dtype bug: np.zeros_like(image) on a uint8 image gives an integer output that cuts off decimals."""
    expect_array(np.zeros(3, dtype=np.float32), "output", floats=True)
    with pytest.raises(CheckFailed) as info:
        expect_array(np.zeros(3, dtype=dtype), "output", floats=True)
    assert info.value.message == f"output has dtype {np.dtype(dtype)}, but this exercise asks for floats"
    assert info.value.hint == FLOAT_ARRAY_HINT and "zeros_like" in FLOAT_ARRAY_HINT
    with pytest.raises(CheckFailed, match="torch.int64"):
        expect_floats(torch.zeros(3, dtype=torch.int64), "output")
    expect_floats(torch.zeros(3, dtype=torch.bfloat16), "output")


def test_expect_tensor_and_module_name_a_missing_return():
    x = torch.ones(2)
    assert expect_tensor(x, "dropout(x)") is x
    with pytest.raises(CheckFailed, match="should be a tensor, but it is ndarray") as info:
        expect_tensor(np.ones(2), "dropout(x)", "return a tensor like x.")
    assert info.value.hint == "return a tensor like x."
    with pytest.raises(CheckFailed, match="return statement"):
        expect_tensor(None, "dropout(x)")
    layer = nn.Linear(2, 2)
    assert expect_module(layer, "the model") is layer
    with pytest.raises(CheckFailed, match="should be an nn.Module, but it is list") as info:
        expect_module([layer], "the model")
    assert "nn.Sequential(*layers)" in info.value.hint
    with pytest.raises(CheckFailed, match="return statement"):
        expect_module(None, "the model")


def test_expect_results_unpacks_a_tuple_of_the_right_length_and_names_the_rest():
    images, labels = expect_results((torch.ones(2), torch.zeros(2)), 2, "random_flip", "return images, labels.")
    assert images.sum() == 2 and labels.sum() == 0
    assert expect_results([1, 2, 3], 3, "batch_norm", "return y, mean, var.") == (1, 2, 3)
    with pytest.raises(CheckFailed) as info:
        expect_results(torch.ones(2), 2, "random_flip", "return images, labels.")
    assert info.value.message == "random_flip returned a Tensor, expected two results"
    assert info.value.hint == "return images, labels."
    with pytest.raises(CheckFailed, match="a tuple of 4 things, expected two results"):
        expect_results((1, 2, 3, 4), 2, "mixup", "return two.")
    with pytest.raises(CheckFailed, match="return statement"):
        expect_results(None, 2, "mixup", "return two.")


def test_hint_for_crash_rehints_only_the_named_crash():
    def crash(error):
        raise error

    with pytest.raises(CheckFailed) as info, hint_for_crash(AttributeError, ("fc", "classifier"), "handle both."):
        call_student(crash, AttributeError("'ResNet' object has no attribute 'classifier'"))
    assert info.value.message.startswith("crash crashed with AttributeError") and info.value.hint == "handle both."
    assert isinstance(info.value.__cause__, AttributeError)
    with pytest.raises(CheckFailed) as info, hint_for_crash(AttributeError, "fc", "x", message="it broke: {cause}"):
        call_student(crash, AttributeError("no fc"))
    assert info.value.message == "it broke: no fc"
    for error in (AttributeError("other"), KeyError("fc")):  # other text, other type: the usual hint
        with pytest.raises(CheckFailed, match="read the traceback"), hint_for_crash(AttributeError, "fc", "x"):
            call_student(crash, error)
    with hint_for_crash(AttributeError, "fc", "x"):
        assert call_student(len, [1, 2]) == 2


def test_construct_student_names_an_instance_and_a_missing_super_init():
    class Early(nn.Module):
        def __init__(self, n):
            self.layer = nn.Linear(n, n)  # before super().__init__()
            super().__init__()

    assert isinstance(construct_student(nn.Linear, 2, 3, what="nn.Linear(2, 3)"), nn.Linear)
    with pytest.raises(CheckFailed, match="pass the class itself"):
        construct_student(nn.Linear(2, 3), 2, 3, what="nn.Linear(2, 3)")
    with pytest.raises(CheckFailed, match="check\\(Block\\)"):
        construct_student(nn.Linear(2, 3), what="Block()", hint="check(Block), not check(Block()).")
    with pytest.raises(CheckFailed) as info:
        construct_student(Early, 4, what="Early(4)")
    assert info.value.message.startswith("Early(4) crashed: ") and "super().__init__()" in info.value.hint


def test_expect_indices_accepts_int_sequences_and_names_the_rest():
    assert expect_indices([3, 1], "idx").tolist() == [3, 1] and expect_indices(torch.tensor([2]), "idx").tolist() == [2]
    assert expect_indices([], "idx").size == 0
    for value, fragment in (([0.5, 1.5], "dtype float64"), ([[1, 2]], "shape 1x2"), (None, "return statement"),
                            ([[1], [2, 3]], "not a list of indices")):
        with pytest.raises(CheckFailed, match=re.escape(fragment)):
            expect_indices(value, "idx")


def test_expect_logits_rejects_rows_of_probabilities_only():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]])
    expect_logits(logits)
    expect_logits(torch.tensor([[0.2, 0.3, 0.4]]))  # positive, but the row sums to 0.9
    with pytest.raises(CheckFailed) as info:
        expect_logits(logits.softmax(dim=1), "the model's outputs")
    assert info.value.message == "the model's outputs are probabilities (each row sums to 1)"
    assert "logits" in info.value.hint


def test_call_on_copies_catches_a_function_that_writes_into_its_input():
    x, a = torch.arange(4.0), np.arange(3.0)
    assert call_on_copies(lambda t, arr, k: (t * k, arr * k), x, a, 2)[0].tolist() == [0, 2, 4, 6]

    def clamp_in_place(t):
        return t.clamp_(max=1)

    with pytest.raises(CheckFailed) as info:
        call_on_copies(clamp_in_place, x, hint="use t.clamp(max=1).")
    assert info.value.message == "clamp_in_place changed its input in place" and info.value.hint == "use t.clamp(max=1)."
    assert x.tolist() == [0, 1, 2, 3]  # the caller's tensor is untouched either way
    with pytest.raises(CheckFailed, match="changed its input in place") as info:
        call_on_copies(lambda arr: arr.fill(0), a)
    assert "new tensor or array" in info.value.hint
    with pytest.raises(CheckFailed, match="NotImplementedError"):
        call_on_copies(lambda t: (_ for _ in ()).throw(NotImplementedError), x)


def test_expect_evaluation_mode_reads_a_spy_models_calls():
    expect_evaluation_mode([{"training": False, "grad": False}] * 2)
    for calls, fragment in (([], "never called"), ([{"training": True, "grad": False}], "model.eval()"),
                            ([{"training": False, "grad": True}], "inference_mode")):
        with pytest.raises(CheckFailed) as info:
            expect_evaluation_mode(calls)
        assert fragment in str(info.value)


def test_seed_all_seeds_random_numpy_and_torch():
    import random

    seed_all(3)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_all(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_expect_float_and_int_accept_numbers_and_one_element_tensors():
    assert expect_float(1, "accuracy") == 1.0 and isinstance(expect_float(np.float32(0.5), "accuracy"), float)
    assert expect_float(torch.tensor(0.25), "accuracy") == 0.25
    assert expect_int(np.int64(7), "size") == 7 and expect_int(torch.tensor([3]), "size") == 3
    for not_a_number in (True, "0.5", [0.5], torch.ones(2)):
        with pytest.raises(CheckFailed, match="expected a number"):
            expect_float(not_a_number, "accuracy")
    with pytest.raises(CheckFailed, match="return statement"):
        expect_float(None, "accuracy")
    with pytest.raises(CheckFailed) as info:
        expect_int(3.0, "flatten_size(...)")
    assert info.value.message == "flatten_size(...) is the float 3.0; expected a whole number (an int)"
    assert "//" in info.value.hint
    with pytest.raises(CheckFailed, match="the float 3.5"):
        expect_int(torch.tensor(3.5), "size")
    with pytest.raises(CheckFailed, match="return statement"):
        expect_int(None, "size")
    with pytest.raises(CheckFailed, match="expected an int"):
        expect_int(False, "size")


# ---------------------------------------------------------------- naming the mistake
def test_same_numbers_never_raises():
    assert same_numbers([1.0, 2.0], np.array([1.0, 2.00001]))
    assert same_numbers(torch.tensor([1, 2]), np.array([1.0, 2.0]))
    assert not same_numbers(np.zeros((2, 2)), np.zeros(4))  # shape matters
    assert not same_numbers("text", np.zeros(1)) and not same_numbers(None, 3)


def test_name_the_mistake_picks_the_first_wrong_answer_that_reproduces_the_numbers():
    image = np.arange(9.0).reshape(3, 3)

    def broken():
        raise ValueError("makes no sense for this case")

    wrong_answers = [(broken, "never"), (image.T, "transposed"), (lambda: image[::-1], "flipped"), (image[::-1].copy(), "second")]
    assert name_the_mistake(image[::-1], wrong_answers) == "flipped"  # functions run lazily, crashes are skipped
    assert name_the_mistake(image.T + 1e-6, wrong_answers) == "transposed"  # within the tolerance
    assert name_the_mistake(image * 2, wrong_answers) is None
    assert name_the_mistake(30, [(31, "one more"), (30, "P instead of 2P")]) == "P instead of 2P"


@pytest.mark.parametrize("shared_shape, words", [
    ((1, 1), "one random draw was used for the whole tensor"),
    ((40, 1), "never change along dim 1 of a 40x50 input: one random draw was reused for 50 elements"),
    ((1, 50), "never change along dim 0 of a 40x50 input"),
])
def test_expect_independent_draws_catches_one_draw_reused_along_an_axis(shared_shape, words):
    generator = torch.Generator().manual_seed(0)
    expect_independent_draws(torch.rand(40, 50, generator=generator) < 0.2, "the mask")  # one draw per element
    reused = (torch.rand(shared_shape, generator=generator) < 0.5).expand(40, 50)
    with pytest.raises(CheckFailed) as info:
        expect_independent_draws(reused, "the mask", hint="use torch.rand_like(x)")
    assert words in info.value.message and info.value.hint == "use torch.rand_like(x)"


def test_expect_independent_draws_on_feature_maps_names_the_shared_dims():
    per_channel = (torch.rand(6, 4, 1, 1, generator=torch.Generator().manual_seed(1)) < 0.5).expand(6, 4, 9, 9)
    with pytest.raises(CheckFailed, match="along dim 2, 3 of a 6x4x9x9 input: one random draw was reused for 81 elements") as info:
        expect_independent_draws(per_channel)
    assert "torch.rand_like" in info.value.hint


def test_leaf_layers_unnests_containers():
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), nn.Flatten(), nn.Linear(2, 2))
    assert [type(m) for m in leaf_layers(model)] == [nn.Conv2d, nn.ReLU, nn.Flatten, nn.Linear]


# ---------------------------------------------------------------- the package: one import line for the notebooks
def _lab_modules():
    return [importlib.import_module(f"helpers.checks.{m.name}") for m in pkgutil.iter_modules(helpers.checks.__path__)
            if m.name.startswith("lab")]


def test_every_lab_module_is_re_exported_and_names_its_checks_after_the_students_functions():
    modules = _lab_modules()
    assert {m.__name__.rsplit(".", 1)[1] for m in modules} >= {"lab02_convolution", "lab05_vgg"}
    for module in modules:
        assert module.__all__ and all(name.startswith("check_") for name in module.__all__)
        for name in module.__all__:
            assert getattr(helpers.checks, name) is getattr(module, name)
            assert name in helpers.checks.__all__
    assert set(core.__all__) <= set(helpers.checks.__all__)


def test_old_check_names_still_import_with_a_warning():
    with pytest.warns(FutureWarning, match="check_evaluate is now check_evaluate_accuracy"):
        from helpers.checks import check_evaluate
    assert check_evaluate is helpers.checks.check_evaluate_accuracy
    with pytest.raises(AttributeError):
        helpers.checks.check_nothing_like_this  # noqa: B018


def _called_checks(source: str) -> list[tuple[str, list[str]]]:
    """(check name, argument names) for every check_* call in a cell."""
    calls = []
    for node in ast.walk(ast.parse(python_source(source))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("check_"):
            calls.append((node.func.id, [arg.id for arg in node.args if isinstance(arg, ast.Name)]))
    return calls


def _imported_checks(source: str) -> set[str]:
    return {alias.name for node in ast.walk(ast.parse(python_source(source))) if isinstance(node, ast.ImportFrom)
            and node.module == "helpers.checks" for alias in node.names}


SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("[0-9][0-9]_*_lab.ipynb"))


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_graded_cells_import_their_own_check_named_after_the_students_function(path):
    """A student who rebinds a check's name elsewhere in the notebook cannot change what a graded cell runs."""
    nb = nbformat.read(path, as_version=4)
    graded = graded_cells(nb, path.name)
    assert graded
    for item, cell in graded.items():
        calls = _called_checks(cell.source)
        assert calls, f"graded cell {item!r} calls no check"
        assert _imported_checks(cell.source) == {name for name, _ in calls}, f"graded cell {item!r} must import its checks"
        for name, args in calls:
            assert name in helpers.checks.__all__
            if len(args) == 1:  # check_conv2d(conv2d), check_conv_block(ConvBlock): named after what it checks
                snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", args[0]).lower()
                assert name == f"check_{snake}", f"{name} checks {args[0]}"
    others = [cell.source for cell in nb.cells if cell.cell_type == "code" and cell not in graded.values()]
    assert not any(_imported_checks(source) for source in others), "only graded cells import checks"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no old, renamed check names
        for cell in graded.values():
            for name in _imported_checks(cell.source):
                getattr(helpers.checks, name)
