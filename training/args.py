"""The arguments of ``clausetag train``: data, model and training loop, checked however given.

``HfArgumentParser`` turns them into flags, or reads one JSON/YAML file into
them. Choices are ``Literal`` types (argparse choices on the command line) and
every dataclass checks its values in ``__post_init__``, so a config file is
refused with one message before any data or model is loaded. The defaults a
recipe change touches are named constants here: changing one is a one-line edit.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, NamedTuple, NoReturn, get_args

import torch
from transformers import HfArgumentParser, TrainingArguments

from clausetag.data.corpus import DEFAULT_CORPUS_DIR
from clausetag.errors import ClausetagError
from clausetag.inference.context import MAX_CONTEXT_TOKENS, ContextRecipe
from clausetag.io import check_folder_output, read_text
from clausetag.models.e5 import E5_PREFIX
from clausetag.models.encoder import default_encoder_dir
from clausetag.training.thresholds import DEFAULT_POLICY, TRAIN_POLICIES

Loss = Literal["weighted_bce", "bce", "focal"]
HeadInit = Literal["probe", "random"]
Pooling = Literal["mean", "cls"]
ContextReads = Literal["none", "heading", "heading+previous"]
ThresholdPolicy = Literal["flat", "tuned", "shrunk", "min-support", "global", "calibrated"]
LOSSES: tuple[str, ...] = get_args(Loss)
HEAD_INITS: tuple[str, ...] = get_args(HeadInit)
POOLINGS: tuple[str, ...] = get_args(Pooling)

# The recipe's defaults, one line each.
DEFAULT_OUTPUT_DIR = "models/clausetag-me5-small"
DEFAULT_POOLING: Pooling = "mean"
#: Each unit read with its section path and the unit before it, the context capped at 12 tokens: ahead
#: of reading units alone beyond noise in both languages on all five folds (docs/context.md), at
#: 1.48x the per-unit work of no context (24 tokens cost 1.82x, over the 1.5x budget).
DEFAULT_CONTEXT: ContextReads = "heading+previous"
DEFAULT_CONTEXT_MAX_TOKENS = 12
DEFAULT_HEAD_INIT: HeadInit = "probe"
DEFAULT_LOSS: Loss = "weighted_bce"
DEFAULT_THRESHOLD_POLICY: ThresholdPolicy = DEFAULT_POLICY
#: One epoch at 96 tokens, in an ensemble with the TF-IDF member: the best recipe of the recipe
#: study on the folds where fine-tuning was measured (README); --num_train_epochs 0 keeps the
#: linear-probe head on the frozen encoder (the best recipe on all five folds without fine-tuning).
DEFAULT_EPOCHS = 1.0
#: Tokens per unit in training; the model directory records it and inference repeats it.
DEFAULT_MAX_LENGTH = 96
DEFAULT_LEARNING_RATE = 1e-4
DEFAULT_TRAIN_BATCH_SIZE = 16
DEFAULT_EVAL_BATCH_SIZE = 64
DEFAULT_EARLY_STOPPING_PATIENCE = 2
#: The ensemble with a TF-IDF member (measured by `clausetag experiment recipes`).
DEFAULT_NGRAM_MEMBER = True


def _refuse(name: str, message: str) -> NoReturn:
    raise ClausetagError(f"--{name} {message}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _refuse(name, f"must be one of {', '.join(choices)}, not {value!r}")


def _check_positive(name: str, value: Any, strict: bool = True) -> None:
    """A finite number above 0 (``strict``) or at least 0; NaN, infinity, booleans and strings refused."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (strict and value == 0):
        _refuse(name, f"must be a finite number {'above' if strict else 'of at least'} 0, not {value!r}")


