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


def _resample_counts(m: int, n: int, seed: int) -> np.ndarray:
    """``(n, m)``: how often each of ``m`` units is drawn in each of ``n`` resamples with replacement."""
    idx = np.random.default_rng(seed).integers(0, m, size=(n, m))
    return np.stack([np.bincount(row, minlength=m) for row in idx]).astype(np.float64)


def _macro_f1_resampled(y_true: np.ndarray, y_pred: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``macro_f1`` of every resample at once (labels with gold examples in that resample)."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    tp, fp, fn = counts @ (y * p), counts @ ((1 - y) * p), counts @ (y * (1 - p))
    support = (counts @ y) > 0
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=support)
    n_labels = support.sum(1)
    return np.divide((f1 * support).sum(1), n_labels, out=np.zeros(len(counts)), where=n_labels > 0)


def bootstrap_macro_f1(
    y_true: np.ndarray, y_pred: np.ndarray, n: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of macro-F1 over units resampled with replacement."""
    m = len(y_true)
    if m == 0:
        return (0.0, 0.0)
    scores = _macro_f1_resampled(y_true, y_pred, _resample_counts(m, n, seed))
    lo, hi = np.percentile(scores, [2.5, 97.5])
    return (float(lo), float(hi))


def paired_bootstrap_delta(
    y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, n: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Macro-F1 of ``pred_b`` minus ``pred_a`` and its 95% percentile interval.

    Paired: each resample draws the same units for both, so the interval is that of the
    difference, much narrower than two separate intervals would suggest.
    """
    y_true, pred_a, pred_b = (np.asarray(x, dtype=int) for x in (y_true, pred_a, pred_b))
    delta = macro_f1(y_true, pred_b) - macro_f1(y_true, pred_a)
    m = len(y_true)
    if m == 0:
        return (0.0, 0.0, 0.0)
    counts = _resample_counts(m, n, seed)
    deltas = _macro_f1_resampled(y_true, pred_b, counts) - _macro_f1_resampled(y_true, pred_a, counts)
    lo, hi = np.percentile(deltas, [2.5, 97.5])
    return (float(delta), float(lo), float(hi))


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
