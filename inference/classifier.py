"""``ClauseClassifier``: the object embedding tools and batch scripts use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clausetag.errors import ClausetagError
from clausetag.inference.backends import Backend, make_backend
from clausetag.inference.modeldir import ModelDir
from clausetag.inference.tokenize import BatchTokenizer
from clausetag.labels import EXCLUSIVE_LABEL


@dataclass
class Prediction:
    """Labels over threshold (highest score first) and a score for every label."""

    text: str
    labels: list[str]
    scores: dict[str, float]


@dataclass
class TaggedUnit(Prediction):
    """A segmented unit of a document with its character span."""

    index: int = 0
    start: int = 0
    end: int = 0
    kind: str = field(default="sentence")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class ClauseClassifier:
    """A trained clausetag model directory, ready to tag text.

    >>> clf = ClauseClassifier.from_pretrained("models/clausetag-me5-small")
    >>> clf.predict(["We keep invoices for 5 years."])[0].labels
    ['retention']
    """

    def __init__(self, model_dir: ModelDir, backend: Backend, backend_name: str) -> None:
        self.model_dir = model_dir
        self.labels: list[str] = list(model_dir.labels)
        self.thresholds = np.asarray(model_dir.thresholds, dtype=np.float32)
        self.backend = backend
        self.backend_name = backend_name
        self.tokenizer = BatchTokenizer(model_dir.path / "tokenizer.json", model_dir.max_length)

    @classmethod
    def from_pretrained(cls, path: str | Path, backend: str = "torch") -> ClauseClassifier:
        """Load a model directory written by ``clausetag train``.

        ``backend``: ``"torch"`` (safetensors), ``"onnx"`` or ``"onnx-int8"``
        (after ``clausetag export-onnx``).
        """
        model_dir = ModelDir.open(path)
        return cls(model_dir, make_backend(model_dir, backend), backend)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Scores in ``[0, 1]``, shape ``(len(texts), len(self.labels))``, label order of ``self.labels``."""
        if isinstance(texts, str):
            raise ClausetagError("predict expects a list of texts, not a single string")
        texts = list(texts)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise ClausetagError(f"texts must be strings (item {bad[0]} is {type(texts[bad[0]]).__name__})")
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if not texts:
            return out
        # Longest first, in batches of similar length: little padding, and the
        # slowest batch shows up early in the progress bar's estimate.
        encodings = self.tokenizer.encode(texts)  # once: used for the order and the batches
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="tagging", unit="batch", leave=False)
        for idx in batches:
            logits = self.backend.logits(self.tokenizer.pad([encodings[i] for i in idx]))
            out[idx] = sigmoid(logits)
        return out

    def decide(self, proba: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """Boolean label matrix: saved per-label thresholds unless one is given.

        The catch-all label is exclusive (spec rule 3): it is dropped from any row
        where another label passes its threshold.
        """
        cut = self.thresholds if threshold is None else np.float32(threshold)
        chosen = np.asarray(proba >= cut)
        if EXCLUSIVE_LABEL in self.labels and len(self.labels) > 1:
            j = self.labels.index(EXCLUSIVE_LABEL)
            others = np.delete(chosen, j, axis=-1).any(axis=-1)
            chosen[..., j] &= ~others
        return chosen

    def predict(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        threshold: float | None = None,
        progress: bool = False,
    ) -> list[Prediction]:
        proba = self.predict_proba(texts, batch_size=batch_size, progress=progress)
        chosen = self.decide(proba, threshold)
        return [
            Prediction(text=t, labels=self._names(p, c), scores=self._scores(p))
            for t, p, c in zip(texts, proba, chosen, strict=True)
        ]

    def tag_document(
        self,
        text: str,
        lang: str | None = None,
        batch_size: int = 32,
        threshold: float | None = None,
    ) -> list[TaggedUnit]:
        """Segment a policy into units (sentences, headings, list items) and tag each."""
        from clausetag.inference.segment import segment

        units = segment(text, lang=lang)
        proba = self.predict_proba([u.text for u in units], batch_size=batch_size)
        chosen = self.decide(proba, threshold)
        return [
            TaggedUnit(
                text=u.text,
                labels=self._names(p, c),
                scores=self._scores(p),
                index=i,
                start=u.start,
                end=u.end,
                kind=u.kind,
            )
            for i, (u, p, c) in enumerate(zip(units, proba, chosen, strict=True))
        ]

    def _names(self, proba: np.ndarray, chosen: np.ndarray) -> list[str]:
        picked = [i for i in np.argsort(-proba) if chosen[i]]
        return [self.labels[i] for i in picked]

    def _scores(self, proba: np.ndarray) -> dict[str, float]:
        return {name: round(float(s), 4) for name, s in zip(self.labels, proba, strict=True)}
