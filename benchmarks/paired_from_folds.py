"""Paired context comparison from a recipe study's stored folds, matched by row and document.

    python benchmarks/paired_from_folds.py runs/ctx-study/folds --authored 46

``clausetag experiment recipes`` prints the same table for the rows it runs; this
re-scores folds a study stored earlier, whatever recipe key they were stored
under (the key names the ``clausetag train`` flags of the time), so a study run
before the paired comparison existed gets its intervals without retraining.
Each fold's held-out units are checked against the corpus's (count per fold).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from clausetag.data.corpus import DEFAULT_CORPUS_DIR, label_matrix, leave_one_document_out, load_units
from clausetag.labels import DEFAULT_LABELS
from clausetag.training import experiments

MEMBERS = ("tfidf-dev", "tfidf-dev-heading", "tfidf-dev-context", "finetune-mean", "finetune-heading",
           "finetune-context")  # fmt: skip


def stored_row(store: Path, name: str, outer: list, labels: list[str]) -> experiments.RowResult | None:
    folds, ys, langs = [], [], []
    for doc, _train, test in outer:
        found = sorted(store.glob(f"{name}-{doc}-*.npz"))
        if len(found) != 1:
            return None
        with np.load(found[0], allow_pickle=False) as z:
            fold = experiments.Fold(z["y_ref"], z["ref"], z["dev_doc"], z["test"])
        if len(fold.test) != len(test):
            sys.exit(f"{found[0]}: {len(fold.test)} held-out units, the corpus has {len(test)}")
        folds.append(fold)
        ys.append(label_matrix(test, labels))
        langs += [u["lang"] for u in test]
    return experiments.RowResult(name, 0.0, np.vstack(ys), langs, folds)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folds", type=Path, help="a study's folds/ directory")
    parser.add_argument("--authored", type=int, default=None, help="as the study's --authored")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    units = load_units(DEFAULT_CORPUS_DIR)
    if args.authored is not None:
        units = experiments.keep_authored(units, args.authored)
    labels = list(DEFAULT_LABELS)
    outer = list(leave_one_document_out(units))
    rows = {n: r for n in MEMBERS if (r := stored_row(args.folds, n, outer, labels)) is not None}
    for row in experiments.REGISTRY:
        if row.members is not None and set(row.members) <= set(rows):
            a, b = row.members
            rows[row.name] = experiments.ensemble_row(row.name, units, labels, (rows[a], rows[b]))
    table, _ = experiments.paired_table(list(rows.values()), args.bootstrap)
    print(table or "no row with its twin in these folds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
