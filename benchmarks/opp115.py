"""clausetag on OPP-115, split by policy: the TF-IDF baseline and the transformer on one split.

The published Majority/Union splits are random by segment, so nearly every test
policy also has segments in train. Here the 115 policies are shuffled with
``--seed`` and split into train / dev / test policies; both models train on the
same train policies, tune their per-label thresholds on the dev policies and
are scored once on the test policies. OPP-115 is read from ``--opp115`` at run
time; no text of it is written anywhere (the model directory holds weights and
figures only).

    .venv/bin/python benchmarks/opp115.py --model baseline --leaky    # a few minutes
    .venv/bin/python benchmarks/opp115.py --model baseline --labels-from consolidation
    .venv/bin/python benchmarks/opp115.py --model transformer -- --num_train_epochs 2
    .venv/bin/python benchmarks/opp115.py --tiny --opp115 tests/fixtures/opp115   # smoke test

Arguments after ``--`` go to ``clausetag train`` (they override the defaults
below). ``--score-model DIR`` also scores a model trained on our own 17 labels
on the test policies, its predictions projected onto OPP-115's categories.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clausetag.data.corpus import CorpusUnit, label_matrix, split_by_document
from clausetag.data.opp115 import OPP115_CATEGORIES, ordered, read_opp115, to_opp115
from clausetag.errors import ClausetagError
from clausetag.io import write_json
from clausetag.training.evaluation import headline, write_report
from clausetag.training.metrics import full_report

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OPP115 = REPO.parent / "shared" / "opp115"
REAL_ENCODER = REPO / "models" / "encoders" / "multilingual-e5-small"
#: e5-small, frozen embeddings, batch 16, 128 tokens (a quarter of the segments are longer): one epoch
#: is 143 steps, measured at 14 min on 2 CPU cores (dev pass included); the linear probe's forward
#: pass over the 2 274 train segments took 8 min more while tests shared the CPU.
TRAIN_DEFAULTS = ["--num_train_epochs", "2", "--max_length", "128", "--disable_tqdm", "true"]
TINY_DEFAULTS = ["--num_train_epochs", "2", "--max_length", "64", "--learning_rate", "1e-3"]
#: Srinath et al. (2021), PrivBERT on the Majority split of Mousavi Nejad et al. (2020).
PUBLISHED: dict[str, Any] = {
    "model": "PrivBERT (published)",
    "split": "Majority, random by segment",
    "macro": 0.821,
    "micro": 0.872,
}


def load_corpus(root: Path, labels_from: str) -> list[CorpusUnit]:
    """OPP-115 segments with the chosen gold: consolidation union, or a published split's
    labels (Majority: at least two of three annotators) pooled from its three files; a
    segment in two files (boilerplate repeated in one policy) becomes one unit."""
    if labels_from == "consolidation":
        parts = read_opp115(root).parts
        if "" not in parts:
            raise ClausetagError(f"{root}: give OPP-115's folder or its consolidation folder")
        return parts[""]
    folder = root / "benchmark_splits" / labels_from.capitalize()
    merged: dict[tuple[str, str], CorpusUnit] = {}
    for part in read_opp115(folder).parts.values():
        for u in part:
            if u["doc"] == "unknown":
                continue
            first = merged.setdefault((u["doc"], u["text"]), u)
            first["labels"] = ordered([*first["labels"], *u["labels"]])
    return list(merged.values())


def published_split(root: Path) -> dict[str, list[CorpusUnit]]:
    """The published (leaky) Majority split as it is, for the baseline's reference figure."""
    parts = read_opp115(root / "benchmark_splits" / "Majority").parts
    return {"train": parts["train"], "dev": parts["validation"], "test": parts["test"]}


def split_policies(
    units: Sequence[CorpusUnit], seed: int, test_fraction: float, dev_fraction: float
) -> dict[str, list[CorpusUnit]]:
    """Train/dev/test by policy: shuffled policy ids, at least one policy in dev and test."""
    docs = sorted({u["doc"] for u in units}, key=lambda d: (len(d), d))
    if len(docs) < 3:
        raise ClausetagError(f"need at least three policies for train/dev/test, found {len(docs)}")
    random.Random(seed).shuffle(docs)
    n_test = max(1, round(test_fraction * len(docs)))
    n_dev = max(1, round(dev_fraction * len(docs)))
    test, dev = docs[:n_test], docs[n_test : n_test + n_dev]
    return split_by_document(units, dev_docs=sorted(dev), test_docs=sorted(test))


