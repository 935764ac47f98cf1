"""``clausetag train``: fine-tune a pretrained encoder for multi-label clause tagging.

The run, phase by phase: parse and check the arguments (``training.args``),
load and split the data, load the encoder with its head (``training.pretrained``),
start the head from a linear probe (``training.probe``), fine-tune with the
``Trainer`` (``training.trainer``), choose thresholds and score on dev, then
write the model directory through its one writer (``inference.modeldir``),
model card included (``training.model_card``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, set_seed

from clausetag.data.corpus import CorpusUnit, extend_units, label_matrix, load_units, split_by_document
from clausetag.data.dataset import to_dataset
from clausetag.errors import ClausetagError
from clausetag.inference.context import ContextRecipe, record_contexts
from clausetag.inference.modeldir import ModelDir, ModelDirParts
from clausetag.inference.ngram import NgramMember
from clausetag.labels import resolve_label_set
from clausetag.training.args import Arguments, ClausetagTrainingArguments, DataArguments, parse_args
from clausetag.training.contrastive import contrastive_stage
from clausetag.training.ensemble import fit_ngram_member
from clausetag.training.metrics import full_report
from clausetag.training.model_card import TrainResult, model_card, threshold_method, versions
from clausetag.training.pretrained import load_pretrained
from clausetag.training.probe import init_head_from_probe
from clausetag.training.thresholds import choose_thresholds
from clausetag.training.trainer import (
    MultiLabelTrainer,
    dev_metrics,
    positive_weights,
    predict_proba,
    unit_contexts,
    unit_tokenizer,
)

__all__ = ["Splits", "TrainResult", "load_splits", "main", "run_training", "with_contexts"]

logger = logging.getLogger(__name__)


class Splits(NamedTuple):
    """What one run trains on: the label set, the train and dev units, and optional test units."""

    labels: list[str]
    train: list[CorpusUnit]
    dev: list[CorpusUnit]
    test: list[CorpusUnit] | None = None


# --------------------------------------------------------------------------- phase 1: data


def load_splits(data_args: DataArguments, seed: int) -> Splits:
    """Labels, train, dev and (optional) test units, as the data arguments ask."""
    labels = resolve_label_set(data_args.train_file, data_args.labels)
    units = load_units(data_args.train_file, labels)
    if data_args.extra_train_file:
        units = extend_units(units, data_args.extra_train_file, labels)
    if data_args.dev_file:
        train, dev = units, load_units(data_args.dev_file, labels)
    else:
        splits = split_by_document(
            units, dev_docs=data_args.dev_docs, dev_fraction=data_args.dev_fraction, seed=seed
        )
        train, dev = splits["train"], splits["dev"]
    if data_args.train_languages:
        train = [u for u in train if u["lang"] in data_args.train_languages]
    test = load_units(data_args.test_file, labels) if data_args.test_file else None
    return Splits(labels, train, dev, test)


def _check_splits(train: Sequence[CorpusUnit], dev: Sequence[CorpusUnit]) -> None:
    for name, part in (("train", train), ("dev", dev)):
        if not part:
            raise ClausetagError(f"the {name} split is empty (check --train_languages, --dev_docs, the data)")


# --------------------------------------------------------------------------- phase 2: output folder


def _prepare_output_dir(training_args: ClausetagTrainingArguments) -> Path:
    """Refuse a non-empty output folder unless ``--overwrite`` (or resuming); clear it if asked."""
    out = Path(training_args.output_dir)
    resuming = bool(training_args.resume_from_checkpoint)
    if out.exists() and any(out.iterdir()) and not (training_args.overwrite or resuming):
        raise ClausetagError(f"{out} already exists and is not empty: pass --overwrite to replace it")
    if training_args.overwrite and out.exists() and not resuming and training_args.process_index == 0:
        shutil.rmtree(out)
    return out


# --------------------------------------------------------------------------- phase 3: the Trainer


def with_contexts(units: Sequence[CorpusUnit], recipe: ContextRecipe) -> list[CorpusUnit]:
    """Copies of the units, each with its rendered context (``_context``) by ``recipe``.

    Places are derived within each document, in corpus order (``structure.record_places``),
    exactly as inference derives them from a JSONL file.
    """
    contexts = record_contexts(units, recipe)
    return [{**u, "_context": c} for u, c in zip(units, contexts, strict=True)]


def _encoded(
    units: Sequence[CorpusUnit], labels: Sequence[str], tokenizer: Any, max_length: int, config: Any
) -> Any:
    """Units (with their contexts) as a tokenised ``datasets.Dataset`` with a float multi-hot ``labels``."""
    encoder = unit_tokenizer(tokenizer, max_length, config)
    ids = encoder.encode_ids([u["text"] for u in units], unit_contexts(units))
    ds = to_dataset(units, labels).remove_columns(["id", "doc", "lang", "source", "text", "labels"])
    ds = ds.add_column("input_ids", [t.tolist() for t in ids])
    ds = ds.add_column("attention_mask", [[1] * len(t) for t in ids])
    return ds.rename_column("multi_hot", "labels")


def _build_trainer(
    model: Any,
    tokenizer: Any,
    train: Sequence[CorpusUnit],
    dev: Sequence[CorpusUnit],
    labels: Sequence[str],
    args: Arguments,
) -> MultiLabelTrainer:
    """The head initialised (linear probe unless resuming), then the Trainer around the model."""
    data_args, training_args = args.data, args.training
    y_train = label_matrix(train, labels)
    pos_weight = positive_weights(y_train, training_args.max_pos_weight)
    if training_args.contrastive_pairs and not training_args.resume_from_checkpoint:
        contrastive_stage(
            model,
            tokenizer,
            train,
            y_train,
            training_args.contrastive_pairs,
            data_args.max_length,
            training_args.contrastive_learning_rate,
            training_args.seed,
        )
    if training_args.head_init == "probe" and not training_args.resume_from_checkpoint:
        init_head_from_probe(
            model, tokenizer, train, y_train, pos_weight, training_args.probe_c, data_args.max_length
        )
    patience = training_args.early_stopping_patience
    return MultiLabelTrainer(
        model=model,
        args=training_args,
        train_dataset=_encoded(train, labels, tokenizer, data_args.max_length, model.config),
        eval_dataset=_encoded(dev, labels, tokenizer, data_args.max_length, model.config),
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=dev_metrics(training_args.threshold_policy),
        callbacks=[EarlyStoppingCallback(patience)] if patience > 0 else [],
        pos_weight=pos_weight,
    )


def _fit(trainer: Trainer, training_args: ClausetagTrainingArguments) -> None:
    """Train (or resume). Zero epochs keep the probe head as it is."""
    if training_args.num_train_epochs > 0 or training_args.max_steps > 0:
        trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint or None)
    else:
        logger.info("--num_train_epochs 0: no fine-tuning, the linear-probe head on the frozen encoder")


# --------------------------------------------------------------------------- phase 4: thresholds, scores


def _score(
    trainer: Trainer,
    tokenizer: Any,
    splits: Splits,
    args: Arguments,
) -> tuple[np.ndarray, dict[str, Any], dict[str, Any] | None, NgramMember | None]:
    """The n-gram member (if asked for) weighed on dev, thresholds chosen on dev by
    ``--threshold_policy``; the dev (and test) reports at those thresholds."""
    labels, train, dev, test = splits
    training_args, max_length, seed = args.training, args.data.max_length, args.training.seed
    model = trainer.model
    model.eval()  # type: ignore[union-attr]
    dev_proba = predict_proba(model, tokenizer, dev, max_length)
    ngram = None
    if training_args.ngram_member:
        reads = args.model.context_recipe.active
        ngram, dev_proba = fit_ngram_member(train, dev, labels, dev_proba, seed, context=reads)
    y_dev = label_matrix(dev, labels)
    thresholds = choose_thresholds(training_args.threshold_policy, y_dev, dev_proba)
    dev_report = full_report(y_dev, dev_proba >= thresholds, labels, [u["lang"] for u in dev], bootstrap=200)
    test_report = None
    if test:
        test_proba = predict_proba(model, tokenizer, test, max_length)
        if ngram is not None:
            test_proba = ngram.mix(test_proba, [u["text"] for u in test], unit_contexts(test))
        y_test = label_matrix(test, labels)
        test_report = full_report(y_test, test_proba >= thresholds, labels, [u["lang"] for u in test])
    return thresholds, dev_report, test_report, ngram


# --------------------------------------------------------------------------- phase 5: the model directory


def _parts(
    trainer: Trainer,
    tokenizer: Any,
    result: TrainResult,
    args: Arguments,
    train: Sequence[CorpusUnit],
    dev: Sequence[CorpusUnit],
) -> ModelDirParts:
    """What the model directory holds after a run, for its one writer (``ModelDir.save``)."""
    data_args, model_args, training_args = args
    return ModelDirParts(
        model=trainer.model,  # the best dev epoch's weights (load_best_model_at_end)
        tokenizer=tokenizer,
        labels=result.labels,
        thresholds=result.thresholds,
        max_length=data_args.max_length,
        threshold_method=threshold_method(training_args.threshold_policy, dev),
        support=dict(zip(result.labels, map(int, label_matrix(dev, result.labels).sum(0)), strict=True)),
        training_args={
            "data": dataclasses.asdict(data_args),
            "model": dataclasses.asdict(model_args),
            "training": json.loads(training_args.to_json_string()),
            "versions": versions(),
            "train_seconds": round(result.train_seconds, 1),
            "counts": result.counts,
        },
        metrics={"dev": result.dev_report, "test": result.test_report},
        card=model_card(result, data_args, model_args, training_args, train, dev),
        ngram=result.ngram,
    )


def _carry_over(out: Path, folder: Path, keep_checkpoints: bool) -> None:
    """What the Trainer left in ``out`` besides the model moves along; checkpoints only if kept."""
    if not out.is_dir():
        return
    for entry in out.iterdir():
        if (folder / entry.name).exists():
            continue
        if entry.name.startswith("checkpoint-") and not keep_checkpoints:
            continue
        shutil.move(str(entry), str(folder / entry.name))


def save_model_dir(
    trainer: Trainer,
    tokenizer: Any,
    result: TrainResult,
    args: Arguments,
    train: Sequence[CorpusUnit],
    dev: Sequence[CorpusUnit],
) -> None:
    """The run's model directory at ``output_dir``, through ``ModelDir.save`` (checked, then renamed)."""
    out = result.output_dir
    ModelDir.save(
        out,
        _parts(trainer, tokenizer, result, args, train, dev),
        carry=lambda folder: _carry_over(out, folder, args.training.keep_checkpoints),
    )


