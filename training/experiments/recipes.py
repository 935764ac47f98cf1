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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from clausetag.data.corpus import (
    DEFAULT_CORPUS_DIR,
    CorpusUnit,
    authored_documents,
    label_matrix,
    load_units,
    real_documents,
)
from clausetag.errors import ClausetagError
from clausetag.io import atomic_writer
from clausetag.labels import resolve_label_set
from clausetag.training.experiments.features import FeatureCache
from clausetag.training.experiments.fitters import (
    STUDY_TRAIN_DEFAULTS,
    FinetuneFitter,
    Fitter,
    ProbeFitter,
    SelfTrained,
    StudentFitter,
    TfidfFitter,
    Units,
    units_key,
)
from clausetag.training.experiments.folds import (
    default_dev_split,
    first_document,
    held_out_folds,
    keep_authored,
    out_of_fold,
)
from clausetag.training.experiments.rows import DEFAULT_ROWS, ROW, ROWS, Row, paired_rows
from clausetag.training.metrics import full_report, paired_bootstrap_delta
from clausetag.training.thresholds import POLICIES, choose_thresholds

log = logging.getLogger(__name__)


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


#: Made in a fold: (its index among the folds scored, train, test, labels) -> the fold.
FoldMethod = Callable[[int, Units, Units, Sequence[str]], Fold]
#: The inner folds named in the key of a row fitted on a dev split (it uses none): the default.
DEV_SPLIT_KEY_FOLDS = 4


def run_row(
    name: str,
    units: Sequence[CorpusUnit],
    labels: Sequence[str],
    fold_of: FoldMethod,
    settings: str,
    only: Sequence[str] | None = None,
    store: FoldStore | None = None,
) -> RowResult:
    """One recipe over the LODO folds; ``settings`` names it in the fold store's key."""
    store = store or FoldStore(None)
    seconds = 0.0
    ys, langs, folds = [], [], []
    for k, (doc, train, test) in enumerate(held_out_folds(units, only)):
        t0 = time.perf_counter()
        key = fold_key(settings, train, test, labels)
        kept = store.get(name, doc, key)
        if kept is not None:
            fold, took = kept
            log.info("  %s: fold %s from the fold store (%.0f s when computed)", name, doc, took)
        else:
            fold = fold_of(k, train, test, labels)
            took = time.perf_counter() - t0
            store.put(name, doc, key, fold, took)
            log.info("  %s: fold %s done (%.0f s)", name, doc, took)
        seconds += took
        folds.append(fold)
        ys.append(label_matrix(test, labels))
        langs += [u["lang"] for u in test]
    return RowResult(name, seconds, np.vstack(ys), langs, folds)


def out_of_fold_folds(fit: Fitter, inner_k: int) -> FoldMethod:
    """Fitted on the fold's training documents; thresholds on their out-of-fold scores."""

    def fold(k: int, train: Units, test: Units, labels: Sequence[str]) -> Fold:
        oof = out_of_fold(train, labels, fit, inner_k)
        scores = fit(train, (), test, labels).test
        return Fold(label_matrix(train, labels), oof, first_document(train), scores)

    return fold


def dev_split_folds(fit: Fitter) -> FoldMethod:
    """Fitted on the fold's inner training documents, scoring the test and the dev documents."""

    def fold(k: int, train: Units, test: Units, labels: Sequence[str]) -> Fold:
        inner, dev = default_dev_split(train)
        return dev_fold(dev, test, fit(inner, dev, [*test, *dev], labels).test, labels)

    return fold


def dev_fold(
    dev: Sequence[CorpusUnit], test: Sequence[CorpusUnit], both: np.ndarray, labels: Sequence[str]
) -> Fold:
    """A dev-split row's fold from its scores of ``[*test, *dev]`` (thresholds: on dev)."""
    return Fold(label_matrix(dev, labels), both[len(test) :], first_document(dev), both[: len(test)])


def ensemble_row(
    name: str,
    units: Sequence[CorpusUnit],
    labels: Sequence[str],
    members: tuple[RowResult, RowResult],
    only: Sequence[str] | None = None,
) -> RowResult:
    """Two rows mixed fold by fold (never stored: the members are); their wall time counts."""

    def fold(k: int, train: Units, test: Units, labels: Sequence[str]) -> Fold:
        return _ensemble_fold(members, k)

    row = run_row(name, units, labels, fold, name, only=only)
    return replace(row, seconds=row.seconds + sum(m.seconds for m in members))


def _ensemble_fold(members: tuple[RowResult, RowResult], k: int) -> Fold:
    """The second member's weight chosen on the members' reference scores, then applied to the test."""
    from clausetag.training.ensemble import choose_weight

    a, b = members[0].folds[k], members[1].folds[k]
    w = choose_weight(a.y_ref, a.ref, b.ref)
    log.info("    ensemble fold %d: weight %.1f on %s", k, w, members[1].name)
    return Fold(a.y_ref, (1 - w) * a.ref + w * b.ref, a.dev_doc, (1 - w) * a.test + w * b.test)


