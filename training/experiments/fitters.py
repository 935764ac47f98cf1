"""What is fitted on a fold: one ``Fitter`` protocol, and each way the experiments fit a model.

A fitter is given a fold's training units, its dev units (empty where the harness has
none to give: a fitter that needs none ignores them) and the units to score, and
returns their scores, with the thresholds it chose where it chooses any.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from clausetag.data.corpus import CorpusUnit, label_matrix
from clausetag.errors import ClausetagError
from clausetag.inference.context import ContextRecipe
from clausetag.inference.scores import sigmoid
from clausetag.inference.structure import record_places
from clausetag.training.experiments.features import FeatureCache

log = logging.getLogger(__name__)

Units = Sequence[CorpusUnit]
#: The flags the recipe study puts before its rows' ``clausetag train`` flags (the row's win): the
#: transformer alone, reading context only where the row names it (train's default reads it).
STUDY_TRAIN_DEFAULTS = ("--ngram_member", "false", "--context", "none")


@dataclass(frozen=True)
class FoldScores:
    """The scored units' probabilities, and the per-label thresholds the fitter chose (if any)."""

    test: np.ndarray
    thresholds: np.ndarray | None = None

    def predictions(self) -> np.ndarray:
        """The 0/1 label matrix under the fitter's own thresholds."""
        if self.thresholds is None:
            raise ClausetagError("this fitter chooses no thresholds")
        return (self.test >= self.thresholds).astype(int)


class Fitter(Protocol):
    """Fit on ``train`` (``dev``: epochs and thresholds, where used) and score ``test``."""

    def __call__(self, train: Units, dev: Units, test: Units, labels: Sequence[str]) -> FoldScores: ...


@dataclass(frozen=True)
class TfidfFitter:
    """TF-IDF + logistic regression (``clausetag baseline``), thresholds chosen on ``dev``.

    With a ``context`` recipe its rendered contexts are n-grams of their own. Without dev
    units the first training unit stands in (the thresholds are then not meant to be used).
    """

    seed: int = 42
    context: str = "none"

    def __call__(self, train: Units, dev: Units, test: Units, labels: Sequence[str]) -> FoldScores:
        from clausetag.training.baseline import fit_baseline, unit_inputs
        from clausetag.training.train import with_contexts

        recipe = ContextRecipe(self.context)
        train, test = with_contexts(train, recipe), with_contexts(test, recipe)
        tune_on = with_contexts(dev, recipe) if dev else train[:1]
        model = fit_baseline(train, tune_on, labels, seed=self.seed, context=recipe.active)
        return FoldScores(model.predict_proba(unit_inputs(test)), model.thresholds)


@dataclass(frozen=True)
class ProbeFitter:
    """The head ``clausetag train`` starts from (``training.probe``) on frozen vectors: no fine-tuning."""

    cache: FeatureCache
    pooling: str
    c: float = 1.0

    def __call__(self, train: Units, dev: Units, test: Units, labels: Sequence[str]) -> FoldScores:
        from clausetag.training.probe import ProbeTransform, fit_probe
        from clausetag.training.trainer import positive_weights

        x = self.cache.vectors([u["text"] for u in train], self.pooling)
        z = self.cache.vectors([u["text"] for u in test], self.pooling)
        transform = ProbeTransform.fit(x)
        y = label_matrix(train, labels)
        weight, bias = fit_probe(transform(x), y, positive_weights(y, 10.0), self.c)
        return FoldScores(sigmoid(transform(z) @ weight.T + bias))


@dataclass(frozen=True)
class SelfTrained:
    """Self-training on the units being scored, their labels never read (transductive).

    The model is fitted, scores the unlabelled units, and is fitted again with
    every unit whose every label it is sure of (p ≥ ``confidence`` or ≤ 1 −
    ``confidence``, at least one label on) added under those pseudo-labels; the
    second model's scores are returned. Inside a fold's out-of-fold scoring the
    pool is the inner held-out documents, so thresholds see the same procedure.
    """

    fit: Fitter
    confidence: float = 0.9

    def __call__(self, train: Units, dev: Units, test: Units, labels: Sequence[str]) -> FoldScores:
        first = self.fit(train, dev, test, labels)
        pseudo = pseudo_labelled(test, first.test, labels, self.confidence)
        log.info("    self-training: %d of %d unlabelled units pseudo-labelled", len(pseudo), len(test))
        return self.fit([*train, *pseudo], dev, test, labels) if pseudo else first


