"""The languages clausetag knows: one definition for the CLI, the API, ``data validate`` and ``evaluate``.

A language code outside ``LANGUAGES`` is refused everywhere with the same
words: ``--lang`` on the command line, ``tag_document(lang=...)`` in the API,
a corpus unit's ``lang`` (``data validate``, and ``evaluate``/``train``, which
validate the data they load).
"""

from __future__ import annotations

from typing import Any

from clausetag.errors import ClausetagError

#: English and Latvian: the segmenter's abbreviation rules, the report's wording, the corpus.
LANGUAGES: tuple[str, ...] = ("en", "lv")


def lang_problem(value: Any, optional: bool = False) -> str | None:
    """Why ``value`` is not a known language code (None: it is one, or it is None and ``optional``)."""
    if (isinstance(value, str) and value in LANGUAGES) or (value is None and optional):
        return None
    shown = repr(value) if isinstance(value, str) else type(value).__name__
    return f"lang must be one of {', '.join(LANGUAGES)}{' or None' * optional}, not {shown}"


def check_lang(value: Any, optional: bool = True) -> str | None:
    """A known language code (or None where ``optional``); anything else one ``ClausetagError``."""
    problem = lang_problem(value, optional)
    if problem:
        raise ClausetagError(problem)
    return None if value is None else str(value)
