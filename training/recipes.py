"""``clausetag experiment recipes``: which recipe and which thresholds hold up on unseen policies.

Every row is scored by leave-one-document-out over the real documents (a policy
and its translation held out together; authored policies always train), pooled
over the folds and reported per language, with its wall time on this machine.

Rows (``--rows``):

- ``tfidf``: word + char n-grams, logistic regression (``clausetag baseline``);
- ``probe-cls``: the frozen encoder's ``[CLS]`` vector + logistic regression
  (the head the v1 default started fine-tuning from);
- ``probe-mean``: E5's own convention, ``query: `` prefix and mean pooling, +
  logistic regression;
- ``ensemble``: ``probe-mean`` and ``tfidf`` probabilities averaged, the weight
  chosen on the training documents' out-of-fold predictions;
- ``finetune-cls`` / ``finetune-mean``: ``clausetag train`` itself (probe head,
  then fine-tuning) with ``[CLS]`` or mean pooling; extra ``clausetag train``
  flags go after ``--``. These take many minutes per fold; the others a few;
- ``tfidf-dev``: ``tfidf`` fitted as the fine-tuned rows are (their inner
  training documents, thresholds on their dev documents);
- ``ensemble-ft``: ``finetune-mean`` and ``tfidf-dev`` averaged, the weight
  chosen on the dev documents;
- ``finetune-long``: 5 epochs with layer-wise learning-rate decay 0.8;
  ``finetune-setfit``: a contrastive sentence-pair stage (2 000 pairs) before the
  probe head and the epoch; ``ensemble-long`` / ``ensemble-setfit``: each with
  ``tfidf-dev``, as ``ensemble-ft``; ``ensemble-cls``: ``finetune-cls`` with ``tfidf-dev``;
- ``tfidf-self``, ``probe-mean-self``, ``ensemble-self``: self-training — each
  model refitted with its own confident predictions on the held-out units as
  pseudo-labels (their gold labels never read);
- ``finetune-heading`` / ``finetune-context``: ``finetune-mean`` reading each unit's section
  path (``--context heading``) or its section path and the unit before it
  (``--context heading+previous``); ``tfidf-dev-heading`` / ``tfidf-dev-context``: ``tfidf-dev``
  with the same context as n-grams of their own; ``ensemble-heading`` / ``ensemble-context``:
  each pair mixed as ``ensemble-ft``.

Every row is scored under each threshold policy of
``clausetag.training.thresholds`` (flat 0.5, tuned on one dev document, tuned
on pooled out-of-fold predictions of the training documents, shrunk, global),
so the same table answers "which recipe" and "which thresholds".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clausetag.data.corpus import (
    DEFAULT_CORPUS_DIR,
    CorpusUnit,
    authored_documents,
    document_groups,
    label_matrix,
    leave_one_document_out,
    load_units,
    real_documents,
    split_by_document,
)
from clausetag.errors import ClausetagError
from clausetag.inference.context import ContextRecipe
from clausetag.inference.scores import sigmoid
from clausetag.inference.structure import record_places
from clausetag.io import atomic_writer
from clausetag.labels import resolve_label_set
from clausetag.models.e5 import E5_PREFIX
from clausetag.training.metrics import full_report, paired_bootstrap_delta
from clausetag.training.thresholds import POLICIES, choose_thresholds

log = logging.getLogger(__name__)

Units = Sequence[CorpusUnit]
# (train, test, labels) -> test probabilities
Scorer = Callable[[Sequence[CorpusUnit], Sequence[CorpusUnit], Sequence[str]], np.ndarray]


# --- frozen encoder features -------------------------------------------------------------------


class FeatureCache:
    """Frozen-encoder sentence vectors, computed once per (text, pooling) and kept in memory/disk."""

    def __init__(self, encoder: str | Path, max_length: int = 128, cache_dir: Path | None = None) -> None:
        self.encoder = str(encoder)
        self.max_length = max_length
        self.cache_dir = cache_dir
        self._mem: dict[tuple[str, str], np.ndarray] = {}
        self._model: Any = None

    def _load(self) -> None:
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer

            from clausetag.inference.safeload import pretrained

            self._tok = pretrained(AutoTokenizer, self.encoder)
            self._model = pretrained(AutoModel, self.encoder).eval()

    def _key(self, pooling: str) -> str:
        return hashlib.sha1(f"{self.encoder}|{self.max_length}|{pooling}".encode()).hexdigest()[:12]

    def vectors(self, texts: Sequence[str], pooling: str) -> np.ndarray:
        """``pooling``: ``cls`` (no prefix) or ``mean`` (E5 prefix, mean over real tokens)."""
        todo = sorted({t for t in texts if (t, pooling) not in self._mem})
        disk = self.cache_dir / f"{self._key(pooling)}.npz" if self.cache_dir else None
        if todo and disk is not None and disk.is_file():
            with np.load(disk, allow_pickle=False) as z:
                for t, v in zip(z["texts"].tolist(), z["vectors"], strict=True):
                    self._mem[t, pooling] = v
            todo = [t for t in todo if (t, pooling) not in self._mem]
        if todo:
            self._encode(todo, pooling)
            if disk is not None:
                done = [t for (t, p) in self._mem if p == pooling]
                disk.parent.mkdir(parents=True, exist_ok=True)
                with atomic_writer(disk, "wb") as fh:
                    np.savez(
                        fh, texts=np.array(done), vectors=np.stack([self._mem[t, pooling] for t in done])
                    )
        return np.stack([self._mem[t, pooling] for t in texts])

    def _encode(self, texts: list[str], pooling: str) -> None:
        import torch
        from tqdm.auto import tqdm

        from clausetag.models.modeling import mean_pool

        self._load()
        order = sorted(texts, key=len)
        for k in tqdm(range(0, len(order), 64), desc=f"encoding ({pooling})", leave=False):
            chunk = order[k : k + 64]
            inputs = [E5_PREFIX + t if pooling == "mean" else t for t in chunk]
            enc = self._tok(
                inputs, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
            )
            with torch.inference_mode():  # never a global switch: training may follow in this process
                hidden = self._model(**enc).last_hidden_state
            vec = mean_pool(hidden, enc["attention_mask"]) if pooling == "mean" else hidden[:, 0]
            for t, v in zip(chunk, vec.numpy(), strict=True):
                self._mem[t, pooling] = v


def probe_scorer(cache: FeatureCache, pooling: str, c: float = 1.0) -> Scorer:
    """The head ``clausetag train`` starts from (``training.probe``) on frozen vectors: no fine-tuning."""
    from clausetag.training.probe import ProbeTransform, fit_probe
    from clausetag.training.trainer import positive_weights

    def score(train: Sequence[CorpusUnit], test: Sequence[CorpusUnit], labels: Sequence[str]) -> np.ndarray:
        x = cache.vectors([u["text"] for u in train], pooling)
        z = cache.vectors([u["text"] for u in test], pooling)
        transform = ProbeTransform.fit(x)
        y = label_matrix(train, labels)
        weight, bias = fit_probe(transform(x), y, positive_weights(y, 10.0), c)
        return sigmoid(transform(z) @ weight.T + bias)

    return score


def self_trained(scorer: Scorer, confidence: float = 0.9) -> Scorer:
    """Self-training on the units being scored, their labels never read (transductive).

    The model is fitted, scores the unlabelled units, and is fitted again with
    every unit whose every label it is sure of (p ≥ ``confidence`` or ≤ 1 −
    ``confidence``, at least one label on) added under those pseudo-labels; the
    second model's scores are returned. Inside a fold's out-of-fold scoring the
    pool is the inner held-out documents, so thresholds see the same procedure.
    """

    def score(train: Sequence[CorpusUnit], test: Sequence[CorpusUnit], labels: Sequence[str]) -> np.ndarray:
        proba = scorer(train, test, labels)
        pseudo = pseudo_labelled(test, proba, labels, confidence)
        log.info("    self-training: %d of %d unlabelled units pseudo-labelled", len(pseudo), len(test))
        return scorer([*train, *pseudo], test, labels) if pseudo else proba

    return score


def pseudo_labelled(
    units: Sequence[CorpusUnit], proba: np.ndarray, labels: Sequence[str], confidence: float
) -> list[CorpusUnit]:
    """Copies of the units the scores are sure of, their labels replaced by the confident ones."""
    decided = ((proba >= confidence) | (proba <= 1 - confidence)).all(1)
    sure = np.asarray(decided & (proba >= confidence).any(1))
    out: list[CorpusUnit] = []
    for unit, row, keep in zip(units, proba, sure.tolist(), strict=True):
        if keep:
            sure_labels = [lab for lab, p in zip(labels, row, strict=True) if p >= confidence]
            out.append({**unit, "labels": sure_labels})
    return out


def tfidf_scorer(seed: int = 42, context: str = "none") -> Scorer:
    """TF-IDF scores; with a ``context`` recipe, its rendered contexts as n-grams of their own."""
    from clausetag.training.baseline import fit_baseline, unit_inputs
    from clausetag.training.train import with_contexts

    recipe = ContextRecipe(context)

    def score(train: Sequence[CorpusUnit], test: Sequence[CorpusUnit], labels: Sequence[str]) -> np.ndarray:
        train, test = with_contexts(train, recipe), with_contexts(test, recipe)
        model = fit_baseline(train, train[:1], labels, seed=seed, context=recipe.active)  # cuts: outside
        return model.predict_proba(unit_inputs(test))

    return score


def train_and_score(
    train_argv: list[str],
    out: str,
    train: Sequence[CorpusUnit],
    dev: Sequence[CorpusUnit],
    test: Sequence[CorpusUnit],
    labels: Sequence[str],
) -> tuple[np.ndarray, Any]:
    """``clausetag train`` with these flags into ``out`` (the transformer alone), the epoch chosen on
    ``dev``; the scores of ``test`` (each unit in its place) and the model arguments."""
    from clausetag.training.args import parse_args
    from clausetag.training.train import Splits, run_training

    args = parse_args(
        ["--ngram_member", "false", *train_argv, "--output_dir", out, "--overwrite"]
    )  # ours first
    run_training(Splits(list(labels), list(train), list(dev)), args)
    return score_units(out, test), args.model


def score_units(model: str, units: Sequence[CorpusUnit]) -> np.ndarray:
    """A model directory's scores of ``units``, each with its place (ignored by a model reading none)."""
    from clausetag.inference import ClauseClassifier

    contexts = [p.context for p in record_places(units)]
    return ClauseClassifier.from_pretrained(model).predict_proba(
        [u["text"] for u in units], contexts=contexts
    )


