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
- ``global``: one threshold for all labels, the best macro-F1 on the reference.

``clausetag experiment recipes`` measures them (and ``dev-doc``, v1's tuning on a
single held-out document) by leave-one-document-out; the winner is the default
of ``clausetag train``.
"""

from __future__ import annotations

import numpy as np

from clausetag.training.metrics import THRESHOLD_GRID, macro_f1, tune_thresholds

POLICIES = ("flat", "dev-doc", "tuned", "shrunk", "min-support", "global")
#: Policies that ``clausetag train`` can apply to its dev predictions.
TRAIN_POLICIES = ("flat", "tuned", "shrunk", "min-support", "global")
#: The default of ``clausetag train`` and ``clausetag baseline`` (chosen by the recipe study).
DEFAULT_POLICY = "shrunk"
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
    tuned = tune_thresholds(y_ref, proba_ref)
    support = y_ref.sum(0)
    if policy == "tuned":
        return tuned
    if policy == "shrunk":
        return 0.5 + (tuned - 0.5) * support / (support + SHRINK_K)
    if policy == "min-support":
        return np.where(support >= MIN_SUPPORT, tuned, 0.5)
    raise ValueError(f"unknown threshold policy {policy!r}; choose one of {', '.join(POLICIES)}")
