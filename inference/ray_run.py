"""``clausetag predict --engine ray``: plan the inputs, run them on a pool of actors, resume.

A pool of Ray actors (``inference.ray_tagger.FileTagger``), each loading the
model once, reads, segments and tags one input file per task and writes it as
one partition under ``OUT/`` (JSONL, or Parquet with ``--format parquet``)
holding the records the single-process ``predict`` writes for that input.

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
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from clausetag.errors import ClausetagError
from clausetag.inference.batch import one_line
from clausetag.inference.modeldir import ModelDir
from clausetag.inference.ray_cluster import INSTALL_HINT, connect, import_ray, worker_shape
from clausetag.inference.ray_tagger import (
    FileTagger,
    InputTask,
    Outcome,
    Settings,
    current_print,
    default_backend,
)
from clausetag.inference.readers import STDIN, DocNames, expand_inputs, kind_of, read_jsonl_units
from clausetag.inference.resume import check_same_run, settings_print
from clausetag.io import (
    check_folder_output,
    output_lock,
    read_json,
    remove_stale_temps,
    terminate_as_interrupt,
    write_json,
)

#: What ``--engine ray`` writes; ``parquet`` only it.
RAY_FORMATS = ("jsonl", "parquet")
SUMMARY = "_summary.json"
_PARTITION = re.compile(r"part-.+\.(jsonl|parquet)")
_GLOB = re.compile(r"[*?\[]")
#: Hint of the resume refusal (``inference.resume.check_same_run``).
_RESUME_HINT = "resume with the same settings and inputs, or write into an empty directory"
_READY_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class RunOptions:
    """How the driver runs: what ``Settings`` (the actors' part) leaves out."""

    inputs: list[str]  # files, globs and folders expanded, in order
    out: Path
    address: str | None
    workers: int | None
    resume: bool
    checkpoint_every: float
    quiet: bool


# --------------------------------------------------------------------------- planning


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


def _task(name: str, out: Path, settings: Settings, names: DocNames) -> InputTask:
    """Doc names and unit numbers as ``read_inputs`` gives them, without reading policy files.

    A JSONL file is read here once for its docs' unit counts: a doc that goes on
    in a later file goes on counting there, as in the single-process run.
    """
    partition = str(partition_path(out, name, settings.fmt))
    if kind_of(Path(name)) != "jsonl":
        return InputTask(name, names.policy(Path(name)), {}, partition)
    counts = Counter(unit.doc for unit in read_jsonl_units(name, None, settings.max_bytes))
    return InputTask(name, None, names.jsonl(name, counts), partition)


def plan_tasks(names: Sequence[str], out: Path, settings: Settings) -> tuple[list[InputTask], list[Outcome]]:
    """A task per input file, and the inputs refused before any tagging (with their reasons)."""
    docs = DocNames()
    tasks: list[InputTask] = []
    failed: list[Outcome] = []
    for name in names:
        try:
            tasks.append(_task(name, out, settings, docs))
        except ClausetagError as exc:
            failed.append(Outcome(name, error=str(exc)))
    return tasks, failed


# --------------------------------------------------------------------------- the actors


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
            return Outcome(task.path, error=f"the Ray worker tagging it died ({one_line(exc)[:300]})")
        except self.ray.exceptions.RayError as exc:
            return Outcome(task.path, error=one_line(exc)[:500])


def _size(task: InputTask) -> int:
    try:
        return os.path.getsize(task.path)
    except OSError:
        return 0


# --------------------------------------------------------------------------- the summary and resuming


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


def prepare_output(out: Path, resume: bool) -> None:
    """Never mix two runs' partitions: a directory that has some needs ``--resume``."""
    existing = _partitions(out)
    if existing and not resume:
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


# --------------------------------------------------------------------------- the command


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


def _options(args: argparse.Namespace) -> RunOptions:
    names = expand_patterns(args.inputs)
    out = _check_output_dir(args.output, names)
    every = float(args.checkpoint_every)
    return RunOptions(names, out, args.address, args.workers, args.resume, every, args.quiet)


def run_on_ray(args: argparse.Namespace) -> int:
    """``clausetag predict --engine ray``: 0 when every input is tagged or at least one is."""
    settings = _settings(args)
    ray = import_ray()
    run = _options(args)
    out, names = run.out, run.inputs
    with terminate_as_interrupt(), output_lock(out / SUMMARY):
        prepare_output(out, run.resume)
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
            started_ray = connect(ray, run.address) if todo else False
            _run(ray, settings, todo, tally, run)
            status = "complete"
        except ClausetagError as exc:  # Ray not reachable, workers that do not start
            status, error = "failed", str(exc)
            raise
        finally:
            write_json(out / SUMMARY, tally.summary(status, error))
            if started_ray:
                ray.shutdown()
    _report(tally, run)
    return 0 if tally.written + tally.skipped or not tally.failed else 1


def _run(ray: ModuleType, settings: Settings, todo: list[InputTask], tally: Tally, run: RunOptions) -> None:
    if not todo:
        return
    from tqdm.auto import tqdm

    n, threads, cpus = worker_shape(ray, run.workers)
    pool = Pool(ray, settings, min(n, len(todo)), threads, cpus)
    saved = time.monotonic()
    try:
        pool.start()
        with tqdm(total=len(todo), desc="tagging", unit="file", file=sys.stderr, disable=run.quiet) as bar:
            for outcome in pool.run(todo):
                tally.add(outcome)
                bar.set_postfix(units=tally.units, failed=len(tally.failed), refresh=False)
                bar.update()
                if time.monotonic() - saved >= run.checkpoint_every:  # later partitions are redone
                    write_json(run.out / SUMMARY, tally.summary("running"))
                    saved = time.monotonic()
    finally:
        pool.close()


def _report(tally: Tally, run: RunOptions) -> None:
    if not run.quiet:
        skipped = f", {tally.skipped} already done" if tally.skipped else ""
        print(
            f"tagged {tally.units} units from {tally.written} inputs{skipped} → {run.out} "
            f"in {time.perf_counter() - tally.started:.1f} s",
            file=sys.stderr,
        )
    for o in tally.failed:
        print(f"clausetag: warning: {_with_path(o)}", file=sys.stderr)
    if tally.failed:
        n = len(tally.failed)
        print(f"clausetag: {n} input{'s' * (n != 1)} failed; see {run.out / SUMMARY}", file=sys.stderr)


def _with_path(outcome: Outcome) -> str:
    """The reason, led by the input's name unless it already is."""
    reason = outcome.error or ""
    return reason if reason.startswith(outcome.path) else f"{outcome.path}: {reason}"