@dataclass
class Study:
    """The rows of one study over one corpus: how each named row is fitted, keyed and stored."""

    units: Sequence[CorpusUnit]
    labels: Sequence[str]
    cache: FeatureCache
    store: FoldStore
    train_argv: list[str]
    inner_k: int = 4
    only: Sequence[str] | None = None

    def fitter(self, row: Row) -> Fitter:
        fit: Fitter
        if row.kind == "probe":
            fit = ProbeFitter(self.cache, row.pooling)
        elif row.kind == "finetune":
            fit = self.finetune(row)
        else:
            fit = TfidfFitter(context=row.context)
        return SelfTrained(fit) if row.self_trained else fit

    def finetune(self, row: Row) -> FinetuneFitter:
        return FinetuneFitter((*self.train_argv, *row.train_flags), STUDY_TRAIN_DEFAULTS)

    def recipe(self, row: Row) -> str:
        """The row's settings as the fold store's key names them."""
        if row.kind == "probe":
            recipe = f"{self.cache.encoder}|{self.cache.max_length}|tanh-probe"
        elif row.kind == "finetune":
            recipe = " ".join(self.finetune(row).train_argv)
        elif row.kind == "student":
            recipe = f"{self.recipe(ROW[row.teacher])}|distill {' '.join(row.distill_flags)}"
        else:
            recipe = ""
        return f"{recipe}|self-0.9" if row.self_trained else recipe

    def settings(self, row: Row) -> str:
        """What the fold store's keys name of the row: its name, its recipe and the inner folds."""
        folds = DEV_SPLIT_KEY_FOLDS if row.dev_split else self.inner_k
        return f"{row.name}|{self.recipe(row)}|{folds}"

    def run(self, row: Row, done: dict[str, RowResult]) -> RowResult:
        """The row, given the rows ``done`` before it (an ensemble's members)."""
        if row.members is not None:
            a, b = row.members
            if a not in done or b not in done:
                raise ClausetagError(f"the {row.name} row needs the {a} and {b} rows before it")
            return ensemble_row(row.name, self.units, self.labels, (done[a], done[b]), self.only)
        if row.kind == "student":
            return self.student(row)
        fit = self.fitter(row)
        fold_of = dev_split_folds(fit) if row.dev_split else out_of_fold_folds(fit, self.inner_k)
        return self._run(row, fold_of)

    def _run(self, row: Row, fold_of: FoldMethod) -> RowResult:
        return run_row(row.name, self.units, self.labels, fold_of, self.settings(row), self.only, self.store)

    def student(self, row: Row) -> RowResult:
        """A student row; each fold's teacher is a fold of its teacher row, put in the fold store
        under that row's key, so the teacher row after it trains nothing again."""
        teacher = ROW[row.teacher]
        fit = StudentFitter(self.finetune(teacher), row.distill_flags)
        result = self._run(row, dev_split_folds(fit))
        # Keyed with --inner-folds, as it always was (the teacher row's own key names the default
        # DEV_SPLIT_KEY_FOLDS, so with another --inner-folds the teacher row does not find these).
        settings = f"{teacher.name}|{self.recipe(teacher)}|{self.inner_k}"
        for doc, train, test in held_out_folds(self.units, self.only):
            _, dev = default_dev_split(train)
            kept = fit.teachers.get(units_key([*test, *dev]))
            if kept is not None:
                key = fold_key(settings, train, test, self.labels)
                self.store.put(teacher.name, doc, key, dev_fold(dev, test, kept[0], self.labels), kept[1])
        return result


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
    plan = Study(units, labels, cache, store, train_argv, inner_k, only)
    results: dict[str, RowResult] = {}
    for name in rows:
        log.info("row %s …", name)
        results[name] = plan.run(ROW[name], results)
    return [results[n] for n in rows]


#: The threshold policy of the paired comparison: the one ``clausetag train`` ships by default.
PAIRED_POLICY = "global"


def paired_table(results: Sequence[RowResult], bootstrap: int = 1000) -> tuple[str, dict[str, Any]]:
    """Each context row against its twin without context: Δ macro-F1 with a paired 95% interval.

    Overall and per language, at ``PAIRED_POLICY``, over the pooled held-out units of the folds
    both rows scored (the same units: a bootstrap resample draws the same units for both).
    """
    by_name = {r.name: r for r in results}
    pairs = [(by_name[r.twin], by_name[r.name]) for r in paired_rows() if {r.name, r.twin} <= set(by_name)]
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
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(DEFAULT_ROWS))
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
