"""``clausetag distill``: a smaller, faster student of a trained model directory.

The student is the teacher with fewer transformer layers (``--layers``, taken evenly
spaced from the teacher's, first and last kept; embeddings, pooler and head copied),
trained on the teacher's own scores (soft targets) over the corpus units and any
unlabelled policies given (``--unlabelled``), plus the gold labels where there are
some (``--gold_weight``). It keeps every recipe of the teacher: input prefix, pooling,
context, max length, the threshold policy (re-tuned on the teacher's dev documents for
the student's scores) and the n-gram member (re-weighed against the student). The
result is a normal model directory, written by the one writer and read back as a check,
so ``export-onnx``, ``predict``, Ray and ``serve`` take it as they take the teacher::

    clausetag distill --teacher models/clausetag-me5-small -o models/clausetag-me5-small-student
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

from clausetag.data.corpus import CorpusUnit, label_matrix
from clausetag.errors import ClausetagError
from clausetag.inference.modeldir import ModelDir, ModelDirParts
from clausetag.inference.ngram import NgramMember
from clausetag.inference.safeload import pretrained
from clausetag.training.args import DataArguments, StrictParser, _check_positive, _check_whole, _refuse
from clausetag.training.metrics import full_report
from clausetag.training.model_card import threshold_method, versions
from clausetag.training.thresholds import choose_thresholds
from clausetag.training.trainer import predict_logits, predict_proba, unit_contexts, unit_tokenizer

logger = logging.getLogger(__name__)

HELP_HINT = "`clausetag distill --help` lists every argument"


@dataclass
class DistillArguments:
    """What ``clausetag distill`` reads: the teacher, the student's size and its schedule."""

    teacher: str = field(metadata={"help": "Model directory to distil (written by `clausetag train`)."})
    output_dir: str = field(metadata={"help": "Where the student's model directory goes.", "aliases": ["-o"]})
    layers: int = field(default=4, metadata={"help": "Transformer layers of the student (of the teacher's)."})
    unlabelled: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Policy files or folders (.txt/.md/.html) the student also learns from.",
            "nargs": "*",
        },
    )
    train_file: str | None = field(
        default=None, metadata={"help": "Corpus to distil on (default: the teacher's training corpus)."}
    )
    gold_weight: float = field(
        default=0.5, metadata={"help": "Share of the gold-label loss on labelled units (0: teacher only)."}
    )
    temperature: float = field(
        default=1.0, metadata={"help": "Softens the teacher's logits (1: as they are)."}
    )
    num_train_epochs: float = field(default=1.0, metadata={"help": "Epochs over the distillation units."})
    learning_rate: float = field(default=1e-4, metadata={"help": "Peak learning rate (AdamW, linear decay)."})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "Train batch size."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Share of the steps spent warming up."})
    seed: int = field(default=42, metadata={"help": "Seed for shuffling and the dev split."})
    overwrite: bool = field(default=False, metadata={"help": "Replace an existing output directory."})

    def __post_init__(self) -> None:
        _check_whole("layers", self.layers, 1)
        _check_whole("per_device_train_batch_size", self.per_device_train_batch_size, 1)
        for name in ("temperature", "learning_rate", "num_train_epochs"):
            _check_positive(name, getattr(self, name))
        if not 0.0 <= self.gold_weight <= 1.0:
            _refuse("gold_weight", f"must be from 0 to 1, not {self.gold_weight!r}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            _refuse("warmup_ratio", f"must be from 0 to below 1, not {self.warmup_ratio!r}")
        if not str(self.output_dir).strip():
            _refuse("output_dir", "must name a folder")
        for path in self.unlabelled:
            if not Path(path).exists():
                _refuse("unlabelled", f"{path}: no such file or directory")


def parse_args(argv: list[str]) -> DistillArguments:
    (args,) = StrictParser(DistillArguments, "clausetag distill", HELP_HINT).parse_strict(argv)
    return args


# --------------------------------------------------------------------------- the student's layers


def layer_choice(teacher_layers: int, student_layers: int) -> list[int]:
    """Evenly spaced teacher layers, the first and the last always among them."""
    if not 1 <= student_layers <= teacher_layers:
        raise ClausetagError(
            f"--layers must be from 1 to the teacher's {teacher_layers}, not {student_layers}"
        )
    if student_layers == 1:
        return [teacher_layers - 1]
    return [round(float(x)) for x in np.linspace(0, teacher_layers - 1, student_layers)]


def make_student(teacher: Any, student_layers: int) -> tuple[Any, list[int]]:
    """A copy of ``teacher`` keeping ``student_layers`` of its layers (same classes, same config keys)."""
    config = teacher.config.__class__.from_dict(teacher.config.to_dict())
    chosen = layer_choice(config.num_hidden_layers, student_layers)
    config.num_hidden_layers = student_layers
    student = type(teacher)(config)
    state = {}
    for name, tensor in teacher.state_dict().items():
        parts = name.split(".")
        if "layer" in parts and parts[parts.index("layer") - 1] == "encoder":
            at = parts.index("layer") + 1
            source = int(parts[at])
            if source not in chosen:
                continue
            parts[at] = str(chosen.index(source))
        state[".".join(parts)] = tensor
    missing, unexpected = student.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if "position_ids" not in m]:
        raise ClausetagError(f"cannot map the teacher's weights onto the student ({missing or unexpected})")
    return student, chosen


