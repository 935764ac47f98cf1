"""Split an English or Latvian privacy policy into units: sentences, headings, list items.

The rules are the corpus's (data/ANNOTATION_GUIDE.md): one unit per line unless
the line holds several sentences; bullet markers are dropped, numbering is kept;
a line that starts with ``#`` … ``######`` (Markdown, or a heading the HTML reader
marked) is a heading of that level, its marker dropped; a line with " | " between
cells is one table row;
abbreviations, initials, line-leading numbering, dates, decimals, URLs and
e-mail addresses never end a sentence. Offsets index the input string, so a
unit can always be traced back to its place in the policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from clausetag.inference.structure import (
    HEADING,
    LEAD_IN,
    LIST_ITEM,
    SENTENCE,
    TABLE_ROW,
    Place,
    UnitIn,
    places,
)
from clausetag.io import is_blank

BULLETS = "-•*–—·▪○◦●"

# Lower-cased, without the final dot. "e.g" covers "e.g." and "E.g.".
ABBREVIATIONS = {
    "en": {
        "e.g",
        "i.e",
        "etc",
        "no",
        "nr",
        "reg",
        "art",
        "arts",
        "para",
        "p",
        "pp",
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "vs",
        "approx",
        "incl",
        "tel",
        "fax",
        "ltd",
        "inc",
        "co",
        "corp",
        "jr",
        "sr",
        "cf",
        "ch",
        "sec",
        "par",
        "vol",
        "fig",
        "min",
        "max",
        "a.k.a",
        "u.s",
        "e.u",
    },
    "lv": {
        "nr",
        "reģ",
        "art",
        "reg",
        "piem",
        "t.sk",
        "u.c",
        "utt",
        "sk",
        "t.i",
        "t.s",
        "u.tml",
        "tālr",
        "tel",
        "apm",
        "plkst",
        "g",
        "gs",
        "lpp",
        "pants",
        "p",
        "a/s",
        "sia",
        "k-sa",
        "iel",
        "v",
        "pag",
        "nov",
        "pils",
        "tml",
        "vien",
        "vsk",
        "red",
        "att",
        "daļa",
        "punkts",
        "apakšp",
    },
}
ALL_ABBREVIATIONS = ABBREVIATIONS["en"] | ABBREVIATIONS["lv"]
# These may also close a sentence: they end one when a capitalised word follows.
CAN_END_SENTENCE = {"etc", "utt", "u.c", "u.tml", "tml"}

_CLOSERS = "\"'”’»)]"
_OPENERS = "\"'“‘„«(["
# A candidate sentence end: terminal punctuation, closers, whitespace, a sentence start.
_END = re.compile(rf"[.!?…][{re.escape(_CLOSERS)}]*(?=\s+[\dA-ZĀČĒĢĪĶĻŅŠŪŽ{re.escape(_OPENERS)}])")
_NUMBERING = re.compile(r"^(\(?\d+(\.\d+)*\.?\)?|\(?[IVXLCivxlc]+\.?\)?|\(?[a-zA-Z]\)|[a-zA-Z]\.)$")
_DATE_OR_NUMBER = re.compile(r"^\d+([./]\d+)*\.?$")
_NEXT_CHAR = re.compile(r"\s*(\S)")


_HEADING_MARK = re.compile(r"(#{1,6})[ \t]+")


@dataclass(frozen=True)
class Segment:
    text: str
    start: int
    end: int
    kind: str  # one of inference.structure.KINDS
    level: int | None = None  # a marked heading's level (1 = top)


def _token_before(text: str, dot: int) -> str:
    """The whitespace-delimited token that ends at ``dot`` (exclusive), without brackets."""
    i = dot
    while i > 0 and not text[i - 1].isspace():
        i -= 1
    return text[i:dot].lstrip("(\"'“‘„«[")


def _is_boundary(text: str, match: re.Match[str], content_start: int, abbrevs: set[str]) -> bool:
    punct = match.start()
    if text[punct] != ".":
        return True
    token = _token_before(text, punct)
    low = token.lower().rstrip(".")
    if low in CAN_END_SENTENCE:
        following = _NEXT_CHAR.match(text, match.end())  # no copy of the rest: linear
        return following is not None and following.group(1).isalpha() and following.group(1).isupper()
    if low in abbrevs:
        return False
    if len(token) == 1 and token.isalpha():  # initials: "J. Bērziņš", list letters
        return False
    if _DATE_OR_NUMBER.match(token) and punct - len(token) == content_start:
        return False  # "1. PERSONAL DATA", "2.1. The …"
    if _NUMBERING.match(token + ".") and punct - len(token) == content_start:
        return False  # "I. General Provisions", "a. Retention Period"
    # Dates written 27.04.2016. do not end a sentence; a dot after an e-mail
    # address or URL does (their inner dots are never followed by a space).
    return not re.fullmatch(r"\d{1,2}\.\d{1,2}\.\d{2,4}", token)


def _hint(unit: str, bulleted: bool, whole_line: bool, heading_level: int | None, row: bool) -> str | None:
    """What the layout says of a unit's kind (None: let ``inference.structure`` read its text)."""
    if heading_level is not None:
        return HEADING
    if row:
        return TABLE_ROW
    if bulleted:
        return LIST_ITEM
    if not whole_line:  # one of several sentences on a line: not a heading
        return LEAD_IN if unit.endswith(":") else SENTENCE
    return None


