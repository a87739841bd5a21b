"""The shared tests of the check modules: ``lab_tests`` builds the tests every lab's check module runs on its own
tables; ``fails_with`` runs a check on a wrong answer and asserts the hint it gives; ``no_return`` is the classic
"forgot the return statement" wrong answer.

A lab's test module (``test_labNN_*.py``) holds its tables, then takes the shared tests::

    from lab_test_kit import lab_tests, no_return as _no_return   # pytest puts tests/checks on sys.path

    CLASSIC_BUGS = {"check_x": {"bug": "hint fragment", ...}, ...}   # check -> {classic bug: words its hint holds}
    RIGHT_ANSWERS = {"check_x": [answer, ...], ...}                 # answers that must pass
    WRONG_ANSWERS = {("check_x", "bug"): wrong answer, ...}         # one per listed bug

    globals().update(lab_tests(lab, CLASSIC_BUGS, RIGHT_ANSWERS, WRONG_ANSWERS))

so its test ids stay ``test_labNN_x.py::test_right_answers_pass[...]`` and so on.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from types import ModuleType
from typing import Any

import pytest
from torch import nn

from helpers.checks import CheckFailed


def _fails_with(check: Callable[..., Any], *args: Any, words: str | Sequence[str]) -> CheckFailed:
    """Run ``check(*args)``: it must raise ``CheckFailed`` whose text (message and hint) holds every word."""
    with pytest.raises(CheckFailed) as info:
        check(*args)
    text = str(info.value)
    for word in [words] if isinstance(words, str) else words:
        assert word in text, f"expected {word!r} in the check's message:\n{text}"
    return info.value


def no_return(*args: Any, **kwargs: Any) -> None:
    """A wrong answer for any exercise: computes nothing useful and forgets to return it."""
    return None


def lab_tests(lab: ModuleType, classic_bugs: Mapping[str, Mapping[str, str | Sequence[str]]],
              right_answers: Mapping[str, Sequence[Any]], wrong_answers: Mapping[tuple[str, str], Any], *,
              spread_args: bool = False, pass_line_names_the_check: bool = False,
              placeholder_checks: Sequence[str] | None = None, class_checks: Collection[str] = (),
              placeholder_counts: Mapping[str, int] | None = None) -> dict[str, Callable[..., None]]:
    """The tests every lab's checks get, by name, for the module's ``globals().update(...)``.

    - ``test_every_check_has_its_classic_bugs_listed``: every check of ``lab.__all__`` has right answers and at least
      five classic bugs;
    - ``test_every_listed_bug_has_a_wrong_answer``: ``wrong_answers`` holds exactly the listed bugs;
    - ``test_right_answers_pass``: each right answer prints a pass line (``✅ name: all `` with
      ``pass_line_names_the_check``, where the pass line names the student's function after its check);
    - ``test_classic_bug_fails_with_its_hint``: each wrong answer fails with the listed words;
    - ``test_the_lab_placeholder_is_reported_as_not_written``: the generated lab's ``raise NotImplementedError``
      (in ``__init__`` for the ``class_checks``) is reported as not written yet, for ``placeholder_checks`` (default:
      every check); ``placeholder_counts`` says which checks take several of the student's functions.

    ``spread_args``: a check takes several arguments, so a right answer is a tuple of them, and so is a wrong answer
    where it is a tuple.
    """

    def test_every_check_has_its_classic_bugs_listed() -> None:
        assert set(classic_bugs) == set(lab.__all__) == set(right_answers)
        assert all(len(bugs) >= 5 for bugs in classic_bugs.values())

    def test_every_listed_bug_has_a_wrong_answer() -> None:
        listed = {(check, bug) for check, bugs in classic_bugs.items() for bug in bugs}
        assert listed == set(wrong_answers)

    @pytest.mark.parametrize("check_name, answer", [(name, fn) for name, answers in right_answers.items() for fn in answers])
    def test_right_answers_pass(check_name: str, answer: Any, capsys: pytest.CaptureFixture[str]) -> None:
        getattr(lab, check_name)(*(answer if spread_args else (answer,)))
        pass_line = f"✅ {check_name.removeprefix('check_')}: all " if pass_line_names_the_check else "✅ "
        assert capsys.readouterr().out.startswith(pass_line)

    @pytest.mark.parametrize("check_name, bug", [(name, bug) for name, bugs in classic_bugs.items() for bug in bugs])
    def test_classic_bug_fails_with_its_hint(check_name: str, bug: str, fails_with: Callable[..., CheckFailed]) -> None:
        wrong = wrong_answers[check_name, bug]
        args = wrong if spread_args and isinstance(wrong, tuple) else (wrong,)
        fails_with(getattr(lab, check_name), *args, words=classic_bugs[check_name][bug])

    @pytest.mark.parametrize("check_name", lab.__all__ if placeholder_checks is None else placeholder_checks)
    def test_the_lab_placeholder_is_reported_as_not_written(check_name: str, fails_with: Callable[..., CheckFailed]) -> None:
        def placeholder(*args: Any, **kwargs: Any) -> None:
            raise NotImplementedError("Write your code here, then run the check cell below.")

        class Placeholder(nn.Module):  # what the generated lab's classes do: __init__ raises
            def __init__(self, *args: Any) -> None:
                super().__init__()
                placeholder()

        student = Placeholder if check_name in class_checks else placeholder
        students = [student] * (placeholder_counts or {}).get(check_name, 1)
        fails_with(getattr(lab, check_name), *students, words=["not written this yet", "NotImplementedError"])

    return {test.__name__: test for test in (
        test_every_check_has_its_classic_bugs_listed, test_every_listed_bug_has_a_wrong_answer, test_right_answers_pass,
        test_classic_bug_fails_with_its_hint, test_the_lab_placeholder_is_reported_as_not_written)}
