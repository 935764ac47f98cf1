"""Agreement between labelling passes: two passes over the same units, or several annotators.

The two-pass report (the corpus's blind second pass)::

    python -m clausetag.data.agreement data/agreement/v3-second-pass.jsonl

reads JSONL records with ``first`` and ``second`` label lists (and ``lang``) and
prints the exact-set agreement (both passes chose the same set), overall and
per language, and per label the share of units where both passes agree on it,
Cohen's kappa and the F1 of one pass against the other.

Several annotators of the same units (``clausetag data import`` reports it): ``agreement``
gives the share of units on which all agree, the mean pairwise Jaccard overlap and
Krippendorff's alpha per label.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LabelAgreement:
    label: str
    first: int  # units the first pass gave the label
    second: int
    both: int
    agreement: float  # share of units where the passes agree on the label (both or neither)
    kappa: float
    f1: float


def exact_share(per_unit: Sequence[Sequence[frozenset[str] | set[str]]]) -> float:
    """The share of units on which every label set given for it is the same (exact-set agreement)."""
    return sum(all(s == sets[0] for s in sets) for sets in per_unit) / len(per_unit)


def exact_set_agreement(first: Sequence[set[str]], second: Sequence[set[str]]) -> float:
    """The share of units on which the two passes chose exactly the same label set."""
    if len(first) != len(second) or not first:
        raise ValueError("two passes over the same, non-empty list of units are needed")
    return exact_share(list(zip(first, second, strict=True)))


def per_label(
    first: Sequence[set[str]], second: Sequence[set[str]], labels: Sequence[str]
) -> list[LabelAgreement]:
    """Each label's agreement between the passes (presence vs absence on every unit)."""
    n = len(first)
    out = []
    for label in labels:
        a = [label in s for s in first]
        b = [label in s for s in second]
        n_a, n_b = sum(a), sum(b)
        both = sum(x and y for x, y in zip(a, b, strict=True))
        observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
        expected = (n_a / n) * (n_b / n) + (1 - n_a / n) * (1 - n_b / n)
        kappa = 1.0 if expected == 1 else (observed - expected) / (1 - expected)
        f1 = 2 * both / (n_a + n_b) if n_a + n_b else 1.0
        out.append(LabelAgreement(label, n_a, n_b, both, observed, kappa, f1))
    return out


# Several annotators (``clausetag data import``): units labelled by two or more of them.


def krippendorff_binary(values: Sequence[Sequence[int]]) -> float | None:
    """Krippendorff's alpha for one yes/no label over units rated at least twice (None: no variation)."""
    rated = [v for v in values if len(v) >= 2]
    n = sum(len(v) for v in rated)
    ones = sum(sum(v) for v in rated)
    zeros = n - ones
    if not zeros or not ones:
        return None
    disagree = sum(sum(v) * (len(v) - sum(v)) / (len(v) - 1) for v in rated)
    return 1.0 - (n - 1) * disagree / (zeros * ones)


def agreement(per_unit: Sequence[Sequence[frozenset[str]]], labels: Sequence[str]) -> dict[str, Any] | None:
    """How far annotators agree on units that several labelled (one label set per annotator).

    ``exact``: the share of units on which all label sets are equal; ``jaccard``: the mean
    over pairs of annotators of |A ∩ B| / |A ∪ B|; ``alpha``: Krippendorff's alpha per
    label (None where the label never varies), and its mean over the labels that have one.
    """
    shared = [sets for sets in per_unit if len(sets) >= 2]
    if not shared:
        return None
    pairs = [(a, b) for sets in shared for a, b in itertools.combinations(sets, 2)]
    alpha = {x: krippendorff_binary([[int(x in s) for s in sets] for sets in shared]) for x in labels}
    known = [a for a in alpha.values() if a is not None]
    return {
        "units": len(shared),
        "exact": exact_share(shared),
        "jaccard": sum(len(a & b) / len(a | b) if a | b else 1.0 for a, b in pairs) / len(pairs),
        "alpha": alpha,
        "mean_alpha": sum(known) / len(known) if known else None,
    }


def agreement_lines(report: dict[str, Any], annotators: int) -> list[str]:
    """The agreement report in words, for the command's summary."""
    alpha = report["mean_alpha"]
    lows = sorted((a, x) for x, a in report["alpha"].items() if a is not None and a < 1)[:3]
    low = "; lowest: " + ", ".join(f"{x} {a:.2f}" for a, x in lows) if lows else ""
    lines = [
        f"agreement on {report['units']} units labelled by 2+ of {annotators} annotators: "
        f"all agree on {report['exact']:.0%}, mean pairwise Jaccard {report['jaccard']:.2f}",
    ]
    if alpha is not None:
        lines.append(f"Krippendorff's alpha (mean over labels that vary) {alpha:.2f}{low}")
    return lines


def report(records: Sequence[dict[str, object]]) -> str:
    """The Markdown report of ``records`` (each with ``first``, ``second`` and ``lang``)."""
    first = [set(map(str, r["first"])) for r in records]  # type: ignore[call-overload]
    second = [set(map(str, r["second"])) for r in records]  # type: ignore[call-overload]
    lines = [f"{len(records)} units; exact-set agreement {100 * exact_set_agreement(first, second):.1f}%"]
    for lang in sorted({str(r.get("lang", "")) for r in records}):
        idx = [i for i, r in enumerate(records) if str(r.get("lang", "")) == lang]
        share = exact_set_agreement([first[i] for i in idx], [second[i] for i in idx])
        lines.append(f"- {lang or '(no lang)'}: {len(idx)} units, {100 * share:.1f}%")
    labels = sorted(set().union(*first, *second))
    lines += [
        "",
        "| label | first | second | both | agree | kappa | F1 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for a in per_label(first, second, labels):
        lines.append(
            f"| {a.label} | {a.first} | {a.second} | {a.both} | {100 * a.agreement:.1f}% "
            f"| {a.kappa:.2f} | {a.f1:.2f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        records = [json.loads(x) for x in args.file.read_text(encoding="utf-8").splitlines() if x.strip()]
        text = report(records)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"agreement: error: {args.file}: {exc}", file=sys.stderr)
        return 2
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
