"""Self-checking cells for the labs: a pass line, or a hint that names the likely mistake.

A graded cell imports its own check and calls it with the student's function::

    from helpers.checks import check_conv2d
    check_conv2d(conv2d)

Layout: ``core`` is the framework (running cases, ``expect_*`` comparisons, naming the mistake) and each lab has
one module, ``labNN_topic``, named after its solution notebook. This package re-exports every check, so a
notebook needs one import line whatever module a check lives in.

How to write the checks for a new lab (say lab 03, ``solutions/03_cnn_lab.ipynb``):

1. Create ``helpers/checks/lab03_cnn.py``. Import what you need from ``helpers.checks.core`` at the top
   (``from helpers.checks.core import CheckFailed, call_student, expect_close, run_cases, ...``), never from
   the notebook's globals, and list your checks in ``__all__``.
2. Write one ``check_<name>`` per exercise, named after the student's function (``check_train_step`` checks
   ``train_step``); ``run_cases("<name>", {...})`` prints ``✅ <name>: all N cases passed``. A case calls the
   student through ``call_student``, turns the result into what the exercise asks for (``expect_array(...,
   floats=True)``, ``expect_tensor``, ``expect_module``, ``expect_float``, ``expect_int``; each says "did you
   forget the return statement?" for ``None``), then compares: ``expect_shape``, ``expect_close``, ...
3. When the numbers are wrong, name the mistake: list the classic wrong answers with their hints and let
   ``name_the_mistake(got, [(wrong_value_or_function, hint), ...])`` pick the one that reproduces the
   student's numbers (see ``lab02_convolution``). Randomness: ``expect_independent_draws`` catches one random
   draw reused for a whole row or tensor. Feed cases that make the classic bugs show: a uint8 input where
   floats are asked, stride > 1, a non-square input, the last batch shorter than the others.
4. Re-export it below, one line in each of the three places the labs already here appear:
   ``from helpers.checks import lab03_cnn``, ``from helpers.checks.lab03_cnn import *`` and
   ``*lab03_cnn.__all__`` in ``__all__``.
5. Test it in ``tests/checks/test_lab03_cnn.py`` (copy ``test_lab05_vgg.py``): at the top, ``CLASSIC_BUGS``
   lists every check's classic bugs with the hint fragment each must produce; below, one wrong answer per
   listed bug and the right answer from the solution. The shared tests feed them all in (``fails_with``).
"""

from __future__ import annotations

import warnings
from typing import Any

from helpers.checks import core
from helpers.checks import lab01_images
from helpers.checks import lab02_convolution
from helpers.checks import lab03_cnn
from helpers.checks import lab04_regularization
from helpers.checks import lab05_vgg
from helpers.checks import lab06_augmentation
from helpers.checks import lab07_transfer
from helpers.checks import lab08_evaluation
from helpers.checks.core import *  # noqa: F403  (the framework, for quick experiments in a notebook)
from helpers.checks.lab01_images import *  # noqa: F403
from helpers.checks.lab02_convolution import *  # noqa: F403
from helpers.checks.lab03_cnn import *  # noqa: F403
from helpers.checks.lab04_regularization import *  # noqa: F403
from helpers.checks.lab05_vgg import *  # noqa: F403
from helpers.checks.lab06_augmentation import *  # noqa: F403
from helpers.checks.lab07_transfer import *  # noqa: F403
from helpers.checks.lab08_evaluation import *  # noqa: F403

__all__ = [
    *core.__all__,
    *lab01_images.__all__,
    *lab02_convolution.__all__,
    *lab03_cnn.__all__,
    *lab04_regularization.__all__,
    *lab05_vgg.__all__,
    *lab06_augmentation.__all__,
    *lab07_transfer.__all__,
    *lab08_evaluation.__all__,
]

# Names used by labs handed out before the checks were named after the student's functions. A graded cell is
# run as the solution has it, so grading never needs these; they keep an old copy's import cell working.
_RENAMED = {
    "check_vgg_features": "check_make_features",
    "check_dropout": "check_my_dropout",
    "check_vgg_model": "check_build_vgg",
    "check_evaluate": "check_evaluate_accuracy",
}


def __getattr__(name: str) -> Any:
    if name in _RENAMED:
        new = _RENAMED[name]
        warnings.warn(f"helpers.checks.{name} is now {new}; use the lab from the current course.", FutureWarning, stacklevel=2)
        return globals()[new]
    raise AttributeError(f"module 'helpers.checks' has no attribute {name!r}")
