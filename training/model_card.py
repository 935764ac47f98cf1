"""The model card (``README.md`` of a model directory): a template filled from the training run."""

from __future__ import annotations

import os
import platform
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import clausetag
from clausetag.data.corpus import CorpusUnit
from clausetag.inference import card as cards
from clausetag.inference.ngram import NgramMember
from clausetag.models.encoder import base_model_id
from clausetag.training.args import ClausetagTrainingArguments, DataArguments, ModelArguments

#: The body before clausetag's generated sections; the YAML header is ``inference.card``'s.
TEMPLATE = """\
# clausetag model: {name}

Multi-label GDPR clause tagger for privacy-policy units ({language_list}), fine-tuned from \
`{base_model}` with clausetag {version}. Load it with \
`clausetag.inference.ClauseClassifier.from_pretrained(dir)` or, after `import clausetag`, \
`transformers.pipeline("clausetag", model=dir)`: both apply the thresholds saved in \
`thresholds.json` and the n-gram member in `ngram/`, if any; \
`transformers.pipeline("text-classification", model=dir, top_k=None)` gives the \
transformer's raw sigmoid scores.

## Results

{results}## Labels and thresholds

| label | threshold | dev F1 | dev support |
|---|---:|---:|---:|
{label_rows}

## Training

- data: `{train_file}` — {n_train} train units, {n_dev} dev units (dev documents: {dev_docs}; \
translations stay with their originals)
{extra}- thresholds: {threshold_policy} on the dev units (the table above gives each label's dev support)
- pooling: {pooling}; input prefix: {prefix!r}
- ensemble: {ensemble}
- loss: {loss}; head init: {head_init}; embeddings frozen: {freeze_embeddings}; max length: {max_length}
- epochs: {epochs}, lr {lr}, batch {batch}, seed {seed}; layer-wise lr decay: {llrd}; \
contrastive stage: {contrastive}
- wall time: {minutes:.1f} min on {cpus} CPU cores
- versions: {versions}
"""

RESULTS_TEMPLATE = """\
### {split} ({n} units){note}

| language | units | macro-F1 | micro-F1 | exact match |
|---|---:|---:|---:|---:|
{rows}

"""

DEV_NOTE = (
    " — thresholds were tuned on this split, so these figures are optimistic; see the project "
    "README for leave-one-document-out results"
)


@dataclass
class TrainResult:
    """What a finished training run produced (rank 0 only)."""

    output_dir: Path
    labels: list[str]
    thresholds: list[float]
    dev_report: dict[str, Any]
    test_report: dict[str, Any] | None
    train_seconds: float
    counts: dict[str, int]
    ngram: NgramMember | None = None  # the TF-IDF member of an ensemble, saved in ngram/


def versions() -> dict[str, str]:
    """The versions a model was trained with (model card and ``training_args.json``)."""
    import datasets
    import sklearn
    import torch
    import transformers

    return {
        "clausetag": clausetag.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
        "scikit-learn": sklearn.__version__,
    }


def _results(name: str, report: dict[str, Any] | None) -> str:
    if not report:
        return ""
    rows = [("all", report), *sorted(report["per_language"].items())]
    lines = [
        f"| {lang} | {r['n']} | {r['macro_f1']:.3f} | {r['micro_f1']:.3f} | {r['exact_match']:.3f} |"
        for lang, r in rows
    ]
    note = DEV_NOTE if name == "dev" else ""
    return RESULTS_TEMPLATE.format(split=name, n=report["n"], note=note, rows="\n".join(lines))


def _ensemble(result: TrainResult) -> str:
    if result.ngram is None:
        return "none (the transformer's scores alone)"
    w = result.ngram.weight
    return (
        f"scores = {1 - w:.1f} × transformer + {w:.1f} × TF-IDF member (`ngram/`: word 1–2-grams and "
        "character 2–5-grams, one logistic regression per label; weight chosen on dev). "
        '`transformers.pipeline("text-classification")` gives the transformer\'s scores alone'
    )


def _label_rows(result: TrainResult) -> str:
    rows = []
    for name, th in zip(result.labels, result.thresholds, strict=True):
        pl = result.dev_report["per_label"][name]
        rows.append(f"| {name} | {th:.3f} | {pl['f1']:.3f} | {pl['support']} |")
    return "\n".join(rows)