# --------------------------------------------------------------------------- the units


def _teacher_data(teacher: ModelDir, args: DistillArguments) -> DataArguments:
    """The teacher's data arguments (corpus, dev documents, max length) from training_args.json."""
    path = teacher.path / "training_args.json"
    recorded = _section(teacher, "data")
    known = {f.name for f in dataclasses.fields(DataArguments)}
    kept = {k: v for k, v in recorded.items() if k in known}
    kept["max_length"] = teacher.max_length
    if args.train_file:
        kept["train_file"] = args.train_file
    if kept.get("train_file") and not Path(str(kept["train_file"])).exists():
        logger.warning("the teacher's corpus %s is not here: the bundled corpus instead", kept["train_file"])
        kept.pop("train_file")
    try:
        return DataArguments(**kept)
    except (TypeError, ValueError) as exc:
        raise ClausetagError(f"{path}: {' '.join(str(exc).split())}") from None


def unlabelled_units(paths: Sequence[str], teacher: ModelDir) -> list[CorpusUnit]:
    """Every unit of the policies in ``paths`` (files or folders), in its place, with no labels."""
    from clausetag.inference.readers import expand_inputs, read_document
    from clausetag.inference.segment import segment_places

    recipe = teacher.context
    out: list[CorpusUnit] = []
    files = [f for f in expand_inputs(list(paths)) if not f.endswith(".jsonl")]
    for name in files:
        document = read_document(name)
        segments, places = segment_places(document.text)
        for k, (seg, place) in enumerate(zip(segments, places, strict=True)):
            unit: dict[str, Any] = {
                "id": f"{document.doc}-{k}",
                "doc": document.doc,
                "lang": "",
                "source": "unlabelled",
                "text": seg.text,
                "labels": [],
                "_context": recipe.render(place.context),
            }
            out.append(unit)
    logger.info("unlabelled: %d units from %d policies", len(out), len(files))
    return out


# --------------------------------------------------------------------------- training