def _line_pieces(line: str, content_start: int, abbrevs: set[str]) -> list[tuple[int, int]]:
    """The sentences of one line as (start, end) offsets into it."""
    pieces: list[tuple[int, int]] = []
    start = content_start
    for m in _END.finditer(line, content_start):
        if _is_boundary(line, m, content_start, abbrevs):
            pieces.append((start, m.end()))
            start = m.end()
            while start < len(line) and line[start].isspace():
                start += 1
    pieces.append((start, len(line.rstrip())))
    return pieces


def _raw_segments(text: str, abbrevs: set[str]) -> list[tuple[Segment, str | None, bool]]:
    """Units in order, each with the kind its layout implies (or None) and whether a blank line
    comes before it."""
    units: list[tuple[Segment, str | None, bool]] = []
    offset = 0
    gap = False
    for line in text.split("\n"):
        line_start = offset
        offset += len(line) + 1
        i = 0
        while i < len(line) and line[i].isspace():
            i += 1
        bulleted = False
        level = None
        mark = _HEADING_MARK.match(line, i)
        if mark is not None:
            level = len(mark.group(1))
            i = mark.end()
        elif i < len(line) and line[i] in BULLETS and (i + 1 == len(line) or line[i + 1].isspace()):
            bulleted = True
            i += 1
            while i < len(line) and line[i].isspace():
                i += 1
        if i >= len(line):
            gap = True
            continue
        row = " | " in line
        pieces = [(i, len(line.rstrip()))] if row or level else _line_pieces(line, i, abbrevs)
        whole = len(pieces) == 1
        for a, b in pieces:
            while b > a and line[b - 1].isspace():
                b -= 1
            unit = line[a:b]
            if b <= a or is_blank(unit):  # zero-width characters alone are not a unit
                continue
            seg = Segment(unit, line_start + a, line_start + b, SENTENCE, level)
            units.append((seg, _hint(unit, bulleted, whole, level, row), gap))
            gap = False
    return units


def segment_places(text: str, lang: str | None = None) -> tuple[list[Segment], list[Place]]:
    """Units of ``text`` in order and their places (kind, section path) in the policy."""
    abbrevs = ABBREVIATIONS.get(lang or "", ALL_ABBREVIATIONS)
    raw = _raw_segments(text, abbrevs)
    found = places(UnitIn(seg.text, hint, seg.level, gap=gap) for seg, hint, gap in raw)
    segments = [
        Segment(seg.text, seg.start, seg.end, place.kind, seg.level)
        for (seg, _, _), place in zip(raw, found, strict=True)
    ]
    return segments, found


def unit_place(index: int, unit: Segment, place: Place) -> dict[str, Any]:
    """Where a unit stands, as a policy's unit record gives it: ``index``, its character span
    (``start``, ``end``), ``kind`` and ``section`` path (the spaCy component, the HF pipeline)."""
    return {
        "index": index,
        "start": unit.start,
        "end": unit.end,
        "kind": place.kind,
        "section": list(place.section),
    }


def segment(text: str, lang: str | None = None) -> list[Segment]:
    """Units of ``text`` in order; ``lang`` ("en"/"lv") picks abbreviation lists (both if None)."""
    return segment_places(text, lang)[0]
