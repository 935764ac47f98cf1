"""Loading the pretrained encoder with the classification head ``--pooling`` asks for."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from clausetag.errors import ClausetagError
from clausetag.inference.context import CONFIG_KEY as CONTEXT_KEY
from clausetag.inference.safeload import pretrained
from clausetag.models.encoder import default_encoder_dir, missing_encoder_message
from clausetag.training.args import ClausetagTrainingArguments, ModelArguments


def _model_class_and_config(model_args: ModelArguments, labels: Sequence[str]) -> tuple[Any, Any]:
    """The head class and config for ``--pooling`` (mean pooling: BERT-style encoders only)."""
    name = model_args.model_name_or_path
    config = pretrained(AutoConfig, name)
    common = {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {x: i for i, x in enumerate(labels)},
        "problem_type": "multi_label_classification",
    }
    recipe = model_args.context_recipe
    if recipe.active:  # the contract: every inference path reads the context this way
        common[CONTEXT_KEY] = recipe.to_config()
    if model_args.pooling == "cls":
        for key, value in common.items():
            setattr(config, key, value)
        config.text_prefix = model_args.input_prefix
        return AutoModelForSequenceClassification, config
    from clausetag.models.modeling import (
        MODEL_TYPE,
        BertMeanPoolConfig,
        BertMeanPoolForSequenceClassification,
    )

    if config.model_type not in ("bert", MODEL_TYPE):
        raise ClausetagError(
            f"--pooling mean supports BERT-style encoders (such as multilingual-e5); {name} is a "
            f"{config.model_type!r} model: pass --pooling cls"
        )
    fields = {k: v for k, v in config.to_dict().items() if k not in ("model_type", "architectures", *common)}
    fields["text_prefix"] = model_args.input_prefix
    return BertMeanPoolForSequenceClassification, BertMeanPoolConfig(**fields, **common)


def load_pretrained(
    model_args: ModelArguments, labels: Sequence[str], training_args: ClausetagTrainingArguments | None = None
) -> tuple[Any, Any]:
    """Tokenizer and model (head sized for ``labels``), frozen as the training arguments say (if given)."""
    name = model_args.model_name_or_path
    if not Path(name).exists() and Path(name) == default_encoder_dir():
        raise ClausetagError(missing_encoder_message(name))
    try:
        tokenizer = pretrained(AutoTokenizer, name)
        model_class, config = _model_class_and_config(model_args, labels)
        model = pretrained(model_class, name, config=config)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClausetagError(f"cannot load the pretrained model {name!r}: {first}") from None
    if training_args is not None:
        _freeze(model, training_args)
    return tokenizer, model


def _freeze(model: Any, training_args: ClausetagTrainingArguments) -> None:
    """``--freeze_embeddings``: the input embeddings; ``--freeze_encoder``: all but pooler and head."""
    if training_args.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    if training_args.freeze_encoder:
        prefix = getattr(model, "base_model_prefix", "") + "."
        for name, param in model.named_parameters():
            if name.startswith(prefix) and ".pooler." not in name:
                param.requires_grad_(False)
