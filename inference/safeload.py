"""A model folder is untrusted input: read with limits, never run, its parts checked against each other.

Models are downloaded and shared, so every load goes through this module:
``ModelDir.open`` (every inference path: predict, report, evaluate, export-onnx,
the Ray workers, the API) and ``pretrained`` (every transformers
``from_pretrained``: the torch backend, train's ``--model_name_or_path``, the
recipe study's encoder).

* **No code runs.** ``trust_remote_code=False`` is passed explicitly to every
  transformers loader, and a ``config.json`` or ``tokenizer_config.json`` with
  ``auto_map`` (how a folder ships its own Python) or a ``model_type``
  transformers does not know is refused with one message before transformers
  reads the folder (it would otherwise ask "Do you wish to run the custom
  code?" on stdout, inside a JSONL stream).
* **Every file is read with limits.** JSON files through ``clausetag.io``'s
  guarded reader (a size cap, regular files only, no FIFO or device hang); the
  files libraries open themselves (weights, ONNX graphs) are checked by
  ``guard_folder`` first: anything in the folder that is not a regular file (a
  link to ``/dev/zero``, a FIFO, a socket) or is larger than the cap is refused.
* **Parts are checked against each other at load**, not mid-run in
  onnxruntime: ``max_length`` against the position embeddings, the tokenizer's
  vocabulary against the word-embedding rows (a full-vocabulary
  ``tokenizer.json`` in a trimmed folder), ``config.json``'s ``vocab_size``
  against the weights. The n-gram member bounds its own settings
  (``inference.ngram``).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clausetag.errors import ClausetagError
from clausetag.io import json_type, open_guarded, read_json

#: Largest JSON file of a model folder (XLM-R's tokenizer.json is 17 MB, an n-gram vocabulary a few).
MODEL_JSON_MAX_BYTES = 256 * 1024 * 1024
#: Largest weights or graph file (a base-size encoder in fp32 is about 1 GB).
MODEL_FILE_MAX_BYTES = 16 * 1024**3
#: A safetensors header names tensors, shapes and offsets: kilobytes, never this much.
_HEADER_MAX_BYTES = 64 * 1024 * 1024
#: The folders inside a model folder that hold files clausetag or a library reads.
SUBFOLDERS = ("onnx", "ngram")
#: Files transformers reads to pick classes; ``auto_map`` in either would import the folder's code.
CODE_HOOK_FILES = ("config.json", "tokenizer_config.json")
#: Passed to every transformers loader, explicitly: no model folder's code is ever imported.
NO_REMOTE_CODE: dict[str, Any] = {"trust_remote_code": False}
#: Model types whose position ids start after the padding index (their first pad_id + 1 rows unused).
_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert")


def read_model_json(path: Path, what: str = "a clausetag model directory") -> dict[str, Any]:
    """A JSON object from a model-folder file, through the guarded reader; one message per problem."""
    if not path.exists() and not path.is_symlink():
        raise ClausetagError(f"{path.parent}: missing {path.name}; is this {what}?")
    obj = read_json(path, MODEL_JSON_MAX_BYTES, regular=True)
    if not isinstance(obj, dict):
        raise ClausetagError(f"{path}: expected a JSON object, not {json_type(obj)}")
    return obj


def _entries(folder: Path) -> Iterator[Path]:
    yield from sorted(folder.iterdir())
    for sub in SUBFOLDERS:
        if (folder / sub).is_dir():
            yield from sorted((folder / sub).iterdir())


def guard_folder(folder: Path) -> None:
    """Refuse a model folder holding anything a reader could hang on or drown in.

    Every entry of the folder (and of ``onnx/``, ``ngram/``) must be a regular
    file of at most ``MODEL_FILE_MAX_BYTES`` once links are followed, or a folder.
    """
    from clausetag.io import guard_file

    try:
        entries = list(_entries(folder))
    except OSError as exc:
        raise ClausetagError(f"{folder}: cannot list the model directory ({exc.strerror or exc})") from None
    for entry in entries:
        if entry.is_dir() or (entry.is_symlink() and not entry.exists()):
            continue  # folders are not read; a dangling link is as good as absent
        guard_file(entry, MODEL_FILE_MAX_BYTES, "is this a model file?")


def refuse_code(folder: Path, config: dict[str, Any]) -> None:
    """``auto_map`` in ``config.json`` or ``tokenizer_config.json``: the folder would run its own code."""
    configs = {"config.json": config}
    tok_config = folder / "tokenizer_config.json"
    if tok_config.exists():
        configs["tokenizer_config.json"] = read_model_json(tok_config)
    for name, obj in configs.items():
        if "auto_map" in obj:
            raise ClausetagError(
                f"{folder}/{name}: has 'auto_map', which makes transformers import Python code "
                "shipped in the model folder; clausetag never runs a model's code (use a model "
                "whose classes transformers itself provides)"
            )


def check_model_type(where: str, config: dict[str, Any]) -> None:
    """A ``model_type`` that transformers (or clausetag's mean-pooling head) provides; refused otherwise."""
    from transformers import CONFIG_MAPPING

    import clausetag.models.modeling  # noqa: F401  (registers clausetag's own model type)

    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise ClausetagError(
            f"{where}/config.json: model_type {model_type!r} is not one transformers knows; "
            "clausetag loads only model types transformers itself provides (never a folder's own code)"
        )


def pretrained(loader: Any, name: str | Path, **kwargs: Any) -> Any:
    """``loader.from_pretrained(name, **kwargs)`` that never runs a model's code.

    A local folder is checked first (``guard_folder``, ``refuse_code``,
    ``check_model_type``); a hub id is fetched by transformers, which with
    ``trust_remote_code=False`` refuses custom code itself.
    """
    folder = Path(name)
    if folder.is_file():
        raise ClausetagError(f"{folder}: is a file, not a model directory")
    if folder.is_dir():
        guard_folder(folder)
        config = read_model_json(folder / "config.json", "a Hugging Face model folder")
        refuse_code(folder, config)
        check_model_type(str(folder), config)
    return loader.from_pretrained(name, **kwargs, **NO_REMOTE_CODE)


# --------------------------------------------------------------------------- parts against each other


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor shapes from a safetensors file's header alone (the weights are not read)."""
    with open_guarded(path, MODEL_FILE_MAX_BYTES, "is this a model file?", regular=True) as fh:
        head = fh.read(8)
        size = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        if not 2 <= size <= _HEADER_MAX_BYTES:
            raise ClausetagError(
                f"{path.parent}: cannot load the model ({path.name}: bad safetensors header length)"
            )
        raw = fh.read(size)
    try:
        header = json.loads(raw)
        return {k: tuple(int(n) for n in v["shape"]) for k, v in header.items() if k != "__metadata__"}
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        raise ClausetagError(
            f"{path.parent}: cannot load the model ({path.name}: malformed safetensors header)"
        ) from None


def _rows(shapes: dict[str, tuple[int, ...]], suffix: str) -> int | None:
    found = [shape[0] for name, shape in shapes.items() if name.endswith(suffix) and shape]
    return found[0] if len(found) == 1 else None


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _weights_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    weights = folder / "model.safetensors"
    return safetensors_shapes(weights) if weights.is_file() else {}


def token_positions(folder: Path, config: dict[str, Any]) -> int | None:
    """How many token positions the encoder has: config.json's and the weights', the smaller.

    RoBERTa-style models reserve the first ``pad_token_id + 1`` positions.
    """
    counts = [
        n
        for n in (
            _whole(config.get("max_position_embeddings")),
            _rows(_weights_shapes(folder), "embeddings.position_embeddings.weight"),
        )
        if n is not None
    ]
    if not counts:
        return None
    n = min(counts)
    if config.get("model_type") in _OFFSET_POSITIONS:
        n -= (_whole(config.get("pad_token_id")) or 0) + 1
    return n


def check_max_length(folder: Path, config: dict[str, Any], max_length: int) -> None:
    """``thresholds.json``'s max_length must fit the position embeddings (else onnxruntime fails mid-run)."""
    positions = token_positions(folder, config)
    if positions is not None and max_length > positions:
        raise ClausetagError(
            f"{folder}: max_length {max_length} in thresholds.json is more than the model's "
            f"{positions} token positions (config.json, model.safetensors); lower it to at most {positions}"
        )


def check_vocabulary(folder: Path, config: dict[str, Any], pieces: int) -> None:
    """Every token id the tokenizer can give must have a row in the word embeddings."""
    declared = _whole(config.get("vocab_size"))
    rows = _rows(_weights_shapes(folder), "embeddings.word_embeddings.weight")
    if declared is not None and rows is not None and declared != rows:
        raise ClausetagError(
            f"{folder}: config.json says vocab_size {declared} but the word embeddings in "
            f"model.safetensors have {rows} rows; the two files come from different models"
        )
    limit = rows if rows is not None else declared
    if limit is not None and pieces > limit:
        raise ClausetagError(
            f"{folder}: tokenizer.json has {pieces} pieces but the model's word embeddings have "
            f"{limit} rows (a full-vocabulary tokenizer.json in a trimmed folder?); put the "
            "folder's own tokenizer.json back"
        )


def read_tokenizer_json(path: str | Path) -> str:
    """A ``tokenizer.json``'s text through the guarded reader (``tokenizers`` then parses it)."""
    from clausetag.io import read_text

    return read_text(path, MODEL_JSON_MAX_BYTES, "is this a tokenizer.json?", regular=True)
