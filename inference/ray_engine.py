"""Tagging many policies on Ray: ``clausetag predict --engine ray`` and a ``map_batches`` class.

Two ways in:

* the command line, ``clausetag predict --engine ray -o OUT/ INPUT...``: a pool
  of Ray actors, each loading the model once, reads, segments and tags one input
  file per task and writes it as one partition under ``OUT/`` (JSONL, or Parquet
  with ``--format parquet``) holding the records the single-process ``predict``
  writes for that input;
* for an existing Ray Data pipeline, ``ClauseTagger``: a callable class for
  ``Dataset.map_batches`` that adds ``labels`` and ``scores`` columns.

Ray is imported only when one of them runs: importing this module (or
``clausetag.inference``) never imports it.

A partition is written to a hidden temporary file and renamed into place when
complete, so one that exists is whole: ``--resume`` skips the inputs that have
one. An input that cannot be read or tagged is listed with its reason in
``OUT/_summary.json``; the other inputs go on.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from clausetag.cli import missing_extra_message
from clausetag.errors import ClausetagError
from clausetag.inference.classifier import ClauseClassifier
from clausetag.inference.cli import job_chunks, load_classifier, plan_jobs, tag_chunk
from clausetag.inference.formats import format_record
from clausetag.inference.modeldir import ModelDir
from clausetag.inference.readers import (
    STDIN,
    Input,
    _kind_of,
    _unique_name,
    expand_inputs,
    read_document,
    read_jsonl_units,
)
from clausetag.inference.resume import check_same_run, jobs_prints, settings_print
from clausetag.io import (
    check_folder_output,
    output_lock,
    read_json,
    remove_stale_temps,
    terminate_as_interrupt,
    write_json,
)

logger = logging.getLogger(__name__)

ENGINES = ("local", "ray")
#: What ``--engine ray`` writes; ``parquet`` only it.
RAY_FORMATS = ("jsonl", "parquet")
SUMMARY = "_summary.json"
INSTALL_HINT = "pip install 'clausetag[ray]'"
_PARTITION = re.compile(r"part-.+\.(jsonl|parquet)")
_GLOB = re.compile(r"[*?\[]")
#: The object store of a Ray the CLI starts itself: only file names and counts travel through it.
_LOCAL_OBJECT_STORE = 256 * 1024 * 1024
_CONNECT_TIMEOUT_S = 5.0
#: Hint of the resume refusal (``inference.resume.check_same_run``).
_RESUME_HINT = "resume with the same settings and inputs, or write into an empty directory"
_READY_TIMEOUT_S = 900.0


def import_ray() -> ModuleType:
    """The ``ray`` package, or a message saying which extra installs it."""
    try:
        import ray
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "ray":
            raise
        raise ClausetagError(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def _one_line(exc: BaseException) -> str:
    """A user error's message as is; anything else as its type and message on one line."""
    if isinstance(exc, ClausetagError):
        return str(exc)
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


# --------------------------------------------------------------------------- loading


def default_backend(model: str | Path) -> str:
    """ONNX int8 when the model directory has it (``clausetag export-onnx --quantize int8``), else torch."""
    return "onnx-int8" if ModelDir.open(model).onnx_file("onnx-int8").is_file() else "torch"


def load_model(model: str | Path, backend: str | None = None, threads: int | None = None) -> ClauseClassifier:
    """The classifier, with at most ``threads`` compute threads (one process among several)."""
    backend = backend or default_backend(model)
    if threads and backend == "torch":
        import torch

        torch.set_num_threads(threads)
    clf = load_classifier(str(model), backend)
    if threads and backend != "torch" and threads < (os.cpu_count() or threads):
        from clausetag.inference.backends import OnnxBackend

        # onnxruntime sizes its pool by the machine's cores, not by this actor's share.
        clf.backend = OnnxBackend(clf.model_dir, variant=backend, threads=threads)
    return clf


def _object_column(values: Sequence[Any]) -> np.ndarray:
    """A 1-d object array: Ray Data turns lists into list columns and dicts into struct columns."""
    column = np.empty(len(values), dtype=object)
    column[:] = list(values)
    return column


