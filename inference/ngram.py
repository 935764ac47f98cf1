"""The n-gram member of an ensemble model: TF-IDF features + one logistic regression per label.

Training fits it with scikit-learn (``clausetag.training.baseline``); this module
stores it in the model directory without pickle (``ngram/config.json`` with the
vocabularies, ``ngram/weights.safetensors`` with idf, coefficients and
intercepts) and scores text with numpy alone, so the ONNX path still needs
neither torch nor scikit-learn. The analysers reproduce scikit-learn's
``TfidfVectorizer`` (``word`` with the default token pattern, ``char_wb``),
lower-cased, sublinear tf, L2-normalised per analyser; a parity test holds them
to scikit-learn's own scores.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clausetag.errors import ClausetagError
from clausetag.inference.safeload import MODEL_FILE_MAX_BYTES, read_model_json
from clausetag.inference.scores import sigmoid
from clausetag.io import read_bytes

NGRAM_DIR = "ngram"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT = "clausetag-ngram/1"
KINDS = ("word", "char_wb")
#: Longest n-gram an analyser may use (scikit-learn's char_wb default range is (1, 1); ours (2, 5)).
MAX_NGRAM = 8
#: What an analyser reads: the unit's text, or its rendered context (``inference.context``),
#: whose n-grams are columns of their own.
FIELDS = ("text", "context")
#: Characters of a text that are n-grammed (a 20 MB line costs what a long sentence costs).
MAX_NGRAM_CHARS = 4000
#: Texts scored per sparse product (their features times the weights: about nnz × labels floats).
NGRAM_CHUNK = 256
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _word_ngrams(text: str, lo: int, hi: int) -> list[str]:
    tokens = _TOKEN.findall(text)
    grams = list(tokens) if lo == 1 else []
    for n in range(max(lo, 2), min(hi, len(tokens)) + 1):
        grams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return grams


def _char_wb_ngrams(text: str, lo: int, hi: int) -> list[str]:
    grams = []
    for word in text.split():
        w = f" {word} "
        for n in range(lo, hi + 1):
            grams += [w[i : i + n] for i in range(max(1, len(w) - n + 1))]
            if len(w) <= n:  # a short word counts once, whatever n
                break
    return grams


@dataclass
class Analyzer:
    """One TF-IDF block: how text becomes n-grams, their columns and idf."""

    kind: str
    ngram_range: tuple[int, int]
    vocabulary: dict[str, int]
    idf: np.ndarray
    field: str = "text"

    def grams(self, text: str) -> list[str]:
        lo, hi = self.ngram_range
        text = text[:MAX_NGRAM_CHARS].lower()
        return _word_ngrams(text, lo, hi) if self.kind == "word" else _char_wb_ngrams(text, lo, hi)

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Columns and L2-normalised sublinear tf-idf values of one text (sparse)."""
        known = self.vocabulary.get
        ids = [j for j in map(known, self.grams(text)) if j is not None]
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        cols, tf = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
        values = (1.0 + np.log(tf)) * self.idf[cols]
        return cols, values / np.linalg.norm(values)


