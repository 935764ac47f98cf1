"""Label × language × source counts, the corpus's table of contents."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from clausetag.data.corpus import SOURCES, CorpusUnit


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
