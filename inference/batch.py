"""The core of batch tagging, shared by ``clausetag predict`` in one process and on Ray.

Both engines plan an input's units as ``Job``s (``plan_jobs``), tag them in the
same chunks (``job_chunks``, ``tag_chunk``) and load the model the same way
(``load_classifier``, with a thread budget where a process is one of several),
so an input's records are the same whichever engine tags it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clausetag.errors import ClausetagError
from clausetag.inference.classifier import ClauseClassifier
from clausetag.inference.readers import Input
from clausetag.inference.resume import Key
from clausetag.inference.structure import Context

# --------------------------------------------------------------------------- jobs


@dataclass
class Job:
    """One unit to tag: its record fields without labels and scores, and which input it is from."""

    key: Key
    record: dict[str, Any]
    item: int = 0
    context: Context | None = None  # where the unit stands in its document (read by context models)


def plan_jobs(items: Sequence[Input], lang: str | None) -> list[Job]:
    """Every unit of every input in order; a resumed run plans them all too (and skips what is
    done), so its chunks and batches are those of an uninterrupted run."""
    return [
        Job((u.doc, u.unit), u.record(), i, u.context)
        for i, item in enumerate(items)
        for u in item.units(lang)
    ]


def job_chunks(jobs: Sequence[Job], batch_size: int) -> Iterator[list[Job]]:
    """The jobs tagged together: up to max(8 batches, 256) units, never from two inputs.

    So an input's scores do not depend on the other inputs of a run (int8 ONNX
    quantizes activations per batch), and ``--engine ray``, which tags input by
    input, gives the same records.
    """
    size = max(batch_size * 8, 256)
    for _, group in itertools.groupby(jobs, key=lambda job: job.item):
        same_input = list(group)
        for lo in range(0, len(same_input), size):
            yield same_input[lo : lo + size]


def tag_chunk(
    clf: ClauseClassifier, part: Sequence[Job], batch_size: int, threshold: float | None
) -> list[dict[str, Any]]:
    """The chunk's records with their labels and scores (sorted by length inside, returned in order)."""
    preds = clf.predict(
        [j.record["text"] for j in part], batch_size, threshold, contexts=[j.context for j in part]
    )
    return [
        {**job.record, "labels": pred.labels, "scores": pred.scores}
        for job, pred in zip(part, preds, strict=True)
    ]


def tagged_records(
    clf: ClauseClassifier, jobs: Sequence[Job], batch_size: int, threshold: float | None
) -> list[dict[str, Any]]:
    """Every job's record, tagged chunk by chunk as ``predict`` does."""
    return [r for part in job_chunks(jobs, batch_size) for r in tag_chunk(clf, part, batch_size, threshold)]


# --------------------------------------------------------------------------- loading


def one_line(exc: BaseException) -> str:
    """A user error's message as is; anything else as its type and message on one line."""
    if isinstance(exc, ClausetagError):
        return str(exc)
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def load_classifier(model: str | Path, backend: str, threads: int | None = None) -> ClauseClassifier:
    """The model directory's classifier; any failure to load its files is one message naming it.

    ``threads``: at most that many compute threads, for a process that is one of
    several on a machine (a Ray worker): torch's for the process, onnxruntime's
    for the model's one session (which would otherwise size its pool by the
    machine's cores, not by this process's share).
    """
    if backend == "torch":
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # ours is the progress bar; theirs is per weight file
        if threads:
            import torch

            torch.set_num_threads(threads)
    else:
        _no_onnx_telemetry()
    capped = backend != "torch" and threads and threads < (os.cpu_count() or threads)
    options = {"threads": threads} if capped else {}  # uncapped: the backend's own default
    try:
        return ClauseClassifier.from_pretrained(model, backend=backend, **options)
    except (ClausetagError, ImportError):
        raise
    except Exception as exc:  # corrupt safetensors/onnx files raise library-specific types
        raise ClausetagError(f"{model}: cannot load the model ({one_line(exc)})") from None


def _no_onnx_telemetry() -> None:
    """onnxruntime may record telemetry events (under ~/.cache): a tagging run sends nothing."""
    with contextlib.suppress(ImportError):
        import onnxruntime

        onnxruntime.disable_telemetry_events()