def finetune_fitter(train_argv: list[str]) -> Callable[..., np.ndarray]:
    """``clausetag train`` with these flags on ``train``, the epoch chosen on ``dev``; scores ``test``."""

    def fit(train: Units, dev: Units, test: Units, labels: Sequence[str]) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="clausetag-recipe-") as tmp:
            return train_and_score(train_argv, tmp, train, dev, test, labels)[0]

    return fit


def student_fitter(
    train_argv: list[str], distill_argv: list[str], teachers: dict[str, tuple[np.ndarray, float]]
) -> Callable[..., np.ndarray]:
    """``finetune_fitter``'s teacher, then ``clausetag distill`` of it on the same units; scores the
    student. The teacher's scores (and seconds) go into ``teachers``, keyed by the scored units."""
    from clausetag.training.distill import distil
    from clausetag.training.distill import parse_args as parse_distill
    from clausetag.training.train import with_contexts

    def fit(train: Units, dev: Units, test: Units, labels: Sequence[str]) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="clausetag-student-") as tmp:
            teacher, student = f"{tmp}/teacher", f"{tmp}/student"
            started = time.perf_counter()
            scores, model_args = train_and_score(train_argv, teacher, train, dev, test, labels)
            teachers[units_key(test)] = (scores, time.perf_counter() - started)
            args = parse_distill(["--teacher", teacher, "--output_dir", student, *distill_argv])
            recipe = model_args.context_recipe
            distil(args, with_contexts(train, recipe), with_contexts(dev, recipe), labels)
            return score_units(student, test)

    return fit


