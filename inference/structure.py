"""A policy's structure: for every unit its position, kind and section path.

Real privacy policies are written in sections: a list fragment ("phone number;"),
a lead-in ("We collect the following data:") or a contact line ("Reg. No.: …")
means what the heading above it says. This module is the one place that works
that out, for every way a unit reaches the model:

- policy files: the segmenter marks what the markup said (``#`` headings with
  their level, ``-`` list items, table rows as ``a | b`` lines) and
  ``places`` reads the rest from the text;
- JSONL units and the training corpus: the units of one document, in order,
  with optional ``kind`` and ``heading`` fields that win over what is derived.

Kinds: ``heading``, ``lead-in`` (ends with ":"), ``list-item``, ``table-row``,
``sentence``. The section path is the chain of headings above a unit, nearest
last; while a list, a table or a value follows a lead-in (or a table's first
row), that lead-in closes the path, so the list's items read it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

KINDS = ("heading", "lead-in", "list-item", "table-row", "sentence")
HEADING, LEAD_IN, LIST_ITEM, TABLE_ROW, SENTENCE = KINDS

#: Longest text (words / characters) read as a heading when nothing marks it as one.
HEADING_MAX_WORDS = 12
HEADING_MAX_CHARS = 100

# "7.", "7.1.", "7.1", "II.", "A." before a heading's words.
_NUMBER = re.compile(r"^(?:(?P<arabic>\d{1,2}(?:\.\d{1,2})*)\.?|(?P<roman>[IVXLC]{1,6})\.|[A-Z]\.)\s+(?=\S)")
# Enumerators of list items: "a)", "(a)", "1)", "(iv)", "i." is too ambiguous and left out.
_ENUMERATOR = re.compile(r"^(?:\(?[a-zA-Z]\)|\(?\d{1,2}\)|\(?[ivx]{1,5}\))\s")
# A field line of a contact block: "E-mail: …", "Reg. No.: …", "Tālrunis: …".
_FIELD = re.compile(r"^[^\s:][^:]{0,28}:\s+\S")
_FINAL = (".", "!", ";", ",", ":")
_CONTINUES = re.compile(r"(?:[;,]|\b(?:and|or|un|vai))$", re.IGNORECASE)


@dataclass(frozen=True)
class Context:
    """What surrounds a unit: its section path (nearest heading last) and the unit before it."""

    section: tuple[str, ...] = ()
    previous: str = ""


@dataclass(frozen=True)
class Place:
    """A unit's place in its document."""

    position: int
    kind: str
    section: tuple[str, ...] = field(default=())
    previous: str = ""

    @property
    def context(self) -> Context:
        return Context(self.section, self.previous)


@dataclass(frozen=True)
class UnitIn:
    """A unit as it comes to ``places``: its text and what its source already says about it.

    ``kind``: the markup's or the user's kind (wins over the text's); ``level``: a heading's
    markup level (1 = top); ``heading``: a section path given by the user (wins over derivation).
    """

    text: str
    kind: str | None = None
    level: int | None = None
    heading: tuple[str, ...] | None = None
    gap: bool = False  # a blank line before it (a list does not go on across one)


def _words(text: str) -> int:
    return len(text.split())


def numbering_level(text: str) -> int | None:
    """How deep a numbered unit sits: "7." 1, "7.1." 2, "II." 1; None when not numbered."""
    m = _NUMBER.match(text)
    if m is None:
        return None
    arabic = m.group("arabic")
    return arabic.count(".") + 1 if arabic else 1


def _heading_shaped(text: str) -> bool:
    """Short, one line's worth, not ending like a sentence or a list item (a question may)."""
    if len(text) > HEADING_MAX_CHARS:
        return False
    if text.endswith("?"):  # FAQ-style and numbered question headings
        limit = 25 if numbering_level(text) is not None else HEADING_MAX_WORDS + 3
        return _words(text) <= limit
    rest = _NUMBER.sub("", text, count=1)
    return _words(rest) <= HEADING_MAX_WORDS and not text.endswith(_FINAL) and rest[:1].isupper()


