"""The model directory: the one contract between training and inference.

A model directory holds ``config.json`` (``problem_type`` multi-label, real
names in ``id2label``), ``model.safetensors``, ``tokenizer.json`` (+ config),
``thresholds.json`` (per-label decision thresholds and the max length the model
was trained with), ``training_args.json``, ``README.md`` (model card) and
optionally ``onnx/model.onnx`` / ``onnx/model_int8.onnx``. Training writes it
through ``model_dir_writer`` (and ``save_thresholds``); every reader goes
through ``ModelDir.open``. No file in it is ever unpickled.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
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
DEFAULT_MAX_LENGTH = 256


def save_thresholds(
    model_dir: str | Path,
    labels: Sequence[str],
    thresholds: Mapping[str, float],
    max_length: int,
    method: str = "",
    support: Mapping[str, int] | None = None,
) -> None:
    """Write ``thresholds.json``: the thresholds, how they were chosen and on how many positives."""
    missing = [x for x in labels if x not in thresholds]
    if missing:
        raise ValueError(f"no threshold for {missing}")
    record: dict[str, Any] = {
        "format": THRESHOLDS_FORMAT,
        "max_length": int(max_length),
        "thresholds": {x: round(float(thresholds[x]), 4) for x in labels},
    }
    if method:
        record["method"] = method
    if support is not None:
        record["support"] = {x: int(support.get(x, 0)) for x in labels}
    write_json(Path(model_dir) / THRESHOLDS_FILE, record)


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
    max_length = th.get("max_length", DEFAULT_MAX_LENGTH)
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

    def onnx_file(self, variant: str = "onnx") -> Path:
        return self.path / ONNX_DIR / ONNX_FILES[variant]


@contextlib.contextmanager
def model_dir_writer(path: str | Path) -> Iterator[Path]:
    """The one writer of a model directory, beside its one reader.

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
