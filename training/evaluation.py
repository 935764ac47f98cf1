"""``clausetag evaluate``: score a model directory on any corpus-format JSONL.

Prints the headline figures, and with ``-o/--output`` writes ``metrics.json``,
``report.md`` and two plots (per-label F1 by language; gold × predicted label
co-occurrence) into a folder; an earlier report there is replaced only with
``--overwrite``. The baseline and the experiments reuse ``write_report``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clausetag.data.corpus import CorpusUnit, label_matrix, load_units
from clausetag.errors import ClausetagError
from clausetag.io import atomic_writer, os_reason, terminate_as_interrupt, write_json
from clausetag.options import add_backend, add_batch_size, add_option, add_output, add_overwrite
from clausetag.training.clause_metric import score
from clausetag.training.metrics import tune_thresholds

#: ``--thresholds`` values besides a number in (0, 1) (one threshold for every label).
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
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, list[CorpusUnit]]:
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
    report = score(y_true, y_pred, clf.labels, [u["lang"] for u in units], bootstrap=bootstrap)
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


#: The files ``write_report`` puts in its folder.
REPORT_FILES = ("metrics.json", "report.md", "per_label_f1.png", "label_confusion.png")


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_report_dir(out: str | Path, overwrite: bool = False) -> Path:
    """Check a report folder before any work: not a file, writable, and without
    ``overwrite`` holding no earlier report (whose files would be replaced)."""
    given = str(out)
    if not given.strip():
        raise ClausetagError("the output path is empty")
    path = Path(given)
    try:
        st = path.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:  # a symlink loop, a path below a regular file
        raise ClausetagError(f"{given}: cannot use as output ({os_reason(exc)})") from None
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise ClausetagError(
            f"{given}: is a file; --output names a folder for the report ({', '.join(REPORT_FILES)})"
        )
    existing = [name for name in REPORT_FILES if (path / name).exists()] if st else []
    if existing and not overwrite:
        raise ClausetagError(
            f"{given}: already holds a report ({', '.join(existing)}); "
            "pass --overwrite to replace it, or choose another --output"
        )
    if not os.access(_nearest_existing(path), os.W_OK):
        raise ClausetagError(f"{given}: cannot write (Permission denied or a read-only location)")
    return path


def write_report(
    report: dict[str, Any], y_true: np.ndarray, y_pred: np.ndarray, out_dir: str | Path, title: str
) -> Path:
    """Write ``REPORT_FILES`` into ``out_dir`` together: all of them or, on any failure, none.

    They are made in a hidden folder inside ``out_dir`` and renamed into place
    at the end, so a failing plot leaves no report that lacks its plots.
    """
    out = Path(out_dir)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".report.", suffix=".tmp", dir=out))
    except OSError as exc:
        raise ClausetagError(f"{out}: cannot write ({os_reason(exc)})") from None
    done = False
    try:
        write_json(staging / "metrics.json", report)
        with atomic_writer(staging / "report.md") as fh:
            fh.write(markdown(report, title))
            fh.write("\n![per-label F1](per_label_f1.png)\n\n![confusion](label_confusion.png)\n")
        plot_per_label_f1(report, staging / "per_label_f1.png")
        plot_confusion(y_true, y_pred, report["labels"], staging / "label_confusion.png")
        for name in REPORT_FILES:
            os.replace(staging / name, out / name)
        done = True
    except OSError as exc:
        raise ClausetagError(f"{out}: cannot write ({os_reason(exc)})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not done:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if empty: nothing of ours is left in it
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
    add_backend(parser)
    add_batch_size(parser)
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples for the macro-F1 CI")
    add_option(
        parser,
        "--thresholds",
        "--threshold-policy",
        "--threshold_policy",
        type=threshold_policy,
        default="saved",
        metavar="{saved,flat,oracle,NUMBER}",
        help="saved: the model's per-label thresholds (default); flat: 0.5 for every label; "
        "a number: that threshold for every label; oracle: tuned on this data (optimistic upper bound). "
        "(--threshold-policy names how training chooses thresholds, elsewhere.)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_output(parser, "report folder (metrics.json, report.md, plots)")
    add_overwrite(parser, "replace an earlier report in --output")
    args = parser.parse_args(argv)
    out = None if args.output is None else check_report_dir(args.output, args.overwrite)
    with terminate_as_interrupt():  # SIGTERM cleans up like Ctrl-C: no half-written report
        report, y_true, y_pred, _ = evaluate_model(
            args.model, args.data, args.backend, args.batch_size, args.bootstrap, args.thresholds
        )
        if out is not None:
            write_report(report, y_true, y_pred, out, f"clausetag evaluation: {args.model.name}")
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(headline(report))
        if out is not None:
            print(f"report written to {out}/")
    return 0
