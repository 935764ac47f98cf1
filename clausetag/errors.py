"""The one exception type that the command line turns into a clean message, and the
argument checks of the public API that raise it."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from numbers import Integral, Real
from typing import Any


class ClausetagError(Exception):
    """A problem with the user's input or set-up, worded for the user.

    The CLI prints it as ``clausetag: error: <message>`` and exits with status 2,
    so anything raised as this must already say what went wrong and what to do.
    """


def check_texts(texts: Any, is_blank: Callable[[str], bool] | None = None) -> list[str]:
    """Any iterable of strings (a list, a tuple, a generator) as a list; anything else refused.

    ``is_blank``: a predicate; texts it accepts are refused too (an empty text
    has no clause to tag, and the model would still score it confidently).
    """
    if isinstance(texts, str | bytes):
        raise ClausetagError("predict expects a list of texts, not a single string")
    if not isinstance(texts, Iterable):
        raise ClausetagError(f"predict expects a list of texts, not {type(texts).__name__}")
    items = list(texts)
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise ClausetagError(f"texts must be strings (item {i} is {type(t).__name__})")
        if is_blank is not None and is_blank(t):
            raise ClausetagError(f"text {i} is empty (or only blanks and invisible characters)")
    return items


def check_text(text: Any) -> str:
    """One document's text: a string."""
    if not isinstance(text, str):
        raise ClausetagError(f"tag_document expects the policy text as a string, not {type(text).__name__}")
    return text


def check_batch_size(batch_size: Any) -> int:
    """A whole number of at least 1."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
        raise ClausetagError(f"batch_size must be a whole number of at least 1, not {batch_size!r}")
    return int(batch_size)


def check_threshold(threshold: Any) -> float | None:
    """None (the model's own thresholds) or a number in [0, 1]; NaN, booleans and strings refused."""
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, Real) or math.isnan(float(threshold)):
        raise ClausetagError(f"threshold must be a number in [0, 1] or None, not {threshold!r}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ClausetagError(f"threshold must be in [0, 1], not {threshold!r}")
    return float(threshold)