def units_key(units: Sequence[CorpusUnit]) -> str:
    return hashlib.sha1("\x00".join(u["id"] for u in units).encode()).hexdigest()


def tfidf_fitter(seed: int = 42, context: str = "none") -> Callable[..., np.ndarray]:
    """The TF-IDF model fitted like the fine-tuned rows (inner train), scoring dev and test."""
    scorer = tfidf_scorer(seed, context)

    def fit(
        train: Sequence[CorpusUnit],
        dev: Sequence[CorpusUnit],
        test: Sequence[CorpusUnit],
        labels: Sequence[str],
    ) -> np.ndarray:
        return scorer(train, test, labels)

    return fit


def inner_dev_split(train: Sequence[CorpusUnit], seed: int = 42) -> tuple[list[CorpusUnit], list[CorpusUnit]]:
    """``clausetag train``'s default dev split (a share of the authored policies), inside a fold."""
    parts = split_by_document(train, seed=seed)
    return parts["train"], parts["dev"]


# --- out-of-fold predictions inside the training documents ---------------------------------------


def document_folds(units: Sequence[CorpusUnit], k: int = 4, seed: int = 42) -> list[list[int]]:
    """``k`` groups of unit indices, whole documents (with translations) per group."""
    groups = document_groups(units)
    docs = sorted(groups)
    np.random.default_rng(seed).shuffle(docs)
    folds: list[list[int]] = [[] for _ in range(min(k, len(docs)))]
    for n, d in enumerate(sorted(docs, key=lambda d: -len(groups[d]))):  # big documents spread first
        folds[n % len(folds)].extend(groups[d])
    return folds


