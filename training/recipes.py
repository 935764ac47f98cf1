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
  flags go after ``--``. These take minutes per fold; the others seconds.

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
    Unit,
    authored_documents,
    document_groups,
    label_matrix,
    leave_one_document_out,
    load_units,
    real_documents,
    split_by_document,
)
from clausetag.errors import ClausetagError
from clausetag.io import atomic_writer
from clausetag.labels import resolve_label_set
from clausetag.training.metrics import full_report
from clausetag.training.thresholds import POLICIES, choose_thresholds

log = logging.getLogger(__name__)

#: E5 was trained with this prefix on every input of a symmetric task.
E5_PREFIX = "query: "

# (train, test, labels) -> test probabilities
Scorer = Callable[[Sequence[Unit], Sequence[Unit], Sequence[str]], np.ndarray]


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
            import torch
            from transformers import AutoModel, AutoTokenizer

            torch.set_grad_enabled(False)
            self._tok = AutoTokenizer.from_pretrained(self.encoder)
            self._model = AutoModel.from_pretrained(self.encoder).eval()

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
        from tqdm.auto import tqdm

        self._load()
        order = sorted(texts, key=len)
        for k in tqdm(range(0, len(order), 64), desc=f"encoding ({pooling})", leave=False):
            chunk = order[k : k + 64]
            inputs = [E5_PREFIX + t if pooling == "mean" else t for t in chunk]
            enc = self._tok(
                inputs, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
            )
            hidden = self._model(**enc).last_hidden_state
            if pooling == "mean":
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                vec = (hidden * mask).sum(1) / mask.sum(1)
            else:
                vec = hidden[:, 0]
            for t, v in zip(chunk, vec.numpy(), strict=True):
                self._mem[t, pooling] = v


def probe_scorer(cache: FeatureCache, pooling: str, c: float = 1.0) -> Scorer:
    """Standardised frozen vectors + one class-weighted logistic regression per label."""
    from sklearn.linear_model import LogisticRegression

    def score(train: Sequence[Unit], test: Sequence[Unit], labels: Sequence[str]) -> np.ndarray:
        x = cache.vectors([u["text"] for u in train], pooling)
        z = cache.vectors([u["text"] for u in test], pooling)
        mu, sd = x.mean(0), x.std(0) + 1e-6
        x, z = (x - mu) / sd, (z - mu) / sd
        y = label_matrix(train, labels)
        out = np.zeros((len(test), len(labels)))
        for j in range(len(labels)):
            if y[:, j].min() == y[:, j].max():
                out[:, j] = float(y[0, j])
                continue
            pos = y[:, j].sum()
            weight = min(10.0, float(np.sqrt((len(y) - pos) / pos)))
            fit = LogisticRegression(C=c, class_weight={0: 1.0, 1: weight}, max_iter=1000)
            fit.fit(x, y[:, j])
            out[:, j] = fit.predict_proba(z)[:, 1]
        return out

    return score


def tfidf_scorer(seed: int = 42) -> Scorer:
    from clausetag.training.baseline import fit_baseline

    def score(train: Sequence[Unit], test: Sequence[Unit], labels: Sequence[str]) -> np.ndarray:
        model = fit_baseline(train, train[:1], labels, seed=seed)  # thresholds are chosen outside
        return model.predict_proba([u["text"] for u in test])

    return score


def finetune_fitter(train_argv: list[str]) -> Callable[..., np.ndarray]:
    """``clausetag train`` with these flags on ``train``, the epoch chosen on ``dev``; scores ``test``."""
    from clausetag.inference import ClauseClassifier
    from clausetag.training.train import parse_args, run_training

    def fit(
        train: Sequence[Unit], dev: Sequence[Unit], test: Sequence[Unit], labels: Sequence[str]
    ) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="clausetag-recipe-") as tmp:
            data_args, model_args, training_args = parse_args(
                [*train_argv, "--output_dir", tmp, "--overwrite"]
            )
            run_training(train, dev, labels, model_args, training_args, data_args)
            return ClauseClassifier.from_pretrained(tmp).predict_proba([u["text"] for u in test])

    return fit


def inner_dev_split(train: Sequence[Unit], seed: int = 42) -> tuple[list[Unit], list[Unit]]:
    """``clausetag train``'s default dev split (a share of the authored policies), inside a fold."""
    parts = split_by_document(train, seed=seed)
    return parts["train"], parts["dev"]


# --- out-of-fold predictions inside the training documents ---------------------------------------


def document_folds(units: Sequence[Unit], k: int = 4, seed: int = 42) -> list[list[int]]:
    """``k`` groups of unit indices, whole documents (with translations) per group."""
    groups = document_groups(units)
    docs = sorted(groups)
    np.random.default_rng(seed).shuffle(docs)
    folds: list[list[int]] = [[] for _ in range(min(k, len(docs)))]
    for n, d in enumerate(sorted(docs, key=lambda d: -len(groups[d]))):  # big documents spread first
        folds[n % len(folds)].extend(groups[d])
    return folds


def out_of_fold(train: Sequence[Unit], labels: Sequence[str], scorer: Scorer, k: int) -> np.ndarray:
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


