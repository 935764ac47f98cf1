"""The transformer + TF-IDF ensemble: the n-gram member's weight, chosen on held-out scores."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from clausetag.data.corpus import CorpusUnit, label_matrix
from clausetag.inference.ngram import NgramMember
from clausetag.training.metrics import macro_f1, tune_thresholds

logger = logging.getLogger(__name__)

#: Weights of the n-gram member tried, 0 (transformer alone) to 1 (n-grams alone).
WEIGHTS = tuple(np.round(np.arange(0.0, 1.01, 0.1), 2))


def choose_weight(y: np.ndarray, transformer: np.ndarray, ngram: np.ndarray) -> float:
    """The n-gram share whose mix scores best (macro-F1 at tuned thresholds) on these units."""
    best_w, best = 0.0, -1.0
    for w in WEIGHTS:
        mix = (1 - w) * transformer + w * ngram
        score = macro_f1(y, mix >= tune_thresholds(y, mix))
        if score > best + 1e-9:
            best_w, best = float(w), score
    return best_w


def fit_ngram_member(
    train: Sequence[CorpusUnit],
    dev: Sequence[CorpusUnit],
    labels: Sequence[str],
    dev_proba: np.ndarray,
    seed: int = 42,
    context: bool = False,
) -> tuple[NgramMember, np.ndarray]:
    """Fit the TF-IDF member on ``train``, weigh it against the transformer's ``dev_proba``.

    Returns the member and the ensemble's dev scores (for the thresholds).
    """
    from clausetag.training.baseline import fit_baseline, to_member, unit_inputs

    baseline = fit_baseline(train, dev, labels, seed=seed, threshold_policy="flat", context=context)
    ngram = baseline.predict_proba(unit_inputs(dev))
    weight = choose_weight(label_matrix(dev, labels), dev_proba, ngram)
    logger.info("n-gram member: weight %.1f (chosen on %d dev units)", weight, len(dev))
    return to_member(baseline, weight), (1 - weight) * dev_proba + weight * ngram
