"""clausetag's clause metric as a Hugging Face ``evaluate`` module, loadable offline::

    import evaluate
    from clausetag.training.clause_metric import METRIC_DIR
    metric = evaluate.load(str(METRIC_DIR))
    metric.compute(predictions=y_pred, references=y_true, labels=[...], languages=[...])

``predictions`` and ``references`` are multi-hot rows (one 0/1 per label, in ``labels``'
order); ``languages`` (one per row) adds a report per language; ``bootstrap`` resamples
of the rows give macro-F1's 95% interval (0: none). The figures are
``clausetag.training.metrics.full_report``'s: macro- and micro-F1, per label precision,
recall, F1 and support, overall and per language.
"""

from __future__ import annotations

from typing import Any

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Multi-label clause tagging: macro/micro-F1 per label and language, with a bootstrap interval."
_KWARGS = """
Args:
    predictions: multi-hot rows (list of lists of 0/1), one column per label.
    references: multi-hot gold rows of the same shape.
    labels: the label names, in column order.
    languages: optional, one language code per row.
    bootstrap: resamples for macro-F1's 95% interval (default 1000; 0: none).
    seed: the bootstrap's seed (default 0).
Returns:
    macro_f1, micro_f1, per_label, macro_f1_ci95 (with bootstrap), per_language (with languages), labels.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class ClauseF1(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("int8")),
                    "references": datasets.Sequence(datasets.Value("int8")),
                }
            ),
        )

    def _compute(
        self,
        predictions: Any,
        references: Any,
        labels: Any = None,
        languages: Any = None,
        bootstrap: int = 1000,
        seed: int = 0,
    ) -> dict[str, Any]:
        from clausetag.training.metrics import full_report

        y_pred = np.asarray(predictions, dtype=int)
        y_true = np.asarray(references, dtype=int)
        if y_pred.shape != y_true.shape or y_true.ndim != 2:
            raise ValueError(
                f"predictions {y_pred.shape} and references {y_true.shape} must be the same (n, labels)"
            )
        names = list(labels) if labels is not None else [f"label_{i}" for i in range(y_true.shape[1])]
        if len(names) != y_true.shape[1]:
            raise ValueError(f"{len(names)} labels for {y_true.shape[1]} columns")
        langs = list(languages) if languages is not None else ["all"] * len(y_true)
        if len(langs) != len(y_true):
            raise ValueError(f"{len(langs)} languages for {len(y_true)} rows")
        report = full_report(y_true, y_pred, names, langs, bootstrap=bootstrap, seed=seed)
        if languages is None:
            report.pop("per_language")
        return report