class ClauseTagger:
    """Tag a text column in ``ray.data.Dataset.map_batches``; the model loads once per actor.

    ::

        import ray
        from clausetag.inference.ray_engine import ClauseTagger

        ds = ray.data.read_json("units/")        # one unit per row, in a "text" column
        ds = ds.map_batches(
            ClauseTagger,
            fn_constructor_kwargs={"model": "models/clausetag-me5-small"},
            concurrency=4,                        # actors, each with its own model
            batch_size=256,
        )
        ds.write_parquet("tags/")

    Each output row keeps its columns and gains ``labels`` (names over threshold,
    highest score first) and ``scores`` (label -> probability), as in
    ``clausetag predict`` records. ``backend`` defaults to ONNX int8 when the
    model has it, else torch; ``threads`` caps the compute threads per actor.
    """

    def __init__(
        self,
        model: str | Path,
        backend: str | None = None,
        *,
        text_column: str = "text",
        batch_size: int = 32,
        threshold: float | None = None,
        threads: int | None = None,
    ) -> None:
        self.clf = load_model(model, backend, threads)
        self.text_column = text_column
        self.batch_size = batch_size
        self.threshold = threshold

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        if self.text_column not in batch:
            raise ClausetagError(
                f"the batch has no {self.text_column!r} column (it has {', '.join(map(str, batch))}); "
                "pass text_column=... in fn_constructor_kwargs"
            )
        preds = self.clf.predict(list(batch[self.text_column]), self.batch_size, self.threshold)
        return {
            **batch,
            "labels": _object_column([p.labels for p in preds]),
            "scores": _object_column([p.scores for p in preds]),
        }


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Settings:
    """What every actor needs to tag an input the way ``clausetag predict`` does."""

    model: str
    backend: str
    fmt: str
    batch_size: int
    threshold: float | None
    lang: str | None
    max_bytes: int


@dataclass(frozen=True)
class InputTask:
    """One input file: how to read it, the names its units get, and its partition."""

    path: str
    doc: str | None  # a policy document's name; None for a JSONL file
    offsets: dict[str, int]  # JSONL: the first unit number of each doc (docs may span files)
    partition: str


@dataclass(frozen=True)
class Outcome:
    """What became of one input; ``fingerprint``: its ``inference.resume.input_print``."""

    path: str
    units: int = 0
    error: str | None = None
    fingerprint: dict[str, Any] | None = None


def expand_patterns(inputs: Sequence[str]) -> list[str]:
    """Globs (quoted, for a cluster's shared file system) and folders become files, in order."""
    names: list[str] = []
    for name in inputs:
        if name == STDIN:
            raise ClausetagError("--engine ray reads files; '-' (standard input) needs --engine local")
        if _GLOB.search(name) and not os.path.exists(name):
            found = sorted(glob.glob(name, recursive=True))
            if not found:
                raise ClausetagError(f"{name}: no file matches this pattern")
            names += found
        else:
            names.append(name)
    return expand_inputs(names)


def partition_path(out: Path, source: str, fmt: str) -> Path:
    """``part-<stem>-<hash of the real path>.<fmt>``: the same input, the same partition, on every run."""
    digest = hashlib.sha256(os.path.realpath(source).encode("utf-8", "surrogateescape")).hexdigest()
    stem = re.sub(r"[^\w.-]+", "_", Path(source).stem)[:48] or "input"
    return out / f"part-{stem}-{digest[:12]}.{fmt}"


def _doc_counts(path: str, max_bytes: int) -> Counter[str]:
    return Counter(unit.doc for unit in read_jsonl_units(path, None, max_bytes))