def out_of_fold(train: Sequence[CorpusUnit], labels: Sequence[str], scorer: Scorer, k: int) -> np.ndarray:
    proba = np.zeros((len(train), len(labels)))
    for idx in document_folds(train, k):
        held = set(idx)
        proba[idx] = scorer(
            [u for i, u in enumerate(train) if i not in held], [train[i] for i in idx], labels
        )
    return proba


# --- the study ---------------------------------------------------------------------------------


@dataclass
class Fold:
    y_ref: np.ndarray  # gold of the units the thresholds are chosen on
    ref: np.ndarray  # their scores: out-of-fold (cheap rows) or dev (fine-tuned rows)
    dev_doc: np.ndarray  # mask over ref rows: one real document (the v1 way)
    test: np.ndarray  # held-out document scores


@dataclass
class RowResult:
    name: str
    seconds: float
    y_true: np.ndarray
    langs: list[str]
    folds: list[Fold]

    @property
    def proba(self) -> np.ndarray:
        return np.vstack([f.test for f in self.folds])

    def cuts(self, policy: str) -> np.ndarray:
        """Per held-out unit, the thresholds its fold's policy chose."""
        rows = []
        for f in self.folds:
            if policy == "dev-doc":
                th = choose_thresholds("tuned", f.y_ref[f.dev_doc], f.ref[f.dev_doc])
            else:
                th = choose_thresholds(policy, f.y_ref, f.ref)
            rows.append(np.tile(th, (len(f.test), 1)))
        return np.vstack(rows)


class FoldStore:
    """Finished folds on disk, keyed by row, recipe and data: reruns and other studies reuse them."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def _path(self, name: str, doc: str, key: str) -> Path | None:
        return self.folder / f"{name}-{doc}-{key}.npz" if self.folder else None

    def get(self, name: str, doc: str, key: str) -> tuple[Fold, float] | None:
        path = self._path(name, doc, key)
        if path is None or not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            fold = Fold(z["y_ref"], z["ref"], z["dev_doc"], z["test"])
            return fold, float(z["seconds"])

    def put(self, name: str, doc: str, key: str, fold: Fold, seconds: float) -> None:
        path = self._path(name, doc, key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(path, "wb") as fh:
            np.savez(
                fh, y_ref=fold.y_ref, ref=fold.ref, dev_doc=fold.dev_doc, test=fold.test, seconds=seconds
            )


def fold_key(
    recipe: str, train: Sequence[CorpusUnit], test: Sequence[CorpusUnit], labels: Sequence[str]
) -> str:
    """What a fold's result depends on: the recipe, the labels and every unit on each side."""
    h = hashlib.sha1(f"{recipe}|{'|'.join(labels)}".encode())
    for side in (train, test):
        for u in side:
            h.update(f"\x00{u['id']}\x01{u['text']}\x01{','.join(u['labels'])}".encode())
        h.update(b"\x02")
    return h.hexdigest()[:16]


