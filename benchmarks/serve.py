"""Throughput, latency, errors and memory of ``clausetag serve``, next to in-process ``predict``.

    python benchmarks/serve.py --model models/clausetag-me5-small [--clients 4] [--duration 10]

One run, on this machine, in this order:

1. in process: load the model, then tag the benchmark's units with ``predict`` (batch 32)
   and its policies with ``tag_document``, for ``--duration`` seconds each (at least one
   pass): the units/s an embedding program gets;
2. over HTTP: start ``clausetag serve`` on a free 127.0.0.1 port (a subprocess, default
   settings), then ``--clients`` threads, each on its own keep-alive connection, send the
   same units to ``POST /v1/tag`` (``--per-request`` units a request) and the same
   policies to ``POST /v1/documents``, for ``--duration`` seconds each;
3. with ``--compare-batching``: the ``/v1/tag`` phase again against a server started with
   ``--max-batch-units 1`` (no micro-batching), to see what merging concurrent requests buys.

The table: requests, units, units/s, the share of the in-process rate, p50/p95 request
latency, errors (any answer but 200, or a dropped connection), and the server's RSS:
after warm-up, at the end, and its peak (VmHWM). Memory is flat when end ≈ warm-up over a
long ``--duration`` (300: five minutes a phase). Every request goes to 127.0.0.1 only, the
clients stop at the deadline, and the server is always stopped.

Units and policies: the seed policies (``--policies``, default ``../shared/seeds``), each
segmented as ``/v1/documents`` segments it; where there are none, the bundled corpus's
documents. ``tests/test_serve.py`` and ``tests/test_serve_browser.py`` reuse
``running_server`` and ``call`` from here.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO.parent / "shared" / "seeds"
READY = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


# --------------------------------------------------------------------------- the server


@dataclasses.dataclass
class Server:
    """A running ``clausetag serve`` subprocess: its base URL, process and log file."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def rss_mib(self, field: str = "VmRSS") -> float:
        """The server's resident memory (``VmHWM``: its peak so far), in MiB; 0 once it has exited."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return 0.0
        match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) / 1024 if match else 0.0


@contextlib.contextmanager
def running_server(model: str | Path, *options: str, startup_s: float = 180.0) -> Iterator[Server]:
    """``clausetag serve --model MODEL --host 127.0.0.1 --port 0 OPTIONS`` until the block ends.

    Waits (at most ``startup_s``) for the line that names the bound port; the process is
    stopped on the way out whatever happens (SIGTERM, then SIGKILL after 15 s).
    """
    with tempfile.TemporaryDirectory(prefix="clausetag-serve-") as tmp:
        log = Path(tmp) / "server.log"
        cmd = [sys.executable, "-m", "clausetag", "serve", "--model", str(model), *options]
        cmd += ["--host", "127.0.0.1", "--port", "0"]
        with log.open("wb") as sink:
            process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
        try:
            server = Server(_wait_ready(process, log, startup_s), process, log)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(15)


def _wait_ready(process: subprocess.Popen[bytes], log: Path, startup_s: float) -> str:
    deadline = time.monotonic() + startup_s
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        if match := READY.search(text):
            return match.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"clausetag serve exited with status {process.returncode}:\n{text[-3000:]}")
        time.sleep(0.1)
    raise RuntimeError(f"clausetag serve did not start within {startup_s:g} s:\n{log.read_text()[-3000:]}")


# --------------------------------------------------------------------------- a small HTTP client


@dataclasses.dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    server: Server | str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
    conn: http.client.HTTPConnection | None = None,
) -> Answer:
    """One request to the server (127.0.0.1 only); ``body``: bytes as they are, else JSON."""
    url = server.url if isinstance(server, Server) else server
    parts = urlsplit(url)
    if parts.hostname != "127.0.0.1":
        raise ValueError(f"this client talks to 127.0.0.1 only, not {parts.hostname}")
    sent = dict(headers or {})
    data: bytes | None = None
    if isinstance(body, bytes):
        data = body
    elif body is not None:
        data = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    own = conn is None
    conn = conn or http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        if own:
            conn.close()


# --------------------------------------------------------------------------- workload


def load_policies(paths: Sequence[str]) -> list[tuple[str, str]]:
    """(name, text) of each policy: the given files and folders' .txt files; else the corpus's documents."""
    files: list[Path] = []
    for given in paths:
        p = Path(given)
        files += sorted(p.glob("*.txt")) if p.is_dir() else [p] if p.is_file() else []
    if files:
        return [(f.stem, f.read_text(encoding="utf-8")) for f in files]
    docs: dict[str, list[str]] = {}
    for path in sorted((REPO / "data" / "corpus").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                docs.setdefault(str(rec["doc"]), []).append(rec["text"])
    return [(name, "\n".join(texts)) for name, texts in list(docs.items())[:5]]


@dataclasses.dataclass
class Phase:
    """One row of the table."""

    what: str
    requests: int = 0
    units: int = 0
    seconds: float = 0.0
    latencies: list[float] = dataclasses.field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.units / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float | None:
        if not self.latencies:
            return None
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1]


def in_process_round(phase: Phase, step: Any, duration: float) -> None:
    """Repeat ``step`` (returns the units it tagged) for ``duration`` s (at least once), into ``phase``."""
    started = time.perf_counter()
    while True:
        phase.units += step()
        phase.requests += 1
        if time.perf_counter() - started >= duration:
            break
    phase.seconds += time.perf_counter() - started


def http_round(
    server: Server,
    phase: Phase,
    path: str,
    payloads: list[tuple[Any, int]],
    order: Iterator[int],
    clients: int,
    duration: float,
) -> None:
    """``clients`` threads posting ``payloads`` (body, units) round-robin to ``path`` for ``duration`` s
    (each request sent before the deadline is awaited and counted), into ``phase``."""
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def client() -> None:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
        try:
            while time.monotonic() < deadline:
                with lock:
                    body, units = payloads[next(order)]
                t0 = time.perf_counter()
                try:
                    answer = call(server, "POST", path, body, conn=conn)
                    ok = answer.status == 200
                    problem = "" if ok else f"{answer.status} {answer.body[:200]!r}"
                except (OSError, http.client.HTTPException) as exc:
                    ok, problem = False, f"{type(exc).__name__}: {exc}"
                    conn.close()
                    conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
                took = time.perf_counter() - t0
                with lock:
                    phase.requests += 1
                    if ok:
                        phase.units += units
                        phase.latencies.append(took)
                    else:
                        phase.errors += 1
                        phase.first_error = phase.first_error or problem
        finally:
            conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + 180)
    phase.seconds += time.perf_counter() - started


class RssSampler:
    """The server's RSS every half second while the phases run."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.samples.append(self.server.rss_mib())

    def __enter__(self) -> RssSampler:
        self.samples.append(self.server.rss_mib())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.samples.append(self.server.rss_mib())