def _batches(lengths: Sequence[int], size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of similar length (little padding), in random order."""
    order = rng.permutation(len(lengths))
    pools = [order[i : i + size * 50] for i in range(0, len(order), size * 50)]
    out: list[np.ndarray] = []
    for pool in pools:
        pool = pool[np.argsort([lengths[i] for i in pool], kind="stable")]
        out += [pool[i : i + size] for i in range(0, len(pool), size)]
    rng.shuffle(out)
    return out


def distil_loss(
    logits: torch.Tensor,
    soft: torch.Tensor,
    gold: torch.Tensor,
    has_gold: torch.Tensor,
    args: DistillArguments,
) -> torch.Tensor:
    """BCE to the teacher's (tempered) scores, mixed with BCE to the gold labels where there are some."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    t = args.temperature
    loss = bce(logits / t, soft, reduction="none").mean(1) * (t * t)
    if args.gold_weight > 0:
        gold_loss = bce(logits, gold, reduction="none").mean(1)
        w = args.gold_weight * has_gold
        loss = (1 - w) * loss + w * gold_loss
    return loss.mean()


def train_student(
    student: Any,
    tokenizer: Any,
    units: Sequence[CorpusUnit],
    teacher_logits: np.ndarray,
    gold: np.ndarray,
    args: DistillArguments,
    max_length: int,
) -> None:
    """The student's own loop (AdamW, linear warm-up and decay), batches of similar length."""
    encoder = unit_tokenizer(tokenizer, max_length, student.config)
    ids = encoder.encode_ids([u["text"] for u in units], unit_contexts(units))
    soft_all = torch.sigmoid(torch.from_numpy(teacher_logits) / args.temperature)
    gold_all = torch.from_numpy(gold.astype(np.float32))
    has_gold_all = torch.tensor([float(bool(u.get("source") != "unlabelled")) for u in units])
    rng = np.random.default_rng(args.seed)
    epochs = max(1, math.ceil(args.num_train_epochs))
    per_epoch = math.ceil(len(units) / args.per_device_train_batch_size)
    total = max(1, round(args.num_train_epochs * per_epoch))
    optimizer = torch.optim.AdamW(student.parameters(), lr=args.learning_rate, weight_decay=0.01)
    warmup = int(args.warmup_ratio * total)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)),
    )
    from tqdm.auto import tqdm

    student.train()
    step = 0
    with tqdm(total=total, desc="distilling", unit="step") as bar:
        for _ in range(epochs):
            for idx in _batches([len(t) for t in ids], args.per_device_train_batch_size, rng):
                if step >= total:
                    break
                batch = {k: torch.from_numpy(v) for k, v in encoder.pad([ids[i] for i in idx]).items()}
                logits = student(**batch).logits
                loss = distil_loss(logits, soft_all[idx], gold_all[idx], has_gold_all[idx], args)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                bar.update(1)
                if step % 20 == 0:
                    bar.set_postfix(loss=f"{loss.item():.4f}")
    student.eval()


# --------------------------------------------------------------------------- the run


@dataclass
class DistillResult:
    output_dir: Path
    labels: list[str]
    layers: list[int]
    thresholds: np.ndarray
    dev_report: dict[str, Any]
    seconds: float
    counts: dict[str, int]
    ngram: NgramMember | None


def _section(teacher: ModelDir, key: str) -> dict[str, Any]:
    """One part of the teacher's training_args.json; {} when the file or the part is missing."""
    part = teacher.training_record().get(key)
    return part if isinstance(part, dict) else {}


def _teacher_policy(teacher: ModelDir) -> tuple[str, bool]:
    """The teacher's threshold policy and whether it has an n-gram member."""
    policy = teacher.threshold_policy()
    return policy, (teacher.path / "ngram").is_dir()


def distil(
    args: DistillArguments,
    train: Sequence[CorpusUnit],
    dev: Sequence[CorpusUnit],
    labels: Sequence[str],
    extra: Sequence[CorpusUnit] = (),
    save: bool = True,
) -> DistillResult:
    """Distil ``args.teacher`` into a student on ``train`` (+ ``extra`` unlabelled units), tune on ``dev``.

    The units carry their rendered contexts (``_context``) as training gives them.
    """
    from clausetag.training.ensemble import fit_ngram_member

    started = time.perf_counter()
    teacher_dir = ModelDir.open(args.teacher)
    labels = list(labels)
    if labels != list(teacher_dir.labels):
        raise ClausetagError(f"{teacher_dir.path}: the teacher's labels are not the corpus's ({labels})")
    out = Path(args.output_dir)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise ClausetagError(f"{out} already exists and is not empty: pass --overwrite to replace it")
    set_seed(args.seed)
    # never the folder's own code, and a model type transformers lacks is one message (``safeload``)
    tokenizer = pretrained(AutoTokenizer, teacher_dir.path)
    teacher = pretrained(AutoModelForSequenceClassification, teacher_dir.path)
    teacher.eval()
    units = [*train, *extra]
    logger.info("teacher scores for %d units (%d unlabelled) …", len(units), len(extra))
    teacher_logits = predict_logits(teacher, tokenizer, units, teacher_dir.max_length)
    student, chosen = make_student(teacher, args.layers)
    del teacher
    gold = label_matrix(units, labels)
    train_student(student, tokenizer, units, teacher_logits, gold, args, teacher_dir.max_length)
    policy, has_ngram = _teacher_policy(teacher_dir)
    dev_proba = predict_proba(student, tokenizer, dev, teacher_dir.max_length)
    ngram = None
    if has_ngram:
        reads = teacher_dir.context.active
        ngram, dev_proba = fit_ngram_member(train, dev, labels, dev_proba, args.seed, context=reads)
    y_dev = label_matrix(dev, labels)
    thresholds = choose_thresholds(policy, y_dev, dev_proba)
    report = full_report(y_dev, dev_proba >= thresholds, labels, [u["lang"] for u in dev], bootstrap=200)
    result = DistillResult(
        output_dir=out,
        labels=labels,
        layers=chosen,
        thresholds=thresholds,
        dev_report=report,
        seconds=time.perf_counter() - started,
        counts={"train": len(train), "unlabelled": len(extra), "dev": len(dev)},
        ngram=ngram,
    )
    if save:
        save_student(student, tokenizer, result, args, teacher_dir, policy, dev)
    return result


