"""Agreement between two labelling passes over the same units.

    python -m clausetag.data.agreement data/agreement/v3-second-pass.jsonl

reads JSONL records with ``first`` and ``second`` label lists (and ``lang``) and
prints the exact-set agreement (both passes chose the same set), overall and
per language, and per label the share of units where both passes agree on it,
Cohen's kappa and the F1 of one pass against the other.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabelAgreement:
    label: str
    first: int  # units the first pass gave the label
    second: int
    both: int
    agreement: float  # share of units where the passes agree on the label (both or neither)
    kappa: float
    f1: float


def exact_set_agreement(first: Sequence[set[str]], second: Sequence[set[str]]) -> float:
    """The share of units on which the two passes chose exactly the same label set."""
    if len(first) != len(second) or not first:
        raise ValueError("two passes over the same, non-empty list of units are needed")
    return sum(a == b for a, b in zip(first, second, strict=True)) / len(first)


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