def infer_kind(text: str, previous_kind: str | None, previous_text: str = "", gap: bool = False) -> str:
    """The kind of a unit that nothing marked, from its words and the kind of the unit before."""
    if text.endswith(":") and _words(text) <= 40:
        return LEAD_IN
    if _ENUMERATOR.match(text) or _CONTINUES.search(text):
        return LIST_ITEM
    if " | " in text:
        return TABLE_ROW
    if _FIELD.match(text) and _words(text) <= 12 and not text.endswith((".", "!", "?")):
        return LIST_ITEM
    # A list goes on after a lead-in or an item that did not close it with a full stop.
    in_list = not gap and (
        previous_kind == LEAD_IN or (previous_kind == LIST_ITEM and not previous_text.endswith("."))
    )
    if _heading_shaped(text):
        # After a lead-in, or inside a list, a short unnumbered line is one more item.
        if in_list and numbering_level(text) is None and not text.endswith("?"):
            return LIST_ITEM
        return HEADING
    if text[:1].islower() and _words(text) <= 20 and not text.endswith((".", "!", "?")):
        return LIST_ITEM
    return SENTENCE


class _Sections:
    """The heading stack of one document."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, str, bool]] = []  # (level, text, marked or numbered)

    def path(self) -> tuple[str, ...]:
        return tuple(text for _, text, _ in self.stack)

    def push(self, text: str, level: int | None) -> None:
        if level is None:
            # An unmarked heading: a child of the nearest marked or numbered one, a sibling of
            # an unmarked one.
            marked = [lv for lv, _, m in self.stack if m]
            level = marked[-1] + 1 if marked else 1
            while self.stack and not self.stack[-1][2] and self.stack[-1][0] >= level:
                self.stack.pop()
            self.stack.append((level, text, False))
            return
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, text, True))


def places(units: Iterable[UnitIn]) -> list[Place]:
    """The place of every unit of ONE document, in order."""
    sections = _Sections()
    out: list[Place] = []
    previous_kind: str | None = None
    previous = ""
    lead: str | None = None  # the lead-in (or table header) the following units hang on
    lead_open = False  # the unit right after a lead-in belongs to it, whatever its kind
    for i, u in enumerate(units):
        text = u.text.strip()
        kind = u.kind if u.kind in KINDS else infer_kind(text, previous_kind, previous, u.gap)
        if kind == HEADING:
            lead = None
        elif lead is not None and not lead_open and kind not in (LIST_ITEM, TABLE_ROW):
            lead = None  # the list is over
        path = sections.path()
        if lead is not None:
            path = (*path, lead)
        if u.heading is not None:
            path = u.heading
        out.append(Place(i, kind, path, previous))
        lead_open = False
        if kind == HEADING:
            sections.push(text, u.level if u.level is not None else numbering_level(text))
        elif text.endswith(":"):
            lead, lead_open = text, True
        elif kind == TABLE_ROW and previous_kind != TABLE_ROW:
            lead = text  # a table's first row names its columns
        previous_kind, previous = kind, text
    return out


def record_places(records: Sequence[Mapping[str, Any]]) -> list[Place]:
    """The place of every record (``text``, optional ``kind`` and ``heading``), one document at a time.

    Documents are the records' ``doc`` and ``lang`` (a policy and its translation are two);
    order within a document is the records' order. Raises ValueError on a malformed field.
    """
    groups: dict[tuple[str, str], list[int]] = {}
    for i, rec in enumerate(records):
        groups.setdefault((str(rec.get("doc")), str(rec.get("lang"))), []).append(i)
    out: list[Place | None] = [None] * len(records)
    for idx in groups.values():
        found = places(
            UnitIn(
                records[i]["text"],
                kind_field(records[i].get("kind")),
                None,
                heading_field(records[i].get("heading")),
            )
            for i in idx
        )
        for i, place in zip(idx, found, strict=True):
            out[i] = place
    return [p for p in out if p is not None]


def document_places(texts: Sequence[str], kinds: Sequence[str | None] | None = None) -> list[Place]:
    """``places`` for plain texts (and optional kinds) of one document."""
    kinds = kinds if kinds is not None else [None] * len(texts)
    return places(UnitIn(t, k) for t, k in zip(texts, kinds, strict=True))


def heading_field(value: object) -> tuple[str, ...] | None:
    """A user's ``heading`` field as a section path: a string, or a list of strings (nearest last)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(x, str) for x in value):
        return tuple(value)
    raise ValueError("'heading' must be a string or a list of strings (the section path, nearest last)")


def kind_field(value: object) -> str | None:
    """A user's ``kind`` field, checked; ``list_item`` (the segmenter's old spelling) is accepted."""
    if value is None or value == "":
        return None
    if value == "list_item":
        return LIST_ITEM
    if value not in KINDS:
        raise ValueError(f"'kind' must be one of {', '.join(KINDS)}, not {value!r}")
    return str(value)
