"""Where the clause metric's ``evaluate`` module lives, and loading it (offline: a local path).

``evaluate.load("f1")`` needs the Hub; ``evaluate.load(str(METRIC_DIR))`` reads the module
shipped in this package (``clause_f1/clause_f1.py``), which scores with
``clausetag.training.metrics`` — so ``clausetag evaluate`` and any ``evaluate`` user get the
same figures.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

METRIC_DIR = Path(__file__).resolve().parent / "clause_f1"


@functools.lru_cache(maxsize=1)
def clause_metric() -> Any:
    """The ``evaluate`` module (loaded once per process)."""
    import evaluate

    return evaluate.load(str(METRIC_DIR))


def score(
    y_true: Any, y_pred: Any, labels: list[str], languages: list[str], bootstrap: int = 1000
) -> dict[str, Any]:
    """The clause report of ``y_pred`` against ``y_true`` through the ``evaluate`` module."""
    report: dict[str, Any] = clause_metric().compute(
        predictions=[list(map(int, r)) for r in y_pred],
        references=[list(map(int, r)) for r in y_true],
        labels=list(labels),
        languages=list(languages),
        bootstrap=bootstrap,
    )
    return report
