"""``clausetag experiment``: the harnesses that train on some documents and score the others.

- ``lodo`` and ``crosslingual`` (``experiments.crossval``): one learner, leave-one-document-out
  or across languages, one pooled report;
- ``recipes`` (``experiments.recipes``): the recipe × threshold study, its rows
  (``experiments.rows``) scored fold by fold and kept in a fold store.

Both fit through ``experiments.fitters`` (one ``Fitter`` protocol) on the splits of
``experiments.folds``.
"""

from __future__ import annotations

from clausetag.training.experiments.crossval import crosslingual, lodo
from clausetag.training.experiments.crossval import main as crossval_main
from clausetag.training.experiments.features import FeatureCache
from clausetag.training.experiments.fitters import (
    FinetuneFitter,
    Fitter,
    FoldScores,
    ProbeFitter,
    SelfTrained,
    StudentFitter,
    TfidfFitter,
    pseudo_labelled,
)
from clausetag.training.experiments.folds import document_folds, keep_authored, out_of_fold
from clausetag.training.experiments.recipes import (
    Fold,
    FoldStore,
    RowResult,
    ensemble_row,
    fold_key,
    paired_table,
    run_row,
    study,
    table,
)
from clausetag.training.experiments.recipes import main as recipes_main
from clausetag.training.experiments.rows import REGISTRY, ROW, ROWS, Row


def main(argv: list[str]) -> int:
    """``clausetag experiment recipes …`` goes to the recipe study, the rest to lodo/crosslingual."""
    if argv[:1] == ["recipes"]:
        return recipes_main(argv[1:])
    return crossval_main(argv)


__all__ = [
    "REGISTRY",
    "ROW",
    "ROWS",
    "FeatureCache",
    "FinetuneFitter",
    "Fitter",
    "Fold",
    "FoldScores",
    "FoldStore",
    "ProbeFitter",
    "Row",
    "RowResult",
    "SelfTrained",
    "StudentFitter",
    "TfidfFitter",
    "crosslingual",
    "document_folds",
    "ensemble_row",
    "fold_key",
    "keep_authored",
    "lodo",
    "main",
    "out_of_fold",
    "paired_table",
    "pseudo_labelled",
    "run_row",
    "study",
    "table",
]
