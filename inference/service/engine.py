"""One model, one worker thread, a bounded queue, and micro-batching of small requests.

The web server's event loop never runs the model: each request becomes a job on
a queue that one worker thread drains (torch and onnxruntime already use every
core for one forward pass, so a second worker would only contend for them). The
queue is bounded: a job past ``max_queue`` waiting ones is refused at once
(``Overloaded``, 429), so a burst costs clients a retry, never the process its
memory. A job whose request timed out before the worker reached it is dropped
unrun.

Micro-batching: when the worker takes a ``/v1/tag`` job it also takes the tag
jobs queued right behind it, up to ``max_batch_units`` texts in all, and tags
them in one ``predict`` call (sorted by length inside, as ever), so many
concurrent one-sentence requests cost about what one batched call costs.
``batch_wait_s`` > 0 makes a lone job wait that long for company; the default 0
only merges what is already queued, which adds no latency. Scores do not depend
on the company a text keeps with the torch and fp32 ONNX backends; int8 ONNX
quantises activations per batch, so for it the server turns merging off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from clausetag.inference.classifier import ClauseClassifier, Prediction
from clausetag.inference.service.limits import ServiceError

logger = logging.getLogger(__name__)


@dataclass
class _Job:
    """A tag job (``texts``) or any other model call (``call``), and the future it answers."""

    units: int
    future: Future[Any] = field(default_factory=Future)
    texts: Sequence[str] = ()
    contexts: Sequence[object] | None = None
    call: Callable[[], Any] | None = None


@dataclass
class EngineStats:
    """Counters for ``/v1/info`` and the benchmark: what the worker has done so far."""

    jobs: int = 0
    units: int = 0
    passes: int = 0
    merged_jobs: int = 0
    refused: int = 0
    dropped: int = 0
    busy_s: float = 0.0


class Engine:
    """Runs a ``ClauseClassifier`` for many concurrent requests, one model call at a time."""

    def __init__(
        self,
        clf: ClauseClassifier,
        *,
        batch_size: int = 32,
        max_queue: int = 32,
        max_batch_units: int = 128,
        batch_wait_s: float = 0.0,
    ) -> None:
        self.clf = clf
        self.batch_size = batch_size
        self.max_queue = max_queue
        #: int8 ONNX quantises per batch: a text's scores would depend on its company.
        self.merging = max_batch_units > 1 and clf.backend_name != "onnx-int8"
        self.max_batch_units = max_batch_units
        self.batch_wait_s = batch_wait_s
        self.stats = EngineStats()
        self._jobs: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="clausetag-model", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ submitting

    @property
    def queued(self) -> int:
        return len(self._jobs)

    def _submit(self, job: _Job) -> Future[Any]:
        with self._cond:
            if self._closed:
                raise ServiceError(503, "the server is shutting down", "Unavailable")
            if len(self._jobs) >= self.max_queue:
                self.stats.refused += 1
                raise ServiceError(
                    429,
                    f"the model is busy ({len(self._jobs)} requests are waiting); retry in a moment",
                    "Overloaded",
                    {"Retry-After": "1"},
                )
            self._jobs.append(job)
            self._cond.notify()
        return job.future

    def tag(self, texts: Sequence[str], contexts: Sequence[object] | None = None) -> Future[list[Prediction]]:
        """``clf.predict(texts, contexts=contexts)`` on the worker, possibly merged with other requests'."""
        return self._submit(_Job(len(texts), texts=texts, contexts=contexts))

    def call(self, func: Callable[[], Any], units: int = 1) -> Future[Any]:
        """``func()`` on the worker thread (a whole document: it runs alone)."""
        return self._submit(_Job(units, call=func))

    def close(self, timeout: float = 10.0) -> None:
        """Refuse new jobs, let the queued ones finish (up to ``timeout`` seconds), stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    # ------------------------------------------------------------------ the worker

    def _take(self) -> list[_Job] | None:
        """The next job, with the tag jobs queued right behind it when merging; None once closed."""
        with self._cond:
            while not self._jobs:
                if self._closed:
                    return None
                self._cond.wait()
            group = [self._jobs.popleft()]
            if group[0].call is not None or not self.merging:
                return group
            units = group[0].units
            deadline = time.monotonic() + self.batch_wait_s
            while units < self.max_batch_units:
                if self._jobs:
                    nxt = self._jobs[0]
                    if nxt.call is not None or units + nxt.units > self.max_batch_units:
                        break
                    group.append(self._jobs.popleft())
                    units += nxt.units
                    continue
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    break
                self._cond.wait(left)
            return group

    def _loop(self) -> None:
        while (group := self._take()) is not None:
            live = [job for job in group if job.future.set_running_or_notify_cancel()]
            self.stats.dropped += len(group) - len(live)
            if not live:
                continue
            started = time.perf_counter()
            try:
                self._run(live)
            except BaseException as exc:  # never let the worker die: the futures carry the error
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(exc)
            self.stats.busy_s += time.perf_counter() - started
            self.stats.jobs += len(live)
            self.stats.units += sum(job.units for job in live)
            self.stats.passes += 1
            self.stats.merged_jobs += len(live) - 1

    def _run(self, jobs: list[_Job]) -> None:
        if jobs[0].call is not None:
            jobs[0].future.set_result(jobs[0].call())
            return
        if len(jobs) == 1:
            self._run_alone(jobs[0])
            return
        texts = [t for job in jobs for t in job.texts]
        contexts = None
        if any(job.contexts is not None for job in jobs):
            contexts = [c for job in jobs for c in (job.contexts or [None] * job.units)]
        try:
            preds = self.clf.predict(texts, self.batch_size, contexts=contexts)
        except Exception:  # one job's input broke the merged call: run each alone, so only it fails
            logger.debug("merged pass failed; running its %d jobs one by one", len(jobs), exc_info=True)
            for job in jobs:
                self._run_alone(job)
            return
        at = 0
        for job in jobs:
            job.future.set_result(preds[at : at + job.units])
            at += job.units

    def _run_alone(self, job: _Job) -> None:
        try:
            job.future.set_result(self.clf.predict(job.texts, self.batch_size, contexts=job.contexts))
        except Exception as exc:
            job.future.set_exception(exc)
