"""Label × language × source counts and the corpus's shape: its table of contents."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

from clausetag.data.corpus import SOURCES, CorpusUnit
from clausetag.inference.structure import KINDS, record_places


def count_table(units: Sequence[CorpusUnit], labels: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per label, one column per (language, source) seen."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for u in units:
        for name in u["labels"]:
            counts[name, u["lang"], u.get("source", "seed")] += 1
    langs = sorted({u["lang"] for u in units})
    present = {u.get("source", "seed") for u in units}
    sources = [s for s in SOURCES if s in present] + sorted(present - set(SOURCES))
    cols = [(lang, src) for lang in langs for src in sources]
    header = [
        "label",
        *[f"{lang}/{src}" for lang, src in cols],
        *[f"{lang} all" for lang in langs],
        "total",
    ]
    rows = []
    for name in labels:
        cells = [counts[name, lang, src] for lang, src in cols]
        per_lang = [sum(counts[name, lang, src] for src in sources) for lang in langs]
        rows.append([name, *map(str, cells), *map(str, per_lang), str(sum(per_lang))])
    unit_counts = [
        sum(1 for u in units if u["lang"] == lang and u.get("source", "seed") == src) for lang, src in cols
    ]
    per_lang_units = [sum(1 for u in units if u["lang"] == lang) for lang in langs]
    rows.append(["(units)", *map(str, unit_counts), *map(str, per_lang_units), str(len(units))])
    return header, rows


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub table, aligned so it also reads well in a terminal."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    sep = (
        "|"
        + "|".join(("-" * (w + 1) + ":" if i else ":" + "-" * (w + 1)) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


#: A reference to a law or an article of one: "Art. 6(1)(b)", "Article 13", "the Accounting Law",
#: "Fizisko personu datu apstrādes likums", "6. panta", "Ministru kabineta noteikumi".
LAW_REFERENCE = re.compile(
    r"\b(?:art(?:icle)?s?\.?\s*\d|\d+\.\s*pant|panta\b|regulation\b|regulas\b|directive\b|direktīv"
    r"|law\b|laws\b|act\b|likum|noteikum)",
    re.IGNORECASE,
)
#: Labels whose share of units the shape table shows (where the label set has them).
SHAPE_LABELS = ("cookies", "automated_decisions", "children")


def shape_table(units: Sequence[CorpusUnit]) -> tuple[list[str], list[list[str]]]:
    """How the corpus is written, per source, over originals only (translations would count twice).

    Rows: the share of each unit kind (``inference.structure``, as training reads them), of long
    units, of units referring to a law or an article, and of a few labels that real policies use
    far less often than a checklist does.
    """
    groups: dict[str, list[tuple[CorpusUnit, str]]] = {}
    originals = [u for u in units if u.get("source", "seed") != "translation"]
    for unit, place in zip(originals, record_places(originals), strict=True):
        groups.setdefault(str(unit.get("source", "seed")), []).append((unit, place.kind))
    sources = [s for s in SOURCES if s in groups] + sorted(set(groups) - set(SOURCES))

    def share(test: Callable[[CorpusUnit, str], bool]) -> list[str]:
        return [f"{100 * sum(test(u, k) for u, k in groups[s]) / len(groups[s]):.1f}%" for s in sources]

    def of_kind(kind: str) -> Callable[[CorpusUnit, str], bool]:
        return lambda unit, k: k == kind

    def longer_than(words: int) -> Callable[[CorpusUnit, str], bool]:
        return lambda unit, k: len(unit["text"].split()) > words

    def labelled(label: str) -> Callable[[CorpusUnit, str], bool]:
        return lambda unit, k: label in unit["labels"]

    rows = [["units (originals)", *(str(len(groups[s])) for s in sources)]]
    rows += [[kind, *share(of_kind(kind))] for kind in KINDS]
    rows += [[f"over {n} words", *share(longer_than(n))] for n in (35, 40)]
    rows.append(["law / article references", *share(lambda u, k: bool(LAW_REFERENCE.search(u["text"])))])
    present = {name for u in units for name in u["labels"]}
    rows += [[f"labelled {x}", *share(labelled(x))] for x in SHAPE_LABELS if x in present]
    return ["", *sources], rows
