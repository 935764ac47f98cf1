"""The clause metric as an `evaluate` module: loaded offline from the package, the same figures as
clausetag.training.metrics, and one clear error for rows that do not fit."""

from __future__ import annotations

import numpy as np
import pytest

from clausetag.training.clause_metric import METRIC_DIR, clause_metric, score
from clausetag.training.metrics import full_report

LABELS = ["controller", "retention", "rights", "other"]


def _rows(seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2, (60, 4)), rng.integers(0, 2, (60, 4)), ["en"] * 30 + ["lv"] * 30


def test_loads_offline_from_the_package_and_matches_full_report() -> None:
    import evaluate

    assert (METRIC_DIR / "clause_f1.py").is_file()
    y, p, langs = _rows(1)
    metric = evaluate.load(str(METRIC_DIR))  # the path a user would pass; no Hub involved
    got = metric.compute(
        predictions=p.tolist(), references=y.tolist(), labels=LABELS, languages=langs, bootstrap=100
    )
    assert got == full_report(y, p, LABELS, langs, bootstrap=100)
    assert set(got["per_language"]) == {"en", "lv"} and len(got["macro_f1_ci95"]) == 2
    assert score(y, p, LABELS, langs, bootstrap=100) == got


def test_without_languages_there_is_no_per_language_part() -> None:
    y, p, _ = _rows(2)
    got = clause_metric().compute(predictions=p.tolist(), references=y.tolist(), bootstrap=0)
    assert "per_language" not in got and got["labels"] == [f"label_{i}" for i in range(4)]
    assert got["macro_f1"] == pytest.approx(
        full_report(y, p, got["labels"], ["x"] * 60, bootstrap=0)["macro_f1"]
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": ["a", "b"]}, "2 labels for 4 columns"),
        ({"languages": ["en"]}, "1 languages for 60 rows"),
    ],
)
def test_rows_that_do_not_fit_are_one_message(kwargs: dict, message: str) -> None:
    y, p, _ = _rows(3)
    with pytest.raises(ValueError, match=message):
        clause_metric().compute(predictions=p.tolist(), references=y.tolist(), bootstrap=0, **kwargs)