def run_row(
    name: str,
    units: Sequence[Unit],
    labels: Sequence[str],
    scorer: Scorer | None = None,
    inner_k: int = 4,
    finetune: Callable[..., np.ndarray] | None = None,
    ensemble_of: tuple[RowResult, RowResult] | None = None,
) -> RowResult:
    started = time.perf_counter()
    ys, langs, folds = [], [], []
    for k, (doc, train, test) in enumerate(leave_one_document_out(units)):
        t0 = time.perf_counter()
        if ensemble_of is not None:
            fold = _ensemble_fold(ensemble_of, k)
        elif finetune is not None:
            inner, dev = inner_dev_split(train)
            both = finetune(inner, dev, [*test, *dev], labels)
            y_dev = label_matrix(dev, labels)
            fold = Fold(y_dev, both[len(test) :], _first_document(dev), both[: len(test)])
        else:
            assert scorer is not None
            oof = out_of_fold(train, labels, scorer, inner_k)
            fold = Fold(label_matrix(train, labels), oof, _first_document(train), scorer(train, test, labels))
        folds.append(fold)
        ys.append(label_matrix(test, labels))
        langs += [u["lang"] for u in test]
        print(f"  {name}: fold {doc} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    return RowResult(name, time.perf_counter() - started, np.vstack(ys), langs, folds)


def _ensemble_fold(members: tuple[RowResult, RowResult], k: int) -> Fold:
    """Weight of the first member chosen on the members' out-of-fold scores, then applied to the test."""
    from clausetag.training.metrics import macro_f1, tune_thresholds

    a, b = members[0].folds[k], members[1].folds[k]
    best_w, best = 0.5, -1.0
    for w in np.round(np.arange(0.0, 1.01, 0.1), 2):
        mix = w * a.ref + (1 - w) * b.ref
        score = macro_f1(a.y_ref, mix >= tune_thresholds(a.y_ref, mix))
        if score > best + 1e-9:
            best_w, best = float(w), score
    print(f"    ensemble fold {k}: weight {best_w:.1f} on {members[0].name}", flush=True)
    return Fold(
        a.y_ref, best_w * a.ref + (1 - best_w) * b.ref, a.dev_doc, best_w * a.test + (1 - best_w) * b.test
    )


def _first_document(units: Sequence[Unit]) -> np.ndarray:
    """Mask of the first real document's units (v1 tuned thresholds on one such document)."""
    groups = document_groups(units)
    real = real_documents(units, groups) or sorted(groups)
    mask = np.zeros(len(units), dtype=bool)
    mask[groups[real[0]]] = True
    return mask


ROWS = ("tfidf", "probe-cls", "probe-mean", "ensemble", "finetune-cls", "finetune-mean")


def study(
    units: Sequence[Unit],
    labels: Sequence[str],
    rows: Sequence[str],
    encoder: str | Path,
    cache_dir: Path | None,
    train_argv: list[str],
    inner_k: int = 4,
) -> list[RowResult]:
    cache = FeatureCache(encoder, cache_dir=cache_dir)
    results: dict[str, RowResult] = {}
    for name in rows:
        print(f"row {name} …", flush=True)
        if name == "ensemble":
            for need in ("probe-mean", "tfidf"):
                if need not in results:
                    raise ClausetagError("the ensemble row needs the probe-mean and tfidf rows before it")
            results[name] = run_row(
                name, units, labels, ensemble_of=(results["probe-mean"], results["tfidf"])
            )
        elif name.startswith("finetune-"):
            fit = finetune_fitter([*train_argv, "--pooling", name.split("-", 1)[1]])
            results[name] = run_row(name, units, labels, finetune=fit)
        else:
            scorer = tfidf_scorer() if name == "tfidf" else probe_scorer(cache, name.split("-", 1)[1])
            results[name] = run_row(name, units, labels, scorer, inner_k)
    return [results[n] for n in rows]


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
    from clausetag.models.encoder import DEFAULT_ENCODER_DIR

    parser = argparse.ArgumentParser(
        prog="clausetag experiment recipes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS[:4]))
    parser.add_argument("--data", type=Path, default=DEFAULT_CORPUS_DIR)
    parser.add_argument("--labels", type=Path, default=None)
    parser.add_argument(
        "--encoder", default=str(DEFAULT_ENCODER_DIR), help="frozen encoder of the probe rows"
    )
    parser.add_argument("--authored", type=int, default=None, help="use only the first N authored policies")
    parser.add_argument("--inner_folds", type=int, default=4, help="document folds for out-of-fold scores")
    parser.add_argument("-o", "--output", "--out", dest="output", type=Path, required=True)
    args, train_argv = parser.parse_known_args(argv)
    train_argv = [a for a in train_argv if a != "--"]
    labels = resolve_label_set(args.data, args.labels)
    units = load_units(args.data, labels)
    if args.authored is not None:
        units = keep_authored(units, args.authored)
    args.output.mkdir(parents=True, exist_ok=True)
    results = study(
        units, labels, args.rows, args.encoder, args.output / "features", train_argv, args.inner_folds
    )
    md, data = table(results, labels)
    n_auth = len(authored_documents(units))
    n_real = len(real_documents(units))
    header = f"{len(units)} units, {n_auth} authored policies, LODO over {n_real} real documents"
    with atomic_writer(args.output / "recipes.md") as fh:
        fh.write(f"# clausetag recipe study\n\n{header}\n\n{md}\n")
    with atomic_writer(args.output / "recipes.json") as fh:
        json.dump({"units": len(units), "authored_policies": n_auth, "rows": data}, fh, indent=2)
    print(header)
    print(md)
    return 0


def keep_authored(units: Sequence[Unit], n: int) -> list[Unit]:
    """The corpus with only the first ``n`` authored policies (sorted by id) — for learning curves.

    The 140 v1 checklist units (document ``authored``) count as one of them.
    """
    groups = document_groups(units)
    keep = set(authored_documents(units, groups)[:n])
    drop = {i for d in authored_documents(units, groups) if d not in keep for i in groups[d]}
    return [u for i, u in enumerate(units) if i not in drop]