@dataclass
class NgramMember:
    """TF-IDF analysers and per-label logistic regressions; ``weight`` is its share of the ensemble."""

    labels: list[str]
    analyzers: list[Analyzer]
    coef: np.ndarray  # (n_features, n_labels): analysers' columns one after another
    intercept: np.ndarray  # (n_labels,)
    weight: float

    @property
    def reads_context(self) -> bool:
        return any(a.field == "context" for a in self.analyzers)

    def predict_proba(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray:
        """Scores of each text; analysers of the ``context`` field read ``contexts`` (else "")."""
        logits = np.tile(self.intercept.astype(np.float64), (len(texts), 1))
        for k in range(0, len(texts), NGRAM_CHUNK):  # bounded memory: nnz × labels per chunk
            part = None if contexts is None else contexts[k : k + NGRAM_CHUNK]
            rows, cols, values = self.sparse_features(texts[k : k + NGRAM_CHUNK], part)
            if len(rows):  # one sparse-times-dense product per chunk: rows come sorted
                starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
                logits[k + rows[starts]] += np.add.reduceat(values[:, None] * self.coef[cols], starts, axis=0)
        return sigmoid(logits)

    def sparse_features(
        self, texts: Sequence[str], contexts: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The TF-IDF matrix of ``texts`` as (row, column, value) triples, rows ascending."""
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for i, text in enumerate(texts):
            offset = 0
            fields = {"text": text, "context": contexts[i] if contexts is not None else ""}
            for a in self.analyzers:
                c, v = a.features(fields[a.field])
                rows.append(np.full(len(c), i, dtype=np.int64))
                cols.append(c + offset)
                values.append(v)
                offset += len(a.idf)
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0)
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(values)

    def mix(
        self, proba: np.ndarray, texts: Sequence[str], contexts: Sequence[str] | None = None
    ) -> np.ndarray:
        """The ensemble's scores: the transformer's ``proba`` and this member's, weighted."""
        mine = self.predict_proba(texts, contexts)
        return ((1.0 - self.weight) * proba + self.weight * mine).astype(proba.dtype)

    # --- the one writer and the one reader of ngram/ ---------------------------------------------

    def save(self, model_dir: str | Path) -> None:
        from safetensors.numpy import save_file

        from clausetag.io import write_json

        out = Path(model_dir) / NGRAM_DIR
        out.mkdir(parents=True, exist_ok=True)
        write_json(
            out / CONFIG_FILE,
            {
                "format": FORMAT,
                "labels": self.labels,
                "weight": round(float(self.weight), 4),
                "analyzers": [
                    {
                        "kind": a.kind,
                        "ngram_range": list(a.ngram_range),
                        "vocabulary": sorted(a.vocabulary, key=a.vocabulary.__getitem__),
                        **({"field": a.field} if a.field != "text" else {}),
                    }
                    for a in self.analyzers
                ],
            },
        )
        tensors = {f"idf.{k}": a.idf.astype(np.float32) for k, a in enumerate(self.analyzers)}
        tensors |= {"coef": self.coef.astype(np.float32), "intercept": self.intercept.astype(np.float32)}
        save_file(tensors, str(out / WEIGHTS_FILE))

    @classmethod
    def load(cls, model_dir: str | Path, labels: Sequence[str]) -> NgramMember | None:
        """The member of ``model_dir`` (None when it has none); every problem a ``ClausetagError``."""
        where = Path(model_dir) / NGRAM_DIR
        if not where.exists():
            return None
        try:
            config = read_model_json(where / CONFIG_FILE, "an n-gram member")  # the guarded reader
            tensors = _read_tensors(where / WEIGHTS_FILE)
        except (OSError, ValueError, RecursionError) as exc:
            raise ClausetagError(f"{where}: unreadable n-gram member ({exc})") from None
        return _build(where, config, tensors, list(labels))


_DTYPES = {"F32": np.float32, "F64": np.float64}


def _read_tensors(path: Path) -> dict[str, np.ndarray]:
    """A safetensors file read with numpy alone (the ONNX path has no safetensors package).

    The format: an 8-byte little-endian header length, a JSON header naming each
    tensor's dtype, shape and byte range, then the raw bytes.
    """
    data = read_bytes(path, MODEL_FILE_MAX_BYTES, regular=True, binary=True)
    if len(data) < 8:
        raise ValueError(f"{path.name}: too short for a safetensors file")
    size = int.from_bytes(data[:8], "little")
    if not 2 <= size <= len(data) - 8:
        raise ValueError(f"{path.name}: bad safetensors header length")
    header = json.loads(data[8 : 8 + size].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError(f"{path.name}: bad safetensors header")
    body = memoryview(data)[8 + size :]
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = np.dtype(_DTYPES[spec["dtype"]]).newbyteorder("<")
            shape = tuple(int(n) for n in spec["shape"])
            start, end = (int(n) for n in spec["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path.name}: tensor {name!r} has an unsupported or malformed entry") from None
        if not 0 <= start <= end <= len(body) or end - start != dtype.itemsize * int(np.prod(shape)):
            raise ValueError(f"{path.name}: tensor {name!r} lies outside the file or has the wrong size")
        tensors[name] = (
            np.frombuffer(body[start:end], dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
        )
    return tensors


def _build(where: Path, config: Any, tensors: dict[str, np.ndarray], labels: list[str]) -> NgramMember:
    def bad(why: str) -> ClausetagError:
        return ClausetagError(f"{where}/{CONFIG_FILE}: {why}")

    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise bad(f"not a {FORMAT} file")
    if config.get("labels") != labels:
        raise bad("its labels differ from the model's config.json")
    weight = config.get("weight")
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0.0 <= weight <= 1.0:
        raise bad("weight must be a number in [0, 1]")
    specs = config.get("analyzers")
    if not isinstance(specs, list) or not specs:
        raise bad("no analyzers")
    analyzers = [_analyzer(spec, tensors.get(f"idf.{k}"), bad) for k, spec in enumerate(specs)]
    coef, intercept = tensors.get("coef"), tensors.get("intercept")
    width = sum(len(a.idf) for a in analyzers)
    if coef is None or coef.shape != (width, len(labels)):
        raise bad(f"coef must have shape ({width}, {len(labels)})")
    if intercept is None or intercept.shape != (len(labels),):
        raise bad(f"intercept must have shape ({len(labels)},)")
    return NgramMember(labels, analyzers, coef, intercept, float(weight))


def _analyzer(spec: Any, idf: np.ndarray | None, bad: Any) -> Analyzer:
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        raise bad(f"each analyzer needs a kind in {KINDS}")
    rng = spec.get("ngram_range")
    if not (isinstance(rng, list) and len(rng) == 2 and all(type(n) is int and n >= 1 for n in rng)):
        raise bad("ngram_range must be two whole numbers of at least 1")
    if not rng[0] <= rng[1] <= MAX_NGRAM:  # n-grams per text grow with the range: bounded
        raise bad(f"ngram_range must be [lo, hi] with 1 <= lo <= hi <= {MAX_NGRAM}, not {rng}")
    vocab = spec.get("vocabulary")
    if not isinstance(vocab, list) or not all(isinstance(g, str) for g in vocab):
        raise bad("vocabulary must be a list of strings")
    if idf is None or idf.shape != (len(vocab),):
        raise bad(f"an idf vector of {len(vocab)} values is missing for a {spec['kind']} analyzer")
    field = spec.get("field", "text")
    if field not in FIELDS:
        raise bad(f"an analyzer's field must be one of {FIELDS}, not {field!r}")
    return Analyzer(spec["kind"], (rng[0], rng[1]), {g: i for i, g in enumerate(vocab)}, idf, field)
