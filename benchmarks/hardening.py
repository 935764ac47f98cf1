"""Time and memory regression check for the inputs that once blew up (issue 22, case 7).

    python benchmarks/hardening.py --model DIR [--backend torch|onnx|onnx-int8] [--json]

Each case runs ``clausetag predict`` in a fresh process, so its wall time and
peak RSS (``getrusage`` of the child) belong to it alone:

=====================  ======================================================
``long_line_20mb``     one JSONL unit of 20 MB (once 101 s and 5.6 GB)
``long_line_50mb``     … of 50 MB, given as a .txt file (once 13.7 GB)
``html_100k_attrs``    one HTML tag with 100 000 attributes (once 31 s)
``html_200k_attrs``    … 200 000 attributes (once killed after 125 s)
=====================  ======================================================

Each has a limit (seconds, MB); a case over its limit, or one that does not
exit 0, is a regression and the script exits 1. The limits are loose on
purpose (a shared 2-core machine varies a lot): they catch the quadratic or
whole-text behaviour coming back, not a few per cent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


def _long_line_jsonl(path: Path, size: int) -> Path:
    word = "personal data is kept for five years "
    text = (word * (size // len(word) + 1))[:size]
    path = path.with_suffix(".jsonl")
    path.write_text(json.dumps({"id": "long", "text": text}) + "\n", encoding="utf-8")
    return path


def _long_line_txt(path: Path, size: int) -> Path:
    word = "dati tiek glabāti piecus gadus "
    path = path.with_suffix(".txt")
    raw = (word.encode() * (size // len(word.encode()) + 1))[:size]
    path.write_bytes(raw.decode(errors="ignore").encode())  # cut at a character boundary
    return path


def _many_attributes(path: Path, n: int) -> Path:
    attrs = " ".join(f'a{i}="v{i}"' for i in range(n))
    path = path.with_suffix(".html")
    path.write_text(f"<html><body><p {attrs}>We keep your e-mail address for two years.</p></body></html>")
    return path


#: case -> (input writer, wall-time limit s, peak-RSS limit MB)
CASES: dict[str, tuple[Callable[[Path], Path], float, float]] = {
    "long_line_20mb": (lambda p: _long_line_jsonl(p, 20 * MB), 60.0, 3000.0),
    "long_line_50mb": (lambda p: _long_line_txt(p, 50 * MB), 90.0, 3000.0),
    "html_100k_attrs": (lambda p: _many_attributes(p, 100_000), 30.0, 2000.0),
    "html_200k_attrs": (lambda p: _many_attributes(p, 200_000), 45.0, 2000.0),
}


#: Runs the command as its own child and reports that child's RSS high-water mark (kB) and exit code.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code, file=sys.stderr)\n"
)


def run_case(name: str, model: Path, backend: str, work: Path) -> dict[str, object]:
    write, max_s, max_mb = CASES[name]
    source = write(work / name)
    out = work / f"{name}.out.jsonl"
    cmd = [str(Path(sys.executable).parent / "clausetag"), "predict", "--model", str(model),
           "--backend", backend, "--max-bytes", str(64 * MB), str(source), "-o", str(out)]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd],
        capture_output=True, text=True, timeout=max_s * 4, env={**os.environ, "TQDM_DISABLE": "1"},
    )  # fmt: skip
    seconds = time.perf_counter() - start
    *rest, last = proc.stderr.strip().splitlines() or ["0 1"]
    peak_kb, code = (int(x) for x in last.split())
    peak_mb = peak_kb / 1024
    ok = code == 0 and seconds <= max_s and peak_mb <= max_mb
    return {
        "case": name,
        "input_mb": round(source.stat().st_size / MB, 1),
        "seconds": round(seconds, 2),
        "peak_mb": round(peak_mb),
        "limit_s": max_s,
        "limit_mb": max_mb,
        "exit": code,
        "ok": ok,
        "stderr": rest[-1:] if code else [],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "clausetag-me5-small")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of the cases")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    names = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    with tempfile.TemporaryDirectory(prefix="clausetag-hardening-") as tmp:
        rows = [run_case(name, args.model, args.backend, Path(tmp)) for name in names]
    if args.json:
        print(json.dumps({"model": str(args.model), "backend": args.backend, "rows": rows}, indent=1))
    else:
        print(f"| case | input MB | s | peak MB (process high-water) | limit s / MB | ok |\n|{'---|' * 6}")
        for r in rows:
            verdict = "yes" if r["ok"] else f"NO {r['stderr']}"
            print(
                f"| {r['case']} | {r['input_mb']} | {r['seconds']} | {r['peak_mb']:.0f} | "
                f"{r['limit_s']:.0f} / {r['limit_mb']:.0f} | {verdict} |"
            )
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
