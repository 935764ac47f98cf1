"""Speed, memory, size and accuracy of each inference variant, side by side, with its parity.

    python benchmarks/inference.py --model DIR [--units seed|real] [--json] [--work runs/bench]
        [--student STUDENT_DIR]

Variants (rows), each from one model directory:

=====================  ==========================================================
``torch_fp32``         the safetensors model through torch (the reference)
``onnx_fp32``          plain ONNX export (``export-onnx``)
``onnx_int8``          its dynamic int8 (``export-onnx --quantize int8``)
``fused_fp32``         onnxruntime's transformer fusion (``export-onnx --fuse``)
``fused_int8``         fused, then int8 (``export-onnx --fuse --quantize int8``)
``trim_fused_fp32``    EN+LV vocabulary, fused (``export-onnx --trim-vocab --fuse``)
``trim_fused_int8``    … int8 (``export-onnx --trim-vocab --fuse --quantize int8``)
``trim_fused_int8all`` … with the feed-forward output projections int8 too (``int8-all``)
``trim_int8all``       the shipping variant: the same without graph fusion
                       (``export-onnx --trim-vocab --quantize int8-all``)
=====================  ==========================================================

``--student DIR`` adds two rows for a distilled student (``clausetag distill``):
``student_fp32`` (torch) and ``student_int8`` (its ``trim_int8all`` export); their
"vs torch" and parity are against the teacher's ``torch_fp32``.

``--context heading+previous`` runs each variant twice: as it is, and as ``<variant>+ctx``,
a copy whose ``config.json`` records that context recipe, tagging every unit with its
place in its document (section path, previous unit; at most ``--context-max-tokens``).
The weights are the same, so the pair shows what reading context costs per unit
(its decisions are not a context model's, so those rows have no macro-F1 or parity).

The ONNX variants are exported into ``--work`` (once; ``--fresh`` redoes it), never
into ``DIR``. Each variant runs in a fresh subprocess, so that import, load time
and peak memory (RSS high-water mark) belong to it alone; then one more fresh
process times ``clausetag predict --backend … `` on one sentence (cold start).

Per row: units/s (best of ``--repeat`` passes, batch 32, longest first), speed-up
over torch, load and cold-start seconds, peak RSS, the model file's size,
macro-F1 against the gold labels (in-sample for a model trained on these units),
and parity with ``torch_fp32``: the share of label decisions (unit × label)
unchanged, mean and max |Δp|. The trimmed vocabulary is chosen from the authored
policies and word lists, never from these units, so parity here is held out.

The second table estimates how close each run is to this CPU's limit: FLOPs per
unit from the model's shape and each unit's token count (the matrix products of
every layer plus attention, ``2·n·(4d² + 2·d·d_ff) + 4·n²·d`` per layer),
executed FLOPs including batch padding, the achieved GFLOP/s, and the peak of
the cores it ran on, measured here with onnxruntime on one large fp32 MatMul and
one large u8×s8 MatMulInteger (the kernels the fp32 and int8 models use).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

#: row -> (prepared directory, backend)
VARIANTS: dict[str, tuple[str, str]] = {
    "torch_fp32": ("model", "torch"),
    "onnx_fp32": ("plain", "onnx"),
    "onnx_int8": ("plain", "onnx-int8"),
    "fused_fp32": ("fused", "onnx"),
    "fused_int8": ("fused", "onnx-int8"),
    "trim_fused_fp32": ("trim", "onnx"),
    "trim_fused_int8": ("trim", "onnx-int8"),
    "trim_fused_int8all": ("trim-all", "onnx-int8"),
    "trim_int8all": ("trim-all-plain", "onnx-int8"),
}
#: How each prepared directory is exported (arguments after ``export-onnx --model …``).
EXPORTS: dict[str, list[str]] = {
    "plain": ["--quantize", "int8"],
    "fused": ["--fuse", "--quantize", "int8"],
    "trim": ["--trim-vocab", "--fuse", "--quantize", "int8", "--overwrite"],
    "trim-all": ["--trim-vocab", "--fuse", "--quantize", "int8-all", "--overwrite"],
    "trim-all-plain": ["--trim-vocab", "--quantize", "int8-all", "--overwrite"],
}
#: ``--student DIR`` rows: the student in torch, and its shipping export (trimmed, int8-all, unfused).
STUDENT_ROWS: dict[str, tuple[str, str]] = {
    "student_fp32": ("model", "torch"),
    "student_int8": ("trim-all-plain", "onnx-int8"),
}
COLD_SENTENCE = "Jums ir tiesības iesniegt sūdzību Datu valsts inspekcijā."


# --------------------------------------------------------------------------- units


def load_units(corpus: Path, seeds: Path | None, which: str) -> list[dict[str, Any]]:
    """``seed``: the units of the seed policies (as shipped); ``real``: those and their translations."""
    docs = {p.name.split("_")[0] for p in seeds.glob("*.txt")} if seeds and seeds.is_dir() else None
    units = []
    for path in sorted(corpus.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            real = rec.get("source") in ("seed", "translation")
            if (rec.get("source") == "seed" or (which == "real" and real)) and (
                docs is None or rec["doc"] in docs
            ):
                units.append(rec)
    if not units:
        sys.exit(f"no {which} units found in {corpus}")
    return units


# --------------------------------------------------------------------------- preparing variants


def _link_model(model: Path, dest: Path, skip: str = "onnx") -> None:
    """A folder of symlinks to ``model``'s files but ``skip`` (its onnx/: exports go here, not there)."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in model.iterdir():
        if item.name != skip and not (dest / item.name).exists():
            (dest / item.name).symlink_to(item.resolve())


