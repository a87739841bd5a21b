"""The check framework at the top of helpers/checks.py: pass lines, first-failure messages, hints."""

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import checks
from helpers.checks import (CheckFailed, call_student, expect_close, expect_dtype, expect_equal, expect_shape,
                            expect_true, run_cases)


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


def test_lesson_sections_are_present_and_in_order():
    text = Path(checks.__file__).read_text(encoding="utf-8")
    conv = text.index("# === checks: convolution (lesson 02 lab) ===")
    training = text.index("# === checks: training and VGG (lesson 05 lab) ===")
    assert text.index("def expect_true") < conv < training