def _card(result: DistillResult, args: DistillArguments, teacher: ModelDir) -> str:
    rep = result.dev_report
    per = ", ".join(f"{k} {v['macro_f1']:.3f}" for k, v in sorted(rep["per_language"].items()))
    return "\n".join(
        [
            "---",
            "library_name: clausetag",
            "pipeline_tag: text-classification",
            "tags: [clausetag, gdpr, privacy-policy, distillation]",
            "---",
            "",
            f"# {result.output_dir.name}",
            "",
            f"A distilled student of `{teacher.path.name}`: {args.layers} of its "
            f"{teacher.config.get('num_hidden_layers', '?')} transformer layers (teacher layers "
            f"{', '.join(map(str, result.layers))}), trained on the teacher's scores over "
            f"{result.counts['train']} corpus units and {result.counts['unlabelled']} unlabelled ones, "
            f"gold-label share {args.gold_weight:g}, {args.num_train_epochs:g} epochs. The teacher's "
            "prefix, pooling, context recipe, threshold policy and n-gram member are kept.",
            "",
            f"Dev ({result.counts['dev']} units): macro-F1 {rep['macro_f1']:.3f} ({per}), "
            f"micro-F1 {rep['micro_f1']:.3f}. Dev documents are authored policies; the LODO figures "
            "on real policies are in the project's docs/student.md.",
            "",
        ]
    )


def save_student(
    student: Any,
    tokenizer: Any,
    result: DistillResult,
    args: DistillArguments,
    teacher: ModelDir,
    policy: str,
    dev: Sequence[CorpusUnit],
) -> None:
    """The student's model directory, through the one writer (read back as a check)."""
    ModelDir.save(
        result.output_dir,
        ModelDirParts(
            model=student,
            tokenizer=tokenizer,
            labels=result.labels,
            thresholds=[float(t) for t in result.thresholds],
            max_length=teacher.max_length,
            threshold_method=f"{threshold_method(policy, dev)}, the student's scores",
            support=dict(zip(result.labels, map(int, label_matrix(dev, result.labels).sum(0)), strict=True)),
            training_args={
                "distill": dataclasses.asdict(args),
                "teacher": {"path": str(teacher.path), "layers": result.layers},
                "training": {"threshold_policy": policy},
                "versions": versions(),
                "train_seconds": round(result.seconds, 1),
                "counts": result.counts,
            },
            metrics={"dev": result.dev_report, "test": None},
            card=_card(result, args, teacher),
            ngram=result.ngram,
        ),
    )


def main(argv: list[str]) -> int:
    from clausetag.training.train import load_splits, with_contexts

    args = parse_args(argv)
    teacher = ModelDir.open(args.teacher)
    data_args = _teacher_data(teacher, args)
    seed = _section(teacher, "training").get("seed")
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else args.seed
    labels, train, dev, _ = load_splits(data_args, seed)  # the teacher's own dev documents
    train, dev = with_contexts(train, teacher.context), with_contexts(dev, teacher.context)
    extra = unlabelled_units(args.unlabelled, teacher) if args.unlabelled else []
    result = distil(args, train, dev, labels, extra)
    rep = result.dev_report
    per = ", ".join(f"{k} {v['macro_f1']:.3f}" for k, v in sorted(rep["per_language"].items()))
    print(
        f"saved {result.output_dir} ({args.layers} layers) in {result.seconds / 60:.1f} min — "
        f"dev macro-F1 {rep['macro_f1']:.3f} ({per})",
        file=sys.stderr,
    )
    return 0


__all__ = [
    "DistillArguments",
    "DistillResult",
    "distil",
    "layer_choice",
    "main",
    "make_student",
    "parse_args",
]
