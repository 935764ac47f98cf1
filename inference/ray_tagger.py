"""The Ray engine's workers: ``FileTagger`` (an input file a task) and ``ClauseTagger`` (Ray Data).

Both load the model once per actor through ``inference.batch``, with the actor's
share of the CPUs as its thread budget. A ``FileTagger`` reads, segments and tags
one input as the single-process ``predict`` does (the same jobs, chunks and
batches) and writes its records as one partition; ``ClauseTagger`` tags a text
column in ``Dataset.map_batches``. Nothing here imports Ray: Ray runs these
classes as actors (``inference.ray_run``, or the caller's own pipeline).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clausetag.cli import missing_extra_message
from clausetag.errors import ClausetagError
from clausetag.inference.batch import Job, load_classifier, one_line, plan_jobs, tagged_records
from clausetag.inference.formats import format_record
from clausetag.inference.modeldir import ModelDir
from clausetag.inference.readers import Input, read_document, read_jsonl_units
from clausetag.inference.resume import jobs_prints
from clausetag.io import atomic_writer

logger = logging.getLogger(__name__)


def default_backend(model: str | Path) -> str:
    """The Ray engine's backend when none is named: ONNX int8 when the model directory has it
    (``clausetag export-onnx --quantize int8``), else torch."""
    return "onnx-int8" if ModelDir.open(model).onnx_file("onnx-int8").is_file() else "torch"


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


# --------------------------------------------------------------------------- Ray Data


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
        self.clf = load_classifier(model, backend or default_backend(model), threads)
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


# --------------------------------------------------------------------------- one input file


def read_task(task: InputTask, max_bytes: int) -> Input:
    """The input as ``read_inputs`` gives it in a single-process run of the same inputs."""
    if task.doc is not None:
        document = read_document(task.path, task.doc, max_bytes)
        return Input(document.source, document=document)
    return Input(task.path, presplit=tuple(read_jsonl_units(task.path, dict(task.offsets), max_bytes)))


def planned(task: InputTask, settings: Settings) -> tuple[Input, list[Job]]:
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
            self.clf = load_classifier(settings.model, settings.backend, threads)
        except ModuleNotFoundError as exc:  # e.g. onnxruntime missing on a cluster's nodes
            self.error = missing_extra_message(exc)
        except Exception as exc:  # reported by ready(): the driver stops with this message
            self.error = one_line(exc)

    def ready(self) -> str | None:
        """None when the model loaded, else why not."""
        return self.error

    def records(self, task: InputTask) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The input's records, in the chunks (and so the batches) of a single-process run,
        and the input's fingerprint."""
        s = self.settings
        item, jobs = planned(task, s)
        return tagged_records(self.clf, jobs, s.batch_size, s.threshold), jobs_prints([item], jobs)[0]

    def tag(self, task: InputTask) -> Outcome:
        """Never raises for a bad input: its reason comes back for the summary."""
        try:
            records, fingerprint = self.records(task)
            write_partition(Path(task.partition), records, self.settings.fmt, self.clf.labels)
        except Exception as exc:  # one bad file must not end the job; the reason names it
            if not isinstance(exc, ClausetagError):
                logger.exception("%s: tagging failed", task.path)
            return Outcome(task.path, error=one_line(exc))
        return Outcome(task.path, units=len(records), fingerprint=fingerprint)
