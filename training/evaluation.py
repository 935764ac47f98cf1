"""``clausetag evaluate``: score a model directory on any corpus-format JSONL.

Prints the headline figures, and with ``--out`` writes ``metrics.json``,
``report.md`` and two plots (per-label F1 by language; gold × predicted label
co-occurrence). The baseline and the experiments reuse ``write_report``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clausetag.data.corpus import Unit, label_matrix, load_units
from clausetag.io import atomic_writer, write_json
from clausetag.training.metrics import full_report, tune_thresholds

#: ``--threshold-policy`` values besides a number in (0, 1) (one threshold for every label).
THRESHOLD_CHOICES = ("saved", "flat", "oracle")


def threshold_policy(value: str) -> str:
    """argparse type: ``saved``, ``flat`` (0.5), ``oracle`` (tuned on the scored data) or a number."""
    if value in THRESHOLD_CHOICES:
        return value
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0.0 < number < 1.0:
        raise argparse.ArgumentTypeError(
            f"{value!r}: use one of {', '.join(THRESHOLD_CHOICES)} or a number between 0 and 1"
        )
    return value


def evaluate_model(
    model_dir: str | Path,
    data: str | Path,
    backend: str = "torch",
    batch_size: int = 32,
    bootstrap: int = 1000,
    thresholds: str = "saved",
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, list[Unit]]:
    """Metrics of a model directory on a JSONL; also returns gold, predictions and units.

    ``thresholds``: the model's ``saved`` per-label thresholds, ``flat`` 0.5, a
    number for every label, or ``oracle`` (tuned on this very data: an upper
    bound, not a result).
    """
    from clausetag.inference import ClauseClassifier

    clf = ClauseClassifier.from_pretrained(model_dir, backend=backend)
    units = load_units(data, clf.labels)
    proba = clf.predict_proba([u["text"] for u in units], batch_size=batch_size, progress=True)
    y_true = label_matrix(units, clf.labels)
    if thresholds == "saved":
        cut = clf.thresholds.astype(float)
    elif thresholds == "oracle":
        cut = tune_thresholds(y_true, proba)
    else:
        cut = np.full(len(clf.labels), 0.5 if thresholds == "flat" else float(thresholds))
    clf.thresholds = cut.astype(np.float32)
    y_pred = clf.decide(proba).astype(int)
    report = full_report(y_true, y_pred, clf.labels, [u["lang"] for u in units], bootstrap=bootstrap)
    report["model"] = str(model_dir)
    report["data"] = str(data)
    report["backend"] = backend
    saved_method = clf.model_dir.threshold_method
    report["threshold_policy"] = f"saved ({saved_method})" if thresholds == "saved" else thresholds
    report["thresholds"] = {name: round(float(t), 4) for name, t in zip(clf.labels, cut, strict=True)}
    return report, y_true, y_pred, units


def markdown(report: dict[str, Any], title: str = "clausetag evaluation") -> str:
    langs = sorted(report["per_language"])
    lo, hi = report.get("macro_f1_ci95", (float("nan"), float("nan")))
    lines = [
        f"# {title}",
        "",
        f"- model: `{report.get('model', '-')}`  data: `{report.get('data', '-')}`  units: {report['n']}",
        f"- thresholds: {report.get('threshold_policy', '-')}",
        f"- macro-F1 **{report['macro_f1']:.3f}** (95% bootstrap CI {lo:.3f}–{hi:.3f}), "
        f"micro-F1 **{report['micro_f1']:.3f}**, samples-F1 {report['samples_f1']:.3f}, "
        f"exact match {report['exact_match']:.3f}",
        "- macro averages run over labels with gold support in the scored units",
        "",
        "| language | units | macro-F1 | 95% CI | micro-F1 | samples-F1 | exact match |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for lang in langs:
        r = report["per_language"][lang]
        ci = r.get("macro_f1_ci95")
        ci_txt = f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "-"
        lines.append(
            f"| {lang} | {r['n']} | {r['macro_f1']:.3f} | {ci_txt} | {r['micro_f1']:.3f} | "
            f"{r['samples_f1']:.3f} | {r['exact_match']:.3f} |"
        )
    header = "| label | P | R | F1 | support | " + " | ".join(f"F1 {lang}" for lang in langs) + " |"
    lines += ["", "## Per label", "", header, "|---|" + "---:|" * (4 + len(langs))]
    for name in report["labels"]:
        r = report["per_label"][name]
        per_lang = [report["per_language"][lang]["per_label"][name] for lang in langs]
        cells = [f"{p['f1']:.3f}" if p["support"] else "–" for p in per_lang]
        lines.append(
            f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['support']} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines) + "\n"


def plot_per_label_f1(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = report["labels"]
    langs = sorted(report["per_language"])
    fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(labels)), 4.5))
    width = 0.8 / max(len(langs), 1)
    x = np.arange(len(labels))
    for k, lang in enumerate(langs):
        per = report["per_language"][lang]["per_label"]
        f1 = [per[name]["f1"] if per[name]["support"] else np.nan for name in labels]
        ax.bar(x + (k - (len(langs) - 1) / 2) * width, f1, width, label=lang)
    ax.set_xticks(x, labels, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1")
    ax.set_title("Per-label F1 by language (no bar: no gold support)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], path: Path) -> None:
    """Row = gold label, column = predicted label; cell = share of that gold label's units."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    co = y_true.T @ y_pred  # units with gold i that were predicted j
    support = y_true.sum(0)[:, None]
    share = np.divide(co, support, out=np.zeros_like(co, dtype=float), where=support > 0)
    fig, ax = plt.subplots(figsize=(0.5 * len(labels) + 3, 0.5 * len(labels) + 2))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if co[i, j]:
                ax.text(
                    j,
                    i,
                    str(int(co[i, j])),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if share[i, j] > 0.5 else "black",
                )
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of gold units")
    ax.set_title("Label co-occurrence: gold × predicted")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(
    report: dict[str, Any], y_true: np.ndarray, y_pred: np.ndarray, out_dir: str | Path, title: str
) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", report)
    with atomic_writer(out / "report.md") as fh:
        fh.write(markdown(report, title))
        fh.write("\n![per-label F1](per_label_f1.png)\n\n![confusion](label_confusion.png)\n")
    plot_per_label_f1(report, out / "per_label_f1.png")
    plot_confusion(y_true, y_pred, report["labels"], out / "label_confusion.png")
    return out