@dataclass
class _Names:
    """Doc names and unit numbers as ``read_inputs`` gives them, without reading policy files.

    A JSONL file is read here once for its docs' unit counts: a doc that goes on
    in a later file goes on counting there, as in the single-process run.
    """

    out: Path
    settings: Settings
    whole: set[str] = field(default_factory=set)
    taken: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)

    def task(self, name: str) -> InputTask:
        partition = str(partition_path(self.out, name, self.settings.fmt))
        if _kind_of(Path(name)) != "jsonl":
            p = Path(name)
            doc = _unique_name([p.stem, p.name, str(p)], self.taken)
            self.whole.add(doc)
            self.taken.add(doc)
            return InputTask(name, doc, {}, partition)
        counts = _doc_counts(name, self.settings.max_bytes)
        clash = sorted(set(counts) & self.whole)
        if clash:
            raise ClausetagError(f"{name}: doc {clash[0]!r} is also the name of a policy file input")
        offsets = {doc: self.counters.get(doc, 0) for doc in counts}
        self.counters.update({doc: offsets[doc] + n for doc, n in counts.items()})
        self.taken.update(counts)
        return InputTask(name, None, offsets, partition)


def plan_tasks(names: Sequence[str], out: Path, settings: Settings) -> tuple[list[InputTask], list[Outcome]]:
    """A task per input file, and the inputs refused before any tagging (with their reasons)."""
    naming = _Names(out, settings)
    tasks: list[InputTask] = []
    failed: list[Outcome] = []
    for name in names:
        try:
            tasks.append(naming.task(name))
        except ClausetagError as exc:
            failed.append(Outcome(name, error=str(exc)))
    return tasks, failed


# --------------------------------------------------------------------------- one input, on an actor


def read_task(task: InputTask, max_bytes: int) -> Input:
    """The input as ``read_inputs`` gives it in a single-process run of the same inputs."""
    if task.doc is not None:
        document = read_document(task.path, task.doc, max_bytes)
        return Input(document.source, document=document)
    return Input(task.path, presplit=tuple(read_jsonl_units(task.path, dict(task.offsets), max_bytes)))


def parquet_table(records: list[dict[str, Any]], labels: Sequence[str]) -> Any:
    """One schema for every partition: fields a record lacks (``id``; spans of JSONL units) are null."""
    import pyarrow as pa

    schema = pa.schema(
        [
            ("doc", pa.string()),
            ("unit", pa.int64()),
            ("id", pa.string()),
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("kind", pa.string()),
            ("text", pa.string()),
            ("labels", pa.list_(pa.string())),
            ("scores", pa.struct([(x, pa.float64()) for x in labels])),
        ]
    )
    return pa.Table.from_pylist(records, schema=schema)


def write_partition(path: Path, records: list[dict[str, Any]], fmt: str, labels: Sequence[str]) -> None:
    """The whole partition or nothing: written beside ``path`` and renamed into place."""
    from clausetag.io import atomic_writer

    if fmt == "parquet":
        import pyarrow.parquet as pq

        with atomic_writer(path, "wb") as fh:
            pq.write_table(parquet_table(records, labels), fh)
        return
    with atomic_writer(path) as fh:
        fh.writelines(format_record(record, "jsonl", labels) for record in records)


class FileTagger:
    """A Ray actor's work: load the model once, then tag whole input files into partitions."""

    def __init__(self, settings: Settings, threads: int | None = None) -> None:
        self.settings = settings
        self.error: str | None = None
        try:
            self.clf = load_model(settings.model, settings.backend, threads)
        except ModuleNotFoundError as exc:  # e.g. onnxruntime missing on a cluster's nodes
            self.error = missing_extra_message(exc)
        except Exception as exc:  # reported by ready(): the driver stops with this message
            self.error = _one_line(exc)

    def ready(self) -> str | None:
        """None when the model loaded, else why not."""
        return self.error

    def records(self, task: InputTask) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The input's records, in the chunks (and so the batches) of a single-process run,
        and the input's fingerprint."""
        s = self.settings
        item, jobs = planned(task, s)
        records = [
            r
            for part in job_chunks(jobs, s.batch_size)
            for r in tag_chunk(self.clf, part, s.batch_size, s.threshold)
        ]
        return records, jobs_prints([item], jobs)[0]

    def tag(self, task: InputTask) -> Outcome:
        """Never raises for a bad input: its reason comes back for the summary."""
        try:
            records, fingerprint = self.records(task)
            write_partition(Path(task.partition), records, self.settings.fmt, self.clf.labels)
        except Exception as exc:  # one bad file must not end the job; the reason names it
            if not isinstance(exc, ClausetagError):
                logger.exception("%s: tagging failed", task.path)
            return Outcome(task.path, error=_one_line(exc))
        return Outcome(task.path, units=len(records), fingerprint=fingerprint)


