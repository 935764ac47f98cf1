"""Multi-label metrics (scikit-learn) and per-label threshold tuning.

Shared by the Trainer's dev evaluation, ``clausetag evaluate``, the baseline and
the experiments, so every figure in the project is computed the same way.

Macro averages run over the labels that have gold support in the scored set;
a label with no gold examples cannot be recalled, and counting it as 0 (or 1)
would measure the split, not the model. Its false positives still lower micro-F1
and precision. ``labels_scored`` records which labels took part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support

#: Candidate thresholds for tuning: fine enough, and small enough to be fast.
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)


def tune_thresholds(y_true: np.ndarray, proba: np.ndarray, default: float = 0.5) -> np.ndarray:
    """Per label, the grid threshold with the best F1 on these (dev) examples.

    Labels without a positive example keep ``default``: there is nothing to fit.
    Ties go to the threshold nearest ``default`` so that a flat F1 curve does not
    drift to an extreme.
    """
    y_true = np.asarray(y_true, dtype=bool)
    out = np.full(y_true.shape[1], default, dtype=np.float64)
    for j in range(y_true.shape[1]):
        if not y_true[:, j].any():
            continue
        pred = proba[:, j][None, :] >= THRESHOLD_GRID[:, None]
        tp = (pred & y_true[:, j]).sum(1)
        fp = (pred & ~y_true[:, j]).sum(1)
        fn = (~pred & y_true[:, j]).sum(1)
        f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
        best = np.flatnonzero(f1 == f1.max())
        out[j] = THRESHOLD_GRID[best[np.argmin(np.abs(THRESHOLD_GRID[best] - default))]]
    return out


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    support = np.asarray(y_true).sum(0) > 0
    if not support.any():
        return 0.0
    return float(f1_score(y_true[:, support], y_pred[:, support], average="macro", zero_division=0))


def micro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(f1_score(y_true, y_pred, average="micro", zero_division=0))


def summary(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Headline figures plus a per-label table for one set of examples."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    support = y_true.sum(0) > 0
    return {
        "n": len(y_true),
        "micro_f1": micro_f1(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred),
        "samples_f1": float(f1_score(y_true, y_pred, average="samples", zero_division=0))
        if len(y_true)
        else 0.0,
        "exact_match": float((y_true == y_pred).all(1).mean()) if len(y_true) else 0.0,
        "labels_scored": [x for x, keep in zip(labels, support, strict=True) if keep],
        "per_label": {
            name: {
                "precision": float(p[j]),
                "recall": float(r[j]),
                "f1": float(f[j]),
                "support": int(s[j]),
                "predicted": int(y_pred[:, j].sum()),
            }
            for j, name in enumerate(labels)
        },
    }


def bootstrap_macro_f1(
    y_true: np.ndarray, y_pred: np.ndarray, n: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of macro-F1 over units resampled with replacement."""
    rng = np.random.default_rng(seed)
    m = len(y_true)
    if m == 0:
        return (0.0, 0.0)
    scores = [macro_f1(y_true[idx], y_pred[idx]) for idx in rng.integers(0, m, size=(n, m))]
    lo, hi = np.percentile(scores, [2.5, 97.5])
    return (float(lo), float(hi))


def full_report(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    labels: Sequence[str],
    langs: Sequence[str],
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """``summary`` overall and per language, with bootstrap intervals for macro-F1."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    report = summary(y_true, y_pred, labels)
    if bootstrap:
        report["macro_f1_ci95"] = bootstrap_macro_f1(y_true, y_pred, bootstrap, seed)
    langs_arr = np.asarray(langs)
    report["per_language"] = {}
    for lang in sorted(set(langs)):
        mask = langs_arr == lang
        part = summary(y_true[mask], y_pred[mask], labels)
        if bootstrap:
            part["macro_f1_ci95"] = bootstrap_macro_f1(y_true[mask], y_pred[mask], bootstrap, seed)
        report["per_language"][lang] = part
    report["labels"] = list(labels)
    return report
