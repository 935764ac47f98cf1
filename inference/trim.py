"""Vocabulary trimming: a model directory that knows only the pieces its languages need.

multilingual-e5-small spends 96M of its 118M parameters on a 250 002-piece
SentencePiece (Unigram) vocabulary for about 100 languages. ``trim_model``
writes a new model directory whose ``tokenizer.json`` keeps

* every special token (``<s>``, ``<pad>``, ``</s>``, ``<unk>``, ``<mask>``),
* every piece the full tokenizer uses on the *vocabulary texts* (by default the
  corpus's authored policies and, where installed, Debian's hunspell word lists
  for English and Latvian; never the seed policies the parity checks run on),
* every single-character piece of the Latin, Greek and Cyrillic scripts, of
  punctuation and common symbols, and of any character in the vocabulary texts,

with their Unigram scores unchanged and the ids renumbered in the old order, and
whose embedding matrix holds the matching rows. Nothing else changes: torch and
ONNX load the directory like any other.

Why this is exact where it matters: a Unigram tokenizer picks the segmentation
with the best total score. If every piece of a text's best segmentation is kept,
that segmentation is still the best among the kept pieces, so the text gets the
same pieces (renumbered) and the model the same embedding rows. A text that
needed a dropped piece gets the best segmentation out of shorter kept pieces,
down to single characters; a character outside the kept scripts becomes
``<unk>``, as any character the original vocabulary lacks already did.
Tokenising never fails.

Needs numpy, tokenizers and safetensors; not torch.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clausetag.errors import ClausetagError
from clausetag.inference.modeldir import ONNX_DIR, ModelDir, model_dir_writer
from clausetag.io import human_bytes, write_json
from clausetag.models.encoder import sha256_of

log = logging.getLogger(__name__)

TRIM_FILE = "trim.json"
TRIM_FORMAT = "clausetag-trim/1"
#: Where the corpus lives beside this package (repository and installed wheel alike).
CORPUS_DIR = Path(__file__).resolve().parent.parent / "data" / "corpus"
#: Debian's hunspell-en-us, hunspell-en-gb and hunspell-lv (``apt-get install …``), when present.
HUNSPELL_DICTS = tuple(Path("/usr/share/hunspell") / f"{name}.dic" for name in ("en_US", "en_GB", "lv_LV"))
#: Single characters kept whatever the vocabulary texts hold: the fallback of last resort.
KEPT_CHAR_RANGES = (
    (0x0020, 0x024F),  # Basic Latin … Latin Extended-B (all of Latvian's ā č ē ģ ī ķ ļ ņ š ū ž)
    (0x0370, 0x04FF),  # Greek, Cyrillic
    (0x1E00, 0x1EFF),  # Latin Extended Additional
    (0x2000, 0x2BFF),  # punctuation, currency, letter-like, arrows, maths, shapes, dingbats
)
#: Rewritten (or, for onnx/, exported again); every other file and folder is copied as it is
#: (thresholds.json, the model card, an ensemble's ngram/ member, …).
_NOT_COPIED = frozenset(
    {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", ONNX_DIR, TRIM_FILE}
)
_BATCH = 4096


@dataclass
class TrimReport:
    """What ``trim_model`` kept, from what, and what it saved."""

    source: str
    output: str
    pieces_before: int
    pieces_after: int
    embedding_rows_before: int
    embedding_rows_after: int
    parameters_before: int
    parameters_after: int
    weights_bytes_before: int
    weights_bytes_after: int
    vocabulary_texts: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.pieces_before} → {self.pieces_after} pieces, "
            f"{self.parameters_before / 1e6:.1f}M → {self.parameters_after / 1e6:.1f}M parameters, "
            f"model.safetensors {human_bytes(self.weights_bytes_before)} → "
            f"{human_bytes(self.weights_bytes_after)}"
        )


# --------------------------------------------------------------------------- vocabulary texts


def default_vocabulary_sources() -> list[Path]:
    """The authored policies of the corpus (not the seed policies) and any installed word lists."""
    sources = [p for p in (CORPUS_DIR / "authored", CORPUS_DIR / "authored.jsonl") if p.exists()]
    return sources + [p for p in HUNSPELL_DICTS if p.is_file()]


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".txt", ".dic"))
    if path.is_file():
        return [path]
    raise ClausetagError(f"{path}: vocabulary text not found")


def read_vocabulary_texts(path: Path) -> list[str]:
    """Texts of one source: JSONL ``text`` fields, hunspell ``.dic`` words (flags dropped), or lines."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ClausetagError(f"{path}: cannot read a vocabulary text ({exc})") from None
    lines = [line for line in raw.splitlines() if line.strip()]
    if path.suffix == ".jsonl":
        texts = []
        for number, line in enumerate(lines, 1):
            try:
                texts.append(str(json.loads(line)["text"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ClausetagError(f"{path}:{number}: not a JSON object with a 'text'") from None
        return texts
    if path.suffix == ".dic":  # hunspell: a count, then "word/FLAGS morphology"
        words = [line.split("/")[0].split("\t")[0].split(" ")[0] for line in lines[1:]]
        # Sentence-initial and mid-sentence forms: "▁Privacy" and "▁privacy" are different pieces.
        return [w for word in words if word for w in dict.fromkeys((word, word[:1].upper() + word[1:]))]
    return lines


# --------------------------------------------------------------------------- tokenizer rewriting


def _load_tokenizer_json(model_dir: Path) -> dict[str, Any]:
    try:
        spec = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ClausetagError(f"{model_dir}/tokenizer.json: cannot read it ({exc})") from None
    kind = (spec.get("model") or {}).get("type")
    if kind != "Unigram":
        raise ClausetagError(
            f"{model_dir}: vocabulary trimming needs a SentencePiece Unigram tokenizer "
            f"(XLM-R, E5); this one is {kind or 'unknown'}"
        )
    return dict(spec)


def _kept_char(piece: str, extra: set[str]) -> bool:
    if len(piece) != 1:
        return False
    code = ord(piece)
    return piece in extra or any(lo <= code <= hi for lo, hi in KEPT_CHAR_RANGES)


def choose_pieces(spec: dict[str, Any], texts: Iterable[str], prefix: str = "") -> np.ndarray:
    """Sorted old ids to keep: specials, pieces the texts use, and fallback characters."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(json.dumps(spec))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    vocab = spec["model"]["vocab"]
    used = np.zeros(len(vocab), dtype=bool)
    chars: set[str] = set()
    batch: list[str] = []

    def flush() -> None:
        for enc in tokenizer.encode_batch(batch):
            used[enc.ids] = True
        batch.clear()

    for text in texts:
        batch.append(prefix + text)
        chars.update(text)
        if len(batch) >= _BATCH:
            flush()
    flush()
    for token in spec.get("added_tokens", []):
        used[int(token["id"])] = True
    used[int(spec["model"].get("unk_id") or 0)] = True
    for i, (piece, _score) in enumerate(vocab):
        if not used[i] and (piece == "▁" or _kept_char(piece, chars)):
            used[i] = True
    return np.flatnonzero(used)


def _remap_ids(node: Any, remap: dict[int, int]) -> Any:
    """Renumber the special-token ids of a post-processor (Template, Roberta or Bert style)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "ids" and isinstance(value, list):
                out[key] = [remap[int(v)] for v in value]
            elif key in ("sep", "cls") and isinstance(value, list) and len(value) == 2:
                out[key] = [value[0], remap[int(value[1])]]
            else:
                out[key] = _remap_ids(value, remap)
        return out
    if isinstance(node, list):
        return [_remap_ids(v, remap) for v in node]
    return node


def trimmed_tokenizer(spec: dict[str, Any], keep: np.ndarray) -> dict[str, Any]:
    """``tokenizer.json`` with only the ``keep`` pieces (scores unchanged, ids renumbered)."""
    remap = {int(old): new for new, old in enumerate(keep)}
    out = dict(spec)
    model = dict(spec["model"])
    model["vocab"] = [spec["model"]["vocab"][int(i)] for i in keep]
    if model.get("unk_id") is not None:
        model["unk_id"] = remap[int(model["unk_id"])]
    out["model"] = model
    out["added_tokens"] = [{**t, "id": remap[int(t["id"])]} for t in spec.get("added_tokens", [])]
    if spec.get("post_processor") is not None:
        out["post_processor"] = _remap_ids(spec["post_processor"], remap)
    return out


def _tokenizer_config(path: Path, remap: dict[int, int]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    config = dict(json.loads(path.read_text(encoding="utf-8")))
    decoder = config.get("added_tokens_decoder")
    if isinstance(decoder, dict):
        config["added_tokens_decoder"] = {str(remap[int(k)]): v for k, v in decoder.items()}
    return config


# --------------------------------------------------------------------------- weights


def _embedding_name(names: Sequence[str], shapes: dict[str, tuple[int, ...]], rows: int) -> str:
    found = [n for n in names if n.endswith("word_embeddings.weight") and shapes[n][0] == rows]
    if len(found) != 1:
        raise ClausetagError(
            f"expected one word-embedding matrix with {rows} rows (config vocab_size) in "
            f"model.safetensors, found {found or 'none'}"
        )
    return found[0]


def _trimmed_weights(path: Path, rows: int, keep: np.ndarray) -> tuple[dict[str, np.ndarray], int, int]:
    """All tensors, the word embeddings gathered to ``keep``; parameter counts before and after."""
    from safetensors import SafetensorError, safe_open

    tensors: dict[str, np.ndarray] = {}
    try:
        with safe_open(str(path), framework="np") as fh:
            names = list(fh.keys())
            shapes = {n: tuple(fh.get_slice(n).get_shape()) for n in names}
            embedding = _embedding_name(names, shapes, rows)
            for name in names:
                tensors[name] = fh.get_tensor(name)
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise ClausetagError(f"{path}: cannot read the weights ({' '.join(str(exc).split())})") from None
    before = sum(int(np.prod(t.shape)) for t in tensors.values())
    if int(keep.max()) >= tensors[embedding].shape[0]:
        raise ClausetagError(f"{path}: the tokenizer has more pieces than the embedding matrix has rows")
    tensors[embedding] = np.ascontiguousarray(tensors[embedding][keep])
    after = sum(int(np.prod(t.shape)) for t in tensors.values())
    return tensors, before, after


# --------------------------------------------------------------------------- the directory


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def trim_model(
    source: str | Path,
    output: str | Path,
    vocabulary_sources: Sequence[str | Path] | None = None,
    overwrite: bool = False,
) -> TrimReport:
    """Write ``output``: ``source`` with the vocabulary its texts need (see the module docstring).

    The folder appears only when complete and read back as a model directory
    (``inference.modeldir.model_dir_writer``, the staging behind ``ModelDir.save``).
    """
    out = Path(output)
    if out.exists() and not overwrite:
        raise ClausetagError(f"{out} exists; choose another output or pass --overwrite")
    with model_dir_writer(out) as staged:
        report = write_trimmed(source, staged, vocabulary_sources)
    report.output = str(out)
    return report


def write_trimmed(
    source: str | Path, dest: Path, vocabulary_sources: Sequence[str | Path] | None = None
) -> TrimReport:
    """Fill the existing, empty folder ``dest`` with the trimmed copy of model directory ``source``."""
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer

    model_dir = ModelDir.open(source)
    spec = _load_tokenizer_json(model_dir.path)
    sources = [Path(p) for p in (vocabulary_sources or default_vocabulary_sources())]
    if not sources:
        raise ClausetagError("no vocabulary texts: name some with --vocab-text")
    texts: list[str] = []
    described = []
    for path in sources:
        for file in _files(path):
            got = read_vocabulary_texts(file)
            texts += got
            described.append({"path": str(file), "texts": len(got), "sha256": sha256_of(file)})
    if not texts:
        raise ClausetagError(f"the vocabulary texts ({', '.join(map(str, sources))}) hold no text")
    keep = choose_pieces(spec, texts, model_dir.text_prefix)
    new_spec = trimmed_tokenizer(spec, keep)
    remap = {int(old): new for new, old in enumerate(keep)}
    rows = int(model_dir.config.get("vocab_size") or len(spec["model"]["vocab"]))
    weights = model_dir.path / "model.safetensors"
    if not weights.is_file():
        raise ClausetagError(f"{model_dir.path}: missing model.safetensors")
    tensors, before, after = _trimmed_weights(weights, rows, keep)
    _check_same_ids(spec, new_spec, remap, texts[:: max(1, len(texts) // 2000)], model_dir.text_prefix)
    save_file(tensors, str(dest / "model.safetensors"), metadata={"format": "pt"})
    os.chmod(dest / "model.safetensors", 0o666 & ~_umask())  # save_file makes it private
    write_json(dest / "config.json", dict(model_dir.config, vocab_size=len(keep)))
    Tokenizer.from_str(json.dumps(new_spec)).save(str(dest / "tokenizer.json"))
    tok_config = _tokenizer_config(model_dir.path / "tokenizer_config.json", remap)
    if tok_config is not None:
        write_json(dest / "tokenizer_config.json", tok_config)
    for item in sorted(model_dir.path.iterdir()):
        if item.name in _NOT_COPIED or item.name.startswith("."):
            continue
        if item.is_dir():
            shutil.copytree(item, dest / item.name)
        else:
            shutil.copy2(item, dest / item.name)
    report = TrimReport(
        source=str(model_dir.path),
        output=str(dest),
        pieces_before=len(spec["model"]["vocab"]),
        pieces_after=len(keep),
        embedding_rows_before=rows,
        embedding_rows_after=len(keep),
        parameters_before=before,
        parameters_after=after,
        weights_bytes_before=weights.stat().st_size,
        weights_bytes_after=(dest / "model.safetensors").stat().st_size,
        vocabulary_texts=described,
    )
    write_json(dest / TRIM_FILE, {"format": TRIM_FORMAT, **asdict(report), "kept_old_ids": keep.tolist()})
    log.info("trimmed %s: %s", model_dir.path, report.summary())
    return report


def _check_same_ids(
    spec: dict[str, Any], new_spec: dict[str, Any], remap: dict[int, int], texts: list[str], prefix: str
) -> None:
    """The vocabulary texts must tokenise exactly as before (renumbered): the premise of trimming."""
    from tokenizers import Tokenizer

    old, new = Tokenizer.from_str(json.dumps(spec)), Tokenizer.from_str(json.dumps(new_spec))
    for tok in (old, new):
        tok.no_truncation()
        tok.no_padding()
    batch = [prefix + t for t in texts]
    for text, a, b in zip(batch, old.encode_batch(batch), new.encode_batch(batch), strict=True):
        if [remap[i] for i in a.ids] != b.ids:
            raise ClausetagError(
                f"the trimmed tokenizer splits {text[:60]!r} differently; nothing was written"
            )


def same_tokens(old_dir: ModelDir, new_dir: ModelDir, texts: Sequence[str]) -> np.ndarray:
    """Per text: does the trimmed directory give the same pieces as the original? (for reports)"""
    from clausetag.inference.tokenization import BatchTokenizer

    a = BatchTokenizer(old_dir.path / "tokenizer.json", old_dir.max_length, old_dir.text_prefix).encode(texts)
    b = BatchTokenizer(new_dir.path / "tokenizer.json", new_dir.max_length, new_dir.text_prefix).encode(texts)
    return np.array([x.tokens == y.tokens for x, y in zip(a, b, strict=True)])


__all__ = [
    "TRIM_FILE",
    "TrimReport",
    "choose_pieces",
    "default_vocabulary_sources",
    "same_tokens",
    "trim_model",
    "write_trimmed",
]
