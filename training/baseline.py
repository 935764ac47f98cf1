"""``clausetag baseline``: TF-IDF (word + char n-grams) + one-vs-rest logistic regression.

Same data, same document-level splits, same threshold tuning and the same
report as the transformer: the bar it must clear.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline

from clausetag.data.corpus import DEFAULT_CORPUS_DIR, CorpusUnit, label_matrix, load_units, split_by_document
from clausetag.errors import ClausetagError
from clausetag.inference.ngram import MAX_NGRAM_CHARS, Analyzer, NgramMember
from clausetag.labels import resolve_label_set
from clausetag.options import add_labels, add_option, add_output
from clausetag.training.evaluation import headline, write_report
from clausetag.training.metrics import full_report
from clausetag.training.thresholds import BASELINE_POLICY, TRAIN_POLICIES, choose_thresholds

Input = str | tuple[str, str]


def _text_field(doc: tuple[str, str]) -> str:
    return doc[0][:MAX_NGRAM_CHARS].lower()


def _context_field(doc: tuple[str, str]) -> str:
    return doc[1][:MAX_NGRAM_CHARS].lower()


def _pairs(inputs: Sequence[Input]) -> list[tuple[str, str]]:
    """Texts, or (text, context) pairs, as pairs: a text alone has an empty context."""
    return [x if isinstance(x, tuple) else (x, "") for x in inputs]


def unit_inputs(units: Sequence[CorpusUnit]) -> list[tuple[str, str]]:
    """Each unit's text and rendered context (``_context``, set by training; "" when none)."""
    return [(u["text"], str(u.get("_context", ""))) for u in units]


@dataclass
class Baseline:
    labels: list[str]
    pipeline: Pipeline
    thresholds: np.ndarray
    constant: dict[int, float]  # labels with one class in train: a fixed score

    def predict_proba(self, inputs: Sequence[Input]) -> np.ndarray:
        """Scores of texts, or of (text, context) pairs."""
        proba = np.zeros((len(inputs), len(self.labels)))
        trainable = [j for j in range(len(self.labels)) if j not in self.constant]
        if trainable:
            proba[:, trainable] = self.pipeline.predict_proba(_pairs(inputs))
        for j, value in self.constant.items():
            proba[:, j] = value
        return proba


def fit_baseline(
    train: Sequence[CorpusUnit],
    dev: Sequence[CorpusUnit],
    labels: Sequence[str],
    seed: int = 42,
    threshold_policy: str = BASELINE_POLICY,
    context: bool = False,
) -> Baseline:
    """Fit on ``train``, choose per-label thresholds on ``dev`` by ``threshold_policy``.

    ``context``: also read each unit's rendered context (``_context``) as word n-grams in
    columns of their own.
    """
    if not train or not dev:
        raise ClausetagError("the baseline needs a non-empty train and dev split")
    y = label_matrix(train, labels)
    constant = {j: float(y[0, j]) for j in range(len(labels)) if y[:, j].min() == y[:, j].max()}
    trainable = [j for j in range(len(labels)) if j not in constant]
    blocks = [
        ("word", TfidfVectorizer(preprocessor=_text_field, ngram_range=(1, 2), min_df=1, sublinear_tf=True)),
        (
            "char",
            TfidfVectorizer(
                preprocessor=_text_field, analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True
            ),
        ),
    ]
    if context:
        blocks.append(
            (
                "context",
                TfidfVectorizer(preprocessor=_context_field, ngram_range=(1, 2), min_df=2, sublinear_tf=True),
            )
        )
    features = FeatureUnion(blocks)
    clf = OneVsRestClassifier(
        LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000, random_state=seed)
    )
    pipeline = Pipeline([("tfidf", features), ("clf", clf)])
    if trainable:
        pipeline.fit(unit_inputs(train), y[:, trainable])
    model = Baseline(list(labels), pipeline, np.full(len(labels), 0.5), constant)
    if threshold_policy != "flat":  # flat needs no dev scores (the ensemble scores dev itself)
        model.thresholds = choose_thresholds(
            threshold_policy, label_matrix(dev, labels), model.predict_proba(unit_inputs(dev))
        )
    return model