# --------------------------------------------------------------------------- the run


def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x * 1000:.0f}"


def table(rows: list[tuple[Phase, Phase | None]]) -> str:
    """Markdown: each HTTP row beside the in-process row it is compared with."""
    lines = [
        "| what | requests | units | units/s | vs in-process | p50 ms | p95 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row, base in rows:
        share = f"{row.rate / base.rate:.0%}" if base is not None and base.rate else "–"
        lines.append(
            f"| {row.what} | {row.requests} | {row.units} | {row.rate:.1f} | {share} | "
            f"{_ms(row.pct(50))} | {_ms(row.pct(95))} | {row.errors} |"
        )
    return "\n".join(lines)


@dataclasses.dataclass
class Workload:
    """What each side tags: the units (``/v1/tag`` requests of them) and the policies."""

    texts: list[str]
    policies: list[tuple[str, str]]
    per_request: int

    def tag_payloads(self) -> list[tuple[Any, int]]:
        n = self.per_request
        return [
            ({"inputs": self.texts[i : i + n]}, len(self.texts[i : i + n]))
            for i in range(0, len(self.texts), n)
        ]

    def doc_payloads(self, count: Any) -> list[tuple[Any, int]]:
        return [({"text": text, "doc": name}, count(text)) for name, text in self.policies]


def run_rounds(clf: Any, server: Server, work: Workload, args: argparse.Namespace, label: str) -> list[Phase]:
    """In-process and HTTP phases, interleaved in ``--rounds`` rounds so both meet the same
    background load: [predict, /v1/tag, tag_document, /v1/documents]."""
    from clausetag.inference.segment import segment

    rows = [Phase("in-process predict"), Phase(f"POST /v1/tag{label}")]
    rows += [Phase("in-process tag_document"), Phase(f"POST /v1/documents{label}")]
    tag_payloads = work.tag_payloads()
    doc_payloads = work.doc_payloads(lambda text: len(segment(text)))
    tag_order, doc_order = (
        itertools.cycle(range(len(tag_payloads))),
        itertools.cycle(range(len(doc_payloads))),
    )
    docs = [text for _, text in work.policies]
    share = args.duration / args.rounds
    for _ in range(args.rounds):
        in_process_round(rows[0], lambda: len(clf.predict(work.texts, 32)), share)
        http_round(server, rows[1], "/v1/tag", tag_payloads, tag_order, args.clients, share)
        in_process_round(rows[2], lambda: sum(len(clf.tag_document(d)) for d in docs), share)
        http_round(server, rows[3], "/v1/documents", doc_payloads, doc_order, args.clients, share)
    return rows


def warm_up(clf: Any, server: Server, work: Workload) -> None:
    """One untimed pass of each kind on both sides (first calls pay for allocations and kernels)."""
    clf.predict(work.texts[:64], 32)
    clf.tag_document(work.policies[0][1])
    for body, _ in work.tag_payloads()[:8]:
        call(server, "POST", "/v1/tag", body)
    call(server, "POST", "/v1/documents", {"text": work.policies[0][1]})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="model directory")
    parser.add_argument("--backend", default="torch", help="inference backend (default torch)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (1 to 64; default 4)")
    parser.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="seconds per phase, all rounds together (default 10; ≤ 900)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="in-process/HTTP alternations (default 2)")
    parser.add_argument("--per-request", type=int, default=8, help="units per /v1/tag request (default 8)")
    parser.add_argument("--policies", nargs="*", default=[str(SEEDS)], help="policy files or folders (.txt)")
    parser.add_argument(
        "--compare-batching", action="store_true", help="then again against a server that merges no requests"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 64 or not 0 < args.duration <= 900 or args.per_request < 1 or args.rounds < 1:
        parser.error("--clients 1..64, --duration in (0, 900], --rounds ≥ 1 and --per-request ≥ 1")

    from clausetag.inference.batch import load_classifier
    from clausetag.inference.segment import segment

    policies = load_policies(args.policies)
    work = Workload([u.text for _, text in policies for u in segment(text)], policies, args.per_request)
    clf = load_classifier(args.model, args.backend)
    options = ["--backend", args.backend, "--no-access-log"]
    with running_server(args.model, *options) as server:
        warm_up(clf, server, work)
        warm = server.rss_mib()
        with RssSampler(server) as rss:
            rows = run_rounds(clf, server, work, args, "")
        peak = server.rss_mib("VmHWM")
        stats = call(server, "GET", "/v1/info").json()["stats"]
    pairs: list[tuple[Phase, Phase | None]] = [
        (rows[0], None),
        (rows[1], rows[0]),
        (rows[2], None),
        (rows[3], rows[2]),
    ]
    if args.compare_batching:
        with running_server(args.model, *options, "--max-batch-units", "1") as server:
            warm_up(clf, server, work)
            plain = run_rounds(clf, server, work, args, ", no merging")
        pairs += [(plain[0], None), (plain[1], plain[0])]

    print(
        f"clausetag serve benchmark: model {Path(args.model).name} (backend {args.backend}), "
        f"{len(policies)} policies, {len(work.texts)} units, {args.clients} clients, "
        f"{args.duration:g} s a phase in {args.rounds} rounds, {args.per_request} units per /v1/tag "
        f"request; {os.cpu_count()} CPUs"
    )
    print()
    print(table(pairs))
    print()
    end = rss.samples[-1]
    print(
        f"server RSS: {warm:.0f} MiB after warm-up, {end:.0f} MiB at the end ({end - warm:+.0f} MiB), "
        f"peak {peak:.0f} MiB (VmHWM); {stats['passes']} model passes for {stats['jobs']} jobs "
        f"({stats['merged_jobs']} merged into another's pass)"
    )
    failed = [row for row, _ in pairs if row.errors]
    for row in failed:
        print(f"{row.what}: first error: {row.first_error}", file=sys.stderr)
    if args.json is not None:
        figures = {
            "rows": [
                {"what": r.what, "requests": r.requests, "units": r.units, "units_per_s": r.rate,
                 "vs_in_process": r.rate / b.rate if b is not None and b.rate else None,
                 "p50_s": r.pct(50), "p95_s": r.pct(95), "errors": r.errors}
                for r, b in pairs
            ],
            "rss_mib": {"warm": warm, "end": end, "peak": peak, "samples": rss.samples},
            "stats": stats,
        }  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
