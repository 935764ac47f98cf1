"""Speed, memory and accuracy of each inference backend on the seed policies.

    python benchmarks/inference.py --model DIR [--json] [--seeds ../shared/seeds] [--corpus data/corpus]

Tags the corpus's seed units (the units of the seed policies, with their gold
labels) with torch fp32, ONNX fp32 and ONNX int8, each in a fresh subprocess so
that load time and peak memory (RSS high-water mark) belong to that backend
alone. Prints units/second, load_s, peak_mb and macro-F1 per backend; ``--json``
prints one object keyed ``torch_fp32`` / ``onnx_fp32`` / ``onnx_int8``.
Missing ONNX files are exported first (``clausetag export-onnx --quantize int8``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BACKENDS = {"torch_fp32": "torch", "onnx_fp32": "onnx", "onnx_int8": "onnx-int8"}


def seed_units(corpus: Path, seeds: Path | None) -> list[dict[str, Any]]:
    """Corpus units cut from the seed policies; only those with a file in ``seeds`` if it exists."""
    docs = {p.name.split("_")[0] for p in seeds.glob("*.txt")} if seeds and seeds.is_dir() else None
    units = []
    for path in sorted(corpus.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                if rec.get("source") == "seed" and (docs is None or rec["doc"] in docs):
                    units.append(rec)
    if not units:
        sys.exit(f"no seed units found in {corpus}")
    return units


def worker(backend: str, model: str, texts_file: str, batch_size: int, repeat: int) -> dict[str, Any]:
    """Runs in its own process: load, warm up, time ``repeat`` passes, report the best."""
    t0 = time.perf_counter()
    from clausetag.inference import ClauseClassifier

    t1 = time.perf_counter()
    clf = ClauseClassifier.from_pretrained(model, backend=backend)
    load_s = time.perf_counter() - t1
    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))
    clf.predict_proba(texts[:batch_size], batch_size=batch_size)  # warm-up: allocations, kernels
    best = float("inf")
    proba = None
    for _ in range(repeat):
        start = time.perf_counter()
        proba = clf.predict_proba(texts, batch_size=batch_size)
        best = min(best, time.perf_counter() - start)
    assert proba is not None
    chosen = clf.decide(proba)
    return {
        "labels": clf.labels,
        "pred": chosen.astype(int).tolist(),
        "units_per_s": len(texts) / best,
        "load_s": load_s,
        "import_s": t1 - t0,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_worker(name: str, args: argparse.Namespace, texts_file: str) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        BACKENDS[name],
        "--model",
        args.model,
        "--texts",
        texts_file,
        "--batch-size",
        str(args.batch_size),
        "--repeat",
        str(args.repeat),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ensure_onnx(model: Path) -> None:
    """Export once, in a subprocess, so this process never imports torch."""
    if (model / "onnx" / "model.onnx").is_file() and (model / "onnx" / "model_int8.onnx").is_file():
        return
    cmd = [sys.executable, "-m", "clausetag.cli", "export-onnx", "--model", str(model), "--quantize", "int8"]
    print("exporting ONNX:", " ".join(cmd), file=sys.stderr)
    if subprocess.run(cmd, stdout=sys.stderr).returncode != 0:  # its own message is above
        raise SystemExit(f"benchmark: error: the ONNX export of {model} failed; nothing was measured")


def macro_f1_of(units: list[dict[str, Any]], labels: list[str], pred: list[list[int]]) -> float:
    import numpy as np

    from clausetag.training.metrics import macro_f1

    gold = np.array([[int(x in u["labels"]) for x in labels] for u in units])
    return macro_f1(gold, np.array(pred))


def table(results: dict[str, dict[str, Any]], n: int) -> str:
    base = next(iter(results.values()))["units_per_s"]
    lines = [
        f"{n} seed units",
        "| backend | units/s | speed-up | load_s | peak_mb | macro_f1 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['units_per_s']:.1f} | {r['units_per_s'] / base:.2f}× | {r['load_s']:.2f} "
            f"| {r['peak_mb']:.0f} | {r['macro_f1']:.4f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seeds", default=str(REPO.parent / "shared" / "seeds"))
    parser.add_argument("--corpus", default=str(REPO / "data" / "corpus"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1, help="timed passes per backend (best counts)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated subset")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--texts", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.model, args.texts, args.batch_size, args.repeat)))
        return 0
    units = seed_units(Path(args.corpus), Path(args.seeds))
    ensure_onnx(Path(args.model))
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = str(Path(tmp) / "texts.json")
        Path(texts_file).write_text(json.dumps([u["text"] for u in units], ensure_ascii=False))
        results = {}
        for name in args.backends.split(","):
            out = run_worker(name, args, texts_file)
            results[name] = {
                "units_per_s": round(out["units_per_s"], 2),
                "load_s": round(out["load_s"], 3),
                "peak_mb": round(out["peak_mb"], 1),
                "macro_f1": round(macro_f1_of(units, out["labels"], out["pred"]), 4),
            }
            print(f"{name}: {results[name]}", file=sys.stderr)
    print(json.dumps(results, indent=2) if args.json else table(results, len(units)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