def to_member(model: Baseline, weight: float) -> NgramMember:
    """The fitted baseline in the model directory's pickle-free, numpy-only form."""
    features = model.pipeline.named_steps["tfidf"]
    analyzers = []
    for name, vec in features.transformer_list:
        kind = "word" if vec.analyzer == "word" else vec.analyzer
        field = "context" if name == "context" else "text"
        analyzers.append(
            Analyzer(kind, tuple(vec.ngram_range), dict(vec.vocabulary_), vec.idf_.copy(), field)
        )
    width = sum(len(a.idf) for a in analyzers)
    coef = np.zeros((width, len(model.labels)))
    intercept = np.zeros(len(model.labels))
    trainable = [j for j in range(len(model.labels)) if j not in model.constant]
    for est, j in zip(model.pipeline.named_steps["clf"].estimators_, trainable, strict=True):
        coef[:, j] = est.coef_[0]
        intercept[j] = est.intercept_[0]
    for j, value in model.constant.items():  # a label seen with one value only: that value, exactly
        intercept[j] = np.inf if value >= 0.5 else -np.inf
    return NgramMember(list(model.labels), analyzers, coef, intercept, weight)


def score(
    model: Baseline, units: Sequence[CorpusUnit], bootstrap: int = 1000
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    y_true = label_matrix(units, model.labels)
    y_pred = (model.predict_proba(unit_inputs(units)) >= model.thresholds).astype(int)
    return (
        full_report(y_true, y_pred, model.labels, [u["lang"] for u in units], bootstrap=bootstrap),
        y_true,
        y_pred,
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="clausetag baseline", description=__doc__)
    add_option(
        parser,
        "--data",
        "--train_file",
        "--train-file",
        type=Path,
        default=DEFAULT_CORPUS_DIR,
        help="corpus JSONL or folder (default: the bundled corpus)",
    )
    add_option(
        parser, "--dev-file", "--dev_file", type=Path, default=None, help="default: hold out documents"
    )
    add_option(parser, "--dev-docs", "--dev_docs", nargs="+", default=None, help="documents held out for dev")
    add_option(
        parser, "--test-file", "--test_file", type=Path, default=None, help="scored and reported if given"
    )
    add_labels(parser)
    parser.add_argument("--seed", type=int, default=42)
    add_option(
        parser,
        "--threshold-policy",
        "--threshold_policy",
        choices=TRAIN_POLICIES,
        default=BASELINE_POLICY,
        help="how the thresholds are chosen on dev (as clausetag train's --threshold_policy)",
    )
    add_output(parser, "report folder (metrics.json, report.md, plots)", type=Path, metavar="DIR")
    args = parser.parse_args(argv)
    labels = resolve_label_set(args.data, args.labels)
    units = load_units(args.data, labels)
    if args.dev_file:
        train, dev = units, load_units(args.dev_file, labels)
    else:
        splits = split_by_document(units, dev_docs=args.dev_docs, seed=args.seed)
        train, dev = splits["train"], splits["dev"]
    model = fit_baseline(train, dev, labels, seed=args.seed, threshold_policy=args.threshold_policy)
    name, units_scored = ("test", load_units(args.test_file, labels)) if args.test_file else ("dev", dev)
    report, y_true, y_pred = score(model, units_scored)
    report["model"] = "tfidf+logreg baseline"
    report["data"] = str(args.test_file or f"{args.data} (dev documents)")
    print(f"baseline on {name}: {headline(report)}")
    if args.output:
        write_report(report, y_true, y_pred, args.output, "clausetag baseline (TF-IDF + logistic regression)")
        print(f"report written to {args.output}/")
    return 0
