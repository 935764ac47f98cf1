"""Split an English or Latvian privacy policy into units: sentences, headings, list items.

The rules are the corpus's (data/ANNOTATION_GUIDE.md): one unit per line unless
the line holds several sentences; bullet markers are dropped, numbering is kept;
abbreviations, initials, line-leading numbering, dates, decimals, URLs and
e-mail addresses never end a sentence. Offsets index the input string, so a
unit can always be traced back to its place in the policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Segment:
    text: str
    start: int
    end: int
    kind: str  # "heading", "list_item" or "sentence"


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


def _kind(unit: str, bulleted: bool, whole_line: bool) -> str:
    if bulleted:
        return "list_item"
    if whole_line and len(unit) <= 100 and not unit.rstrip().endswith((".", "!", "?", ";", ":", ",")):
        return "heading"
    return "sentence"


def segment(text: str, lang: str | None = None) -> list[Segment]:
    """Units of ``text`` in order; ``lang`` ("en"/"lv") picks abbreviation lists (both if None)."""
    abbrevs = ABBREVIATIONS.get(lang or "", ALL_ABBREVIATIONS)
    units: list[Segment] = []
    offset = 0
    for line in text.split("\n"):
        line_start = offset
        offset += len(line) + 1
        i = 0
        while i < len(line) and line[i].isspace():
            i += 1
        bulleted = False
        if i < len(line) and line[i] in BULLETS and (i + 1 == len(line) or line[i + 1].isspace()):
            bulleted = True
            i += 1
            while i < len(line) and line[i].isspace():
                i += 1
        if i >= len(line):
            continue
        content_start = i
        pieces: list[tuple[int, int]] = []
        start = i
        for m in _END.finditer(line, i):
            if _is_boundary(line, m, content_start, abbrevs):
                pieces.append((start, m.end()))
                start = m.end()
                while start < len(line) and line[start].isspace():
                    start += 1
        pieces.append((start, len(line.rstrip())))
        whole = len(pieces) == 1
        for a, b in pieces:
            while b > a and line[b - 1].isspace():
                b -= 1
            unit = line[a:b]
            if b <= a or is_blank(unit):  # zero-width characters alone are not a unit
                continue
            units.append(Segment(unit, line_start + a, line_start + b, _kind(unit, bulleted, whole)))
    return units