def _remove_checkpoints(out: Path) -> None:
    for ckpt in out.glob("checkpoint-*"):
        shutil.rmtree(ckpt, ignore_errors=True)


# --------------------------------------------------------------------------- the run


def run_training(units: Splits, args: Arguments, save: bool = True) -> TrainResult | None:
    """Train on ``units.train``, pick the best epoch and thresholds on ``units.dev``, score
    ``units.test``, save the model directory at ``args.training.output_dir``.

    Returns ``None`` on every process but rank 0 under torchrun: rank 0 alone
    tunes, scores and writes the model directory. The experiments call this
    directly with their own folds.
    """
    started = time.perf_counter()
    _check_splits(units.train, units.dev)
    training_args = args.training
    recipe = args.model.context_recipe
    units = Splits(
        list(units.labels),
        with_contexts(units.train, recipe),
        with_contexts(units.dev, recipe),
        with_contexts(units.test, recipe) if units.test else units.test,
    )
    labels, train, dev, test = units
    out = _prepare_output_dir(training_args)
    set_seed(training_args.seed)  # before the classification head is initialised
    tokenizer, model = load_pretrained(args.model, labels, training_args)
    trainer = _build_trainer(model, tokenizer, train, dev, labels, args)
    _fit(trainer, training_args)
    if not trainer.is_world_process_zero():
        return None
    thresholds, dev_report, test_report, ngram = _score(trainer, tokenizer, units, args)
    result = TrainResult(
        output_dir=out,
        labels=labels,
        thresholds=[float(t) for t in thresholds],
        dev_report=dev_report,
        test_report=test_report,
        train_seconds=time.perf_counter() - started,  # all of it: probe, fine-tuning, n-grams, thresholds
        counts={"train": len(train), "dev": len(dev), "test": len(test or [])},
        ngram=ngram,
    )
    if save:
        save_model_dir(trainer, tokenizer, result, args, train, dev)
    elif not training_args.keep_checkpoints:
        _remove_checkpoints(out)
    return result


def _summary(result: TrainResult) -> str:
    rep = result.dev_report
    per = ", ".join(f"{k} {v['macro_f1']:.3f}" for k, v in sorted(rep["per_language"].items()))
    return (
        f"saved {result.output_dir} in {result.train_seconds / 60:.1f} min — dev macro-F1 "
        f"{rep['macro_f1']:.3f} ({per}), micro-F1 {rep['micro_f1']:.3f}"
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    result = run_training(load_splits(args.data, args.training.seed), args)
    if result is not None:
        print(_summary(result), file=sys.stderr)
    return 0
