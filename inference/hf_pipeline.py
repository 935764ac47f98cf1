"""``pipeline("clausetag", model=DIR)``: clausetag's own decisions as a transformers pipeline task.

``transformers.pipeline("text-classification", model=DIR)`` gives the transformer
member's raw sigmoid scores. This task gives what ``ClauseClassifier`` gives: the
ensemble's scores (the TF-IDF member in ``ngram/`` mixed in), the per-label thresholds
of ``thresholds.json``, the exclusive ``other`` label, the model's input prefix, max
length and context recipe. It is registered with transformers' ``PIPELINE_REGISTRY``
by ``import clausetag`` (``clausetag.transformers_hook``) or by importing this module::

    import clausetag
    from transformers import pipeline

    pipe = pipeline("clausetag", model="models/clausetag-me5-small")
    pipe("We keep invoices for five years.")
    # {'text': ..., 'labels': ['retention'], 'scores': {'controller': 0.01, ...}}
    pipe(["…", {"text": "…", "context": "5. How long do we keep data?"}], batch_size=16)
    pipe(policy_text, document=True, lang="en")  # every unit, in its place

A sentence gives ``dataclasses.asdict`` of ``ClauseClassifier.predict``'s ``Prediction``; a
policy (``document=True``) the list of ``tag_document``'s ``TaggedUnit`` dicts, its units
batched across ``batch_size`` like any chunked pipeline; lists, generators and
``KeyDataset``/``datasets`` inputs stream as pipelines do. The model directory must be a
local folder: the thresholds and the n-gram member are read from it (for a Hub repo, pass
``huggingface_hub.snapshot_download(REPO)``). transformers loads the weights and the
tokenizer itself (``trust_remote_code`` stays off, the classes are clausetag's own); the
folder then goes through ``ModelDir.open``'s checks (``inference.safeload``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.base import ChunkPipeline

from clausetag.errors import ClausetagError, check_text, check_texts, check_threshold
from clausetag.inference.backends import TorchBackend
from clausetag.inference.classifier import ClauseClassifier, Prediction, TaggedUnit
from clausetag.inference.modeldir import ModelDir
from clausetag.inference.scores import sigmoid
from clausetag.io import is_blank
from clausetag.languages import check_lang

TASK = "clausetag"


def _sentence(item: Any) -> tuple[str, object | None, bool]:
    """A sentence input: a string, or a mapping with ``text`` and optionally ``context``."""
    if isinstance(item, dict):
        if "text" not in item:
            raise ClausetagError("a clausetag pipeline input mapping needs a 'text' key")
        unknown = sorted(set(item) - {"text", "context"})
        if unknown:
            raise ClausetagError(f"unknown key(s) in a clausetag pipeline input: {', '.join(unknown)}")
        return item["text"], item.get("context"), "context" in item
    return item, None, False


class ClausetagPipeline(ChunkPipeline):
    """Tags sentences (or a whole policy with ``document=True``) as ``ClauseClassifier`` does.

    ``pipe.classifier`` is the ``ClauseClassifier`` over the same loaded model.
    """

    # transformers' tokenizer only gives the pad id for batches; clausetag's own encodes
    _load_tokenizer = True  # type: ignore[assignment]
    _load_processor = False  # type: ignore[assignment]
    _load_image_processor = False  # type: ignore[assignment]
    _load_feature_extractor = False  # type: ignore[assignment]
    _load_video_processor = False  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        folder = Path(str(getattr(self.model, "name_or_path", "") or ""))
        if not folder.is_dir():
            raise ClausetagError(
                f"pipeline('clausetag') reads the model directory's thresholds.json and ngram/, so "
                f"`model` must be a local folder, not {str(folder)!r}; for a Hub repo pass "
                "huggingface_hub.snapshot_download(REPO)"
            )
        model_dir = ModelDir.open(folder)
        id2label: dict[Any, Any] = dict(self.model.config.id2label or {})
        names = [id2label.get(i, id2label.get(str(i))) for i in range(len(id2label))]
        if names != list(model_dir.labels):
            raise ClausetagError(f"{folder}: the loaded model's labels are not those of config.json")
        backend = TorchBackend.wrap(self.model, str(self.device))
        self.classifier = ClauseClassifier(model_dir, backend, "torch")

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(inputs, list | tuple) and not inputs:
            return []  # transformers reads inputs[0] first
        return super().__call__(inputs, *args, **kwargs)

    def _sanitize_parameters(
        self,
        document: bool | None = None,
        lang: str | None = None,
        threshold: float | None = None,
        **kwargs: Any,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        if kwargs:
            raise ClausetagError(
                f"unknown argument(s) for pipeline('clausetag'): {', '.join(sorted(kwargs))}"
            )
        pre: dict[str, Any] = {}
        post: dict[str, Any] = {}
        if document is not None:
            if not isinstance(document, bool):
                raise ClausetagError(f"document must be True or False, not {document!r}")
            pre["document"] = post["document"] = document
        if lang is not None:
            pre["lang"] = check_lang(lang)
        if threshold is not None:
            post["threshold"] = check_threshold(threshold)
        return pre, {}, post

    # --- one input: its units as model inputs ------------------------------------------------

    def _chunk(
        self, ids: np.ndarray, text: str, context: str | None, unit: Any, last: bool
    ) -> dict[str, Any]:
        row = torch.from_numpy(np.asarray(ids, dtype=np.int64)).unsqueeze(0)
        return {
            "input_ids": row,
            "attention_mask": torch.ones_like(row),
            "text": text,
            "context": context,
            "unit": unit,
            "is_last": last,
        }

    def preprocess(  # type: ignore[override]
        self, inputs: Any, document: bool = False, lang: str | None = None
    ) -> Iterator[dict[str, Any]]:
        clf = self.classifier
        if not document:
            text, context, has_context = _sentence(inputs)
            (text,) = check_texts([text], is_blank)
            rendered = clf.render_contexts([text], [context]) if has_context else None
            (ids,) = clf.tokenizer.encode_ids([text], rendered)
            yield self._chunk(ids, text, rendered[0] if rendered else None, None, True)
            return
        from clausetag.inference.segment import segment_places, unit_place

        units, places = segment_places(check_text(inputs), lang=lang)
        if not units:  # a chunked pipeline needs one chunk per input: this one is dropped
            yield self._chunk(np.array([clf.tokenizer.pad_id]), "", None, None, True)
            return
        texts = [u.text for u in units]
        rendered = clf.render_contexts(texts, [p.context for p in places])
        token_ids = clf.tokenizer.encode_ids(texts, rendered)
        for i, (u, place, ids) in enumerate(zip(units, places, token_ids, strict=True)):
            context = rendered[i] if rendered is not None else None
            yield self._chunk(ids, u.text, context, unit_place(i, u, place), i == len(units) - 1)

    def _forward(self, model_inputs: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        logits = self.model(
            input_ids=model_inputs["input_ids"], attention_mask=model_inputs["attention_mask"]
        ).logits
        return {"logits": logits, **{k: model_inputs[k] for k in ("text", "context", "unit", "is_last")}}

    def postprocess(  # type: ignore[override]
        self, model_outputs: list[dict[str, Any]], document: bool = False, threshold: float | None = None
    ) -> Any:
        clf = self.classifier
        outputs = [o for o in model_outputs if o["text"]]
        if not outputs:
            return []
        logits = np.vstack([o["logits"].float().cpu().numpy() for o in outputs])
        proba = sigmoid(logits.astype(np.float32))
        texts = [o["text"] for o in outputs]
        contexts = [o["context"] for o in outputs]
        rendered = None if all(c is None for c in contexts) else [c or "" for c in contexts]
        if clf.ngram is not None:
            proba = clf.ngram.mix(proba, texts, rendered)
        chosen = clf.decide(proba, threshold)
        records = []
        for o, p, c in zip(outputs, proba, chosen, strict=True):
            labels, scores = clf._names(p, c), clf._scores(p)
            if document:
                records.append(dataclasses.asdict(TaggedUnit(o["text"], labels, scores, **o["unit"])))
            else:
                records.append(dataclasses.asdict(Prediction(o["text"], labels, scores)))
        return records if document else records[0]


def register() -> None:
    """Add the ``clausetag`` task to transformers' ``PIPELINE_REGISTRY`` (idempotent)."""
    current = PIPELINE_REGISTRY.supported_tasks.get(TASK, {})
    if current.get("impl") is ClausetagPipeline:
        return
    PIPELINE_REGISTRY.register_pipeline(
        TASK, pipeline_class=ClausetagPipeline, pt_model=AutoModelForSequenceClassification, type="text"
    )


register()

__all__ = ["TASK", "ClausetagPipeline", "register"]