def _check_whole(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _refuse(name, f"must be a whole number of at least {minimum}, not {value!r}")


@dataclass
class DataArguments:
    train_file: str = field(
        default=str(DEFAULT_CORPUS_DIR),
        metadata={"help": "Corpus directory or JSONL with text, lang, labels (default: bundled corpus)."},
    )
    extra_train_file: list[str] | None = field(
        default=None,
        metadata={
            "help": "More corpus-format units (a JSONL or folder, e.g. from `clausetag data import`) added "
            "to --train_file instead of replacing it; repeatable. Documents stay whole in the splits.",
            "action": "extend",
        },
    )
    dev_file: str | None = field(
        default=None,
        metadata={"help": "JSONL for dev (early stopping, thresholds). Default: hold out documents."},
    )
    test_file: str | None = field(default=None, metadata={"help": "Optional JSONL scored at the end."})
    dev_docs: list[str] | None = field(
        default=None, metadata={"help": "Documents held out for dev (default: drawn with --seed)."}
    )
    dev_fraction: float = field(default=0.2, metadata={"help": "Share of documents held out for dev."})
    train_languages: list[str] | None = field(
        default=None,
        metadata={"help": "Train only on these languages (e.g. en) — cross-lingual runs."},
    )
    labels: str | None = field(
        default=None,
        metadata={
            "help": "Label list file (JSON array or one per line). Default: labels.json beside "
            "the data, else the spec's 17 labels."
        },
    )
    max_length: int = field(
        default=DEFAULT_MAX_LENGTH, metadata={"help": "Max tokens per unit (longer are truncated)."}
    )

    def __post_init__(self) -> None:
        if not isinstance(self.dev_fraction, int | float) or not 0.0 < self.dev_fraction < 1.0:
            _refuse("dev_fraction", f"must be between 0 and 1, not {self.dev_fraction!r}")
        _check_whole("max_length", self.max_length, 1)
        if self.extra_train_file is not None:
            self.extra_train_file = _check_extra_files(self.extra_train_file, self.train_file)


def _check_extra_files(files: Any, train_file: str) -> list[str]:
    """``--extra_train_file``: existing files or folders, none given twice, none the train file."""
    files = [files] if isinstance(files, str) else files
    if not isinstance(files, list) or not all(isinstance(f, str) and f.strip() for f in files):
        _refuse("extra_train_file", f"must name files, not {files!r}")
    seen = {os.path.realpath(train_file): "--train_file"}
    for f in files:
        if not Path(f).exists():
            _refuse("extra_train_file", f"{f}: no such file or directory")
        key = os.path.realpath(f)
        if key in seen:
            _refuse("extra_train_file", f"{f}: given twice (also {seen[key]})")
        seen[key] = f
    return list(files)


@dataclass
class ModelArguments:
    """What identifies the model and every recipe inference repeats (encoder, pooling, prefix, context).

    Everything about how it is trained is in ``ClausetagTrainingArguments``.
    """

    model_name_or_path: str = field(
        default_factory=lambda: str(default_encoder_dir()),
        metadata={
            "help": "Pretrained encoder: local folder or hub id (default: $CLAUSETAG_ENCODER, else "
            "the offline-built multilingual-e5-small; `clausetag encoder build`)."
        },
    )
    pooling: Pooling = field(
        default=DEFAULT_POOLING,
        metadata={
            "help": "mean: the head reads the masked mean of the last layer (E5's own sentence "
            "embedding; BERT-style encoders); cls: the [CLS] vector (transformers' standard head)."
        },
    )
    text_prefix: str | None = field(
        default=None,
        metadata={
            "help": "String put before every input, saved in config.json and applied at inference "
            "(default: E5's 'query: ' with mean pooling, none with cls)."
        },
    )
    context: ContextReads = field(
        default=DEFAULT_CONTEXT,
        metadata={
            "help": "What the model reads besides each unit, as the second segment: none; heading "
            "(its section path: the nearest headings, and the lead-in of the list it is in); "
            "heading+previous (that, then the unit before it). Recorded in config.json and applied "
            "by every inference path."
        },
    )
    context_max_tokens: int = field(
        default=DEFAULT_CONTEXT_MAX_TOKENS,
        metadata={"help": "Tokens of context at most (truncation cuts the context, never the unit first)."},
    )

    def __post_init__(self) -> None:
        _check_choice("pooling", self.pooling, POOLINGS)
        _check_choice("context", self.context, get_args(ContextReads))
        _check_whole("context_max_tokens", self.context_max_tokens, 1)
        if self.context_max_tokens > MAX_CONTEXT_TOKENS:
            _refuse(
                "context_max_tokens", f"must be at most {MAX_CONTEXT_TOKENS}, not {self.context_max_tokens}"
            )

    @property
    def context_recipe(self) -> ContextRecipe:
        """The context recipe the model is trained with (and records for inference)."""
        return ContextRecipe(self.context, self.context_max_tokens)

    @property
    def input_prefix(self) -> str:
        """The string put before every text: ``--text_prefix``, else E5's with mean pooling."""
        if self.text_prefix is not None:
            return self.text_prefix
        return E5_PREFIX if self.pooling == "mean" else ""


@dataclass
class ClausetagTrainingArguments(TrainingArguments):
    """Every setting of the training loop: transformers' TrainingArguments with defaults that suit a
    small encoder on a CPU (flags keep transformers' names), and clausetag's own (loss, head,
    freezing, learning-rate multipliers, contrastive stage, thresholds, ensemble, early stopping,
    overwrite). ``MultiLabelTrainer`` reads its settings from ``self.args``."""

    output_dir: str = field(
        default=DEFAULT_OUTPUT_DIR,
        metadata={"help": "The model directory to write.", "aliases": ["-o", "--output"]},
    )
    num_train_epochs: float = field(default=DEFAULT_EPOCHS, metadata={"help": "Epochs."})
    learning_rate: float = field(
        default=DEFAULT_LEARNING_RATE, metadata={"help": "Peak learning rate of the encoder (AdamW)."}
    )
    per_device_train_batch_size: int = field(
        default=DEFAULT_TRAIN_BATCH_SIZE, metadata={"help": "Train batch size."}
    )
    per_device_eval_batch_size: int = field(
        default=DEFAULT_EVAL_BATCH_SIZE, metadata={"help": "Eval batch size."}
    )
    warmup_steps: float = field(default=0.1, metadata={"help": "Warm-up steps, or a ratio if < 1."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    eval_strategy: str = field(default="epoch", metadata={"help": "When to evaluate on dev."})
    save_strategy: str = field(default="epoch", metadata={"help": "When to checkpoint."})
    save_total_limit: int | None = field(default=1, metadata={"help": "Checkpoints kept (best kept too)."})
    load_best_model_at_end: bool = field(default=True, metadata={"help": "Keep the best dev checkpoint."})
    metric_for_best_model: str | None = field(default="macro_f1", metadata={"help": "Best = dev macro-F1."})
    greater_is_better: bool | None = field(default=True, metadata={"help": "Higher metric is better."})
    logging_steps: float = field(default=20, metadata={"help": "Log every N steps."})
    train_sampling_strategy: str = field(
        default="group_by_length",
        metadata={"help": "Batches of similar length: less padding on CPU."},
    )
    dataloader_pin_memory: bool = field(default=False, metadata={"help": "Pin memory (GPU only)."})
    seed: int = field(default=42, metadata={"help": "Seed for the model head, shuffling and splits."})
    freeze_embeddings: bool = field(
        default=True,
        metadata={"help": "Freeze the input embedding matrix (96M of e5-small's 118M parameters)."},
    )
    freeze_encoder: bool = field(
        default=False,
        metadata={"help": "Train only the pooler and classifier on frozen encoder features (a fast probe)."},
    )
    loss: Loss = field(default=DEFAULT_LOSS, metadata={"help": "Training loss."})
    max_pos_weight: float = field(
        default=10.0,
        metadata={"help": "Cap on the positive-class weight of rare labels (weighted_bce)."},
    )
    focal_gamma: float = field(default=2.0, metadata={"help": "Focusing parameter of the focal loss."})
    head_init: HeadInit = field(
        default=DEFAULT_HEAD_INIT,
        metadata={
            "help": "probe: fit the pooler and classifier on the frozen encoder's pooled features "
            "before fine-tuning (linear probe, then fine-tune); random: the library's random head."
        },
    )
    probe_c: float = field(default=1.0, metadata={"help": "Inverse L2 strength of the probe's logistic fit."})
    head_lr_multiplier: float = field(
        default=1.0,
        metadata={
            "help": "The classifier layer learns this many times faster than the encoder "
            "(worth raising with --head_init random)."
        },
    )
    layerwise_lr_decay: float = field(
        default=1.0,
        metadata={
            "help": "Layer-wise learning-rate decay: the top encoder layer learns at --learning_rate, "
            "each layer below at this factor of the one above, the embeddings last (1: off)."
        },
    )
    contrastive_pairs: int = field(
        default=0,
        metadata={
            "help": "SetFit-style stage before the head: this many sentence pairs (half sharing "
            "labels, half not), the encoder's pooled vectors trained so that their cosine follows "
            "the pair's label overlap (0: off)."
        },
    )
    contrastive_learning_rate: float = field(
        default=2e-5, metadata={"help": "Learning rate of the contrastive stage."}
    )
    threshold_policy: ThresholdPolicy = field(
        default=DEFAULT_THRESHOLD_POLICY,
        metadata={
            "help": "How the per-label thresholds saved with the model are chosen on dev: "
            "flat (0.5), tuned (best dev F1), shrunk (tuned, pulled toward 0.5 by the label's dev "
            "support), min-support (tuned only with enough dev positives), global (one threshold), "
            "calibrated (a Platt fit per label, cut at 0.5). "
            "See `clausetag experiment recipes` for the measurement behind the default."
        },
    )
    ngram_member: bool = field(
        default=DEFAULT_NGRAM_MEMBER,
        metadata={
            "help": "Also fit a TF-IDF + logistic-regression member and mix its scores into the "
            "model's (an ensemble saved in ngram/; its weight, 0 to 1, chosen on dev)."
        },
    )
    early_stopping_patience: int = field(
        default=DEFAULT_EARLY_STOPPING_PATIENCE,
        metadata={"help": "Evaluations without dev macro-F1 gain before stopping (0: off)."},
    )
    overwrite: bool = field(default=False, metadata={"help": "Replace an existing output directory."})
    keep_checkpoints: bool = field(default=False, metadata={"help": "Keep checkpoint-* folders."})

    def __post_init__(self) -> None:
        for name in ("per_device_train_batch_size", "per_device_eval_batch_size"):
            _check_whole(name, getattr(self, name), 1)
        _check_positive("num_train_epochs", self.num_train_epochs, strict=False)
        _check_positive("learning_rate", self.learning_rate, strict=False)
        self._check_own()
        if not str(self.output_dir).strip():
            _refuse("output_dir", "must not be empty")
        check_folder_output(self.output_dir, "train writes a model directory")  # --overwrite or not
        # torchrun on a machine without CUDA: Trainer needs the gloo backend for DDP.
        if (
            int(os.environ.get("WORLD_SIZE", "1")) > 1
            and self.ddp_backend is None
            and not torch.cuda.is_available()
        ):
            self.ddp_backend = "gloo"
        try:
            super().__post_init__()
        except ValueError as exc:  # transformers' own consistency checks, worded for the user
            raise ClausetagError(" ".join(str(exc).split())) from None

    def _check_own(self) -> None:
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("head_init", self.head_init, HEAD_INITS)
        _check_choice("threshold_policy", self.threshold_policy, TRAIN_POLICIES)
        for name in ("max_pos_weight", "probe_c"):
            _check_positive(name, getattr(self, name))
        for name in ("focal_gamma", "head_lr_multiplier"):
            _check_positive(name, getattr(self, name), strict=False)
        _check_positive("layerwise_lr_decay", self.layerwise_lr_decay)
        if self.layerwise_lr_decay > 1:
            _refuse("layerwise_lr_decay", f"must be at most 1, not {self.layerwise_lr_decay!r}")
        _check_whole("contrastive_pairs", self.contrastive_pairs, 0)
        _check_positive("contrastive_learning_rate", self.contrastive_learning_rate)
        _check_whole("early_stopping_patience", self.early_stopping_patience, 0)


class Arguments(NamedTuple):
    """``clausetag train``'s arguments: the data, what identifies the model, the training loop."""

    data: DataArguments
    model: ModelArguments
    training: ClausetagTrainingArguments


ARGUMENT_CLASSES = (DataArguments, ModelArguments, ClausetagTrainingArguments)
HELP_HINT = "`clausetag train --help` lists every argument"


class StrictParser(HfArgumentParser):
    """Usage errors as one ``ClausetagError`` line (with a pointer to ``--help``), not argparse's
    usage of 100+ flags; unknown flags refused rather than returned."""

    def __init__(self, types: Any, prog: str, hint: str) -> None:
        super().__init__(types)
        self.prog, self.hint = prog, hint

    def error(self, message: str) -> NoReturn:
        raise ClausetagError(f"{message} ({self.hint})")

    def parse_strict(self, argv: list[str]) -> tuple[Any, ...]:
        *parsed, rest = self.parse_args_into_dataclasses(argv, return_remaining_strings=True)
        if rest:
            raise ClausetagError(f"unrecognized argument(s): {' '.join(rest)} ({self.hint})")
        return tuple(parsed)


def _parser() -> StrictParser:
    return StrictParser(ARGUMENT_CLASSES, "clausetag train", HELP_HINT)


def _known_keys() -> set[str]:
    return {f.name for cls in ARGUMENT_CLASSES for f in fields(cls) if f.init}


def _parse_json(path: str | Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClausetagError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (ValueError, RecursionError):
        raise ClausetagError(f"{path}: not valid JSON") from None


def _parse_yaml(path: str | Path, text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        raise ClausetagError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None


def read_config(path: str | Path) -> dict[str, Any]:
    """A JSON or YAML config file as a mapping of argument names, or one clear refusal."""
    text = read_text(path)
    data = _parse_json(path, text) if str(path).endswith(".json") else _parse_yaml(path, text)
    if not isinstance(data, dict):
        raise ClausetagError(f"{path}: expected a mapping of argument names to values")
    unknown = sorted(str(k) for k in data if k not in _known_keys())
    if unknown:
        raise ClausetagError(f"{path}: unknown argument(s) {', '.join(unknown)} ({HELP_HINT})")
    return data


def _from_config(path: str) -> Arguments:
    data = read_config(path)
    try:
        return Arguments(*_parser().parse_dict(data))
    except ClausetagError as exc:
        raise ClausetagError(f"{path}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ClausetagError(f"{path}: {' '.join(str(exc).split())}") from None


def is_config_file(argv: list[str]) -> bool:
    return len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml"))


def parse_args(argv: list[str]) -> Arguments:
    """Flags, or one JSON/YAML file of the same names; every value checked before any data is read."""
    if is_config_file(argv):
        return _from_config(argv[0])
    return Arguments(*_parser().parse_strict(argv))
