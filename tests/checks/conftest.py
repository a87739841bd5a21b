"""Shared by the check tests: ``fails_with`` runs a check on a wrong answer and asserts the hint it gives."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from helpers.checks import CheckFailed


def _fails_with(check: Callable[..., Any], *args: Any, words: str | Sequence[str]) -> CheckFailed:
    """Run ``check(*args)``: it must raise ``CheckFailed`` whose text (message and hint) holds every word."""
    with pytest.raises(CheckFailed) as info:
        check(*args)
    text = str(info.value)
    for word in [words] if isinstance(words, str) else words:
        assert word in text, f"expected {word!r} in the check's message:\n{text}"
    return info.value


@pytest.fixture
def fails_with() -> Callable[..., CheckFailed]:
    """``fails_with(check, *args, words="hint fragment")`` (or a list of fragments); returns the CheckFailed."""
    return _fails_with