def with_context(variant: Path, dest: Path, recipe: str, max_tokens: int) -> Path:
    """``variant`` as a model that reads ``recipe``: its files linked, its config recording the recipe.

    The weights are the variant's own (a context-free model's), so decisions differ from a model
    trained with context, but the work per unit, which is what these rows measure, is the same.
    """
    from clausetag.inference.context import CONFIG_KEY, ContextRecipe

    _link_model(variant, dest, skip="config.json")
    config = json.loads((variant / "config.json").read_text(encoding="utf-8"))
    config[CONFIG_KEY] = ContextRecipe(reads=recipe, max_tokens=max_tokens).to_config()
    (dest / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return dest


def unit_contexts(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each unit's place in its document (section path, previous unit), as JSON for the worker."""
    from clausetag.inference.structure import record_places

    return [{"section": list(p.section), "previous": p.context.previous} for p in record_places(units)]


def prepare(model: Path, work: Path, needed: set[str], fresh: bool) -> dict[str, Path]:
    """The directory of each variant, exporting (in a subprocess, to keep torch out of here) once."""
    dirs = {"model": model}
    for key in EXPORTS:
        if key not in needed:
            continue
        dest = work / key
        dirs[key] = dest
        if (
            not fresh
            and (dest / "onnx" / "model.onnx").is_file()
            and (dest / "onnx" / "model_int8.onnx").is_file()
        ):
            continue
        trim = "--trim-vocab" in EXPORTS[key]  # writes its own directory; the others export in place
        if not trim:
            _link_model(model, dest)
        cmd = [sys.executable, "-m", "clausetag.cli", "export-onnx", "--model", str(model if trim else dest)]
        cmd += EXPORTS[key] + (["-o", str(dest)] if trim else [])
        print("preparing:", " ".join(cmd), file=sys.stderr)
        started = time.perf_counter()
        if subprocess.run(cmd, stdout=sys.stderr, check=False).returncode != 0:
            raise SystemExit(f"benchmark: error: exporting {key} failed (above); nothing was measured")
        print(f"  {key}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return dirs


# --------------------------------------------------------------------------- workers


def flops_per_unit(config: dict[str, Any], n: int, labels: int) -> float:
    """Multiply-adds ×2 of one forward pass over ``n`` tokens (embedding lookups are free)."""
    d = int(config["hidden_size"])
    ff = int(config["intermediate_size"])
    layers = int(config["num_hidden_layers"])
    per_layer = 2 * n * (4 * d * d + 2 * d * ff) + 4 * n * n * d
    return layers * per_layer + 2 * (d * d + d * labels)


def worker(
    backend: str, model: str, texts_file: str, batch_size: int, repeat: int, contexts_file: str | None = None
) -> dict[str, Any]:
    """Runs in its own process: load, warm up, time ``repeat`` passes, report the best.

    With ``contexts_file`` each unit is tagged with its place (section path, previous unit), as
    ``tag_document`` and JSONL ``predict`` pass it; a model that reads no context ignores it.
    """
    t0 = time.perf_counter()
    from clausetag.inference import ClauseClassifier

    t1 = time.perf_counter()
    clf = ClauseClassifier.from_pretrained(model, backend=backend)
    load_s = time.perf_counter() - t1
    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))
    contexts = json.loads(Path(contexts_file).read_text(encoding="utf-8")) if contexts_file else None
    warm = contexts[:batch_size] if contexts else None  # warm-up: allocations, kernels
    clf.predict_proba(texts[:batch_size], batch_size=batch_size, contexts=warm)
    best = float("inf")
    proba = None
    for _ in range(repeat):
        start = time.perf_counter()
        proba = clf.predict_proba(texts, batch_size=batch_size, contexts=contexts)
        best = min(best, time.perf_counter() - start)
    assert proba is not None
    ngram_s = None
    if clf.ngram is not None:  # the n-gram member's share of the pass, timed on its own
        rendered = clf.render_contexts(texts, contexts)
        start = time.perf_counter()
        clf.ngram.predict_proba(texts, rendered)
        ngram_s = time.perf_counter() - start
    return {
        "ngram_s": ngram_s,
        "labels": clf.labels,
        "proba": proba.round(6).tolist(),
        "pred": clf.decide(proba).astype(int).tolist(),
        "units_per_s": len(texts) / best,
        "seconds": best,
        "load_s": load_s,
        "import_s": t1 - t0,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": len(os.sched_getaffinity(0)),
    }


def work_of(
    model: Path, texts: list[str], batch_size: int, contexts: list[dict[str, Any]] | None = None
) -> dict[str, float]:
    """Tokens and GFLOP (useful, and executed with padding) of tagging ``texts`` with ``model``.

    Counted here, not in the worker, so that the worker's peak RSS is inference alone.
    """
    from clausetag.inference import ModelDir
    from clausetag.inference.context import as_context

    md = ModelDir.open(model)
    tokenizer = md.batch_tokenizer()  # the model's prefix, max length and context budget
    recipe = md.context
    rendered = [recipe.render(as_context(c)) for c in contexts] if contexts and recipe.active else None
    lengths = sorted((len(t) for t in tokenizer.encode_ids(texts, rendered)), reverse=True)
    labels = len(md.labels)
    useful = sum(flops_per_unit(md.config, n, labels) for n in lengths)
    executed = 0.0
    for i in range(0, len(lengths), batch_size):  # as predict_proba batches: longest first
        chunk = lengths[i : i + batch_size]
        executed += len(chunk) * flops_per_unit(md.config, chunk[0], labels)
    return {"tokens": sum(lengths), "useful_gflop": useful / 1e9, "executed_gflop": executed / 1e9}


def run_worker(
    backend: str, model: Path, args: argparse.Namespace, texts_file: str, contexts_file: str | None = None
) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", backend, "--model", str(model), "--texts", texts_file]
    cmd += ["--batch-size", str(args.batch_size), "--repeat", str(args.repeat)]
    cmd += ["--contexts", contexts_file] if contexts_file else []
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{backend} on {model} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def cold_start(backend: str, model: Path, tmp: Path, tries: int = 3) -> float:
    """Wall seconds of ``clausetag predict`` on one sentence in a fresh interpreter (best of ``tries``)."""
    policy = tmp / "one.txt"
    policy.write_text(COLD_SENTENCE + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "clausetag.cli", "predict", "--model", str(model), "--backend", backend]
    cmd += ["-q", str(policy), "-o", os.devnull]
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        best = min(best, time.perf_counter() - started)
        if done.returncode != 0:
            sys.exit(f"cold start of {backend} on {model} failed:\n{done.stderr[-2000:]}")
    return best


# --------------------------------------------------------------------------- peak of the cores


def peak_worker(size: int = 1536, reps: int = 8) -> dict[str, float]:
    """Runs in its own process: the best GFLOP/s of one large fp32 MatMul and u8×s8 MatMulInteger."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    ort.disable_telemetry_events()
    rng = np.random.default_rng(0)

    def rate(op: str, a: np.ndarray, b: np.ndarray, a_type: int, y_type: int) -> float:
        graph = helper.make_graph(
            [helper.make_node(op, ["a", "b"], ["y"])],
            "peak",
            [helper.make_tensor_value_info("a", a_type, list(a.shape))],
            [helper.make_tensor_value_info("y", y_type, list(a.shape))],
            [numpy_helper.from_array(b, "b")],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        session.run(None, {"a": a})
        best = float("inf")
        for _ in range(reps):
            started = time.perf_counter()
            session.run(None, {"a": a})
            best = min(best, time.perf_counter() - started)
        return 2 * size**3 / best / 1e9

    shape = (size, size)
    fp32 = rate(
        "MatMul",
        rng.standard_normal(shape, dtype=np.float32),
        rng.standard_normal(shape, dtype=np.float32),
        TensorProto.FLOAT,
        TensorProto.FLOAT,
    )
    int8 = rate(
        "MatMulInteger",
        rng.integers(0, 255, shape, dtype=np.uint8),
        rng.integers(-127, 127, shape, dtype=np.int8),
        TensorProto.UINT8,
        TensorProto.INT32,
    )
    return {"fp32_gflops": fp32, "int8_gops": int8}


def measure_peak() -> dict[str, float]:
    cmd = [sys.executable, __file__, "--peak"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"peak measurement failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return {}
    peak: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return peak


# --------------------------------------------------------------------------- tables


def macro_f1_of(units: list[dict[str, Any]], labels: list[str], pred: list[list[int]]) -> float:
    import numpy as np

    from clausetag.training.metrics import macro_f1

    gold = np.array([[int(x in u["labels"]) for x in labels] for u in units])
    return macro_f1(gold, np.array(pred))


def parity(out: dict[str, Any], ref: dict[str, Any], langs: list[str]) -> dict[str, Any]:
    import numpy as np

    p, q = np.array(out["proba"]), np.array(ref["proba"])
    same = np.array(out["pred"]) == np.array(ref["pred"])
    delta = np.abs(p - q)
    result = {
        "decisions_same": float(same.mean()),
        "units_same": float(same.all(axis=1).mean()),
        "mean_dp": float(delta.mean()),
        "max_dp": float(delta.max()),
    }
    for lang in sorted(set(langs)):
        rows = np.array([x == lang for x in langs])
        result[f"decisions_same_{lang}"] = float(same[rows].mean())
    return result


def file_mb(model: Path, backend: str) -> float:
    name = {"torch": "model.safetensors", "onnx": "onnx/model.onnx", "onnx-int8": "onnx/model_int8.onnx"}
    return (model / name[backend]).stat().st_size / 1e6


def tables(
    results: dict[str, dict[str, Any]], n: int, which: str, peak: dict[str, float], policies: int
) -> str:
    base = results["torch_fp32"]["units_per_s"] if "torch_fp32" in results else None
    lines = [
        f"{n} {which} units of {policies} policies, batch 32",
        "",
        "| variant | units/s | vs torch | policies/h/core | load s | cold s | peak MB | file MB | macro-F1 "
        "| decisions = torch | mean abs dp | max abs dp |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        speed = f"{r['units_per_s'] / base:.2f}×" if base else "–"
        par = r.get("parity")
        f1 = "–" if r["macro_f1"] is None else f"{r['macro_f1']:.4f}"
        cells = (
            f"{par['decisions_same'] * 100:.2f}% | {par['mean_dp']:.4f} | {par['max_dp']:.3f}"
            if par
            else "– | – | –"
        )
        per_core = r["units_per_s"] * 3600 / (n / policies) / r["threads"]
        lines.append(
            f"| {name} | {r['units_per_s']:.1f} | {speed} | {per_core:,.0f} "
            f"| {r['load_s']:.2f} | {r['cold_s']:.2f} "
            f"| {r['peak_mb']:.0f} | {r['file_mb']:.1f} | {f1} | {cells} |"
        )
    fp32, int8 = peak.get("fp32_gflops"), peak.get("int8_gops")
    lines += [
        "",
        f"Peak of these cores (onnxruntime, {next(iter(results.values()))['threads']} threads): "
        + (
            f"fp32 MatMul {fp32:.0f} GFLOP/s, u8×s8 MatMulInteger {int8:.0f} GOP/s"
            if fp32 and int8
            else "not measured"
        ),
        "",
        "| variant | tokens | GFLOP useful | GFLOP executed | GFLOP/s achieved (useful) | of peak |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        achieved = r["useful_gflop"] / r["seconds"]
        kind = "int8" if "int8" in name else "fp32"  # int8 rows: part of their work is still fp32
        ceiling = int8 if kind == "int8" else fp32
        share = f"{achieved / ceiling * 100:.0f}% of {kind}" if ceiling else "–"
        lines.append(
            f"| {name} | {r['tokens']} | {r['useful_gflop']:.1f} | {r['executed_gflop']:.1f} "
            f"| {achieved:.1f} | {share} |"
        )
    for name, r in results.items():
        par = r.get("parity")
        if par:
            per_lang = ", ".join(
                f"{k[-2:]} {v * 100:.2f}%" for k, v in par.items() if k.startswith("decisions_same_")
            )
            whole = par["units_same"] * 100
            lines.append(f"{name}: decisions = torch by language: {per_lang}; whole units {whole:.1f}%")
    shares = [
        f"{name} {r['ngram_s'] / n * 1000:.2f} ms/unit = {r['ngram_s'] / r['seconds'] * 100:.0f}% of its time"
        for name, r in results.items()
        if r.get("ngram_s") is not None
    ]
    if shares:
        lines += ["", "The n-gram member's share (its scoring timed alone): " + "; ".join(shares)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="model directory (required)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seeds", default=str(REPO.parent / "shared" / "seeds"))
    parser.add_argument("--corpus", default=str(REPO / "data" / "corpus"))
    parser.add_argument(
        "--units", choices=("seed", "real"), default="seed", help="seed units, or with translations"
    )
    parser.add_argument(
        "--work", default=str(REPO / "runs" / "bench"), help="where the variants are exported"
    )
    parser.add_argument("--fresh", action="store_true", help="export the variants again")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1, help="timed passes per variant (best counts)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset")
    parser.add_argument(
        "--context",
        choices=("heading", "heading+previous"),
        help="also run each variant as a model reading this context (rows <variant>+ctx)",
    )
    parser.add_argument("--context-max-tokens", type=int, default=24, help="the context's token cap")
    parser.add_argument(
        "--student", help="a distilled student's model directory: adds rows student_fp32, student_int8"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--contexts", help=argparse.SUPPRESS)
    parser.add_argument("--peak", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--texts", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak:
        print(json.dumps(peak_worker()))
        return 0
    if not args.model:
        parser.error("--model is required")
    if args.worker:
        out = worker(args.worker, args.model, args.texts, args.batch_size, args.repeat, args.contexts)
        print(json.dumps(out))
        return 0
    names = args.variants.split(",")
    unknown = [x for x in names if x not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    units = load_units(Path(args.corpus), Path(args.seeds), args.units)
    model = Path(args.model).resolve()
    work = Path(args.work) / model.name
    dirs = prepare(model, work, {VARIANTS[x][0] for x in names}, args.fresh)
    peak = measure_peak()
    results: dict[str, dict[str, Any]] = {}
    reference = None
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = str(Path(tmp) / "texts.json")
        Path(texts_file).write_text(json.dumps([u["text"] for u in units], ensure_ascii=False))
        if "torch_fp32" not in names:  # parity needs the torch reference all the same
            reference = run_worker("torch", model, args, texts_file)
        contexts_file = str(Path(tmp) / "contexts.json")
        contexts = unit_contexts(units)
        Path(contexts_file).write_text(json.dumps(contexts, ensure_ascii=False))
        runs = [(name, dirs[VARIANTS[name][0]], None) for name in names]
        if args.context:  # each variant again, reading its units' context: the cost of context
            runs = [
                run
                for name, where, _ in runs
                for run in (
                    (name, where, None),
                    (
                        f"{name}+ctx",
                        with_context(where, work / "ctx" / where.name, args.context, args.context_max_tokens),
                        contexts_file,
                    ),
                )
            ]
        if args.student:
            student = Path(args.student).resolve()
            sdirs = prepare(student, Path(args.work) / student.name, {"trim-all-plain"}, args.fresh)
            runs += [(name, sdirs[key], None) for name, (key, _) in STUDENT_ROWS.items()]
        for name, where, ctx_file in runs:
            backend = {**VARIANTS, **STUDENT_ROWS}[name.removesuffix("+ctx")][1]
            out = run_worker(backend, where, args, texts_file, ctx_file)
            if name == "torch_fp32":
                reference = out
            assert reference is not None
            row = {k: out[k] for k in ("units_per_s", "seconds", "load_s", "peak_mb", "threads", "ngram_s")}
            # A +ctx row runs context-free weights on context: its cost is real, its decisions are not.
            row["macro_f1"] = None if ctx_file else macro_f1_of(units, out["labels"], out["pred"])
            row["file_mb"] = file_mb(where, backend)
            row["cold_s"] = cold_start(backend, where, Path(tmp))
            if name != "torch_fp32" and not ctx_file:
                row["parity"] = parity(out, reference, [u["lang"] for u in units])
            results[name] = row
            print(f"{name}: {json.dumps({k: v for k, v in row.items() if k != 'parity'})}", file=sys.stderr)
    # Counted after the workers ran: a child inherits its parent's RSS high-water mark across
    # fork and exec (Linux keeps it in the signal struct), so the parent stays small until then.
    for name, where, ctx_file in runs:
        texts = [u["text"] for u in units]
        results[name] |= work_of(where, texts, args.batch_size, contexts if ctx_file else None)
    print(
        json.dumps({"units": len(units), "peak": peak, "results": results}, indent=2)
        if args.json
        else tables(results, len(units), args.units, peak, len({u["doc"] for u in units}))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
