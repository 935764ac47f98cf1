"""``clausetag train``: fine-tune a pretrained encoder for multi-label clause tagging.

Arguments are three dataclasses parsed by ``HfArgumentParser`` (flags, or one
JSON/YAML file), in the manner of transformers' ``run_classification.py``. The
output is a model directory (see ``clausetag.inference.modeldir``): the whole
contract with inference.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    HfArgumentParser,
    Trainer,
    TrainingArguments,
    set_seed,
)

import clausetag
from clausetag.data.corpus import DEFAULT_CORPUS_DIR, Unit, label_matrix, load_units, split_by_document
from clausetag.data.dataset import to_dataset
from clausetag.errors import ClausetagError
from clausetag.inference.classifier import sigmoid
from clausetag.inference.modeldir import save_thresholds
from clausetag.io import atomic_writer, write_json
from clausetag.labels import resolve_label_set
from clausetag.models.encoder import DEFAULT_ENCODER_DIR
from clausetag.training.metrics import full_report, macro_f1, micro_f1
from clausetag.training.thresholds import DEFAULT_POLICY, TRAIN_POLICIES, choose_thresholds

DEFAULT_OUTPUT_DIR = "models/clausetag-me5-small"
LOSSES = ("weighted_bce", "bce", "focal")
HEAD_INITS = ("probe", "random")
POOLINGS = ("mean", "cls")
#: The probe's standardised features go through tanh at this scale: nearly linear, outliers tamed.
PROBE_SCALE = 0.5


@dataclass
class DataArguments:
    train_file: str = field(
        default=str(DEFAULT_CORPUS_DIR),
        metadata={"help": "Corpus directory or JSONL with text, lang, labels (default: bundled corpus)."},
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
    max_length: int = field(default=128, metadata={"help": "Max tokens per unit (longer are truncated)."})


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default=str(DEFAULT_ENCODER_DIR),
        metadata={
            "help": "Pretrained encoder: local folder or hub id (default: the offline-built "
            "multilingual-e5-small; `clausetag encoder build`)."
        },
    )
    freeze_embeddings: bool = field(
        default=True,
        metadata={"help": "Freeze the input embedding matrix (96M of e5-small's 118M parameters)."},
    )
    freeze_encoder: bool = field(
        default=False,
        metadata={"help": "Train only the pooler and classifier on frozen encoder features (a fast probe)."},
    )
    loss: str = field(default="weighted_bce", metadata={"help": f"One of {', '.join(LOSSES)}."})
    max_pos_weight: float = field(
        default=10.0,
        metadata={"help": "Cap on the positive-class weight of rare labels (weighted_bce)."},
    )
    focal_gamma: float = field(default=2.0, metadata={"help": "Focusing parameter of the focal loss."})
    pooling: str = field(
        default="mean",
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
    head_init: str = field(
        default="probe",
        metadata={
            "help": "probe: fit the pooler and classifier on the frozen encoder's [CLS] features "
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
    threshold_policy: str = field(
        default=DEFAULT_POLICY,
        metadata={
            "help": "How the per-label thresholds saved with the model are chosen on dev: "
            "flat (0.5), tuned (best dev F1), shrunk (tuned, pulled toward 0.5 by the label's dev "
            "support), min-support (tuned only with enough dev positives), global (one threshold). "
            "See `clausetag experiment recipes` for the measurement behind the default."
        },
    )
    early_stopping_patience: int = field(
        default=2,
        metadata={"help": "Evaluations without dev macro-F1 gain before stopping (0: off)."},
    )
    overwrite: bool = field(default=False, metadata={"help": "Replace an existing output directory."})
    keep_checkpoints: bool = field(default=False, metadata={"help": "Keep checkpoint-* folders."})


@dataclass
class ClausetagTrainingArguments(TrainingArguments):
    """TrainingArguments with defaults that suit a small encoder on a CPU."""

    output_dir: str = field(default=DEFAULT_OUTPUT_DIR, metadata={"help": "The model directory to write."})
    num_train_epochs: float = field(default=3.0, metadata={"help": "Epochs."})
    learning_rate: float = field(
        default=1e-4, metadata={"help": "Peak learning rate of the encoder (AdamW)."}
    )
    per_device_train_batch_size: int = field(default=16, metadata={"help": "Train batch size."})
    per_device_eval_batch_size: int = field(default=64, metadata={"help": "Eval batch size."})
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

    def __post_init__(self) -> None:
        # torchrun on a machine without CUDA: Trainer needs the gloo backend for DDP.
        if (
            int(os.environ.get("WORLD_SIZE", "1")) > 1
            and self.ddp_backend is None
            and not torch.cuda.is_available()
        ):
            self.ddp_backend = "gloo"
        super().__post_init__()


class MultiLabelTrainer(Trainer):
    """Trainer whose loss is chosen for rare labels (class-weighted BCE or focal)."""

    def __init__(
        self,
        *args: Any,
        loss: str,
        pos_weight: torch.Tensor,
        gamma: float,
        head_lr_multiplier: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.loss_name = loss
        self.pos_weight = pos_weight
        self.gamma = gamma
        self.head_lr_multiplier = head_lr_multiplier

    def create_optimizer(self, model: Any = None) -> Any:
        """AdamW with a faster learning rate for the random head than for the pretrained body.

        With the encoder's small learning rate alone the head barely moves in a
        few CPU epochs and every dev prediction stays under threshold.
        """
        if self.optimizer is None:
            model = model if model is not None else self.model
            decay = set(self.get_decay_parameter_names(model))
            prefix = getattr(model, "base_model_prefix", "") + "."
            groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
            for name, param in model.named_parameters():
                if param.requires_grad:
                    head = not name.startswith(prefix)  # the classifier; the pooler is pretrained-side
                    groups.setdefault((head, name in decay), []).append(param)
            lr = self.args.learning_rate
            self.optimizer = torch.optim.AdamW(
                [
                    {
                        "params": params,
                        "lr": lr * (self.head_lr_multiplier if head else 1.0),
                        "weight_decay": self.args.weight_decay if decays else 0.0,
                    }
                    for (head, decays), params in groups.items()
                ],
                lr=lr,
            )
        return self.optimizer

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        labels = inputs.pop("labels").float()
        outputs = model(**inputs)
        logits = outputs.logits.float()
        if self.loss_name == "focal":
            bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
            p_t = torch.exp(-bce)
            loss = ((1 - p_t) ** self.gamma * bce).mean()
        else:
            weight = self.pos_weight.to(logits.device) if self.loss_name == "weighted_bce" else None
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, pos_weight=weight)
        return (loss, outputs) if return_outputs else loss


def positive_weights(y: np.ndarray, cap: float) -> torch.Tensor:
    """neg/pos per label, square-rooted and capped: boosts rare labels without swamping precision."""
    pos = y.sum(0)
    neg = len(y) - pos
    weight = np.sqrt(np.where(pos > 0, neg / np.maximum(pos, 1), 1.0))
    return torch.tensor(np.clip(weight, 1.0, cap), dtype=torch.float32)


def text_prefix(model_args: ModelArguments) -> str:
    if model_args.text_prefix is not None:
        return model_args.text_prefix
    return "query: " if model_args.pooling == "mean" else ""


def _model_class_and_config(model_args: ModelArguments, labels: Sequence[str]) -> tuple[Any, Any]:
    """The head class and config for ``--pooling`` (mean pooling: BERT-style encoders only)."""
    from transformers import AutoConfig

    name = model_args.model_name_or_path
    config = AutoConfig.from_pretrained(name)
    common = {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {x: i for i, x in enumerate(labels)},
        "problem_type": "multi_label_classification",
    }
    if model_args.pooling == "cls":
        for key, value in common.items():
            setattr(config, key, value)
        config.text_prefix = text_prefix(model_args)
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
    fields["text_prefix"] = text_prefix(model_args)
    return BertMeanPoolForSequenceClassification, BertMeanPoolConfig(**fields, **common)


def _load_pretrained(model_args: ModelArguments, labels: Sequence[str]) -> tuple[Any, Any]:
    name = model_args.model_name_or_path
    if not Path(name).exists() and Path(name) == DEFAULT_ENCODER_DIR:
        raise ClausetagError(
            f"the default encoder folder {name} does not exist: build it with `clausetag encoder build` "
            "(or pass --model_name_or_path with another model)"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model_class, config = _model_class_and_config(model_args, labels)
        model = model_class.from_pretrained(name, config=config)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClausetagError(f"cannot load the pretrained model {name!r}: {first}") from None
    if model_args.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    if model_args.freeze_encoder:
        prefix = getattr(model, "base_model_prefix", "") + "."
        for name, param in model.named_parameters():
            if name.startswith(prefix) and ".pooler." not in name:
                param.requires_grad_(False)
    return tokenizer, model


def _check_output_dir(path: Path, model_args: ModelArguments, resuming: bool) -> None:
    if path.exists() and any(path.iterdir()) and not (model_args.overwrite or resuming):
        raise ClausetagError(f"{path} already exists and is not empty: pass --overwrite to replace it")


@dataclass
class TrainResult:
    output_dir: Path
    labels: list[str]
    thresholds: list[float]
    dev_report: dict[str, Any]
    test_report: dict[str, Any] | None
    train_seconds: float
    counts: dict[str, int]


def run_training(
    train: Sequence[Unit],
    dev: Sequence[Unit],
    labels: Sequence[str],
    model_args: ModelArguments,
    training_args: ClausetagTrainingArguments,
    data_args: DataArguments,
    test: Sequence[Unit] | None = None,
    save: bool = True,
) -> TrainResult:
    """Train on ``train``, pick the best epoch and thresholds on ``dev``, score ``test``.

    The experiments call this directly with their own folds.
    """
    labels = list(labels)
    if model_args.loss not in LOSSES:
        raise ClausetagError(f"--loss must be one of {', '.join(LOSSES)}")
    if model_args.head_init not in HEAD_INITS:
        raise ClausetagError(f"--head_init must be one of {', '.join(HEAD_INITS)}")
    if model_args.threshold_policy not in TRAIN_POLICIES:
        raise ClausetagError(f"--threshold_policy must be one of {', '.join(TRAIN_POLICIES)}")
    if model_args.pooling not in POOLINGS:
        raise ClausetagError(f"--pooling must be one of {', '.join(POOLINGS)}")
    for name, part in (("train", train), ("dev", dev)):
        if not part:
            raise ClausetagError(f"the {name} split is empty (check --train_languages, --dev_docs, the data)")
    out = Path(training_args.output_dir)
    resuming = bool(training_args.resume_from_checkpoint)
    _check_output_dir(out, model_args, resuming)
    if model_args.overwrite and out.exists() and not resuming and training_args.process_index == 0:
        shutil.rmtree(out)

    set_seed(training_args.seed)  # before the classification head is initialised
    tokenizer, model = _load_pretrained(model_args, labels)
    prefix = model.config.text_prefix

    def encode(units: Sequence[Unit]) -> Any:
        ds = to_dataset(units, labels)
        ds = ds.map(
            lambda b: tokenizer(
                [prefix + t for t in b["text"]], truncation=True, max_length=data_args.max_length
            ),
            batched=True,
            remove_columns=["id", "doc", "lang", "source", "text", "labels"],
            desc="tokenising",
        )
        return ds.rename_column("multi_hot", "labels")

    y_train = label_matrix(train, labels)
    pos_weight = positive_weights(y_train, model_args.max_pos_weight)
    if model_args.head_init == "probe" and not resuming:
        init_head_from_probe(model, tokenizer, train, y_train, pos_weight, model_args, data_args.max_length)
    trainer = MultiLabelTrainer(
        model=model,
        args=training_args,
        train_dataset=encode(train),
        eval_dataset=encode(dev),
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=dev_metrics(model_args.threshold_policy),
        callbacks=[EarlyStoppingCallback(model_args.early_stopping_patience)]
        if model_args.early_stopping_patience > 0
        else [],
        loss=model_args.loss,
        pos_weight=pos_weight,
        gamma=model_args.focal_gamma,
        head_lr_multiplier=model_args.head_lr_multiplier,
    )
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint or None)
    train_seconds = time.perf_counter() - started

    if not trainer.is_world_process_zero():
        # Under torchrun the other ranks are done: rank 0 tunes, scores and saves.
        return TrainResult(out, labels, [0.5] * len(labels), {}, None, train_seconds, {})
    model.eval()
    dev_proba = _predict_proba(trainer.model, tokenizer, dev, data_args.max_length)
    y_dev = label_matrix(dev, labels)
    thresholds = choose_thresholds(model_args.threshold_policy, y_dev, dev_proba)
    dev_report = full_report(y_dev, dev_proba >= thresholds, labels, [u["lang"] for u in dev], bootstrap=200)
    test_report = None
    if test:
        test_proba = _predict_proba(trainer.model, tokenizer, test, data_args.max_length)
        test_report = full_report(
            label_matrix(test, labels), test_proba >= thresholds, labels, [u["lang"] for u in test]
        )
    result = TrainResult(
        output_dir=out,
        labels=labels,
        thresholds=[float(t) for t in thresholds],
        dev_report=dev_report,
        test_report=test_report,
        train_seconds=train_seconds,
        counts={"train": len(train), "dev": len(dev), "test": len(test or [])},
    )
    if save:
        _save_model_dir(trainer, tokenizer, result, data_args, model_args, training_args, train, dev)
    if not model_args.keep_checkpoints:
        for ckpt in out.glob("checkpoint-*"):
            shutil.rmtree(ckpt, ignore_errors=True)
    return result


def _batched_forward(
    units: Sequence[Unit],
    tokenizer: Any,
    max_length: int,
    fn: Any,
    width: int,
    prefix: str = "",
    batch: int = 64,
) -> np.ndarray:
    """Run ``fn(encoding) -> (batch, width)`` over length-sorted batches, rows back in input order.

    One process (Trainer.predict pads and gathers under DDP), no gradients.
    """
    out = np.zeros((len(units), width), dtype=np.float32)
    order = sorted(range(len(units)), key=lambda i: len(units[i]["text"]))
    with torch.inference_mode():
        for k in range(0, len(order), batch):
            idx = order[k : k + batch]
            enc = tokenizer(
                [prefix + units[i]["text"] for i in idx],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            out[idx] = fn(enc).float().cpu().numpy()
    return out


def _predict_proba(model: Any, tokenizer: Any, units: Sequence[Unit], max_length: int) -> np.ndarray:
    """Scores of the in-memory model (rank 0 only)."""
    logits = _batched_forward(
        units,
        tokenizer,
        max_length,
        lambda enc: model(**enc.to(model.device)).logits,
        model.config.num_labels,
        prefix=getattr(model.config, "text_prefix", ""),
    )
    return sigmoid(logits)


def _tanh_head(model: Any) -> tuple[torch.nn.Linear, torch.nn.Linear] | None:
    """The (dense, output) layers around the tanh that read [CLS], for BERT- and RoBERTa-style heads."""
    clf = getattr(model, "classifier", None)
    pooler = getattr(model.base_model, "pooler", None)
    if (
        isinstance(clf, torch.nn.Linear)
        and isinstance(getattr(pooler, "dense", None), torch.nn.Linear)
        and isinstance(getattr(pooler, "activation", None), torch.nn.Tanh)
    ):
        return pooler.dense, clf  # type: ignore[union-attr]
    if type(clf).__name__.endswith("RobertaClassificationHead") and isinstance(
        getattr(clf, "out_proj", None), torch.nn.Linear
    ):
        return clf.dense, clf.out_proj  # type: ignore[union-attr]
    return None


def _sentence_features(model: Any, enc: Any) -> torch.Tensor:
    """What the head's dense layer reads: the masked mean (mean pooling) or the [CLS] vector."""
    hidden = model.base_model(**enc).last_hidden_state
    if getattr(model.config, "pooling", "cls") == "mean":
        from clausetag.models.modeling import mean_pool

        return mean_pool(hidden, enc["attention_mask"])
    return hidden[:, 0]


