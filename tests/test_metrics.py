"""Metrics and threshold tuning against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from clausetag.training.metrics import (
    bootstrap_macro_f1,
    full_report,
    macro_f1,
    micro_f1,
    summary,
    tune_thresholds,
)

# 4 units x 3 labels. Label a: TP 2, FP 1, FN 0 -> P 2/3, R 1, F1 0.8
#                     Label b: TP 1, FP 0, FN 1 -> P 1, R 1/2, F1 2/3
#                     Label c: no gold, 1 FP -> excluded from macro, counts in micro
Y = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]])
P = np.array([[1, 1, 0], [1, 0, 1], [1, 0, 0], [0, 0, 0]])


def test_macro_f1_over_labels_with_support() -> None:
    assert macro_f1(Y, P) == pytest.approx((0.8 + 2 / 3) / 2)


def test_micro_f1_counts_every_label() -> None:
    # TP 3, FP 2 (a once, c once), FN 1 -> 2*3 / (2*3 + 2 + 1) = 6/9
    assert micro_f1(Y, P) == pytest.approx(6 / 9)


def test_summary_per_label_and_exact_match() -> None:
    s = summary(Y, P, ["a", "b", "c"])
    assert s["per_label"]["a"] == {
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
        "support": 2,
        "predicted": 3,
    }
    assert s["per_label"]["c"]["support"] == 0
    assert s["labels_scored"] == ["a", "b"]
    assert s["exact_match"] == pytest.approx(2 / 4)  # units 0 and 3
    # samples F1: unit0 1.0, unit1 2*1/(2+1)=2/3, unit2 0, unit3 (empty/empty) 0 by zero_division
    assert s["samples_f1"] == pytest.approx((1 + 2 / 3 + 0 + 0) / 4)


def test_full_report_splits_by_language() -> None:
    r = full_report(Y, P, ["a", "b", "c"], ["en", "en", "lv", "lv"], bootstrap=100)
    assert set(r["per_language"]) == {"en", "lv"}
    assert r["per_language"]["en"]["n"] == 2
    # en: a TP2; b TP1; c FP1 -> micro 2*3/(6+1)
    assert r["per_language"]["en"]["micro_f1"] == pytest.approx(6 / 7)
    lo, hi = r["macro_f1_ci95"]
    assert 0.0 <= lo <= hi <= 1.0


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=(200, 4))
    p = np.where(rng.random((200, 4)) < 0.8, y, 1 - y)
    ci1 = bootstrap_macro_f1(y, p, n=300, seed=3)
    assert ci1 == bootstrap_macro_f1(y, p, n=300, seed=3)
    assert ci1[0] < macro_f1(y, p) < ci1[1]


def test_thresholds_maximise_dev_f1() -> None:
    y = np.array([[1], [1], [0], [0], [1]])
    proba = np.array([[0.30], [0.35], [0.32], [0.10], [0.90]])
    (t,) = tune_thresholds(y, proba)
    # Positives sit at 0.30, 0.35, 0.90; the negative at 0.32 is unavoidable for the 0.30 one.
    # Best F1: cut <= 0.30 catches all (TP3 FP1 -> 6/7); cut in (0.32, 0.35] gives TP2 FP0 FN1 -> 0.8.
    assert 0.10 < t <= 0.30


def test_threshold_default_without_positives_and_tie_break() -> None:
    y = np.array([[0, 1], [0, 0]])
    proba = np.array([[0.9, 0.8], [0.1, 0.1]])
    t = tune_thresholds(y, proba)
    assert t[0] == 0.5  # nothing to fit
    # Any cut in (0.1, 0.8] is perfect: the one nearest 0.5 wins.
    assert t[1] == pytest.approx(0.5)
