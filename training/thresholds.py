"""Per-label decision thresholds that hold up on documents the model has not seen.

A policy turns reference scores (dev, or pooled out-of-fold predictions of
several documents) into one threshold per label:

- ``flat``: 0.5 for every label;
- ``tuned``: per label, the grid threshold with the best F1 on the reference;
- ``shrunk``: the tuned threshold pulled toward 0.5 by its positive support
  ``n``: ``0.5 + (t - 0.5) * n / (n + SHRINK_K)``, so a label seen a handful of
  times barely moves from 0.5;
- ``min-support``: tuned where the label has at least ``MIN_SUPPORT`` positives,
  else 0.5;
- ``global``: one threshold for all labels, the best macro-F1 on the reference;
- ``calibrated``: per label, a Platt fit of the gold on the score's logit, cut
  where the calibrated probability is 0.5 (0.5 where the fit is degenerate).

``clausetag experiment recipes`` measures them (and ``dev-doc``, v1's tuning on a
single held-out document) by leave-one-document-out; the winner is the default
of ``clausetag train``.
"""

from __future__ import annotations

import numpy as np

from clausetag.training.metrics import THRESHOLD_GRID, macro_f1, tune_thresholds

POLICIES = ("flat", "dev-doc", "tuned", "shrunk", "min-support", "global", "calibrated")
#: Policies that ``clausetag train`` can apply to its dev predictions.
TRAIN_POLICIES = ("flat", "tuned", "shrunk", "min-support", "global", "calibrated")
#: The default of ``clausetag train``: the best policy of its default recipe (the ensemble) in the
#: recipe study (README).
DEFAULT_POLICY = "global"
#: The default of ``clausetag baseline``: the TF-IDF row's best policy in the same study.
BASELINE_POLICY = "shrunk"
SHRINK_K = 20
MIN_SUPPORT = 20


def choose_thresholds(policy: str, y_ref: np.ndarray, proba_ref: np.ndarray) -> np.ndarray:
    y_ref = np.asarray(y_ref, dtype=bool)
    n_labels = y_ref.shape[1]
    if policy == "flat":
        return np.full(n_labels, 0.5)
    if policy == "global":
        scores = [macro_f1(y_ref, proba_ref >= t) for t in THRESHOLD_GRID]
        best = np.flatnonzero(np.isclose(scores, max(scores)))
        return np.full(n_labels, float(THRESHOLD_GRID[best[np.argmin(np.abs(THRESHOLD_GRID[best] - 0.5))]]))
    if policy == "calibrated":
        return np.array([_platt_cut(y_ref[:, j], proba_ref[:, j]) for j in range(n_labels)])
    tuned = tune_thresholds(y_ref, proba_ref)
    support = y_ref.sum(0)
    if policy == "tuned":
        return tuned
    if policy == "shrunk":
        return 0.5 + (tuned - 0.5) * support / (support + SHRINK_K)
    if policy == "min-support":
        return np.where(support >= MIN_SUPPORT, tuned, 0.5)
    raise ValueError(f"unknown threshold policy {policy!r}; choose one of {', '.join(POLICIES)}")


def _platt_cut(y: np.ndarray, p: np.ndarray) -> float:
    """The score at which ``sigmoid(a * logit(p) + b)``, fitted to ``y``, crosses 0.5."""
    from sklearn.linear_model import LogisticRegression

    if y.min() == y.max():
        return 0.5
    z = np.log(np.clip(p, 1e-6, 1 - 1e-6) / np.clip(1 - p, 1e-6, 1 - 1e-6)).reshape(-1, 1)
    fit = LogisticRegression(C=100.0).fit(z, y.astype(int))
    a, b = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    if a <= 1e-6:
        return 0.5
    return float(np.clip(1.0 / (1.0 + np.exp(b / a)), 0.01, 0.99))
