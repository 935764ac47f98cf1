"""``ClauseClassifier``: the object embedding tools and batch scripts use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clausetag.errors import ClausetagError, check_batch_size, check_text, check_texts, check_threshold
from clausetag.inference.backends import Backend, make_backend
from clausetag.inference.context import ContextRecipe, as_context
from clausetag.inference.modeldir import ModelDir
from clausetag.inference.ngram import NgramMember
from clausetag.inference.scores import sigmoid
from clausetag.io import is_blank
from clausetag.labels import EXCLUSIVE_LABEL
from clausetag.languages import check_lang


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
    #: The headings above the unit, nearest last (``inference.structure``).
    section: list[str] = field(default_factory=list)


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


def _check_fits(clf: ClauseClassifier) -> None:
    """Refuse at load what would fail mid-run: an output of another width (``ModelDir.open`` and
    ``batch_tokenizer`` check max_length and the vocabulary: ``inference.safeload``)."""
    session = getattr(clf.backend, "session", None)
    outputs = {o.name: o.shape for o in session.get_outputs()} if session is not None else {}
    width = (outputs.get("logits") or [None])[-1]
    if isinstance(width, int) and width != len(clf.labels):
        raise ClausetagError(
            f"{clf.model_dir.path}: the ONNX model gives {width} scores per text but config.json "
            f"names {len(clf.labels)} labels; export it again with `clausetag export-onnx`"
        )


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
        #: What the model reads besides each unit (``inference.context``): its own training recipe.
        self.context: ContextRecipe = model_dir.context
        self.tokenizer = model_dir.batch_tokenizer()
        #: The TF-IDF member of an ensemble model (``ngram/``), mixed into every score; or None.
        self.ngram = NgramMember.load(model_dir.path, self.labels)

    @classmethod
    def from_pretrained(
        cls, path: str | Path, backend: str = "torch", threads: int | None = None
    ) -> ClauseClassifier:
        """Load a model directory written by ``clausetag train``.

        ``backend``: ``"torch"`` (safetensors), ``"onnx"`` or ``"onnx-int8"``
        (after ``clausetag export-onnx``); ``threads``: at most that many compute
        threads for an ONNX session (one process of several on a machine).
        """
        try:
            model_dir = ModelDir.open(path)
        except (AttributeError, TypeError, ValueError, OverflowError) as exc:  # a wrongly typed JSON field
            raise ClausetagError(f"{path}: malformed model directory ({_one_line(exc)})") from None
        try:
            clf = cls(model_dir, make_backend(model_dir, backend, threads), backend)
        except (ClausetagError, ImportError):
            raise
        except Exception as exc:  # a corrupt tokenizer.json or model.onnx: the libraries' own types
            raise ClausetagError(_load_failure(model_dir, exc)) from None
        _check_fits(clf)
        return clf

    def save_pretrained(self, path: str | Path, overwrite: bool = False) -> None:
        """Write this classifier's model directory to ``path`` (``ModelDir.save_as``: checked, atomic).

        The copy is the whole directory it was loaded from (weights, tokenizer,
        thresholds, context recipe, n-gram member, exports), so ``from_pretrained(path)``
        gives the same decisions. An existing ``path`` is replaced only with ``overwrite``.
        """
        target = Path(path)
        if target.exists() and not overwrite:
            raise ClausetagError(f"{target} exists; choose another path or pass overwrite=True")
        self.model_dir.save_as(target)

    def render_contexts(self, texts: Sequence[str], contexts: Sequence[object] | None) -> list[str] | None:
        """The second segment of each unit by the model's recipe (None: the model reads none).

        ``contexts``: one per text, each a ``structure.Context``, a heading string, a mapping
        ``{"section": [...], "previous": "..."}`` or None (no context for that text).
        """
        if not self.context.active or contexts is None:
            return None
        if isinstance(contexts, str | bytes) or len(contexts) != len(texts):
            raise ClausetagError("contexts must be a list with one context per text")
        try:
            return [self.context.render(as_context(c)) for c in contexts]
        except ValueError as exc:
            raise ClausetagError(str(exc)) from None

    def predict_proba(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        progress: bool = False,
        contexts: Sequence[object] | None = None,
    ) -> np.ndarray:
        """Scores in ``[0, 1]``, shape ``(len(texts), len(self.labels))``, label order of ``self.labels``.

        ``contexts`` (optional, one per text): where each text stands in its policy, for a
        model trained to read it (``self.context``); ignored by a model that reads none.
        """
        texts = check_texts(texts, is_blank)
        batch_size = check_batch_size(batch_size)
        rendered = self.render_contexts(texts, contexts)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if not texts:
            return out
        # Longest first, in batches of similar length: little padding, and the
        # slowest batch shows up early in the progress bar's estimate.
        token_ids = self.tokenizer.encode_ids(texts, rendered)  # once: for the order and the batches
        order = np.argsort([-len(t) for t in token_ids], kind="stable")
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="tagging", unit="batch", leave=False)
        for idx in batches:
            logits = self.backend.logits(self.tokenizer.pad([token_ids[i] for i in idx]))
            out[idx] = sigmoid(logits)
        return self.ngram.mix(out, texts, rendered) if self.ngram is not None else out

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
        contexts: Sequence[object] | None = None,
    ) -> list[Prediction]:
        """Labels and scores of each text; ``contexts`` as for ``predict_proba``."""
        texts = check_texts(texts, is_blank)  # a generator is read once, here
        threshold = check_threshold(threshold)
        proba = self.predict_proba(texts, batch_size=batch_size, progress=progress, contexts=contexts)
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
        """Segment a policy into units (sentences, headings, list items) and tag each in its place.

        Each unit's kind and section path come from ``inference.structure``; a model trained
        with context reads them.
        """
        from clausetag.inference.segment import segment_places

        text = check_text(text)
        threshold = check_threshold(threshold)
        batch_size = check_batch_size(batch_size)
        lang = check_lang(lang)  # the CLI's --lang choices, the corpus's lang values
        units, places = segment_places(text, lang=lang)
        proba = self.predict_proba(
            [u.text for u in units], batch_size=batch_size, contexts=[p.context for p in places]
        )
        chosen = self.decide(proba, threshold)
        return [
            TaggedUnit(
                text=u.text,
                labels=self._names(p, c),
                scores=self._scores(p),
                index=i,
                start=u.start,
                end=u.end,
                kind=place.kind,
                section=list(place.section),
            )
            for i, (u, place, p, c) in enumerate(zip(units, places, proba, chosen, strict=True))
        ]

    def _names(self, proba: np.ndarray, chosen: np.ndarray) -> list[str]:
        picked = [i for i in np.argsort(-proba) if chosen[i]]
        return [self.labels[i] for i in picked]

    def _scores(self, proba: np.ndarray) -> dict[str, float]:
        return {name: round(float(s), 4) for name, s in zip(self.labels, proba, strict=True)}