def init_head_from_probe(
    model: Any,
    tokenizer: Any,
    train: Sequence[Unit],
    y_train: np.ndarray,
    pos_weight: torch.Tensor,
    model_args: ModelArguments,
    max_length: int,
) -> None:
    """Linear probe, then fine-tune (Kumar et al., 2022): start from a head that already works.

    A random pooler and classifier pass e5's [CLS] vector (cosine ≈0.9 between any
    two sentences) through two small random matrices, so the encoder gets almost
    no gradient and a few CPU epochs stay at the label priors. Here the dense layer
    standardises the frozen [CLS] features and the output layer is a class-weighted
    logistic regression on them: fine-tuning then starts from a working classifier.
    """
    from sklearn.linear_model import LogisticRegression

    layers = _tanh_head(model)
    if layers is None:
        print(
            f"clausetag: --head_init probe does not know the head of {type(model).__name__}; "
            "keeping its random initialisation",
            file=sys.stderr,
        )
        return
    dense, out = layers
    started = time.perf_counter()
    was_training = model.training
    model.eval()
    hidden = model.config.hidden_size
    x = _batched_forward(
        train,
        tokenizer,
        max_length,
        lambda enc: _sentence_features(model, enc.to(model.device)),
        hidden,
        prefix=getattr(model.config, "text_prefix", ""),
    )
    model.train(was_training)
    mu = x.mean(0)
    sd = x.std(0) + 1e-6
    feats = np.tanh(PROBE_SCALE * (x - mu) / sd)
    weight = np.zeros((y_train.shape[1], hidden), dtype=np.float32)
    bias = np.zeros(y_train.shape[1], dtype=np.float32)
    for j in range(y_train.shape[1]):
        y = y_train[:, j].astype(int)
        if y.min() == y.max():  # nothing to fit: a constant, confident answer
            bias[j] = 4.0 if y.min() else -4.0
            continue
        fit = LogisticRegression(
            C=model_args.probe_c, class_weight={0: 1.0, 1: float(pos_weight[j])}, max_iter=500
        )
        fit.fit(feats, y)
        weight[j], bias[j] = fit.coef_[0], fit.intercept_[0]
    with torch.no_grad():
        dense.weight.copy_(torch.diag(torch.from_numpy(PROBE_SCALE / sd)))
        dense.bias.copy_(torch.from_numpy(-PROBE_SCALE * mu / sd))
        out.weight.copy_(torch.from_numpy(weight))
        out.bias.copy_(torch.from_numpy(bias))
    print(
        f"clausetag: linear probe head from {len(train)} units in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )


def dev_metrics(policy: str) -> Any:
    """Dev F1 at the thresholds ``policy`` picks, as the saved model will be used."""

    def compute(eval_pred: Any) -> dict[str, float]:
        logits, y = eval_pred
        proba = sigmoid(np.asarray(logits))
        y = np.asarray(y) > 0.5
        pred = proba >= choose_thresholds(policy, y, proba)
        return {"macro_f1": macro_f1(y, pred), "micro_f1": micro_f1(y, pred)}

    return compute


def _versions() -> dict[str, str]:
    import datasets
    import sklearn
    import transformers

    return {
        "clausetag": clausetag.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
        "scikit-learn": sklearn.__version__,
    }


def _save_model_dir(
    trainer: Trainer,
    tokenizer: Any,
    result: TrainResult,
    data_args: DataArguments,
    model_args: ModelArguments,
    training_args: ClausetagTrainingArguments,
    train: Sequence[Unit],
    dev: Sequence[Unit],
) -> None:
    out = result.output_dir
    trainer.save_model(str(out))  # config.json + model.safetensors (+ tokenizer via processing_class)
    tokenizer.save_pretrained(str(out))
    for stray in ("training_args.bin",):  # pickled by Trainer; the contract has no pickles
        (out / stray).unlink(missing_ok=True)
    dev_support = label_matrix(dev, result.labels).sum(0)
    save_thresholds(
        out,
        result.labels,
        dict(zip(result.labels, result.thresholds, strict=True)),
        data_args.max_length,
        method=f"{model_args.threshold_policy} on dev ({len(dev)} units, documents: "
        f"{', '.join(sorted({u['doc'] for u in dev}))})",
        support=dict(zip(result.labels, map(int, dev_support), strict=True)),
    )
    write_json(
        out / "training_args.json",
        {
            "data": dataclasses.asdict(data_args),
            "model": dataclasses.asdict(model_args),
            "training": json.loads(training_args.to_json_string()),
            "versions": _versions(),
            "train_seconds": round(result.train_seconds, 1),
            "counts": result.counts,
        },
    )
    metrics = {"dev": result.dev_report, "test": result.test_report}
    write_json(out / "metrics.json", metrics)
    with atomic_writer(out / "README.md") as fh:
        fh.write(model_card(result, data_args, model_args, training_args, train, dev))


def model_card(
    result: TrainResult,
    data_args: DataArguments,
    model_args: ModelArguments,
    training_args: ClausetagTrainingArguments,
    train: Sequence[Unit],
    dev: Sequence[Unit],
) -> str:
    """A Hugging Face model card: metadata header, per-language results, how it was made."""
    langs = sorted({u["lang"] for u in [*train, *dev]})
    base = model_args.model_name_or_path
    base_id = "intfloat/multilingual-e5-small" if Path(base) == DEFAULT_ENCODER_DIR else base
    lines = [
        "---",
        "language:",
        *[f"- {lang}" for lang in langs],
        "license: mit",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        "tags: [clausetag, privacy-policy, gdpr, multi-label]",
        f"base_model: {base_id}",
        "---",
        "",
        f"# clausetag model: {Path(result.output_dir).name}",
        "",
        f"Multi-label GDPR clause tagger for privacy-policy units ({', '.join(langs)}), fine-tuned from "
        f"`{base_id}` with clausetag {clausetag.__version__}. Load it with "
        "`clausetag.inference.ClauseClassifier.from_pretrained(dir)` (uses the tuned per-label "
        "thresholds in `thresholds.json`) or `transformers.pipeline('text-classification', "
        "model=dir, top_k=None)` (raw sigmoid scores).",
        "",
        "## Results",
        "",
    ]
    for name, rep in (("dev", result.dev_report), ("test", result.test_report)):
        if not rep:
            continue
        note = (
            " — thresholds were tuned on this split, so these figures are optimistic; see the "
            "project README for leave-one-document-out results"
            if name == "dev"
            else ""
        )
        lines += [
            f"### {name} ({rep['n']} units){note}",
            "",
            "| language | units | macro-F1 | micro-F1 | exact match |",
            "|---|---:|---:|---:|---:|",
        ]
        rows = [("all", rep), *sorted(rep["per_language"].items())]
        for lang, r in rows:
            lines.append(
                f"| {lang} | {r['n']} | {r['macro_f1']:.3f} | {r['micro_f1']:.3f} | {r['exact_match']:.3f} |"
            )
        lines.append("")
    lines += [
        "## Labels and thresholds",
        "",
        "| label | threshold | dev F1 | dev support |",
        "|---|---:|---:|---:|",
    ]
    for name, th in zip(result.labels, result.thresholds, strict=True):
        pl = result.dev_report["per_label"][name]
        lines.append(f"| {name} | {th:.3f} | {pl['f1']:.3f} | {pl['support']} |")
    dev_docs = sorted({u["doc"] for u in dev})
    lines += [
        "",
        "## Training",
        "",
        f"- data: `{data_args.train_file}` — {len(train)} train units, {len(dev)} dev units "
        f"(dev documents: {', '.join(dev_docs)}; translations stay with their originals)",
        f"- thresholds: {model_args.threshold_policy} on the dev units (the table above gives each "
        "label's dev support)",
        f"- pooling: {model_args.pooling}; input prefix: {text_prefix(model_args)!r}",
        f"- loss: {model_args.loss}; head init: {model_args.head_init}; "
        f"embeddings frozen: {model_args.freeze_embeddings}; max length: {data_args.max_length}",
        f"- epochs: {training_args.num_train_epochs}, lr {training_args.learning_rate}, "
        f"batch {training_args.per_device_train_batch_size}, seed {training_args.seed}",
        f"- wall time: {result.train_seconds / 60:.1f} min on {os.cpu_count()} CPU cores",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in _versions().items()),
        "",
        "Intended use: research on privacy-policy transparency (EN/LV). It labels what a sentence "
        "says, not whether a policy complies with the GDPR.",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> tuple[DataArguments, ModelArguments, ClausetagTrainingArguments]:
    parser = HfArgumentParser((DataArguments, ModelArguments, ClausetagTrainingArguments))  # type: ignore[arg-type]
    parser.prog = "clausetag train"
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(argv[0])  # type: ignore[return-value]
    if len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
        return parser.parse_yaml_file(argv[0])  # type: ignore[return-value]
    return parser.parse_args_into_dataclasses(argv)  # type: ignore[return-value]


def main(argv: list[str]) -> int:
    data_args, model_args, training_args = parse_args(argv)
    labels = resolve_label_set(data_args.train_file, data_args.labels)
    units = load_units(data_args.train_file, labels)
    if data_args.dev_file:
        splits = {"train": units, "dev": load_units(data_args.dev_file, labels)}
    else:
        splits = split_by_document(
            units,
            dev_docs=data_args.dev_docs,
            dev_fraction=data_args.dev_fraction,
            seed=training_args.seed,
        )
    train = splits["train"]
    if data_args.train_languages:
        train = [u for u in train if u["lang"] in data_args.train_languages]
    test = load_units(data_args.test_file, labels) if data_args.test_file else None
    result = run_training(train, splits["dev"], labels, model_args, training_args, data_args, test=test)
    if training_args.process_index == 0:
        rep = result.dev_report
        per = ", ".join(f"{k} {v['macro_f1']:.3f}" for k, v in sorted(rep["per_language"].items()))
        print(
            f"saved {result.output_dir} in {result.train_seconds / 60:.1f} min — dev macro-F1 "
            f"{rep['macro_f1']:.3f} ({per}), micro-F1 {rep['micro_f1']:.3f}",
            file=sys.stderr,
        )
    return 0