def planned(task: InputTask, settings: Settings) -> tuple[Input, list[Any]]:
    """The input and its units as the single-process run plans them."""
    item = read_task(task, settings.max_bytes)
    return item, plan_jobs([item], settings.lang)


def current_print(task: InputTask, settings: Settings) -> dict[str, Any]:
    """An input's fingerprint now (an input that cannot be read any more differs from any)."""
    try:
        item, jobs = planned(task, settings)
    except ClausetagError as exc:
        return {"input": task.path, "error": str(exc)}
    return jobs_prints([item], jobs)[0]


# --------------------------------------------------------------------------- connecting


#: HTTP/2's client connection preface and an empty SETTINGS frame: Ray's GCS and Ray Client
#: servers speak gRPC, so a cluster answers with a SETTINGS frame of its own at once.
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _reach(host: str, port: int, result: list[BaseException | None]) -> None:
    """Connect and see a gRPC (HTTP/2) server answer: a port that accepts and stays silent is no cluster."""
    try:
        with socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S) as conn:
            conn.sendall(_HTTP2_PREFACE)
            answer = conn.recv(9)
        if len(answer) < 4 or answer[3] != 0x04:  # the frame type of SETTINGS
            raise ConnectionError(0, "it does not answer like a Ray cluster (no gRPC there)")
        result.append(None)
    except OSError as exc:
        result.append(exc)