def summary_row(name: str, report: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The figures a README table needs, from a ``full_report``."""
    return {
        "model": name,
        "macro_f1": round(report["macro_f1"], 4),
        "micro_f1": round(report["micro_f1"], 4),
        "macro_f1_ci95": [round(x, 4) for x in report.get("macro_f1_ci95", (0.0, 0.0))],
        "test_units": report["n"],
        "seconds": round(seconds, 1),
    }


def run_baseline(
    splits: dict[str, list[CorpusUnit]], labels: Sequence[str], seed: int, out: Path, name: str = ""
) -> dict[str, Any]:
    """TF-IDF + logistic regression, thresholds tuned on the dev policies."""
    from clausetag.training.baseline import fit_baseline, score

    started = time.perf_counter()
    model = fit_baseline(splits["train"], splits["dev"], labels, seed=seed)
    report, y_true, y_pred = score(model, splits["test"])
    report.update(model="tfidf+logreg baseline", data="OPP-115 test policies")
    write_report(report, y_true, y_pred, out, "OPP-115 by policy: TF-IDF baseline")
    print(f"baseline{name}: {headline(report)}", flush=True)
    return summary_row(f"TF-IDF + logistic regression{name}", report, time.perf_counter() - started)


def run_transformer(
    splits: dict[str, list[CorpusUnit]], labels: Sequence[str], train_argv: list[str], out: Path, source: Path
) -> dict[str, Any]:
    """``clausetag train``'s own code on the policy split; the model directory goes to ``out``."""
    from clausetag.inference import ClauseClassifier
    from clausetag.training.args import parse_args
    from clausetag.training.train import Splits, run_training

    argv = [*train_argv, "--train_file", str(source), "--output_dir", str(out), "--overwrite"]
    args = parse_args(argv)
    started = time.perf_counter()
    run_training(Splits(list(labels), splits["train"], splits["dev"]), args)
    seconds = time.perf_counter() - started
    clf = ClauseClassifier.from_pretrained(out)
    test = splits["test"]
    y_true = label_matrix(test, labels)
    y_pred = clf.decide(clf.predict_proba([u["text"] for u in test])).astype(int)
    report = full_report(y_true, y_pred, labels, [u["lang"] for u in test])
    report.update(model=str(out), data="OPP-115 test policies")
    write_report(report, y_true, y_pred, out / "opp115-test", "OPP-115 by policy: clausetag transformer")
    print(f"transformer: {headline(report)}", flush=True)
    name = f"clausetag fine-tuned from {Path(args.model.model_name_or_path).name}"
    return summary_row(name, report, seconds)


def segment_predictions(model_dir: Path, texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """A sentence-level model on paragraph segments: tag each sentence, union per segment."""
    from clausetag.inference import ClauseClassifier

    clf = ClauseClassifier.from_pretrained(model_dir)
    index = {name: j for j, name in enumerate(clf.labels)}
    y = np.zeros((len(texts), len(clf.labels)), dtype=int)
    for i, text in enumerate(texts):
        for unit in clf.tag_document(text, lang="en"):
            y[i, [index[name] for name in unit.labels]] = 1
    return y, clf.labels


def score_own_scheme_model(model_dir: Path, test: Sequence[CorpusUnit], out: Path) -> dict[str, Any]:
    """A model on our 17 labels, its predictions projected onto OPP-115, against OPP-115 gold."""
    started = time.perf_counter()
    y_ours, labels = segment_predictions(model_dir, [u["text"] for u in test])
    y_pred = to_opp115(y_ours, labels)
    y_true = label_matrix(test, OPP115_CATEGORIES)
    report = full_report(y_true, y_pred, OPP115_CATEGORIES, [u["lang"] for u in test])
    report.update(model=str(model_dir), data="OPP-115 test policies (projected predictions)")
    write_report(report, y_true, y_pred, out, "OPP-115 by policy: clausetag scheme, projected")
    print(f"{model_dir} projected: {headline(report)}", flush=True)
    return summary_row(f"{model_dir.name} (our 17 labels, projected)", report, time.perf_counter() - started)


def markdown_rows(rows: Sequence[dict[str, Any]], n_test_docs: int, seed: int, labels_from: str) -> str:
    """The table for the README, with the published (leaky) figure beside ours."""
    lines = ["| model | gold | split | macro-F1 | micro-F1 |", "|---|---|---|---:|---:|"]
    for r in rows:
        split = r.get("split") or f"by policy, seed {seed} ({n_test_docs} test policies)"
        split += f", {r['test_units']} test segments"
        cells = [r["model"], r.get("gold", labels_from), split]
        lines.append(f"| {' | '.join(cells)} | {100 * r['macro_f1']:.1f} | {100 * r['micro_f1']:.1f} |")
    p = PUBLISHED
    cells = [p["model"], "majority (split files' labels)", p["split"]]
    lines.append(f"| {' | '.join(cells)} | {100 * p['macro']:.1f} | {100 * p['micro']:.1f} |")
    return "\n".join(lines)


def tiny_encoder(work: Path, units: Sequence[CorpusUnit]) -> Path:
    """The random tiny encoder of the tests, with a vocabulary from these texts."""
    from clausetag.models.tiny import build_tiny_encoder

    return build_tiny_encoder(work / "tiny-encoder", [u["text"] for u in units])


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="benchmarks/opp115.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--opp115", type=Path, default=DEFAULT_OPP115, help="OPP-115's own folder")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "opp115", help="results folder")
    parser.add_argument("--model", choices=["baseline", "transformer", "both"], default="both")
    parser.add_argument(
        "--labels-from",
        choices=["majority", "union", "consolidation"],
        default="majority",
        help="gold: a published split's labels re-split by policy (majority: comparable with the "
        "published figures), or the union of the consolidated annotations (every segment)",
    )
    parser.add_argument(
        "--leaky", action="store_true", help="also run the baseline on the published Majority split as it is"
    )
    parser.add_argument("--seed", type=int, default=42, help="policy shuffle, baseline and training seed")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--dev-fraction", type=float, default=0.1)
    parser.add_argument("--tiny", action="store_true", help="tiny random encoder and settings (smoke test)")
    parser.add_argument("--score-model", type=Path, default=None, help="also score a 17-label model")
    args, rest = parser.parse_known_args(argv)
    return args, [a for a in rest if a != "--"]