def run_row(
    name: str,
    units: Sequence[CorpusUnit],
    labels: Sequence[str],
    scorer: Scorer | None = None,
    inner_k: int = 4,
    finetune: Callable[..., np.ndarray] | None = None,
    ensemble_of: tuple[RowResult, RowResult] | None = None,
    only: Sequence[str] | None = None,
    store: FoldStore | None = None,
    recipe: str = "",
) -> RowResult:
    """One recipe over the LODO folds; ``recipe`` names its settings in the fold store's key."""
    store = store or FoldStore(None)
    seconds = 0.0
    ys, langs, folds = [], [], []
    outer = [f for f in leave_one_document_out(units) if only is None or f[0] in only]
    for k, (doc, train, test) in enumerate(outer):
        t0 = time.perf_counter()
        key = fold_key(f"{name}|{recipe}|{inner_k}", train, test, labels)
        kept = store.get(name, doc, key) if ensemble_of is None else None
        if kept is not None:
            fold, took = kept
            log.info("  %s: fold %s from the fold store (%.0f s when computed)", name, doc, took)
        else:
            fold = _compute_fold(train, test, labels, k, scorer, inner_k, finetune, ensemble_of)
            took = time.perf_counter() - t0
            if ensemble_of is None:
                store.put(name, doc, key, fold, took)
            log.info("  %s: fold %s done (%.0f s)", name, doc, took)
        seconds += took
        folds.append(fold)
        ys.append(label_matrix(test, labels))
        langs += [u["lang"] for u in test]
    if ensemble_of is not None:
        seconds += sum(m.seconds for m in ensemble_of)
    return RowResult(name, seconds, np.vstack(ys), langs, folds)


def _compute_fold(
    train: Sequence[CorpusUnit],
    test: Sequence[CorpusUnit],
    labels: Sequence[str],
    k: int,
    scorer: Scorer | None,
    inner_k: int,
    finetune: Callable[..., np.ndarray] | None,
    ensemble_of: tuple[RowResult, RowResult] | None,
) -> Fold:
    if ensemble_of is not None:
        return _ensemble_fold(ensemble_of, k)
    if finetune is not None:
        inner, dev = inner_dev_split(train)
        return dev_fold(dev, test, finetune(inner, dev, [*test, *dev], labels), labels)
    assert scorer is not None
    oof = out_of_fold(train, labels, scorer, inner_k)
    return Fold(label_matrix(train, labels), oof, _first_document(train), scorer(train, test, labels))


def dev_fold(
    dev: Sequence[CorpusUnit], test: Sequence[CorpusUnit], both: np.ndarray, labels: Sequence[str]
) -> Fold:
    """A fine-tuned row's fold from its scores of ``[*test, *dev]`` (thresholds: on dev)."""
    return Fold(label_matrix(dev, labels), both[len(test) :], _first_document(dev), both[: len(test)])


def _ensemble_fold(members: tuple[RowResult, RowResult], k: int) -> Fold:
    """The second member's weight chosen on the members' reference scores, then applied to the test."""
    from clausetag.training.ensemble import choose_weight

    a, b = members[0].folds[k], members[1].folds[k]
    w = choose_weight(a.y_ref, a.ref, b.ref)
    log.info("    ensemble fold %d: weight %.1f on %s", k, w, members[1].name)
    return Fold(a.y_ref, (1 - w) * a.ref + w * b.ref, a.dev_doc, (1 - w) * a.test + w * b.test)


def _first_document(units: Sequence[CorpusUnit]) -> np.ndarray:
    """Mask of the first real document's units (v1 tuned thresholds on one such document)."""
    groups = document_groups(units)
    real = real_documents(units, groups) or sorted(groups)
    mask = np.zeros(len(units), dtype=bool)
    mask[groups[real[0]]] = True
    return mask


