"""Units/s of ``clausetag predict`` in one process against ``--engine ray`` with 1 and 2 workers.

    python benchmarks/ray_batch.py --model DIR [--inputs ../shared/seeds] [--workers 1 2]
        [--backend onnx-int8] [--repeat 1] [--json] [--work runs/bench-ray]

Every run is a fresh ``clausetag predict`` process over the same input files
(``--inputs``: files or folders; default the seed policies), timed from start to
exit. Each row is timed twice:

* **start-up**: the same command on a one-sentence file: interpreter, imports,
  model load and, for Ray, starting a local Ray, its workers (each loading the
  model) and shutting it down;
* **total**: the command on all inputs.

``tagging s`` is total minus start-up, ``units/s`` the units over that (the
steady rate), and ``end-to-end`` the units over the total. ``same records``
checks that the Ray rows wrote exactly the records of the single-process run.
With ``--repeat N`` each time is the best of N runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from clausetag.inference.ray_tagger import default_backend

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO.parent / "shared" / "seeds"
ONE_SENTENCE = "Jums ir tiesības iesniegt sūdzību Datu valsts inspekcijā.\n"


def predict_command(model: str, backend: str, inputs: list[str], out: Path, workers: int | None) -> list[str]:
    cmd = [sys.executable, "-m", "clausetag.cli", "predict", "--model", model, "--backend", backend, "-q"]
    if workers:
        cmd += ["--engine", "ray", "--workers", str(workers)]
    return [*cmd, *inputs, "-o", str(out)]


def timed(cmd: list[str]) -> float:
    """Wall seconds of one run; a failed run stops the benchmark with its message."""
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return seconds


def read_records(out: Path) -> list[dict[str, Any]]:
    files = sorted(out.glob("part-*.jsonl")) if out.is_dir() else [out]
    records = [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines()]
    return sorted(records, key=lambda r: (r["doc"], r["unit"]))


def clear(out: Path) -> None:
    if out.is_dir():
        for p in out.iterdir():
            p.unlink()
        out.rmdir()
    elif out.exists():
        out.unlink()


def best_time(cmd: list[str], out: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        clear(out)
        times.append(timed(cmd))
    return min(times)


def measure(name: str, workers: int | None, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    one = work / "one.txt"
    suffix = "" if workers else ".jsonl"
    cold_out, full_out = work / f"{name}-startup{suffix}", work / f"{name}{suffix}"
    startup = best_time(
        predict_command(args.model, args.backend, [str(one)], cold_out, workers), cold_out, args.repeat
    )
    total = best_time(
        predict_command(args.model, args.backend, args.inputs, full_out, workers), full_out, args.repeat
    )
    units = len(read_records(full_out))
    tagging = max(total - startup, 1e-9)
    return {
        "engine": name,
        "workers": workers or "-",
        "units": units,
        "startup_s": round(startup, 1),
        "total_s": round(total, 1),
        "tagging_s": round(tagging, 1),
        "units_per_s": round(units / tagging, 1),
        "end_to_end_units_per_s": round(units / total, 1),
        "output": full_out,
    }


def table(rows: list[dict[str, Any]]) -> str:
    columns = ["engine", "workers", "units", "start-up s", "total s", "tagging s", "units/s"]
    columns += ["end-to-end units/s", "same records"]
    lines = ["| " + " | ".join(columns) + " |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(
            f"| {r['engine']} | {r['workers']} | {r['units']} | {r['startup_s']} | {r['total_s']} | "
            f"{r['tagging_s']} | {r['units_per_s']} | {r['end_to_end_units_per_s']} | {r['same']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--inputs", nargs="+", default=[str(SEEDS)], help="files or folders (default: seeds)")
    parser.add_argument(
        "--backend", help="default: onnx-int8 when exported, else torch (the same for all rows)"
    )
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2], help="Ray rows (default: 1 2)")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs per time (default 1)")
    parser.add_argument("--work", default=str(REPO / "runs" / "bench-ray"), help="scratch folder for outputs")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON as well")
    args = parser.parse_args(argv)
    args.backend = args.backend or default_backend(args.model)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "one.txt").write_text(ONE_SENTENCE, encoding="utf-8")
    rows = [measure("single process", None, args, work)]
    rows += [measure("ray", n, args, work) for n in args.workers]
    reference = read_records(rows[0]["output"])
    for row in rows:
        same = read_records(row.pop("output")) == reference
        row["same"] = "reference" if row is rows[0] else ("yes" if same else "NO")
    print(
        f"model {args.model}, backend {args.backend}, inputs {' '.join(args.inputs)}, {os.cpu_count()} CPUs"
    )
    print(table(rows))
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