def _extra_files(data_args: DataArguments, train: Sequence[CorpusUnit], dev: Sequence[CorpusUnit]) -> str:
    """The ``--extra_train_file`` line: each file with its units and documents in train and dev."""
    if not data_args.extra_train_file:
        return ""
    parts = []
    for name in data_args.extra_train_file:
        n_train = sum(u.get("_extra") == name for u in train)
        n_dev = sum(u.get("_extra") == name for u in dev)
        docs = {u["doc"] for u in [*train, *dev] if u.get("_extra") == name}
        parts.append(f"`{name}` ({n_train} train, {n_dev} dev units from {len(docs)} documents)")
    return f"- extra data, added to the above (its counts include them): {'; '.join(parts)}\n"


def model_card(
    result: TrainResult,
    data_args: DataArguments,
    model_args: ModelArguments,
    training_args: ClausetagTrainingArguments,
    train: Sequence[CorpusUnit],
    dev: Sequence[CorpusUnit],
) -> str:
    """A Hugging Face model card: metadata header, per-language results, how it was made, and
    clausetag's sections (labels, decisions, use, training data and licences, limits:
    ``inference.card``; ``clausetag push-to-hub --lodo`` adds the LODO ``model-index``)."""
    langs = sorted({u["lang"] for u in [*train, *dev]})
    results = _results("dev", result.dev_report) + _results("test", result.test_report)
    facts = _facts(result, data_args, model_args, training_args.threshold_policy, langs, dev, train)
    body = TEMPLATE.format(
        base_model=facts.base_model,
        name=Path(result.output_dir).name,
        language_list=", ".join(langs),
        version=clausetag.__version__,
        results=results,
        label_rows=_label_rows(result),
        train_file=data_args.train_file,
        extra=_extra_files(data_args, train, dev),
        n_train=len(train),
        n_dev=len(dev),
        dev_docs=", ".join(sorted({u["doc"] for u in dev})),
        threshold_policy=training_args.threshold_policy,
        pooling=model_args.pooling,
        ensemble=_ensemble(result),
        prefix=model_args.input_prefix,
        loss=training_args.loss,
        head_init=training_args.head_init,
        freeze_embeddings=training_args.freeze_embeddings,
        max_length=data_args.max_length,
        epochs=training_args.num_train_epochs,
        llrd=training_args.layerwise_lr_decay if training_args.layerwise_lr_decay < 1 else "off",
        contrastive=f"{training_args.contrastive_pairs} pairs, lr {training_args.contrastive_learning_rate}"
        if training_args.contrastive_pairs
        else "off",
        lr=training_args.learning_rate,
        batch=training_args.per_device_train_batch_size,
        seed=training_args.seed,
        minutes=result.train_seconds / 60,
        cpus=os.cpu_count(),
        versions=", ".join(f"{k} {v}" for k, v in versions().items()),
    )
    return cards.header_text(cards.metadata(facts)) + "\n" + body + "\n" + cards.generated_block(facts)


def threshold_method(policy: str, dev: Sequence[CorpusUnit]) -> str:
    """How a model's thresholds were chosen, as thresholds.json and the card say it."""
    return f"{policy} on dev ({len(dev)} units, documents: {', '.join(sorted({u['doc'] for u in dev}))})"


def _facts(
    result: TrainResult,
    data_args: DataArguments,
    model_args: ModelArguments,
    policy: str,
    langs: list[str],
    dev: Sequence[CorpusUnit],
    train: Sequence[CorpusUnit],
) -> cards.CardFacts:
    """What the card's generated sections say, from the training run itself."""
    recipe = model_args.context_recipe
    context = (
        f"{recipe.reads} (at most {recipe.max_tokens} tokens, section path depth {recipe.path_depth})"
        if recipe.active
        else "none"
    )
    return cards.CardFacts(
        name=Path(result.output_dir).name,
        languages=langs,
        labels=list(result.labels),
        thresholds=[float(t) for t in result.thresholds],
        threshold_method=threshold_method(policy, dev),
        base_model=base_model_id(model_args.model_name_or_path),
        prefix=model_args.input_prefix,
        pooling=model_args.pooling,
        max_length=data_args.max_length,
        context=context,
        ngram_weight=result.ngram.weight if result.ngram is not None else None,
        bundled_corpus=cards.is_bundled_corpus(data_args.train_file),
        train_file=str(data_args.train_file or ""),
        sources=dict(Counter(str(u.get("source", "seed")) for u in [*train, *dev] if not u.get("_extra"))),
        extra_files=[str(x) for x in getattr(data_args, "extra_train_file", None) or []],
    )