def headline(report: dict[str, Any]) -> str:
    per = "  ".join(
        f"{lang}: macro {r['macro_f1']:.3f} micro {r['micro_f1']:.3f}"
        for lang, r in sorted(report["per_language"].items())
    )
    lo, hi = report.get("macro_f1_ci95", (float("nan"), float("nan")))
    policy = f"  thresholds: {report['threshold_policy']}" if "threshold_policy" in report else ""
    return (
        f"units {report['n']}{policy}  macro-F1 {report['macro_f1']:.3f} [{lo:.3f}, {hi:.3f}]  "
        f"micro-F1 {report['micro_f1']:.3f}  samples-F1 {report['samples_f1']:.3f}  "
        f"exact {report['exact_match']:.3f}\n{per}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="clausetag evaluate", description=__doc__)
    parser.add_argument("--model", required=True, type=Path, help="model directory")
    parser.add_argument(
        "--data", required=True, type=Path, help="JSONL (or corpus dir) with text, lang, labels"
    )
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx", "onnx-int8"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples for the macro-F1 CI")
    parser.add_argument(
        "--threshold-policy",
        "--threshold_policy",
        dest="threshold_policy",
        type=threshold_policy,
        default="saved",
        help="saved: the model's per-label thresholds (default); flat: 0.5 for every label; "
        "a number: that threshold for every label; oracle: tuned on this data (optimistic upper bound)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--out", type=Path, default=None, help="report directory (metrics, report.md, plots)")
    args = parser.parse_args(argv)
    report, y_true, y_pred, _ = evaluate_model(
        args.model, args.data, args.backend, args.batch_size, args.bootstrap, args.threshold_policy
    )
    if args.out:
        write_report(report, y_true, y_pred, args.out, f"clausetag evaluation: {args.model.name}")
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(headline(report))
        if args.out:
            print(f"report written to {args.out}/")
    return 0