#: The fine-tuned rows: ``clausetag train`` flags of each (after the study's own ``--`` flags, so they win).
FINETUNE_FLAGS: dict[str, list[str]] = {
    "finetune-cls": ["--pooling", "cls"],
    "finetune-mean": ["--pooling", "mean"],
    "finetune-long": ["--pooling", "mean", "--num_train_epochs", "5", "--layerwise_lr_decay", "0.8"],
    "finetune-setfit": ["--pooling", "mean", "--contrastive_pairs", "2000"],
    "finetune-heading": ["--pooling", "mean", "--context", "heading"],
    "finetune-context": ["--pooling", "mean", "--context", "heading+previous"],
}
#: The TF-IDF rows fitted like the fine-tuned ones, and the context each reads.
TFIDF_DEV_ROWS = {
    "tfidf-dev": "none",
    "tfidf-dev-heading": "heading",
    "tfidf-dev-context": "heading+previous",
}
ROWS = (
    "tfidf",
    "probe-cls",
    "probe-mean",
    "ensemble",
    "tfidf-self",
    "probe-mean-self",
    "ensemble-self",
    *FINETUNE_FLAGS,
    *TFIDF_DEV_ROWS,
    "student-mean",
    "ensemble-ft",
    "ensemble-cls",
    "ensemble-long",
    "ensemble-setfit",
    "ensemble-heading",
    "ensemble-context",
    "ensemble-student",
)
#: Rows that mix two others, and the rows they need before them.
ENSEMBLES = {
    "ensemble": ("probe-mean", "tfidf"),
    "ensemble-self": ("probe-mean-self", "tfidf-self"),
    "ensemble-ft": ("finetune-mean", "tfidf-dev"),
    "ensemble-cls": ("finetune-cls", "tfidf-dev"),
    "ensemble-long": ("finetune-long", "tfidf-dev"),
    "ensemble-setfit": ("finetune-setfit", "tfidf-dev"),
    "ensemble-heading": ("finetune-heading", "tfidf-dev-heading"),
    "ensemble-context": ("finetune-context", "tfidf-dev-context"),
    "ensemble-student": ("student-mean", "tfidf-dev"),
}
#: ``clausetag distill`` flags of the ``student-mean`` row (its teacher: ``finetune-mean``).
STUDENT_FLAGS: list[str] = []


def study(
    units: Sequence[CorpusUnit],
    labels: Sequence[str],
    rows: Sequence[str],
    encoder: str | Path,
    cache_dir: Path | None,
    train_argv: list[str],
    inner_k: int = 4,
    only: Sequence[str] | None = None,
) -> list[RowResult]:
    """The rows named, in order; ``only``: held-out documents to score (default: every real one)."""
    cache = FeatureCache(encoder, cache_dir=cache_dir)
    store = FoldStore(cache_dir.parent / "folds" if cache_dir else None)
    results: dict[str, RowResult] = {}
    for name in rows:
        log.info("row %s …", name)
        if name in ENSEMBLES:
            a, b = ENSEMBLES[name]
            if a not in results or b not in results:
                raise ClausetagError(f"the {name} row needs the {a} and {b} rows before it")
            results[name] = run_row(name, units, labels, ensemble_of=(results[a], results[b]), only=only)
        elif name in TFIDF_DEV_ROWS:
            fit = tfidf_fitter(context=TFIDF_DEV_ROWS[name])
            results[name] = run_row(name, units, labels, finetune=fit, only=only, store=store)
        elif name == "student-mean":
            results[name] = student_row(units, labels, train_argv, inner_k, only, store)
        elif name in FINETUNE_FLAGS:
            flags = [*train_argv, *FINETUNE_FLAGS[name]]
            fit = finetune_fitter(flags)
            recipe = " ".join(flags)
            results[name] = run_row(name, units, labels, finetune=fit, only=only, store=store, recipe=recipe)
        else:
            base = name.removesuffix("-self")
            scorer = tfidf_scorer() if base == "tfidf" else probe_scorer(cache, base.split("-", 1)[1])
            recipe = f"{cache.encoder}|{cache.max_length}|tanh-probe" if base.startswith("probe") else ""
            if name.endswith("-self"):
                scorer, recipe = self_trained(scorer), f"{recipe}|self-0.9"
            results[name] = run_row(
                name, units, labels, scorer, inner_k, only=only, store=store, recipe=recipe
            )
    return [results[n] for n in rows]


