"""``ClauseClassifier``: the object embedding tools and batch scripts use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clausetag.errors import ClausetagError, check_batch_size, check_text, check_texts, check_threshold
from clausetag.inference.backends import Backend, make_backend
from clausetag.inference.modeldir import ModelDir
from clausetag.inference.ngram import NgramMember
from clausetag.inference.tokenize import BatchTokenizer
from clausetag.io import is_blank
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


def _one_line(exc: BaseException) -> str:
    """A library exception as one line: its type and its message with whitespace collapsed."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _load_failure(model_dir: ModelDir, exc: Exception) -> str:
    """What a library's load error means here, in one line."""
    if "mismatched_sizes" in str(exc):  # transformers: "… look at the above report", never shown
        return (
            f"{model_dir.path}: the weights in model.safetensors do not fit config.json "
            f"(a layer has another shape: were the {len(model_dir.labels)} labels of config.json "
            "changed after training?)"
        )
    return f"{model_dir.path}: cannot load the model ({_one_line(exc)})"


def _positions(config: dict) -> int | None:
    """How many token positions the encoder has (RoBERTa-style models reserve padding_idx + 1)."""
    n = config.get("max_position_embeddings")
    if not isinstance(n, int) or isinstance(n, bool):
        return None
    if config.get("model_type") in ("roberta", "xlm-roberta", "camembert"):
        n -= int(config.get("pad_token_id") or 0) + 1
    return n


def _check_fits(clf: ClauseClassifier) -> None:
    """Refuse at load what would fail mid-run: too long inputs, an output of another width."""
    md = clf.model_dir
    positions = _positions(md.config)
    if positions is not None and md.max_length > positions:
        raise ClausetagError(
            f"{md.path}: max_length {md.max_length} in thresholds.json is more than the model's "
            f"{positions} token positions (config.json); lower it to at most {positions}"
        )
    session = getattr(clf.backend, "session", None)
    outputs = {o.name: o.shape for o in session.get_outputs()} if session is not None else {}
    width = (outputs.get("logits") or [None])[-1]
    if isinstance(width, int) and width != len(clf.labels):
        raise ClausetagError(
            f"{clf.model_dir.path}: the ONNX model gives {width} scores per text but config.json "
            f"names {len(clf.labels)} labels; export it again with `clausetag export-onnx`"
        )


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
        self.tokenizer = BatchTokenizer(
            model_dir.path / "tokenizer.json", model_dir.max_length, model_dir.text_prefix
        )
        #: The TF-IDF member of an ensemble model (``ngram/``), mixed into every score; or None.
        self.ngram = NgramMember.load(model_dir.path, self.labels)

    @classmethod
    def from_pretrained(cls, path: str | Path, backend: str = "torch") -> ClauseClassifier:
        """Load a model directory written by ``clausetag train``.

        ``backend``: ``"torch"`` (safetensors), ``"onnx"`` or ``"onnx-int8"``
        (after ``clausetag export-onnx``).
        """
        try:
            model_dir = ModelDir.open(path)
        except (AttributeError, TypeError, ValueError, OverflowError) as exc:  # a wrongly typed JSON field
            raise ClausetagError(f"{path}: malformed model directory ({_one_line(exc)})") from None
        try:
            clf = cls(model_dir, make_backend(model_dir, backend), backend)
        except (ClausetagError, ImportError):
            raise
        except Exception as exc:  # a corrupt tokenizer.json or model.onnx: the libraries' own types
            raise ClausetagError(_load_failure(model_dir, exc)) from None
        _check_fits(clf)
        return clf

    def predict_proba(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Scores in ``[0, 1]``, shape ``(len(texts), len(self.labels))``, label order of ``self.labels``."""
        texts = check_texts(texts, is_blank)
        batch_size = check_batch_size(batch_size)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if not texts:
            return out
        # Longest first, in batches of similar length: little padding, and the
        # slowest batch shows up early in the progress bar's estimate.
        token_ids = self.tokenizer.encode_ids(texts)  # once: used for the order and the batches
        order = np.argsort([-len(t) for t in token_ids], kind="stable")
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="tagging", unit="batch", leave=False)
        for idx in batches:
            logits = self.backend.logits(self.tokenizer.pad([token_ids[i] for i in idx]))
            out[idx] = sigmoid(logits)
        return self.ngram.mix(out, texts) if self.ngram is not None else out

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
        texts = check_texts(texts, is_blank)  # a generator is read once, here
        threshold = check_threshold(threshold)
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

        text = check_text(text)
        threshold = check_threshold(threshold)
        batch_size = check_batch_size(batch_size)
        if lang is not None and not isinstance(lang, str):
            raise ClausetagError(f"lang must be 'en', 'lv' or None, not {lang!r}")
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
