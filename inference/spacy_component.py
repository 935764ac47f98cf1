"""The ``clausetag`` spaCy component: a policy's units and labels on a ``Doc``.

    import spacy

    nlp = spacy.blank("lv")  # or "en", or any pipeline
    nlp.add_pipe("clausetag", config={"model": "models/clausetag-me5-small"})
    doc = nlp(policy_text)
    for span, score in zip(doc.spans["clausetag"], doc.spans["clausetag"].attrs["scores"]):
        print(span.label_, round(score, 2), span.text)
    doc.cats  # {"retention": 0.97, "complaint": 0.12, ...}: the best unit's score per label

The factory is registered through the ``spacy_factories`` entry point, so
``add_pipe("clausetag")`` needs no ``import clausetag`` first. What it sets:

- ``doc.spans[spans_key]`` (default ``"clausetag"``), in spancat's convention: one span per
  unit (sentence, heading, list item: clausetag's own segmenter, the model's training units)
  and label the model assigns it, ``label_`` that label; ``.attrs["scores"]`` the score of
  each span's label. A unit with no label over its threshold has no span there.
- ``span._.clausetag`` on each of those spans: the whole unit (``index``, ``kind``,
  ``section``, every label's ``scores``, the chosen ``labels``); ``doc._.clausetag_units``
  lists every unit that way, with its character offsets, labelled or not.
- ``doc.cats``: per label, the highest score of any unit: the document-level view the
  Art. 13 report takes (an item is present when a unit carries its label).
- sentence boundaries at the units' starts, where no earlier component set any
  (``set_sents``), so ``doc.sents`` gives the same units on a blank pipeline.

``nlp.pipe(texts, batch_size=…)`` tags the units of a whole batch of documents in one
``predict`` call. Units are found on ``doc.text``; a unit whose edges fall inside a token
is widened to whole tokens. The thresholds, context recipe and n-gram member are the
model directory's own (``ClauseClassifier``). The model is loaded once per component.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import minibatch

from clausetag.errors import ClausetagError
from clausetag.inference.classifier import ClauseClassifier, Prediction
from clausetag.inference.segment import Segment, segment_places, unit_place
from clausetag.inference.structure import Place
from clausetag.languages import LANGUAGES

SPANS_KEY = "clausetag"

if not Span.has_extension("clausetag"):
    Span.set_extension("clausetag", default=None)
if not Doc.has_extension("clausetag_units"):
    Doc.set_extension("clausetag_units", default=None)


class ClausetagComponent:
    """Tags each unit of a ``Doc`` with a clausetag model (see the module docstring)."""

    def __init__(
        self,
        nlp: Language,
        name: str,
        model: str,
        backend: str = "torch",
        batch_size: int = 32,
        spans_key: str = SPANS_KEY,
        set_sents: bool = True,
    ) -> None:
        if not model:
            raise ClausetagError(
                "the clausetag component needs a model directory: "
                'nlp.add_pipe("clausetag", config={"model": DIR})'
            )
        from clausetag.inference.batch import load_classifier

        self.name = name
        self.clf: ClauseClassifier = load_classifier(str(model), backend)
        self.batch_size = batch_size
        self.spans_key = spans_key
        self.set_sents = set_sents
        #: The segmenter's abbreviation rules for the pipeline's language (both when neither).
        self.lang = nlp.lang if nlp.lang in LANGUAGES else None

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, stream: Iterable[Doc], batch_size: int = 128) -> Iterator[Doc]:
        for docs in minibatch(stream, size=batch_size):
            yield from self._tag(docs)

    def _tag(self, docs: Sequence[Doc]) -> list[Doc]:
        """One ``predict`` over every unit of ``docs``, each unit in its place (its context)."""
        found = [segment_places(doc.text, lang=self.lang) for doc in docs]
        texts = [u.text for units, _ in found for u in units]
        contexts = [p.context for _, places in found for p in places]
        preds = self.clf.predict(texts, self.batch_size, contexts=contexts) if texts else []
        at = 0
        for doc, (units, places) in zip(docs, found, strict=True):
            mine = preds[at : at + len(units)]
            at += len(units)
            self._set(doc, units, places, mine)
        return list(docs)

    def _set(
        self, doc: Doc, units: Sequence[Segment], places: Sequence[Place], preds: Sequence[Prediction]
    ) -> None:
        spans: list[Span] = []
        scores: list[float] = []
        records: list[dict[str, Any]] = []
        starts: list[int] = []
        for i, (unit, place, pred) in enumerate(zip(units, places, preds, strict=True)):
            record = {
                **unit_place(i, unit, place),
                "text": unit.text,
                "labels": list(pred.labels),
                "scores": dict(pred.scores),
            }
            records.append(record)
            span = doc.char_span(unit.start, unit.end, alignment_mode="expand")
            if span is None or not len(span):
                continue
            starts.append(span.start)
            span._.clausetag = record
            for label in pred.labels:
                spans.append(Span(doc, span.start, span.end, label=label))
                scores.append(float(pred.scores[label]))
        doc.spans[self.spans_key] = spans
        doc.spans[self.spans_key].attrs["scores"] = scores
        doc._.clausetag_units = records
        for label in self.clf.labels:
            doc.cats[label] = max((float(p.scores[label]) for p in preds), default=0.0)
        if self.set_sents and starts and not doc.has_annotation("SENT_START"):
            first = set(starts)
            for token in doc:
                token.is_sent_start = token.i in first or token.i == 0


@Language.factory(
    "clausetag",
    default_config={
        "model": "",
        "backend": "torch",
        "batch_size": 32,
        "spans_key": SPANS_KEY,
        "set_sents": True,
    },
    assigns=["doc.spans", "doc.cats", "token.is_sent_start"],
)
def make_clausetag(
    nlp: Language, name: str, model: str, backend: str, batch_size: int, spans_key: str, set_sents: bool
) -> ClausetagComponent:
    """spaCy's factory for ``nlp.add_pipe("clausetag", config={"model": DIR, ...})``."""
    return ClausetagComponent(nlp, name, model, backend, batch_size, spans_key, set_sents)