def check_address(address: str, flag: str = "--address") -> None:
    """Fail within ``_CONNECT_TIMEOUT_S`` on an address where no cluster answers (Ray itself retries
    for minutes), name resolution included; ``flag``: where the address came from (``RAY_ADDRESS``).

    The connection is tried in a helper thread: the main thread waits with a
    timeout, so SIGTERM and Ctrl-C end the wait at once.
    """
    if address in ("auto", "local"):
        return
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClausetagError(
            f"{flag} {address!r}: expected HOST:PORT of a Ray head node (e.g. 10.0.0.5:6379), "
            "ray://HOST:PORT or auto"
        )
    result: list[BaseException | None] = []
    helper = threading.Thread(target=_reach, args=(host.strip("[]"), int(port), result), daemon=True)
    helper.start()
    helper.join(_CONNECT_TIMEOUT_S + 0.5)
    exc = result[0] if result else TimeoutError()
    if exc is not None:
        reason = getattr(exc, "strerror", None) or (
            "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        )
        raise ClausetagError(
            f"{flag} {address}: no Ray cluster answers there ({reason}); "
            "check the address, or start one with `ray start --head`"
        )


def connect(ray: ModuleType, address: str | None) -> bool:
    """Join the cluster at ``address`` (or RAY_ADDRESS), else start a local Ray; True if we started it.

    ``RAY_ADDRESS`` is checked like ``--address``. A Ray the caller already
    initialised (tests, notebooks) is used as it is.
    """
    if address:
        check_address(address)
    elif os.environ.get("RAY_ADDRESS"):
        check_address(os.environ["RAY_ADDRESS"], "RAY_ADDRESS")
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # a tagging run sends nothing
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    local = not address and not os.environ.get("RAY_ADDRESS")
    if local:
        quiet.update(include_dashboard=False, object_store_memory=_LOCAL_OBJECT_STORE)
    ours = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    try:
        ray.init(address=address or None, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or os.environ.get("RAY_ADDRESS") or "a new local Ray"
        raise ClausetagError(f"cannot start or join Ray at {where} ({_one_line(exc)})") from None
    except SystemExit as exc:  # SIGTERM while ray.init retries: its handler exits; ours interrupts
        if exc.code != signal.SIGTERM:
            raise
        raise KeyboardInterrupt(f"signal {signal.SIGTERM}") from None
    finally:
        if ours is not None:  # ray.init installs a SIGTERM handler of its own (sys.exit)
            signal.signal(signal.SIGTERM, ours)
    return True


def worker_shape(ray: ModuleType, workers: int | None) -> tuple[int, int, float]:
    """(actors, threads per actor, CPUs each reserves): by default one actor per two CPUs."""
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    if workers and workers > cpus:
        logger.warning(
            "--workers %d capped to %d: each worker needs at least one CPU of its own, and the "
            "cluster has %d (more would only share them, each with its own copy of the model)",
            workers,
            cpus,
            cpus,
        )
        workers = cpus
    n = workers or max(1, cpus // 2)
    threads = max(1, cpus // n)
    return n, threads, min(float(threads), cpus / n)


# --------------------------------------------------------------------------- running


@dataclass
class Pool:
    """``n`` actors, one task each at a time, so a dead actor names the one input it had."""

    ray: ModuleType
    settings: Settings
    n: int
    threads: int
    cpus: float
    actors: list[Any] = field(default_factory=list)

    def start(self) -> None:
        self.actors = [self._new() for _ in range(self.n)]
        refs = [actor.ready.remote() for actor in self.actors]
        done, waiting = self.ray.wait(refs, num_returns=len(refs), timeout=_READY_TIMEOUT_S)
        if waiting:
            raise ClausetagError(
                f"{len(waiting)} of {self.n} Ray workers did not start within {_READY_TIMEOUT_S:.0f} s; "
                "ask for fewer --workers or a larger cluster"
            )
        errors = {e for e in self.ray.get(done) if e}
        if errors:
            raise ClausetagError(sorted(errors)[0])

    def close(self) -> None:
        """End the actors now: a Ray this run joined outlives it, and so would they."""
        for actor in self.actors:
            with contextlib.suppress(Exception):  # Ray itself may be going down (Ctrl-C)
                self.ray.kill(actor, no_restart=True)
        self.actors = []

    def _new(self) -> Any:
        actor = self.ray.remote(num_cpus=self.cpus, max_restarts=0)(FileTagger)
        return actor.remote(self.settings, self.threads)

    def run(self, tasks: Sequence[InputTask]) -> Iterator[Outcome]:
        """Each input's outcome as it finishes; the largest inputs go first (better balance)."""
        queue = sorted(tasks, key=_size)  # popped from the end: largest first
        running: dict[Any, tuple[InputTask, int]] = {}
        for slot in range(min(self.n, len(queue))):
            self._submit(queue.pop(), slot, running)
        while running:
            (ref,), _ = self.ray.wait(list(running), num_returns=1)
            task, slot = running.pop(ref)
            yield self._outcome(ref, task, slot)
            if queue:
                self._submit(queue.pop(), slot, running)

    def _submit(self, task: InputTask, slot: int, running: dict[Any, tuple[InputTask, int]]) -> None:
        running[self.actors[slot].tag.remote(task)] = (task, slot)

    def _outcome(self, ref: Any, task: InputTask, slot: int) -> Outcome:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayActorError as exc:  # the process died: out of memory, a crash
            self.actors[slot] = self._new()
            return Outcome(task.path, error=f"the Ray worker tagging it died ({_one_line(exc)[:300]})")
        except self.ray.exceptions.RayError as exc:
            return Outcome(task.path, error=_one_line(exc)[:500])


def _size(task: InputTask) -> int:
    try:
        return os.path.getsize(task.path)
    except OSError:
        return 0


@dataclass
class Tally:
    """The run so far, written to ``_summary.json`` at the start, every ``--checkpoint-every``
    seconds, at the end and on interruption or failure.

    ``fingerprint``: the settings' part (``inference.resume.settings_print``);
    ``planned``: every input of the run, in order; ``prints``: the fingerprint of
    each input that has a partition, so that ``--resume`` can tell it is unchanged.
    """

    settings: Settings
    fingerprint: dict[str, Any]
    planned: list[str]
    skipped: int = 0
    failed: list[Outcome] = field(default_factory=list)
    written: int = 0
    units: int = 0
    prints: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def add(self, outcome: Outcome) -> None:
        if outcome.error:
            self.failed.append(outcome)
        else:
            self.written += 1
            self.units += outcome.units
            if outcome.fingerprint is not None:
                self.prints[outcome.path] = outcome.fingerprint

    def summary(self, status: str, error: str | None = None) -> dict[str, Any]:
        out = {
            "status": status,
            "settings": asdict(self.settings),
            "inputs": len(self.planned),
            "written": self.written,
            "skipped": self.skipped,
            "units": self.units,
            "failed": [{"input": o.path, "reason": o.error} for o in self.failed],
            "seconds": round(time.perf_counter() - self.started, 1),
            "fingerprint": self.fingerprint,
            "planned": self.planned,
            "partitions": self.prints,
        }
        if error is not None:
            out["error"] = error
        return out


def _partitions(out: Path) -> list[Path]:
    if not out.is_dir():
        return []
    return sorted(p for p in out.iterdir() if _PARTITION.fullmatch(p.name))


def _earlier_summary(out: Path) -> dict[str, Any]:
    """The earlier run's ``_summary.json`` (empty when missing or unreadable: nothing to trust)."""
    try:
        earlier = read_json(out / SUMMARY, 1 << 30)
    except ClausetagError:
        return {}
    return earlier if isinstance(earlier, dict) else {}


def prepare_output(out: Path, resume: bool, overwrite: bool) -> None:
    """Never mix two runs' partitions: a directory that has some needs ``--resume``.

    ``overwrite`` (an ``--overwrite`` option, where the command has one) removes the old ones.
    """
    existing = _partitions(out)
    if not existing:
        return
    if overwrite:
        for p in existing:
            p.unlink()
        return
    if not resume:
        raise ClausetagError(
            f"{out}: holds partitions of an earlier run ({len(existing)}); add --resume to tag only the "
            "inputs not done yet, or choose an empty directory"
        )


def resume_plan(
    out: Path, fingerprint: dict[str, Any], names: list[str], tasks: list[InputTask], settings: Settings
) -> tuple[list[InputTask], dict[str, dict[str, Any]]]:
    """The tasks still to do and the fingerprints of the partitions kept.

    The earlier run's fingerprint (``_summary.json``) must be this run's: the
    same settings, the same inputs in the same order, and each input that has a
    partition unchanged (read again here); otherwise one refusal
    (``check_same_run``). A partition the summary does not vouch for (written
    after its last save, before a crash) is tagged again.
    """
    if not _partitions(out):
        return list(tasks), {}
    earlier = _earlier_summary(out)
    recorded = earlier.get("partitions")
    recorded = recorded if isinstance(recorded, dict) else {}
    kept = [t for t in tasks if Path(t.partition).exists() and isinstance(recorded.get(t.path), dict)]
    known = {t.path for t in kept}
    before = earlier.get("planned")
    then = earlier.get("fingerprint")
    if isinstance(then, dict) and isinstance(before, list):
        then = {**then, "inputs": [recorded[n] if n in known else {"input": n} for n in before]}
    current = {t.path: current_print(t, settings) for t in kept}  # read and segmented again
    now = {**fingerprint, "inputs": [current.get(n) or {"input": n} for n in names]}
    check_same_run(str(out), then, now, _RESUME_HINT)
    return [t for t in tasks if t.path not in known], {t.path: recorded[t.path] for t in kept}


def _check_output_dir(output: str | None, inputs: Sequence[str]) -> Path:
    if not output:
        raise ClausetagError("--engine ray needs -o/--output: the directory to write partitions into")
    out = check_folder_output(output, "--engine ray writes a directory of partitions")
    inside = [n for n in inputs if Path(os.path.realpath(n)).is_relative_to(os.path.realpath(out))]
    if inside:
        raise ClausetagError(f"{inside[0]}: an input inside the output directory {out}")
    return out


def _settings(args: argparse.Namespace) -> Settings:
    fmt = args.format or "jsonl"
    if fmt not in RAY_FORMATS:
        raise ClausetagError(f"--engine ray writes {' or '.join(RAY_FORMATS)}, not {fmt}")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ModuleNotFoundError:
            raise ClausetagError(f"--format parquet needs pyarrow: {INSTALL_HINT}") from None
    model = os.path.abspath(args.model)  # actors may run in another working directory
    backend = args.backend or default_backend(model)
    return Settings(model, backend, fmt, args.batch_size, args.threshold, args.lang, args.max_bytes)


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr)


def run_on_ray(args: argparse.Namespace) -> int:
    """``clausetag predict --engine ray``: 0 when every input is tagged or at least one is."""
    settings = _settings(args)
    ray = import_ray()
    names = expand_patterns(args.inputs)
    out = _check_output_dir(args.output, names)
    with terminate_as_interrupt(), output_lock(out / SUMMARY):
        prepare_output(out, args.resume, bool(getattr(args, "overwrite", False)))
        tasks, refused = plan_tasks(names, out, settings)
        model_dir = ModelDir.open(settings.model)
        fingerprint = settings_print(
            model_dir, settings.backend, settings.threshold, settings.fmt, settings.lang, settings.batch_size
        )
        todo, kept = resume_plan(out, fingerprint, names, tasks, settings)
        for task in tasks:
            remove_stale_temps(Path(task.partition))  # left by a run that was killed
        tally = Tally(settings, fingerprint, names, skipped=len(kept), failed=refused, prints=dict(kept))
        write_json(out / SUMMARY, tally.summary("running"))
        status, error, started_ray = "interrupted", None, False
        try:
            started_ray = connect(ray, args.address) if todo else False
            _run(ray, settings, todo, tally, args, out)
            status = "complete"
        except ClausetagError as exc:  # Ray not reachable, workers that do not start
            status, error = "failed", str(exc)
            raise
        finally:
            write_json(out / SUMMARY, tally.summary(status, error))
            if started_ray:
                ray.shutdown()
    _report(tally, out, args.quiet)
    return 0 if tally.written + tally.skipped or not tally.failed else 1


def _run(
    ray: ModuleType, settings: Settings, todo: list[InputTask], tally: Tally, args: Any, out: Path
) -> None:
    if not todo:
        return
    from tqdm.auto import tqdm

    n, threads, cpus = worker_shape(ray, args.workers)
    pool = Pool(ray, settings, min(n, len(todo)), threads, cpus)
    every = float(getattr(args, "checkpoint_every", 60))
    saved = time.monotonic()
    try:
        pool.start()
        with tqdm(total=len(todo), desc="tagging", unit="file", file=sys.stderr, disable=args.quiet) as bar:
            for outcome in pool.run(todo):
                tally.add(outcome)
                bar.set_postfix(units=tally.units, failed=len(tally.failed), refresh=False)
                bar.update()
                if time.monotonic() - saved >= every:  # partitions since the last save are redone
                    write_json(out / SUMMARY, tally.summary("running"))
                    saved = time.monotonic()
    finally:
        pool.close()


def _report(tally: Tally, out: Path, quiet: bool) -> None:
    skipped = f", {tally.skipped} already done" if tally.skipped else ""
    _say(
        quiet,
        f"tagged {tally.units} units from {tally.written} inputs{skipped} → {out} "
        f"in {time.perf_counter() - tally.started:.1f} s",
    )
    for o in tally.failed:
        print(f"clausetag: warning: {_with_path(o)}", file=sys.stderr)
    if tally.failed:
        n = len(tally.failed)
        print(f"clausetag: {n} input{'s' * (n != 1)} failed; see {out / SUMMARY}", file=sys.stderr)


def _with_path(outcome: Outcome) -> str:
    """The reason, led by the input's name unless it already is."""
    reason = outcome.error or ""
    return reason if reason.startswith(outcome.path) else f"{outcome.path}: {reason}"


# --------------------------------------------------------------------------- the predict command


def dispatch(args: argparse.Namespace) -> int | None:
    """Run ``predict`` on Ray and give its exit status, or None to run it in this process."""
    if getattr(args, "engine", "local") == "ray":
        return run_on_ray(args)
    given = [flag for flag, value in (("--address", args.address), ("--workers", args.workers)) if value]
    if given:
        raise ClausetagError(f"{' and '.join(given)} go with --engine ray")
    if args.format == "parquet":
        raise ClausetagError("--format parquet is written by --engine ray (a directory of partitions)")
    args.backend = args.backend or "torch"
    return None
