"""The ``fails_with`` fixture of the check tests; the shared tests themselves are in ``lab_test_kit.py``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from helpers.checks import CheckFailed
from lab_test_kit import _fails_with


@pytest.fixture
def fails_with() -> Callable[..., CheckFailed]:
    """``fails_with(check, *args, words="hint fragment")`` (or a list of fragments); returns the CheckFailed."""
    return _fails_with