def pseudo_labelled(
    units: Sequence[CorpusUnit], proba: np.ndarray, labels: Sequence[str], confidence: float
) -> list[CorpusUnit]:
    """Copies of the units the scores are sure of, their labels replaced by the confident ones."""
    decided = ((proba >= confidence) | (proba <= 1 - confidence)).all(1)
    sure = np.asarray(decided & (proba >= confidence).any(1))
    out: list[CorpusUnit] = []
    for unit, row, keep in zip(units, proba, sure.tolist(), strict=True):
        if keep:
            sure_labels = [lab for lab, p in zip(labels, row, strict=True) if p >= confidence]
            out.append({**unit, "labels": sure_labels})
    return out


@dataclass(frozen=True)
class FinetuneFitter:
    """``clausetag train`` with ``defaults`` then ``train_argv`` (so those win) in a scratch folder,
    the epoch (and thresholds) chosen on ``dev``; scores ``test`` with each unit in its place."""

    train_argv: tuple[str, ...]
    defaults: tuple[str, ...] = ()

    def train_into(self, out: str, train: Units, dev: Units, labels: Sequence[str]) -> Any:
        """Train into ``out``; the model arguments it was trained with."""
        from clausetag.training.args import parse_args
        from clausetag.training.train import Splits, run_training

        args = parse_args([*self.defaults, *self.train_argv, "--output_dir", out, "--overwrite"])
        run_training(Splits(list(labels), list(train), list(dev)), args)
        return args.model

    def __call__(self, train: Units, dev: Units, test: Units, labels: Sequence[str]) -> FoldScores:
        with tempfile.TemporaryDirectory(prefix="clausetag-fold-") as tmp:
            self.train_into(tmp, train, dev, labels)
            return score_model(tmp, test)


def score_model(model: str | Path, units: Sequence[CorpusUnit]) -> FoldScores:
    """A model directory's scores of ``units``, each with its place (ignored by a model reading none),
    and its saved thresholds."""
    from clausetag.inference import ClauseClassifier

    clf = ClauseClassifier.from_pretrained(model)
    contexts = [p.context for p in record_places(units)]
    return FoldScores(clf.predict_proba([u["text"] for u in units], contexts=contexts), clf.thresholds)


@dataclass(frozen=True)
class StudentFitter:
    """``teacher``'s fine-tuning, then ``clausetag distill`` of it on the same units; scores the
    student. The teacher's scores (and seconds) go into ``teachers``, keyed by the scored units."""

    teacher: FinetuneFitter
    distill_argv: tuple[str, ...] = ()
    teachers: dict[str, tuple[np.ndarray, float]] = field(default_factory=dict)

    def __call__(self, train: Units, dev: Units, test: Units, labels: Sequence[str]) -> FoldScores:
        from clausetag.training.distill import distil
        from clausetag.training.distill import parse_args as parse_distill
        from clausetag.training.train import with_contexts

        with tempfile.TemporaryDirectory(prefix="clausetag-student-") as tmp:
            teacher, student = f"{tmp}/teacher", f"{tmp}/student"
            started = time.perf_counter()
            model_args = self.teacher.train_into(teacher, train, dev, labels)
            self.teachers[units_key(test)] = (score_model(teacher, test).test, time.perf_counter() - started)
            args = parse_distill(["--teacher", teacher, "--output_dir", student, *self.distill_argv])
            recipe = model_args.context_recipe
            distil(args, with_contexts(train, recipe), with_contexts(dev, recipe), labels)
            return score_model(student, test)


def units_key(units: Sequence[CorpusUnit]) -> str:
    return hashlib.sha1("\x00".join(u["id"] for u in units).encode()).hexdigest()