def student_row(
    units: Sequence[CorpusUnit],
    labels: Sequence[str],
    train_argv: list[str],
    inner_k: int,
    only: Sequence[str] | None,
    store: FoldStore,
) -> RowResult:
    """The ``student-mean`` row; each fold's teacher is a ``finetune-mean`` fold, put in the fold
    store under that row's key, so a ``finetune-mean`` row after it trains nothing again."""
    teachers: dict[str, tuple[np.ndarray, float]] = {}
    flags = [*train_argv, *FINETUNE_FLAGS["finetune-mean"]]
    fit = student_fitter(flags, STUDENT_FLAGS, teachers)
    recipe = f"{' '.join(flags)}|distill {' '.join(STUDENT_FLAGS)}"
    row = run_row("student-mean", units, labels, finetune=fit, only=only, store=store, recipe=recipe)
    for doc, train, test in leave_one_document_out(units):
        _, dev = inner_dev_split(train)
        kept = teachers.get(units_key([*test, *dev]))
        if kept is not None:
            key = fold_key(f"finetune-mean|{' '.join(flags)}|{inner_k}", train, test, labels)
            store.put("finetune-mean", doc, key, dev_fold(dev, test, kept[0], labels), kept[1])
    return row


#: Each context row and the same recipe without context, compared unit by unit in the study.
CONTEXT_TWINS = {
    "tfidf-dev-heading": "tfidf-dev",
    "tfidf-dev-context": "tfidf-dev",
    "finetune-heading": "finetune-mean",
    "finetune-context": "finetune-mean",
    "ensemble-heading": "ensemble-ft",
    "ensemble-context": "ensemble-ft",
}
#: The student rows against their teachers, in the same paired table.
STUDENT_TWINS = {"student-mean": "finetune-mean", "ensemble-student": "ensemble-ft"}
#: The threshold policy of the paired comparison: the one ``clausetag train`` ships by default.
PAIRED_POLICY = "global"