def run_all(
    args: argparse.Namespace, train_argv: list[str], splits: dict[str, list[CorpusUnit]]
) -> list[dict]:
    """Every model the arguments ask for, on the same policy split."""
    labels = list(OPP115_CATEGORIES)
    rows = []
    if args.model in ("baseline", "both"):
        rows.append(run_baseline(splits, labels, args.seed, args.work / "baseline"))
    if args.leaky:
        row = run_baseline(published_split(args.opp115), labels, args.seed, args.work / "leaky", " (leaky)")
        rows.append({**row, "gold": "majority", "split": "published Majority split, random by segment"})
    if args.model in ("transformer", "both"):
        if args.tiny:
            defaults = [*TINY_DEFAULTS, "--model_name_or_path", str(tiny_encoder(args.work, splits["train"]))]
        else:
            defaults = [*TRAIN_DEFAULTS, "--model_name_or_path", str(REAL_ENCODER)]
        argv = [*defaults, "--seed", str(args.seed), *train_argv]
        rows.append(run_transformer(splits, labels, argv, args.work / "transformer", args.opp115))
    if args.score_model:
        rows.append(score_own_scheme_model(args.score_model, splits["test"], args.work / "own-scheme"))
    return rows


def main(argv: list[str] | None = None) -> int:
    args, train_argv = parse(sys.argv[1:] if argv is None else argv)
    units = load_corpus(args.opp115, args.labels_from)
    splits = split_policies(units, args.seed, args.test_fraction, args.dev_fraction)
    docs = {
        name: sorted({u["doc"] for u in part}, key=lambda d: (len(d), d)) for name, part in splits.items()
    }
    counts = {name: len(part) for name, part in splits.items()}
    print(
        f"gold: {args.labels_from}; policies {[len(v) for v in docs.values()]}, segments {counts}", flush=True
    )
    rows = run_all(args, train_argv, splits)
    results = {
        "seed": args.seed,
        "labels_from": args.labels_from,
        "policies": docs,
        "segments": counts,
        "results": rows,
        "train_argv": train_argv,
    }
    write_json(args.work / "results.json", results)
    print(markdown_rows(rows, len(docs["test"]), args.seed, args.labels_from))
    print(f"results written to {args.work}/")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except ClausetagError as exc:
        print(f"opp115 benchmark: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
