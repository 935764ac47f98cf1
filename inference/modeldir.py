"""The model directory: the one contract between training and inference.

A model directory holds ``config.json`` (``problem_type`` multi-label, real
names in ``id2label``), ``model.safetensors``, ``tokenizer.json`` (+ config),
``thresholds.json`` (per-label decision thresholds and the max length the model
was trained with), ``training_args.json``, ``README.md`` (model card) and
optionally ``onnx/model.onnx`` / ``onnx/model_int8.onnx``. ``ModelDir`` owns
both directions: ``ModelDir.save`` is the one writer (training and distillation
call it once; ``ClauseClassifier.save_pretrained`` copies a directory through
it) and ``ModelDir.open`` the one reader. No file in it is ever unpickled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clausetag.errors import ClausetagError
from clausetag.inference.context import CONFIG_KEY as CONTEXT_KEY
from clausetag.inference.context import ContextRecipe
from clausetag.inference.safeload import (
    check_max_length,
    check_vocabulary,
    guard_folder,
    read_model_json,
    refuse_code,
)
from clausetag.inference.tokenization import BatchTokenizer
from clausetag.io import atomic_path, check_strings, write_json
from clausetag.labels import check_label_set

THRESHOLDS_FILE = "thresholds.json"
THRESHOLDS_FORMAT = "clausetag-thresholds/1"
ONNX_DIR = "onnx"
ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model_int8.onnx"}
#: Tokens per input of a directory whose thresholds.json records no ``max_length`` (one not
#: written by clausetag: every directory ModelDir.save writes records the length it trained at,
#: ``clausetag train --max_length``, 96 by default).
UNRECORDED_MAX_LENGTH = 256


def _thresholds_record(parts: ModelDirParts) -> dict[str, Any]:
    """``thresholds.json``: the thresholds, how they were chosen and on how many positives."""
    labels = list(parts.labels)
    if len(parts.thresholds) != len(labels):
        raise ValueError(f"{len(parts.thresholds)} thresholds for {len(labels)} labels")
    record: dict[str, Any] = {
        "format": THRESHOLDS_FORMAT,
        "max_length": int(parts.max_length),
        "thresholds": {x: round(float(t), 4) for x, t in zip(labels, parts.thresholds, strict=True)},
    }
    if parts.threshold_method:
        record["method"] = parts.threshold_method
    if parts.support is not None:
        record["support"] = {x: int(parts.support.get(x, 0)) for x in labels}
    return record


@dataclass(frozen=True)
class ModelDirParts:
    """Everything a model directory holds, as its one writer (``ModelDir.save``) takes it.

    ``model`` and ``tokenizer`` are the transformers objects (each written with its
    ``save_pretrained``; safetensors only); ``ngram`` an ``NgramMember`` or None.
    """

    model: Any
    tokenizer: Any
    labels: Sequence[str]
    thresholds: Sequence[float]
    max_length: int
    threshold_method: str
    support: Mapping[str, int] | None
    training_args: Mapping[str, Any]
    metrics: Mapping[str, Any]
    card: str
    ngram: Any = None


#: Files ``save_pretrained`` may leave that the contract never holds (pickles).
_NEVER_WRITTEN = ("training_args.bin", "pytorch_model.bin")


def _write_parts(folder: Path, parts: ModelDirParts) -> None:
    parts.model.save_pretrained(str(folder), safe_serialization=True)  # config.json + model.safetensors
    parts.tokenizer.save_pretrained(str(folder))
    for name in _NEVER_WRITTEN:
        (folder / name).unlink(missing_ok=True)
    write_json(folder / THRESHOLDS_FILE, _thresholds_record(parts))
    write_json(folder / "training_args.json", dict(parts.training_args))
    write_json(folder / "metrics.json", dict(parts.metrics))
    (folder / "README.md").write_text(parts.card, encoding="utf-8")
    if parts.ngram is not None:
        parts.ngram.save(folder)


def _load_json(path: Path) -> dict[str, Any]:
    """A JSON object from a model-directory file (the guarded reader: size cap, regular files only)."""
    return read_model_json(path)


def _read_labels(p: Path, config: dict[str, Any]) -> tuple[str, ...]:
    """``id2label``: ids "0".."n-1", each naming a distinct, non-empty label."""
    id2label = config.get("id2label")
    if not isinstance(id2label, dict) or not id2label:
        raise ClausetagError(f"{p}/config.json has no id2label: not a classifier")
    try:
        names = [id2label[str(i)] for i in range(len(id2label))]
    except KeyError:
        raise ClausetagError(f"{p}/config.json: id2label ids are not 0..{len(id2label) - 1}") from None
    if not all(isinstance(x, str) for x in names):
        raise ClausetagError(f"{p}/config.json: id2label must map each id to a label name (a string)")
    return tuple(check_label_set(names, source=f"{p}/config.json id2label"))


def _read_thresholds(p: Path, th: dict[str, Any], labels: tuple[str, ...]) -> tuple[float, ...]:
    """One number in [0, 1] per label, for exactly the labels of config.json."""
    table = th.get("thresholds")
    if not isinstance(table, dict):
        raise ClausetagError(f"{p}/{THRESHOLDS_FILE}: no 'thresholds' table")
    if set(table) != set(labels):
        only_model = sorted(set(labels) - set(table))
        only_th = sorted(set(table) - set(labels))
        raise ClausetagError(
            f"{p}: the label set of config.json does not match {THRESHOLDS_FILE} "
            f"(only in config: {only_model or '-'}; only in thresholds: {only_th or '-'})"
        )
    bad = [  # JSON true is no threshold, though Python counts it as 1; NaN fails the range test
        k
        for k, v in table.items()
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0
    ]
    if bad:
        raise ClausetagError(f"{p}/{THRESHOLDS_FILE}: thresholds must be numbers in [0, 1] ({bad})")
    return tuple(float(table[x]) for x in labels)


def _read_max_length(p: Path, th: dict[str, Any]) -> int:
    max_length = th.get("max_length", UNRECORDED_MAX_LENGTH)
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ClausetagError(
            f"{p}/{THRESHOLDS_FILE}: max_length must be a whole number of at least 1, not {max_length!r}"
        )
    return max_length


@dataclass(frozen=True)
class ModelDir:
    """A checked model directory: labels in output order and their thresholds."""

    path: Path
    labels: tuple[str, ...]
    thresholds: tuple[float, ...]
    max_length: int
    config: dict[str, Any]
    threshold_method: str = "unknown"

    @property
    def text_prefix(self) -> str:
        """The string training put before every input (E5's ``"query: "``), from config.json."""
        return str(self.config.get("text_prefix") or "")

    @property
    def context(self) -> ContextRecipe:
        """What context the model reads besides each unit (checked at ``open``), from config.json."""
        return ContextRecipe.from_config(self.config)

    def batch_tokenizer(self) -> BatchTokenizer:
        """The directory's tokenizer with the model's own prefix, max length and context budget."""
        recipe = self.context
        tokenizer = BatchTokenizer(
            self.path / "tokenizer.json",
            self.max_length,
            self.text_prefix,
            recipe.max_tokens if recipe.active else 0,
        )
        check_vocabulary(self.path, self.config, tokenizer.tokenizer.get_vocab_size(with_added_tokens=True))
        return tokenizer

    @classmethod
    def open(cls, path: str | Path) -> ModelDir:
        """Read and check a model directory; every problem is a ``ClausetagError`` naming the file."""
        if not isinstance(path, str | os.PathLike):
            raise ClausetagError(f"the model directory must be a path, not {type(path).__name__}")
        p = Path(path)
        if p.is_file():
            raise ClausetagError(f"{p}: is a file, not a model directory")
        if not p.is_dir():
            raise ClausetagError(f"{p}: model directory not found")
        guard_folder(p)  # no device, FIFO or oversized file anywhere in it (``inference.safeload``)
        config = _load_json(p / "config.json")
        refuse_code(p, config)
        labels = _read_labels(p, config)
        if config.get("problem_type") != "multi_label_classification":
            raise ClausetagError(
                f"{p}/config.json: problem_type is {config.get('problem_type')!r}, "
                "expected 'multi_label_classification'"
            )
        th = _load_json(p / THRESHOLDS_FILE)
        thresholds = _read_thresholds(p, th, labels)
        prefix = config.get("text_prefix", "")
        if not isinstance(prefix, str | None):
            raise ClausetagError(f"{p}/config.json: text_prefix must be a string")
        check_strings(prefix, f"{p}/config.json: text_prefix")
        try:
            ContextRecipe.from_config(config)
        except (TypeError, ValueError) as exc:
            raise ClausetagError(f"{p}/config.json: {CONTEXT_KEY}: {exc}") from None
        if not (p / "tokenizer.json").is_file():
            raise ClausetagError(f"{p}: missing tokenizer.json")
        max_length = _read_max_length(p, th)
        check_max_length(p, config, max_length)
        return cls(
            path=p,
            labels=labels,
            thresholds=thresholds,
            max_length=max_length,
            config=config,
            threshold_method=str(th.get("method", "unknown")),
        )

    def training_record(self) -> dict[str, Any]:
        """``training_args.json`` (read as untrusted, like every model file); {} when it is missing."""
        path = self.path / "training_args.json"
        record = read_model_json(path) if path.is_file() else {}
        return record if isinstance(record, dict) else {}

    def threshold_policy(self, default: str = "global") -> str:
        """The threshold policy training recorded (``training``; ``model`` in directories written
        before the loop settings moved there), else ``default``."""
        record = self.training_record()
        for key in ("training", "model"):
            part = record.get(key)
            if isinstance(part, dict) and isinstance(part.get("threshold_policy"), str):
                return str(part["threshold_policy"])
        return default

    def onnx_file(self, variant: str = "onnx") -> Path:
        return self.path / ONNX_DIR / ONNX_FILES[variant]

    @classmethod
    def save(
        cls, path: str | Path, parts: ModelDirParts, carry: Callable[[Path], None] | None = None
    ) -> ModelDir:
        """Write the model directory ``path`` from ``parts``: the one writer, beside ``open``.

        Written into a temporary folder beside ``path``, read back with ``open``
        (and its n-gram member with ``NgramMember.load``) as the check, and only
        then renamed into place, an older directory replaced whole; on any failure
        ``path`` is left as it was. ``carry(folder)`` may add files of its own
        (the Trainer's checkpoints) before the check.
        """
        with model_dir_writer(path) as folder:
            _write_parts(folder, parts)
            if carry is not None:
                carry(folder)
        return cls.open(path)

    def save_as(self, path: str | Path) -> ModelDir:
        """A copy of this (checked) directory at ``path``, through the same checked, atomic write."""
        target = Path(path)
        if target.resolve() == self.path.resolve():
            raise ClausetagError(f"{target}: is the model directory itself; choose another path")
        with model_dir_writer(target) as folder:
            for item in sorted(self.path.iterdir()):
                if item.name.startswith("."):
                    continue
                if item.is_dir():
                    shutil.copytree(item, folder / item.name, symlinks=False)
                else:
                    shutil.copy2(item, folder / item.name)
        return type(self).open(target)


@contextlib.contextmanager
def model_dir_writer(path: str | Path) -> Iterator[Path]:
    """The staging folder behind ``ModelDir.save`` (and the trimmed and copied directories).

    The block writes the files into a temporary folder beside ``path``; on
    success that folder is re-opened with ``ModelDir.open`` as the check and
    only then renamed into place (an older directory is replaced whole); an
    n-gram member (``ngram/``) is read back with ``NgramMember.load`` too. On any
    failure ``path`` is left as it was and the temporary folder is removed.
    """
    from clausetag.inference.ngram import NgramMember

    with atomic_path(path, directory=True) as tmp:
        yield tmp
        checked = ModelDir.open(tmp)
        NgramMember.load(tmp, checked.labels)  # an n-gram member, if written, must read back too