def paired_table(results: Sequence[RowResult], bootstrap: int = 1000) -> tuple[str, dict[str, Any]]:
    """Each context row against its twin without context: Δ macro-F1 with a paired 95% interval.

    Overall and per language, at ``PAIRED_POLICY``, over the pooled held-out units of the folds
    both rows scored (the same units: a bootstrap resample draws the same units for both).
    """
    by_name = {r.name: r for r in results}
    twins = {**CONTEXT_TWINS, **STUDENT_TWINS}
    pairs = [(by_name[b], by_name[a]) for a, b in twins.items() if a in by_name and b in by_name]
    if not pairs:
        return "", {}
    lines = [
        "Each row against its twin (context against none, student against teacher), paired bootstrap "
        f"({bootstrap} resamples of the held-out units), "
        f"`{PAIRED_POLICY}` thresholds: Δ macro-F1 [95% interval]",
        "",
        "| row | against | Δ all | Δ EN | Δ LV |",
        "|---|---|---|---|---|",
    ]
    data: dict[str, Any] = {}
    for base, ctx in pairs:
        pred_a = (base.proba >= base.cuts(PAIRED_POLICY)).astype(int)
        pred_b = (ctx.proba >= ctx.cuts(PAIRED_POLICY)).astype(int)
        langs = np.asarray(base.langs)
        cells, data[ctx.name] = [], {"against": base.name}
        for part in ("all", "en", "lv"):
            mask = np.ones(len(langs), bool) if part == "all" else langs == part
            d, lo, hi = paired_bootstrap_delta(base.y_true[mask], pred_a[mask], pred_b[mask], bootstrap)
            data[ctx.name][part] = {"delta": d, "ci95": [lo, hi]}
            cells.append(f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        lines.append(f"| {ctx.name} | {base.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines), data


def table(results: Sequence[RowResult], labels: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """Markdown table (row × policy, macro-F1 EN / LV) and the full figures."""
    lines = [
        "| recipe | thresholds | macro-F1 | EN macro | LV macro | micro-F1 | wall time |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    data: dict[str, Any] = {}
    for r in results:
        data[r.name] = {"seconds": round(r.seconds, 1), "policies": {}}
        for policy in POLICIES:
            cut = r.cuts(policy)
            rep = full_report(r.y_true, (r.proba >= cut).astype(int), labels, r.langs, bootstrap=0)
            pl = rep["per_language"]
            data[r.name]["policies"][policy] = {
                "macro_f1": rep["macro_f1"],
                "micro_f1": rep["micro_f1"],
                "per_language": {
                    k: {"macro_f1": v["macro_f1"], "micro_f1": v["micro_f1"]} for k, v in pl.items()
                },
                "per_label_f1": {k: v["f1"] for k, v in rep["per_label"].items()},
            }
            en, lv = (pl.get(lang, {}).get("macro_f1", float("nan")) for lang in ("en", "lv"))
            lines.append(
                f"| {r.name} | {policy} | {rep['macro_f1']:.3f} | {en:.3f} | {lv:.3f} "
                f"| {rep['micro_f1']:.3f} | {r.seconds / 60:.1f} min |"
            )
    return "\n".join(lines), data


def main(argv: list[str]) -> int:
    from clausetag.models.encoder import default_encoder_dir
    from clausetag.options import add_option, add_output

    parser = argparse.ArgumentParser(
        prog="clausetag experiment recipes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS[:4]))
    parser.add_argument("--data", type=Path, default=DEFAULT_CORPUS_DIR)
    parser.add_argument("--labels", type=Path, default=None)
    parser.add_argument(
        "--encoder", default=str(default_encoder_dir()), help="frozen encoder of the probe rows"
    )
    parser.add_argument("--authored", type=int, default=None, help="use only the first N authored policies")
    add_option(
        parser,
        "--inner-folds",
        "--inner_folds",
        type=int,
        default=4,
        help="document folds for out-of-fold scores",
    )
    parser.add_argument(
        "--folds", nargs="+", default=None, help="held-out real documents to score (default: all)"
    )
    add_output(parser, "folder for recipes.md/json, features/ and folds/", required=True, type=Path)
    args, train_argv = parser.parse_known_args(argv)
    train_argv = [a for a in train_argv if a != "--"]
    labels = resolve_label_set(args.data, args.labels)
    units = load_units(args.data, labels)
    if args.authored is not None:
        units = keep_authored(units, args.authored)
    args.output.mkdir(parents=True, exist_ok=True)
    real = real_documents(units)
    unknown = sorted(set(args.folds or ()) - set(real))
    if unknown:
        raise ClausetagError(f"--folds: {unknown} are not real documents of {args.data} ({real})")
    results = study(
        units,
        labels,
        args.rows,
        args.encoder,
        args.output / "features",
        train_argv,
        args.inner_folds,
        args.folds,
    )
    md, data = table(results, labels)
    paired_md, paired = paired_table(results)
    md = f"{md}\n\n{paired_md}" if paired_md else md
    n_auth = len(authored_documents(units))
    held = ", ".join(args.folds or real)
    header = f"{len(units)} units, {n_auth} authored policies, LODO over real documents {held}"
    with atomic_writer(args.output / "recipes.md") as fh:
        fh.write(f"# clausetag recipe study\n\n{header}\n\n{md}\n")
    with atomic_writer(args.output / "recipes.json") as fh:
        json.dump(
            {
                "units": len(units),
                "authored_policies": n_auth,
                "folds": args.folds or real,
                "rows": data,
                "context_paired": paired,
            },
            fh,
            indent=2,
        )
    print(header)
    print(md)
    return 0


V1_CHECKLIST_DOC = "authored"  # the v1 checklist sentences' document


def keep_authored(units: Sequence[CorpusUnit], n: int) -> list[CorpusUnit]:
    """The corpus with only the first ``n`` authored policies, oldest first — for learning curves.

    The 140 v1 checklist units (document ``authored``, the oldest) count as the first of them, then
    the policies by id, so ``n`` = 46 is corpus v2 and each step after it adds the v3 policies in order.
    """
    groups = document_groups(units)
    authored = sorted(authored_documents(units, groups), key=lambda d: (d != V1_CHECKLIST_DOC, d))
    keep = set(authored[:n])
    drop = {i for d in authored if d not in keep for i in groups[d]}
    return [u for i, u in enumerate(units) if i not in drop]
