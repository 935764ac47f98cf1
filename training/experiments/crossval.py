"""``clausetag experiment``: leave-one-document-out CV and cross-lingual transfer.

Both run the transformer or the baseline through the same code as
``clausetag train`` / ``clausetag baseline`` and pool the held-out predictions
into one report, so the figures are comparable with each other.

- ``lodo``: each real document (with its translation) is held out once; an
  inner dev document, drawn from the rest, picks the epoch and thresholds.
- ``crosslingual``: the real documents are split into two halves; a model
  trained on one language of one half is tested on the other language of the
  other half (no test unit is a translation of a training unit).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clausetag.data.corpus import (
    DEFAULT_CORPUS_DIR,
    CorpusUnit,
    document_groups,
    label_matrix,
    load_units,
    real_documents,
)
from clausetag.errors import ClausetagError
from clausetag.io import atomic_writer
from clausetag.labels import resolve_label_set
from clausetag.options import add_labels, add_option, add_output
from clausetag.training.evaluation import headline, write_report
from clausetag.training.experiments.fitters import FinetuneFitter, Fitter, TfidfFitter
from clausetag.training.experiments.folds import held_out_folds, one_real_document_dev
from clausetag.training.metrics import full_report

logger = logging.getLogger(__name__)


def lodo(
    units: Sequence[CorpusUnit], labels: Sequence[str], fit: Fitter
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Each real document held out once, ``folds.one_real_document_dev`` its fold's dev units;
    the pooled report (with each fold's figures), the gold and the predictions."""
    rows_true, rows_pred, langs, folds = [], [], [], []
    for k, (doc, train, test) in enumerate(held_out_folds(units)):
        inner_train, inner_dev = one_real_document_dev(train, k)
        started = time.perf_counter()
        scores = fit(inner_train, inner_dev, test, labels)
        y_true, y_pred = label_matrix(test, labels), scores.predictions()
        fold = full_report(y_true, y_pred, labels, [u["lang"] for u in test], bootstrap=0)
        folds.append(
            {
                "held_out": doc,
                "dev": inner_dev[0]["doc"],
                "n": len(test),
                "macro_f1": fold["macro_f1"],
                "micro_f1": fold["micro_f1"],
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        logger.info(
            "fold %s: macro-F1 %.3f micro-F1 %.3f (%.0fs)",
            doc,
            fold["macro_f1"],
            fold["micro_f1"],
            folds[-1]["seconds"],
        )
        rows_true.append(y_true)
        rows_pred.append(y_pred)
        langs += [u["lang"] for u in test]
    y_true, y_pred = np.vstack(rows_true), np.vstack(rows_pred)
    report = full_report(y_true, y_pred, labels, langs)
    report["folds"] = folds
    return report, y_true, y_pred


def crosslingual(units: Sequence[CorpusUnit], labels: Sequence[str], fit: Fitter) -> dict[str, Any]:
    """Trained on one language of one half of the real documents, tested on the other language of
    the other half; the first training document (with its translation) is the dev set."""
    groups = document_groups(units)
    real = real_documents(units, groups)
    halves = [real[0::2], real[1::2]]
    langs = sorted({u["lang"] for u in units if u["source"] != "authored"})
    if len(langs) != 2:
        raise ClausetagError(f"cross-lingual runs need exactly two languages, found {langs}")
    results: dict[str, Any] = {"halves": halves}
    for src in langs:
        tgt = next(x for x in langs if x != src)
        rows_true, rows_pred = [], []
        for h in (0, 1):
            train_docs, test_docs = halves[h], halves[1 - h]

            def pick(docs: list[str], lang: str) -> list[CorpusUnit]:
                return [units[i] for d in docs for i in groups[d] if units[i]["lang"] == lang]

            authored = [u for u in units if u["source"] == "authored" and u["lang"] == src]
            # The first training document (with its translation) is the dev set.
            dev = pick(train_docs[:1], src)
            train = pick(train_docs[1:], src) + authored
            test = pick(test_docs, tgt)
            rows_true.append(label_matrix(test, labels))
            rows_pred.append(fit(train, dev, test, labels).predictions())
        rep = full_report(
            np.vstack(rows_true),
            np.vstack(rows_pred),
            labels,
            [tgt] * sum(len(r) for r in rows_true),
        )
        results[f"{src}->{tgt}"] = {
            "macro_f1": rep["macro_f1"],
            "micro_f1": rep["micro_f1"],
            "macro_f1_ci95": rep["macro_f1_ci95"],
            "n": rep["n"],
        }
        logger.info(
            "%s->%s: macro-F1 %.3f micro-F1 %.3f (n=%d)", src, tgt, rep["macro_f1"], rep["micro_f1"], rep["n"]
        )
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="clausetag experiment",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Arguments after `--` go to `clausetag train` (transformer only), "
        "e.g. -- --num_train_epochs 3 --model_name_or_path xlm-roberta-base",
    )
    parser.add_argument(
        "kind",
        choices=["lodo", "crosslingual", "recipes"],
        help="recipes: see `clausetag experiment recipes -h`",
    )
    add_option(
        parser,
        "--learner",
        "--model",
        choices=["transformer", "baseline"],
        default="baseline",
        help="what is trained on each fold (default: baseline)",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_CORPUS_DIR)
    add_labels(parser)
    parser.add_argument("--seed", type=int, default=42)
    add_output(parser, "results directory", required=True, type=Path, metavar="DIR")
    args, train_argv = parser.parse_known_args(argv)
    train_argv = [a for a in train_argv if a != "--"]
    if train_argv and args.learner != "transformer":
        raise ClausetagError(f"unexpected arguments for the baseline: {' '.join(train_argv)}")
    labels = resolve_label_set(args.data, args.labels)
    units = load_units(args.data, labels)
    fit: Fitter = (
        FinetuneFitter((*train_argv, "--seed", str(args.seed)))
        if args.learner == "transformer"
        else TfidfFitter(seed=args.seed)
    )
    started = time.perf_counter()
    args.output.mkdir(parents=True, exist_ok=True)
    if args.kind == "lodo":
        report, y_true, y_pred = lodo(units, labels, fit)
        report.update(
            model=args.learner, data=str(args.data), seconds=round(time.perf_counter() - started, 1)
        )
        write_report(report, y_true, y_pred, args.output, f"leave-one-document-out: {args.learner}")
        print(f"{args.learner} LODO: {headline(report)}")
    else:
        results = crosslingual(units, labels, fit)
        results.update(model=args.learner, seconds=round(time.perf_counter() - started, 1))
        with atomic_writer(args.output / "crosslingual.json") as fh:
            json.dump(results, fh, indent=2)
    print(f"results written to {args.output}/ ({(time.perf_counter() - started) / 60:.1f} min)")
    return 0
